"""A late batch (events and a reconciliation for past days) drained by refresh_dirty leaves
exactly the snapshots a full refresh from scratch computes: every KPI, scope and
day/week/month window, the backlogs on every day since the late items included. Runs on
SQLite and PostgreSQL (make test runs tests/kpis on both)."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from exceptions.models import BusinessException, Queue
from kpis import services
from kpis.choices import EventType, Period
from kpis.models import FxRate, KpiDirtyWindow, KpiSnapshot
from kpis.periods import window_containing
from tests.factories import EntityFactory, IntegrationFactory, TeamFactory, WorkflowFactory

pytestmark = pytest.mark.django_db


def at(days_ago, hour=10):
    day = timezone.now().date() - dt.timedelta(days=days_ago)
    return dt.datetime.combine(day, dt.time(hour), tzinfo=dt.UTC)


def event(type_, key, when, integration, workflow, amount="100.00", currency="GBP"):
    return dict(event_id=f"{type_}-{key}", type=type_, correlation_key=key, occurred_at=when,
                integration_id=integration.id, workflow_id=workflow.id, amount=Decimal(amount), currency=currency,
                attributes={})


def snapshots():
    """Every snapshot, with the running period's as_of left out (it is the moment of each
    refresh, by design)."""
    return {
        (s.key, s.scope_type, s.scope_key, s.period, s.period_start):
            (s.value, {k: v for k, v in s.detail.items() if k != "as_of"})
        for s in KpiSnapshot.objects.all()
    }


@pytest.fixture
def estate():
    teams = [TeamFactory(slug=f"team-{n}") for n in range(2)]
    workflows = [WorkflowFactory(slug=f"flow-{n}") for n in range(2)]
    integrations = [IntegrationFactory(slug=f"int-{n}", owner_team=teams[n % 2]) for n in range(3)]
    for n, integration in enumerate(integrations):
        integration.workflows.add(workflows[n % 2])
    # EUR->GBP on weekdays of the last 40 days; USD has no rate at all (counted apart).
    for days_ago in range(40):
        day = timezone.now().date() - dt.timedelta(days=days_ago)
        if day.weekday() < 5:
            FxRate.objects.create(base="EUR", quote="GBP", date=day, rate=Decimal("0.85") + Decimal(days_ago) / 1000)
    queue = Queue.objects.create(name="Billing", slug="billing", team=teams[0])
    for n in range(12):  # exceptions open, resolved and overdue across the month
        BusinessException.objects.create(
            integration=integrations[n % 3], queue=queue, error_code="E", message="m", fingerprint=f"fp{n}",
            amount_at_risk=Decimal(f"{100 + n}.25"), currency=("GBP", "EUR", "USD")[n % 3], first_seen=at(2 * n),
            due_at=at(2 * n, 18), resolved_at=at(n, 15) if n % 4 == 0 else None,
        )
    items = []
    for n in range(30):  # the on-time history: pairs and ready/posted invoices over 30 days
        integration, workflow = integrations[n % 3], workflows[n % 2]
        items.append(event(EventType.TIME_APPROVED, f"T{n}", at(n + 1, 8), integration, workflow))
        items.append(event(EventType.INVOICE_POSTED, f"T{n}", at(n, 9 + n % 5), integration, workflow))
        items.append(event(EventType.INVOICE_READY, f"R{n}", at(n, 11), integration, workflow,
                           amount=f"{200 + n}.10", currency=("GBP", "EUR", "USD")[n % 3]))
        if n % 3:
            items.append(event(EventType.INVOICE_POSTED, f"R{n}", at(max(n - 4, 0), 12), integration, workflow))
        items.append(event(EventType.CLOSED_WON, f"C{n}", at(n + 3), integration, workflow))
        items.append(event(EventType.PROJECT_ACTIVATED, f"C{n}", at(n), integration, workflow))
    services.ingest_events(items=items)
    return integrations, workflows


def test_a_late_batch_drains_to_the_snapshots_of_a_full_refresh_from_scratch(estate):
    integrations, workflows = estate
    first, last = timezone.now().date() - dt.timedelta(days=35), timezone.now().date()
    services.backfill(first=first, last=last)
    KpiDirtyWindow.objects.all().delete()  # the backfill covered them
    on_time = snapshots()

    late = []
    for n in range(9):  # for three past days: new ready invoices, postings closing old ones, new pairs
        integration, workflow = integrations[n % 3], workflows[n % 2]
        late.append(event(EventType.INVOICE_READY, f"LR{n}", at(9 + n % 3, 7), integration, workflow,
                          amount=f"{50 + n}.55", currency=("GBP", "EUR", "USD")[n % 3]))
        late.append(event(EventType.INVOICE_POSTED, f"R{3 * n}", at(8 + n % 3, 16), integration, workflow))
        late.append(event(EventType.TIME_APPROVED, f"LT{n}", at(12 + n % 3, 6), integration, workflow))
        late.append(event(EventType.INVOICE_POSTED, f"LT{n}", at(10 + n % 3, 14), integration, workflow))
    # A start arriving after its end, dated days before it: the end's windows move, not
    # only the start's; and a posting with no start nor ready invoice that moves nothing.
    late.append({**event(EventType.TIME_APPROVED, "T4", at(13, 5), integrations[1], workflows[0]),
                 "event_id": "time_approved-T4-earlier"})
    late.append(event(EventType.INVOICE_POSTED, "NOTHING-1", at(6, 9), integrations[1], workflows[0]))
    services.ingest_events(items=late)
    services.record_reconciliation(
        actor=None, integration=integrations[0], entity=EntityFactory(), period_start=at(20).date(),
        period_end=at(13).date(), source_count=1000, target_count=990, source_amount=Decimal("10000.00"),
        target_amount=Decimal("9900.00"), currency="GBP", mismatched_count=7)
    dirty = set(KpiDirtyWindow.objects.values_list("key", "period", "period_start"))
    assert ("approved-time-to-invoice", "day", at(4).date()) in dirty  # T4's posting, 4 days ago
    assert not {k for k, _, _ in dirty} & {"closed-won-to-activation", "milestone-to-invoice"}  # nothing of theirs came
    services.refresh_dirty()
    drained = snapshots()
    assert drained != on_time  # the late data moved numbers (backlogs, pairs, reconciliations)
    assert {k[0] for k, v in drained.items() if on_time.get(k) != v} >= {
        "invoice-ready-backlog", "approved-time-to-invoice", "reconciliation-variance", "master-data-mismatch-rate"}

    KpiSnapshot.objects.all().delete()
    services.backfill(first=first, last=last)
    assert drained == snapshots()


def test_point_in_time_money_over_many_windows_equals_each_window_alone(estate):
    """The backlogs over many windows sum the rows that stay open (or closed) across all
    of them once and join only the rows that open, close or fall due in between: the same
    figures, overdue counts included, as each window computed alone."""
    from kpis.choices import Period
    from kpis.definitions import KPIS
    from kpis.periods import Window, windows_between

    now = timezone.now()
    first = now.date() - dt.timedelta(days=35)
    windows = [Window(w.period, w.start, now) for p in Period.values for w in windows_between(p, first, now.date())]
    for key in ("invoice-ready-backlog", "revenue-at-risk"):
        kpi = KPIS[key]
        for scope_type in kpi.scope_types:
            together = kpi.compute_many(windows, scope_type)
            alone = {w: kpi.compute_many([w], scope_type)[w] for w in windows}
            assert together == alone, (key, scope_type)
            assert any(v for scopes in together.values() for v in scopes.values())


def test_a_start_posted_alone_after_its_end_moves_the_end_s_windows(estate):
    """One event per post (PostgreSQL's one-statement path; the general one on SQLite): a
    time approval arriving after the invoice it led to, dated before it, changes the
    invoice's day, and the drain recomputes it."""
    integrations, workflows = estate
    first, last = at(35).date(), at(0).date()
    services.ingest_events(items=[event(EventType.INVOICE_POSTED, "SOLO", at(3, 12), integrations[0], workflows[0])])
    services.backfill(first=first, last=last)
    KpiDirtyWindow.objects.all().delete()
    day = window_containing(Period.DAY, at(3).date())

    def pairs_that_day():
        return KpiSnapshot.objects.get(key="approved-time-to-invoice", scope_type="all", period="day",
                                       period_start=day.start).detail["count"]

    before = pairs_that_day()
    services.ingest_events(items=[event(EventType.TIME_APPROVED, "SOLO", at(20, 12), integrations[0], workflows[0])])
    assert KpiDirtyWindow.objects.filter(key="approved-time-to-invoice", period="day", period_start=day.start).exists()
    services.refresh_dirty()
    assert pairs_that_day() == before + 1
    drained = snapshots()
    KpiSnapshot.objects.all().delete()
    services.backfill(first=first, last=last)
    assert snapshots() == drained


def test_a_posting_that_pairs_and_closes_nothing_marks_nothing(estate):
    from controlplane.models import OutboxMessage

    integrations, workflows = estate
    KpiDirtyWindow.objects.all().delete()
    OutboxMessage.objects.filter(task="kpis.tasks.refresh_dirty").delete()
    services.ingest_events(items=[event(EventType.INVOICE_POSTED, "UNKNOWN", at(5), integrations[0], workflows[0]),
                                  event(EventType.PAYMENT_RECEIVED, "UNKNOWN", at(4), integrations[0], workflows[0])])
    assert not KpiDirtyWindow.objects.exists()
    assert not OutboxMessage.objects.filter(task="kpis.tasks.refresh_dirty", sent_at__isnull=True).exists()


def test_an_event_kpi_that_is_neither_a_pair_nor_a_backlog_is_marked_on_its_events_days(estate, monkeypatch):
    """A KPI added later that reads events some other way (a count, a sum) must still be
    recomputed when its events arrive late: its day, week and month of each event."""
    import dataclasses

    from kpis import definitions

    integrations, workflows = estate
    model = definitions.KPIS["approved-time-to-invoice"]
    counted = dataclasses.replace(model, key="payments-counted", pair=None, event_types=(EventType.PAYMENT_RECEIVED,))
    monkeypatch.setitem(definitions.KPIS, "payments-counted", counted)
    KpiDirtyWindow.objects.all().delete()
    services.ingest_events(items=[event(EventType.PAYMENT_RECEIVED, "P1", at(6), integrations[0], workflows[0])])
    marked = set(KpiDirtyWindow.objects.filter(key="payments-counted").values_list("period", "period_start"))
    assert marked == {(p, window_containing(p, at(6).date()).start) for p in Period.values}
