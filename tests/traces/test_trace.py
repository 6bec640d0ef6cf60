import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from tests.traces import story
from traces import sources as trace_sources

pytestmark = pytest.mark.django_db
KEY = story.KEY


@pytest.fixture
def journey(architect):
    return story.build(architect)


def test_the_trace_shows_every_system_in_time_order_with_amounts(journey, client_as):
    response = client_as("finance").get("/traces/", {"key": KEY})
    assert response.status_code == 200
    t = response.context["trace"]
    exc = journey["exception"]
    assert [(i["kind"], i["title"]) for i in t.items] == [
        ("mismatch", "Named in the Invoice reconciliation mismatches"),  # its period ended the day before
        ("event", "Time approved"), ("event", "Invoice ready"), ("run", "Sync run run-77"),
        ("exception", f"EXC-{exc.pk} TAX_CODE_MISMATCH"), ("replay", f"Replay of EXC-{exc.pk}, attempt 1"),
        ("event", "Invoice posted"),
    ]
    assert [i["at"] for i in t.items] == sorted(i["at"] for i in t.items)
    assert {lane.name for lane in t.lanes} == {"Approved time → NetSuite", "NetSuite → Avalara tax"}
    html = response.content.decode()
    assert "4,200.00 GBP" in html and "5,040.00 USD" in html and "840.00 USD" in html
    assert "Delivered" in html and "12 records processed" in html
    # the event that carries the invoice only in its attributes is on the timeline
    assert "Correlation key PRJ-742" in html


def test_a_restricted_queues_exception_is_left_out_for_non_members(journey, client_as, superuser):
    hidden = journey["hidden"]
    finance_items = client_as("finance").get("/api/v1/traces/", {"key": KEY}).json()["items"]
    assert not any("SALARY_SPLIT" in i["title"] for i in finance_items)
    assert sum(i["kind"] == "exception" for i in finance_items) == 1
    from django.test import Client

    admin = Client()
    admin.force_login(superuser)
    admin_items = admin.get("/api/v1/traces/", {"key": KEY}).json()["items"]
    assert any(i["title"] == f"EXC-{hidden.pk} SALARY_SPLIT" for i in admin_items)


def test_a_key_only_a_restricted_exception_carries_gives_outsiders_nothing(client_as, architect):
    from tests.exceptions.factories import BusinessExceptionFactory, QueueFactory
    from tests.factories import TeamFactory

    queue = QueueFactory(name="Payroll", slug="payroll", team=TeamFactory(name="Payroll team"), restricted=True)
    BusinessExceptionFactory(queue=queue, invoice_number="PAY-881", business_keys={"employee": "PAY-881"})
    client = client_as("finance")
    assert client.get("/api/v1/traces/", {"key": "PAY-881"}).json()["items"] == []
    search = client.get("/search/", {"q": "PAY-881"})
    assert search.status_code == 200 and search.context.get("trace") is None  # no redirect, no "Trace of"


def test_the_json_api_answers_items_with_lane_amount_and_currency(journey, api_as):
    body = api_as("executive").get("/api/v1/traces/", {"key": KEY.lower()}).json()  # keys match upper-cased too
    assert body["key"] == KEY.lower() and body["truncated"] is False
    posted = next(i for i in body["items"] if i["title"] == "Invoice posted")
    assert posted["lane"] == "NetSuite → Avalara tax" and posted["amount"] == "5040.00" and posted["currency"] == "USD"
    assert posted["lane_url"] == journey["tax"].get_absolute_url()
    assert set(body["lanes"]) == {"Approved time → NetSuite", "NetSuite → Avalara tax"}


@pytest.mark.parametrize("who, code", [(None, 403), ("outsider", 403)])
def test_who_may_not_read_a_trace(journey, api_as, client_as, who, code):
    assert api_as(who).get("/api/v1/traces/", {"key": KEY}).status_code in {401, 403}
    page = client_as(who).get("/traces/", {"key": KEY})
    assert page.status_code == (302 if who is None else code)


def test_a_bad_key_is_a_clear_400(api_as, client_as):
    api = api_as("finance").get("/api/v1/traces/", {"key": "x" * 201})
    assert api.status_code == 400 and "key" in api.json()["error"]["fields"]
    assert api_as("finance").get("/api/v1/traces/").status_code == 400
    page = client_as("finance").get("/traces/", {"key": "x" * 201})
    assert page.status_code == 400 and "at most 200 characters" in page.content.decode()


def test_a_role_without_a_sources_permission_does_not_see_its_items(journey, client_as, cast):
    from django.contrib.auth.models import Permission

    finance = cast["finance"]
    finance.groups.first().permissions.remove(Permission.objects.get(codename="view_syncrun"))
    items = client_as("finance").get("/api/v1/traces/", {"key": KEY}).json()["items"]
    assert items and not any(i["kind"] == "run" for i in items)


def test_any_key_name_is_searchable_in_events_runs_and_exceptions(client_as, architect):
    from health import services as health_services
    from kpis.models import BusinessEvent
    from tests.exceptions.factories import BusinessExceptionFactory
    from tests.factories import IntegrationFactory

    integration = IntegrationFactory(name="Workday → Certinia timesheets")
    now = timezone.now()
    BusinessEvent.objects.create(event_id="ts-1", type="time_approved", correlation_key="PRJ-1",
                                 occurred_at=now - dt.timedelta(hours=2), attributes={"timesheet": {"id": "2026-W14/emp 881"}})
    health_services.record_run(integration=integration, actor=architect, status="success", run_key="r-1",
                               business_keys=["2026-W14/emp 881"])
    BusinessExceptionFactory(integration=integration, business_keys={"timesheet_week": "2026-W14/emp 881"},
                             invoice_number="")
    BusinessExceptionFactory(integration=integration, business_keys={"timesheet_week": "2026-W14/emp 882"},
                             invoice_number="")
    items = client_as("finance").get("/api/v1/traces/", {"key": "2026-W14/emp 881"}).json()["items"]
    assert sorted(i["kind"] for i in items) == ["event", "exception", "run"]


def test_header_search_opens_the_trace_or_puts_it_first(journey, client_as):
    from tests.factories import SystemFactory

    client = client_as("finance")
    response = client.get("/search/", {"q": KEY})
    assert response.status_code == 302 and response["Location"] == f"/traces/?key={KEY}"
    SystemFactory(name="Billing INV-2026-1133 sandbox")  # a name matches too: list both, the trace first
    listed = client.get("/search/", {"q": KEY})
    html = listed.content.decode()
    assert listed.status_code == 200 and html.index(f"Trace of {KEY}") < html.index("Billing INV-2026-1133 sandbox")
    assert client.get("/search/", {"q": "INV-0000-0000"}).status_code == 200  # nothing carries it: the results page


def test_other_apps_plug_sources_and_panels_into_the_trace(journey, client_as):
    def spans(key, user):
        return [{"at": timezone.now(), "kind": "span", "lane": "Avalara Tax", "lane_url": "", "title": "POST /tax",
                 "detail": "412 ms", "status": "ok", "amount": None, "currency": "", "url": ""}]

    def stages(key, user, items):
        return {"title": "Stages", "rows": [("Items", f"{len(items)} items before stages")]}

    trace_sources.register_source(spans)
    trace_sources.register_panel("stages", stages, "traces/_panel.html")
    try:
        response = client_as("finance").get("/traces/", {"key": KEY})
        html = response.content.decode()
        assert "POST /tax" in html and "Avalara Tax" in html
        assert "8 items before stages" in html
    finally:
        trace_sources._SOURCES.remove(spans)
        trace_sources._PANELS.pop("stages")


def test_a_source_returning_a_malformed_item_is_caught(client_as, journey):
    def broken(key, user):
        return [{"at": timezone.now(), "kind": "span"}]

    trace_sources.register_source(broken)
    try:
        with pytest.raises(ValueError, match="without"):
            client_as("finance").get("/api/v1/traces/", {"key": KEY})
    finally:
        trace_sources._SOURCES.remove(broken)


def test_runs_report_their_business_keys_through_the_api(api_as):
    from tests.factories import IntegrationFactory

    IntegrationFactory(slug="psa-erp")
    api = api_as("service")
    created = api.post("/api/v1/integrations/psa-erp/runs/", {"status": "success", "run_id": "r-9",
                                                             "business_keys": ["INV-9", "INV-9", "PRJ-1"]}, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["business_keys"] == ["INV-9", "PRJ-1"]
    bad = api.post("/api/v1/integrations/psa-erp/runs/", {"status": "success", "business_keys": ["x" * 201]},
                   format="json")
    assert bad.status_code == 400


@pytest.mark.postgres
def test_postgres_answers_any_key_from_the_gin_indexes(require_postgres, journey):
    """The key lookups use the GIN (jsonb_ops) indexes of migration traces/0002, whatever the key's name."""
    from exceptions.models import BusinessException
    from kpis.models import BusinessEvent

    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        for qs, index in [(BusinessException.objects.filter(business_keys__carries=[KEY]), "traces_exception_keys_gin"),
                          (BusinessEvent.objects.filter(attributes__carries=[KEY]), "traces_event_attributes_gin")]:
            sql, params = qs.query.sql_with_params()
            cursor.execute("EXPLAIN " + sql, params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
            assert index in plan, plan
    assert BusinessEvent.objects.filter(attributes__carries=[KEY]).count() == 1
    assert Decimal("840.00") == BusinessException.objects.get(business_keys__carries=[KEY], queue__restricted=False).amount_at_risk


def test_the_trace_costs_the_same_queries_for_three_items_or_thirty(journey, api_as):
    from django.test.utils import CaptureQueriesContext

    from tests.exceptions.factories import BusinessExceptionFactory

    api = api_as("finance")
    api.get("/api/v1/traces/", {"key": KEY})  # the session and permission caches
    with CaptureQueriesContext(connection) as few:
        assert api.get("/api/v1/traces/", {"key": KEY}).status_code == 200
    for n in range(25):
        BusinessExceptionFactory(integration=journey["tax"], business_keys={"po": KEY}, invoice_number=f"X-{n}")
    with CaptureQueriesContext(connection) as many:
        body = api.get("/api/v1/traces/", {"key": KEY}).json()
    assert sum(i["kind"] == "exception" for i in body["items"]) == 26
    # 12 for the built-in sources, plus the stages panel's and the spans' own lookups.
    assert len(many) == len(few) <= 14, [q["sql"][:120] for q in many.captured_queries]
