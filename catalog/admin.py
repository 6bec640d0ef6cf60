"""The catalog in Django admin, as a control board. Saves and deletes go through
``catalog.services`` so admin edits obey the catalog's rules and leave audit rows; a
refusal is shown as an error message and nothing is saved."""

from django.contrib import admin
from django.db import models

from controlplane.admin import ReadOnlyAdmin, ServiceErrorsAsMessages

from . import selectors, services
from .models import (
    Api,
    CanonicalEntity,
    Domain,
    EntityDerivation,
    Integration,
    Sla,
    StuckNotice,
    System,
    Team,
    TeamMember,
    Workflow,
    WorkflowStage,
)


class ServiceBackedAdmin(ServiceErrorsAsMessages, admin.ModelAdmin):
    """Routes admin writes through the services (one function per action, audit rows)."""

    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    prepopulated_fields = {"slug": ("name",)}
    readonly_fields = ("created_at", "updated_at")
    m2m_names: tuple[str, ...] = ()

    def _form_data(self, form):
        return {name: value for name, value in form.cleaned_data.items() if name in form.fields
                and name not in ("id",) and not name.startswith("_")}

    def save_model(self, request, obj, form, change):
        data = self._form_data(form)
        if change:
            original = type(obj).objects.get(pk=obj.pk)
            saved = services.update(original, actor=request.user, **data)
        else:
            saved = services.create(type(obj), actor=request.user, **data)
        obj.pk = saved.pk
        obj.__dict__.update({k: v for k, v in saved.__dict__.items() if not k.startswith("_")})

    def save_related(self, request, form, formsets, change):
        # Many-to-many fields were set by the service; only the inlines remain.
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    def delete_model(self, request, obj):
        services.delete(obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            services.delete(obj, actor=request.user)


class TeamMemberInline(admin.TabularInline):
    model = TeamMember
    extra = 0
    autocomplete_fields = ["user"]
    fields = ["name", "email", "role", "is_lead", "user"]


@admin.register(Team)
class TeamAdmin(ServiceBackedAdmin):
    list_display = ["name", "slug", "email", "chat_channel", "parent"]
    list_select_related = ["parent"]
    search_fields = ["name", "slug", "email", "description"]
    list_filter = [("parent", admin.RelatedOnlyFieldListFilter)]
    autocomplete_fields = ["parent"]
    inlines = [TeamMemberInline]

    def save_formset(self, request, form, formset, change):
        if formset.model is not TeamMember:
            return super().save_formset(request, form, formset, change)
        formset.save(commit=False)
        for member in formset.deleted_objects:
            services.remove_team_member(actor=request.user, member=member)
        for member, _changed in formset.changed_objects:
            services.update_team_member(actor=request.user, member=TeamMember.objects.get(pk=member.pk),
                                        name=member.name, email=member.email, role=member.role, user=member.user,
                                        is_lead=member.is_lead)
        for member in formset.new_objects:
            services.add_team_member(actor=request.user, team=form.instance, user=member.user, name=member.name,
                                     email=member.email, role=member.role, is_lead=member.is_lead)


@admin.register(TeamMember)
class TeamMemberAdmin(ServiceErrorsAsMessages, admin.ModelAdmin):
    list_display = ["name", "team", "role", "is_lead", "email", "user"]
    list_select_related = ["team", "user"]
    search_fields = ["name", "email", "team__name", "user__username"]
    list_filter = [("team", admin.RelatedOnlyFieldListFilter)]
    autocomplete_fields = ["team", "user"]

    def save_model(self, request, obj, form, change):
        fields = {k: form.cleaned_data[k] for k in ("user", "name", "email", "role", "is_lead") if k in form.cleaned_data}
        if change:
            saved = services.update_team_member(actor=request.user, member=TeamMember.objects.get(pk=obj.pk), **fields)
        else:
            saved = services.add_team_member(actor=request.user, team=form.cleaned_data["team"], **fields)
        obj.pk = saved.pk

    def delete_model(self, request, obj):
        services.remove_team_member(actor=request.user, member=obj)

    def delete_queryset(self, request, queryset):
        for member in queryset.select_related("team"):
            services.remove_team_member(actor=request.user, member=member)


@admin.register(Domain)
class DomainAdmin(ServiceBackedAdmin):
    list_display = ["name", "slug", "owner_team"]
    list_select_related = ["owner_team"]
    search_fields = ["name", "slug", "description"]
    autocomplete_fields = ["owner_team"]


@admin.register(System)
class SystemAdmin(ServiceBackedAdmin):
    list_display = ["name", "vendor", "category", "deployment", "lifecycle", "owner_team", "domain"]
    list_select_related = ["owner_team", "domain"]
    list_filter = ["lifecycle", "category", "deployment", "is_copy", ("owner_team", admin.RelatedOnlyFieldListFilter), "domain"]
    search_fields = ["name", "slug", "vendor", "product", "description", "business_owner"]
    autocomplete_fields = ["owner_team", "domain"]


@admin.register(Api)
class ApiAdmin(ServiceBackedAdmin):
    list_display = ["name", "provider_system", "layer", "style", "version", "lifecycle", "criticality",
                    "finance_sensitive", "owner_team"]
    list_select_related = ["provider_system", "owner_team"]
    list_filter = ["lifecycle", "layer", "style", "criticality", "finance_sensitive",
                   ("owner_team", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["name", "slug", "description", "provider_system__name", "version"]
    autocomplete_fields = ["provider_system", "owner_team"]


@admin.register(CanonicalEntity)
class EntityAdmin(ServiceBackedAdmin):
    list_display = ["name", "slug", "domain"]
    list_select_related = ["domain"]
    list_filter = ["domain"]
    search_fields = ["name", "slug", "description"]
    autocomplete_fields = ["domain"]


@admin.register(EntityDerivation)
class EntityDerivationAdmin(ServiceBackedAdmin):
    list_display = ["derived_entity", "source_entity", "system", "description"]
    list_select_related = ["derived_entity", "source_entity", "system"]
    list_filter = [("system", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["source_entity__name", "derived_entity__name", "system__name", "description"]
    autocomplete_fields = ["source_entity", "derived_entity", "system"]
    prepopulated_fields = {}
    readonly_fields = ("created_at",)


@admin.register(WorkflowStage)
class WorkflowStageAdmin(ServiceBackedAdmin):
    list_display = ["workflow", "position", "name", "event_type", "integration", "max_latency_hours"]
    list_select_related = ["workflow", "integration"]
    list_filter = [("workflow", admin.RelatedOnlyFieldListFilter), "event_type"]
    search_fields = ["workflow__name", "name"]
    autocomplete_fields = ["workflow", "integration"]
    prepopulated_fields = {}


@admin.register(StuckNotice)
class StuckNoticeAdmin(ReadOnlyAdmin):
    """Rows are written by the periodic stuck check (services.notify_stuck_items)."""

    list_display = ["event", "stage", "notified_at"]
    list_select_related = ["event", "stage__workflow"]


@admin.register(Workflow)
class WorkflowAdmin(ServiceBackedAdmin):
    list_display = ["name", "slug", "domain", "owner_team"]
    list_select_related = ["domain", "owner_team"]
    list_filter = ["domain"]
    search_fields = ["name", "slug", "description"]
    autocomplete_fields = ["domain", "owner_team"]


class SlaInline(admin.StackedInline):
    model = Sla
    extra = 0
    max_num = 1
    can_delete = True


@admin.register(Integration)
class IntegrationAdmin(ServiceBackedAdmin):
    list_display = ["name", "source_system", "target_system", "middleware_system", "pattern", "lifecycle",
                    "criticality", "owner_team"]
    list_select_related = ["source_system", "target_system", "middleware_system", "owner_team"]
    list_filter = ["lifecycle", "pattern", "criticality", ("owner_team", admin.RelatedOnlyFieldListFilter),
                   "workflows"]
    search_fields = ["name", "slug", "description", "source_system__name", "target_system__name", "schedule"]
    autocomplete_fields = ["source_system", "target_system", "middleware_system", "owner_team", "apis",
                           "entities", "workflows"]
    inlines = [SlaInline]

    def save_formset(self, request, form, formset, change):
        if formset.model is not Sla:
            return super().save_formset(request, form, formset, change)
        formset.save(commit=False)
        for sla in formset.deleted_objects:
            services.delete_sla(actor=request.user, sla=sla)
        for sla in [*formset.new_objects, *(obj for obj, _ in formset.changed_objects)]:
            services.upsert_sla(actor=request.user, integration=form.instance, **{
                name: getattr(sla, name) for name in services.SLA_FIELDS
            })


@admin.register(Sla)
class SlaAdmin(ServiceErrorsAsMessages, admin.ModelAdmin):
    list_display = ["integration", "availability_target", "p95_latency_ms", "max_sync_lag_minutes",
                    "exception_resolution_hours", "measurement_window"]
    list_select_related = ["integration"]
    list_filter = ["measurement_window"]
    search_fields = ["integration__name", "integration__slug"]
    autocomplete_fields = ["integration"]

    def get_queryset(self, request):
        return selectors.slas()

    def save_model(self, request, obj, form, change):
        saved = services.upsert_sla(actor=request.user, integration=form.cleaned_data.get("integration") or obj.integration,
                                    **{name: form.cleaned_data.get(name) for name in services.SLA_FIELDS})
        obj.pk = saved.pk

    def delete_model(self, request, obj):
        services.delete_sla(actor=request.user, sla=obj)

    def delete_queryset(self, request, queryset):
        for sla in queryset:
            services.delete_sla(actor=request.user, sla=sla)
