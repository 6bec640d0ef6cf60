"""Poison rows: one bad date-time must not break shared pages for everyone.

``0001-01-01T00:00:00+14:00`` is year 0 in UTC. PostgreSQL stores it ("0001-12-31
10:00:00+00 BC") but no Python datetime can hold it, so before the instant rule one
ingested exception made the list, detail, export, admin and KPI drill-downs answer 500 for
every user, and the row could not be loaded to dismiss it. Needs PostgreSQL: SQLite never
stored the value.
"""

import csv
import io

import pytest
from django.db import connection
from django.test import Client

from exceptions.models import BusinessException, DefaultQueue
from tests.exceptions.factories import BusinessExceptionFactory, QueueFactory
from tests.factories import IntegrationFactory

pytestmark = pytest.mark.postgres

POISON = "0001-01-01T00:00:00+14:00"


@pytest.fixture
def billing(require_postgres, cast):
    queue = QueueFactory(name="Billing")
    integration = IntegrationFactory(slug="psa-to-erp", name="PSA to ERP")
    DefaultQueue.objects.create(integration=integration, queue=queue)
    return integration


@pytest.mark.parametrize("occurred_at", [
    POISON, "0001-01-01T00:00:00Z", "9999-12-31T23:59:59-14:00", "1999-12-31T23:59:59Z",
    "2026-03-01T10:00:00+15:00", "2026-03-01T10:00:00",
])
def test_ingest_refuses_a_date_time_outside_the_window(billing, api_as, occurred_at):
    response = api_as("service").post("/api/v1/exceptions/ingest/", {
        "integration": billing.slug, "error_code": "TAX_CODE_MISMATCH", "message": "Tax code V7 unknown",
        "occurred_at": occurred_at,
    }, format="json")
    assert response.status_code == 400, response.content
    problems = response.json()["error"]["fields"]["items"][0]["errors"]
    assert list(problems) == ["occurred_at"]
    assert not BusinessException.objects.exists()


@pytest.fixture
def poisoned(billing):
    """An exception whose times were stored before the rule existed (written here in SQL,
    the only way left to store them)."""
    exc = BusinessExceptionFactory(integration=billing, queue=DefaultQueue.objects.get().queue,
                                   invoice_number="INV-POISON", amount_at_risk=1200)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE exceptions_businessexception SET first_seen = %s::timestamptz, last_seen = %s::timestamptz, "
            "due_at = %s::timestamptz WHERE id = %s", [POISON, POISON, POISON, exc.pk],
        )
    return exc


def test_a_row_stored_before_the_rule_no_longer_breaks_shared_pages(poisoned, client_as, superuser):
    finance = client_as("finance")
    pages = ["/exceptions/", "/exceptions/list/", f"/exceptions/{poisoned.pk}/", "/exceptions/mine/",
             "/api/v1/exceptions/items/", f"/api/v1/exceptions/items/{poisoned.pk}/",
             "/kpis/rows/?kpi=exception-backlog", "/kpis/exception-backlog/", "/kpis/"]
    for url in pages:
        assert finance.get(url).status_code == 200, url
    assert f"EXC-{poisoned.pk}" in finance.get("/exceptions/list/").content.decode()
    assert finance.get("/api/v1/exceptions/items/").json()["results"][0]["first_seen"].startswith("0001-01-01")

    export = finance.get("/exceptions/export.csv")
    rows = list(csv.reader(io.StringIO(b"".join(export.streaming_content).decode())))
    assert rows[1][0] == f"EXC-{poisoned.pk}" and rows[1][rows[0].index("First seen")].startswith("0001-01-01")

    admin = Client()
    admin.force_login(superuser)
    for url in ["/admin/exceptions/businessexception/", f"/admin/exceptions/businessexception/{poisoned.pk}/change/"]:
        assert admin.get(url).status_code == 200, url


def test_a_row_stored_before_the_rule_can_be_dismissed(poisoned, client_as):
    response = client_as("finance").post(f"/exceptions/{poisoned.pk}/dismiss/",
                                         {"resolution_code": "not_an_error", "note": "bad clock at the source"})
    assert response.status_code == 302
    poisoned.refresh_from_db()
    assert poisoned.status == "dismissed" and poisoned.resolution_code == "not_an_error"
