"""``make load``: gunicorn (several workers) on PostgreSQL, a real Redis broker and Celery
worker, and the asyncio load client for a bounded time; then the figures and the final
reconciliation. Then a burst phase: 10,000 heartbeats within one second at the next
minute boundary, every one acknowledged in the end. Exit status 1 if reconciliation fails,
any request got a 5xx in the mixed phase, or a burst ping was never acknowledged.

    python -m tests.load [--duration 60] [--workers 4] [--threads 2] [--concurrency 2] [--no-worker]
                         [--burst 10000] [--burst-now] [--port N]

Environment: LOAD_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/cp_load, created
and migrated if missing), LOAD_REDIS_URL (cache, default db 6), LOAD_BROKER_URL (default
db 7), LOAD_DURATION (seconds), LOAD_BURST (pings), LOAD_PORT.
"""

import argparse
import os
import sys
import time
from collections import Counter

from . import harness


def setup_django(env: dict):
    """Configure Django in this process exactly like the web processes (for seeding and
    reconciliation, which talk to PostgreSQL directly)."""
    for key in ("DJANGO_SETTINGS_MODULE", "DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL", "CELERY_BROKER_URL",
                "CELERY_TASK_ALWAYS_EAGER", "REDIS_URL", "SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS", "LOG_LEVEL"):
        if key in env:
            os.environ[key] = env[key]
    import django

    django.setup()


def format_cpu(cpu: dict, summary: dict, elapsed: float, by_endpoint: dict) -> str:
    """Where the machine's CPU went during the measured phase, and the server's CPU per
    request kind (web thread and PostgreSQL backend, tests.load.gunicorn_cpu)."""
    before, after = cpu[0], cpu[1]
    web = after["web"] - before["web"]
    client = after["client"] - before["client"]
    celery = after["celery"] - before["celery"]
    # The web requests' backends, as the hooks measured them request by request: a
    # snapshot of the backends would miss those closed during the run (CONN_MAX_AGE).
    pg = sum(r["pg_ms"] for name, r in by_endpoint.items() if name in summary["endpoints"]) / 1000
    busy = after["machine"][0] - before["machine"][0]
    total = after["machine"][1] - before["machine"][1]
    other = busy - web - client - celery - pg
    n = max(1, summary["total"])
    lines = [
        f"CPU during the measured phase ({elapsed:.1f} s, {os.cpu_count()} cores = {total:.1f} CPU-s, load average "
        f"{os.getloadavg()[0]:.1f}): gunicorn workers {web:.1f} s ({web * 1000 / n:.1f} ms per request), PostgreSQL "
        f"backends {pg:.1f} s ({pg * 1000 / n:.1f} ms per request), Celery worker {celery:.1f} s, "
        f"this client {client:.1f} s ({client * 1000 / n:.1f} ms per request), everything else on the machine "
        f"{other:.1f} s, idle {total - busy:.1f} s",
        f"{'server CPU per request':34} {'count':>6} {'web ms':>7} {'pg ms':>7} {'SQL':>5} {'wall ms':>8}   "
        f"(web = the request's worker thread; share of all requests' web CPU)",
    ]
    measured = {name: r for name, r in by_endpoint.items() if name in summary["endpoints"]}
    all_web = sum(r["web_ms"] for r in measured.values()) or 1.0
    for name, r in sorted(by_endpoint.items(), key=lambda item: (item[0] not in measured, item[0])):
        c = max(1, r["count"])
        share = f"{r['web_ms'] / all_web * 100:4.0f} %" if name in measured else "(not in the measured phase)"
        lines.append(f"{name:34} {r['count']:6d} {r['web_ms'] / c:7.2f} {r['pg_ms'] / c:7.2f} {r['statements'] / c:5.1f} "
                     f"{r['wall_ms'] / c:8.1f}   {share}")
    n_measured = sum(r["count"] for r in measured.values()) or 1
    lines.append(f"{'all requests of the measured phase':34} {n_measured:6d} "
                 f"{sum(r['web_ms'] for r in measured.values()) / n_measured:7.2f} "
                 f"{sum(r['pg_ms'] for r in measured.values()) / n_measured:7.2f} "
                 f"{sum(r['statements'] for r in measured.values()) / n_measured:5.1f}")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=float(os.environ.get("LOAD_DURATION", 60)))
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2, help="threads per worker (gthread when > 1)")
    parser.add_argument("--concurrency", type=int, default=2, help="scale of the client (coroutines per kind)")
    parser.add_argument("--no-worker", action="store_true", help="no Celery worker (tasks wait in the broker)")
    parser.add_argument("--database-url", default=os.environ.get("LOAD_DATABASE_URL", harness.DEFAULT_DATABASE_URL))
    parser.add_argument("--port", type=int, default=int(os.environ.get("LOAD_PORT", "0")),
                        help="gunicorn's port (default: a free one)")
    parser.add_argument("--burst", type=int, default=int(os.environ.get("LOAD_BURST", 10_000)),
                        help="heartbeats sent within one second after the mixed phase (0 = no burst phase)")
    parser.add_argument("--burst-now", action="store_true",
                        help="start the burst at once instead of at the next minute boundary (cron's :00)")
    args = parser.parse_args(argv)

    env = harness.server_env(
        database_url=args.database_url,
        redis_url=os.environ.get("LOAD_REDIS_URL", harness.DEFAULT_REDIS_URL),
        broker_url=os.environ.get("LOAD_BROKER_URL", harness.DEFAULT_BROKER_URL),
        settings_module="controlplane.settings.production",
    )
    if harness.ensure_database(args.database_url):
        print(f"created database {harness.database_name(args.database_url)}")
    print("migrating ...", flush=True)
    harness.migrate(env)
    setup_django(env)
    from .client import LoadClient, format_summary, summarize
    from .reconcile import new_run_id, reconcile, seed

    run = new_run_id()
    plan = seed(run)
    backlog_before = harness.broker_backlog(env["CELERY_BROKER_URL"])
    server = harness.Gunicorn(env, workers=args.workers, threads=args.threads, port=args.port or None, cpu_report=True)
    worker = None if args.no_worker else harness.CeleryWorker(env)
    print(f"run {run}: gunicorn {args.workers} workers x {args.threads} threads, "
          f"{'a Celery worker' if worker else 'no Celery worker'}, {args.duration:.0f} s ...", flush=True)
    server.start()
    if worker:
        worker.start()
    try:
        cpu = {}

        def snapshot(when):
            cpu[when] = {"web": server.worker_cpu_seconds(), "client": time.process_time(),
                         "celery": harness.process_tree_cpu_seconds(worker.proc.pid) if worker else 0.0,
                         "machine": harness.machine_cpu_seconds()}

        client = LoadClient(server.url, plan, duration=args.duration, concurrency=args.concurrency,
                            on_start=lambda: snapshot(0))
        client.on_end = lambda: snapshot(1)
        elapsed = client.run_blocking()
        burst = None
        if args.burst:
            print(f"mixed phase done; burst of {args.burst} heartbeats in 1 s "
                  f"{'now' if args.burst_now else 'at the next minute boundary'} ...", flush=True)
            burst_stats, client.stats = client.stats, type(client.stats)()
            burst = client.burst_blocking(args.burst, align_minute=not args.burst_now)
            client.stats, burst_requests = burst_stats, client.stats
    finally:
        server.stop()
        time.sleep(2 if worker else 0)  # let the worker take what is queued before it stops
        if worker:
            worker.stop()
    summary = summarize(client.stats, elapsed)
    print()
    print(format_summary(summary))
    ledger = client.ledger
    print(f"\nacknowledged: {len(ledger.exc_keys)} exception keys ({len(set(g for g, _ in ledger.exc_keys.values()))} "
          f"business keys), {len(ledger.runs)} sync runs, {len(ledger.heartbeats)} heartbeats, {len(ledger.events)} events, "
          f"{len(ledger.resolves)} resolves; deliberate re-sends {dict(ledger.resends)}")
    print()
    print(format_cpu(cpu, summary, elapsed, server.cpu_report()))
    backlog = harness.broker_backlog(env["CELERY_BROKER_URL"])
    print(f"broker: {backlog_before} task(s) waiting before, {backlog} after; gunicorn: {server.boots} worker boot(s) "
          f"for {args.workers} workers, {server.timeouts} worker timeout(s), {server.tracebacks} traceback(s) "
          f"(log {server.log_path})")
    if burst is not None:
        statuses = dict(sorted(Counter(r.status for r in burst_requests.requests).items()))
        print(f"burst: {burst['sent']} heartbeats started within 1 s{' at a minute boundary' if burst['aligned'] else ''}: "
              f"{burst['acknowledged']} acknowledged, {burst['lost']} lost, all absorbed after {burst['absorbed_s']:.1f} s "
              f"(p50 {burst['p50_ms']:.0f} ms, p95 {burst['p95_ms']:.0f} ms from the burst's start); "
              f"answers {statuses}, re-sent after {burst['retried'] or 'nothing'}")
    rec = reconcile(ledger)
    print()
    print(rec.format())
    print(format_goals(summary, rec.ok, burst))
    failed = not rec.ok or summary["server_errors"] or summary["transport_errors"] or (burst is not None and burst["lost"])
    if summary["server_errors"] or summary["transport_errors"]:
        print(f"FAILED: {summary['server_errors']} 5xx and {summary['transport_errors']} requests without an answer")
    return 1 if failed else 0


def format_goals(summary, reconciled, burst) -> str:
    """Issue #19's goals for this run, each met or NOT met."""
    def verdict(ok):
        return "met" if ok else "NOT met"

    rows = summary["endpoints"]
    ingest = summary["ingest_p95"]
    kinds = {"POST exceptions/ingest (1)": "single posts", "POST exceptions/ingest (batch)": "batches of 10"}
    parts = ", ".join(f"{kinds.get(name, name)} {row['p95']:.0f} ms" for name, row in rows.items()
                      if name.startswith("POST exceptions/ingest"))
    errors = summary["server_errors"] + summary["transport_errors"]
    lines = ["goals (issue #19):",
             f"  mixed traffic {summary['rps']:.1f} req/s (>= 200): {verdict(summary['rps'] >= 200)}",
             f"  ingest p95 {ingest:.0f} ms over all ingest posts; {parts} (< 200 ms): {verdict(ingest < 200)}"
             if ingest is not None else "  ingest p95: no ingest posts",
             f"  errors {errors} (0): {verdict(errors == 0)}; reconciliation: {verdict(reconciled)}"]
    if burst is not None:
        lines.append(f"  burst of {burst['sent']}: {burst['lost']} lost (0): {verdict(not burst['lost'])}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
