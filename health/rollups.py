"""Hourly and daily rollups, computed in SQL, and the percentile helper used by SLA
evaluation (``controlplane.sql``: percentile_cont on PostgreSQL, the same interpolation on
SQLite)."""

import datetime as dt

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Avg, Count, Max, Q, Sum
from django.utils import timezone

from controlplane.sql import fetch, grouped_percentiles

from .choices import Granularity, RunStatus
from .models import HeartbeatPing, ProbeResult, Rollup, SyncRun


def percentile_by_group(inner_sql: str, params, fraction: float = 0.95) -> dict:
    """``{g: percentile}`` over ``inner_sql``, which must select columns ``g`` and ``v``
    (percentile_cont's linear interpolation on both databases)."""
    rows = fetch(grouped_percentiles(inner_sql, (float(fraction),)), params)
    return {g: (float(p) if p is not None else None) for g, _n, p in rows}


def _hour(moment):
    return moment.replace(minute=0, second=0, microsecond=0)


def _day(moment):
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def _table(model):
    return connection.ops.quote_name(model._meta.db_table)


def _adapt(value):
    return connection.ops.adapt_datetimefield_value(value)


@transaction.atomic
def rollup_hour(start: dt.datetime) -> int:
    """(Re)compute the hourly rollups of the hour starting at ``start``. Idempotent."""
    start = _hour(start)
    end = start + dt.timedelta(hours=1)
    counted = ~Q(in_maintenance=True)
    checks = {
        row["integration_id"]: row
        for row in ProbeResult.objects.filter(checked_at__gte=start, checked_at__lt=end)
        .values("integration_id")
        .annotate(
            checks=Count("pk", filter=counted), checks_ok=Count("pk", filter=counted & Q(ok=True)),
            checks_maintenance=Count("pk", filter=Q(in_maintenance=True)),
            latency_avg_ms=Avg("response_ms", filter=counted), latency_max_ms=Max("response_ms", filter=counted),
        )
        .order_by()
    }
    p95 = percentile_by_group(
        f"SELECT integration_id AS g, response_ms AS v FROM {_table(ProbeResult)} "
        "WHERE checked_at >= %s AND checked_at < %s AND in_maintenance = %s AND response_ms IS NOT NULL",
        [_adapt(start), _adapt(end), False],
    )
    runs = {
        row["integration_id"]: row
        for row in SyncRun.objects.filter(finished_at__gte=start, finished_at__lt=end, in_maintenance=False)
        .values("integration_id")
        .annotate(
            runs=Count("pk"), runs_failed=Count("pk", filter=Q(status=RunStatus.FAILED)),
            records_processed=Sum("records_processed"), records_failed=Sum("records_failed"),
            max_lag_seconds=Max("lag_seconds"),
        )
        .order_by()
    }
    rows = []
    for integration_id in set(checks) | set(runs):
        c, r = checks.get(integration_id, {}), runs.get(integration_id, {})
        rows.append(Rollup(
            integration_id=integration_id, granularity=Granularity.HOUR, period_start=start,
            checks=c.get("checks") or 0, checks_ok=c.get("checks_ok") or 0, checks_maintenance=c.get("checks_maintenance") or 0,
            latency_avg_ms=c.get("latency_avg_ms"), latency_p95_ms=p95.get(integration_id), latency_max_ms=c.get("latency_max_ms"),
            runs=r.get("runs") or 0, runs_failed=r.get("runs_failed") or 0, records_processed=r.get("records_processed") or 0,
            records_failed=r.get("records_failed") or 0, max_lag_seconds=r.get("max_lag_seconds"),
        ))
    Rollup.objects.filter(granularity=Granularity.HOUR, period_start=start).delete()
    Rollup.objects.bulk_create(rows, batch_size=2000)
    return len(rows)


@transaction.atomic
def rollup_day(start: dt.datetime) -> int:
    """(Re)compute the daily rollups of one UTC day from its hourly rollups."""
    start = _day(start)
    end = start + dt.timedelta(days=1)
    hourly = Rollup.objects.filter(granularity=Granularity.HOUR, period_start__gte=start, period_start__lt=end)
    sums = hourly.values("integration_id").annotate(
        checks=Sum("checks"), checks_ok=Sum("checks_ok"), checks_maintenance=Sum("checks_maintenance"),
        latency_max_ms=Max("latency_max_ms"), runs=Sum("runs"), runs_failed=Sum("runs_failed"),
        records_processed=Sum("records_processed"), records_failed=Sum("records_failed"),
        max_lag_seconds=Max("max_lag_seconds"), latency_weighted=Sum(
            "latency_avg_ms", filter=Q(latency_avg_ms__isnull=False)),
        hours_with_latency=Count("pk", filter=Q(latency_avg_ms__isnull=False)),
    ).order_by()
    p95 = percentile_by_group(
        f"SELECT integration_id AS g, latency_p95_ms AS v FROM {_table(Rollup)} "
        "WHERE granularity = %s AND period_start >= %s AND period_start < %s AND latency_p95_ms IS NOT NULL",
        [Granularity.HOUR.value, _adapt(start), _adapt(end)],
    )
    rows = [
        Rollup(
            integration_id=s["integration_id"], granularity=Granularity.DAY, period_start=start,
            checks=s["checks"] or 0, checks_ok=s["checks_ok"] or 0, checks_maintenance=s["checks_maintenance"] or 0,
            latency_avg_ms=(s["latency_weighted"] / s["hours_with_latency"]) if s["hours_with_latency"] else None,
            latency_p95_ms=p95.get(s["integration_id"]), latency_max_ms=s["latency_max_ms"], runs=s["runs"] or 0,
            runs_failed=s["runs_failed"] or 0, records_processed=s["records_processed"] or 0,
            records_failed=s["records_failed"] or 0, max_lag_seconds=s["max_lag_seconds"],
        )
        for s in sums
    ]
    Rollup.objects.filter(granularity=Granularity.DAY, period_start=start).delete()
    Rollup.objects.bulk_create(rows, batch_size=2000)
    return len(rows)


def rollup_recent(now=None):
    """The current and previous hour, and today and yesterday: cheap enough to run every
    few minutes, so charts and SLA figures lag by minutes, not hours."""
    now = now or timezone.now()
    count = rollup_hour(_hour(now) - dt.timedelta(hours=1)) + rollup_hour(_hour(now))
    count += rollup_day(_day(now) - dt.timedelta(days=1)) + rollup_day(_day(now))
    return count


def rollup_range(start, end):
    """Backfill every hour and day between ``start`` and ``end``."""
    hour = _hour(start)
    while hour <= end:
        rollup_hour(hour)
        hour += dt.timedelta(hours=1)
    day = _day(start)
    while day <= end:
        rollup_day(day)
        day += dt.timedelta(days=1)


def prune(now=None):
    """Drop raw results past their retention, and old hourly rollups (daily stay longer)."""
    now = now or timezone.now()
    keep_raw = dt.timedelta(days=getattr(settings, "HEALTH_RESULT_RETENTION_DAYS", 7))
    keep_hourly = dt.timedelta(days=getattr(settings, "HEALTH_HOURLY_ROLLUP_RETENTION_DAYS", 35))
    keep_daily = dt.timedelta(days=getattr(settings, "HEALTH_DAILY_ROLLUP_RETENTION_DAYS", 400))
    deleted = 0
    while True:  # in chunks so one prune never holds a huge lock
        ids = list(ProbeResult.objects.filter(checked_at__lt=now - keep_raw).values_list("pk", flat=True)[:10000])
        if not ids:
            break
        deleted += ProbeResult.objects.filter(pk__in=ids).delete()[0]
    keep_pings = dt.timedelta(days=getattr(settings, "HEARTBEAT_PING_RETENTION_DAYS", 30))
    while True:
        ids = list(HeartbeatPing.objects.filter(received_at__lt=now - keep_pings).values_list("pk", flat=True)[:10000])
        if not ids:
            break
        deleted += HeartbeatPing.objects.filter(pk__in=ids).delete()[0]
    Rollup.objects.filter(granularity=Granularity.HOUR, period_start__lt=now - keep_hourly).delete()
    Rollup.objects.filter(granularity=Granularity.DAY, period_start__lt=now - keep_daily).delete()
    return deleted
