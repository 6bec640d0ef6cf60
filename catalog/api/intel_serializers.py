"""Input serializers of the catalog intelligence endpoints (outputs are plain dicts built
by catalog.impact / catalog.scorecards / catalog.backstage)."""

from rest_framework import serializers

from catalog import impact
from catalog.models import BackstageImport, CanonicalEntity, EntityDerivation, System, UnresolvedReference


class DepthField(serializers.Field):
    """``1`` .. MAX_DEPTH hops, or ``all`` (None: every hop downstream)."""

    default_error_messages = {"invalid": f"A whole number of hops from 1 to {impact.MAX_DEPTH}, or 'all'."}

    def to_internal_value(self, data):
        text = str(data).strip().lower()
        if text == "all":
            return None
        if not text.isdigit() or not 1 <= int(text) <= impact.MAX_DEPTH:
            self.fail("invalid")
        return int(text)

    def to_representation(self, value):
        return "all" if value is None else value


class ImpactOptionsSerializer(serializers.Serializer):
    """The kind of change, how far to list, and which page of each list: shared by the
    Impact page and the API."""

    change = serializers.ChoiceField(choices=sorted({c for changes in impact.CHANGES.values() for c in changes}),
                                     required=False)
    depth = DepthField(required=False, default=1)
    direct_page = serializers.IntegerField(required=False, default=1, min_value=1, max_value=100000)
    downstream_page = serializers.IntegerField(required=False, default=1, min_value=1, max_value=100000)
    page_size = serializers.IntegerField(required=False, default=impact.PAGE_SIZE, min_value=1, max_value=200)

    def validate(self, attrs):
        kind = self.context.get("kind")
        change = attrs.get("change")
        if kind and change and change not in impact.CHANGES[kind]:
            allowed = ", ".join(impact.CHANGES[kind])
            raise serializers.ValidationError({"change": [f"A {kind} change is one of: {allowed}."]})
        return attrs


class ImpactQuerySerializer(ImpactOptionsSerializer):
    system = serializers.SlugField(required=False)
    api = serializers.SlugField(required=False)
    entity = serializers.SlugField(required=False)
    integration = serializers.SlugField(required=False)

    def validate(self, attrs):
        given = [key for key in ("system", "api", "entity", "integration") if attrs.get(key)]
        if len(given) != 1:
            raise serializers.ValidationError(
                {"non_field_errors": ["Give exactly one of system, api, entity or integration (a slug)."]}
            )
        self.context["kind"] = given[0]
        attrs = super().validate(attrs)
        return {**{k: v for k, v in attrs.items() if k not in impact.KINDS}, "kind": given[0], "slug": attrs[given[0]]}


class GraphQuerySerializer(serializers.Serializer):
    system = serializers.SlugField(required=False)
    integration = serializers.SlugField(required=False)

    def validate(self, attrs):
        given = [key for key in ("system", "integration") if attrs.get(key)]
        if len(given) != 1:
            raise serializers.ValidationError({"non_field_errors": ["Give exactly one of system or integration."]})
        return {"kind": given[0], "slug": attrs[given[0]]}


class ExportQuerySerializer(serializers.Serializer):
    owner = serializers.SlugField(required=False)
    kind = serializers.ChoiceField(
        choices=["Group", "User", "Domain", "System", "Component", "Resource", "API"], required=False
    )


class BackstageImportSerializer(serializers.ModelSerializer):
    class Meta:
        model = BackstageImport
        fields = ["id", "status", "created_at", "applied_at", "plan"]


class UnresolvedReferenceSerializer(serializers.ModelSerializer):
    class Meta:
        model = UnresolvedReference
        fields = ["id", "source_ref", "field", "target_ref", "created_at"]


class DerivationSerializer(serializers.ModelSerializer):
    """Entities and the system by slug; their names come back for people reading the list."""

    source_entity = serializers.SlugRelatedField(slug_field="slug", queryset=CanonicalEntity.objects.all())
    derived_entity = serializers.SlugRelatedField(slug_field="slug", queryset=CanonicalEntity.objects.all())
    system = serializers.SlugRelatedField(slug_field="slug", queryset=System.objects.all(), required=False,
                                          allow_null=True)
    description = serializers.CharField(max_length=300, required=False, allow_blank=True)
    source_entity_name = serializers.CharField(source="source_entity.name", read_only=True)
    derived_entity_name = serializers.CharField(source="derived_entity.name", read_only=True)
    system_name = serializers.CharField(source="system.name", read_only=True, default=None)

    class Meta:
        model = EntityDerivation
        fields = ["id", "source_entity", "source_entity_name", "derived_entity", "derived_entity_name", "system",
                  "system_name", "description", "created_at"]
        read_only_fields = ["created_at"]
        validators = []  # uniqueness and "not itself" are checked by the service (400 naming the rule)
