"""Workflow stages and the stuck list on hand-built data with known answers: which items
wait, which are late and why, the same figure as the invoice-ready backlog KPI, the trace
panel's done / late / missing steps, and one notification per newly stuck item."""

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest

from catalog import services
from catalog.models import StuckNotice, WorkflowStage
from catalog.stages import late_items, stages_for_key, trace_url, waiting_items
from controlplane.models import AuditEntry
from exceptions.models import BusinessException, Queue
from health.models import Notification, NotificationChannel, SyncRun
from kpis.choices import EventType, Period, ScopeType
from kpis.definitions import KPIS
from kpis.models import BusinessEvent, FxRate
from kpis.periods import Window
from tests.factories import IntegrationFactory, TeamFactory, WorkflowFactory

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 10, 20, 12, 0, tzinfo=dt.UTC)
AS_OF = "2026-10-20T12:00:00Z"
H = dt.timedelta(hours=1)


def _event(key, type_, at, flow, integration=None, amount=None, currency=""):
    return BusinessEvent.objects.create(
        event_id=f"{type_}-{key}", type=type_, correlation_key=key, occurred_at=at, workflow=flow,
        integration=integration, amount=None if amount is None else Decimal(amount), currency=currency)


@pytest.fixture
def flow():
    """Billing flow: approved -> ready within 72 h -> posted within 48 h.

    TS-1  approved 100 h ago, nothing since            -> late before "Invoice ready" (28 h)
    TS-2  approved 10 h ago                            -> waiting, not late
    INV-3 ready 60 h ago (1000 EUR), not posted        -> late before "Invoice posted" (12 h), open exception
    INV-4 ready 50 h ago (800 GBP), not posted         -> late (2 h), its integration's run failed
    INV-5 ready 20 h ago (50 GBP), not posted          -> waiting
    INV-6 ready 70 h ago, posted 10 h later            -> done on time
    INV-7 ready in another workflow, not posted        -> not this workflow's
    """
    team = TeamFactory(slug="billing-team", name="Billing team")
    wf = WorkflowFactory(slug="billing-flow", name="Billing flow", owner_team=team)
    other = WorkflowFactory(slug="other-flow", name="Other flow")
    psa = IntegrationFactory(slug="psa-erp", name="PSA to ERP", owner_team=team, workflows=[wf])
    tax = IntegrationFactory(slug="erp-tax", name="ERP to tax", owner_team=team, workflows=[wf])
    s1 = services.create_stage(actor=None, workflow=wf, position=1, name="Time approved",
                               event_type=EventType.TIME_APPROVED, integration=psa)
    s2 = services.create_stage(actor=None, workflow=wf, position=2, name="Invoice ready",
                               event_type=EventType.INVOICE_READY, integration=psa, max_latency_hours=72)
    s3 = services.create_stage(actor=None, workflow=wf, position=3, name="Invoice posted",
                               event_type=EventType.INVOICE_POSTED, integration=tax, max_latency_hours=48)
    _event("TS-1", EventType.TIME_APPROVED, NOW - 100 * H, wf, psa)
    _event("TS-2", EventType.TIME_APPROVED, NOW - 10 * H, wf, psa)
    _event("INV-3", EventType.INVOICE_READY, NOW - 60 * H, wf, psa, "1000.00", "EUR")
    _event("INV-4", EventType.INVOICE_READY, NOW - 50 * H, wf, psa, "800.00", "GBP")
    _event("INV-5", EventType.INVOICE_READY, NOW - 20 * H, wf, psa, "50.00", "GBP")
    _event("INV-6", EventType.INVOICE_READY, NOW - 70 * H, wf, psa, "70.00", "EUR")
    _event("INV-6", EventType.INVOICE_POSTED, NOW - 60 * H, wf, tax, "70.00", "EUR")
    _event("INV-7", EventType.INVOICE_READY, NOW - 90 * H, other, psa, "9.00", "EUR")
    from kpis.services import close_ready_invoices

    close_ready_invoices()
    queue = Queue.objects.create(name="Billing", slug="billing", team=team)
    BusinessException.objects.create(integration=psa, queue=queue, error_code="TAX_CODE_INVALID", message="bad code",
                                     fingerprint="fp3", invoice_number="INV-3", first_seen=NOW - 59 * H,
                                     amount_at_risk=Decimal("1000"), currency="EUR")
    SyncRun.objects.create(integration=tax, run_key="r1", status="failed", finished_at=NOW - 5 * H)
    FxRate.objects.create(base="EUR", quote="GBP", date=dt.date(2026, 10, 1), rate=Decimal("0.8"))
    return {"wf": wf, "team": team, "stages": (s1, s2, s3), "psa": psa, "tax": tax}


def _keys(qs):
    return sorted(qs.values_list("correlation_key", flat=True))


def test_waiting_and_late_items_follow_the_steps_and_their_deadlines(flow):
    wf, (_, s2, s3) = flow["wf"], flow["stages"]
    assert _keys(waiting_items(wf, as_of=NOW)) == ["INV-3", "INV-4", "INV-5", "TS-1", "TS-2"]
    late = {e.correlation_key: e for e in late_items(wf, as_of=NOW)}
    assert sorted(late) == ["INV-3", "INV-4", "TS-1"]
    assert late["TS-1"].stage_id == s2.pk and late["TS-1"].due_at == NOW - 28 * H
    assert late["INV-4"].stage_id == s3.pk and late["INV-4"].due_at == NOW - 2 * H
    # Looked at 61 h ago, INV-6 was ready and not yet posted; INV-3 was not ready yet.
    assert _keys(waiting_items(wf, as_of=NOW - 61 * H)) == ["INV-6", "TS-1"]


def test_stuck_list_agrees_with_the_invoice_ready_backlog_kpi(flow):
    """Every item waiting for "Invoice posted" is the backlog KPI's row set: same count, same
    money per currency, same converted total, for the same moment."""
    wf, s3 = flow["wf"], flow["stages"][2]
    window = Window(Period.WEEK, dt.date(2026, 10, 19), at=NOW)
    kpi = KPIS["invoice-ready-backlog"]
    value, detail = kpi.compute(window, ScopeType.WORKFLOW)[wf.slug]
    from catalog.stuck_list import bound_filterset, summary

    params = {"state": "waiting", "stage": str(s3.pk), "as_of": window.as_of.isoformat()}
    filterset = bound_filterset(wf, params)
    got = summary(filterset.qs)
    assert got["count"] == int(value) == detail["count"] == 3
    assert {c["currency"]: c["amount"] for c in got["by_currency"]} == {
        code: entry["amount"] for code, entry in detail["by_currency"].items()} == {"EUR": "1000.00", "GBP": "850.00"}
    assert got["converted_total"] == detail["amount"] == "2062.50"  # 1000 + 850 / 0.8, never 1850 "mixed"
    assert _keys(filterset.qs) == _keys(kpi.rows(window, ScopeType.WORKFLOW, wf.slug))


def test_api_lists_late_items_with_reasons_and_refuses_bad_input(flow, api_as):
    url = f"/api/v1/catalog/workflows/{flow['wf'].slug}/stuck/?as_of={AS_OF}"
    assert api_as("outsider").get(url).status_code == 403
    body = api_as("finance").get(url).json()
    assert body["count"] == 3 and body["summary"]["count"] == 3
    rows = {r["key"]: r for r in body["results"]}
    assert rows["INV-3"]["reason"] == "Open exception: TAX_CODE_INVALID on PSA to ERP"
    assert rows["INV-4"]["reason"].startswith("ERP to tax failed its run at")
    assert rows["TS-1"]["reason"] == "No “Invoice ready” event, 28.0 h past its deadline"
    assert rows["TS-1"]["hours_late"] == 28.0 and rows["INV-3"]["amount"] == "1000.00"
    assert rows["INV-3"]["trace_url"] == "/traces/?key=INV-3"
    assert [r["key"] for r in api_as("finance").get(url + "&currency=gbp").json()["results"]] == ["INV-4"]
    bad = api_as("finance").get(url + "&older_than_days=-3")
    assert bad.status_code == 400 and "older_than_days" in bad.json()["error"]["fields"]


def test_page_and_csv_show_the_same_rows_by_name(flow, client_as):
    client = client_as("executive")
    page = client.get(f"/catalog/workflows/billing-flow/stuck/?as_of={AS_OF}")
    html = page.content.decode()
    assert page.status_code == 200 and "INV-3" in html and "TS-1" in html and "INV-5" not in html
    assert "1,000.00 EUR" in html and "800.00 GBP" in html and 'href="/traces/?key=INV-3"' in html
    export = client.get(f"/catalog/workflows/billing-flow/stuck/?as_of={AS_OF}&state=waiting&format=csv")
    rows = list(csv.reader(io.StringIO(b"".join(export.streaming_content).decode())))
    assert rows[0][0] == "Business key" and sorted(r[0] for r in rows[1:]) == ["INV-3", "INV-4", "INV-5", "TS-1", "TS-2"]
    assert client_as("outsider").get("/catalog/workflows/billing-flow/stuck/").status_code == 403
    assert client.get("/catalog/workflows/billing-flow/stuck/?as_of=yesterday").status_code == 400


def test_stages_are_edited_by_architects_through_the_service(flow, api_as, client_as):
    wf = flow["wf"]
    body = {"workflow": wf.slug, "position": 4, "name": "Payment received", "event_type": "payment_received",
            "max_latency_hours": 720}
    assert api_as("finance").post("/api/v1/catalog/workflow-stages/", body, format="json").status_code == 403
    created = api_as("architect").post("/api/v1/catalog/workflow-stages/", body, format="json")
    assert created.status_code == 201 and created.json()["workflow_name"] == "Billing flow"
    assert AuditEntry.objects.filter(action="workflow_stage.created", object_id=str(created.json()["id"])).exists()
    again = api_as("architect").post("/api/v1/catalog/workflow-stages/", {**body, "name": "Twice"}, format="json")
    assert again.status_code == 400 and WorkflowStage.objects.filter(workflow=wf).count() == 4
    page = client_as("architect").post(f"/catalog/workflows/{wf.slug}/stages/new/", {
        "position": 5, "name": "Revenue", "event_type": "revenue_posted", "max_latency_hours": "0"})
    assert page.status_code == 400 and not WorkflowStage.objects.filter(name="Revenue").exists()
    detail = client_as("executive").get(f"/catalog/workflows/{wf.slug}/").content.decode()
    assert "Payment received" in detail and "720 h after the previous step" in detail


def test_trace_panel_marks_each_step_and_the_stuck_one(flow, finance, outsider):
    ctx = stages_for_key("INV-3", finance, [], now=NOW)
    (panel,) = ctx["workflows"]
    assert [(r["stage"].name, r["status"]) for r in panel["stages"]] == [
        ("Time approved", "not_reached"), ("Invoice ready", "done"), ("Invoice posted", "missing")]
    assert panel["stuck"]["stage"].name == "Invoice posted" and panel["stuck"]["reason"]["kind"] == "exception"
    assert ctx["trace_url"] == trace_url("INV-3") == "/traces/?key=INV-3"
    wf = flow["wf"]
    _event("TS-9", EventType.TIME_APPROVED, NOW - 200 * H, wf)
    _event("TS-9", EventType.INVOICE_READY, NOW - 100 * H, wf)  # 100 h after approval: 28 h late
    _event("TS-9", EventType.INVOICE_POSTED, NOW - 90 * H, wf)
    rows = stages_for_key("TS-9", finance, [], now=NOW)["workflows"][0]["stages"]
    assert [(r["status"], r["spent_hours"]) for r in rows] == [("done", None), ("late", 100.0), ("done", 10.0)]
    # Not due yet, but the integration expected to post it failed since it became ready: that is why.
    held = stages_for_key("INV-5", outsider, [], now=NOW)["workflows"][0]
    assert held["stages"][2]["status"] == "waiting" and held["stuck"]["reason"]["kind"] == "failed_run"
    waiting = stages_for_key("TS-2", outsider, [], now=NOW)["workflows"][0]
    assert [r["status"] for r in waiting["stages"]] == ["done", "waiting", "not_reached"] and waiting["stuck"] is None


def test_the_trace_page_shows_the_stages_panel_above_the_timeline(flow, client_as):
    html = client_as("finance").get(trace_url("INV-3")).content.decode()
    assert 'aria-label="Workflow stages"' in html
    assert "Stuck before “Invoice posted”" in html
    # A key no workflow with stages carries gets no empty panel.
    _event("LOOSE-1", EventType.INVOICE_READY, NOW - H, None)
    assert 'aria-label="Workflow stages"' not in client_as("finance").get(trace_url("LOOSE-1")).content.decode()


def test_newly_stuck_items_are_announced_once_to_the_owning_team(flow):
    NotificationChannel.objects.create(team=flow["team"], name="mail", kind="email", target="billing@example.com")
    assert services.notify_stuck_items(now=NOW) == 3
    assert services.notify_stuck_items(now=NOW + H) == 0  # nothing new: nothing sent
    (message,) = Notification.objects.filter(event="items_stuck")
    assert message.subject == "[Stuck] Billing flow: 3 items past the step's deadline"
    assert "INV-3: waiting for “Invoice posted” since" in message.payload["reason"]
    # 30 h later INV-5 (ready 20 h ago) and TS-2 (approved 10 h ago) are not late yet; INV-5 is at 50 h.
    assert services.notify_stuck_items(now=NOW + 30 * H) == 1
    latest = Notification.objects.filter(event="items_stuck").order_by("-pk").first()
    assert [i["key"] for i in latest.payload["items"]] == ["INV-5"]
    assert StuckNotice.objects.count() == 4


def test_backlog_kpi_page_links_its_itemised_stuck_list(flow, client_as):
    from catalog.models import Workflow

    wf = Workflow.objects.get(slug="time-to-invoice")  # the KPI's workflow (seeded)
    services.create_stage(actor=None, workflow=wf, position=1, name="Ready", event_type=EventType.INVOICE_READY)
    posted = services.create_stage(actor=None, workflow=wf, position=2, name="Posted",
                                   event_type=EventType.INVOICE_POSTED, max_latency_hours=48)
    html = client_as("executive").get("/kpis/invoice-ready-backlog/").content.decode()
    assert f"/catalog/workflows/time-to-invoice/stuck/?state=waiting&amp;stage={posted.pk}&amp;as_of=" in html


def test_a_team_without_a_channel_is_told_once_it_has_one(flow):
    assert services.notify_stuck_items(now=NOW) == 0 and not StuckNotice.objects.exists()
    NotificationChannel.objects.create(team=flow["team"], name="chat", kind="email", target="b@example.com")
    assert services.notify_stuck_items(now=NOW) == 3


def test_a_workflow_with_one_step_has_nothing_stuck(flow, api_as):
    lone = WorkflowFactory(slug="one-step", name="One step")
    services.create_stage(actor=None, workflow=lone, position=1, name="Ready", event_type=EventType.INVOICE_READY)
    _event("INV-9", EventType.INVOICE_READY, NOW - 900 * H, lone)
    body = api_as("finance").get("/api/v1/catalog/workflows/one-step/stuck/?state=waiting").json()
    assert body["count"] == 0 and body["summary"]["count"] == 0


def test_stuck_api_costs_the_same_queries_for_a_long_list(flow, api_as, django_assert_max_num_queries):
    wf, psa = flow["wf"], flow["psa"]
    for n in range(60):
        _event(f"TS-B{n}", EventType.TIME_APPROVED, NOW - (80 + n) * H, wf, psa)
    client = api_as("finance")
    with django_assert_max_num_queries(14):  # session, user, workflow, stages, count, page, summary, reasons
        body = client.get(f"/api/v1/catalog/workflows/{wf.slug}/stuck/?as_of={AS_OF}&page_size=50").json()
    assert body["count"] == 63 and len(body["results"]) == 50
