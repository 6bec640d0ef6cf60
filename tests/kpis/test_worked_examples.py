"""docs/kpis.md "Worked examples": each KPI's example built as described, its printed
Result checked against the computation. Editing either side without the other fails."""

import datetime as dt
import re
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone

from exceptions.models import BusinessException, Queue
from health.models import HealthConfig, Probe, Rollup
from kpis import services
from kpis.choices import EventType, Period, ScopeType
from kpis.definitions import KPIS
from kpis.models import BusinessEvent, FxRate, Reconciliation
from kpis.periods import Window, window_containing
from tests.factories import EntityFactory, IntegrationFactory, SlaFactory, TeamFactory
from tests.stewardship.factories import SubjectFactory, VersionFactory

pytestmark = pytest.mark.django_db

DOC = Path(__file__).resolve().parents[2] / "docs" / "kpis.md"
DAY = dt.date(2026, 10, 14)
T0 = dt.datetime(2026, 10, 14, 9, 0, tzinfo=dt.UTC)
H = dt.timedelta(hours=1)
D = dt.timedelta(days=1)


def documented_results() -> dict[str, str]:
    text = DOC.read_text().split("## Worked examples", 1)[1].split("\n## ", 1)[0]
    return dict(re.findall(r"### ([a-z0-9-]+)\n.*?Result: \*\*([0-9.]+)\*\*", text, flags=re.S))


def ev(type_, key, at, **extra):
    n = BusinessEvent.objects.count()
    return BusinessEvent.objects.create(event_id=f"e{n}", type=type_, correlation_key=key, occurred_at=at, **extra)


def queue(target_hours=72):
    return Queue.objects.create(name="Billing", slug="billing", team=TeamFactory(), target_hours_medium=target_hours)


def exc(q, integration, n, **fields):
    return BusinessException.objects.create(integration=integration, queue=q, error_code="E", message="m",
                                            fingerprint=f"fp{n}", **fields)


def pairs(start_type, end_type, lags):
    for n, lag in enumerate(lags):
        ev(start_type, f"K{n}", T0 - lag)
        ev(end_type, f"K{n}", T0)


def open_exceptions():
    FxRate.objects.create(base="EUR", quote="GBP", date=DAY, rate=Decimal("0.85"))
    q, integration = queue(), IntegrationFactory()
    exc(q, integration, 1, amount_at_risk=Decimal("100.00"), currency="EUR", first_seen=T0, due_at=T0 + 2 * H)
    exc(q, integration, 2, amount_at_risk=Decimal("85.00"), currency="GBP", first_seen=T0, due_at=T0 + 5 * D)
    exc(q, integration, 3, amount_at_risk=Decimal("50.00"), currency="USD", first_seen=T0, due_at=T0 + 5 * D)
    exc(q, integration, 4, amount_at_risk=Decimal("999.00"), currency="EUR", first_seen=T0, status="resolved",
        resolved_at=T0 + H)


def resolved():
    q, integration = queue(target_hours=5), IntegrationFactory()
    for n, hours in enumerate([2, 4, 12]):
        exc(q, integration, n, first_seen=T0 - hours * H, status="resolved", resolved_at=T0,
            due_at=T0 + 100 * H)  # a due time moved by a reopen does not count
    exc(q, integration, 9, first_seen=T0 - 50 * H, status="dismissed", resolved_at=T0)


def backlog():
    FxRate.objects.create(base="EUR", quote="GBP", date=DAY - D, rate=Decimal("0.85"))
    ev(EventType.INVOICE_READY, "INV-1", T0, amount=Decimal("100.00"), currency="EUR")
    ev(EventType.INVOICE_READY, "INV-2", T0, amount=Decimal("250.00"), currency="EUR")
    ev(EventType.INVOICE_POSTED, "INV-2", T0 + 2 * H)
    ev(EventType.INVOICE_READY, "INV-3", T0 - D, amount=Decimal("85.00"), currency="GBP")
    ev(EventType.INVOICE_POSTED, "INV-3", T0 + 3 * D)
    services.close_ready_invoices()


def reconciliations():
    integration, entity = IntegrationFactory(), EntityFactory()
    for start, src, mism, samt, tamt in [(1, 1000, 10, "10000.00", "9900.00"), (8, 500, 0, "5000.00", "5100.00")]:
        Reconciliation.objects.create(
            integration=integration, entity=entity, period_start=dt.date(2026, 10, start),
            period_end=dt.date(2026, 10, start + 6), source_count=src, target_count=src - mism,
            mismatched_count=mism, source_amount=Decimal(samt), target_amount=Decimal(tamt), currency="EUR")


def rollups():
    a, b = IntegrationFactory(criticality=1), IntegrationFactory(criticality=2)
    Rollup.objects.create(integration=a, granularity="h", period_start=T0, checks=100, checks_ok=95,
                          records_processed=1000, records_failed=10, max_lag_seconds=1800)
    Rollup.objects.create(integration=b, granularity="h", period_start=T0, checks=100, checks_ok=100,
                          records_processed=1000, records_failed=0, max_lag_seconds=7200)
    Rollup.objects.create(integration=b, granularity="d", period_start=T0, checks=5000, checks_ok=0)


def sla():
    a, b = IntegrationFactory(), IntegrationFactory()
    SlaFactory(integration=a, availability_target="80.0")
    SlaFactory(integration=b, availability_target="80.0")
    Rollup.objects.create(integration=a, granularity="h", period_start=T0, checks=4, checks_ok=3)
    Rollup.objects.create(integration=b, granularity="h", period_start=T0, checks=5, checks_ok=4)


def governance():
    entity = EntityFactory()
    covered = IntegrationFactory(criticality=1, entities=[entity])
    SlaFactory(integration=covered)
    Probe.objects.create(integration=covered, url="https://x.example.com/health", next_due_at=timezone.now())
    VersionFactory(subject=SubjectFactory(entity=entity), status="approved", number=1)
    partial = IntegrationFactory(criticality=1)
    SlaFactory(integration=partial)
    HealthConfig.objects.create(integration=partial, expected_period_seconds=3600)
    IntegrationFactory(criticality=2)
    IntegrationFactory(criticality=1, lifecycle="retired")


def schema_versions():
    for n, hours in enumerate([10, 30]):
        VersionFactory(status="approved", number=1, submitted_at=T0 - hours * H, approved_at=T0,
                       subject=SubjectFactory(slug=f"s{n}"))


EXAMPLES = {
    "approved-time-to-invoice": (lambda: pairs(EventType.TIME_APPROVED, EventType.INVOICE_POSTED,
                                               [10 * H, 20 * H, 30 * H, 40 * H, 95 * H]), None),
    "closed-won-to-activation": (lambda: pairs(EventType.CLOSED_WON, EventType.PROJECT_ACTIVATED, [3 * D]), None),
    "milestone-to-invoice": (lambda: pairs(EventType.MILESTONE_COMPLETED, EventType.INVOICE_POSTED, [D, 3 * D]), None),
    "invoice-ready-backlog": (backlog, None),
    "reconciliation-variance": (reconciliations, Window(Period.MONTH, dt.date(2026, 10, 1))),
    "master-data-mismatch-rate": (reconciliations, Window(Period.MONTH, dt.date(2026, 10, 1))),
    "revenue-at-risk": (open_exceptions, None),
    "exception-backlog": (open_exceptions, None),
    "overdue-share": (open_exceptions, None),
    "time-to-resolve": (resolved, None),
    "resolved-within-target": (resolved, None),
    "integration-availability": (rollups, None),
    "sla-attainment": (sla, None),
    "sync-freshness": (rollups, None),
    "failed-posting-rate": (rollups, None),
    "governance-coverage": (governance, "now"),
    "schema-change-lead-time": (schema_versions, None),
}


def test_every_kpi_has_a_worked_example():
    assert set(documented_results()) == set(KPIS) == set(EXAMPLES)


@pytest.mark.parametrize("key", sorted(EXAMPLES))
def test_worked_example_reproduces_the_documented_result(key):
    build, window = EXAMPLES[key]
    build()
    if window is None:
        window = Window(Period.DAY, DAY)
    elif window == "now":
        window = window_containing(Period.DAY, timezone.now().date())
    value, detail = KPIS[key].compute(window, ScopeType.ALL)[""]
    assert abs(Decimal(str(value)) - Decimal(documented_results()[key])) < Decimal("0.00005"), (value, detail)
    if key == "invoice-ready-backlog":
        assert detail["amount"] == "200.00"
    if key == "revenue-at-risk":
        assert detail["unconverted_count"] == 1 and detail["by_currency"]["USD"]["amount"] == "50.00"
    if key == "approved-time-to-invoice":
        assert detail["p90"] == pytest.approx(73.0)
