"""Admin: the control board for probes, maintenance windows and channels. Saves go through
the service functions so validation, encryption and audit happen the same way as in the API."""

from django import forms
from django.contrib import admin

from controlplane.admin import ReadOnlyAdmin, ServiceErrorsAsMessages

from . import secrets, services
from .models import (
    Flip,
    HealthConfig,
    MaintenanceWindow,
    Notification,
    NotificationChannel,
    Probe,
    ProbeResult,
    Rollup,
    SlaBreach,
    SyncRun,
)


class ProbeForm(forms.ModelForm):
    url = forms.URLField(max_length=500, assume_scheme="https")
    secret_header_name = forms.CharField(required=False, help_text="Add or replace one secret header (stored encrypted).")
    secret_header_value = forms.CharField(required=False, widget=forms.PasswordInput(render_value=False))

    class Meta:
        model = Probe
        fields = ["integration", "api", "name", "url", "method", "headers", "body", "timeout_ms", "interval_seconds",
                  "conditions", "enabled"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["headers"] = secrets.masked_headers(self.instance.headers)

    def clean(self):
        data = super().clean()
        from .conditions import ConditionError, parse_conditions

        try:
            parse_conditions(data.get("conditions", ""))
        except ConditionError as exc:
            self.add_error("conditions", str(exc))
        return data


@admin.register(Probe)
class ProbeAdmin(ServiceErrorsAsMessages, admin.ModelAdmin):
    form = ProbeForm
    list_display = ["integration", "name", "method", "url", "interval_seconds", "state", "enabled", "last_checked_at"]
    list_filter = ["state", "enabled", "method"]
    search_fields = ["integration__name", "integration__slug", "url", "name"]
    raw_id_fields = ["integration", "api"]
    readonly_fields = ["state", "consecutive_failures", "consecutive_successes", "last_checked_at", "last_error", "next_due_at"]

    def save_model(self, request, obj, form, change):
        data = {k: form.cleaned_data[k] for k in ProbeForm.Meta.fields if k in form.cleaned_data}
        secret = {}
        if form.cleaned_data.get("secret_header_name") and form.cleaned_data.get("secret_header_value"):
            secret[form.cleaned_data["secret_header_name"]] = form.cleaned_data["secret_header_value"]
        if change:
            data.pop("integration", None)
            saved = services.update_probe(probe=obj, actor=request.user, secret_headers=secret, **data)
        else:
            saved = services.create_probe(actor=request.user, secret_headers=secret, **data)
        obj.pk = saved.pk

    def delete_model(self, request, obj):
        services.delete_probe(probe=obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        for probe in queryset:
            services.delete_probe(probe=probe, actor=request.user)


@admin.register(MaintenanceWindow)
class MaintenanceWindowAdmin(ServiceErrorsAsMessages, admin.ModelAdmin):
    list_display = ["name", "integration", "recurrence", "starts_at", "ends_at", "weekdays", "start_time", "cron", "duration_minutes"]
    list_filter = ["recurrence"]
    raw_id_fields = ["integration"]

    def save_model(self, request, obj, form, change):
        fields = {f: form.cleaned_data[f] for f in form.cleaned_data}
        saved = services.save_maintenance_window(actor=request.user, window=obj if change else None, **fields)
        obj.pk = saved.pk

    def delete_model(self, request, obj):
        services.delete_maintenance_window(window=obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        for window in queryset:
            services.delete_maintenance_window(window=window, actor=request.user)


class ChannelForm(forms.ModelForm):
    secret = forms.CharField(required=False, widget=forms.PasswordInput(render_value=False),
                             help_text="Leave empty to keep the current secret.")

    class Meta:
        model = NotificationChannel
        fields = ["team", "name", "kind", "target", "secret", "enabled"]


@admin.register(NotificationChannel)
class NotificationChannelAdmin(ServiceErrorsAsMessages, admin.ModelAdmin):
    form = ChannelForm
    list_display = ["team", "name", "kind", "target", "enabled"]
    list_filter = ["kind", "enabled"]
    raw_id_fields = ["team"]

    def save_model(self, request, obj, form, change):
        fields = dict(form.cleaned_data)
        if not fields.get("secret"):
            fields.pop("secret", None)
        saved = services.save_channel(actor=request.user, channel=obj if change else None, **fields)
        obj.pk = saved.pk

    def delete_model(self, request, obj):
        services.delete_channel(channel=obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        for channel in queryset:
            services.delete_channel(channel=channel, actor=request.user)


@admin.register(HealthConfig)
class HealthConfigAdmin(ServiceErrorsAsMessages, admin.ModelAdmin):
    """A configuration exists once per integration (``config_for`` makes it on first use);
    here it is only changed, through ``update_config``."""

    list_display = ["integration", "status", "paused", "failure_threshold", "success_threshold", "expected_period_seconds", "last_success_at"]
    list_filter = ["status", "paused"]
    search_fields = ["integration__name", "integration__slug"]
    readonly_fields = ["status", "status_reason", "status_changed_at", "heartbeat_token", "last_success_at", "last_run_at",
                       "consecutive_run_failures"]
    fields = ["integration", "paused", "failure_threshold", "success_threshold", "expected_period_seconds", "grace_seconds",
              *readonly_fields]
    raw_id_fields = ["integration"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_readonly_fields(self, request, obj=None):
        return ["integration", *self.readonly_fields]

    def save_model(self, request, obj, form, change):
        changes = {f: form.cleaned_data[f] for f in form.changed_data if f != "integration"}
        if changes:
            services.update_config(integration=obj.integration, actor=request.user, **changes)


@admin.register(Flip)
class FlipAdmin(ReadOnlyAdmin):
    list_display = ["at", "integration", "from_status", "to_status", "reason"]
    list_filter = ["to_status"]
    search_fields = ["integration__name"]


@admin.register(SyncRun)
class SyncRunAdmin(ReadOnlyAdmin):
    list_display = ["finished_at", "integration", "run_key", "source", "status", "records_processed", "records_failed", "clock_skew_seconds"]
    list_filter = ["status", "source"]
    search_fields = ["integration__name", "run_key"]


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "channel", "event", "subject", "status", "attempts", "last_error"]
    list_filter = ["status", "event"]


@admin.register(SlaBreach)
class SlaBreachAdmin(ReadOnlyAdmin):
    list_display = ["integration", "metric", "window", "value", "target", "opened_at", "closed_at", "handed_off"]
    list_filter = ["metric"]


@admin.register(ProbeResult)
class ProbeResultAdmin(ReadOnlyAdmin):
    list_display = ["checked_at", "probe", "ok", "status_code", "response_ms", "error"]
    list_filter = ["ok"]
    show_full_result_count = False


@admin.register(Rollup)
class RollupAdmin(ReadOnlyAdmin):
    list_display = ["period_start", "granularity", "integration", "checks", "checks_ok", "latency_p95_ms", "runs", "runs_failed"]
    list_filter = ["granularity"]
