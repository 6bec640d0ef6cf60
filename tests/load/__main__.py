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
    server = harness.Gunicorn(env, workers=args.workers, threads=args.threads, port=args.port or None)
    worker = None if args.no_worker else harness.CeleryWorker(env)
    print(f"run {run}: gunicorn {args.workers} workers x {args.threads} threads, "
          f"{'a Celery worker' if worker else 'no Celery worker'}, {args.duration:.0f} s ...", flush=True)
    server.start()
    if worker:
        worker.start()
    try:
        cpu = {}
        client = LoadClient(server.url, plan, duration=args.duration, concurrency=args.concurrency,
                            on_start=lambda: cpu.update(web0=server.worker_cpu_seconds(), client0=time.process_time()))
        client.on_end = lambda: cpu.update(web1=server.worker_cpu_seconds(), client1=time.process_time())
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
    web_cpu, client_cpu = cpu["web1"] - cpu["web0"], cpu["client1"] - cpu["client0"]
    print(f"CPU during the measured phase: gunicorn workers {web_cpu:.1f} s "
          f"({web_cpu / elapsed * 100:.0f}% of one core, {web_cpu * 1000 / max(1, summary['total']):.0f} ms per request), "
          f"this client {client_cpu:.1f} s; {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
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
    failed = not rec.ok or summary["server_errors"] or summary["transport_errors"] or (burst is not None and burst["lost"])
    if summary["server_errors"] or summary["transport_errors"]:
        print(f"FAILED: {summary['server_errors']} 5xx and {summary['transport_errors']} requests without an answer")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
