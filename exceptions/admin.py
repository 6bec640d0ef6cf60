"""Admin for the exception queues: configuration saved through the services; the
exceptions themselves, their comments and replay attempts are read-only here (they are
worked on the queue pages and the API, where each move has its rules and audit row)."""

from django.contrib import admin
from django.db import models

from controlplane.admin import ActionsOnlyAdmin, ReadOnlyAdmin, ReadOnlyInline, ServiceErrorsAsMessages

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


class ConfigAdmin(ServiceErrorsAsMessages, admin.ModelAdmin):
    """Saves through ``save_<thing>(actor=, data=, <thing>=)``; no delete unless a
    service deletes."""

    save_service = None
    instance_kwarg = ""
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        existing = type(obj).objects.get(pk=obj.pk) if change else None
        saved = type(self).save_service(actor=request.user, data=dict(form.cleaned_data),
                                        **{self.instance_kwarg: existing})
        obj.pk = saved.pk


@admin.register(Queue)
class QueueAdmin(ConfigAdmin):
    list_display = ["name", "team", "target_hours_critical", "target_hours_high", "target_hours_medium", "target_hours_low",
                    "raise_severity_when_overdue", "restricted"]
    list_filter = ["restricted"]
    prepopulated_fields = {"slug": ["name"]}
    save_service, instance_kwarg = services.save_queue, "queue"

    def save_model(self, request, obj, form, change):
        """Through the service: the restricted-queue rule (team leads or superusers), its
        audit row and the team's notice apply here too."""
        from .services import save_queue

        data = {name: form.cleaned_data[name] for name in QUEUE_FIELDS if name in form.cleaned_data}
        saved = save_queue(actor=request.user, data=data, queue=Queue.objects.get(pk=obj.pk) if change else None)
        obj.pk = saved.pk


@admin.register(RoutingRule)
class RoutingRuleAdmin(ConfigAdmin):
    list_display = ["position", "name", "enabled", "integration", "entity", "error_code", "severity", "business_key",
                    "business_value", "queue", "assignee"]
    list_editable = ["enabled"]
    list_select_related = ["integration", "entity", "queue", "assignee"]
    save_service, instance_kwarg = services.save_routing_rule, "rule"

    def has_delete_permission(self, request, obj=None):
        return admin.ModelAdmin.has_delete_permission(self, request, obj)

    def delete_model(self, request, obj):
        services.delete_routing_rule(actor=request.user, rule=obj)

    def delete_queryset(self, request, queryset):
        for rule in queryset:
            services.delete_routing_rule(actor=request.user, rule=rule)


@admin.register(DefaultQueue)
class DefaultQueueAdmin(ConfigAdmin):
    list_display = ["integration", "queue"]
    save_service, instance_kwarg = services.save_default_queue, "default"


@admin.register(ReplayTarget)
class ReplayTargetAdmin(ConfigAdmin):
    list_display = ["integration", "url", "enabled", "max_attempts"]
    save_service, instance_kwarg = services.save_replay_target, "target"


class ReplayAttemptInline(ReadOnlyInline):
    model = ReplayAttempt
    readonly_fields = ["replay_id", "attempt", "started_at", "status_code", "succeeded", "error", "response_excerpt"]
    fields = readonly_fields


class CommentInline(ReadOnlyInline):
    model = Comment
    readonly_fields = ["author", "body", "created_at"]
    fields = readonly_fields


@admin.register(BusinessException)
class BusinessExceptionAdmin(ActionsOnlyAdmin):
    list_display = ["id", "error_code", "status", "severity", "queue", "integration", "assignee", "occurrences", "last_seen"]
    list_filter = ["status", "severity", "queue"]
    search_fields = ["=invoice_number", "=project_code", "=correlation_id", "=fingerprint"]
    list_select_related = ["queue", "integration", "assignee"]
    raw_id_fields = ["integration", "entity", "assignee"]
    show_full_result_count = False
    inlines = [CommentInline, ReplayAttemptInline]
    actions = ["mark_overdue_now"]

    @admin.action(description="Run the overdue check now", permissions=["change"])
    def mark_overdue_now(self, request, queryset):
        count = services.mark_overdue(actor=request.user)
        self.message_user(request, f"{count} exception(s) newly overdue.")


@admin.register(IdempotencyKey)
class IdempotencyKeyAdmin(ReadOnlyAdmin):
    list_display = ["key", "exception", "created_at"]
    raw_id_fields = ["exception"]
