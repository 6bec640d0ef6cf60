"""Serializers: shapes only; every write goes through ``stewardship.services``."""

from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from catalog.models import Api, CanonicalEntity, System
from controlplane.validation import COMMENT_MAX_LENGTH, INT_MAX

from ..choices import CompatLevel, CompatPolicy, SchemaFormat, ScopeType
from ..models import FindingAcceptance, Review, SchemaSubject, SchemaVersion, SorAssignment
from ..selectors import review_findings

User = get_user_model()


class SchemaSubjectSerializer(serializers.ModelSerializer):
    entity = serializers.SlugRelatedField(slug_field="slug", queryset=CanonicalEntity.objects.all(), required=False, allow_null=True)
    api = serializers.SlugRelatedField(slug_field="slug", queryset=Api.objects.all(), required=False, allow_null=True)
    effective_level = serializers.SerializerMethodField()
    effective_policy = serializers.SerializerMethodField()
    latest_version = serializers.SerializerMethodField()

    class Meta:
        model = SchemaSubject
        fields = ["slug", "name", "description", "entity", "api", "format", "compatibility_level", "policy",
                  "effective_level", "effective_policy", "latest_version", "created_at", "updated_at"]
        read_only_fields = ["created_at", "updated_at"]
        extra_kwargs = {"slug": {"validators": []}}

    def get_effective_level(self, obj) -> str:
        return obj.effective_level(self.context.get("defaults"))

    def get_effective_policy(self, obj) -> str:
        return obj.effective_policy(self.context.get("defaults"))

    def get_latest_version(self, obj) -> int | None:
        return getattr(obj, "latest_number", None)


class SubjectUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False)
    description = serializers.CharField(required=False, allow_blank=True)
    compatibility_level = serializers.ChoiceField(choices=CompatLevel.choices, required=False, allow_blank=True)
    policy = serializers.ChoiceField(choices=CompatPolicy.choices, required=False, allow_blank=True)


class ReviewSerializer(serializers.ModelSerializer):
    reviewer = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = Review
        fields = ["reviewer", "decision", "comment", "round", "voided_at", "created_at"]


class CounterexampleSerializer(serializers.Serializer):
    found = serializers.BooleanField()
    document = serializers.JSONField(required=False, help_text="Accepted by the writer schema, refused by the reader.")
    refused_because = serializers.ListField(child=serializers.CharField(), required=False)
    note = serializers.CharField(required=False)


class ReviewFindingSerializer(serializers.Serializer):
    type = serializers.CharField(help_text="Confluent change type, e.g. MAX_LENGTH_DECREASED.")
    path = serializers.CharField()
    compatible = serializers.BooleanField()
    against_version = serializers.IntegerField(allow_null=True)
    direction = serializers.CharField(required=False)
    message = serializers.CharField(required=False, help_text="The change in plain words.")
    counterexample = CounterexampleSerializer(allow_null=True, required=False)


class FindingAcceptanceSerializer(serializers.ModelSerializer):
    steward = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = FindingAcceptance
        fields = ["finding_type", "path", "steward", "justification", "created_at"]


class SchemaVersionSerializer(serializers.ModelSerializer):
    subject = serializers.SlugRelatedField(slug_field="slug", queryset=SchemaSubject.objects.all())
    author = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    reviews = ReviewSerializer(many=True, read_only=True)
    acceptances = FindingAcceptanceSerializer(many=True, read_only=True)
    # A draft has no level or policy yet (""); they are fixed when it is submitted.
    level = serializers.ChoiceField(choices=CompatLevel.choices, allow_blank=True, read_only=True)
    policy = serializers.ChoiceField(choices=CompatPolicy.choices, allow_blank=True, read_only=True)
    display_name = serializers.CharField(read_only=True)
    findings = serializers.SerializerMethodField()

    class Meta:
        model = SchemaVersion
        fields = ["id", "display_name", "subject", "number", "status", "document", "change_summary", "author",
                  "round", "submitted_at", "approved_at", "deprecated_at", "validity_errors", "compat_report",
                  "findings", "level", "policy", "required_approvals", "reviews", "acceptances", "created_at",
                  "updated_at"]
        read_only_fields = [f for f in fields if f not in ("subject", "document", "change_summary")]


    @extend_schema_field(ReviewFindingSerializer(many=True))
    def get_findings(self, obj) -> list:
        """The report's findings, each with its plain sentence and ``counterexample``."""
        return review_findings(obj)


class SchemaVersionListSerializer(SchemaVersionSerializer):
    class Meta(SchemaVersionSerializer.Meta):
        fields = ["id", "display_name", "subject", "number", "status", "author", "round", "submitted_at", "approved_at",
                  "required_approvals", "level", "policy", "created_at"]
        read_only_fields = fields


class DraftUpdateSerializer(serializers.Serializer):
    document = serializers.JSONField()
    change_summary = serializers.CharField(required=False, allow_blank=True)


class CommentSerializer(serializers.Serializer):
    comment = serializers.CharField(required=False, allow_blank=True, default="", max_length=COMMENT_MAX_LENGTH)


class AcceptFindingSerializer(serializers.Serializer):
    type = serializers.CharField(max_length=64)
    path = serializers.CharField(max_length=500)
    justification = serializers.CharField(allow_blank=True)


class SorAssignmentSerializer(serializers.ModelSerializer):
    entity = serializers.SlugRelatedField(slug_field="slug", queryset=CanonicalEntity.objects.all())
    system = serializers.SlugRelatedField(slug_field="slug", queryset=System.objects.all())
    steward = serializers.SlugRelatedField(slug_field="username", queryset=User.objects.all(), required=False, allow_null=True)
    proposed_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    decided_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    scope_type = serializers.ChoiceField(choices=ScopeType.choices, default=ScopeType.GLOBAL)

    class Meta:
        model = SorAssignment
        fields = ["id", "entity", "scope_type", "scope_value", "attribute_group", "system", "steward",
                  "effective_from", "effective_to", "status", "proposed_by", "decided_by", "decided_at",
                  "comments", "created_at"]
        read_only_fields = ["status", "proposed_by", "decided_by", "decided_at", "created_at"]
        validators = []


class CompatibilityRequestSerializer(serializers.Serializer):
    format = serializers.ChoiceField(choices=SchemaFormat.choices, default=SchemaFormat.JSON_SCHEMA)
    level = serializers.ChoiceField(choices=CompatLevel.choices, default=CompatLevel.BACKWARD)
    policy = serializers.ChoiceField(choices=CompatPolicy.choices, default=CompatPolicy.STRICT)
    schema = serializers.JSONField()
    previous = serializers.ListField(child=serializers.JSONField(), allow_empty=True, max_length=100)

    def validate(self, attrs):
        # A JSON object; an Avro schema may also be a union (array) or a bare type name.
        kinds = (dict, list, str) if attrs.get("format") == SchemaFormat.AVRO else (dict,)
        if not isinstance(attrs.get("schema"), kinds):
            raise serializers.ValidationError({"schema": ["Expected a JSON object."]})
        if any(not isinstance(v, kinds) for v in attrs.get("previous", [])):
            raise serializers.ValidationError({"previous": ["Each previous schema must be a JSON object."]})
        return attrs


class ValidateRequestSerializer(serializers.Serializer):
    payload = serializers.JSONField()
    version = serializers.IntegerField(required=False, min_value=1, max_value=INT_MAX, allow_null=True)


class FindingSerializer(serializers.Serializer):
    type = serializers.CharField()
    path = serializers.CharField()
    compatible = serializers.BooleanField()
    against_version = serializers.IntegerField(allow_null=True)
    direction = serializers.CharField(required=False)
    message = serializers.CharField(required=False)


class CompatibilityResponseSerializer(serializers.Serializer):
    compatible = serializers.BooleanField()
    timed_out = serializers.BooleanField()
    findings = FindingSerializer(many=True)
    checked_versions = serializers.ListField(child=serializers.IntegerField())


class PayloadErrorSerializer(serializers.Serializer):
    path = serializers.CharField()
    message = serializers.CharField()


class ValidateResponseSerializer(serializers.Serializer):
    valid = serializers.BooleanField()
    version = serializers.IntegerField()
    errors = PayloadErrorSerializer(many=True)


class PreviewRequestSerializer(serializers.Serializer):
    document = serializers.JSONField(help_text="The draft schema document, as it is being edited.")

    def validate_document(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError("Expected a JSON object.")
        return value


class PreviewResponseSerializer(serializers.Serializer):
    valid = serializers.BooleanField()
    errors = serializers.ListField(child=serializers.CharField())
    level = serializers.CharField()
    policy = serializers.CharField()
    compared_with = serializers.CharField(allow_null=True, required=False)
    report = serializers.JSONField(allow_null=True, help_text="As in a version's compat_report, with counterexamples.")
