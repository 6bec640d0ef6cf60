"""Server-rendered catalog pages. Every kind of object (team, domain, system, API, entity,
workflow, integration) gets the same five pages, driven by a ``Kind`` description: list
(FilterSet, search, sort, pagination), detail (relations, history), create, edit and
delete; systems, APIs and integrations also have lifecycle buttons. Writes call the
services; their refusals are shown on the form or as a message, and nothing is saved."""

from dataclasses import dataclass, field

from django.contrib import messages
from django.core.paginator import Paginator
from django.db import transaction
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect
from django.views import View
from django.views.generic import DetailView, TemplateView

from controlplane.csv_export import csv_response
from controlplane.errors import DomainError, ValidationFailed
from controlplane.views_mixins import FilteredListView, RolePermissionMixin

from . import filtersets, forms, selectors, services, stuck_list
from .choices import API_TRANSITIONS, INTEGRATION_TRANSITIONS, SYSTEM_TRANSITIONS
from .filtersets import StuckFilterSet
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


@dataclass
class Kind:
    model: type
    url_name: str
    plural: str
    form_class: type
    filterset_class: type
    list_queryset: callable
    detail_queryset: callable
    sort_fields: dict = field(default_factory=dict)
    transitions: dict | None = None

    @property
    def label(self):
        return self.model._meta.verbose_name

    @property
    def label_plural(self):
        return self.model._meta.verbose_name_plural

    @property
    def register_label(self):
        """ "Register an API", "Register a system": the one wording of every create button and page."""
        label = str(self.label)
        return f"Register {'an' if label[:1].lower() in 'aeiou' else 'a'} {label}"

    def perm(self, action):
        return f"catalog.{action}_{self.model._meta.model_name}"


COMMON_SORT = {"name": "name", "slug": "slug", "updated": "updated_at"}

KINDS = {
    kind.url_name: kind
    for kind in [
        Kind(Team, "team", "teams", forms.TeamForm, filtersets.TeamFilterSet, selectors.team_list, selectors.teams,
             {**COMMON_SORT, "members": "member_count", "systems": "system_count"}),
        Kind(Domain, "domain", "domains", forms.DomainForm, filtersets.DomainFilterSet, selectors.domains,
             selectors.domains, {**COMMON_SORT, "owner": "owner_team__name"}),
        Kind(System, "system", "systems", forms.SystemForm, filtersets.SystemFilterSet, selectors.system_list,
             selectors.systems,
             {**COMMON_SORT, "vendor": "vendor", "category": "category", "lifecycle": "lifecycle",
              "owner": "owner_team__name", "apis": "api_count"},
             SYSTEM_TRANSITIONS),
        Kind(Api, "api", "apis", forms.ApiForm, filtersets.ApiFilterSet, selectors.api_list, selectors.apis,
             {**COMMON_SORT, "system": "provider_system__name", "layer": "layer", "lifecycle": "lifecycle",
              "criticality": "criticality", "consumers": "consumer_count"},
             API_TRANSITIONS),
        Kind(CanonicalEntity, "entity", "entities", forms.EntityForm, filtersets.EntityFilterSet, selectors.entities,
             selectors.entities, {**COMMON_SORT, "domain": "domain__name"}),
        Kind(Workflow, "workflow", "workflows", forms.WorkflowForm, filtersets.WorkflowFilterSet, selectors.workflows,
             selectors.workflows, {**COMMON_SORT, "domain": "domain__name", "owner": "owner_team__name"}),
        Kind(Integration, "integration", "integrations", forms.IntegrationForm, filtersets.IntegrationFilterSet,
             selectors.integrations, selectors.integrations,
             {**COMMON_SORT, "source": "source_system__name", "target": "target_system__name",
              "lifecycle": "lifecycle", "criticality": "criticality", "pattern": "pattern", "owner": "owner_team__name"},
             INTEGRATION_TRANSITIONS),
    ]
}

# The order the sub-navigation shows them in.
NAV = ["system", "api", "integration", "team", "entity", "workflow", "domain"]


class KindMixin:
    kind: Kind = None

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["kind"] = self.kind
        context["nav_kinds"] = [KINDS[name] for name in NAV]
        return context


class HomeView(RolePermissionMixin, TemplateView):
    permission_required = "catalog.view_system"
    template_name = "catalog/home.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["counts"] = selectors.overview_counts()
        context["nav_kinds"] = [KINDS[name] for name in NAV]
        context["recent_integrations"] = selectors.integrations().order_by("-updated_at")[:8]
        return context


class CatalogListView(KindMixin, FilteredListView):
    template_name = "catalog/list.html"

    def get_permission_required(self):
        return [self.kind.perm("view")]

    @property
    def filterset_class(self):
        return self.kind.filterset_class

    @property
    def sort_fields(self):
        return self.kind.sort_fields

    default_sort = "name"

    def get_filterset(self):
        # Always bound (an empty query is valid and filters nothing): the shared mixin passes
        # None for a bare URL, and an unbound FilterSet is never valid, so it listed nothing.
        return self.filterset_class(self.request.GET, queryset=self.queryset.all(), request=self.request)

    def get_queryset(self):
        self.queryset = self.kind.list_queryset()
        return super().get_queryset()

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["can_create"] = self.request.user.has_perm(self.kind.perm("add"))
        return context


class CatalogDetailView(KindMixin, RolePermissionMixin, DetailView):
    def get_permission_required(self):
        return [self.kind.perm("view")]

    def get_queryset(self):
        return self.kind.detail_queryset()

    def get_template_names(self):
        return [f"catalog/{self.kind.url_name}_detail.html"]

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        obj = self.object
        user = self.request.user
        context["can_change"] = user.has_perm(self.kind.perm("change"))
        context["can_delete"] = user.has_perm(self.kind.perm("delete"))
        if self.kind.transitions is not None:
            context["next_states"] = [
                (value, label)
                for value, label in type(obj)._meta.get_field("lifecycle").choices
                if value in self.kind.transitions.get(obj.lifecycle, set())
            ]
        context.update(getattr(self, f"related_{self.kind.url_name}")(obj))
        return context

    def related_team(self, team):
        return {
            "systems": team.systems.order_by("name"),
            "apis": team.apis.select_related("provider_system").order_by("name"),
            "integrations": team.integrations.select_related("source_system", "target_system").order_by("name"),
            "children": team.children.order_by("name"),
            "member_form": forms.TeamMemberForm(),
            "restricted_queues": (restricted := services.restricted_queue_names(team)),
            "can_manage_members": self.request.user.has_perm("catalog.add_teammember") and (
                not restricted or services.may_govern_access(self.request.user, team)),
        }

    def related_domain(self, domain):
        return {
            "systems": domain.systems.select_related("owner_team").order_by("name"),
            "entities": domain.entities.order_by("name"),
            "workflows": domain.workflows.order_by("name"),
        }

    def related_system(self, system):
        return {
            "apis": system.apis.select_related("owner_team").order_by("name"),
            "integrations": selectors.integrations_touching(system).order_by("name"),
        }

    def related_api(self, api):
        return {"consumers": selectors.integrations().filter(apis=api).order_by("name")}

    def related_entity(self, entity):
        return {"integrations": selectors.integrations().filter(entities=entity).order_by("name")}

    def related_workflow(self, workflow):
        user = self.request.user
        return {
            "integrations": selectors.integrations().filter(workflows=workflow).order_by("name"),
            "stages": workflow.stages.select_related("integration").order_by("position"),
            "can_add_stage": user.has_perm("catalog.add_workflowstage"),
            "can_change_stage": user.has_perm("catalog.change_workflowstage"),
            "can_delete_stage": user.has_perm("catalog.delete_workflowstage"),
            "can_see_stuck": user.has_perm("kpis.view_businessevent"),
        }

    def related_integration(self, integration):
        return {"sla": getattr(integration, "sla", None)}


class CatalogFormView(KindMixin, RolePermissionMixin, TemplateView):
    """Create (no slug) or edit (slug). The form validates fields; the service decides."""

    template_name = "catalog/form.html"
    action = "add"

    def get_permission_required(self):
        return [self.kind.perm(self.action)]

    def get_object(self):
        if self.action == "add":
            return None
        return get_object_or_404(self.kind.model, slug=self.kwargs["slug"])

    def build_forms(self, data=None):
        obj = self.get_object()
        # The form works on its own copy: a refused save must leave nothing half-applied.
        form_instance = type(obj).objects.get(pk=obj.pk) if obj else None
        form = self.kind.form_class(data, instance=form_instance)
        sla_form = None
        if self.kind.model is Integration:
            sla = Sla.objects.filter(integration=obj).first() if obj else None
            sla_form = forms.SlaForm(data, instance=sla, prefix="sla")
        return obj, form, sla_form

    def get(self, request, *args, **kwargs):
        obj, form, sla_form = self.build_forms()
        return self.render_forms(obj, form, sla_form)

    def render_forms(self, obj, form, sla_form, status=200):
        context = self.get_context_data(object=obj, form=form, sla_form=sla_form)
        return self.render_to_response(context, status=status)

    def post(self, request, *args, **kwargs):
        obj, form, sla_form = self.build_forms(request.POST)
        valid = form.is_valid()
        if sla_form is not None:
            valid = sla_form.is_valid() and valid
        if not valid:
            return self.render_forms(obj, form, sla_form, status=400)
        data = dict(form.cleaned_data)
        if sla_form is not None and (sla_form.has_targets() or sla_form.instance.pk):
            data["sla"] = sla_form.cleaned_data
        try:
            with transaction.atomic():
                if obj is None:
                    obj = services.create(self.kind.model, actor=request.user, **data)
                    verb = "registered"
                else:
                    obj = services.update(obj, actor=request.user, **data)
                    verb = "saved"
        except DomainError as exc:
            form.apply_domain_error(exc)
            return self.render_forms(self.get_object(), form, sla_form, status=400 if exc.status_code == 400 else 409)
        messages.success(request, f"{self.kind.label.capitalize()} “{obj}” {verb}.")
        return redirect(obj.get_absolute_url())


class CatalogDeleteView(KindMixin, RolePermissionMixin, TemplateView):
    template_name = "catalog/confirm_delete.html"

    def get_permission_required(self):
        return [self.kind.perm("delete")]

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["object"] = get_object_or_404(self.kind.model, slug=self.kwargs["slug"])
        return context

    def post(self, request, *args, **kwargs):
        obj = get_object_or_404(self.kind.model, slug=self.kwargs["slug"])
        try:
            services.delete(obj, actor=request.user)
        except DomainError as exc:
            messages.error(request, exc.message)
            return redirect(obj.get_absolute_url())
        messages.success(request, f"{self.kind.label.capitalize()} “{obj}” deleted.")
        return redirect(f"catalog:{self.kind.url_name}-list")


class LifecycleView(KindMixin, RolePermissionMixin, View):
    http_method_names = ["post"]

    def get_permission_required(self):
        return [self.kind.perm("change")]

    def post(self, request, *args, **kwargs):
        obj = get_object_or_404(self.kind.model, slug=self.kwargs["slug"])
        form = forms.LifecycleForm(request.POST)
        if not form.is_valid():
            messages.error(request, "Choose a lifecycle state.")
            return redirect(obj.get_absolute_url())
        try:
            services.change_lifecycle(actor=request.user, obj=obj, lifecycle=form.cleaned_data["lifecycle"])
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, f"{self.kind.label.capitalize()} “{obj}” is now {obj.get_lifecycle_display()}.")
        return redirect(obj.get_absolute_url())


class TeamMemberAddView(RolePermissionMixin, View):
    permission_required = "catalog.add_teammember"
    http_method_names = ["post"]

    def post(self, request, slug):
        team = get_object_or_404(Team, slug=slug)
        form = forms.TeamMemberForm(request.POST)
        if form.is_valid():
            try:
                services.add_team_member(actor=request.user, team=team, **form.cleaned_data)
            except DomainError as exc:
                messages.error(request, exc.message)
            else:
                messages.success(request, "Member added.")
        else:
            errors = "; ".join(f"{name}: {' '.join(errs)}" for name, errs in form.errors.items())
            messages.error(request, f"Member not added: {errors}")
        return HttpResponseRedirect(team.get_absolute_url())


class TeamMemberRemoveView(RolePermissionMixin, View):
    permission_required = "catalog.delete_teammember"
    http_method_names = ["post"]

    def post(self, request, slug, pk):
        member = get_object_or_404(TeamMember.objects.select_related("team"), pk=pk, team__slug=slug)
        try:
            services.remove_team_member(actor=request.user, member=member)
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, f"{member.name} removed from {member.team}.")
        return HttpResponseRedirect(member.team.get_absolute_url())


# --- workflow stages and the stuck list ----------------------------------------------------


class WorkflowPageMixin:
    """Pages under a workflow keep the catalog's sub-navigation, with Workflows current."""

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["kind"] = KINDS["workflow"]
        context["nav_kinds"] = [KINDS[name] for name in NAV]
        return context


class StageFormView(WorkflowPageMixin, RolePermissionMixin, TemplateView):
    """Add a step to a workflow (``slug``) or edit one (``pk``); the service decides."""

    template_name = "catalog/stage_form.html"

    def get_permission_required(self):
        return ["catalog.change_workflowstage" if "pk" in self.kwargs else "catalog.add_workflowstage"]

    def prepare(self, request, *args, **kwargs):
        if "pk" in kwargs:
            self.stage = get_object_or_404(WorkflowStage.objects.select_related("workflow"), pk=kwargs["pk"])
            self.workflow = self.stage.workflow
        else:
            self.stage = None
            self.workflow = get_object_or_404(Workflow, slug=kwargs["slug"])

    def _form(self, data=None):
        instance = WorkflowStage.objects.get(pk=self.stage.pk) if self.stage else None
        initial = None if instance else {"position": self.workflow.stages.count() + 1}
        return forms.WorkflowStageForm(data, instance=instance, initial=initial)

    def _render(self, form, status=200):
        return self.render_to_response(self.get_context_data(form=form, workflow=self.workflow, stage=self.stage),
                                       status=status)

    def get(self, request, *args, **kwargs):
        return self._render(self._form())

    def post(self, request, *args, **kwargs):
        form = self._form(request.POST)
        if not form.is_valid():
            return self._render(form, status=400)
        try:
            if self.stage is None:
                stage = services.create_stage(actor=request.user, workflow=self.workflow, **form.cleaned_data)
            else:
                stage = services.update_stage(actor=request.user, stage=self.stage, **form.cleaned_data)
        except DomainError as exc:
            form.apply_domain_error(exc)
            return self._render(form, status=exc.status_code)
        messages.success(request, f"Step “{stage.name}” saved.")
        return redirect(stage.get_absolute_url())


class StageDeleteView(RolePermissionMixin, View):
    permission_required = "catalog.delete_workflowstage"
    http_method_names = ["post"]

    def post(self, request, pk):
        stage = get_object_or_404(WorkflowStage.objects.select_related("workflow"), pk=pk)
        try:
            services.delete_stage(actor=request.user, stage=stage)
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, f"Step “{stage.name}” removed.")
        return redirect(stage.get_absolute_url())


class StuckListView(WorkflowPageMixin, RolePermissionMixin, TemplateView):
    """The items of a workflow waiting for a step, late ones first by default; filters,
    pages, a summary per currency and the CSV export (``?format=csv``) of the same rows."""

    permission_required = "kpis.view_businessevent"
    template_name = "catalog/stuck_list.html"
    paginate_by = 25

    def prepare(self, request, *args, **kwargs):
        self.workflow = get_object_or_404(Workflow.objects.select_related("owner_team"), slug=kwargs["slug"])

    def get(self, request, *args, **kwargs):
        params = request.GET.copy()
        fmt = params.pop("format", [""])[0]
        page_number = params.pop("page", ["1"])[0]
        try:
            if fmt == "csv":
                filterset = stuck_list.bound_filterset(self.workflow, params, request=request)
                rows = stuck_list.csv_rows(self.workflow, filterset, user=request.user,
                                           site=request.build_absolute_uri("/").rstrip("/"))
                return csv_response(rows, filename=f"stuck-{self.workflow.slug}.csv")
            holder = {}

            def paginate(qs):
                holder["page"] = Paginator(qs, self.paginate_by).get_page(page_number)
                return holder["page"].object_list

            result = stuck_list.stuck_page(self.workflow, params, user=request.user, paginate=paginate,
                                           request=request)
        except ValidationFailed as exc:
            filterset = StuckFilterSet(params, workflow=self.workflow, request=request)
            filterset.is_valid()
            context = self.get_context_data(workflow=self.workflow, filter=filterset, error=exc.message)
            return self.render_to_response(context, status=400)
        context = self.get_context_data(workflow=self.workflow, filter=result["filter"], items=result["items"],
                                        summary=result["summary"], as_of=result["as_of"], page_obj=holder["page"],
                                        stages=result["filter"].stages)
        return self.render_to_response(context)
