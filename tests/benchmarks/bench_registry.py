"""The Schema Registry wire API under gunicorn on PostgreSQL (production settings).

Prints, each next to a baseline measured in the same run and the same gunicorn:
- ``GET /schemas/ids/{id}`` (HTTP Basic, as consumers send it): requests/s and p50/p99,
  against ``GET /healthz`` (a bare Django view: no database, no authentication);
- registration of a new schema (``POST /subjects/{s}/versions``) with a BACKWARD_TRANSITIVE
  check against 100 approved versions, answered by the steward review's 42290 (the check,
  the draft, the submission and its audit row all done), against re-registering an approved
  schema (its id, no check). Targets: >= 1,000 id reads/s with p99 < 50 ms; >= 50
  registrations/s.

The machine is shared while this runs: read the ratios, not only the absolute numbers.
``python -m tests.benchmarks registry``; needs DATABASE_URL to name a PostgreSQL server
(a scratch database ``<name>_registry_bench`` is created on it and dropped afterwards).
"""

import asyncio
import base64
import json
import os
import subprocess
import sys
import time
from urllib.parse import urlsplit, urlunsplit

from tests.load import harness

PRIOR_VERSIONS = 100
SUBJECT = "bench-orders-value"
BASE_DOC = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "properties": {
        "id": {"type": "string", "maxLength": 40},
        "amount": {"type": "number", "minimum": 0},
        "currency": {"type": "string", "enum": ["EUR", "USD", "GBP"]},
        "lines": {"type": "array", "items": {"type": "object", "properties": {
            "sku": {"type": "string"}, "quantity": {"type": "integer", "minimum": 1}}, "required": ["sku"]}},
    },
    "required": ["id", "amount"],
}


def _doc(revision: str, n: int = PRIOR_VERSIONS) -> dict:
    """Version ``n`` of a realistic BACKWARD_TRANSITIVE evolution: each one accepts more
    than the last (a longer id, one more currency), so the 100 prior versions are 100
    different shapes and the check really compares with each of them."""
    props = BASE_DOC["properties"]
    return {**BASE_DOC, "description": f"Order, revision {revision}", "properties": {
        **props, "id": {"type": "string", "maxLength": 40 + n},
        "currency": {"type": "string", "enum": [*props["currency"]["enum"], *(f"X{i:02d}" for i in range(n))]}}}


def seed() -> dict:
    """Run inside the bench database's environment: a subject with 100 approved versions
    and a producer account. Prints what the load needs."""
    import django

    django.setup()
    from controlplane import roles
    from controlplane.services import create_service_account
    from stewardship import services
    from tests.conftest import make_user
    from tests.factories import EntityFactory

    author, steward = make_user("bench-author", roles.ARCHITECT), make_user("bench-steward", roles.STEWARD)
    _token, key = create_service_account(name="bench-producer", role=roles.INTEGRATION, all_integrations=True)
    subject = services.create_subject(actor=author, name="Bench orders", slug=SUBJECT, format="json-schema",
                                      entity=EntityFactory(), compatibility_level="BACKWARD_TRANSITIVE")
    version = None
    for n in range(1, PRIOR_VERSIONS + 1):
        version = services.create_draft(actor=author, subject=subject, document=_doc(f"v{n}", n))
        version = services.approve(actor=steward, version=services.submit(actor=author, version=version))
    return {"account": "bench-producer", "token": key, "schema_id": version.registry_schema_id,
            "approved_doc": _doc(f"v{PRIOR_VERSIONS}")}


# --- load -------------------------------------------------------------------------------------


async def _load(url, *, headers, duration, concurrency, method="GET", bodies=None, expect=(200,)):
    """``concurrency`` keep-alive connections for ``duration`` s (or until ``bodies`` run
    out). Returns (requests/s, sorted latencies in ms, unexpected answers)."""
    import aiohttp

    latencies, bad = [], []
    stop_at = time.perf_counter() + duration
    queue = list(reversed(bodies)) if bodies is not None else None
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:
        async def worker():
            while time.perf_counter() < stop_at:
                if queue is not None:
                    if not queue:
                        return
                    body = queue.pop()
                started = time.perf_counter()
                kwargs = {"data": json.dumps(body)} if queue is not None else {}
                async with session.request(method, url, **kwargs) as response:
                    await response.read()
                    if response.status not in expect:
                        bad.append(response.status)
                latencies.append((time.perf_counter() - started) * 1000)

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
    latencies.sort()
    return len(latencies) / elapsed, latencies, bad


def _pct(latencies, p):
    return latencies[min(len(latencies) - 1, int(len(latencies) * p))] if latencies else float("nan")


def _backend_cpu(database_url) -> dict:
    """{pid: CPU seconds} of the PostgreSQL backends connected to the bench database (Linux
    /proc; the server runs on this machine). gunicorn keeps its connections (CONN_MAX_AGE),
    so a phase's database CPU is the growth of these."""
    import psycopg

    tick = os.sysconf("SC_CLK_TCK")
    with psycopg.connect(harness.admin_url(database_url), autocommit=True) as conn:
        pids = [row[0] for row in conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> "
                                                 "pg_backend_pid()", [harness.database_name(database_url)])]
    found = {}
    for pid in pids:
        try:
            fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        found[pid] = (int(fields[11]) + int(fields[12])) / tick
    return found


def _measured(server, coroutine, database_url=None):
    """Run one load phase; add the gunicorn workers' CPU per request, which the other jobs
    on a shared machine do not inflate, the PostgreSQL backends' CPU per request, and what
    they imply for 2 cores of our own."""
    cpu = server.worker_cpu_seconds()
    db_before = _backend_cpu(database_url) if database_url else {}
    rate, latencies, bad = asyncio.run(coroutine)
    count = max(1, len(latencies))
    per_request = (server.worker_cpu_seconds() - cpu) * 1000 / count
    db = None
    if database_url:
        db_after = _backend_cpu(database_url)
        db = sum(after - db_before.get(pid, 0.0) for pid, after in db_after.items()) * 1000 / count
    return rate, latencies, bad, per_request, db


def _line(label, rate, latencies, bad, cpu_ms, db_ms=None):
    capacity = 2000 / cpu_ms if cpu_ms > 0 else float("inf")
    both = (f" + PostgreSQL {db_ms:5.2f} ms/req (both, 2 free cores: ~{2000 / (cpu_ms + db_ms):,.0f}/s)"
            if db_ms is not None and cpu_ms + db_ms > 0 else "")
    return (f"{label:<58} {rate:8.0f} req/s   p50 {_pct(latencies, .50):6.1f} ms   p99 {_pct(latencies, .99):6.1f} ms"
            f"   server CPU {cpu_ms:5.2f} ms/req (2 free cores: ~{capacity:,.0f}/s){both}"
            + (f"   {len(bad)} unexpected answers {sorted(set(bad))}" if bad else ""))


def _bench_database_url(database_url):
    parts = urlsplit(database_url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{parts.path.lstrip('/') or 'cp'}_registry_bench", "", ""))


def _drop(database_url):
    import psycopg

    with psycopg.connect(harness.admin_url(database_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{harness.database_name(database_url)}" WITH (FORCE)')


def main():
    database_url = os.environ.get("DATABASE_URL", "")
    if not database_url.startswith(("postgres://", "postgresql://")):
        print("skipped: needs DATABASE_URL naming a PostgreSQL server")
        return
    bench_url = _bench_database_url(database_url)
    _drop(bench_url)
    harness.ensure_database(bench_url)
    env = harness.server_env(database_url=bench_url, redis_url=os.environ.get("REDIS_URL"),
                             broker_url=os.environ.get("CELERY_BROKER_URL", "memory://"),
                             settings_module="controlplane.settings.production")
    server = None
    try:
        started = time.perf_counter()
        harness.migrate(env)
        out = subprocess.run([sys.executable, "-m", "tests.benchmarks.bench_registry", "--seed"], cwd=harness.ROOT,
                             env=env, check=True, capture_output=True, text=True).stdout
        seeded = json.loads(out.strip().splitlines()[-1])
        print(f"seeded {PRIOR_VERSIONS} approved versions in {time.perf_counter() - started:.1f} s")
        workers, threads = int(os.environ.get("BENCH_WORKERS", "2")), int(os.environ.get("BENCH_THREADS", "4"))
        server = harness.Gunicorn(env, workers=workers, threads=threads).start()
        print(f"gunicorn: {workers} workers x {threads} threads (gthread), production settings, PostgreSQL; "
              f"{os.cpu_count()} CPUs shared with the rest of the machine")
        auth = {"Authorization": "Basic " + base64.b64encode(
            f"{seeded['account']}:{seeded['token']}".encode()).decode()}
        registry = server.url + "/registry/confluent"
        duration = float(os.environ.get("BENCH_SECONDS", "8"))
        concurrency = int(os.environ.get("BENCH_CONCURRENCY", "8"))

        asyncio.run(_load(server.url + "/healthz", headers={}, duration=1, concurrency=concurrency))  # warm-up
        base = _measured(server, _load(server.url + "/healthz", headers={}, duration=duration, concurrency=concurrency))
        ids = _measured(server, _load(f"{registry}/schemas/ids/{seeded['schema_id']}", headers=auth,
                                      duration=duration, concurrency=concurrency))
        print(_line("baseline GET /healthz (bare view, no auth, no DB)", *base))
        print(_line("GET /schemas/ids/{id} (Basic auth)", *ids))
        print(f"  ratio id read / bare view: {ids[0] / base[0]:.2f} (CPU {ids[3] / base[3]:.2f})   target >= 1000/s "
              "with p99 < 50 ms: "
              f"{'met' if ids[0] >= 1000 and _pct(ids[1], .99) < 50 else 'NOT met'}")

        post = {**auth, "Content-Type": "application/vnd.schemaregistry.v1+json"}
        url = f"{registry}/subjects/{SUBJECT}/versions"
        count = int(os.environ.get("BENCH_REGISTRATIONS", "100"))
        again = [{"schema": json.dumps(seeded["approved_doc"]), "schemaType": "JSON"}] * count
        new = [{"schema": json.dumps(_doc(f"wire-{i}")), "schemaType": "JSON"} for i in range(count)]
        known = _measured(server, _load(url, headers=post, duration=120, concurrency=4, method="POST", bodies=again),
                          bench_url)
        fresh = _measured(server, _load(url, headers=post, duration=120, concurrency=4, method="POST", bodies=new,
                                        expect=(422,)), bench_url)
        print(_line("baseline POST re-registration of an approved schema (id)", *known))
        print(_line(f"POST new schema, check vs {PRIOR_VERSIONS} versions + review", *fresh))
        print(f"  ratio new registration / re-registration: {fresh[0] / known[0]:.2f} (CPU {fresh[3] / known[3]:.2f})"
              "   target >= 50/s: "
              f"{'met' if fresh[0] >= 50 else 'NOT met'}")
        print(f"  gunicorn workers used {server.worker_cpu_seconds():.1f} CPU s in all")
    finally:
        if server is not None:
            server.stop()
        _drop(bench_url)


if __name__ == "__main__":
    if "--seed" in sys.argv:
        print(json.dumps(seed()))
    else:
        main()
