"""Row locks taken by ingestion stay on the exception rows. ``make load`` deadlocked when
the regression path's FOR UPDATE also locked the shared queue row that every concurrent
insert needs (FOR KEY SHARE) for its foreign key."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from exceptions.services import resolve
from tests.exceptions.test_ingest import URL, item
from tests.factories import IntegrationFactory

pytestmark = pytest.mark.postgres


def _lock_clauses(queries):
    """The FOR UPDATE clause of every locking query that joins another table."""
    return [m.group(0) for q in queries if " JOIN " in q["sql"] for m in re.finditer(r"FOR UPDATE( OF [^ ]+)?", q["sql"])]


def test_regression_locks_only_the_exception_row(require_postgres, api_as, finance):
    integration = IntegrationFactory()
    client = api_as("service")
    first = client.post(URL, item(integration), format="json").json()
    resolve(exception=first["id"], actor=finance, resolution_code="fixed_at_source")
    with CaptureQueriesContext(connection) as ctx:
        again = client.post(URL, item(integration), format="json")
    assert again.json()["outcome"] == "regressed"
    clauses = _lock_clauses(ctx.captured_queries)
    assert clauses, "the regression path should lock the exception it reopens (joined with its queue)"
    assert all(c == 'FOR UPDATE OF "exceptions_businessexception"' for c in clauses), clauses


def test_batch_repeats_lock_rows_in_id_order(require_postgres, api_as):
    integration = IntegrationFactory()
    client = api_as("service")
    keys = [{"invoice_number": f"INV-{i}"} for i in range(3)]
    ids = [client.post(URL, item(integration, business_keys=k), format="json").json()["id"] for k in keys]
    with CaptureQueriesContext(connection) as ctx:
        resp = client.post(URL, [item(integration, business_keys=k) for k in reversed(keys)], format="json")
    assert [r["outcome"] for r in resp.json()["results"]] == ["deduplicated"] * 3
    lock = [q["sql"] for q in ctx.captured_queries if "ORDER BY id FOR UPDATE" in q["sql"]]
    id_array = "{" + ",".join(map(str, sorted(ids))) + "}"
    assert len(lock) == 1 and id_array in lock[0], lock
