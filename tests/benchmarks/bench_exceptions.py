"""Exception queues on PostgreSQL: ingestion throughput through the full HTTP stack (single
posts and 1,000-item batches) beside the floor (one set-based INSERT ... SELECT FROM
json_to_recordset of the same rows with their audit rows, through psycopg), then list page / list API latency and query counts with 1,000,000
exceptions loaded by generate_series.

Runs in its own throw-away database (test_<name>_bench); needs DATABASE_URL on PostgreSQL.
``BENCH_EXC_ROWS`` changes the size of the big table (default 1,000,000).
"""

import os
import statistics
import time
import uuid


class _Counter:
    """Counts the SQL statements run inside it (an execute wrapper: independent of DEBUG
    and of the query log the request signals reset)."""

    def __init__(self, connection):
        self.connection = connection
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)

    def __enter__(self):
        self._cm = self.connection.execute_wrapper(self)
        self._cm.__enter__()
        return self

    def __exit__(self, *exc):
        self._cm.__exit__(*exc)


def _median_ms(fn, runs=5):
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main():
    from django.db import connection

    if not os.environ.get("DATABASE_URL") or connection.vendor != "postgresql":
        print("skipped: bench_exceptions needs PostgreSQL (set DATABASE_URL=postgres://...)")
        return
    from tests.benchmarks import test_database

    # its own database, so it never collides with a pytest run's test_<name>
    connection.settings_dict.setdefault("TEST", {})["NAME"] = f"test_{connection.settings_dict['NAME']}_bench"
    with test_database():
        _run(int(os.environ.get("BENCH_EXC_ROWS", "1000000")))


def _run(rows):
    from django.contrib.auth.models import Group
    from django.db import connection
    from django.test import Client

    from controlplane import roles
    from controlplane.services import create_service_account
    from exceptions.models import BusinessException, Queue
    from tests.conftest import make_user
    from tests.factories import IntegrationFactory

    roles.sync_roles()
    assert Group.objects.filter(name=roles.FINANCE).exists()
    _token, key = create_service_account(name="bench-ingest", role=roles.INTEGRATION, all_integrations=True)
    finance = make_user("bench-finance", roles.FINANCE)
    integration = IntegrationFactory(slug="bench-erp")
    service = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
    url = "/api/v1/exceptions/ingest/"
    run = uuid.uuid4().hex[:8]

    def item(n, prefix):
        return {"integration": integration.slug, "error_code": "TAX_CODE_MISMATCH", "message": "Tax code V7 unknown",
                "severity": "high", "business_keys": {"invoice_number": f"{prefix}-{n}", "legal_entity": "UK01"},
                "amount_at_risk": "100.00", "currency": "GBP", "payload": {"invoice": f"{prefix}-{n}", "lines": [1, 2, 3]}}

    # --- ingestion -----------------------------------------------------------------
    singles = 300
    started = time.perf_counter()
    for n in range(singles):
        resp = service.post(url, item(n, f"S{run}"), content_type="application/json")
        assert resp.status_code == 201, resp.content[:300]
    single_rate = singles / (time.perf_counter() - started)
    with _Counter(connection) as q:
        service.post(url, item(singles + 1, f"S{run}"), content_type="application/json")
    single_queries = q.count

    # The floor: the same rows and their audit rows, one set-based statement per 1,000
    # (INSERT ... SELECT FROM json_to_recordset, the audit rows from its RETURNING) through
    # psycopg: no Django, no validation, no routing. What the batch path can at best reach.
    import json

    from django.contrib.contenttypes.models import ContentType

    Queue.objects.get_or_create(name="Integration Ops", defaults={"slug": "integration-ops",
                                                                  "team_id": integration.owner_team_id})
    queue = Queue.objects.get(name="Integration Ops")
    service_user_id = _token.user_id
    content_type = ContentType.objects.get_for_model(BusinessException).pk
    raw = connection.connection  # the psycopg connection under Django's
    sql = (
        "WITH v AS (SELECT * FROM json_to_recordset(%s::json) AS v(invoice text, fp text, keys jsonb, payload jsonb)),"
        " ins AS (INSERT INTO exceptions_businessexception (integration_id, error_code, message, severity,"
        " reported_severity, status, queue_id, business_keys, invoice_number, project_code, client, legal_entity, contract,"
        " amount_at_risk, currency, correlation_id, fingerprint, occurrences, regressions, first_seen, last_seen, due_at,"
        " is_overdue, resolution_code, resolution_note, payload, details, updated_at)"
        " SELECT %s, 'TAX_CODE_MISMATCH', 'Tax code V7 unknown', 'high', 'high', 'new', %s, v.keys, v.invoice, '', '',"
        " 'UK01', '', 100, 'GBP', '', v.fp, 1, 0, now(), now(), now() + interval '24 hours', false, '', '', v.payload,"
        " '{}'::jsonb, now() FROM v RETURNING id, status, queue_id, severity, assignee_id)"
        " INSERT INTO controlplane_auditentry (created_at, actor_id, actor_repr, action, content_type_id, object_id,"
        " object_repr, before, after, request_id, note)"
        " SELECT now(), %s, 'bench-ingest', 'businessexception.created', %s, ins.id::text, 'EXC-' || ins.id, NULL,"
        " jsonb_build_object('status', ins.status, 'queue', ins.queue_id, 'severity', ins.severity, 'assignee',"
        " ins.assignee_id), '', 'ingested' FROM ins"
    )

    # Batches and the floor alternate, round by round, so a neighbour's load on this
    # shared machine falls on both alike; the ratio is of their summed wall times. The
    # batch's CPU is this process's (the HTTP stack runs in it; PostgreSQL's is apart).
    batches, size = int(os.environ.get("BENCH_EXC_BATCHES", "10")), 1000
    bodies = [json.dumps([item(b * size + n, f"B{run}") for n in range(size)]) for b in range(batches)]
    chunks = [
        json.dumps([{"invoice": f"R{run}-{n}", "fp": f"raw-{run}-{n}",
                     "keys": {"invoice_number": f"R{run}-{n}", "legal_entity": "UK01"},
                     "payload": {"invoice": f"R{run}-{n}", "lines": [1, 2, 3]}} for n in range(b * size, (b + 1) * size)])
        for b in range(batches)
    ]
    batch_wall = batch_cpu = floor_wall = 0.0
    for body, chunk in zip(bodies, chunks, strict=True):
        started, cpu = time.perf_counter(), time.process_time()
        resp = service.post(url, body, content_type="application/json")
        batch_wall += time.perf_counter() - started
        batch_cpu += time.process_time() - cpu
        assert resp.status_code == 201, resp.content[:300]
        started = time.perf_counter()
        with raw.cursor() as cur, raw.transaction():
            cur.execute(sql, [chunk, integration.pk, queue.pk, service_user_id, content_type])
        floor_wall += time.perf_counter() - started
    batch_rate, floor = batches * size / batch_wall, batches * size / floor_wall
    with _Counter(connection) as q:
        service.post(url, [item(n, f"Q{run}") for n in range(size)], content_type="application/json")
    batch_queries = q.count
    started, cpu = time.perf_counter(), time.process_time()
    for body in bodies[:2]:
        service.post(url, body, content_type="application/json")
    dedup_rate = 2 * size / (time.perf_counter() - started)
    dedup_cpu = (time.process_time() - cpu) / (2 * size)

    print(f"ingestion, single posts (HTTP stack):      {single_rate:8.0f} items/s  ({single_queries} queries per post)")
    print(f"ingestion, 1,000-item batches (HTTP stack): {batch_rate:8.0f} items/s  ({batch_queries} queries per batch;"
          f" {batch_cpu / (batches * size) * 1e6:.0f} us CPU per item in the web process)")
    print(f"ingestion, 1,000-item batches, all repeats: {dedup_rate:8.0f} items/s  ({dedup_cpu * 1e6:.0f} us CPU per item)")
    print(f"floor, one set-based INSERT + audit rows:   {floor:8.0f} rows/s   (batch path = {batch_rate / floor:.2f}x of it"
          f" over {batches} alternating rounds; goal >= 0.5x)")

    # --- a big table ------------------------------------------------------------------
    started = time.perf_counter()
    queues = list(Queue.objects.values_list("pk", flat=True))
    with connection.cursor() as cur:
        cur.execute(
            """
            INSERT INTO exceptions_businessexception (integration_id, error_code, message, severity, reported_severity,
              status, queue_id, business_keys, invoice_number, project_code, client, legal_entity, contract, amount_at_risk,
              currency, correlation_id, fingerprint, occurrences, regressions, first_seen, last_seen, due_at, is_overdue,
              resolution_code, resolution_note, payload, details, updated_at)
            SELECT %s, (ARRAY['TAX_CODE_MISMATCH','RATE_CARD_MISMATCH','TIME_NO_PROJECT','ERP_POSTING_REJECTED'])[1 + g %% 4],
              'Generated', s.sev, s.sev,
              (ARRAY['new','acknowledged','in_progress','resolved','resolved','dismissed'])[1 + (g / 7) %% 6],
              %s, jsonb_build_object('invoice_number', 'INV-B-' || g, 'legal_entity', (ARRAY['UK01','US01','DE01'])[1 + g %% 3]),
              'INV-B-' || g, 'PRJ-' || (g %% 5000), 'Client ' || (g %% 700), (ARRAY['UK01','US01','DE01'])[1 + g %% 3],
              'CTR-' || (g %% 900), (g %% 250000), 'GBP', 'corr-b-' || g, 'big-' || g, 1 + g %% 5, 0,
              now() - (g || ' seconds')::interval, now() - (g || ' seconds')::interval,
              now() - (g || ' seconds')::interval + interval '3 days', false, '', '', NULL, '{}'::jsonb, now()
            FROM generate_series(1, %s) AS g,
              LATERAL (SELECT (ARRAY['critical','high','medium','low'])[1 + g %% 4] AS sev) s
            """,
            [integration.pk, queues[0], rows],
        )
        if len(queues) > 1:
            cur.execute("UPDATE exceptions_businessexception SET queue_id = %s WHERE fingerprint LIKE 'big-%%' AND id %% 3 = 0",
                        [queues[-1]])
        cur.execute("ANALYZE exceptions_businessexception")
    print(f"loaded {rows:,} rows with generate_series in {time.perf_counter() - started:.1f} s "
          f"(table now {BusinessException.objects.count():,} rows)")

    web = Client()
    web.force_login(finance)
    api = Client()
    api.force_login(finance)
    mid = rows // 2
    cases = [
        ("no filter", {}),
        ("status=open", {"status": "open"}),
        ("invoice number", {"q": f"INV-B-{mid}"}),
        ("queue + severity + open", {"queue": queues[0], "severity": "high", "status": "open"}),
        ("amount 240k-250k", {"amount_min": 240000, "amount_max": 250000}),
        ("overdue", {"overdue": "true"}),
        ("integration + age 1-3 days", {"integration": integration.slug, "age": "1to3d"}),
    ]
    print(f"\n{'filter':32} {'page ms':>9} {'queries':>8} {'API ms':>9} {'queries':>8}")
    for label, params in cases:
        with _Counter(connection) as q_page:
            resp = web.get("/exceptions/list/", params)
            assert resp.status_code == 200
        with _Counter(connection) as q_api:
            resp = api.get("/api/v1/exceptions/items/", params)
            assert resp.status_code == 200, resp.content[:300]
        page_ms = _median_ms(lambda p=params: web.get("/exceptions/list/", p))
        api_ms = _median_ms(lambda p=params: api.get("/api/v1/exceptions/items/", p))
        print(f"{label:32} {page_ms:9.1f} {q_page.count:8d} {api_ms:9.1f} {q_api.count:8d}")

    # deep pagination: follow the cursor 20 pages down
    next_url = api.get("/api/v1/exceptions/items/", {"status": "open"}).json()["next"]
    for _ in range(19):
        next_url = api.get(next_url).json()["next"]
    deep_ms = _median_ms(lambda: api.get(next_url))
    print(f"{'API page 21 (cursor), open':32} {'':9} {'':8} {deep_ms:9.1f}")
    overview_ms = _median_ms(lambda: web.get("/exceptions/"), runs=3)
    print(f"queue overview page (GROUP BY over the open rows): {overview_ms:.1f} ms")
    export_ms = _median_ms(lambda: b"".join(web.get("/exceptions/export.csv", {"q": f"INV-B-{mid}"}).streaming_content), runs=3)
    print(f"CSV export, one invoice: {export_ms:.1f} ms")
