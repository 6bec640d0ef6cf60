"""Machine-facing hot paths, in one process through Django's real WSGI handler (no test
client, no network), each beside a bare Django view measured in the same run:

- a bare view with no middleware (the floor) and the same view through the project's
  whole middleware stack, as a browser would call it and as a machine (service token);
  the difference is what the stack costs a machine request (goal: <= 1 ms CPU);
- a heartbeat ping on the steady path (goal: <= 2 SQL statements, <= 2 ms worker CPU);
- a service-token request to a DRF endpoint, first lookup and cached.

Prints CPU per request (process time: the database server's own CPU is not in it) and
SQL statements per request. Needs PostgreSQL (DATABASE_URL); builds its own database.
``BENCH_HOTPATH_N`` sets the requests per case (default 2,000). The machine may be
shared: compare the ratios, not the absolute numbers.

Then the same paths over HTTP (issue #19: >= 300 single ingests/s): gunicorn -w 4 (sync
workers, production settings, ``tests.benchmarks.hotpath_settings``) on the same database,
driven by a minimal asyncio client (pre-built requests, a new connection per request as a
sync worker wants; it costs far less CPU than the server) with ``BENCH_HTTP_CONNECTIONS``
(default 8) requests in flight for ``BENCH_HTTP_SECONDS`` (default 4) per case and round.
The baseline is the bare view on the same server (full middleware stack) in the same run;
cases alternate over ``BENCH_HTTP_ROUNDS`` (default 2) rounds so a neighbour's load falls on
all alike. Prints requests/s, p50/p95 latency, the workers' CPU per request and each rate as
a ratio of the bare view's, and the CPU of the workers' PostgreSQL backends per request
(read from /proc when the server runs on this machine; the workers keep their connections
for the whole run, ``DB_CONN_MAX_AGE``, so no backend's CPU is lost to a reconnect).
``BENCH_HTTP=0`` skips this part.
"""

import asyncio
import io
import json
import os
import time
import uuid

from django.contrib.auth.decorators import login_not_required
from django.http import HttpResponse
from django.urls import include, path

N = int(os.environ.get("BENCH_HOTPATH_N", "2000"))


@login_not_required
def bare(request):
    return HttpResponse(b"ok", content_type="text/plain")


urlpatterns = [path("bench/bare/", bare), path("", include("controlplane.urls"))]


def _environ(method, url, headers=None, body=b""):
    path_info, _, query = url.partition("?")
    environ = {
        "REQUEST_METHOD": method, "PATH_INFO": path_info, "QUERY_STRING": query, "SERVER_NAME": "testserver",
        "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1", "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body), "wsgi.errors": io.StringIO(), "CONTENT_LENGTH": str(len(body)),
        "CONTENT_TYPE": "text/plain", "HTTP_HOST": "testserver",
    }
    for name, value in (headers or {}).items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    return environ


def _measure(handler, method, url, headers=None, body=b"", n=N, expect=200):
    from django.db import connection

    from tests.benchmarks.bench_exceptions import _Counter

    def call():
        statuses = []
        response = handler(_environ(method, url, headers, body), lambda status, hdrs, exc_info=None: statuses.append(status))
        b"".join(response)
        response.close()
        return int(statuses[0].split()[0])

    for _ in range(min(50, n)):  # warm: URL resolver, lazy imports, prepared caches
        status = call()
        assert status == expect, f"{method} {url}: {status}"
    with _Counter(connection) as q:
        assert call() == expect
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(n):
        call()
    return (time.process_time() - cpu) / n * 1000, (time.perf_counter() - wall) / n * 1000, q.count


def main():
    from django.db import connection

    if connection.vendor != "postgresql":
        print("skipped: bench_hotpath needs PostgreSQL (set DATABASE_URL=postgres://...)")
        return
    from tests.benchmarks import test_database

    # its own database, so it never collides with a pytest run's test_<name>
    connection.settings_dict.setdefault("TEST", {})["NAME"] = f"test_{connection.settings_dict['NAME']}_hotpath"
    with test_database():
        _run()


def _run():
    from django.conf import settings
    from django.core.handlers.wsgi import WSGIHandler
    from django.test.utils import override_settings

    from controlplane import roles
    from controlplane.services import create_service_account
    from health.services import config_for
    from tests.factories import IntegrationFactory

    roles.sync_roles()
    _token, key = create_service_account(name="bench-hot", role=roles.INTEGRATION, all_integrations=True)
    beat = f"/api/v1/heartbeat/{config_for(IntegrationFactory(slug='bench-beat')).heartbeat_token}"
    machine = {"Authorization": f"Bearer {key}"}
    with override_settings(ROOT_URLCONF=__name__, MIDDLEWARE=[], ALLOWED_HOSTS=["testserver"]):
        floor = _measure(WSGIHandler(), "GET", "/bench/bare/")
    with override_settings(ROOT_URLCONF=__name__, ALLOWED_HOSTS=["testserver"]):
        full = WSGIHandler()
        print(f"middleware: {len(settings.MIDDLEWARE)} classes; {N} requests per case; load average "
              f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (numbers stretch under load; ratios hold better)")
        cases = [
            ("bare view, no middleware (floor)", floor),
            ("bare view, full stack, browser", _measure(full, "GET", "/bench/bare/")),
            ("bare view, full stack, service token", _measure(full, "GET", "/bench/bare/", machine)),
            ("heartbeat GET, steady", _measure(full, "GET", beat)),
            ("heartbeat POST /0 with a log", _measure(full, "POST", f"{beat}/0", body=b"exported 1200 rows\n" * 20)),
            ("heartbeat /start", _measure(full, "GET", f"{beat}/start")),
            ("API GET, service token (cached)", _measure(full, "GET", "/api/v1/health/status/bench-beat/", machine,
                                                        n=N // 4)),
        ]
    print(f"{'case':40} {'CPU ms':>8} {'wall ms':>8} {'SQL':>4} {'CPU x floor':>12}")
    for label, (cpu, wall, sql) in cases:
        print(f"{label:40} {cpu:8.3f} {wall:8.3f} {sql:4d} {cpu / floor[0]:11.1f}x")
    overhead = cases[2][1][0] - floor[0]
    print(f"middleware stack on a machine request: {overhead:.3f} ms CPU over bare Django (goal <= 1 ms); "
          f"browser request: {cases[1][1][0] - floor[0]:.3f} ms")
    print(f"heartbeat: {cases[3][1][0]:.3f} ms CPU, {cases[3][1][2]} statement(s) (goals <= 2 ms, <= 2)")
    if os.environ.get("BENCH_HTTP", "1") != "0":
        _http(key)


# --- over HTTP: gunicorn -w 4 ---------------------------------------------------------------

def _request(method, path, headers=None, body=b""):
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "X-Forwarded-Proto: https", "Connection: close",
             f"Content-Length: {len(body)}"]
    if body:
        lines.append("Content-Type: application/json")
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _drive(port, requests, *, seconds, connections):
    """Send ``requests`` (an iterator of raw requests) with ``connections`` in flight for
    ``seconds``. -> (answers, elapsed s, sorted latencies ms, {status: count})."""
    statuses, latencies = {}, []
    deadline = time.perf_counter() + seconds

    async def one():
        while time.perf_counter() < deadline:
            raw = next(requests, None)
            if raw is None:
                break
            started = time.perf_counter()
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(raw)
                answer = await reader.read()  # the sync worker closes the connection after answering
                writer.close()
                status = int(answer[9:12])
            except (OSError, ValueError):
                status = 0
            latencies.append((time.perf_counter() - started) * 1000)
            statuses[status] = statuses.get(status, 0) + 1

    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(connections)))
    return len(latencies), time.perf_counter() - started, sorted(latencies), statuses


def _backends_cpu_seconds(database):
    """User + system CPU used so far by the PostgreSQL backends connected to ``database``
    other than ours (the gunicorn workers'), or None when /proc does not show them (a
    server on another host)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", [database])
        pids = [pid for (pid,) in cursor.fetchall()]
    tick, total = os.sysconf("SC_CLK_TCK"), 0.0
    for pid in pids:
        try:
            fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            return None
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def _pct(values, q):
    return values[min(len(values) - 1, max(0, int(len(values) * q / 100 + 0.5) - 1))] if values else 0.0


def _http(key):
    from django.db import connection

    from health.services import config_for
    from tests.factories import IntegrationFactory
    from tests.load import harness

    seconds = float(os.environ.get("BENCH_HTTP_SECONDS", "4"))
    rounds = int(os.environ.get("BENCH_HTTP_ROUNDS", "2"))
    connections = int(os.environ.get("BENCH_HTTP_CONNECTIONS", "8"))
    slugs = [f"bench-http-{n}" for n in range(8)]
    beats = [str(config_for(IntegrationFactory(slug=slug)).heartbeat_token) for slug in slugs]
    auth = {"Authorization": f"Bearer {key}"}
    run = uuid.uuid4().hex[:8]
    counter = iter(range(10**9))

    def exception(group, slug=None):
        return {"integration": slug or slugs[group % len(slugs)], "error_code": "TAX_CODE_MISMATCH",
                "message": f"Invoice {run}-{group} could not be posted", "severity": "high", "currency": "GBP",
                "business_keys": {"invoice_number": f"{run}-INV-{group}", "legal_entity": "UK01"},
                "amount_at_risk": "1200.00", "payload": {"invoice": f"{run}-INV-{group}", "lines": [1, 2, 3]}}

    def ingest_new():
        while True:
            n = next(counter)
            yield _request("POST", "/api/v1/exceptions/ingest/", {**auth, "Idempotency-Key": f"{run}-n-{n}"},
                           json.dumps(exception(n)).encode())

    repeat_groups = 200  # open exceptions the repeats count on (one hot row would measure its lock)

    def ingest_dedup():
        while True:
            n = next(counter)
            yield _request("POST", "/api/v1/exceptions/ingest/", {**auth, "Idempotency-Key": f"{run}-d-{n}"},
                           json.dumps(exception(-1 - n % repeat_groups)).encode())

    resent = [_request("POST", "/api/v1/exceptions/ingest/", {**auth, "Idempotency-Key": f"{run}-r-{g}"},
                       json.dumps(exception(-1 - g)).encode()) for g in range(repeat_groups)]

    def ingest_repeat():
        while True:
            yield resent[next(counter) % len(resent)]

    def sync_run():
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        while True:
            n = next(counter)
            yield _request("POST", f"/api/v1/integrations/{slugs[n % len(slugs)]}/runs/", auth, json.dumps(
                {"run_id": f"{run}-run-{n}", "status": "success", "started_at": now, "finished_at": now,
                 "records_processed": 100}).encode())

    def event():
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        while True:
            n = next(counter)
            yield _request("POST", "/api/v1/events/", auth, json.dumps(
                {"event_id": f"{run}-ev-{n}", "type": "invoice_ready", "correlation_key": f"{run}-INV-{n}",
                 "occurred_at": now, "integration": slugs[n % len(slugs)], "amount": "120.00",
                 "currency": "GBP"}).encode())

    def heartbeat():
        while True:
            yield _request("POST", f"/api/v1/heartbeat/{beats[next(counter) % len(beats)]}/")

    def bare():
        raw = _request("GET", "/bench/bare/")
        while True:
            yield raw

    cases = [  # (label, requests, the status a success answers)
        ("bare view, full stack (baseline)", bare, 200),
        ("ingest one, new", ingest_new, 201),
        ("ingest one, deduplicated", ingest_dedup, 200),
        ("ingest one, idempotent repeat", ingest_repeat, 200),
        ("sync run, new", sync_run, 201),
        ("business event, new", event, 200),
        ("heartbeat", heartbeat, 200),
    ]
    settings_dict = connection.settings_dict
    database_url = harness.with_host_port(os.environ["DATABASE_URL"], settings_dict["HOST"] or "127.0.0.1",
                                          int(settings_dict["PORT"] or 5432))
    database_url = database_url.rsplit("/", 1)[0] + "/" + settings_dict["NAME"]  # the bench's own database
    env = harness.server_env(database_url=database_url, redis_url=os.environ.get("REDIS_URL") or None,
                             broker_url=os.environ.get("CELERY_BROKER_URL") or "memory://",
                             settings_module="tests.benchmarks.hotpath_settings")
    env["DB_CONN_MAX_AGE"] = "3600"  # one backend per worker for the whole run: its CPU is measurable
    server = harness.Gunicorn(env, workers=4, threads=1, port=int(os.environ.get("BENCH_HTTP_PORT", "0")) or None)
    server.start()
    totals = {label: {"n": 0, "s": 0.0, "lat": [], "statuses": {}, "cpu": 0.0, "pg": 0.0} for label, _, _ in cases}
    pg_measured = True
    try:
        # warm every worker and path (imports, URL resolver, token and routing caches), and
        # create the open exceptions the repeats count on
        for _label, make, _ok in cases:
            asyncio.run(_drive(server.port, make(), seconds=0.5, connections=connections))
        asyncio.run(_drive(server.port, iter(resent), seconds=60, connections=connections))
        for _ in range(rounds):
            for label, make, _ok in cases:
                cpu, pg = server.worker_cpu_seconds(), _backends_cpu_seconds(settings_dict["NAME"])
                n, elapsed, lat, statuses = asyncio.run(_drive(server.port, make(), seconds=seconds,
                                                               connections=connections))
                row = totals[label]
                row["cpu"] += server.worker_cpu_seconds() - cpu
                pg_after = _backends_cpu_seconds(settings_dict["NAME"])
                if pg is None or pg_after is None:
                    pg_measured = False
                else:
                    row["pg"] += pg_after - pg
                row["n"] += n
                row["s"] += elapsed
                row["lat"] += lat
                for status, count in statuses.items():
                    row["statuses"][status] = row["statuses"].get(status, 0) + count
    finally:
        server.stop()
    print(f"\nover HTTP: gunicorn -w {server.workers} (sync), production settings, PostgreSQL; {connections} requests in "
          f"flight, {rounds} alternating rounds x {seconds:.0f} s per case; load average {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} cores; worker boots {server.boots}, timeouts {server.timeouts}")
    print(f"{'case':34} {'req/s':>7} {'x bare':>7} {'p50 ms':>7} {'p95 ms':>7} {'CPU ms':>7} {'PG ms':>6}  statuses")
    base = totals[cases[0][0]]["n"] / totals[cases[0][0]]["s"]
    for label, _make, ok in cases:
        row = totals[label]
        rate = row["n"] / row["s"]
        lat = sorted(row["lat"])
        bad = {s: c for s, c in row["statuses"].items() if s != ok}
        pg_ms = f"{row['pg'] * 1000 / max(1, row['n']):6.2f}" if pg_measured else "   n/a"
        print(f"{label:34} {rate:7.0f} {rate / base:6.2f}x {_pct(lat, 50):7.1f} {_pct(lat, 95):7.1f} "
              f"{row['cpu'] * 1000 / max(1, row['n']):7.2f} {pg_ms}  {row['statuses']}{'  UNEXPECTED' if bad else ''}")
    single = [totals[label]["n"] / totals[label]["s"] for label, _, _ in cases[1:4]]
    print(f"single ingest over HTTP: {min(single):.0f}-{max(single):.0f} items/s (goal >= 300/s); "
          f"sync runs {totals[cases[4][0]]['n'] / totals[cases[4][0]]['s']:.0f}/s, "
          f"events {totals[cases[5][0]]['n'] / totals[cases[5][0]]['s']:.0f}/s")
