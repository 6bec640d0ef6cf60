"""Maintenance windows: when they are active, no alerts during them, excluded from SLA figures."""

import datetime as dt

import pytest
from django.utils import timezone

from health.choices import Granularity, Recurrence, Status
from health.maintenance import parse_cron, window_active
from health.models import Flip, HealthConfig, MaintenanceWindow, Notification, NotificationChannel, Rollup, SyncRun
from health.rollups import rollup_hour
from health.services import save_maintenance_window
from health.sweep import sweep
from tests.health.factories import ProbeFactory

UTC = dt.UTC


def at(*args):
    return dt.datetime(*args, tzinfo=UTC)


def test_one_off_window():
    w = MaintenanceWindow(recurrence=Recurrence.ONCE, starts_at=at(2026, 1, 1, 10), ends_at=at(2026, 1, 1, 12))
    assert not window_active(w, at(2026, 1, 1, 9, 59))
    assert window_active(w, at(2026, 1, 1, 10))
    assert not window_active(w, at(2026, 1, 1, 12))


def test_weekly_window_crossing_midnight():
    # Saturday 23:00 for 3 hours (ISO 6 = Saturday); 2026-01-03 is a Saturday
    w = MaintenanceWindow(recurrence=Recurrence.WEEKLY, weekdays="6", start_time=dt.time(23, 0), duration_minutes=180)
    assert window_active(w, at(2026, 1, 3, 23, 30))
    assert window_active(w, at(2026, 1, 4, 1, 59))
    assert not window_active(w, at(2026, 1, 4, 2, 0))
    assert not window_active(w, at(2026, 1, 10 - 0, 22, 59))


def test_cron_window():
    # 02:00 on weekdays for 30 minutes
    w = MaintenanceWindow(recurrence=Recurrence.CRON, cron="0 2 * * 1-5", duration_minutes=30)
    assert window_active(w, at(2026, 1, 5, 2, 29))  # Monday
    assert not window_active(w, at(2026, 1, 5, 2, 30))
    assert not window_active(w, at(2026, 1, 4, 2, 10))  # Sunday
    assert parse_cron("*/15 0-6 1,15 * 0")[0] == {0, 15, 30, 45}


@pytest.mark.django_db
def test_invalid_windows_are_refused_with_field_errors(architect):
    from controlplane.errors import ValidationFailed

    with pytest.raises(ValidationFailed) as exc:
        save_maintenance_window(actor=architect, name="x", recurrence=Recurrence.CRON, cron="61 * * * *")
    assert "cron" in exc.value.fields
    with pytest.raises(ValidationFailed) as exc:
        save_maintenance_window(actor=architect, name="x", recurrence=Recurrence.ONCE, starts_at=at(2026, 1, 2),
                                ends_at=at(2026, 1, 1))
    assert "ends_at" in exc.value.fields


@pytest.mark.django_db(transaction=True)
def test_failures_during_maintenance_alert_nobody_and_do_not_count(loopback, allow_loopback, architect):
    probe = ProbeFactory(url=loopback.url + "/status/500")
    HealthConfig.objects.filter(integration=probe.integration).update(failure_threshold=1)
    NotificationChannel.objects.create(team=probe.integration.owner_team, name="mail", kind="email", target="ops@example.com")
    now = timezone.now()
    save_maintenance_window(actor=architect, name="Upgrade", integration=probe.integration, recurrence=Recurrence.ONCE,
                            starts_at=now - dt.timedelta(minutes=5), ends_at=now + dt.timedelta(minutes=30))
    config = HealthConfig.objects.get(integration=probe.integration)
    assert config.status == Status.MAINTENANCE
    sweep()
    config.refresh_from_db()
    assert config.status == Status.MAINTENANCE
    assert not Notification.objects.exists()
    rollup_hour(now)
    rollup = Rollup.objects.get(integration=probe.integration, granularity=Granularity.HOUR)
    assert rollup.checks == 0 and rollup.checks_maintenance == 1
    # the window ends: the failing probe now shows, and alerts
    MaintenanceWindow.objects.update(ends_at=now - dt.timedelta(seconds=1))
    from health.services import refresh_time_based

    refresh_time_based()
    config.refresh_from_db()
    assert config.status == Status.DOWN
    assert list(Flip.objects.order_by("pk").values_list("to_status", flat=True)) == ["maintenance", "down"]
    assert Notification.objects.count() == 1


@pytest.mark.django_db
def test_a_run_counts_in_maintenance_by_the_window_at_its_finish_not_by_the_status(architect):
    """A nightly job scheduled at the moment the ERP patching window opens fails in its first
    minute, before the minute sweep has moved the status: it is in maintenance (not an SLA
    failure). A run just after the window closed, while the status still says maintenance,
    counts. Runs and heartbeats alike."""
    from health.services import config_for, heartbeat, record_run
    from tests.factories import IntegrationFactory

    integration = IntegrationFactory()
    config = config_for(integration)
    now = timezone.now()
    window = MaintenanceWindow.objects.create(name="ERP patching", integration=integration, recurrence=Recurrence.ONCE,
                                              starts_at=now - dt.timedelta(seconds=30), ends_at=now + dt.timedelta(hours=2))
    HealthConfig.objects.filter(pk=config.pk).update(status=Status.UP)  # the sweep has not run yet
    run, _ = record_run(integration=integration, actor=None, status="failed", run_key="nightly-1")
    assert run.in_maintenance
    ping = heartbeat(token=config.heartbeat_token, failed=True)
    assert ping.in_maintenance
    earlier, _ = record_run(integration=integration, actor=None, status="failed", run_key="before-window",
                            finished_at=now - dt.timedelta(minutes=5))
    assert not earlier.in_maintenance  # it finished before the window opened

    window.ends_at = now - dt.timedelta(seconds=1)
    window.save()
    HealthConfig.objects.filter(pk=config.pk).update(status=Status.MAINTENANCE)  # the sweep has not run yet
    after, _ = record_run(integration=integration, actor=None, status="failed", run_key="nightly-2")
    assert not after.in_maintenance
    assert not heartbeat(token=config.heartbeat_token, failed=True).in_maintenance
    stored = dict(SyncRun.objects.filter(integration=integration, source="api").values_list("run_key", "in_maintenance"))
    assert stored == {"nightly-1": True, "before-window": False, "nightly-2": False}
