import datetime as dt

from django.utils import timezone
from rest_framework import serializers

from controlplane.validation import InstantField

from ..choices import EventType
from ..models import BusinessEvent, Reconciliation

MAX_BATCH = 1000
FUTURE_TOLERANCE = dt.timedelta(minutes=5)


class EventInSerializer(serializers.Serializer):
    """One business event as middleware posts it. Workflow and integration by slug."""

    event_id = serializers.CharField(max_length=100)
    type = serializers.ChoiceField(choices=EventType.choices)
    correlation_key = serializers.CharField(max_length=200)
    occurred_at = InstantField()
    workflow = serializers.CharField(max_length=100, required=False, allow_blank=True)
    integration = serializers.CharField(max_length=100, required=False, allow_blank=True)
    amount = serializers.DecimalField(max_digits=18, decimal_places=2, required=False, allow_null=True)
    currency = serializers.RegexField(r"^[A-Z]{3}$", required=False, allow_blank=True,
                                      error_messages={"invalid": "Use a three-letter ISO 4217 code, e.g. GBP."})
    attributes = serializers.DictField(required=False)

    def validate_occurred_at(self, value):
        if value > timezone.now() + FUTURE_TOLERANCE:
            raise serializers.ValidationError("occurred_at is in the future; check the sender's clock.")
        return value

    def validate(self, attrs):
        lookups = self.context["lookups"]
        for name in ("workflow", "integration"):
            slug = attrs.pop(name, "") or ""
            if slug:
                if slug not in lookups[name]:
                    raise serializers.ValidationError({name: [f"Unknown {name} {slug!r}."]})
                attrs[f"{name}_id"] = lookups[name][slug]
        attrs.setdefault("attributes", {})
        attrs["currency"] = attrs.get("currency") or ""
        return attrs


class EventSerializer(serializers.ModelSerializer):
    workflow = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True)
    integration = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True)

    class Meta:
        model = BusinessEvent
        fields = ["id", "event_id", "type", "correlation_key", "occurred_at", "workflow", "integration", "amount",
                  "currency", "attributes", "received_at"]


class EventResultSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    event_id = serializers.CharField(allow_null=True)
    status = serializers.ChoiceField(choices=["created", "duplicate", "rejected"])
    id = serializers.IntegerField(required=False)
    errors = serializers.DictField(required=False)


class EventBatchResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    rejected = serializers.IntegerField()
    results = EventResultSerializer(many=True)


class ReconciliationSerializer(serializers.ModelSerializer):
    integration = serializers.SlugRelatedField(slug_field="slug", queryset=Reconciliation._meta.get_field("integration").related_model.objects.all())
    entity = serializers.SlugRelatedField(slug_field="slug", queryset=Reconciliation._meta.get_field("entity").related_model.objects.all())
    mismatched_sample = serializers.ListField(child=serializers.CharField(max_length=200), max_length=100, required=False)

    class Meta:
        model = Reconciliation
        fields = ["id", "integration", "entity", "period_start", "period_end", "source_count", "target_count",
                  "source_amount", "target_amount", "mismatched_count", "mismatched_sample", "received_at"]
        read_only_fields = ["id", "received_at"]
        validators = []  # the upsert replaces an existing period instead of refusing it

    def validate(self, attrs):
        if attrs["period_end"] < attrs["period_start"]:
            raise serializers.ValidationError({"period_end": ["Must not be before period_start."]})
        return attrs


class KpiSerializer(serializers.Serializer):
    key = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    unit = serializers.CharField()
    direction = serializers.CharField()
    formula = serializers.CharField()
    period = serializers.CharField()
    period_start = serializers.DateField()
    value = serializers.FloatField(allow_null=True)
    detail = serializers.DictField()
    target = serializers.FloatField(allow_null=True)
    status = serializers.CharField()


class SeriesPointSerializer(serializers.Serializer):
    period_start = serializers.DateField()
    value = serializers.FloatField(allow_null=True)
    detail = serializers.DictField()
