from django.contrib import admin, messages
from django.template.loader import render_to_string

from .audit import readable_changes
from .login_throttle import ThrottledAdminAuthenticationForm
from .models import AuditEntry, OutboxMessage, ServiceToken

admin.site.site_header = "Integration control plane"
admin.site.site_title = "Control plane admin"
admin.site.index_title = "Control board"
# The admin's login page is throttled like the site's (controlplane.login_throttle).
admin.site.login_form = ThrottledAdminAuthenticationForm


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    """The audit log, read-only: nobody edits or deletes history, superusers included."""

    list_display = ("created_at", "actor_repr", "action", "content_type", "object_repr", "what_changed")
    list_filter = ("action", "content_type")
    search_fields = ("actor_repr", "action", "object_repr", "object_id", "request_id")
    date_hierarchy = "created_at"
    list_select_related = ("content_type",)
    readonly_fields = ["what_changed", *[f.name for f in AuditEntry._meta.fields]]

    def get_changelist_instance(self, request):
        changelist = super().get_changelist_instance(request)
        # One formatter for every history view: names and labels, not ids and columns,
        # resolved for the whole page at once (controlplane.audit.readable_changes).
        changelist.result_list = readable_changes(changelist.result_list)
        return changelist

    @admin.display(description="What changed")
    def what_changed(self, obj):
        if not hasattr(obj, "readable"):
            readable_changes([obj])
        return render_to_string("controlplane/_changes.html", {"changes": obj.readable})

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ServiceToken)
class ServiceTokenAdmin(admin.ModelAdmin):
    """Tokens are created with ``manage.py create_service_account``; here they are only
    listed and revoked (the secret itself is never stored)."""

    list_display = ("name", "user", "key_prefix", "created_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("name", "user__username", "key_prefix")
    list_select_related = ("user",)
    readonly_fields = ("user", "name", "key_prefix", "created_at", "last_used_at", "revoked_at")
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Revoke selected tokens")
    def revoke(self, request, queryset):
        from .services import revoke_service_token

        count = 0
        for token in queryset.filter(revoked_at__isnull=True):
            revoke_service_token(token=token, actor=request.user)
            count += 1
        self.message_user(request, f"Revoked {count} token(s).", messages.SUCCESS)


@admin.register(OutboxMessage)
class OutboxMessageAdmin(admin.ModelAdmin):
    """Queued Celery work (the transactional outbox): what is still pending after a broker
    outage and why. Read-only; "Relay now" publishes the due ones at once."""

    list_display = ("id", "task", "created_at", "eta", "sent_at", "attempts", "last_error")
    list_filter = ("task", ("sent_at", admin.EmptyFieldListFilter))
    search_fields = ("task", "last_error")
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in OutboxMessage._meta.fields]
    actions = ["relay_now"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.action(description="Relay pending messages now")
    def relay_now(self, request, queryset):
        from .outbox import relay

        stats = relay(older_than=0)
        level = messages.SUCCESS if not stats["failed"] else messages.WARNING
        self.message_user(request, f"Sent {stats['sent']}, failed {stats['failed']}, still pending {stats['pending']}.", level)
