"""Status rules, pausing, the breach hand-off to the exception queue, and the admin."""

import datetime as dt

import pytest
from django.utils import timezone

from health.choices import ProbeState, Status
from health.models import Flip, HealthConfig, Notification, NotificationChannel
from health.services import compute_status, update_config
from tests.factories import IntegrationFactory
from tests.health.factories import ProbeFactory

pytestmark = pytest.mark.django_db


def cfg(**kw):
    return HealthConfig(**{"failure_threshold": 3, "success_threshold": 2, "grace_seconds": 300, **kw})


def test_compute_status_rules():
    now = timezone.now()
    assert compute_status(cfg(), [], now)[0] == Status.UNKNOWN
    assert compute_status(cfg(), [(ProbeState.UP, "")], now)[0] == Status.UP
    assert compute_status(cfg(), [(ProbeState.DOWN, "timeout")], now) == (Status.DOWN, "All 1 probe(s) failing: timeout")
    assert compute_status(cfg(), [(ProbeState.DOWN, "x"), (ProbeState.UP, "")], now)[0] == Status.DEGRADED
    assert compute_status(cfg(paused=True), [(ProbeState.DOWN, "x")], now)[0] == Status.PAUSED
    assert compute_status(cfg(), [(ProbeState.DOWN, "x")], now, in_maintenance=True)[0] == Status.MAINTENANCE
    late = cfg(expected_period_seconds=600, last_success_at=now - dt.timedelta(seconds=901), updated_at=now)
    assert compute_status(late, [(ProbeState.UP, "")], now)[0] == Status.LATE
    assert compute_status(cfg(consecutive_run_failures=3), [], now)[0] == Status.DOWN


def test_pausing_flips_to_paused_without_alerting(architect, django_capture_on_commit_callbacks):
    probe = ProbeFactory()
    integration = probe.integration
    NotificationChannel.objects.create(team=integration.owner_team, name="mail", kind="email", target="ops@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        update_config(integration=integration, actor=architect, paused=True)
    assert HealthConfig.objects.get(integration=integration).status == Status.PAUSED
    assert Flip.objects.get().to_status == Status.PAUSED
    assert not Notification.objects.exists()
    from controlplane.models import AuditEntry

    assert AuditEntry.objects.filter(action="health_config.updated").exists()
    entry = AuditEntry.objects.get(action="health.status_changed")
    config = HealthConfig.objects.get(integration=integration)
    assert (entry.object_id, entry.before, entry.after, entry.note) == (
        str(config.pk), {"status": Status.UNKNOWN}, {"status": Status.PAUSED}, "Paused.")
    assert entry.actor_id is None and entry.actor_repr == "system"


def test_exception_resolution_time_feeds_the_sla():
    from exceptions.models import BusinessException, Queue
    from health.sla import exception_resolution_hours

    integration = IntegrationFactory()
    queue = Queue.objects.create(name="Ops", slug="ops", team=integration.owner_team)
    now = timezone.now()
    for n, hours in enumerate([2, 6]):
        BusinessException.objects.create(
            integration=integration, queue=queue, error_code="E", message="m", fingerprint=f"f{n}", status="resolved",
            first_seen=now - dt.timedelta(hours=hours + 1), resolved_at=now - dt.timedelta(hours=1),
        )
    assert exception_resolution_hours([integration.id], window="24h", now=now) == {integration.id: pytest.approx(4.0)}


@pytest.mark.parametrize("model", ["probe", "maintenancewindow", "notificationchannel", "healthconfig", "flip",
                                   "syncrun", "notification", "slabreach", "proberesult", "rollup"])
def test_admin_changelists(client, superuser, model):
    ProbeFactory()
    client.force_login(superuser)
    assert client.get(f"/admin/health/{model}/").status_code == 200


def test_admin_add_probe_goes_through_the_service(client, superuser, settings):
    settings.OUTBOUND_URL_ALLOWLIST = ["127.0.0.0/8"]
    integration = IntegrationFactory()
    client.force_login(superuser)
    response = client.post("/admin/health/probe/add/", {
        "integration": integration.pk, "name": "p", "url": "http://127.0.0.1:9/x", "method": "GET", "headers": "{}",
        "timeout_ms": 1000, "interval_seconds": 60, "conditions": "[STATUS] == 200", "enabled": "on",
        "secret_header_name": "Authorization", "secret_header_value": "Bearer t0ken",
    })
    assert response.status_code == 302, response.content.decode()[:2000]
    from health.models import Probe

    probe = Probe.objects.get(name="p")
    assert probe.headers["Authorization"].startswith("enc:")
    bad = client.post("/admin/health/probe/add/", {
        "integration": integration.pk, "name": "q", "url": "http://127.0.0.1:9/x", "method": "GET", "headers": "{}",
        "timeout_ms": 1000, "interval_seconds": 60, "conditions": "[STATUS] === 200", "enabled": "on",
    })
    assert bad.status_code == 200 and "Unexpected" in bad.content.decode()
