"""``make load``: gunicorn (several workers) on PostgreSQL, a real Redis broker and Celery
worker, and the asyncio load client for a bounded time; then the figures and the final
reconciliation. Exit status 1 if reconciliation fails or any request got a 5xx.

    python -m tests.load [--duration 60] [--workers 4] [--threads 2] [--concurrency 2] [--no-worker]

Environment: LOAD_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/cp_load, created
and migrated if missing), LOAD_REDIS_URL (cache, default db 6), LOAD_BROKER_URL (default
db 7), LOAD_DURATION (seconds).
"""

import argparse
import os
import sys
import time

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
    server = harness.Gunicorn(env, workers=args.workers, threads=args.threads)
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
    rec = reconcile(ledger)
    print()
    print(rec.format())
    failed = not rec.ok or summary["server_errors"] or summary["transport_errors"]
    if summary["server_errors"] or summary["transport_errors"]:
        print(f"FAILED: {summary['server_errors']} 5xx and {summary['transport_errors']} requests without an answer")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
