import copy

from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers

from catalog.models import CanonicalEntity, Integration, Team
from controlplane.memo import per_class
from controlplane.validation import BIGINT_MAX

from ..choices import Resolution, Severity
from ..models import BusinessException, Comment, Queue, ReplayAttempt, RoutingRule


class ReplayAttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = ReplayAttempt
        fields = ["id", "replay_id", "attempt", "started_at", "finished_at", "url", "status_code", "succeeded",
                  "error", "response_excerpt", "duration_ms"]


# Named apart from stewardship's review CommentSerializer: two components called
# "Comment"/"CommentRequest" would make the schema ambiguous.
@extend_schema_serializer(component_name="ExceptionComment")
class CommentSerializer(serializers.ModelSerializer):
    author = serializers.CharField(source="author.username", read_only=True, default=None, allow_null=True)
    mentions = serializers.SlugRelatedField(slug_field="username", many=True, read_only=True)

    class Meta:
        model = Comment
        fields = ["id", "author", "body", "mentions", "created_at"]
        read_only_fields = ["id", "author", "mentions", "created_at"]


class BusinessExceptionSerializer(serializers.ModelSerializer):
    integration = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True)
    entity = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True)
    queue = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True)
    assignee = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    # Empty until the exception is resolved: the schema must allow "" besides the codes.
    resolution_code = serializers.ChoiceField(choices=Resolution.choices, allow_blank=True, read_only=True)

    class Meta:
        model = BusinessException
        fields = ["id", "integration", "entity", "error_code", "message", "severity", "reported_severity", "status",
                  "queue", "assignee", "business_keys", "amount_at_risk", "currency", "correlation_id", "fingerprint",
                  "occurrences", "regressions", "first_seen", "last_seen", "due_at", "is_overdue", "resolved_at",
                  "resolution_code", "resolution_note"]
        read_only_fields = fields

    def get_fields(self):
        # ModelSerializer derives its fields from the model on every instantiation (0.4 ms,
        # paid by every list page and every move); derive them once per class and hand each
        # serializer its own copy, as DRF itself copies the declared fields.
        return copy.deepcopy(per_class(self, "_derived_fields", super().get_fields))


class BusinessExceptionDetailSerializer(BusinessExceptionSerializer):
    replay_attempts = ReplayAttemptSerializer(many=True, read_only=True)
    comments = CommentSerializer(many=True, read_only=True)

    class Meta(BusinessExceptionSerializer.Meta):
        fields = [*BusinessExceptionSerializer.Meta.fields, "payload", "original_payload", "details",
                  "replay_attempts", "comments"]
        read_only_fields = fields


class TransitionSerializer(serializers.Serializer):
    expected_status = serializers.CharField(required=False, allow_blank=True)
    resolution_code = serializers.ChoiceField(choices=Resolution.choices, required=False)
    note = serializers.CharField(required=False, allow_blank=True, default="")
    # A username, checked by the service against who may work the exception: an unknown
    # name and an ineligible one get the same 400.
    assignee = serializers.CharField(max_length=150, required=False, allow_null=True)


class ReplaySerializer(serializers.Serializer):
    payload = serializers.JSONField(required=False)


class BulkSerializer(serializers.Serializer):
    ids = serializers.ListField(child=serializers.IntegerField(min_value=1, max_value=BIGINT_MAX), min_length=1,
                                max_length=500)
    action = serializers.ChoiceField(choices=["assign", "acknowledge", "resolve", "dismiss", "replay"])
    resolution_code = serializers.ChoiceField(choices=Resolution.choices, required=False)
    note = serializers.CharField(required=False, allow_blank=True, default="")
    # A username, checked by the service against who may work the exception: an unknown
    # name and an ineligible one get the same 400.
    assignee = serializers.CharField(max_length=150, required=False, allow_null=True)


class ResolveSerializer(serializers.Serializer):
    integration = serializers.SlugRelatedField(slug_field="slug", queryset=Integration.objects.all(), required=False)
    fingerprint = serializers.CharField(required=False, max_length=128)
    correlation_id = serializers.CharField(required=False, max_length=200)
    note = serializers.CharField(required=False, allow_blank=True, default="")

    def validate(self, attrs):
        if not attrs.get("fingerprint") and not attrs.get("correlation_id"):
            raise serializers.ValidationError({"fingerprint": ["Give a fingerprint or a correlation_id."]})
        return attrs


class QueueSerializer(serializers.ModelSerializer):
    team = serializers.SlugRelatedField(slug_field="slug", queryset=Team.objects.all())

    class Meta:
        model = Queue
        fields = ["id", "name", "slug", "description", "team", "target_hours_critical", "target_hours_high",
                  "target_hours_medium", "target_hours_low", "raise_severity_when_overdue", "restricted"]
        extra_kwargs = {"slug": {"required": False}}


class RoutingRuleSerializer(serializers.ModelSerializer):
    integration = serializers.SlugRelatedField(slug_field="slug", queryset=Integration.objects.all(), required=False, allow_null=True)
    entity = serializers.SlugRelatedField(slug_field="slug", queryset=CanonicalEntity.objects.all(), required=False, allow_null=True)
    queue = serializers.SlugRelatedField(slug_field="slug", queryset=Queue.objects.all())
    assignee = serializers.SlugRelatedField(slug_field="username", queryset=get_user_model().objects.all(), required=False, allow_null=True)
    severity = serializers.ChoiceField(choices=Severity.choices, required=False, allow_blank=True)
    raise_severity_to = serializers.ChoiceField(choices=Severity.choices, required=False, allow_blank=True)

    class Meta:
        model = RoutingRule
        fields = ["id", "position", "name", "enabled", "integration", "entity", "error_code", "error_code_match",
                  "severity", "business_key", "business_value", "queue", "assignee", "raise_severity_to"]
