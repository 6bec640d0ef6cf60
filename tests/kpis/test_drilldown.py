"""Every number explains itself: the drill-down rows sum exactly to the card for each KPI
and scope, cards say what they measure, and restricted queues stay with their teams."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from catalog.models import TeamMember
from exceptions.models import BusinessException, Queue
from kpis import selectors, services
from kpis.choices import EventType, Period, ScopeType
from kpis.definitions import KPIS
from kpis.models import BusinessEvent, FxRate, KpiSnapshot
from kpis.periods import Window, window_containing
from tests.factories import IntegrationFactory, TeamFactory, WorkflowFactory

pytestmark = pytest.mark.django_db

DAY = dt.date(2026, 10, 14)
T0 = dt.datetime(2026, 10, 14, 9, 0, tzinfo=dt.UTC)
WEEK = window_containing(Period.WEEK, DAY)

# What each KPI's rows are counted against in its snapshot detail.
ROW_COUNT = {
    "approved-time-to-invoice": "count", "closed-won-to-activation": "count", "milestone-to-invoice": "count",
    "invoice-ready-backlog": "count", "revenue-at-risk": "count", "exception-backlog": "count",
    "overdue-share": "overdue", "time-to-resolve": "count", "resolved-within-target": "count",
    "reconciliation-variance": "count", "master-data-mismatch-rate": "count",
}


@pytest.fixture
def estate():
    billing, payroll = TeamFactory(slug="billing-team", name="Billing team"), TeamFactory(slug="payroll", name="Payroll")
    wf = WorkflowFactory(slug="time-to-invoice", name="Time to invoice")
    ia = IntegrationFactory(slug="psa-erp", name="PSA to ERP", owner_team=billing, workflows=[wf])
    ip = IntegrationFactory(slug="hris-payroll", name="HRIS to payroll", owner_team=payroll)
    open_q = Queue.objects.create(name="Billing", slug="billing", team=billing)
    secret_q = Queue.objects.create(name="Payroll", slug="payroll-q", team=payroll, restricted=True)
    FxRate.objects.create(base="EUR", quote="GBP", date=DAY - dt.timedelta(days=5), rate=Decimal("0.8"))
    amounts = [("100.00", "EUR", open_q, ia), ("80.00", "GBP", open_q, ia), ("3.00", "USD", open_q, ia),
               ("40.00", "GBP", secret_q, ip), ("12.34", "EUR", secret_q, ia)]
    for n, (amount, currency, queue, integration) in enumerate(amounts):
        BusinessException.objects.create(
            integration=integration, queue=queue, error_code="E", message="m", fingerprint=f"fp{n}",
            amount_at_risk=Decimal(amount), currency=currency, first_seen=T0 - dt.timedelta(hours=n),
            due_at=T0 + dt.timedelta(hours=1 if n % 2 else 100), invoice_number=f"INV-{n}",
        )
    BusinessException.objects.create(
        integration=ia, queue=open_q, error_code="E", message="m", fingerprint="done", status="resolved",
        first_seen=T0 - dt.timedelta(hours=30), resolved_at=T0, amount_at_risk=Decimal("5"), currency="EUR")
    for n in range(3):
        key = f"TS-{n}"
        BusinessEvent.objects.create(event_id=f"ta{n}", type=EventType.TIME_APPROVED, correlation_key=key,
                                     occurred_at=T0 - dt.timedelta(hours=10 + n), workflow=wf, integration=ia)
        BusinessEvent.objects.create(event_id=f"ir{n}", type=EventType.INVOICE_READY, correlation_key=key,
                                     occurred_at=T0 - dt.timedelta(hours=5), workflow=wf, integration=ia,
                                     amount=Decimal("1000.10") * (n + 1), currency="GBP" if n else "EUR")
        if n == 0:
            BusinessEvent.objects.create(event_id=f"ip{n}", type=EventType.INVOICE_POSTED, correlation_key=key,
                                         occurred_at=T0, workflow=wf, integration=ia)
    services.close_ready_invoices()
    services.refresh_window(WEEK)
    member = TeamMember.objects.create(team=payroll, name="Pat")
    return {"wf": wf, "ia": ia, "ip": ip, "billing": billing, "payroll": payroll, "member": member}


def test_rows_sum_to_the_card_for_every_kpi_and_scope(estate):
    assert {key for key, kpi in KPIS.items() if kpi.additive} <= set(ROW_COUNT)
    checked = 0
    for snap in KpiSnapshot.objects.filter(period=Period.WEEK, period_start=WEEK.start):
        kpi = KPIS[snap.key]
        if kpi.rows is None or snap.key not in ROW_COUNT:
            continue
        window = Window(WEEK.period, WEEK.start, dt.datetime.fromisoformat(snap.detail["as_of"])) \
            if "as_of" in snap.detail else WEEK
        rows = kpi.rows(window, snap.scope_type, snap.scope_key)
        assert rows.count() == snap.detail[ROW_COUNT[snap.key]], (snap.key, snap.scope_type, snap.scope_key)
        if kpi.money and "converted_amount" in rows.query.annotations:
            total = sum((r.converted_amount for r in rows if r.converted_amount is not None), Decimal("0"))
            assert total == Decimal(snap.detail["amount"]), (snap.key, snap.scope_type, snap.scope_key)
            missing = sum(1 for r in rows if r.converted_amount is None)
            assert missing == snap.detail["unconverted_count"]
        checked += 1
    assert checked >= 20
    risk = KpiSnapshot.objects.get(key="revenue-at-risk", scope_type="all", period="week")
    # 100 EUR + 80 GBP/0.8 + 40 GBP/0.8 + 12.34 EUR; the 3 USD have no rate and stay apart.
    assert (risk.value, risk.detail["unconverted_count"]) == (Decimal("262.3400"), 1)


def test_rows_page_totals_equal_the_card(estate, superuser, client):
    client.force_login(superuser)
    for key in ("revenue-at-risk", "invoice-ready-backlog", "exception-backlog"):
        card = next(c for c in selectors.cards(period=Period.WEEK, first=WEEK.start, last=WEEK.end - dt.timedelta(days=1))
                    if c.kpi.key == key)
        page = client.get(f"/kpis/{key}/?period=week&from={WEEK.start}&to={WEEK.end - dt.timedelta(days=1)}")
        rows = client.get(page.context["drilldown"])
        totals = rows.context["totals"]
        assert totals["count"] == card.rests_on
        if key != "exception-backlog":
            assert totals["converted"] == Decimal(card.detail["amount"])
        assert b"INV-" in rows.content or key == "invoice-ready-backlog"


def test_cards_measure_the_last_complete_period_and_show_the_running_one_so_far(client_as):
    today = timezone.now().date()
    this_week = window_containing(Period.WEEK, today)
    for start, value in ((this_week.start, "7"), (this_week.previous().start, "3")):
        KpiSnapshot.objects.create(key="exception-backlog", scope_type="all", scope_key="", period="week",
                                   period_start=start, value=Decimal(value), detail={"count": int(value)})
    card = next(c for c in selectors.cards(period=Period.WEEK) if c.kpi.key == "exception-backlog")
    assert card.window == this_week.previous() and card.value == 3 and card.rests_on == 3
    assert card.running == this_week and card.running_value == 7
    page = client_as("executive").get("/kpis/?period=week")
    assert b"so far" in page.content and b"rests on 3 rows" in page.content and b"computed" in page.content


def test_cards_say_status_and_target_in_words_with_their_unit(client_as):
    """'Target 50 exceptions · on target', the same words on the card, the KPI page and the
    board, and a running period without data reads 'nothing measured yet', not '— %'."""
    today = timezone.now().date()
    last_week = window_containing(Period.WEEK, today).previous()
    KpiSnapshot.objects.create(key="exception-backlog", scope_type="all", scope_key="", period="week",
                               period_start=last_week.start, value=Decimal("3"), detail={"count": 3})
    client = client_as("executive")
    card = client.get("/kpis/?period=week").content.decode().split('data-kpi="exception-backlog"')[1].split("</article>")[0]
    detail = client.get("/kpis/exception-backlog/?period=week").content.decode()
    for html in (card, detail):
        assert "Target 50 exceptions" in html and ">on target<" in html and ">ok<" not in html
    variance = client.get("/kpis/reconciliation-variance/?period=week").content.decode()
    assert "so far: nothing measured yet" in variance and "— %" not in variance


def test_breakdowns_name_things_and_hide_what_isolates_a_restricted_queue(estate, client_as, cast):
    url = f"/kpis/revenue-at-risk/?period=week&from={WEEK.start}&to={WEEK.end - dt.timedelta(days=1)}"
    outsider_view = client_as("finance").get(url)
    names = {scope: [name for _, name, _, _ in rows] for scope, rows in outsider_view.context["breakdown"].items()}
    assert names[ScopeType.TEAM] == ["Billing team"]            # Payroll's team figure is its restricted queue
    assert names[ScopeType.INTEGRATION] == []                   # both integrations carry restricted items
    assert names[ScopeType.WORKFLOW] == []
    assert outsider_view.context["withheld"] == 4
    assert b"Payroll" not in outsider_view.content.split(b"Breakdown")[1]
    assert outsider_view.context["card"].value == Decimal("262.3400")  # the estate total includes them
    estate["member"].user = cast["finance"]
    estate["member"].save(update_fields=["user"])
    insider = client_as("finance").get(url)
    assert {name for _, name, _, _ in insider.context["breakdown"][ScopeType.TEAM]} == {"Billing team", "Payroll"}
    assert b"<svg class=\"bar\"" in insider.content


def test_drilldown_lists_restricted_rows_only_to_their_team(estate, client_as, cast, api_as):
    url = f"/kpis/rows/?kpi=revenue-at-risk&period=week&start={WEEK.start}"
    page = client_as("finance").get(url)
    listed = {e.fingerprint for e in page.context["page_obj"]}
    assert listed == {"fp0", "fp1", "fp2"} and page.context["hidden"] == 2
    team_page = client_as("finance").get(url + "&scope_type=team&scope_key=payroll")
    assert list(team_page.context["page_obj"]) == [] and team_page.context["hidden"] == 0
    series = "/api/v1/kpis/revenue-at-risk/series/?period=week&scope_type=team&scope_key=payroll"
    assert api_as("finance").get(series).status_code == 404
    estate["member"].user = cast["finance"]
    estate["member"].save(update_fields=["user"])
    assert {e.fingerprint for e in client_as("finance").get(url).context["page_obj"]} == {f"fp{n}" for n in range(5)}
    assert api_as("finance").get(series).status_code == 200


def test_board_and_kpi_pages_agree(estate, superuser, client):
    """The board's live exception lines are the KPI's own computation now; its headline
    KPIs are the KPI pages' cards, with their period and snapshot time."""
    from controlplane import board

    services.refresh_window(window_containing(Period.DAY, timezone.now().date()))
    lines = {line.label: line.value for line in board.attention_now()}
    live = KPIS["revenue-at-risk"].compute(window_containing(Period.DAY, timezone.now().date()), ScopeType.ALL)[""]
    assert lines["Amount at risk on open exceptions"] == f"{live[0]:,.2f} EUR (+1 without an FX rate)"
    assert lines["Open exceptions"] == str(live[1]["count"])
    so_far = KpiSnapshot.objects.get(key="revenue-at-risk", scope_type="all", period="day",
                                     period_start=timezone.now().date())
    assert so_far.value == live[0]
    client.force_login(superuser)
    admin = client.get("/admin/")
    pages = {c.kpi.key: c for c in selectors.cards(period=Period.WEEK)}
    for card in admin.context["board"]["kpis"]:
        assert card.value == pages[card.kpi.key].value and card.window == pages[card.kpi.key].window
    assert b"computed" in admin.content or b"not computed yet" in admin.content


def test_sparkline_of_equal_decimal_values_draws_a_flat_line():
    from kpis.templatetags.kpis import kpi_value, sparkline

    svg = sparkline([(DAY, Decimal("5.0000")), (DAY + dt.timedelta(days=1), Decimal("5.0000"))])
    assert "<polyline" in svg
    assert kpi_value(Decimal("1234567.8900"), "amount") == "1,234,567.89"
    assert kpi_value(Decimal("66.6667"), "%") == "66.67"


def test_money_breakdowns_carry_the_currency_and_overlapping_workflows_say_so(estate, superuser, client):
    """The trend's legend and the breakdown headers say EUR (not the unit's slug "amount"),
    and a workflow breakdown whose rows add up to more than the card says why."""
    second = WorkflowFactory(slug="collections", name="Collections")
    estate["ia"].workflows.add(second)
    services.refresh_window(WEEK)
    client.force_login(superuser)
    page = client.get(f"/kpis/revenue-at-risk/?period=week&from={WEEK.start}&to={WEEK.end - dt.timedelta(days=1)}")
    assert page.context["chart"]["unit"] == "EUR"
    html = page.content.decode()
    assert "Value (EUR)" in html and "Value (amount)" not in html
    assert page.context["overlapping"] == {ScopeType.WORKFLOW}
    assert "serving several workflows counts in each" in html
    team_rows = page.context["breakdown"][ScopeType.TEAM]
    assert sum(snap.value for snap, *_ in team_rows) == page.context["card"].value  # teams never overlap
