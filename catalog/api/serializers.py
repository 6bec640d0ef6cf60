"""Field validation and representation only; the writes go through ``catalog.services``.
Related objects are referenced by slug, so an unknown slug is a 400 naming the field."""

from django.contrib.auth import get_user_model
from rest_framework import serializers

from catalog.choices import ApiLifecycle, IntegrationLifecycle, SystemLifecycle
from catalog.models import (
    Api,
    CanonicalEntity,
    Domain,
    Integration,
    Sla,
    System,
    Team,
    TeamMember,
    Workflow,
    WorkflowStage,
)

COMMON = ["name", "slug", "description", "external_ref", "metadata", "created_at", "updated_at"]
READ_ONLY = ["created_at", "updated_at"]


def slug_of(model, **kwargs):
    return serializers.SlugRelatedField(slug_field="slug", queryset=model.objects.all(), **kwargs)


class MemberInlineSerializer(serializers.ModelSerializer):
    user = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = TeamMember
        fields = ["id", "name", "email", "role", "is_lead", "user"]


class TeamSerializer(serializers.ModelSerializer):
    parent = slug_of(Team, required=False, allow_null=True)
    members = MemberInlineSerializer(source="memberships", many=True, read_only=True)

    class Meta:
        model = Team
        fields = [*COMMON, "email", "chat_channel", "parent", "members"]
        read_only_fields = READ_ONLY


class TeamMemberSerializer(serializers.ModelSerializer):
    team = slug_of(Team)
    user = serializers.SlugRelatedField(
        slug_field="username", queryset=get_user_model().objects.all(), required=False, allow_null=True
    )
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)

    class Meta:
        model = TeamMember
        fields = ["id", "team", "user", "name", "email", "role", "is_lead", "external_ref"]
        # Uniqueness (one membership per user/email per team) is a service rule.
        validators = []

    def validate(self, attrs):
        if not attrs.get("user") and not attrs.get("name"):
            raise serializers.ValidationError({"name": ["Give a name, or a user to take it from."]})
        return attrs


class DomainSerializer(serializers.ModelSerializer):
    owner_team = slug_of(Team, required=False, allow_null=True)

    class Meta:
        model = Domain
        fields = [*COMMON, "owner_team"]
        read_only_fields = READ_ONLY


class SystemSerializer(serializers.ModelSerializer):
    owner_team = slug_of(Team)
    domain = slug_of(Domain, required=False, allow_null=True)

    class Meta:
        model = System
        fields = [*COMMON, "vendor", "product", "category", "deployment", "lifecycle", "owner_team", "domain",
                  "business_owner", "data_residency", "rate_limits", "retirement_date", "is_copy"]
        read_only_fields = READ_ONLY


class ApiSerializer(serializers.ModelSerializer):
    provider_system = slug_of(System)
    owner_team = slug_of(Team)

    class Meta:
        model = Api
        fields = [*COMMON, "provider_system", "layer", "style", "version", "lifecycle", "owner_team", "criticality",
                  "finance_sensitive", "auth_policy", "docs_url", "definition_format", "definition"]
        read_only_fields = READ_ONLY


class EntitySerializer(serializers.ModelSerializer):
    domain = slug_of(Domain, required=False, allow_null=True)

    class Meta:
        model = CanonicalEntity
        fields = [*COMMON, "domain"]
        read_only_fields = READ_ONLY


class WorkflowSerializer(serializers.ModelSerializer):
    domain = slug_of(Domain, required=False, allow_null=True)
    owner_team = slug_of(Team, required=False, allow_null=True)

    class Meta:
        model = Workflow
        fields = [*COMMON, "domain", "owner_team"]
        read_only_fields = READ_ONLY


SLA_FIELDS = ["availability_target", "p95_latency_ms", "max_sync_lag_minutes", "exception_resolution_hours",
              "measurement_window"]


class SlaInlineSerializer(serializers.ModelSerializer):
    class Meta:
        model = Sla
        fields = [*SLA_FIELDS, "updated_at"]
        read_only_fields = ["updated_at"]


class SlaSerializer(serializers.ModelSerializer):
    integration = slug_of(Integration)

    class Meta:
        model = Sla
        fields = ["integration", *SLA_FIELDS, "updated_at"]
        read_only_fields = ["updated_at"]
        # One SLA per integration: POST on an integration that has one updates it.
        validators = []
        extra_kwargs = {"integration": {"validators": []}}


class IntegrationSerializer(serializers.ModelSerializer):
    source_system = slug_of(System)
    target_system = slug_of(System)
    middleware_system = slug_of(System, required=False, allow_null=True)
    owner_team = slug_of(Team)
    apis = slug_of(Api, many=True, required=False)
    entities = slug_of(CanonicalEntity, many=True, required=False)
    workflows = slug_of(Workflow, many=True, required=False)
    sla = SlaInlineSerializer(required=False, allow_null=True)

    class Meta:
        model = Integration
        fields = [*COMMON, "source_system", "target_system", "middleware_system", "apis", "entities", "workflows",
                  "pattern", "schedule", "trigger", "owner_team", "criticality", "lifecycle", "sla"]
        read_only_fields = READ_ONLY


def lifecycle_serializer(name, choices):
    return type(name, (serializers.Serializer,), {
        "lifecycle": serializers.ChoiceField(choices=choices),
        "note": serializers.CharField(required=False, allow_blank=True, max_length=500),
        "__doc__": "The lifecycle state to move to.",
    })


SystemLifecycleSerializer = lifecycle_serializer("SystemLifecycleSerializer", SystemLifecycle.choices)
ApiLifecycleSerializer = lifecycle_serializer("ApiLifecycleSerializer", ApiLifecycle.choices)
IntegrationLifecycleSerializer = lifecycle_serializer("IntegrationLifecycleSerializer", IntegrationLifecycle.choices)


class WorkflowStageSerializer(serializers.ModelSerializer):
    """A step of a workflow; the workflow and the integration by slug, names beside them."""

    workflow = slug_of(Workflow)
    integration = slug_of(Integration, required=False, allow_null=True)
    workflow_name = serializers.CharField(source="workflow.name", read_only=True)
    integration_name = serializers.CharField(source="integration.name", read_only=True, default=None)
    event_type_label = serializers.CharField(source="get_event_type_display", read_only=True)

    class Meta:
        model = WorkflowStage
        fields = ["id", "workflow", "workflow_name", "position", "name", "event_type", "event_type_label",
                  "integration", "integration_name", "max_latency_hours", "created_at", "updated_at"]
        read_only_fields = READ_ONLY
        validators = []  # the unique position / event type per workflow is checked by the service (400)


class StuckItemSerializer(serializers.Serializer):
    """One item waiting for a step: the event it waits after, the step, its deadline and
    why it is stuck; money as a decimal string with its currency."""

    event_id = serializers.CharField()
    key = serializers.CharField(source="correlation_key")
    waiting_since = serializers.DateTimeField(source="occurred_at")
    after_step = serializers.CharField(source="get_type_display")
    waiting_for = serializers.CharField(source="stage.name")
    due_at = serializers.DateTimeField(allow_null=True)
    hours_late = serializers.FloatField(allow_null=True)
    amount = serializers.DecimalField(max_digits=18, decimal_places=2, allow_null=True)
    currency = serializers.CharField()
    expected_integration = serializers.CharField(source="stage.integration.name", default=None)
    reason = serializers.SerializerMethodField()
    trace_url = serializers.CharField()

    def get_reason(self, item) -> str | None:
        return item.reason["text"] if item.reason else None


class StuckCurrencySerializer(serializers.Serializer):
    currency = serializers.CharField()
    count = serializers.IntegerField()
    amount = serializers.DecimalField(max_digits=20, decimal_places=2)
    unconverted_count = serializers.IntegerField()


class StuckSummarySerializer(serializers.Serializer):
    """Count and money per currency (never added across currencies) and, beside them, the
    total converted to the reporting currency at each item's own date."""

    count = serializers.IntegerField()
    by_currency = StuckCurrencySerializer(many=True)
    reporting_currency = serializers.CharField()
    converted_total = serializers.DecimalField(max_digits=20, decimal_places=2)
    unconverted_count = serializers.IntegerField()


class StuckPageSerializer(serializers.Serializer):
    """One page of the stuck list (the response of ``GET .../workflows/<slug>/stuck/``)."""

    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = StuckItemSerializer(many=True)
    summary = StuckSummarySerializer()
    as_of = serializers.DateTimeField()
