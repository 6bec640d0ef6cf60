"""Statements per single-item ingest over the API (token request: the token lookup is
cached, the middleware skips the session). What the fast path wrote (a new row, a repeat's
UPDATE ... RETURNING) is not read back. Inside the test's transaction every atomic block
is a SAVEPOINT/RELEASE pair; in production the outer one is BEGIN/COMMIT, two fewer."""

import pytest

from exceptions.models import BusinessException
from tests.factories import IntegrationFactory

pytestmark = pytest.mark.django_db

BODY = {"integration": "erp-posting", "error_code": "TAX_CODE_MISMATCH", "message": "Tax code V7 unknown",
        "severity": "high", "business_keys": {"invoice_number": "INV-1"}, "amount_at_risk": "10.00", "currency": "GBP"}


def test_new_and_repeated_single_items(api_as, django_assert_max_num_queries):
    client = api_as("service")
    IntegrationFactory(slug="erp-posting")
    client.post("/api/v1/exceptions/ingest/", {**BODY, "business_keys": {"invoice_number": "WARM"}}, format="json")
    # integration, rules, default queues, open/resolved lookup, catch-all queue, the row,
    # its audit row, plus 2 savepoints
    with django_assert_max_num_queries(11):
        created = client.post("/api/v1/exceptions/ingest/", BODY, format="json")
    assert created.status_code == 201 and created.json()["occurrences"] == 1
    # integration, rules, default queues, lookup, UPDATE ... RETURNING, plus 2 savepoints
    with django_assert_max_num_queries(9):
        repeat = client.post("/api/v1/exceptions/ingest/", BODY, format="json")
    result = repeat.json()
    assert repeat.status_code == 200 and result["outcome"] == "deduplicated" and result["occurrences"] == 2
    assert BusinessException.objects.get(pk=result["id"]).occurrences == 2
