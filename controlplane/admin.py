"""The admin control board. One rule for every app's admin (DESIGN.md, "One write path"):
a model's admin either writes through the app's service functions (``save_model``,
``delete_model``, ``delete_queryset``, ``save_formset`` and actions call them) or shows the
model read-only. The classes below are the read-only forms; tests/test_admin_write_path.py
checks every registered admin against the rule."""

from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.template.loader import render_to_string

from .audit import readable_changes
from .errors import DomainError
from .login_throttle import ThrottledAdminAuthenticationForm
from .models import AuditEntry, OutboxMessage, ServiceToken
from .outbox import relay
from .services import revoke_service_token, set_token_scope

admin.site.site_header = "Integration control plane"
admin.site.site_title = "Control plane admin"
admin.site.index_title = "Control board"
# The admin's login page is throttled like the site's (controlplane.login_throttle).
admin.site.login_form = ThrottledAdminAuthenticationForm


class ServiceErrorsAsMessages:
    """For admins whose saves call services: a refusal is an error message next to the
    form, not a 500. The admin's transaction was rolled back, so nothing of it was kept."""

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except DomainError as exc:
            self.message_user(request, f"Not saved: {exc.message}", level=messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())


class NoWrites:
    """No add, change or delete right, superusers included."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyAdmin(NoWrites, admin.ModelAdmin):
    """Listed and shown, never written from admin: no service writes this model here."""


class ActionsOnlyAdmin(ReadOnlyAdmin):
    """Read-only objects whose list offers actions that call services. The change right is
    granted to the list alone (Django asks with ``obj=None`` for actions), never to an
    object's form, so nothing is saved around the services."""

    def has_change_permission(self, request, obj=None):
        return obj is None and admin.ModelAdmin.has_change_permission(self, request)


class ReadOnlyInline(NoWrites, admin.TabularInline):
    """Rows shown under their parent, never added, changed or deleted from admin."""

    extra = 0
    can_delete = False


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
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


@admin.register(ServiceToken)
class ServiceTokenAdmin(ServiceErrorsAsMessages, admin.ModelAdmin):
    """Tokens are created with ``manage.py create_service_account``; here they are
    listed, revoked, and given their scope (what they speak for) through
    ``services.set_token_scope`` (the secret itself is never stored)."""

    list_display = ("name", "user", "key_prefix", "all_integrations", "read_metrics", "created_at", "last_used_at",
                    "revoked_at")
    list_filter = ("revoked_at", "all_integrations", "read_metrics")
    search_fields = ("name", "user__username", "key_prefix")
    list_select_related = ("user",)
    readonly_fields = ("user", "name", "key_prefix", "created_at", "last_used_at", "revoked_at")
    fields = (*readonly_fields, "all_integrations", "read_metrics", "integrations", "systems")
    filter_horizontal = ("integrations", "systems")
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # revoke instead: a deleted token would erase who called what

    def save_model(self, request, obj, form, change):
        pass  # the scope is written in save_related, with the many-to-many values, by the service

    def save_related(self, request, form, formsets, change):
        data = form.cleaned_data
        set_token_scope(token=form.instance, actor=request.user, integrations=data.get("integrations") or (),
                        systems=data.get("systems") or (), all_integrations=data.get("all_integrations", False),
                        read_metrics=data.get("read_metrics", False))

    @admin.action(description="Revoke selected tokens", permissions=["change"])
    def revoke(self, request, queryset):
        count = 0
        for token in queryset.filter(revoked_at__isnull=True):
            revoke_service_token(token=token, actor=request.user)
            count += 1
        self.message_user(request, f"Revoked {count} token(s).", messages.SUCCESS)


@admin.register(OutboxMessage)
class OutboxMessageAdmin(ActionsOnlyAdmin):
    """Queued Celery work (the transactional outbox): what is still pending after a broker
    outage and why. Read-only; "Relay now" publishes the due ones at once."""

    list_display = ("id", "task", "created_at", "eta", "sent_at", "attempts", "last_error")
    list_filter = ("task", ("sent_at", admin.EmptyFieldListFilter))
    search_fields = ("task", "last_error")
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in OutboxMessage._meta.fields]
    actions = ["relay_now"]

    @admin.action(description="Relay pending messages now", permissions=["change"])
    def relay_now(self, request, queryset):
        stats = relay(older_than=0)
        level = messages.SUCCESS if not stats["failed"] else messages.WARNING
        self.message_user(request, f"Sent {stats['sent']}, failed {stats['failed']}, still pending {stats['pending']}.", level)
