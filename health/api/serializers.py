from rest_framework import serializers

from catalog.models import Api, Integration, Team
from controlplane.validation import INT_MAX, InstantField

from .. import secrets
from ..choices import RunStatus
from ..models import Flip, HealthConfig, MaintenanceWindow, Notification, NotificationChannel, Probe, SyncRun


class SyncRunInSerializer(serializers.Serializer):
    run_id = serializers.CharField(max_length=100, required=False, help_text="Your run id; repeats are idempotent.")
    status = serializers.ChoiceField(choices=RunStatus.choices)
    started_at = InstantField(required=False, allow_null=True)
    finished_at = InstantField(required=False, allow_null=True)
    records_processed = serializers.IntegerField(min_value=0, max_value=INT_MAX, required=False, default=0)
    records_failed = serializers.IntegerField(min_value=0, max_value=INT_MAX, required=False, default=0)
    lag_seconds = serializers.IntegerField(min_value=0, max_value=INT_MAX, required=False, allow_null=True)
    business_keys = serializers.ListField(
        child=serializers.CharField(max_length=200), max_length=1000, required=False,
        help_text="Business keys the run carried (invoice numbers, project codes): the run shows in their traces.")

    def validate(self, data):
        if data.get("started_at") and data.get("finished_at") and data["finished_at"] < data["started_at"]:
            raise serializers.ValidationError({"finished_at": ["Must not be before started_at."]})
        return data


class SyncRunSerializer(serializers.ModelSerializer):
    integration = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    run_id = serializers.CharField(source="run_key")
    clock_skew_flagged = serializers.SerializerMethodField()

    class Meta:
        model = SyncRun
        fields = ["id", "integration", "run_id", "source", "status", "started_at", "finished_at", "received_at",
                  "records_processed", "records_failed", "lag_seconds", "in_maintenance", "clock_skew_seconds",
                  "clock_skew_flagged", "business_keys"]

    def get_clock_skew_flagged(self, run) -> bool:
        from django.conf import settings

        return run.clock_skew_seconds > getattr(settings, "HEALTH_CLOCK_SKEW_TOLERANCE_SECONDS", 300)


class StatusSerializer(serializers.ModelSerializer):
    integration = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    integration_name = serializers.CharField(source="integration.name", read_only=True)

    class Meta:
        model = HealthConfig
        fields = ["integration", "integration_name", "status", "status_reason", "status_changed_at", "paused",
                  "failure_threshold", "success_threshold", "expected_period_seconds", "grace_seconds",
                  "last_success_at", "last_run_at"]
        read_only_fields = ["status", "status_reason", "status_changed_at", "last_success_at", "last_run_at"]


class ProbeSerializer(serializers.ModelSerializer):
    integration = serializers.SlugRelatedField(slug_field="slug", queryset=Integration.objects.all())
    api = serializers.SlugRelatedField(slug_field="slug", queryset=Api.objects.all(), required=False, allow_null=True)
    secret_headers = serializers.DictField(child=serializers.CharField(), write_only=True, required=False,
                                           help_text="Header values stored encrypted; shown masked afterwards.")

    class Meta:
        model = Probe
        fields = ["id", "integration", "api", "name", "url", "method", "headers", "secret_headers", "body", "timeout_ms",
                  "interval_seconds", "conditions", "enabled", "state", "consecutive_failures", "consecutive_successes",
                  "last_checked_at", "last_error", "next_due_at"]
        read_only_fields = ["state", "consecutive_failures", "consecutive_successes", "last_checked_at", "last_error",
                            "next_due_at"]
        validators = []

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data["headers"] = secrets.masked_headers(instance.headers)
        return data


class MaintenanceWindowSerializer(serializers.ModelSerializer):
    integration = serializers.SlugRelatedField(slug_field="slug", queryset=Integration.objects.all(), required=False,
                                               allow_null=True)
    active_now = serializers.SerializerMethodField()

    class Meta:
        model = MaintenanceWindow
        fields = ["id", "name", "integration", "recurrence", "starts_at", "ends_at", "weekdays", "start_time", "cron",
                  "duration_minutes", "active_from", "active_until", "active_now"]

    def get_active_now(self, window) -> bool:
        from django.utils import timezone

        from ..maintenance import window_active

        return window_active(window, timezone.now())


class ChannelSerializer(serializers.ModelSerializer):
    team = serializers.SlugRelatedField(slug_field="slug", queryset=Team.objects.all())
    secret = serializers.CharField(required=False, allow_blank=True, write_only=True)
    has_secret = serializers.SerializerMethodField()

    class Meta:
        model = NotificationChannel
        fields = ["id", "team", "name", "kind", "target", "secret", "has_secret", "enabled"]
        validators = []

    def get_has_secret(self, channel) -> bool:
        return bool(channel.secret)

    def to_representation(self, channel):
        data = super().to_representation(channel)
        request = self.context.get("request")
        if not (request and request.user.has_perm("health.change_notificationchannel")):
            data["target"] = channel.masked_target  # a webhook URL is a credential
        return data


class NotificationSerializer(serializers.ModelSerializer):
    channel = serializers.StringRelatedField()

    class Meta:
        model = Notification
        fields = ["id", "channel", "flip", "breach", "event", "subject", "status", "attempts", "last_error",
                  "response_code", "created_at", "sent_at"]


class FlipSerializer(serializers.ModelSerializer):
    integration = serializers.SlugRelatedField(slug_field="slug", read_only=True)

    class Meta:
        model = Flip
        fields = ["id", "integration", "from_status", "to_status", "reason", "at"]
