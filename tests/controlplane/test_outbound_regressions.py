"""Regressions of the outbound stack found in the trust-boundary review (issue #12): a
webhook reached loopback because the guard and the HTTP client read a full-width host
differently; a hostile redirect must end as one failed delivery (with its error kind), not
stop the retry task or the replay bookkeeping."""

import datetime as dt

import pytest

from health.choices import DeliveryStatus
from health.models import Notification, NotificationChannel
from health.notify import deliver
from tests.factories import TeamFactory
from tests.hostile_server import ConnectionCounter

pytestmark = pytest.mark.django_db


@pytest.fixture
def counter():
    server = ConnectionCounter()
    yield server
    server.close()


def test_webhook_to_full_width_loopback_never_connects(counter, settings):
    """``http://１２７.０.０.１:PORT/`` (full-width digits): the guard took it for a host
    name, while the HTTP client mapped it to 127.0.0.1 and connected to loopback."""
    settings.OUTBOUND_URL_ALLOWLIST = []
    channel = NotificationChannel.objects.create(
        team=TeamFactory(), name="hook", kind="webhook", target=f"http://１２７.０.０.１:{counter.port}/hook")
    note = Notification.objects.create(channel=channel, subject="s", payload={}, next_attempt_at=None)
    Notification.objects.filter(pk=note.pk).update(next_attempt_at=note.created_at)
    deliver(note.pk)
    note.refresh_from_db()
    assert note.status == DeliveryStatus.RETRYING and note.last_error.startswith("denied"), note.last_error
    assert (counter.connections, counter.bytes) == (0, 0)


@pytest.fixture(scope="module")
def hostile():
    from tests.hostile_server import HostileServer

    server = HostileServer().start()
    yield server
    server.stop()


def test_hostile_redirect_fails_its_delivery_and_the_retry_task_goes_on(hostile, counter, settings):
    """A webhook target answering a redirect whose Location (and another header) hold raw
    non-UTF-8 bytes: that delivery fails with ``bad_response``; the retry task still
    delivers the next one."""
    from django.utils import timezone

    from health.tasks import retry_notifications

    settings.OUTBOUND_URL_ALLOWLIST = ["127.0.0.1"]
    settings.HEALTH_NOTIFY_MAX_ATTEMPTS = 1
    team = TeamFactory()
    now = timezone.now()
    notes = []
    for offset, target in ((2, hostile.url("/redirect-binary")), (1, f"http://127.0.0.1:{counter.port}/hook")):
        channel = NotificationChannel.objects.create(team=team, name=f"hook-{offset}", kind="webhook", target=target)
        notes.append(Notification.objects.create(channel=channel, subject="s", payload={},
                                                 next_attempt_at=now - dt.timedelta(minutes=offset)))
    retry_notifications()
    hostile_note, next_note = (Notification.objects.get(pk=n.pk) for n in notes)
    assert hostile_note.status == DeliveryStatus.FAILED
    assert hostile_note.last_error.startswith("bad_response: redirect Location is not a valid URL")
    assert next_note.status == DeliveryStatus.SENT and counter.connections == 1


def test_hostile_redirect_is_a_recorded_replay_attempt_with_its_kind(hostile, settings):
    from exceptions.models import ReplayAttempt
    from exceptions.replay import perform_attempt
    from tests.exceptions.factories import BusinessExceptionFactory, ReplayTargetFactory

    settings.OUTBOUND_URL_ALLOWLIST = ["127.0.0.1"]
    exc = BusinessExceptionFactory()
    ReplayTargetFactory(integration=exc.integration, url=hostile.url("/redirect-binary"))
    result = perform_attempt(exception_id=exc.pk, replay_id="5b7f2a6e-0000-4000-8000-0000000000aa", attempt=1)
    attempt = ReplayAttempt.objects.get(exception=exc, attempt=1)
    # The retry is reserved with the failure (sent once per intent), not yet sent.
    assert ReplayAttempt.objects.get(exception=exc, attempt=2).finished_at is None
    assert result == "retry" and not attempt.succeeded and attempt.status_code is None
    assert attempt.error.startswith("bad_response: redirect Location is not a valid URL")
    exc.refresh_from_db()
    assert exc.is_open
