from django.contrib import admin

from . import services
from .models import (
    BusinessException,
    Comment,
    DefaultQueue,
    IdempotencyKey,
    Queue,
    ReplayAttempt,
    ReplayTarget,
    RoutingRule,
)
from .services import QUEUE_FIELDS


@admin.register(Queue)
class QueueAdmin(admin.ModelAdmin):
    list_display = ["name", "team", "target_hours_critical", "target_hours_high", "target_hours_medium", "target_hours_low",
                    "raise_severity_when_overdue", "restricted"]
    list_filter = ["restricted"]
    prepopulated_fields = {"slug": ["name"]}

    def save_model(self, request, obj, form, change):
        """Through the service: the restricted-queue rule (team leads or superusers), its
        audit row and the team's notice apply here too."""
        from .services import save_queue

        data = {name: form.cleaned_data[name] for name in QUEUE_FIELDS if name in form.cleaned_data}
        saved = save_queue(actor=request.user, data=data, queue=Queue.objects.get(pk=obj.pk) if change else None)
        obj.pk = saved.pk


@admin.register(RoutingRule)
class RoutingRuleAdmin(admin.ModelAdmin):
    list_display = ["position", "name", "enabled", "integration", "entity", "error_code", "severity", "business_key",
                    "business_value", "queue", "assignee"]
    list_editable = ["enabled"]
    list_select_related = ["integration", "entity", "queue", "assignee"]


@admin.register(DefaultQueue)
class DefaultQueueAdmin(admin.ModelAdmin):
    list_display = ["integration", "queue"]


@admin.register(ReplayTarget)
class ReplayTargetAdmin(admin.ModelAdmin):
    list_display = ["integration", "url", "enabled", "max_attempts"]


class ReplayAttemptInline(admin.TabularInline):
    model = ReplayAttempt
    extra = 0
    can_delete = False
    readonly_fields = ["replay_id", "attempt", "started_at", "status_code", "succeeded", "error", "response_excerpt"]
    fields = readonly_fields


class CommentInline(admin.TabularInline):
    model = Comment
    extra = 0
    readonly_fields = ["author", "body", "created_at"]
    fields = readonly_fields


@admin.register(BusinessException)
class BusinessExceptionAdmin(admin.ModelAdmin):
    list_display = ["id", "error_code", "status", "severity", "queue", "integration", "assignee", "occurrences", "last_seen"]
    list_filter = ["status", "severity", "queue"]
    search_fields = ["=invoice_number", "=project_code", "=correlation_id", "=fingerprint"]
    list_select_related = ["queue", "integration", "assignee"]
    raw_id_fields = ["integration", "entity", "assignee"]
    show_full_result_count = False
    inlines = [CommentInline, ReplayAttemptInline]
    readonly_fields = ["status", "fingerprint", "occurrences", "regressions", "first_seen", "last_seen", "resolved_at",
                       "resolution_code", "resolution_note", "is_overdue"]
    actions = ["mark_overdue_now"]

    @admin.action(description="Run the overdue check now")
    def mark_overdue_now(self, request, queryset):
        count = services.mark_overdue(actor=request.user)
        self.message_user(request, f"{count} exception(s) newly overdue.")


@admin.register(IdempotencyKey)
class IdempotencyKeyAdmin(admin.ModelAdmin):
    list_display = ["key", "exception", "created_at"]
    raw_id_fields = ["exception"]
