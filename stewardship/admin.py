"""Admin: stewardship objects, written only through the services. Approved (and every
other non-draft) schema versions are read-only here as everywhere: a version is edited as
a draft by its author on the stewardship pages or the API, and moves on only through the
review workflow."""

from django.contrib import admin, messages

from controlplane.admin import ActionsOnlyAdmin, ReadOnlyInline, ServiceErrorsAsMessages
from controlplane.errors import DomainError

from . import selectors, services
from .models import (
    FindingAcceptance,
    Review,
    SchemaSubject,
    SchemaVersion,
    SorAssignment,
    StewardshipSettings,
)


@admin.register(StewardshipSettings)
class StewardshipSettingsAdmin(ServiceErrorsAsMessages, admin.ModelAdmin):
    """The one row of defaults: created on first use, changed through ``update_settings``."""

    list_display = ["__str__", "default_level", "default_policy", "updated_at"]
    fields = ["default_level", "default_policy"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        services.update_settings(actor=request.user, **{f: form.cleaned_data[f] for f in self.fields})


def _decide(modeladmin, request, queryset, func, kwarg):
    for obj in queryset:
        try:
            func(actor=request.user, **{kwarg: obj})
        except DomainError as exc:
            modeladmin.message_user(request, f"{obj}: {exc.message}", messages.ERROR)


@admin.register(SorAssignment)
class SorAssignmentAdmin(ServiceErrorsAsMessages, ActionsOnlyAdmin):
    """Proposed here (``propose_sor``), decided by the approve/reject actions; an
    assignment itself is never edited in place."""

    list_display = ["entity", "scope_type", "scope_value", "attribute_group", "system", "status", "proposed_by", "decided_by"]
    list_filter = ["status", "scope_type"]
    search_fields = ["entity__name", "system__name", "scope_value"]
    list_select_related = ["entity", "system", "proposed_by", "decided_by"]
    readonly_fields = ["status", "proposed_by", "decided_by", "decided_at", "created_at"]
    actions = ["approve_selected", "reject_selected"]

    def has_add_permission(self, request):
        return admin.ModelAdmin.has_add_permission(self, request)

    def save_model(self, request, obj, form, change):
        created = services.propose_sor(
            actor=request.user, entity=obj.entity, system=obj.system, scope_type=obj.scope_type,
            scope_value=obj.scope_value, attribute_group=obj.attribute_group, steward=obj.steward,
            effective_from=obj.effective_from, effective_to=obj.effective_to, comments=obj.comments,
        )
        obj.pk = created.pk

    @admin.action(description="Approve selected proposals", permissions=["change"])
    def approve_selected(self, request, queryset):
        _decide(self, request, queryset, services.approve_sor, "assignment")

    @admin.action(description="Reject selected proposals", permissions=["change"])
    def reject_selected(self, request, queryset):
        _decide(self, request, queryset, services.reject_sor, "assignment")


class ReviewInline(ReadOnlyInline):
    model = Review
    readonly_fields = ["reviewer", "decision", "comment", "round", "created_at"]


class AcceptanceInline(ReadOnlyInline):
    model = FindingAcceptance
    readonly_fields = ["finding_type", "path", "steward", "justification", "created_at"]


@admin.register(SchemaSubject)
class SchemaSubjectAdmin(ServiceErrorsAsMessages, admin.ModelAdmin):
    list_display = ["name", "slug", "entity", "api", "format", "compatibility_level", "policy"]
    list_filter = ["format", "compatibility_level", "policy"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    list_select_related = ["entity", "api"]
    fields = ["name", "slug", "format", "entity", "api", "compatibility_level", "policy", "description"]
    editable_after_creation = ["name", "description", "compatibility_level", "policy"]

    def get_readonly_fields(self, request, obj=None):
        # What update_subject may change; the rest is fixed once the subject exists.
        return [f for f in self.fields if f not in self.editable_after_creation] if obj else []

    def get_prepopulated_fields(self, request, obj=None):
        return {} if obj else self.prepopulated_fields

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        data = {f: form.cleaned_data[f] for f in self.fields if f in form.cleaned_data}
        if change:
            services.update_subject(actor=request.user, subject=SchemaSubject.objects.get(pk=obj.pk),
                                    **{f: data[f] for f in self.editable_after_creation if f in data})
        else:
            obj.pk = services.create_subject(actor=request.user, **data).pk


@admin.register(SchemaVersion)
class SchemaVersionAdmin(ActionsOnlyAdmin):
    """Read-only: drafts are edited by their authors on the stewardship pages, and an
    approved version is immutable everywhere. Deprecation is the one action here."""

    list_display = ["__str__", "subject", "number", "status", "author", "submitted_at", "approved_at"]
    list_filter = ["status", "subject"]
    list_select_related = ["subject", "author"]
    inlines = [ReviewInline, AcceptanceInline]
    actions = ["deprecate_selected"]

    def get_queryset(self, request):
        # "Invoice v4 (in review)" in the list without a query per row.
        return selectors.with_top_number(super().get_queryset(request))

    @admin.action(description="Deprecate selected approved versions", permissions=["change"])
    def deprecate_selected(self, request, queryset):
        _decide(self, request, queryset, services.deprecate, "version")
