"""Statements per single business event over the API on PostgreSQL, counted as production
runs them (no test transaction around the request) with the token cache warm: the
integration lookup, then BEGIN, one statement, COMMIT. What the statement does besides
storing the event (closing invoices, dirty windows, one drain) is checked here too."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext, override_settings
from django.utils import timezone

from controlplane.models import OutboxMessage
from kpis.models import BusinessEvent, KpiDirtyWindow
from kpis.services import DRAIN_TASK
from tests.factories import IntegrationFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("require_postgres")]

URL = "/api/v1/events/"
MAX_STATEMENTS = 4  # issue #19


READY_AT = timezone.now() - dt.timedelta(hours=2)


def event(event_id, **extra):
    return {"event_id": event_id, "type": "invoice_ready", "correlation_key": "INV-9", "integration": "erp-events",
            "occurred_at": READY_AT.isoformat(), "amount": "120.00",
            "currency": "EUR", **extra}


def post(client, body):
    with CaptureQueriesContext(connection) as statements:
        response = client.post(URL, body, format="json")
    return response, [q["sql"][:90] for q in statements.captured_queries]


@override_settings(SERVICE_TOKEN_CACHE_MS=60_000)
def test_new_duplicate_and_changed_event(api_as):
    IntegrationFactory(slug="erp-events")
    client = api_as("service")
    assert client.post(URL, event("warm", correlation_key="W"), format="json").status_code == 200
    OutboxMessage.objects.all().delete()
    KpiDirtyWindow.objects.all().delete()

    ready, sql = post(client, event("e-ready"))
    assert ready.status_code == 200 and ready.json()["created"] == 1, ready.content
    assert len(sql) <= MAX_STATEMENTS, sql
    stored = BusinessEvent.objects.get(event_id="e-ready")
    assert ready.json()["results"][0]["id"] == stored.pk and stored.closed_at is None
    assert KpiDirtyWindow.objects.exists()
    assert OutboxMessage.objects.filter(task=DRAIN_TASK, sent_at__isnull=True).count() == 1

    posted_at = timezone.now() - dt.timedelta(hours=1)
    posted, sql = post(client, event("e-posted", type="invoice_posted", occurred_at=posted_at.isoformat()))
    assert posted.json()["created"] == 1 and len(sql) <= MAX_STATEMENTS, sql
    assert BusinessEvent.objects.get(event_id="e-ready").closed_at == posted_at  # closed by its posting
    assert OutboxMessage.objects.filter(task=DRAIN_TASK, sent_at__isnull=True).count() == 1  # still one drain

    late, _ = post(client, event("e-ready-late", occurred_at=(posted_at - dt.timedelta(minutes=5)).isoformat()))
    assert late.json()["created"] == 1
    assert BusinessEvent.objects.get(event_id="e-ready-late").closed_at == posted_at  # arrived after its posting

    again, sql = post(client, event("e-ready"))
    assert again.status_code == 200 and (again.json()["created"], again.json()["duplicates"]) == (0, 1)
    assert again.json()["results"][0]["id"] == stored.pk and len(sql) <= MAX_STATEMENTS, sql

    changed, sql = post(client, event("e-ready", amount="130.00"))
    assert changed.status_code == 409 and changed.json()["error"]["fields"]["id"] == stored.pk
    assert changed.json()["error"]["fields"]["event"]["amount"] == "120.00"
    assert BusinessEvent.objects.filter(event_id="e-ready").count() == 1


@override_settings(SERVICE_TOKEN_CACHE_MS=60_000)
def test_a_start_arriving_after_its_end_marks_the_end_s_windows_in_the_same_statement(api_as):
    IntegrationFactory(slug="erp-events")
    client = api_as("service")
    ended = timezone.now() - dt.timedelta(days=2)
    started = ended - dt.timedelta(days=5)
    assert client.post(URL, event("t-posted", type="invoice_posted", correlation_key="TS-1",
                                  occurred_at=ended.isoformat()), format="json").status_code == 200
    KpiDirtyWindow.objects.all().delete()
    approved, sql = post(client, event("t-approved", type="time_approved", correlation_key="TS-1",
                                       occurred_at=started.isoformat()))
    assert approved.json()["created"] == 1 and len(sql) <= MAX_STATEMENTS, sql
    dirty = set(KpiDirtyWindow.objects.values_list("key", "period", "period_start"))
    assert ("approved-time-to-invoice", "day", ended.date()) in dirty  # the invoice's day, not only the start's
    assert ("approved-time-to-invoice", "day", started.date()) in dirty
    assert not {k for k, _, _ in dirty} & {"invoice-ready-backlog", "milestone-to-invoice"}
