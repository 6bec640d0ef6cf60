"""Every Django admin page on a domain model either writes through the app's service
functions or is read-only (DESIGN.md, "One write path"). First a structural check over
every registered admin, then what a superuser sees when posting through the admin."""

import pytest
from django.contrib import admin
from django.contrib.admin import ModelAdmin
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from catalog.models import Integration, System
from controlplane.models import AuditEntry, ServiceToken
from exceptions.models import BusinessException, Queue
from health.models import Flip, HealthConfig, NotificationChannel
from kpis.models import BusinessEvent, KpiTarget
from stewardship import services as stewardship_services
from stewardship.models import SchemaVersion
from tests.architecture import APPS
from tests.exceptions.factories import BusinessExceptionFactory
from tests.factories import IntegrationFactory, SystemFactory, TeamFactory
from tests.stewardship.factories import VersionFactory

pytestmark = pytest.mark.django_db

# Hooks a ModelAdmin saves and deletes with; Django's own versions write the row directly.
SAVE_HOOKS = ("save_model",)
DELETE_HOOKS = ("delete_model", "delete_queryset")


def _overrides(admin_class, name, base=ModelAdmin) -> bool:
    return getattr(admin_class, name) is not getattr(base, name)


def admin_write_problems(site, user) -> list[str]:
    """What each admin of the project's models may write without a service: a right a
    superuser has (add, change, delete, list_editable, an editable inline) while the hook
    that does it is Django's own."""
    request = RequestFactory().get("/admin/")
    request.user = user
    problems = []
    for model, model_admin in site._registry.items():
        if model._meta.app_label not in APPS:
            continue
        label = f"{model._meta.label} ({type(model_admin).__name__})"
        obj = model()
        can_add = model_admin.has_add_permission(request)
        can_change = model_admin.has_change_permission(request, obj)
        can_delete = model_admin.has_delete_permission(request, obj)
        if (can_add or can_change) and not _overrides(type(model_admin), "save_model"):
            problems.append(f"{label}: saves with Django's save_model")
        if model_admin.list_editable and model_admin.has_change_permission(request) and not _overrides(
                type(model_admin), "save_model"):
            problems.append(f"{label}: list_editable saves with Django's save_model")
        if can_delete:
            problems += [f"{label}: deletes with Django's {hook}" for hook in DELETE_HOOKS
                         if not _overrides(type(model_admin), hook)]
        for inline_class in model_admin.inlines:
            inline = inline_class(model, site)
            editable = (inline.has_add_permission(request, obj) or inline.has_change_permission(request, obj)
                        or (inline.can_delete and inline.has_delete_permission(request, obj)))
            if editable and not _overrides(type(model_admin), "save_formset"):
                problems.append(f"{label}: inline {inline_class.__name__} saves with Django's save_formset")
    return problems


def test_every_domain_admin_writes_through_services_or_is_read_only(superuser):
    problems = admin_write_problems(admin.site, superuser)
    assert not problems, "\n".join(problems)


def test_the_admin_check_finds_a_default_admin(superuser):
    site = admin.AdminSite(name="probe")

    class PlainInline(admin.TabularInline):
        model = Flip

    class Plain(admin.ModelAdmin):
        inlines = [PlainInline]

    site.register(Integration, Plain)
    problems = admin_write_problems(site, superuser)
    assert "catalog.Integration (Plain): saves with Django's save_model" in problems
    assert "catalog.Integration (Plain): deletes with Django's delete_queryset" in problems
    assert any("inline PlainInline" in p for p in problems)


@pytest.fixture
def admin_client(client, superuser):
    client.force_login(superuser)
    return client


def changelist_action(client, model, action, ids):
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    return client.post(url, {"action": action, "_selected_action": [str(i) for i in ids]}, follow=True)


# --- catalog: through the services ------------------------------------------------------


def system_form(system, **changes):
    data = {"name": system.name, "slug": system.slug, "description": "", "external_ref": "", "metadata": "{}",
            "vendor": "", "product": "", "category": system.category, "deployment": "cloud",
            "lifecycle": system.lifecycle, "owner_team": system.owner_team.pk, "domain": "", "business_owner": "",
            "data_residency": "", "rate_limits": "", "retirement_date": ""}
    return {**data, **changes}


def test_admin_cannot_retire_a_system_in_use(admin_client):
    system = SystemFactory(lifecycle="retiring")
    IntegrationFactory(source_system=system, lifecycle="active")
    url = reverse("admin:catalog_system_change", args=[system.pk])
    response = admin_client.post(url, system_form(system, lifecycle="retired"), follow=True)
    assert "Not saved" in response.content.decode() and "still in use" in response.content.decode()
    assert System.objects.get(pk=system.pk).lifecycle == "retiring"
    assert not AuditEntry.objects.for_object(system).exists()


def test_admin_bulk_delete_goes_through_the_service(admin_client, superuser):
    free, used = SystemFactory(), SystemFactory()
    IntegrationFactory(source_system=used)
    response = changelist_action(admin_client, System, "delete_selected", [free.pk])
    admin_client.post(reverse("admin:catalog_system_changelist"),
                      {"action": "delete_selected", "_selected_action": [free.pk], "post": "yes"})
    assert response.status_code == 200 and not System.objects.filter(pk=free.pk).exists()
    entry = AuditEntry.objects.get(action="system.deleted", object_id=str(free.pk))
    assert entry.actor == superuser


# --- stewardship: approved versions are immutable everywhere -----------------------------


@pytest.fixture
def approved():
    return VersionFactory(status="approved", approved_at=timezone.now(), number=1)


def test_approved_version_is_read_only_in_admin(admin_client, approved):
    url = reverse("admin:stewardship_schemaversion_change", args=[approved.pk])
    page = admin_client.get(url)
    assert page.status_code == 200 and b'name="document"' not in page.content  # shown, not editable
    response = admin_client.post(url, {"subject": approved.subject_id, "document": '{"type": "string"}',
                                       "change_summary": "sneaky"})
    assert response.status_code == 403
    assert admin_client.post(reverse("admin:stewardship_schemaversion_delete", args=[approved.pk]),
                             {"post": "yes"}).status_code == 403
    assert admin_client.get(reverse("admin:stewardship_schemaversion_add")).status_code == 403
    version = SchemaVersion.objects.get(pk=approved.pk)
    assert (version.document, version.status) == (approved.document, "approved")


def test_approved_version_is_immutable_in_the_api_and_the_services(api_as, cast, approved):
    client = api_as("steward")
    url = f"/api/v1/stewardship/versions/{approved.pk}/"
    for method in (client.patch, client.put):
        response = method(url, {"document": {"type": "string"}}, format="json")
        assert response.status_code in (403, 409), response.content
    assert client.delete(url).status_code == 405
    with pytest.raises(Exception) as refused:
        stewardship_services.update_draft(actor=approved.author or cast["steward"], version=approved,
                                          document={"type": "string"})
    assert getattr(refused.value, "status_code", None) in (403, 409)
    assert SchemaVersion.objects.get(pk=approved.pk).document == approved.document


def test_deprecate_action_still_goes_through_the_service(admin_client, approved, superuser):
    changelist_action(admin_client, SchemaVersion, "deprecate_selected", [approved.pk])
    assert SchemaVersion.objects.get(pk=approved.pk).status == "deprecated"
    assert AuditEntry.objects.filter(action="schemaversion.deprecate", object_id=str(approved.pk),
                                     actor=superuser).exists()


def test_stewardship_settings_change_is_audited(admin_client, superuser):
    from stewardship.models import StewardshipSettings

    row = StewardshipSettings.get()
    url = reverse("admin:stewardship_stewardshipsettings_change", args=[row.pk])
    response = admin_client.post(url, {"default_level": "FULL", "default_policy": row.default_policy})
    assert response.status_code == 302, response.content[:500]
    assert StewardshipSettings.get().default_level == "FULL"
    entry = AuditEntry.objects.get(action="stewardship_settings.update")
    assert (entry.actor, entry.after) == (superuser, {"default_level": "FULL"})


# --- exceptions -----------------------------------------------------------------------------


def test_business_exception_cannot_be_edited_or_deleted_in_admin(admin_client):
    exc = BusinessExceptionFactory(severity="low")
    url = reverse("admin:exceptions_businessexception_change", args=[exc.pk])
    assert admin_client.get(url).status_code == 200
    assert admin_client.post(url, {"severity": "critical"}).status_code == 403
    changelist_action(admin_client, BusinessException, "delete_selected", [exc.pk])
    admin_client.post(reverse("admin:exceptions_businessexception_changelist"),
                      {"action": "delete_selected", "_selected_action": [exc.pk], "post": "yes"})
    assert BusinessException.objects.get(pk=exc.pk).severity == "low"


def test_queue_change_in_admin_is_the_service_change(admin_client, superuser):
    queue = Queue.objects.create(name="Billing", slug="billing", team=TeamFactory())
    url = reverse("admin:exceptions_queue_change", args=[queue.pk])
    data = {"name": "Billing ops", "slug": "billing", "description": "", "team": queue.team_id,
            "target_hours_critical": 4, "target_hours_high": 8, "target_hours_medium": 24, "target_hours_low": 72}
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.content[:1500]
    assert Queue.objects.get(pk=queue.pk).name == "Billing ops"
    entry = AuditEntry.objects.get(action="queue.changed", object_id=str(queue.pk))
    assert entry.actor == superuser
    assert admin_client.post(reverse("admin:exceptions_queue_delete", args=[queue.pk]),
                             {"post": "yes"}).status_code == 403


def test_replay_target_saved_through_the_service_keeps_the_secret_out_of_the_log(admin_client):
    integration = IntegrationFactory()
    response = admin_client.post(reverse("admin:exceptions_replaytarget_add"), {
        "integration": integration.pk, "url": "https://erp.example.com/replay", "secret": "s3cret-value",
        "enabled": "on", "max_attempts": 3})
    assert response.status_code == 302, response.content[:1500]
    entry = AuditEntry.objects.get(action="replaytarget.created")
    assert "s3cret-value" not in str(entry.after) and entry.after["secret"] == "changed"


# --- health, kpis, controlplane ---------------------------------------------------------------


def test_health_admin_writes_through_services_or_refuses(admin_client, superuser):
    integration = IntegrationFactory()
    assert admin_client.get(reverse("admin:health_healthconfig_add")).status_code == 403
    channel = NotificationChannel.objects.create(team=integration.owner_team, name="mail", kind="email",
                                                 target="ops@example.com")
    admin_client.post(reverse("admin:health_notificationchannel_delete", args=[channel.pk]), {"post": "yes"})
    assert not NotificationChannel.objects.filter(pk=channel.pk).exists()
    assert AuditEntry.objects.filter(action="channel.deleted", object_id=str(channel.pk), actor=superuser).exists()
    flip = Flip.objects.create(integration=integration, from_status="up", to_status="down", at=timezone.now())
    assert admin_client.post(reverse("admin:health_flip_delete", args=[flip.pk]), {"post": "yes"}).status_code == 403
    assert Flip.objects.filter(pk=flip.pk).exists()
    config = HealthConfig.objects.create(integration=integration)
    assert admin_client.post(reverse("admin:health_healthconfig_delete", args=[config.pk]),
                             {"post": "yes"}).status_code == 403


def test_channel_delete_in_the_api_is_audited(api_as, cast):
    team = TeamFactory()
    channel = NotificationChannel.objects.create(team=team, name="mail", kind="email", target="ops@example.com")
    client = api_as(None)
    client.force_login(cast["architect"])
    response = client.delete(f"/api/v1/health/channels/{channel.pk}/")
    assert response.status_code == 204, response.content
    assert AuditEntry.objects.filter(action="channel.deleted", object_id=str(channel.pk),
                                     actor=cast["architect"]).exists()


def test_kpi_and_token_admins(admin_client, superuser, cast):
    assert admin_client.get(reverse("admin:kpis_businessevent_add")).status_code == 403
    response = admin_client.post(reverse("admin:kpis_kpitarget_add"),
                                 {"key": "approved-time-to-invoice", "target": "5", "tolerance_pct": "10"})
    assert response.status_code == 302, response.content[:1500]
    target = KpiTarget.objects.get(key="approved-time-to-invoice")
    assert admin_client.post(reverse("admin:kpis_kpitarget_delete", args=[target.pk]),
                             {"post": "yes"}).status_code == 403
    assert not BusinessEvent.objects.exists()
    token = ServiceToken.objects.get(user=cast["service"])
    assert admin_client.post(reverse("admin:controlplane_servicetoken_delete", args=[token.pk]),
                             {"post": "yes"}).status_code == 403
    changelist_action(admin_client, ServiceToken, "revoke", [token.pk])
    assert ServiceToken.objects.get(pk=token.pk).revoked_at is not None
