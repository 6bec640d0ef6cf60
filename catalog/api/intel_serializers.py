"""Input serializers of the catalog intelligence endpoints (outputs are plain dicts built
by catalog.impact / catalog.scorecards / catalog.backstage)."""

from rest_framework import serializers

from catalog.models import BackstageImport, UnresolvedReference


class ImpactQuerySerializer(serializers.Serializer):
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
        return {"kind": given[0], "slug": attrs[given[0]]}


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
