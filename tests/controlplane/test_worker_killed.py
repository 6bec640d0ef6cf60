"""A worker killed between a task's side effect and its bookkeeping: the re-run (the
redelivered message, the next beat tick, or a duplicate delivery) leaves the same rows as a
clean single run. The kill is simulated by a BaseException raised at the worst moment, which
unwinds like a dead process does: the open transaction rolls back and its locks go away.
scripts/chaos/worker_kill.py does the same with a real SIGKILL."""

import datetime as dt
import uuid

import pytest
from django.utils import timezone

from controlplane.models import AuditEntry
from exceptions.models import ReplayAttempt
from exceptions.replay import perform_attempt
from health.models import ProbeResult
from health.sweep import claim_due, run_probes, store, sweep
from kpis.models import KpiSnapshot
from tests.concurrency import race
from tests.exceptions.factories import BusinessExceptionFactory, ReplayTargetFactory
from tests.exceptions.test_replay import ReplayServer
from tests.health.factories import ProbeFactory
from tests.hostile_server import HostileServer


class WorkerKilled(BaseException):
    """Not an Exception: nothing in the code under test may catch it."""


@pytest.fixture
def target(settings):
    settings.OUTBOUND_URL_ALLOWLIST = ["127.0.0.0/8"]
    server = HostileServer().start()
    yield server
    server.stop()


@pytest.fixture
def replay_server(settings):
    settings.OUTBOUND_URL_ALLOWLIST = ["127.0.0.0/8"]
    settings.EXCEPTIONS_REPLAY_BACKOFF_SECONDS = 0
    server = ReplayServer()
    yield server
    server.close()


# --- probe sweep -----------------------------------------------------------------------


@pytest.mark.django_db
def test_sweep_killed_before_storing_reruns_the_same_runs_once(target, settings):
    probes = [ProbeFactory(url=target.url("/ok")) for _ in range(3)]
    owner, claimed = claim_due()
    run_probes(claimed)  # the HTTP side effect happened ... and the worker died here
    assert ProbeResult.objects.count() == 0
    assert sweep()["probes"] == 0  # the lease keeps a second worker off meanwhile
    later = timezone.now() + dt.timedelta(seconds=settings.HEALTH_LEASE_SECONDS + 1)
    assert sweep(now=later)["probes"] == 3  # lease expired: the same scheduled runs again
    assert ProbeResult.objects.count() == 3
    assert sorted(ProbeResult.objects.values_list("probe_id", flat=True)) == sorted(p.pk for p in probes)
    assert sweep()["probes"] == 0  # a redelivered tick finds nothing due: next run is a minute away
    assert ProbeResult.objects.count() == 3


@pytest.mark.django_db
def test_sweep_killed_after_storing_leaves_statuses_that_the_reconcile_task_repairs(target, monkeypatch):
    from health import services
    from health.choices import Status
    from health.models import Flip, HealthConfig
    from health.tasks import reconcile_statuses

    probe = ProbeFactory(url=target.url("/reset"))
    HealthConfig.objects.filter(integration=probe.integration).update(failure_threshold=1)

    def killed(*args, **kwargs):
        raise WorkerKilled

    monkeypatch.setattr(services, "refresh_statuses", killed)
    with pytest.raises(WorkerKilled):
        sweep()  # results stored, probe marked down ... and the worker died before statuses
    monkeypatch.undo()
    config = HealthConfig.objects.get(integration=probe.integration)
    assert ProbeResult.objects.count() == 1 and config.status == Status.UNKNOWN  # stale
    assert sweep()["probes"] == 0  # nothing due: the next sweep would not notice

    reconcile_statuses()

    config.refresh_from_db()
    assert config.status == Status.DOWN
    assert Flip.objects.filter(integration=probe.integration, to_status=Status.DOWN).count() == 1


@pytest.mark.django_db
def test_sweep_that_wakes_after_its_lease_was_taken_over_adds_nothing(target, settings):
    ProbeFactory.create_batch(2, url=target.url("/ok"))
    owner, claimed = claim_due()
    outcomes = run_probes(claimed)  # worker A stalls here (GC pause, frozen VM) past its lease
    later = timezone.now() + dt.timedelta(seconds=settings.HEALTH_LEASE_SECONDS + 1)
    assert sweep(now=later)["probes"] == 2  # worker B takes over
    store(claimed, outcomes, owner=owner)  # A wakes and stores its (same) runs
    assert ProbeResult.objects.count() == 2


# --- replay ------------------------------------------------------------------------------


def _exception_with_target(server):
    exc = BusinessExceptionFactory()
    ReplayTargetFactory(integration=exc.integration, url=server.url, secret="s", max_attempts=3)
    return exc


@pytest.mark.django_db
def test_replay_killed_after_the_post_records_one_attempt_and_resends_the_same_key(replay_server, monkeypatch):
    exc = _exception_with_target(replay_server)
    replay_id = str(uuid.uuid4())
    real_save = ReplayAttempt.save

    def die_once(self, *args, **kwargs):
        if self.finished_at is not None:  # the bookkeeping after the POST
            monkeypatch.setattr(ReplayAttempt, "save", real_save)
            raise WorkerKilled
        return real_save(self, *args, **kwargs)

    monkeypatch.setattr(ReplayAttempt, "save", die_once)
    with pytest.raises(WorkerKilled):
        perform_attempt(exception_id=exc.pk, replay_id=replay_id, attempt=1)
    assert len(replay_server.requests) == 1
    assert not ReplayAttempt.objects.filter(finished_at__isnull=False).exists()
    # redelivered (acks_late + reject_on_worker_lost), and once more by a duplicate delivery
    assert perform_attempt(exception_id=exc.pk, replay_id=replay_id, attempt=1) == "succeeded"
    assert perform_attempt(exception_id=exc.pk, replay_id=replay_id, attempt=1) == "skipped"
    assert ReplayAttempt.objects.filter(replay_id=replay_id).count() == 1
    keys = {r["headers"]["Idempotency-Key"] for r in replay_server.requests}
    assert keys == {f"exc-{exc.pk}-{replay_id}"}  # the target sees one replay, sent twice
    assert len(replay_server.requests) == 2
    exc.refresh_from_db()
    assert exc.status == "resolved"
    assert AuditEntry.objects.filter(action__contains="resolve", object_id=str(exc.pk)).count() == 1


@pytest.mark.postgres
def test_the_same_replay_delivered_twice_at_once_posts_once(require_postgres, transactional_db, replay_server):
    exc = _exception_with_target(replay_server)
    replay_server.delay = 0.5  # the first attempt is still in flight when the duplicate arrives
    replay_id = str(uuid.uuid4())
    outcomes = race([lambda: perform_attempt(exception_id=exc.pk, replay_id=replay_id, attempt=1)] * 2)
    assert sorted(outcomes) == ["skipped", "succeeded"]
    assert len(replay_server.requests) == 1
    assert ReplayAttempt.objects.filter(replay_id=replay_id).count() == 1


# --- KPI refresh --------------------------------------------------------------------------


def _snapshots():
    return sorted(KpiSnapshot.objects.values_list("key", "scope_type", "scope_key", "period", "period_start", "value"))


@pytest.mark.django_db
def test_kpi_refresh_killed_midway_then_rerun_equals_a_clean_run(api_as, monkeypatch, django_capture_on_commit_callbacks):
    from kpis import services
    from kpis.tasks import refresh_dirty

    at = timezone.now() - dt.timedelta(hours=2)
    events = [
        {"event_id": "k-a", "type": "time_approved", "correlation_key": "K1", "occurred_at": at.isoformat()},
        {"event_id": "k-p", "type": "invoice_posted", "correlation_key": "K1",
         "occurred_at": (at + dt.timedelta(minutes=45)).isoformat()},
    ]
    with django_capture_on_commit_callbacks(execute=True):
        assert api_as("service").post("/api/v1/events/", events, format="json").status_code == 200
    services.refresh_dirty()  # the debounced drain the post queued (the windows the events changed)
    days = [at.date()]
    services.mark_dirty(days=days)  # every event KPI of that day, as the killed run below marks
    services.refresh_dirty()  # the clean run
    clean = _snapshots()
    assert clean, "the refresh produced no figures"

    def die(rows, **kwargs):  # after the window's old rows were deleted, before the new ones
        raise WorkerKilled

    services.mark_dirty(days=days)
    monkeypatch.setattr(KpiSnapshot.objects, "bulk_create", die, raising=False)
    with pytest.raises(WorkerKilled):
        services.refresh_dirty()
    monkeypatch.undo()
    assert _snapshots() == clean  # rolled back: the figures never went missing
    refresh_dirty.apply().get()  # redelivered
    services.mark_dirty(days=days)
    refresh_dirty.apply().get()  # and delivered once more
    assert _snapshots() == clean
