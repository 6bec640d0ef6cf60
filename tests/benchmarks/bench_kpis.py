"""KPI refresh on PostgreSQL with 1,000,000 business events, 1,000,000 business
exceptions and 5,000,000 probe results (rolled up hourly by the health code, as in
production).

Prints: time of a full refresh (every KPI, every scope, the current day/week/month windows)
beside the floor (the same SQL statements run directly with psycopg: no Django, no
snapshot writes), per-KPI timings, and a late batch of 1,000 events for past days:
ingested (marking every snapshot they touch), then the debounced drain. Money is GBP,
converted to EUR with daily rates. Sizes: BENCH_KPI_EVENTS, BENCH_KPI_EXCEPTIONS, BENCH_KPI_RESULTS.

Needs DATABASE_URL pointing at PostgreSQL; builds and drops its own test database.
"""

import datetime as dt
import os
import time
from decimal import Decimal

EVENTS = int(os.environ.get("BENCH_KPI_EVENTS", "1000000"))
EXCEPTIONS = int(os.environ.get("BENCH_KPI_EXCEPTIONS", "1000000"))
RESULTS = int(os.environ.get("BENCH_KPI_RESULTS", "5000000"))


def _insert_series(cursor, model, count, expressions, params=()):
    """INSERT ``count`` generated rows into ``model``'s table; columns not in
    ``expressions`` get a neutral value for their type (NULL where allowed)."""
    from django.db import models

    columns, values = [], []
    for field in model._meta.concrete_fields:
        if field.primary_key:
            continue
        columns.append(field.column)
        if field.column in expressions:
            values.append(expressions[field.column])
        elif field.null:
            values.append("NULL")
        elif isinstance(field, models.JSONField):
            values.append("'{}'::jsonb")
        elif isinstance(field, models.BooleanField):
            values.append("false")
        elif isinstance(field, models.DateTimeField):
            values.append("now()")
        elif isinstance(field, models.IntegerField | models.DecimalField | models.FloatField):
            values.append("0")
        else:
            values.append("''")
    cursor.execute(
        f"INSERT INTO {model._meta.db_table} ({', '.join(columns)}) "
        f"SELECT {', '.join(values)} FROM generate_series(1, %s) AS g",
        [*params, count],
    )


def _generate_operations(now, integrations):
    """1M exceptions over 180 days (70% resolved) and 5M probe results over 30 days, then
    the hourly rollups the health app would have made from them."""
    from django.db import connection

    from exceptions.models import BusinessException, Queue
    from health import rollups
    from health.models import Probe, ProbeResult

    queues = [Queue.objects.create(name=f"Bench queue {i}", slug=f"bench-queue-{i}", team=integrations[i].owner_team)
              for i in range(6)]
    integration_ids = [i.id for i in integrations]
    started = time.perf_counter()
    with connection.cursor() as cur:
        _insert_series(cur, BusinessException, EXCEPTIONS, {
            "integration_id": f"(ARRAY{integration_ids})[1 + (g %% {len(integration_ids)})]",
            "queue_id": f"(ARRAY{[q.id for q in queues]})[1 + (g %% {len(queues)})]",
            "error_code": "'E' || (g %% 40)", "message": "'bench'",
            "severity": "(ARRAY['critical','high','medium','low'])[1 + (g %% 4)]",
            "reported_severity": "'medium'",
            "status": "CASE WHEN g %% 10 < 7 THEN 'resolved' ELSE 'new' END",
            "fingerprint": "'bench-' || g", "occurrences": "1",
            "amount_at_risk": "(g %% 9000) + 10", "currency": "'GBP'",
            "first_seen": "%s::timestamptz - ((g %% 180) || ' days')::interval",
            "last_seen": "%s::timestamptz - ((g %% 180) || ' days')::interval",
            "due_at": "%s::timestamptz - ((g %% 180) || ' days')::interval + ((g %% 96) || ' hours')::interval",
            "resolved_at": "CASE WHEN g %% 10 < 7 THEN %s::timestamptz - ((g %% 180) || ' days')::interval"
                           " + ((g %% 120) || ' hours')::interval END",
        }, params=[now, now, now, now])
        cur.execute("ANALYZE exceptions_businessexception")
    print(f"generated {EXCEPTIONS:,} exceptions in {time.perf_counter() - started:.1f} s")

    probes = [Probe.objects.create(integration=i, url=f"https://{i.slug}.example.com/health", next_due_at=now)
              for i in integrations]
    started = time.perf_counter()
    step = max(1, (30 * 24 * 3600 * len(probes)) // RESULTS)  # seconds between runs of one probe
    with connection.cursor() as cur:
        _insert_series(cur, ProbeResult, RESULTS, {
            "probe_id": f"(ARRAY{[p.id for p in probes]})[1 + (g %% {len(probes)})]",
            "integration_id": f"(ARRAY{integration_ids})[1 + (g %% {len(integration_ids)})]",
            "scheduled_at": f"%s::timestamptz - (((g / {len(probes)}) * {step}) || ' seconds')::interval",
            "checked_at": f"%s::timestamptz - (((g / {len(probes)}) * {step}) || ' seconds')::interval",
            "ok": "g %% 50 <> 0", "status_code": "CASE WHEN g %% 50 = 0 THEN 503 ELSE 200 END",
            "response_ms": "50 + (g %% 400)",
        }, params=[now, now])
        cur.execute("ANALYZE health_proberesult")
    print(f"generated {RESULTS:,} probe results in {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    rollups.rollup_range(now - dt.timedelta(days=30), now)
    print(f"rolled them up (hourly and daily, health's own SQL) in {time.perf_counter() - started:.1f} s")


def main():
    from django.db import connection

    if connection.vendor != "postgresql":
        print("skipped: set DATABASE_URL to a PostgreSQL database to run this benchmark")
        return
    from django.db import connections

    creation = connections["default"].creation
    name = creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    try:
        run(name)
    finally:
        creation.destroy_test_db(name, verbosity=0)


def run(dbname):
    import psycopg
    from django.conf import settings
    from django.db import connection
    from django.utils import timezone

    from catalog.models import Workflow
    from kpis import services
    from kpis.choices import Period, ScopeType
    from kpis.definitions import KPIS
    from kpis.models import BusinessEvent
    from kpis.periods import window_containing
    from tests.factories import IntegrationFactory, TeamFactory

    teams = [TeamFactory(slug=f"bench-team-{i}") for i in range(8)]
    integrations = [IntegrationFactory(slug=f"bench-int-{i}", owner_team=teams[i % 8]) for i in range(60)]
    workflow_ids = list(Workflow.objects.values_list("id", flat=True))
    now = timezone.now()
    started = time.perf_counter()
    # Pairs of start/end events spread over 180 days, keys shared by the pair.
    types = ["time_approved", "invoice_posted", "closed_won", "project_activated", "milestone_completed", "invoice_ready"]
    with connection.cursor() as cur:
        cur.execute(
            f"""
            INSERT INTO kpis_businessevent (event_id, type, correlation_key, occurred_at, workflow_id, integration_id,
                                            amount, currency, attributes, received_at)
            SELECT 'b' || g,
                   (ARRAY{types})[1 + (g %% 6)],
                   'K' || (g / 2),
                   %s::timestamptz - ((g %% 180) || ' days')::interval + ((g %% 2) * (1 + g %% 97) || ' hours')::interval,
                   (ARRAY{workflow_ids})[1 + (g %% {len(workflow_ids)})],
                   (ARRAY{[i.id for i in integrations]})[1 + (g %% {len(integrations)})],
                   (g %% 5000) + 100, 'GBP', '{{}}'::jsonb, now()
            FROM generate_series(1, %s) AS g
            """,
            [now, EVENTS],
        )
    services.close_ready_invoices()
    # Daily EUR->GBP reference rates (ECB-style, weekdays only) so every money KPI converts.
    with connection.cursor() as cur:
        cur.execute(
            "INSERT INTO kpis_fxrate (base, quote, date, rate, source, updated_at) "
            "SELECT 'EUR', 'GBP', d::date, 0.85 + (extract(doy FROM d) %% 10) / 1000.0, 'bench', now() "
            "FROM generate_series(%s::date - 200, %s::date, '1 day') AS d WHERE extract(isodow FROM d) < 6",
            [now.date(), now.date()],
        )
        cur.execute("ANALYZE kpis_businessevent")
        cur.execute("ANALYZE kpis_fxrate")
    print(f"generated {BusinessEvent.objects.count():,} events in {time.perf_counter() - started:.1f} s")
    _generate_operations(now, integrations)

    windows = [window_containing(p, now.date()) for p in Period.values]
    # Warm caches once so both sides read from memory.
    for w in windows:
        services.refresh_window(w)

    t = time.perf_counter()
    snapshots = sum(services.refresh_window(w) for w in windows)
    ours = time.perf_counter() - t

    # The floor: the same SQL statements, straight through psycopg.
    statements = []
    from django.db.backends.utils import CursorWrapper

    original = CursorWrapper.execute

    def capture(self, sql, params=None):
        statements.append((sql, params))
        return original(self, sql, params)

    CursorWrapper.execute = capture
    try:
        for w in windows:
            for kpi in KPIS.values():
                for scope in kpi.scope_types:
                    kpi.compute(w, scope)
    finally:
        CursorWrapper.execute = original
    db = settings.DATABASES["default"]
    # The floor runs with the application's connection options (JIT off, see settings).
    conninfo = (f"host={db['HOST'] or '127.0.0.1'} port={db['PORT'] or 5432} user={db['USER']} dbname={dbname} "
                f"options='{db['OPTIONS'].get('options', '')}'")
    with psycopg.connect(conninfo) as raw:
        t = time.perf_counter()
        for sql, params in statements:
            raw.execute(sql, params).fetchall()
        floor = time.perf_counter() - t
    print(f"full refresh ({len(windows)} windows, {len(KPIS)} KPIs x {len(ScopeType.values)} scopes, "
          f"{snapshots} snapshots, {len(statements)} statements): {ours:.3f} s; floor (same SQL via psycopg): {floor:.3f} s; ratio {ours / floor:.2f}x")

    for kpi in KPIS.values():
        parts = []
        for w in windows:
            t = time.perf_counter()
            for scope in kpi.scope_types:
                kpi.compute(w, scope)
            parts.append(f"{w.period} {time.perf_counter() - t:.3f}s")
        print(f"  {kpi.key}: {', '.join(parts)}")

    # A late batch: 1,000 events for three past days (ready and posted invoices, time
    # approvals), through ingestion, which marks every snapshot they touch (backlogs up to
    # today included); then the one debounced drain recomputes them.
    from kpis.models import KpiDirtyWindow

    late_days = [now - dt.timedelta(days=d) for d in (9, 10, 11)]
    batch = [
        dict(event_id=f"late-{n}", type=("invoice_ready", "invoice_posted", "time_approved")[n % 3],
             correlation_key=f"LATE{n // 3}", occurred_at=late_days[n % 3] - dt.timedelta(minutes=n),
             integration_id=integrations[n % 60].id, amount=Decimal("125.50"), currency="GBP", attributes={})
        for n in range(1000)
    ]
    t = time.perf_counter()
    services.ingest_events(items=batch)
    ingest = time.perf_counter() - t
    marked = KpiDirtyWindow.objects.count()
    t = time.perf_counter()
    written = services.refresh_dirty()
    drain = time.perf_counter() - t
    print(f"late batch of 1,000 events for 3 past days: ingest + mark {ingest:.3f} s ({marked} KPI windows marked), "
          f"drain {drain:.3f} s ({written} snapshots); total {ingest + drain:.3f} s (target <= 1 s)")
