"""SLA maths on known data: rollups from raw results, percentile (same on PostgreSQL and
SQLite), availability, error budget, freshness, breaches opened once and closed."""

import datetime as dt
import statistics

import pytest
from django.utils import timezone

from health.choices import Granularity, SlaMetric
from health.models import HealthConfig, ProbeResult, Rollup, SlaBreach, SyncRun
from health.rollups import percentile_by_group, rollup_day, rollup_hour
from health.sla import attainment, downtime_seconds, error_budget_remaining, figures
from tests.factories import SlaFactory
from tests.health.factories import ProbeFactory

pytestmark = pytest.mark.django_db


def _hour():
    return timezone.now().replace(minute=0, second=0, microsecond=0) - dt.timedelta(hours=2)


def _results(probe, start, latencies, failures=0, maintenance=0):
    rows = []
    for i, ms in enumerate(latencies):
        rows.append(ProbeResult(probe=probe, integration_id=probe.integration_id, scheduled_at=start + dt.timedelta(seconds=i),
                                checked_at=start + dt.timedelta(seconds=i), ok=i >= failures + maintenance,
                                in_maintenance=i < maintenance, status_code=200, response_ms=ms))
    ProbeResult.objects.bulk_create(rows)


def test_hourly_rollup_counts_and_p95_match_percentile_cont():
    probe = ProbeFactory()
    start = _hour()
    latencies = [100, 120, 130, 150, 180, 200, 220, 400, 900, 1000]
    _results(probe, start, latencies, failures=1)
    rollup_hour(start)
    r = Rollup.objects.get(integration=probe.integration, granularity=Granularity.HOUR, period_start=start)
    assert (r.checks, r.checks_ok) == (10, 9)
    # percentile_cont(0.95): rank 0.95 * 9 = 8.55 -> 900 + 0.55 * (1000 - 900)
    assert r.latency_p95_ms == pytest.approx(955.0)
    assert r.latency_p95_ms == pytest.approx(statistics.quantiles(latencies, n=100, method="inclusive")[94])
    assert r.latency_max_ms == 1000
    assert r.latency_avg_ms == pytest.approx(sum(latencies) / 10)
    # idempotent: recomputing gives one row with the same figures
    rollup_hour(start)
    assert Rollup.objects.filter(integration=probe.integration, granularity=Granularity.HOUR).count() == 1


def test_percentile_helper_on_known_groups():
    from django.db import connection

    table = ProbeResult._meta.db_table
    probe_a, probe_b = ProbeFactory(), ProbeFactory()
    start = _hour()
    _results(probe_a, start, [10, 20, 30, 40])
    _results(probe_b, start, [5])
    got = percentile_by_group(
        f"SELECT integration_id AS g, response_ms AS v FROM {connection.ops.quote_name(table)}", [], 0.5)
    assert got[probe_a.integration_id] == pytest.approx(25.0)
    assert got[probe_b.integration_id] == pytest.approx(5.0)


def test_daily_rollup_sums_hours():
    probe = ProbeFactory()
    start = _hour().replace(hour=0) - dt.timedelta(days=1)
    for h in range(3):
        _results(probe, start + dt.timedelta(hours=h), [100] * 10, failures=h)
        rollup_hour(start + dt.timedelta(hours=h))
    rollup_day(start)
    day = Rollup.objects.get(integration=probe.integration, granularity=Granularity.DAY)
    assert (day.checks, day.checks_ok) == (30, 27)


def test_window_figures_availability_latency_freshness_and_records():
    sla = SlaFactory(availability_target="99.0", p95_latency_ms=500, max_sync_lag_minutes=10)
    integration = sla.integration
    now = timezone.now().replace(minute=30, second=0, microsecond=0)
    base = now.replace(minute=0)
    Rollup.objects.bulk_create([
        Rollup(integration=integration, granularity=Granularity.HOUR, period_start=base - dt.timedelta(hours=h),
               checks=100, checks_ok=100 if h else 97, latency_p95_ms=200 + 10 * h, runs=2, runs_failed=0,
               records_processed=1000, records_failed=5, max_lag_seconds=60 * h)
        for h in range(24)
    ] + [
        # outside the 24 h window; inside 7 d
        Rollup(integration=integration, granularity=Granularity.HOUR, period_start=base - dt.timedelta(hours=30),
               checks=100, checks_ok=0, latency_p95_ms=5000),
    ])
    figs = figures("24h", now=now)[integration.pk]
    assert figs["availability"] == pytest.approx(100 * (2400 - 3) / 2400)
    hourly = sorted(200 + 10 * h for h in range(24))
    assert figs["p95_latency_ms"] == pytest.approx(statistics.quantiles(hourly, n=100, method="inclusive")[94])
    assert figs["worst_lag_seconds"] == 60 * 23
    assert figs["failed_record_rate"] == pytest.approx(0.5)
    week = figures("7d", now=now)[integration.pk]
    assert week["availability"] == pytest.approx(100 * (2500 - 103) / 2500)
    result = attainment(sla, figs)
    assert result[SlaMetric.AVAILABILITY]["met"] is True
    assert result[SlaMetric.LATENCY]["met"] is True
    assert result[SlaMetric.FRESHNESS]["met"] is False  # 23 min > 10 min
    assert result[SlaMetric.AVAILABILITY]["budget"] == pytest.approx(87.5)


def test_staleness_counts_as_freshness_lag():
    sla = SlaFactory(max_sync_lag_minutes=30)
    now = timezone.now()
    HealthConfig.objects.create(integration=sla.integration, expected_period_seconds=600,
                                last_success_at=now - dt.timedelta(hours=2))
    Rollup.objects.create(integration=sla.integration, granularity=Granularity.HOUR,
                          period_start=now.replace(minute=0, second=0, microsecond=0), runs=1, max_lag_seconds=5)
    figs = figures("24h", now=now)[sla.integration_id]
    assert figs["worst_lag_seconds"] >= 7200


def test_error_budget():
    assert error_budget_remaining(99.95, 99.9) == pytest.approx(50.0)
    assert error_budget_remaining(99.8, 99.9) == pytest.approx(-100.0)
    assert error_budget_remaining(None, 99.9) is None


def test_downtime_from_flips():
    from health.models import Flip

    probe = ProbeFactory()
    now = timezone.now()
    Flip.objects.create(integration=probe.integration, from_status="up", to_status="down", reason="x", at=now - dt.timedelta(minutes=50))
    Flip.objects.create(integration=probe.integration, from_status="down", to_status="up", reason="x", at=now - dt.timedelta(minutes=30))
    Flip.objects.create(integration=probe.integration, from_status="up", to_status="down", reason="x", at=now - dt.timedelta(minutes=10))
    assert downtime_seconds(probe.integration_id, "24h", now) == 30 * 60


def test_breach_opens_once_and_closes_on_recovery():
    from health.breaches import evaluate_breaches

    sla = SlaFactory(availability_target="99.0", p95_latency_ms=None, max_sync_lag_minutes=None,
                     exception_resolution_hours=None, measurement_window="24h")
    now = timezone.now()
    bad = Rollup.objects.create(integration=sla.integration, granularity=Granularity.HOUR,
                                period_start=now.replace(minute=0, second=0, microsecond=0), checks=100, checks_ok=90)
    assert evaluate_breaches(now=now) == (1, 0)
    assert evaluate_breaches(now=now) == (0, 0)  # deduplicated
    breach = SlaBreach.objects.get()
    assert breach.metric == SlaMetric.AVAILABILITY and breach.closed_at is None
    assert breach.fingerprint == f"health:sla:{sla.integration.slug}:availability"
    Rollup.objects.filter(pk=bad.pk).update(checks_ok=100)
    assert evaluate_breaches(now=now) == (0, 1)
    breach.refresh_from_db()
    assert breach.closed_at is not None


def test_runs_only_integration_availability_from_runs():
    sla = SlaFactory()
    now = timezone.now()
    start = now.replace(minute=0, second=0, microsecond=0)
    for i, status in enumerate(["success", "success", "failed", "success"]):
        SyncRun.objects.create(integration=sla.integration, run_key=str(i), status=status,
                               finished_at=start + dt.timedelta(minutes=i), records_processed=10)
    rollup_hour(start)
    assert figures("24h", now=start + dt.timedelta(minutes=59))[sla.integration_id]["availability"] == pytest.approx(75.0)
