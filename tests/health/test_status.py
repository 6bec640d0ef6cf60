"""Status rules, pausing, the breach hand-off to the exception queue, and the admin."""

import datetime as dt
import sys
import types

import pytest
from django.utils import timezone

from health.choices import ProbeState, Status
from health.models import Flip, HealthConfig, Notification, NotificationChannel, SlaBreach
from health.services import compute_status, update_config
from tests.factories import IntegrationFactory, SlaFactory
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
    assert AuditEntry.objects.filter(action="health.status_changed").exists()


def test_breach_is_handed_to_the_exception_queue_when_it_exists(monkeypatch):
    calls = []
    fake = types.ModuleType("exceptions.services")
    fake.open_system_exception = lambda **kw: calls.append(("open", kw["fingerprint"], kw["severity"], kw["error_code"]))
    fake.auto_resolve = lambda **kw: calls.append(("resolve", kw["fingerprint"]))
    monkeypatch.setitem(sys.modules, "exceptions.services", fake)
    from health.breaches import evaluate_breaches
    from health.choices import Granularity
    from health.models import Rollup

    sla = SlaFactory(availability_target="99.0", p95_latency_ms=None, max_sync_lag_minutes=None, measurement_window="24h")
    now = timezone.now()
    rollup = Rollup.objects.create(integration=sla.integration, granularity=Granularity.HOUR,
                                   period_start=now.replace(minute=0, second=0, microsecond=0), checks=10, checks_ok=5)
    evaluate_breaches(now=now)
    evaluate_breaches(now=now)
    fingerprint = f"health:sla:{sla.integration.slug}:availability"
    assert calls == [("open", fingerprint, "high", "sla_availability")]
    assert SlaBreach.objects.get().handed_off
    Rollup.objects.filter(pk=rollup.pk).update(checks_ok=10)
    evaluate_breaches(now=now)
    assert calls[-1] == ("resolve", fingerprint)


def test_hand_off_without_exception_queue_is_a_no_op(monkeypatch):
    from health.breaches import hand_off

    monkeypatch.setitem(sys.modules, "exceptions.services", None)  # import raises ImportError
    breach = SlaBreach(integration=IntegrationFactory(), metric="availability", value=90.0, target=99.0,
                       opened_at=timezone.now(), fingerprint="x")
    assert hand_off(breach, opened=True) is False


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
