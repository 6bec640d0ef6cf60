"""HTML forms: field validation only. Views hand ``cleaned_data`` to the services, and any
domain error a service raises is put back on the form."""

from django import forms

from controlplane.errors import DomainError
from controlplane.forms import name_people

from .models import (
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

COMMON = ["name", "slug", "description"]


class CatalogForm(forms.ModelForm):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "description" in self.fields:
            self.fields["description"].widget.attrs["rows"] = 3

    def apply_domain_error(self, exc: DomainError):
        """Show a service's refusal next to the fields it names (or on top of the form)."""
        placed = False
        for field, messages in (exc.fields or {}).items():
            target = field if field in self.fields else None
            if isinstance(messages, str):
                messages = [messages]
            if target:
                for message in messages:
                    self.add_error(target, str(message))
                placed = True
        if not placed or exc.message:
            self.add_error(None, exc.message)


def _select_related(form, **querysets):
    for name, queryset in querysets.items():
        if name in form.fields:
            form.fields[name].queryset = queryset


class TeamForm(CatalogForm):
    class Meta:
        model = Team
        fields = [*COMMON, "email", "chat_channel", "parent"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["parent"].queryset = Team.objects.exclude(pk=self.instance.pk)


class TeamMemberForm(forms.ModelForm):
    class Meta:
        model = TeamMember
        fields = ["user", "name", "email", "role", "is_lead"]
        help_texts = {"name": "Taken from the user when left empty."}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["name"].required = False
        name_people(self, "user")

    def clean(self):
        data = super().clean()
        if not data.get("user") and not data.get("name"):
            self.add_error("name", "Give a name, or pick a user to take it from.")
        return data

    def validate_unique(self):
        # Membership uniqueness is a service rule; the team is not part of the form.
        pass


class DomainForm(CatalogForm):
    class Meta:
        model = Domain
        fields = [*COMMON, "owner_team"]


class SystemForm(CatalogForm):
    class Meta:
        model = System
        fields = [*COMMON, "vendor", "product", "category", "deployment", "lifecycle", "owner_team", "domain",
                  "business_owner", "data_residency", "rate_limits", "retirement_date", "is_copy"]
        widgets = {"retirement_date": forms.DateInput(attrs={"type": "date"})}


class ApiForm(CatalogForm):
    docs_url = forms.URLField(max_length=500, required=False, assume_scheme="https", label="Docs URL")

    class Meta:
        model = Api
        fields = [*COMMON, "provider_system", "layer", "style", "version", "lifecycle", "owner_team", "criticality",
                  "finance_sensitive", "auth_policy", "docs_url", "definition_format", "definition"]
        widgets = {"definition": forms.Textarea(attrs={"rows": 6, "class": "mono"})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _select_related(self, provider_system=System.objects.select_related(None).order_by("name"))


class EntityForm(CatalogForm):
    class Meta:
        model = CanonicalEntity
        fields = [*COMMON, "domain"]


class WorkflowForm(CatalogForm):
    class Meta:
        model = Workflow
        fields = [*COMMON, "domain", "owner_team"]


class WorkflowStageForm(CatalogForm):
    """One step of a workflow; the workflow comes from the page, not the form."""

    class Meta:
        model = WorkflowStage
        fields = ["position", "name", "event_type", "integration", "max_latency_hours"]
        labels = {"integration": "Expected integration", "max_latency_hours": "Max latency (hours)"}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _select_related(self, integration=Integration.objects.exclude(lifecycle="retired").order_by("name"))


class IntegrationForm(CatalogForm):
    class Meta:
        model = Integration
        fields = [*COMMON, "source_system", "target_system", "middleware_system", "apis", "entities", "workflows",
                  "pattern", "schedule", "trigger", "owner_team", "criticality", "lifecycle"]
        labels = {"apis": "APIs used", "entities": "Entities carried"}
        widgets = {
            "apis": forms.SelectMultiple(attrs={"size": 8}),
            "entities": forms.SelectMultiple(attrs={"size": 8}),
            "workflows": forms.SelectMultiple(attrs={"size": 6}),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _select_related(self, apis=Api.objects.select_related("provider_system").order_by("name"))
        self.fields["apis"].label_from_instance = lambda api: f"{api.name} ({api.provider_system.name}, {api.lifecycle})"


class SlaForm(forms.ModelForm):
    """The SLA part of the integration form (prefix ``sla``). All targets optional."""

    class Meta:
        model = Sla
        fields = ["availability_target", "p95_latency_ms", "max_sync_lag_minutes", "exception_resolution_hours",
                  "measurement_window"]
        labels = {
            "availability_target": "SLA availability target (%)",
            "p95_latency_ms": "SLA p95 latency (ms)",
            "max_sync_lag_minutes": "SLA maximum sync lag (minutes)",
            "exception_resolution_hours": "SLA exception resolution (hours)",
            "measurement_window": "SLA measurement window",
        }

    def validate_unique(self):
        pass

    def has_targets(self) -> bool:
        data = self.cleaned_data
        return any(data.get(name) is not None for name in self.Meta.fields if name != "measurement_window")


class LifecycleForm(forms.Form):
    lifecycle = forms.CharField(max_length=20)
