import datetime as dt
import statistics
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.utils import timezone

from kpis import selectors, services
from kpis.choices import EventType, Period, ScopeType
from kpis.definitions import KPIS
from kpis.models import BusinessEvent, KpiSnapshot, KpiTarget, Reconciliation
from kpis.periods import Window, window_containing
from tests.factories import EntityFactory, IntegrationFactory, TeamFactory, WorkflowFactory

pytestmark = pytest.mark.django_db

DAY = dt.date(2026, 10, 14)  # a Wednesday
T0 = dt.datetime(2026, 10, 14, 9, 0, tzinfo=dt.UTC)


def ev(event_id, type_, key, at, **extra):
    return BusinessEvent.objects.create(event_id=event_id, type=type_, correlation_key=key, occurred_at=at, **extra)


def pair(n, hours, **extra):
    ev(f"s{n}", EventType.TIME_APPROVED, f"K{n}", T0 - dt.timedelta(hours=hours), **extra)
    return ev(f"e{n}", EventType.INVOICE_POSTED, f"K{n}", T0, **extra)


def compute(key, window, scope=ScopeType.ALL):
    return KPIS[key].compute(window, scope)


def python_percentile(values, p):
    # percentile_cont: linear interpolation at p * (n - 1)
    ordered = sorted(values)
    pos = p * (len(ordered) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (pos - lo) * (ordered[hi] - ordered[lo])


def test_time_to_invoice_percentiles_match_hand_computation():
    hours = [10, 20, 30, 40, 95]
    for n, h in enumerate(hours):
        pair(n, h)
    value, detail = compute("approved-time-to-invoice", Window(Period.DAY, DAY))[""]
    assert value == pytest.approx(30.0)
    assert detail["p90"] == pytest.approx(python_percentile(hours, 0.9))  # 73.0
    assert detail["p90"] == pytest.approx(73.0)
    assert detail["count"] == 5
    assert statistics.median(hours) == value


def test_pair_uses_the_earliest_start_and_ignores_other_keys_and_periods():
    ev("s1", EventType.TIME_APPROVED, "K1", T0 - dt.timedelta(hours=50))
    ev("s1b", EventType.TIME_APPROVED, "K1", T0 - dt.timedelta(hours=5))
    ev("e1", EventType.INVOICE_POSTED, "K1", T0)
    ev("e2", EventType.INVOICE_POSTED, "NO-START", T0)  # no time approval: not measured
    ev("s3", EventType.TIME_APPROVED, "K3", T0 - dt.timedelta(days=3))
    ev("e3", EventType.INVOICE_POSTED, "K3", T0 + dt.timedelta(days=1))  # next day: other window
    ev("s4", EventType.TIME_APPROVED, "K4", T0 + dt.timedelta(hours=1))  # start after end: not a pair
    ev("e4", EventType.INVOICE_POSTED, "K4", T0)
    value, detail = compute("approved-time-to-invoice", Window(Period.DAY, DAY))[""]
    assert (value, detail["count"]) == (50.0, 1)


def test_empty_and_single_row():
    assert compute("approved-time-to-invoice", Window(Period.DAY, DAY)) == {}
    pair(1, 7)
    value, detail = compute("approved-time-to-invoice", Window(Period.DAY, DAY))[""]
    assert value == detail["p90"] == 7.0


def test_scopes_group_in_one_query(django_assert_num_queries):
    team_a, team_b = TeamFactory(slug="team-a"), TeamFactory(slug="team-b")
    wf = WorkflowFactory(slug="time-to-invoice-x")
    ia = IntegrationFactory(slug="ia", owner_team=team_a)
    ib = IntegrationFactory(slug="ib", owner_team=team_b)
    pair(1, 10, integration=ia, workflow=wf)
    pair(2, 30, integration=ia, workflow=wf)
    pair(3, 100, integration=ib)
    window = Window(Period.DAY, DAY)
    with django_assert_num_queries(1):
        by_team = compute("approved-time-to-invoice", window, ScopeType.TEAM)
    assert {k: v[0] for k, v in by_team.items()} == {"team-a": 20.0, "team-b": 100.0}
    assert {k: v[0] for k, v in compute("approved-time-to-invoice", window, ScopeType.WORKFLOW).items()} == {"time-to-invoice-x": 20.0}
    assert set(compute("approved-time-to-invoice", window, ScopeType.INTEGRATION)) == {"ia", "ib"}


def test_days_kpis_divide_by_24():
    ev("w", EventType.CLOSED_WON, "OPP", T0 - dt.timedelta(days=3))
    ev("a", EventType.PROJECT_ACTIVATED, "OPP", T0)
    assert compute("closed-won-to-activation", Window(Period.DAY, DAY))[""][0] == pytest.approx(3.0)


def test_invoice_ready_backlog_counts_unposted_as_of_period_end():
    ev("r1", EventType.INVOICE_READY, "INV-1", T0, amount=100, currency="EUR")
    ev("r2", EventType.INVOICE_READY, "INV-2", T0, amount=250, currency="EUR")
    ev("p2", EventType.INVOICE_POSTED, "INV-2", T0 + dt.timedelta(hours=2))
    ev("r3", EventType.INVOICE_READY, "INV-3", T0 - dt.timedelta(days=1), amount=50, currency="EUR")
    ev("p3", EventType.INVOICE_POSTED, "INV-3", T0 + dt.timedelta(days=3))  # posted after the day ended
    services.close_ready_invoices()  # what ingestion does for the keys it receives
    value, detail = compute("invoice-ready-backlog", Window(Period.DAY, DAY))[""]
    assert value == 2 and (detail["count"], detail["amount"], detail["currency"]) == (2, "150.00", "EUR")
    rows = KPIS["invoice-ready-backlog"].rows(Window(Period.DAY, DAY), ScopeType.ALL, "")
    assert sorted(rows.values_list("correlation_key", flat=True)) == ["INV-1", "INV-3"]


def test_backlog_is_zero_not_missing_when_everything_is_posted():
    ev("r1", EventType.INVOICE_READY, "INV-1", T0 - dt.timedelta(hours=3), amount=100, currency="EUR")
    ev("p1", EventType.INVOICE_POSTED, "INV-1", T0 - dt.timedelta(hours=1))
    assert services.close_ready_invoices(keys=["INV-1"]) == 1
    value, detail = compute("invoice-ready-backlog", Window(Period.DAY, DAY))[""]
    assert (value, detail["count"], detail["amount"]) == (0, 0, "0.00")


def test_ingest_closes_ready_invoices_whatever_the_order(api_as):
    posted = {"event_id": "p", "type": "invoice_posted", "correlation_key": "INV-9", "occurred_at": "2026-10-14T10:00:00Z"}
    ready = {"event_id": "r", "type": "invoice_ready", "correlation_key": "INV-9", "occurred_at": "2026-10-14T08:00:00Z"}
    client = api_as("service")
    client.post("/api/v1/events/", posted, format="json")
    client.post("/api/v1/events/", ready, format="json")  # arrives after its invoice was posted
    assert BusinessEvent.objects.get(event_id="r").closed_at == dt.datetime(2026, 10, 14, 10, tzinfo=dt.UTC)


def test_a_late_earlier_posting_moves_the_close_back_and_the_backlog_drops(api_as):
    """The invoice was posted on the 14th, but the ledger's record of it reached us after a
    re-send dated the 17th: the day's backlog counts it posted, not still waiting."""
    client = api_as("service")
    ready = {"event_id": "r", "type": "invoice_ready", "correlation_key": "INV-7", "occurred_at": "2026-10-14T08:00:00Z",
             "amount": "100.00", "currency": "EUR"}
    resent = {"event_id": "p2", "type": "invoice_posted", "correlation_key": "INV-7", "occurred_at": "2026-10-17T10:00:00Z"}
    first = {"event_id": "p1", "type": "invoice_posted", "correlation_key": "INV-7", "occurred_at": "2026-10-14T10:00:00Z"}
    for body in (ready, resent):
        assert client.post("/api/v1/events/", body, format="json").status_code == 200
    assert compute("invoice-ready-backlog", Window(Period.DAY, DAY))[""][0] == 1
    assert client.post("/api/v1/events/", first, format="json").status_code == 200
    assert BusinessEvent.objects.get(event_id="r").closed_at == dt.datetime(2026, 10, 14, 10, tzinfo=dt.UTC)
    assert compute("invoice-ready-backlog", Window(Period.DAY, DAY))[""][0] == 0
    # and the same through the set-based pass (the batch and demo paths)
    BusinessEvent.objects.filter(event_id="r").update(closed_at=dt.datetime(2026, 10, 17, 10, tzinfo=dt.UTC))
    assert services.close_ready_invoices(keys=["INV-7"]) == 1
    assert BusinessEvent.objects.get(event_id="r").closed_at == dt.datetime(2026, 10, 14, 10, tzinfo=dt.UTC)
    assert services.close_ready_invoices(keys=["INV-7"]) == 0  # nothing left to move


def test_reconciliation_variance_and_mismatch_rate():
    integration, entity = IntegrationFactory(), EntityFactory()
    for start, src, tgt, mism, samt, tamt in [(1, 1000, 990, 10, 10_000, 9_900), (8, 500, 500, 0, 5_000, 5_100)]:
        Reconciliation.objects.create(
            integration=integration, entity=entity, period_start=dt.date(2026, 10, start),
            period_end=dt.date(2026, 10, start + 6), source_count=src, target_count=tgt, mismatched_count=mism,
            source_amount=samt, target_amount=tamt,
        )
    month = Window(Period.MONTH, dt.date(2026, 10, 1))
    # No currency on a reconciliation means the reporting currency.
    assert compute("reconciliation-variance", month)[""][0] == Decimal("1.3333")  # 200 / 15,000
    assert compute("master-data-mismatch-rate", month)[""][0] == Decimal("0.6667")  # 10 / 1,500
    assert compute("master-data-mismatch-rate", Window(Period.MONTH, dt.date(2026, 9, 1))) == {}


def test_refresh_is_idempotent_and_drilldown_matches_count():
    for n, h in enumerate([5, 6, 7]):
        pair(n, h)
    window = Window(Period.WEEK, window_containing(Period.WEEK, DAY).start)
    services.refresh_window(window)
    first = list(KpiSnapshot.objects.values_list("key", "scope_type", "scope_key", "value").order_by("key", "scope_type"))
    services.refresh_window(window)
    again = list(KpiSnapshot.objects.values_list("key", "scope_type", "scope_key", "value").order_by("key", "scope_type"))
    assert first == again and first
    snap = KpiSnapshot.objects.get(key="approved-time-to-invoice", scope_type="all", period="week")
    assert snap.value == 6.0
    rows = KPIS["approved-time-to-invoice"].rows(window, ScopeType.ALL, "")
    assert rows.count() == snap.detail["count"] == 3


def test_refresh_after_new_events_replaces_the_window():
    pair(1, 10)
    services.refresh_days([DAY])
    pair(2, 30)
    services.refresh_days([DAY])
    assert KpiSnapshot.objects.get(key="approved-time-to-invoice", scope_type="all", period="day").value == 20.0


@pytest.mark.parametrize(
    "value,target,expected",
    [(40, 48, "ok"), (48, 48, "ok"), (52, 48, "warn"), (60, 48, "bad"), (None, 48, "none")],
)
def test_status_colours_lower_is_better(value, target, expected):
    kpi = KPIS["approved-time-to-invoice"]
    assert selectors.status_for(kpi, value, KpiTarget(key=kpi.key, target=target, tolerance_pct=10)) == expected


def test_status_uses_default_target_without_row():
    kpi = KPIS["approved-time-to-invoice"]
    assert selectors.status_for(kpi, kpi.default_target + 1000, None) == "bad"


def test_backfill_command_and_cards(monkeypatch):
    pair(1, 10)
    call_command("backfill_kpis", "--from", "2026-10-01", "--to", "2026-10-31", "--period", "week")
    assert KpiSnapshot.objects.filter(period="week").exists()
    cards = selectors.cards(period=Period.WEEK, first=dt.date(2026, 10, 1), last=dt.date(2026, 10, 14))
    card = next(c for c in cards if c.kpi.key == "approved-time-to-invoice")
    assert card.value == 10.0 and card.status == "ok"


def test_set_target_is_audited(executive, architect):
    from controlplane.models import AuditEntry

    services.set_target(actor=architect, key="approved-time-to-invoice", target=24)
    assert KpiTarget.objects.get(key="approved-time-to-invoice").target == 24
    assert AuditEntry.objects.filter(action="kpi_target.set").count() == 1


def test_demo_load_twice_changes_nothing(monkeypatch):
    from io import StringIO

    from kpis import demo

    # Monthly snapshots only: the same idempotence, without 280 windows twice.
    real_backfill = services.backfill
    monkeypatch.setattr(services, "backfill", lambda **kw: real_backfill(**{**kw, "periods": ("month",)}))
    demo.load(StringIO())
    counts = (BusinessEvent.objects.count(), Reconciliation.objects.count(), KpiSnapshot.objects.count())
    demo.load(StringIO())
    assert (BusinessEvent.objects.count(), Reconciliation.objects.count(), KpiSnapshot.objects.count()) == counts
    assert counts[0] > 500


def test_now_bounded_backlog_window():
    window = window_containing(Period.MONTH, timezone.now().date())
    assert window.as_of <= timezone.now()


def test_late_events_mark_every_window_they_touch_and_one_drain_recomputes_them():
    """A late invoice_ready for a past day: the backlog of every window from that day to
    today (it is open at each of those moments); the pair KPIs, which never read an
    invoice_ready, are not touched."""
    from controlplane.models import OutboxMessage
    from kpis.models import KpiDirtyWindow

    today = timezone.now().date()
    late = today - dt.timedelta(days=40)
    services.refresh_window(window_containing(Period.DAY, today - dt.timedelta(days=3)))
    before = KpiSnapshot.objects.get(key="invoice-ready-backlog", period="day", scope_type="all",
                                     period_start=today - dt.timedelta(days=3))
    assert before.value == 0
    for n in range(3):  # three posts, one burst
        services.ingest_events(items=[dict(event_id=f"late-{n}", type=EventType.INVOICE_READY, correlation_key=f"L{n}",
                                           occurred_at=dt.datetime.combine(late, dt.time(12), tzinfo=dt.UTC),
                                           amount=Decimal("10.00"), currency="EUR", attributes={})])
    dirty = set(KpiDirtyWindow.objects.values_list("key", "period", "period_start"))
    assert not {k for k, _, _ in dirty} & {"approved-time-to-invoice", "milestone-to-invoice", "closed-won-to-activation"}
    assert ("invoice-ready-backlog", "day", late) in dirty
    assert ("invoice-ready-backlog", "day", today - dt.timedelta(days=3)) in dirty
    assert ("invoice-ready-backlog", "month", today.replace(day=1)) in dirty
    assert not {k for k, _, _ in dirty} & {"exception-backlog", "revenue-at-risk", "integration-availability"}
    assert OutboxMessage.objects.filter(task="kpis.tasks.refresh_dirty", sent_at__isnull=True).count() == 1
    services.refresh_dirty()
    assert not KpiDirtyWindow.objects.exists()
    after = KpiSnapshot.objects.get(key="invoice-ready-backlog", period="day", scope_type="all",
                                    period_start=today - dt.timedelta(days=3))
    assert (after.value, after.detail["amount"]) == (3, "30.00")
    assert KpiSnapshot.objects.get(key="invoice-ready-backlog", period="week", scope_type="all",
                                   period_start=window_containing(Period.WEEK, late).start).value == 3


def test_a_window_marked_again_during_a_drain_stays_for_the_next(monkeypatch):
    from kpis.models import KpiDirtyWindow

    services.mark_dirty(days=[DAY], source="reconciliations")
    real = services.refresh_windows

    def refresh_and_post_meanwhile(pairs):
        for _, window in pairs:
            KpiDirtyWindow.objects.filter(period=window.period, period_start=window.start).update(
                marked_at=timezone.now() + dt.timedelta(seconds=1))
        return real(pairs)

    monkeypatch.setattr(services, "refresh_windows", refresh_and_post_meanwhile)
    services.refresh_dirty()
    assert KpiDirtyWindow.objects.exists()  # not lost: the next drain recomputes them
