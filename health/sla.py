"""SLA figures over rolling windows, from the hourly rollups (SQL aggregates), and how
they compare with each integration's targets.

Definitions (see docs/health.md):
- availability % = passing checks / checks outside maintenance; integrations with no
  probe use successful runs / runs.
- p95 latency = the 95th percentile of the hourly p95s in the window (percentile_cont).
- worst freshness lag = the largest lag reported by runs in the window, or the time since
  the last successful run when that is larger (an integration that stopped reporting).
- failed-record rate = records failed / records processed.
- error budget remaining % = 100 x (1 - (100 - availability) / (100 - target)).
"""

import datetime as dt

from django.db.models import Max, Sum
from django.utils import timezone

from catalog.models import Sla
from exceptions.selectors import resolution_hours_by_integration

from .choices import WINDOWS, Granularity, SlaMetric
from .models import Flip, HealthConfig, Rollup
from .rollups import _adapt, _table, percentile_by_group


def figures(window: str = "30d", *, integration_ids=None, now=None) -> dict:
    """{integration_id: {availability, p95_latency_ms, worst_lag_seconds, failed_record_rate,
    checks, runs, ...}} for the window ending now."""
    now = now or timezone.now()
    since = now - dt.timedelta(hours=WINDOWS[window])
    rollups = Rollup.objects.filter(granularity=Granularity.HOUR, period_start__gte=since - dt.timedelta(hours=1) + dt.timedelta(seconds=1))
    rollups = rollups.filter(period_start__lte=now)
    if integration_ids is not None:
        rollups = rollups.filter(integration_id__in=list(integration_ids))
    sums = rollups.values("integration_id").annotate(
        checks=Sum("checks"), checks_ok=Sum("checks_ok"), runs=Sum("runs"), runs_failed=Sum("runs_failed"),
        records_processed=Sum("records_processed"), records_failed=Sum("records_failed"), max_lag=Max("max_lag_seconds"),
    ).order_by()
    params = [Granularity.HOUR.value, _adapt(since - dt.timedelta(hours=1) + dt.timedelta(seconds=1)), _adapt(now)]
    inner = (f"SELECT integration_id AS g, latency_p95_ms AS v FROM {_table(Rollup)} "
             "WHERE granularity = %s AND period_start >= %s AND period_start <= %s AND latency_p95_ms IS NOT NULL")
    if integration_ids is not None:
        ids = [int(i) for i in integration_ids] or [0]
        inner += f" AND integration_id IN ({', '.join(str(i) for i in ids)})"
    p95 = percentile_by_group(inner, params)
    last_success = dict(
        HealthConfig.objects.filter(expected_period_seconds__isnull=False, last_success_at__isnull=False)
        .filter(**({"integration_id__in": list(integration_ids)} if integration_ids is not None else {}))
        .values_list("integration_id", "last_success_at")
    )
    result = {}
    for row in sums:
        iid = row["integration_id"]
        if row["checks"]:
            availability = 100.0 * row["checks_ok"] / row["checks"]
        elif row["runs"]:
            availability = 100.0 * (row["runs"] - row["runs_failed"]) / row["runs"]
        else:
            availability = None
        lag = row["max_lag"]
        if iid in last_success:
            stale = int((now - last_success[iid]).total_seconds())
            lag = max(lag or 0, stale)
        result[iid] = {
            "availability": availability,
            "p95_latency_ms": p95.get(iid),
            "worst_lag_seconds": lag,
            "failed_record_rate": (100.0 * row["records_failed"] / row["records_processed"]) if row["records_processed"] else None,
            "checks": row["checks"] or 0,
            "runs": row["runs"] or 0,
        }
    return result


def downtime_seconds(integration_id, window="30d", now=None) -> int:
    """Seconds spent down in the window, from the flips."""
    now = now or timezone.now()
    since = now - dt.timedelta(hours=WINDOWS[window])
    flips = list(Flip.objects.filter(integration_id=integration_id, at__gte=since).order_by("at").values_list("at", "to_status", "from_status"))
    before = Flip.objects.filter(integration_id=integration_id, at__lt=since).order_by("-at").values_list("to_status", flat=True).first()
    down_since = since if before == "down" else None
    total = 0.0
    for at, to_status, _from in flips:
        if to_status == "down" and down_since is None:
            down_since = at
        elif to_status != "down" and down_since is not None:
            total += (at - down_since).total_seconds()
            down_since = None
    if down_since is not None:
        total += (now - down_since).total_seconds()
    return int(total)


def error_budget_remaining(availability, target):
    if availability is None or target is None:
        return None
    allowed = 100.0 - float(target)
    if allowed <= 0:
        return 0.0 if availability < 100 else 100.0
    return round(100.0 * (1 - (100.0 - availability) / allowed), 2)


def attainment(sla, figs: dict | None, resolution_hours=None) -> dict:
    """{metric: {"target", "value", "met"}} for the targets the SLA sets (met None = no data)."""
    figs = figs or {}
    out = {}
    if sla.availability_target is not None:
        value = figs.get("availability")
        out[SlaMetric.AVAILABILITY] = {
            "target": float(sla.availability_target), "value": value,
            "met": None if value is None else value >= float(sla.availability_target),
            "budget": error_budget_remaining(value, sla.availability_target),
        }
    if sla.p95_latency_ms is not None:
        value = figs.get("p95_latency_ms")
        out[SlaMetric.LATENCY] = {"target": sla.p95_latency_ms, "value": value,
                                  "met": None if value is None else value <= sla.p95_latency_ms}
    if sla.max_sync_lag_minutes is not None:
        value = figs.get("worst_lag_seconds")
        out[SlaMetric.FRESHNESS] = {"target": sla.max_sync_lag_minutes * 60, "value": value,
                                    "met": None if value is None else value <= sla.max_sync_lag_minutes * 60}
    if sla.exception_resolution_hours is not None and resolution_hours is not None:
        out[SlaMetric.EXCEPTION_RESOLUTION] = {"target": sla.exception_resolution_hours, "value": resolution_hours,
                                               "met": resolution_hours <= sla.exception_resolution_hours}
    return out


def exception_resolution_hours(integration_ids, *, window="30d", now=None) -> dict:
    """Mean exception resolution time (hours) per integration over the window (None: all)."""
    now = now or timezone.now()
    return resolution_hours_by_integration(
        integration_ids=integration_ids, since=now - dt.timedelta(hours=WINDOWS[window]), until=now
    )


def sla_rows(window="30d", *, slas=None, now=None):
    """[(sla, figures, attainment)] for the given SLA queryset (select_related integration)."""
    slas = list(slas if slas is not None else Sla.objects.select_related("integration", "integration__owner_team"))
    figs = figures(window, integration_ids=[s.integration_id for s in slas], now=now)
    resolution = exception_resolution_hours([s.integration_id for s in slas], window=window, now=now)
    return [(s, figs.get(s.integration_id), attainment(s, figs.get(s.integration_id), resolution.get(s.integration_id)))
            for s in slas]


SLA_TARGET_FIELDS = ("availability_target", "p95_latency_ms", "max_sync_lag_minutes", "exception_resolution_hours")


def attainment_of_every_sla(window="30d", *, now=None) -> dict:
    """{integration_id: attainment} for every SLA, for exports that cover the whole estate
    (/metrics): the targets as plain rows and the figures of all integrations at once, so
    10,000 SLAs cost the same few queries as one and no model instance is built per row."""
    from types import SimpleNamespace

    targets = Sla.objects.values("integration_id", *SLA_TARGET_FIELDS)
    figs = figures(window, now=now)
    resolution = exception_resolution_hours(None, window=window, now=now)
    return {row["integration_id"]: attainment(SimpleNamespace(**row), figs.get(row["integration_id"]),
                                              resolution.get(row["integration_id"]))
            for row in targets}
