from rest_framework import serializers

from catalog.models import Integration, Workflow

from ..models import CloudEventMapping


class TraceItemSerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    kind = serializers.CharField()
    lane = serializers.CharField(help_text="The system or integration where it happened.")
    lane_url = serializers.CharField()
    title = serializers.CharField()
    detail = serializers.CharField()
    status = serializers.CharField()
    amount = serializers.DecimalField(max_digits=18, decimal_places=2, allow_null=True)
    currency = serializers.CharField(help_text="ISO 4217 code of amount; empty when there is no amount.")
    url = serializers.CharField()


class TraceSerializer(serializers.Serializer):
    key = serializers.CharField()
    lanes = serializers.ListField(child=serializers.CharField())
    truncated = serializers.BooleanField(help_text="A kind of item had more than 500 rows; the oldest are shown.")
    items = TraceItemSerializer(many=True)
    panels = serializers.ListField(child=serializers.DictField(), help_text="Extra panels (e.g. workflow stages).")


class CloudEventMappingSerializer(serializers.ModelSerializer):
    integration = serializers.SlugRelatedField(slug_field="slug", queryset=Integration.objects.all(), required=False,
                                               allow_null=True)
    workflow = serializers.SlugRelatedField(slug_field="slug", queryset=Workflow.objects.all(), required=False,
                                            allow_null=True)
    integration_name = serializers.CharField(source="integration.name", read_only=True, default=None, allow_null=True)
    event_type_label = serializers.CharField(source="get_event_type_display", read_only=True)

    class Meta:
        model = CloudEventMapping
        fields = ["id", "source", "ce_type", "event_type", "event_type_label", "integration", "integration_name",
                  "workflow", "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]
        validators = []  # a second mapping of (source, type) is the service's 409
