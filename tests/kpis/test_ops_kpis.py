"""The KPIs over exception queues, health rollups and governance, on small hand-computed
data sets, and their drill-down rows."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from exceptions.models import BusinessException, Queue
from health.models import HealthConfig, Probe, Rollup
from kpis.choices import Period, ScopeType
from kpis.definitions import KPIS
from kpis.periods import Window, window_containing
from tests.factories import (
    ApiFactory,
    EntityFactory,
    IntegrationFactory,
    SlaFactory,
    TeamFactory,
    WorkflowFactory,
)
from tests.stewardship.factories import SubjectFactory, VersionFactory

pytestmark = pytest.mark.django_db

DAY = dt.date(2026, 10, 14)
T0 = dt.datetime(2026, 10, 14, 9, 0, tzinfo=dt.UTC)
WINDOW = Window(Period.DAY, DAY)  # ends 2026-10-15 00:00, in the past: as_of is the window end


def exc(integration, queue, n, *, first_seen, resolved_at=None, status="new", amount=0, due_at=None, currency="EUR",
        **extra):
    return BusinessException.objects.create(
        integration=integration, queue=queue, error_code="E", message="m", fingerprint=f"fp{n}", status=status,
        first_seen=first_seen, resolved_at=resolved_at, amount_at_risk=amount, due_at=due_at, currency=currency,
        **extra,
    )


@pytest.fixture
def estate():
    team_a, team_b = TeamFactory(slug="billing-team"), TeamFactory(slug="data-team")
    wf = WorkflowFactory(slug="wf-x")
    ia = IntegrationFactory(slug="ia", owner_team=team_a, workflows=[wf])
    ib = IntegrationFactory(slug="ib", owner_team=team_b)
    qa = Queue.objects.create(name="Billing", slug="billing", team=team_a)
    qb = Queue.objects.create(name="Data", slug="data", team=team_b)
    return ia, ib, qa, qb, wf


def value(key, scope=ScopeType.ALL, window=WINDOW):
    return KPIS[key].compute(window, scope)


def test_open_exception_kpis_as_of_the_period_end(estate):
    ia, ib, qa, qb, _ = estate
    exc(ia, qa, 1, first_seen=T0, amount=100, due_at=T0 + dt.timedelta(hours=2))          # open, overdue by day end
    exc(ia, qa, 2, first_seen=T0, amount=50, due_at=T0 + dt.timedelta(days=5))            # open, not overdue
    exc(ib, qb, 3, first_seen=T0 - dt.timedelta(days=2), amount=25,
        status="resolved", resolved_at=T0 + dt.timedelta(days=3))                          # resolved after: still open then
    exc(ib, qb, 4, first_seen=T0, amount=999, status="resolved", resolved_at=T0 + dt.timedelta(hours=1))  # closed in time
    exc(ib, qb, 5, first_seen=T0 + dt.timedelta(days=2), amount=999)                      # seen after the period
    assert value("revenue-at-risk")[""][0] == Decimal("175.00")
    assert value("exception-backlog")[""] == (3.0, {"count": 3, "overdue": 1})
    assert value("overdue-share")[""][0] == pytest.approx(100 / 3, abs=1e-3)
    assert {k: v[0] for k, v in value("revenue-at-risk", ScopeType.TEAM).items()} == {"billing-team": 150.0, "data-team": 25.0}
    assert {k: v[0] for k, v in value("exception-backlog", ScopeType.WORKFLOW).items()} == {"wf-x": 2.0}
    rows = KPIS["exception-backlog"].rows(WINDOW, ScopeType.ALL, "")
    assert sorted(rows.values_list("fingerprint", flat=True)) == ["fp1", "fp2", "fp3"]


def test_time_to_resolve_and_within_target(estate):
    ia, _, qa, _, _ = estate
    qa.target_hours_medium = 5
    qa.save(update_fields=["target_hours_medium"])
    for n, hours in enumerate([2, 4, 12]):
        exc(ia, qa, n, first_seen=T0 - dt.timedelta(hours=hours), status="resolved", resolved_at=T0,
            due_at=T0 + dt.timedelta(hours=1))  # a reopen moved due_at past the resolution: the clock still ran
    exc(ia, qa, 9, first_seen=T0 - dt.timedelta(hours=50), status="dismissed", resolved_at=T0)  # not "resolved"
    p50, detail = value("time-to-resolve")[""]
    assert (p50, detail["p90"], detail["count"]) == (4.0, pytest.approx(10.4), 3)
    assert value("resolved-within-target")[""] == (Decimal("66.6667"), {"count": 3, "within_target": 2})


def test_a_reopen_does_not_restart_the_resolution_clock(estate, finance):
    """Through the real lifecycle: resolve, reopen (due_at moves), resolve again after the
    queue's target counted from the first sighting: not within target."""
    from exceptions import services as exc_services

    ia, _, qa, _, _ = estate
    qa.target_hours_medium = 5
    qa.save(update_fields=["target_hours_medium"])
    now = timezone.now()
    e = exc(ia, qa, 1, first_seen=now - dt.timedelta(hours=6), status="new", due_at=now - dt.timedelta(hours=1))
    exc_services.resolve(exception=e, actor=finance, resolution_code="fixed_at_source", note="x")
    e = exc_services.reopen(exception=BusinessException.objects.get(pk=e.pk), actor=finance, note="not fixed")
    assert e.due_at > timezone.now()  # the queue clock of the item moved ...
    exc_services.resolve(exception=BusinessException.objects.get(pk=e.pk), actor=finance, resolution_code="fixed_at_source", note="y")
    window = window_containing(Period.DAY, timezone.now().date())
    assert value("resolved-within-target", window=window)[""] == (Decimal("0.0000"), {"count": 1, "within_target": 0})


def test_availability_sla_attainment_freshness_and_failed_posting(estate):
    ia, ib, *_ = estate
    ia.criticality = 1
    ia.save(update_fields=["criticality"])
    SlaFactory(integration=ia, availability_target="99.0")
    SlaFactory(integration=ib, availability_target="90.0")
    Rollup.objects.create(integration=ia, granularity="h", period_start=T0, checks=100, checks_ok=95,
                          records_processed=1000, records_failed=10, max_lag_seconds=1800)
    Rollup.objects.create(integration=ib, granularity="h", period_start=T0, checks=100, checks_ok=100,
                          records_processed=1000, records_failed=0, max_lag_seconds=7200)
    Rollup.objects.create(integration=ib, granularity="d", period_start=T0, checks=5000, checks_ok=0)  # daily: ignored
    assert value("integration-availability")[""][0] == 97.5
    assert value("sla-attainment")[""] == (50.0, {"integrations": 2, "meeting": 1})
    assert value("sync-freshness")[""][0] == 30.0  # tier-1 only: ib's two hours do not count
    assert value("failed-posting-rate")[""][0] == 0.5
    assert {k: v[0] for k, v in value("integration-availability", ScopeType.INTEGRATION).items()} == {"ia": 95.0, "ib": 100.0}


def test_governance_coverage_and_its_rows():
    entity = EntityFactory()
    covered = IntegrationFactory(slug="covered", criticality=1, entities=[entity])
    SlaFactory(integration=covered)
    Probe.objects.create(integration=covered, url="https://x.example.com/health", next_due_at=timezone.now())
    VersionFactory(subject=SubjectFactory(entity=entity), status="approved", number=1)
    partial = IntegrationFactory(slug="partial", criticality=1, apis=[ApiFactory()])
    SlaFactory(integration=partial)
    HealthConfig.objects.create(integration=partial, expected_period_seconds=3600)
    IntegrationFactory(slug="tier2", criticality=2)
    IntegrationFactory(slug="gone", criticality=1, lifecycle="retired")
    window = window_containing(Period.DAY, timezone.now().date())
    pct, detail = value("governance-coverage", window=window)[""]
    assert pct == 50.0
    assert detail == {"tier1": 2, "covered": 1, "with_sla": 2, "with_health_check": 2, "with_approved_schema": 1}
    assert list(KPIS["governance-coverage"].rows(window, ScopeType.ALL, "").values_list("slug", flat=True)) == ["partial"]


def test_schema_change_lead_time():
    for n, hours in enumerate([10, 30]):
        VersionFactory(status="approved", number=1, submitted_at=T0 - dt.timedelta(hours=hours), approved_at=T0,
                       subject=SubjectFactory(slug=f"s{n}"))
    assert value("schema-change-lead-time")[""][0] == 20.0


def test_drilldown_rows_page_renders_exceptions(estate, client_as):
    ia, _, qa, _, _ = estate
    exc(ia, qa, 1, first_seen=T0, amount=10)
    response = client_as("executive").get(f"/kpis/rows/?kpi=exception-backlog&period=day&start={DAY}")
    assert response.status_code == 200
    assert [e.fingerprint for e in response.context["page_obj"]] == ["fp1"]


def test_sla_attainment_is_exact_on_every_database(estate):
    """75% against an 80% target misses it (SQLite once divided integers: 4 * 80 / 100 = 3)."""
    ia, ib, *_ = estate
    SlaFactory(integration=ia, availability_target="80.0")
    SlaFactory(integration=ib, availability_target="80.0")
    Rollup.objects.create(integration=ia, granularity="h", period_start=T0, checks=4, checks_ok=3)    # 75%
    Rollup.objects.create(integration=ib, granularity="h", period_start=T0, checks=5, checks_ok=4)    # 80%: meets
    assert value("sla-attainment")[""] == (50.0, {"integrations": 2, "meeting": 1})
