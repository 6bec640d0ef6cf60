import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from kpis.models import BusinessEvent, KpiSnapshot, Reconciliation
from tests.factories import EntityFactory, IntegrationFactory, WorkflowFactory

pytestmark = pytest.mark.django_db


def event(n, **extra):
    return {"event_id": f"evt-{n}", "type": "time_approved", "correlation_key": f"K{n}",
            "occurred_at": (timezone.now() - dt.timedelta(hours=1)).isoformat(), **extra}


def test_service_posts_a_batch_with_per_item_results(api_as, django_capture_on_commit_callbacks):
    wf = WorkflowFactory(slug="time-to-invoice-t")
    posted = event("p1", type="invoice_posted", correlation_key="K1",
                   occurred_at=(timezone.now() - dt.timedelta(minutes=30)).isoformat())
    first = event(1, workflow=wf.slug)
    items = [first, posted, {"event_id": "bad", "type": "nope"}, first]
    with django_capture_on_commit_callbacks(execute=True):
        response = api_as("service").post("/api/v1/events/", items, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["created"], body["duplicates"], body["rejected"]) == (2, 1, 1)
    assert [r["status"] for r in body["results"]] == ["created", "created", "rejected", "duplicate"]
    assert "type" in body["results"][2]["errors"]
    assert BusinessEvent.objects.count() == 2
    assert BusinessEvent.objects.get(event_id="evt-1").workflow == wf
    # One debounced drain is waiting in the outbox for the windows the batch touched; when
    # it runs, the day shows half an hour to invoice.
    from controlplane.models import OutboxMessage
    from kpis import tasks

    pending = OutboxMessage.objects.filter(task="kpis.tasks.refresh_dirty", sent_at__isnull=True)
    assert pending.count() == 1 and pending.get().eta is not None
    tasks.refresh_dirty()
    snap = KpiSnapshot.objects.get(key="approved-time-to-invoice", period="day", scope_type="all")
    assert snap.value == pytest.approx(0.5, abs=0.01)


def test_repost_is_idempotent(api_as):
    client = api_as("service")
    body = event(1)
    first = client.post("/api/v1/events/", body, format="json").json()
    assert first["created"] == 1
    again = client.post("/api/v1/events/", body, format="json").json()
    assert (again["created"], again["duplicates"]) == (0, 1)
    assert again["results"][0]["id"] == first["results"][0]["id"]  # the stored event
    assert BusinessEvent.objects.count() == 1


def test_repost_with_a_different_body_is_a_409_naming_the_stored_event(api_as):
    client = api_as("service")
    body = event(1, amount="120.00", currency="GBP")
    stored = client.post("/api/v1/events/", body, format="json").json()["results"][0]["id"]
    changed = client.post("/api/v1/events/", [event(2), {**body, "amount": "99.00"}], format="json")
    assert changed.status_code == 409, changed.content
    error = changed.json()["error"]
    assert error["code"] == "idempotency_conflict"
    assert error["fields"]["id"] == stored and error["fields"]["event"]["amount"] == "120.00"
    assert error["fields"]["items"] == [{"index": 1, "event_id": "evt-1", "id": stored}]
    # All or nothing: the good event of the refused post was not stored, the first body stands.
    assert list(BusinessEvent.objects.values_list("event_id", "amount")) == [("evt-1", Decimal("120.00"))]
    # The same body, with an equivalent amount spelling, is still the stored one.
    assert client.post("/api/v1/events/", {**body, "amount": "120.0"}, format="json").json()["duplicates"] == 1


def test_one_post_carrying_one_event_id_with_two_bodies_is_refused(api_as):
    response = api_as("service").post("/api/v1/events/", [event(1, correlation_key="A"), event(1, correlation_key="B")],
                                      format="json")
    assert response.status_code == 409 and response.json()["error"]["fields"]["items"][0]["index"] == 1
    assert not BusinessEvent.objects.exists()


@pytest.mark.parametrize(
    "payload,fragment",
    [
        ([], "non-empty"),
        ("text", "one event object"),
        ([event(n) for n in range(1001)], "at most 1000"),
    ],
)
def test_envelope_errors(api_as, payload, fragment):
    response = api_as("service").post("/api/v1/events/", payload, format="json")
    assert response.status_code == 400
    assert fragment in response.json()["error"]["message"]
    assert not BusinessEvent.objects.exists()


def test_all_bad_is_400_and_future_or_unknown_refs_rejected(api_as):
    future = event(1, occurred_at=(timezone.now() + dt.timedelta(hours=2)).isoformat())
    unknown = event(2, integration="no-such-integration")
    response = api_as("service").post("/api/v1/events/", [future, unknown], format="json")
    assert response.status_code == 400
    results = response.json()["error"]["fields"]["results"]
    assert "future" in str(results[0]["errors"]) and "Unknown integration" in str(results[1]["errors"])


def test_malformed_json_is_400(api_as):
    response = api_as("service").post("/api/v1/events/", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"


@pytest.mark.parametrize("who,expected", [("service", 200), ("executive", 403), ("finance", 403), ("outsider", 403), (None, 401)])
def test_event_post_permissions(api_as, who, expected):
    assert api_as(who).post("/api/v1/events/", event(9), format="json").status_code == expected


@pytest.mark.parametrize("who,expected", [("executive", 200), ("architect", 200), ("outsider", 403), (None, 401)])
def test_event_list_and_kpi_read_permissions(api_as, who, expected):
    client = api_as(who)
    assert client.get("/api/v1/events/").status_code == expected
    assert client.get("/api/v1/kpis/").status_code == expected
    assert client.get("/api/v1/kpis/approved-time-to-invoice/series/").status_code == expected


def test_reconciliation_upsert(api_as):
    integration, entity = IntegrationFactory(), EntityFactory()
    body = {"integration": integration.slug, "entity": entity.slug, "period_start": "2026-10-01",
            "period_end": "2026-10-07", "source_count": 100, "target_count": 98, "mismatched_count": 2,
            "mismatched_sample": ["A", "B"], "source_amount": "1000.00", "target_amount": "990.00"}
    client = api_as("service")
    assert client.post("/api/v1/reconciliations/", body, format="json").status_code == 201
    body["target_count"] = 100
    again = client.post("/api/v1/reconciliations/", body, format="json")
    assert again.status_code == 200 and again.json()["target_count"] == 100
    assert Reconciliation.objects.count() == 1
    bad = client.post("/api/v1/reconciliations/", {**body, "period_end": "2026-09-01", "integration": "nope"}, format="json")
    assert bad.status_code == 400 and "integration" in bad.json()["error"]["fields"]
    assert api_as("executive").post("/api/v1/reconciliations/", body, format="json").status_code == 403


def test_kpi_list_and_series(api_as):
    today = timezone.now().date()
    yesterday = today - dt.timedelta(days=1)
    KpiSnapshot.objects.create(key="approved-time-to-invoice", scope_type="all", scope_key="", period="day",
                               period_start=yesterday, value="12.5", detail={"p90": 20})
    KpiSnapshot.objects.create(key="approved-time-to-invoice", scope_type="all", scope_key="", period="day",
                               period_start=today, value="99", detail={})
    client = api_as("executive")
    listing = {k["key"]: k for k in client.get("/api/v1/kpis/?period=day").json()}
    atti = listing["approved-time-to-invoice"]
    # The last complete day, the running one beside it "so far"; decimals as strings, never floats.
    assert (atti["period_start"], atti["value"], atti["status"]) == (yesterday.isoformat(), "12.5000", "ok")
    assert atti["so_far"]["period_start"] == today.isoformat() and atti["so_far"]["value"] == "99.0000"
    assert atti["computed_at"]
    series = client.get(f"/api/v1/kpis/approved-time-to-invoice/series/?period=day&from={yesterday}&to={yesterday}").json()
    assert series == [{"period_start": yesterday.isoformat(), "value": "12.5000", "detail": {"p90": 20}}]
    assert client.get("/api/v1/kpis/nope/series/").status_code == 404
    assert client.get("/api/v1/kpis/?period=year").status_code == 400
    assert client.get("/api/v1/kpis/approved-time-to-invoice/series/?from=2026-13-01").status_code == 400


@pytest.mark.parametrize("who,expected", [("executive", 200), ("finance", 200), ("outsider", 403)])
def test_pages_permissions(client_as, who, expected):
    client = client_as(who)
    for url in ["/kpis/", "/kpis/approved-time-to-invoice/", "/kpis/approved-time-to-invoice/export.csv",
                "/kpis/rows/?kpi=approved-time-to-invoice&period=week"]:
        assert client.get(url).status_code == expected, url


def test_anonymous_pages_redirect(client):
    assert client.get("/kpis/").status_code == 302


def test_detail_csv_and_drilldown_contain_rows_behind_number(client_as):
    from kpis import services
    from kpis.choices import Period
    from kpis.periods import window_containing

    now = timezone.now()
    for n, hours in enumerate([3, 9]):
        BusinessEvent.objects.create(event_id=f"s{n}", type="time_approved", correlation_key=f"K{n}",
                                     occurred_at=now - dt.timedelta(hours=hours + 1))
        BusinessEvent.objects.create(event_id=f"e{n}", type="invoice_posted", correlation_key=f"K{n}",
                                     occurred_at=now - dt.timedelta(hours=1))
    BusinessEvent.objects.create(event_id="lonely", type="invoice_posted", correlation_key="NOPE",
                                 occurred_at=now - dt.timedelta(hours=1))
    services.refresh_days([now.date()])
    client = client_as("executive")
    page = client.get("/kpis/approved-time-to-invoice/?period=day")
    assert page.status_code == 200 and b"6.0" in page.content
    window = window_containing(Period.DAY, now.date())
    rows = client.get(f"/kpis/rows/?kpi=approved-time-to-invoice&period=day&start={window.start}")
    assert [e.event_id for e in rows.context["page_obj"]] == ["e1", "e0"]
    csv_body = b"".join(client.get("/kpis/approved-time-to-invoice/export.csv?period=day").streaming_content).decode()
    assert csv_body.splitlines()[0].startswith("period,period_start,value")
    assert f"{window.start},6.0" in csv_body


def test_overview_shows_cards_and_range_errors(client_as):
    response = client_as("executive").get("/kpis/?period=day&from=garbage")
    assert response.status_code == 200
    assert b"Approved time to invoice" in response.content
    assert b"is not a date" in response.content


@pytest.mark.parametrize("query", ["to=0001-01-10", "to=9999-12-31", "from=0001-01-01&to=0001-02-01"])
def test_extreme_dates_are_refused_not_crashing(client_as, api_as, query):
    page = client_as("executive").get(f"/kpis/?period=month&{query}")
    assert page.status_code == 200 and b"outside" in page.content
    assert client_as("executive").get("/kpis/rows/?kpi=exception-backlog&period=month&start=9999-12-31").status_code == 200
    response = api_as("executive").get(f"/api/v1/kpis/approved-time-to-invoice/series/?period=month&{query}")
    assert response.status_code == 400


@pytest.mark.parametrize("occurred_at", ["2026-10-14T10:00:00", "2026-10-14 10:00"])
def test_naive_date_times_are_refused(api_as, occurred_at):
    response = api_as("service").post("/api/v1/events/", event(1, occurred_at=occurred_at), format="json")
    assert response.status_code == 400
    assert "UTC offset" in str(response.json()["error"]["fields"]["results"][0]["errors"]["occurred_at"])
    assert not BusinessEvent.objects.exists()


def test_negative_amounts_only_on_credits_and_amounts_need_a_currency(api_as):
    credit = event(1, type="credit_note_posted", amount="-250.00", currency="GBP")
    debit = event(2, type="invoice_posted", amount="-250.00", currency="GBP")
    bare = event(3, type="invoice_posted", amount="250.00")
    unknown = event(4, type="invoice_posted", amount="250.00", currency="XYZ")
    response = api_as("service").post("/api/v1/events/", [credit, debit, bare, unknown], format="json")
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["created", "rejected", "rejected", "rejected"]
    assert "credit_note_posted" in str(results[1]["errors"]["amount"])
    assert "currency" in results[2]["errors"]
    assert "ISO 4217" in str(results[3]["errors"]["currency"])
    assert BusinessEvent.objects.get().amount == Decimal("-250.00")
