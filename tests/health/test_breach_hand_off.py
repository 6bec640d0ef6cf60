"""The SLA-breach hand-off to the exception queues: queued through the outbox with the
breach, retried when the exception queue fails, and never opening an exception twice."""

import datetime as dt
import logging

import pytest
from django.utils import timezone

from controlplane import outbox
from controlplane.models import AuditEntry, OutboxMessage
from exceptions.choices import Resolution
from exceptions.choices import Status as ExcStatus
from exceptions.models import BusinessException
from health import breaches, tasks
from health.breaches import evaluate_breaches
from health.choices import Granularity
from health.models import Rollup, SlaBreach
from tests.factories import SlaFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def missed():
    """An SLA whose availability target is missed over the last 24 hours (5 of 10 checks)."""
    sla = SlaFactory(availability_target="99.0", p95_latency_ms=None, max_sync_lag_minutes=None, measurement_window="24h")
    now = timezone.now()
    rollup = Rollup.objects.create(integration=sla.integration, granularity=Granularity.HOUR,
                                   period_start=now.replace(minute=0, second=0, microsecond=0), checks=10, checks_ok=5)
    return sla, rollup, now


def fail_first(monkeypatch, times=1):
    """The exception queue raises on its first ``times`` calls, then works."""
    real = breaches.open_system_exception
    calls = {"n": 0}

    def flaky(**kwargs):
        calls["n"] += 1
        if calls["n"] <= times:
            raise RuntimeError("exception queue unavailable")
        return real(**kwargs)

    monkeypatch.setattr(breaches, "open_system_exception", flaky)
    return calls


def test_breach_opens_one_exception_and_recovery_resolves_it(missed, django_capture_on_commit_callbacks):
    sla, rollup, now = missed
    with django_capture_on_commit_callbacks(execute=True):
        evaluate_breaches(now=now)
        evaluate_breaches(now=now)  # still breached: no second breach, no second exception
    exc = BusinessException.objects.get()
    assert exc.fingerprint == f"health:sla:{sla.integration.slug}:availability"
    assert (exc.integration, exc.error_code, exc.severity, exc.occurrences) == (
        sla.integration, "SLA_AVAILABILITY", "high", 1)
    assert exc.queue.team == sla.integration.owner_team
    breach = SlaBreach.objects.get()
    assert breach.handed_off
    assert AuditEntry.objects.filter(action="sla_breach.handed_off", object_id=str(breach.pk)).count() == 1
    Rollup.objects.filter(pk=rollup.pk).update(checks_ok=10)
    with django_capture_on_commit_callbacks(execute=True):
        evaluate_breaches(now=now)
    exc.refresh_from_db()
    assert (exc.status, exc.resolution_code) == (ExcStatus.RESOLVED, Resolution.FIXED_AT_SOURCE)
    assert SlaBreach.objects.get().closed_at is not None


def test_hand_off_is_queued_with_the_breach_in_one_transaction(missed):
    """No commit (no on-commit callbacks run): the outbox row exists with the breach, so a
    crash right after the commit cannot lose the hand-off."""
    _sla, _rollup, now = missed
    evaluate_breaches(now=now)
    breach = SlaBreach.objects.get()
    message = OutboxMessage.objects.get(task="health.tasks.hand_off_breach")
    assert (message.args, message.kwargs, message.sent_at) == ([breach.pk], {"opened": True}, None)
    assert not breach.handed_off and not BusinessException.objects.exists()


def test_failed_hand_off_is_retried_through_the_outbox(missed, monkeypatch, settings, caplog,
                                                        django_capture_on_commit_callbacks):
    settings.HEALTH_HAND_OFF_BACKOFF_SECONDS = 60
    _sla, _rollup, now = missed
    calls = fail_first(monkeypatch)
    before = timezone.now()
    with caplog.at_level(logging.WARNING, logger="health.tasks"), django_capture_on_commit_callbacks(execute=True):
        evaluate_breaches(now=now)
    breach = SlaBreach.objects.get()
    assert calls["n"] == 1 and not breach.handed_off and not BusinessException.objects.exists()
    assert "retrying in 60 s" in caplog.text
    retry = OutboxMessage.objects.get(task="health.tasks.hand_off_breach", sent_at__isnull=True)
    assert retry.kwargs == {"opened": True, "attempt": 2}
    assert 59 <= (retry.eta - before).total_seconds() <= 65
    # Not due yet: the relay leaves it alone.
    outbox.relay(older_than=0)
    assert not SlaBreach.objects.get().handed_off
    # Due: the relay publishes it and the second attempt goes through.
    outbox.relay(older_than=0, now=timezone.now() + dt.timedelta(seconds=120))
    assert calls["n"] == 2
    assert SlaBreach.objects.get().handed_off
    assert BusinessException.objects.get().fingerprint == breach.fingerprint


def test_redelivered_hand_off_opens_nothing_twice(missed, django_capture_on_commit_callbacks):
    _sla, _rollup, now = missed
    with django_capture_on_commit_callbacks(execute=True):
        evaluate_breaches(now=now)
    breach = SlaBreach.objects.get()
    assert tasks.hand_off_breach(breach.pk, True) == "already handed off"
    assert BusinessException.objects.get().occurrences == 1


def test_breach_closed_before_its_hand_off_went_through_opens_nothing(missed, monkeypatch, settings,
                                                                      django_capture_on_commit_callbacks):
    settings.HEALTH_HAND_OFF_BACKOFF_SECONDS = 60
    _sla, rollup, now = missed
    fail_first(monkeypatch)
    with django_capture_on_commit_callbacks(execute=True):
        evaluate_breaches(now=now)
    Rollup.objects.filter(pk=rollup.pk).update(checks_ok=10)
    with django_capture_on_commit_callbacks(execute=True):
        evaluate_breaches(now=now)
    outbox.relay(older_than=0, now=timezone.now() + dt.timedelta(seconds=120))
    assert not BusinessException.objects.exists()
    assert SlaBreach.objects.get().closed_at is not None


def test_gives_up_after_the_last_attempt_and_says_so(missed, monkeypatch, settings, caplog):
    settings.HEALTH_HAND_OFF_MAX_ATTEMPTS = 3
    _sla, _rollup, now = missed
    evaluate_breaches(now=now)
    breach = SlaBreach.objects.get()
    fail_first(monkeypatch, times=10)
    with caplog.at_level(logging.ERROR, logger="health.tasks"):
        assert tasks.hand_off_breach(breach.pk, True, attempt=3) == "gave up"
    assert "gave up after 3 attempts" in caplog.text
    assert not OutboxMessage.objects.filter(kwargs__attempt=4).exists()
    assert tasks.hand_off_delay(1) == settings.HEALTH_HAND_OFF_BACKOFF_SECONDS
    assert tasks.hand_off_delay(30) == 3600


def test_a_hand_off_that_gave_up_is_queued_again_by_the_next_sweep_once_the_queue_is_back(
        missed, monkeypatch, settings, django_capture_on_commit_callbacks):
    """Giving up used to leave the breach out of the exception queues for good."""
    settings.HEALTH_HAND_OFF_MAX_ATTEMPTS = 1
    _sla, _rollup, now = missed
    fail_first(monkeypatch, times=1)
    with django_capture_on_commit_callbacks(execute=True):
        evaluate_breaches(now=now)  # opens the breach; its one hand-off attempt fails and gives up
    breach = SlaBreach.objects.get()
    assert not breach.handed_off and not BusinessException.objects.exists()
    # Within the hour the sweep leaves it alone (the chain could still be retrying) ...
    with django_capture_on_commit_callbacks(execute=True):
        evaluate_breaches(now=now + dt.timedelta(minutes=30))
    assert not BusinessException.objects.exists()
    # ... after it, the queue is back and the sweep hands the breach off, once.
    OutboxMessage.objects.update(created_at=now - dt.timedelta(hours=2))
    with django_capture_on_commit_callbacks(execute=True):
        evaluate_breaches(now=now + dt.timedelta(hours=2))
        evaluate_breaches(now=now + dt.timedelta(hours=2, minutes=1))
    assert SlaBreach.objects.get().handed_off
    assert BusinessException.objects.filter(fingerprint=breach.fingerprint).count() == 1


def test_the_breach_exception_says_what_was_missed_in_words_and_units(missed, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        evaluate_breaches(now=missed[2])
    assert BusinessException.objects.get().message == (
        "SLA missed: Availability was 50.00% over the last 24 hours (target 99%).")


@pytest.mark.parametrize("metric,value,target,said", [
    ("freshness", 158_520, 108_000, "Data was up to 44.0 h old over the last 30 days (freshness target 30 h)"),
    ("exception_resolution", 48.98, 48, "Exceptions took 49.0 h to resolve over the last 30 days (target 48 h)"),
    ("p95_latency", 1250.4, 800, "p95 latency was 1,250 ms over the last 30 days (target 800 ms)"),
])
def test_each_metric_reads_in_its_unit(metric, value, target, said):
    breach = SlaBreach(metric=metric, value=value, target=target, window="30d")
    assert breaches._message(breach) == f"SLA missed: {said}."
