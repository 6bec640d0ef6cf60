"""One FilterSet per catalog model, shared by the REST API and the HTML list pages."""

import datetime as dt

import django_filters as filters
from django.db.models import Q
from django.utils import timezone

from controlplane.filters import YesNoFilter, picker_filter
from kpis.choices import EventType
from kpis.models import BusinessEvent

from .choices import (
    ApiLayer,
    ApiLifecycle,
    ApiStyle,
    Criticality,
    Deployment,
    IntegrationLifecycle,
    IntegrationPattern,
    SystemCategory,
    SystemLifecycle,
)
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


class CatalogFilterSet(filters.FilterSet):
    """``q`` searches the text columns listed in ``search_fields``."""

    search_fields: tuple[str, ...] = ("name", "slug", "description")

    q = filters.CharFilter(method="search", label="Search")

    def search(self, queryset, name, value):
        condition = Q()
        for term in value.split():
            term_q = Q()
            for field in self.search_fields:
                term_q |= Q(**{f"{field}__icontains": term})
            condition &= term_q
        return queryset.filter(condition)


class TeamFilterSet(CatalogFilterSet):
    search_fields = ("name", "slug", "description", "email", "chat_channel")
    parent = picker_filter("team", "parent__slug", "Parent team")
    member = picker_filter("user", "memberships__user__username", "Member", distinct=True)

    class Meta:
        model = Team
        fields = ["q", "parent", "member"]


class DomainFilterSet(CatalogFilterSet):
    owner_team = picker_filter("team", "owner_team__slug", "Owner team")

    class Meta:
        model = Domain
        fields = ["q", "owner_team"]


class SystemFilterSet(CatalogFilterSet):
    search_fields = ("name", "slug", "description", "vendor", "product", "business_owner")
    owner_team = picker_filter("team", "owner_team__slug", "Owner team")
    domain = picker_filter("domain", "domain__slug", "Domain")
    category = filters.MultipleChoiceFilter(choices=SystemCategory.choices)
    lifecycle = filters.MultipleChoiceFilter(choices=SystemLifecycle.choices)
    deployment = filters.ChoiceFilter(choices=Deployment.choices)
    vendor = filters.CharFilter(lookup_expr="icontains")
    data_residency = filters.CharFilter(lookup_expr="iexact")

    class Meta:
        model = System
        fields = ["q", "owner_team", "domain", "category", "lifecycle", "deployment", "vendor", "data_residency"]


class ApiFilterSet(CatalogFilterSet):
    search_fields = ("name", "slug", "description", "version", "auth_policy", "provider_system__name")
    owner_team = picker_filter("team", "owner_team__slug", "Owner team")
    system = picker_filter("system", "provider_system__slug", "Provider system")
    layer = filters.MultipleChoiceFilter(choices=ApiLayer.choices)
    style = filters.MultipleChoiceFilter(choices=ApiStyle.choices)
    lifecycle = filters.MultipleChoiceFilter(choices=ApiLifecycle.choices)
    criticality = filters.ChoiceFilter(choices=Criticality.choices)
    finance_sensitive = YesNoFilter()
    has_definition = YesNoFilter(method="filter_has_definition", label="Has a definition")
    consumer = picker_filter("integration", "integrations__slug", "Used by integration", distinct=True)

    class Meta:
        model = Api
        fields = ["q", "owner_team", "system", "layer", "style", "lifecycle", "criticality", "finance_sensitive"]

    def filter_has_definition(self, queryset, name, value):
        return queryset.exclude(definition="") if value else queryset.filter(definition="")


class EntityFilterSet(CatalogFilterSet):
    domain = picker_filter("domain", "domain__slug", "Domain")
    integration = picker_filter("integration", "integrations__slug", "Carried by integration", distinct=True)

    class Meta:
        model = CanonicalEntity
        fields = ["q", "domain", "integration"]


class WorkflowStageFilterSet(filters.FilterSet):
    workflow = picker_filter("workflow", "workflow__slug", "Workflow")
    event_type = filters.ChoiceFilter(choices=EventType.choices, label="Event type")

    class Meta:
        model = WorkflowStage
        fields = ["workflow", "event_type"]


class WorkflowFilterSet(CatalogFilterSet):
    domain = picker_filter("domain", "domain__slug", "Domain")
    owner_team = picker_filter("team", "owner_team__slug", "Owner team")

    class Meta:
        model = Workflow
        fields = ["q", "domain", "owner_team"]


class IntegrationFilterSet(CatalogFilterSet):
    search_fields = ("name", "slug", "description", "schedule", "trigger", "source_system__name",
                     "target_system__name")
    owner_team = picker_filter("team", "owner_team__slug", "Owner team")
    lifecycle = filters.MultipleChoiceFilter(choices=IntegrationLifecycle.choices)
    pattern = filters.MultipleChoiceFilter(choices=IntegrationPattern.choices)
    criticality = filters.ChoiceFilter(choices=Criticality.choices)
    source = picker_filter("system", "source_system__slug", "Source system")
    target = picker_filter("system", "target_system__slug", "Target system")
    middleware = picker_filter("system", "middleware_system__slug", "Middleware")
    system = picker_filter("system", None, "Any system", method="filter_system")
    api = picker_filter("api", "apis__slug", "Uses API", distinct=True)
    entity = picker_filter("entity", "entities__slug", "Carries entity", distinct=True)
    workflow = picker_filter("workflow", "workflows__slug", "Workflow", distinct=True)
    finance_sensitive = YesNoFilter(method="filter_finance_sensitive",
                                              label="Uses a finance-sensitive API")
    has_sla = YesNoFilter(field_name="sla", lookup_expr="isnull", exclude=True, label="Has an SLA")

    class Meta:
        model = Integration
        fields = ["q", "owner_team", "lifecycle", "pattern", "criticality", "source", "target", "middleware",
                  "system", "api", "entity", "workflow", "finance_sensitive", "has_sla"]

    def filter_system(self, queryset, name, value):
        return queryset.filter(
            Q(source_system__slug=value) | Q(target_system__slug=value) | Q(middleware_system__slug=value)
        )

    def filter_finance_sensitive(self, queryset, name, value):
        sensitive = Integration.objects.filter(apis__finance_sensitive=True).values("pk")
        return queryset.filter(pk__in=sensitive) if value else queryset.exclude(pk__in=sensitive)


class SlaFilterSet(filters.FilterSet):
    integration = picker_filter("integration", "integration__slug", "Integration")
    measurement_window = filters.CharFilter()

    class Meta:
        model = Sla
        fields = ["integration", "measurement_window"]


class TeamMemberFilterSet(filters.FilterSet):
    team = picker_filter("team", "team__slug", "Team")
    user = picker_filter("user", "user__username", "User")

    class Meta:
        model = TeamMember
        fields = ["team", "user"]


class EstateMapFilterSet(filters.FilterSet):
    """What the estate map draws (page and API): integrations by domain, team, tier,
    workflow and entity. Choices show names; the query string carries slugs."""

    domain = filters.ModelChoiceFilter(queryset=Domain.objects.all(), to_field_name="slug", method="filter_domain",
                                       label="Domain", empty_label="Any domain")
    team = filters.ModelChoiceFilter(queryset=Team.objects.all(), to_field_name="slug", method="filter_team",
                                     label="Team", empty_label="Any team")
    tier = filters.ChoiceFilter(field_name="criticality", choices=Criticality.choices, label="Tier",
                              empty_label="Any tier")
    workflow = filters.ModelChoiceFilter(queryset=Workflow.objects.all(), to_field_name="slug", field_name="workflows",
                                         distinct=True, label="Workflow", empty_label="Any workflow")
    entity = filters.ModelChoiceFilter(queryset=CanonicalEntity.objects.all(), to_field_name="slug",
                                       field_name="entities", distinct=True, label="Entity",
                                       empty_label="Any entity")

    class Meta:
        model = Integration
        fields = ["domain", "team", "tier", "workflow", "entity"]

    def filter_domain(self, queryset, name, value):
        """Integrations touching a system of the domain, or serving one of its workflows."""
        return queryset.filter(
            Q(source_system__domain=value) | Q(target_system__domain=value)
            | Q(pk__in=Integration.workflows.through.objects.filter(workflow__domain=value).values("integration_id"))
        )

    def filter_team(self, queryset, name, value):
        """Integrations the team owns, or that touch a system it owns."""
        return queryset.filter(Q(owner_team=value) | Q(source_system__owner_team=value)
                               | Q(target_system__owner_team=value))


class StuckFilterSet(filters.FilterSet):
    """The stuck list of one workflow: items waiting for a step (catalog/stages.py). Shared
    by the HTML page, its CSV export and the API. ``as_of`` picks the moment (default now);
    ``state`` is "late" (past the step's deadline, the default) or "waiting" (every item
    still waiting, what the backlog KPIs count)."""

    STATES = (("late", "Past the step's deadline"), ("waiting", "Every item still waiting"))

    as_of = filters.IsoDateTimeFilter(method="_given", label="As of (UTC)")
    state = filters.ChoiceFilter(choices=STATES, method="_given", label="Show", empty_label=None)
    stage = filters.ChoiceFilter(method="_stage", label="Stuck before", empty_label="Any step")
    integration = picker_filter("integration", "integration__slug", "Reported by integration")
    currency = filters.CharFilter(method="_currency", label="Currency", max_length=3)
    key = filters.CharFilter(field_name="correlation_key", lookup_expr="icontains", label="Business key",
                             max_length=200)
    older_than_days = filters.NumberFilter(method="_older", label="Waiting longer than (days)", min_value=0,
                                           max_value=3660)

    class Meta:
        model = BusinessEvent
        fields = ["as_of", "state", "stage", "integration", "currency", "key", "older_than_days"]

    def __init__(self, data=None, queryset=None, *, workflow, request=None, **kwargs):
        from .stages import ordered_stages

        self.workflow = workflow
        self.stages = ordered_stages(workflow)
        self.as_of = None
        super().__init__(data, queryset=BusinessEvent.objects.none() if queryset is None else queryset,
                         request=request, **kwargs)
        self.filters["stage"].extra["choices"] = [(str(s.pk), s.name) for s in self.stages[1:]]

    def _given(self, queryset, name, value):
        return queryset  # applied in filter_queryset: they choose the base rows, not a filter on them

    def _stage(self, queryset, name, value):
        return queryset.filter(stage_id=int(value))

    def _currency(self, queryset, name, value):
        return queryset.filter(currency__iexact=value.strip())

    def _older(self, queryset, name, value):
        return queryset.filter(occurred_at__lt=self.as_of - dt.timedelta(days=float(value)))

    def filter_queryset(self, queryset):
        from .stages import waiting_items

        data = self.form.cleaned_data
        self.as_of = data.get("as_of") or timezone.now()
        base = waiting_items(self.workflow, as_of=self.as_of, stages=self.stages)
        if (data.get("state") or "late") == "late":
            base = base.filter(due_at__lt=self.as_of)
        return super().filter_queryset(base)
