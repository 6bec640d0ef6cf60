import datetime as dt
from decimal import Decimal

from django.utils import timezone
from rest_framework import serializers

from controlplane.validation import InstantField, currency_problem

from ..choices import CREDIT_TYPES, EventType
from ..models import BusinessEvent, FxRate, Reconciliation

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
        amount = attrs.get("amount")
        if amount is not None and amount < 0 and attrs["type"] not in CREDIT_TYPES:
            credits = ", ".join(sorted(CREDIT_TYPES))
            raise serializers.ValidationError({"amount": [f"Negative amounts are only for credits ({credits})."]})
        if problem := currency_problem(attrs["currency"], amount):
            raise serializers.ValidationError({"currency": [problem]})
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
                  "source_amount", "target_amount", "currency", "mismatched_count", "mismatched_sample",
                  "received_at"]
        read_only_fields = ["id", "received_at"]
        extra_kwargs = {"currency": {"help_text": "ISO 4217 code of both amounts; default the reporting currency."}}
        validators = []  # the upsert replaces an existing period instead of refusing it

    currency = serializers.RegexField(r"^[A-Z]{3}$", required=False, allow_blank=True,
                                      error_messages={"invalid": "Use a three-letter ISO 4217 code, e.g. GBP."})

    def validate(self, attrs):
        from django.conf import settings

        attrs["currency"] = attrs.get("currency") or settings.REPORTING_CURRENCY
        if problem := currency_problem(attrs["currency"]):
            raise serializers.ValidationError({"currency": [problem]})
        if attrs["period_end"] < attrs["period_start"]:
            raise serializers.ValidationError({"period_end": ["Must not be before period_start."]})
        return attrs


class SoFarSerializer(serializers.Serializer):
    period_start = serializers.DateField()
    value = serializers.DecimalField(max_digits=24, decimal_places=4, allow_null=True)
    detail = serializers.DictField()
    computed_at = serializers.DateTimeField(allow_null=True)


class KpiSerializer(serializers.Serializer):
    key = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    unit = serializers.CharField()
    direction = serializers.CharField()
    formula = serializers.CharField()
    period = serializers.CharField()
    period_start = serializers.DateField()
    value = serializers.DecimalField(max_digits=24, decimal_places=4, allow_null=True)
    detail = serializers.DictField()
    target = serializers.FloatField(allow_null=True)
    status = serializers.CharField()
    computed_at = serializers.DateTimeField(allow_null=True)
    so_far = SoFarSerializer(allow_null=True, help_text="The running period, when it is not the one measured.")


class SeriesPointSerializer(serializers.Serializer):
    period_start = serializers.DateField()
    value = serializers.DecimalField(max_digits=24, decimal_places=4, allow_null=True)
    detail = serializers.DictField()


class FxRateSerializer(serializers.ModelSerializer):
    """One dated rate: 1 ``base`` = ``rate`` ``quote`` on ``date``."""

    base = serializers.RegexField(r"^[A-Z]{3}$", error_messages={"invalid": "Use a three-letter ISO 4217 code."})
    quote = serializers.RegexField(r"^[A-Z]{3}$", error_messages={"invalid": "Use a three-letter ISO 4217 code."})
    rate = serializers.DecimalField(max_digits=20, decimal_places=10, min_value=Decimal("0.0000000001"),
                                    max_value=Decimal("999999999"))
    date = serializers.DateField()

    class Meta:
        model = FxRate
        fields = ["id", "base", "quote", "date", "rate", "source", "updated_at"]
        read_only_fields = ["id", "source", "updated_at"]
        validators = []  # posting a known (pair, day) again replaces its rate

    def validate_date(self, value):
        if not dt.date(1990, 1, 1) <= value <= timezone.now().date() + dt.timedelta(days=1):
            raise serializers.ValidationError("Give a date between 1990-01-01 and tomorrow.")
        return value

    def validate(self, attrs):
        if attrs["base"] == attrs["quote"]:
            raise serializers.ValidationError({"quote": ["Must differ from base."]})
        return attrs
