"""The transactional outbox: with the broker down, API writes still answer 2xx at once and
the queued work waits in the table; when the broker is back the relay publishes each
message once (two relays at once included) and a real worker runs each task once."""

import datetime as dt
import importlib
import time

import pytest
from django.core import mail
from django.db import connection
from django.utils import timezone

from controlplane import outbox
from controlplane.models import OutboxMessage
from exceptions.models import ReplayAttempt
from kpis.models import KpiSnapshot
from tests.concurrency import race
from tests.exceptions.factories import BusinessExceptionFactory, ReplayTargetFactory
from tests.exceptions.test_replay import ReplayServer
from tests.worker_support import broker_on, database_url, start_worker, stop_worker, wait_for

DEAD_BROKER = "redis://127.0.0.1:1/0"  # nothing listens on port 1: connection refused
BROKER_DB = 9


@pytest.fixture
def live_celery(monkeypatch):
    """Celery as in production (not eager), with the broker URL under the test's control.
    Celery reads CELERY_BROKER_URL from the environment before its own settings."""
    from controlplane.celery import app

    eager = app.conf.task_always_eager
    app.conf.task_always_eager = False

    def point(url):
        monkeypatch.setenv("CELERY_BROKER_URL", url)

    yield point
    app.conf.task_always_eager = eager


def _events(n):
    """Approved time and its invoice: the refresh gives an approved-time-to-invoice figure."""
    at = timezone.now() - dt.timedelta(hours=1)
    return [
        {"event_id": f"outage-{n}-a", "type": "time_approved", "correlation_key": f"K{n}", "occurred_at": at.isoformat()},
        {"event_id": f"outage-{n}-b", "type": "time_approved", "correlation_key": f"L{n}", "occurred_at": at.isoformat()},
        {"event_id": f"outage-{n}-p", "type": "invoice_posted", "correlation_key": f"K{n}",
         "occurred_at": (at + dt.timedelta(minutes=30)).isoformat()},
    ]


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.celery_worker
def test_broker_outage_requests_succeed_then_relay_delivers_each_task_once(
    require_postgres, redis_url, transactional_db, api_as, settings, live_celery
):
    import redis

    settings.OUTBOUND_URL_ALLOWLIST = ["127.0.0.0/8"]
    settings.KPI_REFRESH_DEBOUNCE_SECONDS = 0  # the KPI drain is due at once, like the replay
    server = ReplayServer()
    exc = BusinessExceptionFactory()
    ReplayTargetFactory(integration=exc.integration, url=server.url, secret="s", max_attempts=3)

    # 1. Broker down: both writes answer at once and their work waits in the outbox.
    live_celery(DEAD_BROKER)
    # warm the imports first: the timing is about the broker, not module loading
    importlib.import_module("exceptions.schema_check")
    importlib.import_module("kpis.tasks")
    assert api_as("finance").get(f"/api/v1/exceptions/items/{exc.pk}/").status_code == 200
    started = time.monotonic()
    replay = api_as("finance").post(f"/api/v1/exceptions/items/{exc.pk}/replay/", {"payload": {"fixed": 1}}, format="json")
    replay_s = time.monotonic() - started
    started = time.monotonic()
    events = api_as("service").post("/api/v1/events/", _events(1), format="json")
    events_s = time.monotonic() - started
    assert replay.status_code == 202, replay.content
    assert events.status_code == 200 and events.json()["created"] == 3
    assert replay_s < 2 and events_s < 2, (replay_s, events_s)
    pending = list(OutboxMessage.objects.order_by("id"))
    assert [m.task for m in pending] == ["exceptions.tasks.replay_exception", "kpis.tasks.refresh_dirty"]
    assert all(m.sent_at is None and m.attempts == 1 and "127.0.0.1:1" in m.last_error for m in pending)
    assert outbox.relay(older_than=0) == {"sent": 0, "failed": 2, "pending": 2}

    # 2. Broker back: two relays at once publish each message exactly once.
    broker = broker_on(redis_url, BROKER_DB)
    queue = redis.Redis.from_url(broker)
    queue.flushdb()
    live_celery(broker)
    results = race([lambda: outbox.relay(older_than=0)] * 2)
    assert sorted(r["sent"] for r in results) in ([0, 2], [1, 1])
    assert queue.llen("celery") == 2
    assert not OutboxMessage.objects.filter(sent_at__isnull=True).exists()

    # 3. A real worker runs each once: one replay request, one recorded attempt, KPIs fresh.
    worker = start_worker(broker=broker, database=database_url(connection), name="outbox-e2e")
    try:
        if not wait_for(lambda: ReplayAttempt.objects.filter(succeeded=True).exists() and KpiSnapshot.objects.exists()):
            pytest.fail("the worker did not run the queued tasks; its output:\n" + stop_worker(worker))
        time.sleep(1)  # room for a double to show up
        assert len(server.requests) == 1
        assert ReplayAttempt.objects.count() == 1
        exc.refresh_from_db()
        assert exc.status == "resolved"
        assert queue.llen("celery") == 0
    finally:
        output = stop_worker(worker)
        server.close()
        queue.close()
        connection.close()
    assert "Traceback" not in output, output


@pytest.mark.django_db
def test_message_published_after_commit_only(live_celery, settings, django_capture_on_commit_callbacks):
    live_celery(DEAD_BROKER)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        message = outbox.enqueue("kpis.tasks.refresh_current")
    assert len(callbacks) == 1 and OutboxMessage.objects.get().sent_at is None
    started = time.monotonic()
    callbacks[0]()  # the broker is down: fast, no exception, row still pending
    assert time.monotonic() - started < 2
    message.refresh_from_db()
    assert message.sent_at is None and message.attempts == 1 and message.last_error


@pytest.mark.django_db
def test_delayed_message_waits_in_the_table_until_due(live_celery, django_capture_on_commit_callbacks):
    live_celery(DEAD_BROKER)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        message = outbox.enqueue("kpis.tasks.refresh_current", countdown=60)
    assert callbacks == []  # nothing to publish before it is due
    assert not outbox.pending().filter(pk=message.pk).exists()
    assert outbox.pending(now=timezone.now() + dt.timedelta(seconds=61)).filter(pk=message.pk).exists()


@pytest.mark.django_db
def test_stewardship_notice_delivered_twice_sends_its_emails_once(cast, django_capture_on_commit_callbacks):
    """Emails have no idempotency key: the consumer deduplicates on the outbox row."""
    from stewardship.tasks import notify_consumers

    message = OutboxMessage.objects.create(task="stewardship.tasks.notify_consumers", args=[1, "submitted"])
    with pytest.MonkeyPatch.context() as mp:
        sent = []
        mp.setattr("stewardship.notifications.notify_consumers",
                   lambda **kw: sent.append(kw) or (mail.send_mail("s", "b", None, ["t@example.com"]) and 1))
        first = notify_consumers.apply(args=message.args, task_id=message.task_id).get()
        second = notify_consumers.apply(args=message.args, task_id=message.task_id).get()
    assert (first, second) == (1, 0)
    assert len(mail.outbox) == 1 and len(sent) == 1
    message.refresh_from_db()
    assert message.consumed_at is not None


@pytest.mark.django_db
def test_admin_shows_pending_work_and_relay_now_reports_a_broker_still_down(
    live_celery, superuser, client_as, client, django_capture_on_commit_callbacks
):
    live_celery(DEAD_BROKER)
    with django_capture_on_commit_callbacks(execute=True):
        outbox.enqueue("kpis.tasks.refresh_current")
    message = OutboxMessage.objects.get()
    assert message.sent_at is None and "127.0.0.1:1" in message.last_error

    client.force_login(superuser)
    listing = client.get("/admin/controlplane/outboxmessage/?sent_at__isnull=True")
    assert listing.status_code == 200 and "kpis.tasks.refresh_current" in listing.content.decode()
    response = client.post("/admin/controlplane/outboxmessage/",
                           {"action": "relay_now", "_selected_action": [message.pk]}, follow=True)
    assert "Sent 0, failed 1, still pending 1." in response.content.decode()
    message.refresh_from_db()
    assert message.sent_at is None and message.attempts == 2

    # the outbox is the superuser's: role holders get no access
    assert client_as("architect").get("/admin/controlplane/outboxmessage/").status_code in (302, 403)
