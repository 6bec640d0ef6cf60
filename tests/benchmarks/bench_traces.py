"""Business transaction traces on PostgreSQL: the header search (a key opens its trace)
and the trace page, p50/p95 over 100 random keys, with 1,000,000 business events,
1,000,000 exceptions, 100,000 sync runs, 50,000 replay attempts and 2,000
reconciliations generated set-based (generate_series). Keys sit in JSON under names no
list declares (``attributes.timesheet``, ``business_keys.purchase_order``, a run's list),
so every lookup goes through the GIN indexes of traces/migrations/0002.

Baseline in the same run: the exception list filtered by the same key (``?q=``, the
indexed exact-key filter that existed before traces) and a bare ``/healthz``.
Runs in its own throw-away database (test_<name>_bench); needs DATABASE_URL on PostgreSQL.
``BENCH_TRACE_ROWS`` scales the two big tables (default 1,000,000; runs are a tenth).
"""

import importlib
import os
import random
import statistics
import time

TARGET_MS = 300


def main():
    from django.db import connection

    from tests.benchmarks import test_database

    if not os.environ.get("DATABASE_URL") or connection.vendor != "postgresql":
        print("skipped: bench_traces needs PostgreSQL (set DATABASE_URL=postgres://...)")
        return
    # its own database, so it never collides with a pytest run's test_<name>
    connection.settings_dict.setdefault("TEST", {})["NAME"] = f"test_{connection.settings_dict['NAME']}_bench"
    with test_database():
        _run(int(os.environ.get("BENCH_TRACE_ROWS", "1000000")))


def _generate(rows: int, integrations: list[int], queues: list[int]) -> dict:
    from django.db import connection

    keys = rows // 3  # about three events and three exceptions per invoice
    timings = {}
    indexes = importlib.import_module("traces.migrations.0002_business_key_indexes")
    with connection.schema_editor() as editor:  # load first, index after: as a bulk import would
        indexes.drop(None, editor)
    with connection.cursor() as cur:
        started = time.perf_counter()
        cur.execute(
            """
            INSERT INTO kpis_businessevent (event_id, workflow_id, integration_id, type, correlation_key, occurred_at,
              amount, currency, attributes, received_at, closed_at)
            SELECT 'bench-' || g, NULL, (%s::bigint[])[1 + g %% %s],
              (ARRAY['time_approved','invoice_ready','invoice_posted','payment_received'])[1 + g %% 4],
              CASE WHEN g %% 10 = 0 THEN 'PRJ-' || (g %% 5000) ELSE 'INV-B-' || (g %% %s) END,
              now() - (g || ' seconds')::interval, (g %% 90000) / 7.0, (ARRAY['GBP','USD','EUR'])[1 + g %% 3],
              CASE WHEN g %% 10 = 0 THEN jsonb_build_object('invoice', 'INV-B-' || (g %% %s), 'timesheet', 'TS-' || g)
                   ELSE jsonb_build_object('project', 'PRJ-' || (g %% 5000)) END,
              now(), NULL
            FROM generate_series(1, %s) AS g
            """, [integrations, len(integrations), keys, keys, rows])
        timings[f"{rows:,} business events"] = time.perf_counter() - started
        started = time.perf_counter()
        cur.execute(
            """
            INSERT INTO exceptions_businessexception (integration_id, error_code, message, severity, reported_severity,
              status, queue_id, business_keys, invoice_number, project_code, client, legal_entity, contract,
              amount_at_risk, currency, correlation_id, fingerprint, occurrences, regressions, first_seen, last_seen,
              due_at, is_overdue, resolution_code, resolution_note, payload, details, updated_at)
            SELECT (%s::bigint[])[1 + g %% %s], (ARRAY['TAX_CODE_MISMATCH','RATE_CARD_MISMATCH','ERP_POSTING_REJECTED'])[1 + g %% 3],
              'Generated', 'medium', 'medium', (ARRAY['new','in_progress','resolved'])[1 + g %% 3],
              (%s::bigint[])[1 + (g / 3) %% %s],
              CASE WHEN g %% 4 = 0 THEN jsonb_build_object('purchase_order', 'INV-B-' || (g %% %s))
                   ELSE jsonb_build_object('invoice_number', 'INV-B-' || (g %% %s)) END,
              CASE WHEN g %% 4 = 0 THEN '' ELSE 'INV-B-' || (g %% %s) END, '', '', '', '',
              (g %% 50000) / 3.0, (ARRAY['GBP','USD','EUR'])[1 + g %% 3], 'corr-' || g, 'bench-' || g, 1, 0,
              now() - (g || ' seconds')::interval, now() - (g || ' seconds')::interval, NULL, false, '', '', NULL,
              '{}'::jsonb, now()
            FROM generate_series(1, %s) AS g
            """, [integrations, len(integrations), queues, len(queues), keys, keys, keys, rows])
        timings[f"{rows:,} exceptions"] = time.perf_counter() - started
        started = time.perf_counter()
        cur.execute(
            """
            INSERT INTO health_syncrun (integration_id, run_key, source, status, started_at, finished_at, received_at,
              records_processed, records_failed, lag_seconds, in_maintenance, clock_skew_seconds, reported_by_id,
              business_keys)
            SELECT (%s::bigint[])[1 + g %% %s], 'run-' || g, 'api', (ARRAY['success','success','failed'])[1 + g %% 3],
              NULL, now() - (g * 10 || ' seconds')::interval, now(), 10, 0, NULL, false, 0, NULL,
              jsonb_build_array('INV-B-' || ((g * 3) %% %s), 'INV-B-' || ((g * 3 + 1) %% %s), 'INV-B-' || ((g * 3 + 2) %% %s))
            FROM generate_series(1, %s) AS g
            """, [integrations, len(integrations), keys, keys, keys, rows // 10])
        cur.execute(
            """
            INSERT INTO exceptions_replayattempt (exception_id, replay_id, attempt, requested_by_id, started_at,
              finished_at, url, status_code, succeeded, error, response_excerpt, duration_ms)
            SELECT e.id, gen_random_uuid(), 1, NULL, e.first_seen + interval '1 hour', e.first_seen + interval '1 hour',
              'https://erp.example/replay', 200, true, '', '', 120
            FROM exceptions_businessexception e WHERE e.id % 20 = 0
            """)
        timings[f"{rows // 10:,} runs + replays"] = time.perf_counter() - started
        started = time.perf_counter()
        cur.execute("SELECT id FROM catalog_canonicalentity LIMIT 1")
        entity = cur.fetchone()[0]
        cur.execute(
            """
            INSERT INTO kpis_reconciliation (integration_id, entity_id, period_start, period_end, source_count,
              target_count, source_amount, target_amount, mismatched_count, mismatched_sample, currency, received_at)
            SELECT (%s::bigint[])[1 + g %% %s], %s, current_date - g, current_date - g, 100, 99, NULL, NULL, 1,
              jsonb_build_array('INV-B-' || (g * 7 %% %s)), 'GBP', now()
            FROM generate_series(1, 2000) AS g
            """, [integrations, len(integrations), entity, keys])
        timings["2,000 reconciliations"] = time.perf_counter() - started
        started = time.perf_counter()
        with connection.schema_editor() as editor:
            indexes.create(None, editor)
        timings["key indexes (GIN, b-tree)"] = time.perf_counter() - started
        started = time.perf_counter()
        # What autovacuum does after a bulk load: merge the GIN pending lists, set statistics.
        for table in ("kpis_businessevent", "exceptions_businessexception", "health_syncrun", "exceptions_replayattempt",
                      "kpis_reconciliation"):
            cur.execute(f"VACUUM ANALYZE {table}")
        timings["VACUUM ANALYZE"] = time.perf_counter() - started
    return timings


def _percentiles(samples):
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[max(0, int(round(0.95 * len(ordered))) - 1)]


def _run(rows):
    from django.test import Client

    from controlplane import roles
    from exceptions.models import Queue
    from tests.conftest import make_user
    from tests.factories import EntityFactory, IntegrationFactory, TeamFactory

    roles.sync_roles()
    finance = make_user("bench-finance", roles.FINANCE)
    integrations = [IntegrationFactory(name=f"Bench integration {n}").pk for n in range(12)]
    EntityFactory(name="Invoice")
    queues = [Queue.objects.create(name="Bench queue", slug="bench-queue", team=TeamFactory()).pk,
              Queue.objects.create(name="Bench payroll", slug="bench-payroll", team=TeamFactory(), restricted=True).pk]
    started = time.perf_counter()
    timings = _generate(rows, integrations, queues)
    total = time.perf_counter() - started
    print(f"generated with generate_series in {total:.1f} s: "
          + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in timings.items()))

    client = Client()
    client.force_login(finance)
    rng = random.Random(17)
    keys = [f"INV-B-{rng.randrange(rows // 3)}" for _ in range(100)]
    client.get("/traces/", {"key": keys[0]})  # warm caches and the session

    def measure(path, params_of, expect):
        samples = []
        for key in keys:
            started = time.perf_counter()
            response = client.get(path, params_of(key))
            samples.append((time.perf_counter() - started) * 1000)
            assert response.status_code == expect, (path, key, response.status_code)
        return _percentiles(samples)

    health = measure("/healthz", lambda k: {}, 200)
    baseline = measure("/exceptions/", lambda k: {"q": k}, 200)
    search = measure("/search/", lambda k: {"q": k}, 302)
    trace = measure("/traces/", lambda k: {"key": k}, 200)
    api = measure("/api/v1/traces/", lambda k: {"key": k}, 200)
    sample = client.get("/api/v1/traces/", {"key": keys[1]}).json()
    print(f"a trace of {keys[1]}: {len(sample['items'])} items on {len(sample['lanes'])} lanes")
    print("(measured on a shared, loaded machine: read the ratios against the baseline of this same run)")
    print(f"{'':38} {'p50 ms':>8} {'p95 ms':>8} {'p95 / baseline':>15}")
    for name, (p50, p95) in [("/healthz", health), ("baseline: exception list ?q=key", baseline),
                             ("header search (302 to the trace)", search), ("trace page", trace),
                             ("trace JSON API", api)]:
        print(f"{name:38} {p50:8.1f} {p95:8.1f} {p95 / baseline[1]:14.2f}x")
    for name, (_p50, p95) in [("header search", search), ("trace page", trace), ("trace API", api)]:
        print(f"{name}: p95 {p95:.0f} ms {'<=' if p95 <= TARGET_MS else '>'} {TARGET_MS} ms target")
