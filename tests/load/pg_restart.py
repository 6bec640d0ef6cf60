"""``make chaos``: PostgreSQL goes away under load and comes back; the web processes are
not restarted.

By default the outage is simulated with a TCP proxy between gunicorn and PostgreSQL
(``tests.load.proxy``): cutting it kills every connection and refuses new ones, which is
what the web processes see during a restart, while the shared server keeps running for
everyone else. ``--real`` restarts the actual cluster with pg_ctlcluster instead (stop,
wait, start): every other user of the machine's PostgreSQL loses its connections too.

    python -m tests.load.pg_restart [--before 10] [--outage 5] [--after 15] [--real]

What it proves, printed at the end: requests during the outage fail fast and cleanly
(503 in the API error shape, a 503 page for HTML; no 500, no hung request), how long
after the database returns requests succeed again, zero errors after that, no gunicorn
worker restarted or timed out, and the final reconciliation is exact (writes that failed
were retried with the same idempotency key).
"""

import argparse
import asyncio
import os
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass

from . import harness
from .client import LoadClient, format_summary, percentile, summarize


@dataclass
class Outage:
    cut_at: float = 0.0
    restored_at: float = 0.0
    terminated: int = 0  # sessions killed (--terminate)


def real_restart_commands():
    version = sorted(os.listdir("/etc/postgresql"))[-1]
    base = ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main"]
    return base + ["stop", "-m", "fast"], base + ["start"]


def terminate_sessions(database_url: str) -> int:
    """PostgreSQL's own "terminating connection due to administrator command" (what a
    shutdown sends every session), for the sessions of one database only."""
    import psycopg

    name = harness.database_name(database_url)
    with psycopg.connect(harness.admin_url(database_url), autocommit=True) as conn:
        return len(conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s "
                                "AND pid <> pg_backend_pid()", [name]).fetchall())


async def outage_timeline(client: LoadClient, outage: Outage, *, before: float, length: float, proxy=None,
                          terminate_url: str | None = None):
    """Runs alongside the load: wait ``before`` seconds, take the database away for
    ``length`` seconds, bring it back."""
    while not client.started:
        await asyncio.sleep(0.05)
    await asyncio.sleep(max(0.0, client.started + before - time.monotonic()))
    if terminate_url:
        outage.cut_at = time.monotonic()
        outage.terminated = 0
        while time.monotonic() < outage.cut_at + length:
            outage.terminated += await asyncio.to_thread(terminate_sessions, terminate_url)
            await asyncio.sleep(0.2)
    elif proxy is not None:
        await asyncio.to_thread(proxy.cut)
        outage.cut_at = time.monotonic()
        await asyncio.sleep(length)
        await asyncio.to_thread(proxy.restore)
    else:
        stop, start = real_restart_commands()
        outage.cut_at = time.monotonic()
        await asyncio.to_thread(subprocess.run, stop, check=True)
        await asyncio.sleep(length)
        await asyncio.to_thread(subprocess.run, start, check=True)
    outage.restored_at = time.monotonic()


def analyse(client: LoadClient, outage: Outage) -> dict:
    requests = client.stats.requests
    # Every request that was open while the database was away: sent during the outage, or
    # in flight when it began (those may still succeed if their queries were done).
    during = [r for r in requests if r.ended > outage.cut_at and r.started < outage.restored_at]
    sent_during = [r for r in during if r.started >= outage.cut_at]
    after = [r for r in requests if r.started >= outage.restored_at]
    api = [r for r in during if r.status == 503 and r.endpoint.split()[1].startswith(("api", "exceptions/ingest",
                                                                                      "integrations", "events", "heartbeat"))]
    clean_api = [r for r in api if r.error_code == "database_unavailable" and r.content_type.startswith("application/json")]
    pages = [r for r in during if r.status == 503 and r not in api]
    clean_pages = [r for r in pages if r.content_type.startswith("text/html")]
    unclean = [r for r in during if r.status not in (503,) and not 200 <= r.status < 500]
    lat = sorted((r.ended - r.started) * 1000 for r in sent_during)
    first_ok = min((r.ended for r in after if 200 <= r.status < 300), default=None)
    after_errors = [r for r in after if r.status == 0 or r.status >= 500]
    return {
        "outage_s": outage.restored_at - outage.cut_at,
        "during": len(during), "during_statuses": dict(sorted(Counter(r.status for r in during).items())),
        "in_flight": len(during) - len(sent_during),
        "sent_during": len(sent_during), "sent_during_statuses": dict(sorted(Counter(r.status for r in sent_during).items())),
        "during_p50_ms": percentile(lat, 50), "during_p99_ms": percentile(lat, 99), "during_max_ms": lat[-1] if lat else 0.0,
        "api_503": len(api), "api_503_clean": len(clean_api), "page_503": len(pages), "page_503_clean": len(clean_pages),
        "unclean": len(unclean), "unclean_statuses": dict(Counter(r.status for r in unclean)),
        "recovery_s": (first_ok - outage.restored_at) if first_ok else None,
        "after": len(after), "after_errors": len(after_errors),
        "after_error_statuses": dict(Counter(f"{r.status} {r.error_code}".strip() for r in after_errors)),
        "sent_during_ok": [f"{r.endpoint} {r.status}" for r in sent_during if 200 <= r.status < 300],
        "retried_writes_left": len(client.retry),
    }


def format_outage(result: dict, server: harness.Gunicorn) -> str:
    r = result
    recovery = f"{r['recovery_s']:.2f} s" if r["recovery_s"] is not None else "never"
    return "\n".join([
        f"outage: {r['outage_s']:.1f} s",
        f"  requests open during the outage: {r['during']} ({r['in_flight']} in flight when it began), "
        f"statuses {r['during_statuses']}",
        f"  sent during the outage: {r['sent_during']}, statuses {r['sent_during_statuses']}; answered in "
        f"p50 {r['during_p50_ms']:.0f} ms, p99 {r['during_p99_ms']:.0f} ms, max {r['during_max_ms']:.0f} ms",
        # A real restart answers for a moment while PostgreSQL shuts down; show how many, not each.
        *([f"  succeeded although sent during the outage: {len(r['sent_during_ok'])} "
           f"(e.g. {', '.join(r['sent_during_ok'][:3])})"] if r["sent_during_ok"] else []),
        f"  API 503 with error code database_unavailable: {r['api_503_clean']} of {r['api_503']}; "
        f"HTML 503 page: {r['page_503_clean']} of {r['page_503']}; other failures (500, no answer): {r['unclean']} "
        f"{r['unclean_statuses'] or ''}",
        f"  first success after the database returned: {recovery}",
        f"  requests after recovery: {r['after']}, errors {r['after_errors']} {r['after_error_statuses'] or ''}",
        f"  writes still failing after the drain: {r['retried_writes_left']}",
        f"  gunicorn: {server.boots} worker boot(s) for {server.workers} workers (no restart), "
        f"{server.timeouts} worker timeout(s)",
    ])


def outage_ok(result: dict, server: harness.Gunicorn) -> bool:
    return (result["during"] > 0 and result["api_503"] > 0 and result["api_503"] == result["api_503_clean"]
            and result["page_503"] == result["page_503_clean"] and result["unclean"] == 0
            and result["recovery_s"] is not None and result["after_errors"] == 0
            and result["retried_writes_left"] == 0 and server.boots == server.workers and server.timeouts == 0)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", type=float, default=10.0)
    parser.add_argument("--outage", type=float, default=5.0)
    parser.add_argument("--after", type=float, default=15.0)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=2)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--real", action="store_true",
                      help="restart the real PostgreSQL cluster (affects every user of it) instead of the proxy")
    mode.add_argument("--terminate", action="store_true",
                      help="no proxy: kill the load database's sessions (pg_terminate_backend) every 0.2 s during "
                           "the outage, as a shutdown does; other databases are untouched")
    parser.add_argument("--database-url", default=os.environ.get("LOAD_DATABASE_URL", harness.DEFAULT_DATABASE_URL))
    args = parser.parse_args(argv)

    broker = os.environ.get("LOAD_BROKER_URL", harness.DEFAULT_BROKER_URL)
    env = harness.server_env(database_url=args.database_url, redis_url=os.environ.get("LOAD_REDIS_URL", harness.DEFAULT_REDIS_URL),
                             broker_url=broker, settings_module="controlplane.settings.production")
    harness.ensure_database(args.database_url)
    harness.migrate(env)
    from .__main__ import setup_django

    setup_django(env)
    from django.db import connection

    from .reconcile import new_run_id, reconcile, seed

    plan = seed(new_run_id())
    connection.close()  # this process reconnects after the outage for the reconciliation
    proxy = None
    web_env = dict(env)
    if not args.real and not args.terminate:
        from .proxy import TcpProxy

        proxy = TcpProxy().start()
        web_env["DATABASE_URL"] = harness.with_host_port(args.database_url, "127.0.0.1", proxy.port)
    server = harness.Gunicorn(web_env, workers=args.workers, threads=args.threads)
    how = ("PostgreSQL (REAL restart)" if args.real else "PostgreSQL (sessions terminated)" if args.terminate
           else f"TCP proxy :{proxy.port} -> PostgreSQL")
    print(f"run {plan['run']}: gunicorn {args.workers}x{args.threads} -> {how}; "
          f"load {args.before:.0f} s, outage {args.outage:.0f} s, load {args.after:.0f} s", flush=True)
    server.start()
    outage = Outage()
    try:
        client = LoadClient(server.url, plan, duration=args.before + args.outage + args.after,
                            concurrency=args.concurrency, drain=20)
        elapsed = client.run_blocking(outage_timeline(client, outage, before=args.before, length=args.outage, proxy=proxy,
                                                      terminate_url=args.database_url if args.terminate else None))
    finally:
        server.stop()
        if proxy is not None:
            proxy.stop()
    print()
    print(format_summary(summarize(client.stats, elapsed)))
    result = analyse(client, outage)
    print()
    print(format_outage(result, server))
    if args.terminate:
        print(f"  sessions terminated: {outage.terminated}")
    rec = reconcile(client.ledger)
    print()
    print(rec.format())
    harness.broker_backlog(broker, purge=True)
    ok = outage_ok(result, server) and rec.ok
    print("\nCHAOS " + ("PASSED" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
