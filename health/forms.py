"""HTML forms for architects: probes, health settings, maintenance windows, channels.
They only collect input; the service functions validate and save."""

from django import forms

from controlplane.validation import InstantFormField, SafeJSONFormField

from .models import HealthConfig, MaintenanceWindow, NotificationChannel, Probe


class ProbeForm(forms.ModelForm):
    url = forms.URLField(max_length=500, assume_scheme="https")
    headers = SafeJSONFormField(required=False, initial=dict, help_text='JSON object; values may be "env:NAME".')
    secret_header_name = forms.CharField(required=False, help_text="Add or replace one secret header (stored encrypted).")
    secret_header_value = forms.CharField(required=False, widget=forms.PasswordInput(render_value=False))

    class Meta:
        model = Probe
        fields = ["name", "url", "method", "headers", "body", "timeout_ms", "interval_seconds", "conditions", "enabled"]
        widgets = {"conditions": forms.Textarea(attrs={"rows": 4}), "body": forms.Textarea(attrs={"rows": 2})}

    def service_kwargs(self):
        data = {k: self.cleaned_data[k] for k in self.Meta.fields}
        data["headers"] = data.get("headers") or {}
        secret = {}
        if self.cleaned_data.get("secret_header_name") and self.cleaned_data.get("secret_header_value"):
            secret[self.cleaned_data["secret_header_name"]] = self.cleaned_data["secret_header_value"]
        return data, secret


class HealthConfigForm(forms.ModelForm):
    class Meta:
        model = HealthConfig
        fields = ["paused", "failure_threshold", "success_threshold", "expected_period_seconds", "grace_seconds"]


class MaintenanceWindowForm(forms.ModelForm):
    class Meta:
        model = MaintenanceWindow
        fields = ["name", "integration", "recurrence", "starts_at", "ends_at", "weekdays", "start_time", "cron",
                  "duration_minutes", "active_from", "active_until"]
        # The instant rule (controlplane/validation.py); the browser sends local time
        # without an offset, read in the site's time zone (UTC).
        field_classes = {name: InstantFormField for name in ("starts_at", "ends_at", "active_from", "active_until")}
        widgets = {
            "starts_at": forms.DateTimeInput(attrs={"type": "datetime-local"}),
            "ends_at": forms.DateTimeInput(attrs={"type": "datetime-local"}),
            "start_time": forms.TimeInput(attrs={"type": "time"}),
            "active_from": forms.DateTimeInput(attrs={"type": "datetime-local"}),
            "active_until": forms.DateTimeInput(attrs={"type": "datetime-local"}),
        }


class ChannelForm(forms.ModelForm):
    secret = forms.CharField(required=False, widget=forms.PasswordInput(render_value=False),
                             help_text="Webhook signing secret (whsec_…, Standard Webhooks); leave empty to "
                                       "generate one for a new webhook, or to keep the current one.")

    class Meta:
        model = NotificationChannel
        fields = ["team", "name", "kind", "target", "secret", "enabled"]
