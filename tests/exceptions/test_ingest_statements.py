"""Statements per single-item ingest over the API on PostgreSQL, counted as production
runs them (no test transaction around the request: ``transaction=True``), with the token
and routing caches warm: the integration lookup, then BEGIN, one statement, COMMIT."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext, override_settings

from controlplane.models import AuditEntry
from exceptions.models import BusinessException, IdempotencyKey
from tests.factories import IntegrationFactory

pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("require_postgres")]

URL = "/api/v1/exceptions/ingest/"
BODY = {"integration": "erp-posting", "error_code": "TAX_CODE_MISMATCH", "message": "Tax code V7 unknown",
        "severity": "high", "business_keys": {"invoice_number": "INV-1"}, "amount_at_risk": "10.00", "currency": "GBP"}
MAX_STATEMENTS = 4  # issue #19


@pytest.fixture
def client(api_as):
    IntegrationFactory(slug="erp-posting")
    client = api_as("service")
    # warm: the token cache, the catch-all queue (made by the first post), the routing cache
    for n in range(2):
        warm = client.post(URL, {**BODY, "business_keys": {"invoice_number": f"WARM-{n}"}}, format="json")
        assert warm.status_code == 201
    return client


def post(client, body, **headers):
    with CaptureQueriesContext(connection) as statements:
        response = client.post(URL, body, format="json", **headers)
    return response, [q["sql"][:90] for q in statements.captured_queries]


@override_settings(SERVICE_TOKEN_CACHE_MS=60_000, EXCEPTIONS_ROUTING_CACHE_MS=60_000)
def test_new_then_deduplicated_item(client):
    created, sql = post(client, BODY)
    assert created.status_code == 201 and created.json()["outcome"] == "created", created.content
    assert len(sql) <= MAX_STATEMENTS, sql
    pk = created.json()["id"]
    assert AuditEntry.objects.filter(action="businessexception.created", object_id=str(pk)).count() == 1

    repeat, sql = post(client, BODY)
    result = repeat.json()
    assert repeat.status_code == 200 and result["outcome"] == "deduplicated" and result["occurrences"] == 2
    assert len(sql) <= MAX_STATEMENTS, sql
    assert BusinessException.objects.get(pk=pk).occurrences == 2


@override_settings(SERVICE_TOKEN_CACHE_MS=60_000, EXCEPTIONS_ROUTING_CACHE_MS=60_000)
def test_idempotent_repeat_and_a_changed_body(client):
    keyed = {**BODY, "business_keys": {"invoice_number": "INV-2"}}
    first, sql = post(client, keyed, HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == 201 and len(sql) <= MAX_STATEMENTS, sql
    pk = first.json()["id"]
    assert IdempotencyKey.objects.get(key="k-1").exception_id == pk

    again, sql = post(client, keyed, HTTP_IDEMPOTENCY_KEY="k-1")
    assert again.status_code == 200 and len(sql) <= MAX_STATEMENTS, sql
    assert again.json() == {"id": pk, "status": "new", "occurrences": 1, "deduplicated": True, "outcome": "idempotent"}

    changed, sql = post(client, {**keyed, "message": "another report"}, HTTP_IDEMPOTENCY_KEY="k-1")
    assert changed.status_code == 409 and changed.json()["error"]["fields"]["id"] == pk
    assert len(sql) <= MAX_STATEMENTS, sql
    assert BusinessException.objects.get(pk=pk).occurrences == 1  # nothing written


@override_settings(SERVICE_TOKEN_CACHE_MS=60_000, EXCEPTIONS_ROUTING_CACHE_MS=60_000)
def test_a_key_repeated_on_another_fingerprint_deduplicates_once(client):
    """A keyed post of an open exception's failure counts it once; its repeat is idempotent."""
    assert client.post(URL, BODY, format="json").status_code == 201
    keyed, _ = post(client, BODY, HTTP_IDEMPOTENCY_KEY="k-2")
    assert keyed.json()["outcome"] == "deduplicated" and keyed.json()["occurrences"] == 2
    again, sql = post(client, BODY, HTTP_IDEMPOTENCY_KEY="k-2")
    assert again.json()["outcome"] == "idempotent" and again.json()["occurrences"] == 2
    assert len(sql) <= MAX_STATEMENTS, sql
