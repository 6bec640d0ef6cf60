import json
import threading

import pytest
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext

from controlplane.models import AuditEntry
from exceptions.models import BusinessException, IdempotencyKey, Queue
from exceptions.services import resolve
from tests.factories import EntityFactory, IntegrationFactory

URL = "/api/v1/exceptions/ingest/"


def item(integration_obj, **extra):
    data = {"integration": integration_obj.slug, "error_code": "TAX_CODE_MISMATCH", "message": "Tax code V7 unknown",
            "severity": "high", "business_keys": {"invoice_number": "INV-2026-0001", "legal_entity": "UK01"},
            "amount_at_risk": "1250.50", "currency": "gbp", "payload": {"invoice": "INV-2026-0001"}}
    data.update(extra)
    return data


@pytest.fixture
def integration(db):
    return IntegrationFactory()


def test_single_item_creates_routed_exception_with_indexed_keys(api_as, integration):
    resp = api_as("service").post(URL, item(integration), format="json")
    assert resp.status_code == 201, resp.content
    body = resp.json()
    assert body["deduplicated"] is False and body["occurrences"] == 1 and body["status"] == "new"
    exc = BusinessException.objects.get(pk=body["id"])
    assert exc.invoice_number == "INV-2026-0001" and exc.legal_entity == "UK01"
    assert exc.currency == "GBP" and str(exc.amount_at_risk) == "1250.50"
    # nothing routes it: the catch-all queue of the owner team is created
    assert exc.queue.name == "Integration Ops" and exc.queue.team == integration.owner_team
    assert exc.due_at is not None and exc.due_at > exc.first_seen
    assert AuditEntry.objects.filter(action="businessexception.created", object_id=str(exc.pk)).count() == 1


def test_repeat_deduplicates_by_fingerprint(api_as, integration):
    client = api_as("service")
    first = client.post(URL, item(integration), format="json").json()
    second = client.post(URL, item(integration, message="again"), format="json")
    assert second.status_code == 200
    body = second.json()
    assert body["id"] == first["id"] and body["deduplicated"] is True and body["occurrences"] == 2
    assert BusinessException.objects.count() == 1
    other = client.post(URL, item(integration, business_keys={"invoice_number": "INV-2026-0002"}), format="json").json()
    assert other["id"] != first["id"]


def test_explicit_fingerprint_overrides_default(api_as, integration):
    client = api_as("service")
    a = client.post(URL, item(integration, fingerprint="same", business_keys={"invoice_number": "A"}), format="json").json()
    b = client.post(URL, item(integration, fingerprint="same", business_keys={"invoice_number": "B"}), format="json").json()
    assert a["id"] == b["id"] and b["occurrences"] == 2


def test_resolved_fingerprint_reopens_as_regression(api_as, integration, finance):
    client = api_as("service")
    first = client.post(URL, item(integration), format="json").json()
    resolve(exception=first["id"], actor=finance, resolution_code="fixed_at_source")
    again = client.post(URL, item(integration), format="json").json()
    assert again["id"] == first["id"] and again["status"] == "reopened" and again["occurrences"] == 2
    exc = BusinessException.objects.get(pk=first["id"])
    assert exc.regressions == 1 and exc.resolved_at is None
    assert AuditEntry.objects.filter(action="businessexception.regressed", object_id=str(exc.pk)).exists()


def test_a_batch_with_a_regression_reopens_it_and_keeps_the_rest_set_based(api_as, integration, finance):
    """One item whose failure came back (twice in the batch) among new ones: it is reopened
    once and counted twice, the new ones are created, every item's key is kept, and the
    new items still cost a few statements for the whole batch, not a few each."""
    client = api_as("service")
    back = item(integration, business_keys={"invoice_number": "BACK"})
    first = client.post(URL, back, format="json").json()
    resolve(exception=first["id"], actor=finance, resolution_code="fixed_at_source")
    new = [item(integration, business_keys={"invoice_number": f"N-{n}"}, idempotency_key=f"n-{n}") for n in range(8)]
    batch = [new[0], {**back, "idempotency_key": "back-1"}, *new[1:], {**back, "idempotency_key": "back-2"}]
    with CaptureQueriesContext(connection) as queries:
        resp = client.post(URL, batch, format="json")
    assert resp.status_code == 201, resp.content
    results = resp.json()["results"] if isinstance(resp.json(), dict) else resp.json()
    outcomes = [r["outcome"] for r in results]
    assert outcomes == ["created", "regressed", *["created"] * 7, "deduplicated"]
    assert results[1]["id"] == results[-1]["id"] == first["id"]
    exc = BusinessException.objects.get(pk=first["id"])
    assert (exc.status, exc.regressions, exc.occurrences) == ("reopened", 1, 3)
    assert AuditEntry.objects.filter(action="businessexception.regressed", object_id=str(exc.pk)).count() == 1
    assert IdempotencyKey.objects.filter(key__in=["back-1", "back-2", *[f"n-{n}" for n in range(8)]]).count() == 10
    # Item by item this batch took 91 statements; set-based with its two careful items, 28-29.
    assert len(queries.captured_queries) <= 32, len(queries.captured_queries)


def test_idempotency_key_never_creates_twice(api_as, integration):
    client = api_as("service")
    a = client.post(URL, item(integration), format="json", HTTP_IDEMPOTENCY_KEY="k-1").json()
    b = client.post(URL, item(integration), format="json", HTTP_IDEMPOTENCY_KEY="k-1").json()
    assert a["id"] == b["id"]
    # a replayed post is not a new occurrence
    assert b["occurrences"] == 1 and b["deduplicated"] is True
    assert IdempotencyKey.objects.filter(key="k-1").count() == 1


def test_batch_creates_dedups_within_batch_and_returns_per_item(api_as, integration):
    items = [item(integration, business_keys={"invoice_number": f"INV-2026-{i:04d}"}, idempotency_key=f"b-{i}")
             for i in range(20)]
    items.append(item(integration, business_keys={"invoice_number": "INV-2026-0000"}))  # same fp as item 0
    resp = api_as("service").post(URL, items, format="json")
    assert resp.status_code == 201
    results = resp.json()["results"]
    assert len(results) == 21
    assert results[20]["id"] == results[0]["id"] and results[20]["deduplicated"] is True
    assert results[0]["occurrences"] == 2
    assert BusinessException.objects.count() == 20
    # the whole batch again: every key known, nothing new
    again = api_as("service").post(URL, items[:20], format="json").json()["results"]
    assert [r["id"] for r in again] == [r["id"] for r in results[:20]]
    assert BusinessException.objects.count() == 20


def test_batch_is_set_based_not_a_query_storm(api_as, integration):
    client = api_as("service")
    client.post(URL, item(integration, business_keys={"invoice_number": "warm"}), format="json")
    small = [item(integration, business_keys={"invoice_number": f"S-{i}"}) for i in range(5)]
    big = [item(integration, business_keys={"invoice_number": f"B-{i}"}) for i in range(300)]
    with CaptureQueriesContext(connection) as q_small:
        assert client.post(URL, small, format="json").status_code == 201
    with CaptureQueriesContext(connection) as q_big:
        assert client.post(URL, big, format="json").status_code == 201
    # 60x the items, a bounded number of extra queries (SQLite splits big INSERTs into
    # chunks of its variable limit; PostgreSQL does not)
    assert len(q_big.captured_queries) <= len(q_small.captured_queries) + 15


@pytest.mark.parametrize("bad, field", [
    ({"integration": "nope"}, "integration"),
    ({"error_code": ""}, "error_code"),
    ({"severity": "urgent"}, "severity"),
    ({"business_keys": ["x"]}, "business_keys"),
    ({"amount_at_risk": "-3"}, "amount_at_risk"),
    ({"entity": "no-such-entity"}, "entity"),
    ({"amount_at_risk": "5", "currency": ""}, "currency"),      # never convertible for the KPIs
    ({"amount_at_risk": "5", "currency": "XYZ"}, "currency"),   # not ISO 4217
    ({"amount_at_risk": "5", "currency": "XAU"}, "currency"),   # gold is no invoice currency
])
def test_bad_item_rejects_whole_batch_with_per_item_errors(api_as, integration, bad, field):
    items = [item(integration, business_keys={"invoice_number": "ok"}), item(integration, **bad)]
    resp = api_as("service").post(URL, items, format="json")
    assert resp.status_code == 400
    err = resp.json()["error"]
    assert err["code"] == "validation_failed"
    assert err["fields"]["items"][0]["index"] == 1 and field in err["fields"]["items"][0]["errors"]
    assert BusinessException.objects.count() == 0


def test_a_currency_is_taken_in_any_case_and_nothing_at_stake_needs_none(api_as, integration):
    resp = api_as("service").post(URL, [item(integration, amount_at_risk="5", currency="gbp"),
                                        item(integration, error_code="NO_AMOUNT", amount_at_risk=None, currency="")], format="json")
    assert resp.status_code == 201
    assert set(BusinessException.objects.values_list("currency", flat=True)) == {"GBP", ""}


def test_payload_over_limit_rejected(api_as, integration, settings):
    settings.EXCEPTIONS_MAX_PAYLOAD_BYTES = 2048
    resp = api_as("service").post(URL, item(integration, payload={"blob": "x" * 3000}), format="json")
    assert resp.status_code == 400
    assert "payload" in resp.json()["error"]["fields"]["items"][0]["errors"]


def test_malformed_json_and_oversized_batch(api_as, integration, settings):
    client = api_as("service")
    resp = client.post(URL, data="{not json", content_type="application/json")
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "parse_error"
    settings.EXCEPTIONS_MAX_BATCH = 3
    resp = client.post(URL, [item(integration)] * 4, format="json")
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "batch_too_large"
    assert client.post(URL, [], format="json").status_code == 400
    assert BusinessException.objects.count() == 0


def test_entity_and_occurred_at_accepted(api_as, integration):
    entity = EntityFactory(slug="invoice")
    resp = api_as("service").post(URL, item(integration, entity="invoice", occurred_at="2026-01-02T03:04:05Z"), format="json")
    exc = BusinessException.objects.get(pk=resp.json()["id"])
    assert exc.entity == entity and exc.first_seen.year == 2026 and exc.first_seen.month == 1


@pytest.mark.parametrize("who, code", [("service", 201), ("finance", 403), ("executive", 403), ("outsider", 403), (None, 401)])
def test_ingest_permissions(api_as, integration, who, code):
    assert api_as(who).post(URL, item(integration), format="json").status_code == code


def test_auto_resolve_endpoint(api_as, integration):
    client = api_as("service")
    a = client.post(URL, item(integration, correlation_id="corr-1"), format="json").json()
    resp = client.post("/api/v1/exceptions/resolve/", {"correlation_id": "corr-1", "note": "source fixed"}, format="json")
    assert resp.status_code == 200 and resp.json() == {"resolved": 1}
    exc = BusinessException.objects.get(pk=a["id"])
    assert exc.status == "resolved" and exc.resolution_code == "fixed_at_source"
    assert client.post("/api/v1/exceptions/resolve/", {}, format="json").status_code == 400
    assert api_as("finance").post("/api/v1/exceptions/resolve/", {"fingerprint": "x"}, format="json").status_code == 403


def _post_in_thread(token, payload, results, headers=None):
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    try:
        resp = client.post(URL, payload, format="json", **(headers or {}))
        results.append((resp.status_code, resp.json()))
    finally:
        connections.close_all()


@pytest.mark.django_db(transaction=True)
def test_concurrent_duplicate_posts_create_one_exception(require_postgres, cast):
    integration = IntegrationFactory()
    Queue.objects.all()  # noqa: B018
    results = []
    barrier_items = [item(integration, business_keys={"invoice_number": "RACE-1"})]
    threads = [threading.Thread(target=_post_in_thread, args=(cast.token, barrier_items, results)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(code in (200, 201) for code, _ in results), results
    assert BusinessException.objects.count() == 1
    exc = BusinessException.objects.get()
    assert exc.occurrences == 8  # every accepted post counted, none lost


@pytest.mark.django_db(transaction=True)
def test_concurrent_same_idempotency_key_creates_once(require_postgres, cast):
    integration = IntegrationFactory()
    results = []
    batch = [item(integration, business_keys={"invoice_number": f"K-{i}"}) for i in range(50)]
    threads = [threading.Thread(target=_post_in_thread, args=(cast.token, batch, results, {"HTTP_IDEMPOTENCY_KEY": "same"}))
               for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(code in (200, 201) for code, _ in results), results
    assert BusinessException.objects.count() == 50
    assert set(BusinessException.objects.values_list("occurrences", flat=True)) == {1}
    ids = {tuple(r["id"] for r in body["results"]) for _, body in results}
    assert len(ids) == 1
    assert json.dumps(results)  # serialisable results


@pytest.mark.django_db(transaction=True)
def test_concurrent_batches_with_regressions_lose_nothing(require_postgres, cast):
    """Six batches racing over the same resolved, open and new failures, each in its own
    order: every post is accepted (a deadlock between a batch's set-based locks and its
    one-by-one regressions falls back to the careful path), each resolved failure reopens
    once, and every item is counted."""
    from django.contrib.auth import get_user_model

    integration = IntegrationFactory()
    finance = get_user_model().objects.create_user("fin-race")
    keys = [f"R-{n}" for n in range(4)] + [f"O-{n}" for n in range(4)]
    for key in keys:
        _post_in_thread(cast.token, [item(integration, business_keys={"invoice_number": key})], [])
    for exc in BusinessException.objects.filter(invoice_number__startswith="R-"):
        resolve(exception=exc.pk, actor=finance, resolution_code="fixed_at_source")
    results, threads = [], []
    for t in range(6):
        order = keys + [f"N-{t}-{n}" for n in range(3)]
        batch = [item(integration, business_keys={"invoice_number": key}) for key in (order[::-1] if t % 2 else order)]
        threads.append(threading.Thread(target=_post_in_thread, args=(cast.token, batch, results)))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [code for code, _ in results if code not in (200, 201)] == [], results
    reopened = BusinessException.objects.filter(invoice_number__startswith="R-")
    assert reopened.count() == 4 and set(reopened.values_list("regressions", flat=True)) == {1}
    posted = sum(len(body["results"]) for _, body in results)
    assert sum(BusinessException.objects.values_list("occurrences", flat=True)) == posted + len(keys)


def test_batch_rows_and_audit_rows_read_as_a_single_post_would(api_as, integration):
    """The batch path writes rows and audit rows in one statement on PostgreSQL: what a
    reader sees (queue, due date, indexed keys, amount, the 'created' history line) is the
    same as on the one-by-one path, and a repeat inside the batch is counted."""
    long_invoice = "I" * 150
    items = [item(integration, business_keys={"invoice_number": f"INV-B-{i}", "legal_entity": "UK01"})
             for i in range(3)]
    items.append(item(integration, business_keys={"invoice_number": long_invoice}, occurred_at="2026-11-30T10:00:00Z",
                      amount_at_risk="10"))
    items.append(dict(items[0]))  # a repeat of the first within the batch
    resp = api_as("service").post(URL, items, format="json")
    assert resp.status_code == 201, resp.content
    results = resp.json()["results"]
    assert [r["outcome"] for r in results] == ["created"] * 4 + ["deduplicated"]
    first = BusinessException.objects.get(pk=results[0]["id"])
    assert first.occurrences == 2 and results[0]["occurrences"] == 2
    assert first.invoice_number == "INV-B-0" and first.legal_entity == "UK01" and first.currency == "GBP"
    assert first.due_at > first.first_seen and first.queue_id is not None
    late = BusinessException.objects.get(pk=results[3]["id"])
    assert late.invoice_number == long_invoice[:100] and late.business_keys["invoice_number"] == long_invoice
    assert late.first_seen.isoformat() == "2026-11-30T10:00:00+00:00"
    assert str(late.amount_at_risk) == "10.00" and late.payload == {"invoice": "INV-2026-0001"}
    audit = AuditEntry.objects.for_object(late).get()
    assert audit.action == "businessexception.created" and audit.note == "ingested"
    assert audit.actor_repr == "service" and audit.object_repr == f"EXC-{late.pk} TAX_CODE_MISMATCH"
    assert audit.after == {"status": "new", "queue": late.queue_id, "severity": "high", "assignee": None}
