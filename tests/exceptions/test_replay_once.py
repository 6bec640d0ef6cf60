"""Replay is sent once per intent: a request while a replay is in flight joins it (same
replay id, so the same Idempotency-Key); concurrent requests and duplicate bulk ids
deliver once; idempotency races on PostgreSQL store one row and answer 409 to a changed
body."""

import pytest
from rest_framework.test import APIClient

from controlplane import roles
from controlplane.errors import Conflict
from controlplane.models import OutboxMessage
from controlplane.services import create_service_account
from exceptions import services
from exceptions.models import BusinessException, ReplayAttempt
from exceptions.replay import perform_attempt
from tests.concurrency import race
from tests.factories import IntegrationFactory

from .factories import BusinessExceptionFactory, ReplayTargetFactory

REPLAY_TASK = "exceptions.tasks.replay_exception"


@pytest.fixture
def exc(server, db):
    item = BusinessExceptionFactory()
    ReplayTargetFactory(integration=item.integration, url=server.url, max_attempts=3)
    return item


def _queued():
    return [m for m in OutboxMessage.objects.order_by("id") if m.task == REPLAY_TASK]


def _run_queued():
    """Run every queued replay task as a worker would (each message once)."""
    return [perform_attempt(exception_id=m.args[0], replay_id=m.args[1], attempt=m.args[2], requested_by_id=m.args[3])
            for m in _queued()]


@pytest.mark.django_db
def test_a_second_request_while_in_flight_joins_the_first(exc, finance, server):
    first = services.request_replay(exception=exc, actor=finance)
    again = services.request_replay(exception=exc, actor=finance)
    same_payload = services.request_replay(exception=exc, actor=finance, payload=exc.payload)
    assert first == again == same_payload
    assert len(_queued()) == 1 and ReplayAttempt.objects.filter(exception=exc).count() == 1
    from exceptions.selectors import timeline

    assert "Replay attempt 1: queued, not sent yet" in [e["title"] for e in timeline(exc)]
    with pytest.raises(Conflict, match="still in flight"):
        services.request_replay(exception=exc, actor=finance, payload={"other": "payload"})
    assert _run_queued() == ["succeeded"]
    assert len(server.requests) == 1 and server.requests[0]["headers"]["Idempotency-Key"] == f"exc-{exc.pk}-{first}"


@pytest.mark.django_db
def test_a_retry_keeps_the_replay_in_flight_with_the_same_key(exc, finance, server):
    server.responses = [(503, b"busy", {}), (200, b"ok", {})]
    first = services.request_replay(exception=exc, actor=finance)
    assert _run_queued() == ["retry"]
    # Between attempts the replay is still in flight: a new click joins it.
    assert services.request_replay(exception=exc, actor=finance) == first
    message = _queued()[-1]
    assert perform_attempt(exception_id=exc.pk, replay_id=message.args[1], attempt=2) == "succeeded"
    assert {r["headers"]["Idempotency-Key"] for r in server.requests} == {f"exc-{exc.pk}-{first}"}
    assert len(server.requests) == 2


@pytest.mark.django_db
def test_after_the_outcome_a_new_request_is_a_new_replay(exc, finance, server):
    server.responses = [(400, b"bad", {})]
    first = services.request_replay(exception=exc, actor=finance)
    assert _run_queued() == ["failed"]
    second = services.request_replay(exception=exc, actor=finance)
    assert second != first


@pytest.mark.django_db
def test_closed_before_the_attempt_runs_releases_the_replay(exc, finance, server):
    first = services.request_replay(exception=exc, actor=finance)
    services.resolve(exception=exc, actor=finance, resolution_code="fixed_at_source")
    assert _run_queued() == ["skipped"] and server.requests == []
    services.reopen(exception=exc, actor=finance)
    assert services.request_replay(exception=exc, actor=finance) != first


@pytest.mark.django_db
def test_duplicate_ids_in_a_bulk_replay_deliver_once(exc, finance, server):
    done, failed = services.bulk_apply(ids=[exc.pk, exc.pk, exc.pk], actor=finance, action="replay")
    assert done == [exc.pk] and failed == {}
    assert _run_queued() == ["succeeded"] and len(server.requests) == 1


# --- PostgreSQL races ---------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_concurrent_replays_of_one_exception_deliver_once(require_postgres, cast, server, monkeypatch):
    # Keep the queued task in the outbox (no eager run on commit): the test plays the workers.
    monkeypatch.setattr("controlplane.outbox.publish", lambda pk: None)
    item = BusinessExceptionFactory()
    ReplayTargetFactory(integration=item.integration, url=server.url, max_attempts=3)
    ids = race([lambda: services.request_replay(exception=item.pk, actor=cast["finance"]) for _ in range(6)])
    assert len(set(ids)) == 1, ids
    assert len(_queued()) == 1
    # Even if the broker delivers the one task twice at once, the target hears it once.
    message = _queued()[0]
    outcomes = race([lambda: perform_attempt(exception_id=item.pk, replay_id=message.args[1], attempt=1)
                     for _ in range(3)])
    assert sorted(outcomes) == ["skipped", "skipped", "succeeded"], outcomes
    assert len(server.requests) == 1


def _post(key, body, headers=None):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    response = client.post("/api/v1/exceptions/ingest/", body, format="json", **(headers or {}))
    return response.status_code, response.json()


@pytest.mark.django_db(transaction=True)
def test_concurrent_same_key_different_bodies_store_one_and_409_the_rest(require_postgres, cast):
    integration = IntegrationFactory()
    bodies = [{"integration": integration.slug, "error_code": "TAX", "message": f"version {i}"} for i in range(4)]
    results = race([lambda b=b: _post(cast.token, b, {"HTTP_IDEMPOTENCY_KEY": "same-key"}) for b in bodies])
    codes = sorted(code for code, _ in results)
    assert codes == [201, 409, 409, 409], results
    stored = BusinessException.objects.get()
    assert all(body["error"]["fields"]["id"] == stored.pk for code, body in results if code == 409)


@pytest.mark.django_db(transaction=True)
def test_concurrent_accounts_with_one_key_each_get_their_own(require_postgres, cast):
    integration = IntegrationFactory()
    keys = [create_service_account(name=f"mw-{i}", role=roles.INTEGRATION, all_integrations=True)[1] for i in range(3)]
    body = {"integration": integration.slug, "error_code": "TAX", "message": "m", "fingerprint": "x"}
    results = race([lambda k=k: _post(k, body, {"HTTP_IDEMPOTENCY_KEY": "1"}) for k in keys])
    assert all(code in (200, 201) for code, _ in results), results
    # One open exception per fingerprint: the three accounts' reports are three occurrences of it.
    assert BusinessException.objects.get().occurrences == 3


@pytest.mark.django_db(transaction=True)
def test_concurrent_events_with_one_id_and_two_bodies_store_one(require_postgres, cast):
    from django.utils import timezone

    from kpis.models import BusinessEvent

    when = timezone.now().isoformat()
    client_bodies = [{"event_id": "evt-race", "type": "time_approved", "correlation_key": k, "occurred_at": when}
                     for k in ("A", "B", "A", "B")]

    def post(body):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {cast.token}")
        return client.post("/api/v1/events/", body, format="json").status_code

    codes = race([lambda b=b: post(b) for b in client_bodies])
    assert BusinessEvent.objects.count() == 1
    kept = BusinessEvent.objects.get().correlation_key
    expected = sorted(200 if b["correlation_key"] == kept else 409 for b in client_bodies)
    assert sorted(codes) == expected, codes
