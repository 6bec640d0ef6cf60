"""Admin: read-mostly views of stewardship objects; state changes go through services."""

from django.contrib import admin, messages

from controlplane.errors import DomainError

from . import services
from .models import (
    FindingAcceptance,
    Review,
    SchemaSubject,
    SchemaVersion,
    SorAssignment,
    StewardshipSettings,
)


@admin.register(StewardshipSettings)
class StewardshipSettingsAdmin(admin.ModelAdmin):
    list_display = ["__str__", "default_level", "default_policy", "updated_at"]

    def has_add_permission(self, request):
        return not StewardshipSettings.objects.exists()


@admin.register(SorAssignment)
class SorAssignmentAdmin(admin.ModelAdmin):
    list_display = ["entity", "scope_type", "scope_value", "attribute_group", "system", "status", "proposed_by", "decided_by"]
    list_filter = ["status", "scope_type"]
    search_fields = ["entity__name", "system__name", "scope_value"]
    list_select_related = ["entity", "system", "proposed_by", "decided_by"]
    readonly_fields = ["status", "proposed_by", "decided_by", "decided_at", "created_at"]
    actions = ["approve_selected", "reject_selected"]

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        created = services.propose_sor(
            actor=request.user, entity=obj.entity, system=obj.system, scope_type=obj.scope_type,
            scope_value=obj.scope_value, attribute_group=obj.attribute_group, steward=obj.steward,
            effective_from=obj.effective_from, effective_to=obj.effective_to, comments=obj.comments,
        )
        obj.pk = created.pk

    def _decide(self, request, queryset, func):
        for assignment in queryset:
            try:
                func(actor=request.user, assignment=assignment)
            except DomainError as exc:
                self.message_user(request, f"{assignment}: {exc.message}", messages.ERROR)

    @admin.action(description="Approve selected proposals", permissions=["change"])
    def approve_selected(self, request, queryset):
        self._decide(request, queryset, services.approve_sor)

    @admin.action(description="Reject selected proposals", permissions=["change"])
    def reject_selected(self, request, queryset):
        self._decide(request, queryset, services.reject_sor)


class ReviewInline(admin.TabularInline):
    model = Review
    extra = 0
    can_delete = False
    readonly_fields = ["reviewer", "decision", "comment", "round", "created_at"]

    def has_add_permission(self, request, obj=None):
        return False


class AcceptanceInline(admin.TabularInline):
    model = FindingAcceptance
    extra = 0
    can_delete = False
    readonly_fields = ["finding_type", "path", "steward", "justification", "created_at"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(SchemaSubject)
class SchemaSubjectAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "entity", "api", "format", "compatibility_level", "policy"]
    list_filter = ["format", "compatibility_level", "policy"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    list_select_related = ["entity", "api"]


@admin.register(SchemaVersion)
class SchemaVersionAdmin(admin.ModelAdmin):
    list_display = ["__str__", "subject", "number", "status", "author", "submitted_at", "approved_at"]
    list_filter = ["status", "subject"]
    list_select_related = ["subject", "author"]
    readonly_fields = ["number", "status", "author", "round", "submitted_at", "approved_at", "deprecated_at",
                       "validity_errors", "compat_report", "compared_with", "level", "policy", "required_approvals"]
    inlines = [ReviewInline, AcceptanceInline]
    actions = ["deprecate_selected"]

    @admin.action(description="Deprecate selected approved versions", permissions=["change"])
    def deprecate_selected(self, request, queryset):
        for version in queryset:
            try:
                services.deprecate(actor=request.user, version=version)
            except DomainError as exc:
                self.message_user(request, f"{version}: {exc.message}", messages.ERROR)
