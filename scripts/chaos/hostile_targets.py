"""Chaos: replay, probe and webhook calls (all through the one client, controlplane.outbound) against a local hostile
server that hangs, resets, trickles bytes (slowloris), sends 1.5 GB (with a true, a missing and a lying
Content-Length) or a gzip bomb (1 MB -> 1 GB). Prints time, bytes kept and memory for each,
and checks them against the deadline and a 50 MB memory budget. No database needed.

    python scripts/chaos/hostile_targets.py
"""

import os
import resource
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

TIMEOUT = int(os.environ.get("CHAOS_HOSTILE_TIMEOUT", "3"))
os.environ.update(OUTBOUND_URL_ALLOWLIST="127.0.0.1", EXCEPTIONS_REPLAY_TIMEOUT_SECONDS=str(TIMEOUT),
                  EXCEPTIONS_REPLAY_MAX_RESPONSE_BYTES=str(64 * 1024), DATABASE_URL="sqlite:///:memory:")

from tests.worker_support import setup_django  # noqa: E402

setup_django()

PATHS = ["/hang", "/reset", "/trickle-head", "/trickle-body", "/huge", "/huge-unsized", "/huge-lying", "/gzip-bomb"]
SLACK = 1.0
BUDGET = 50 * 1024 * 1024


def main():
    from controlplane.aio import run_async
    from controlplane.outbound import Client, request_sync
    from exceptions.replay import post
    from tests.hostile_server import HostileServer

    def replay(url):
        outcome = post(url, b"{}", {"Content-Type": "application/json", "Idempotency-Key": "chaos"})
        return outcome.status, len(outcome.body), outcome.error

    def probe(url):
        async def go():
            async with Client() as client:
                return await client.request("GET", url, timeout_s=TIMEOUT, max_body=64 * 1024)

        outcome = run_async(go())
        return outcome.status, len(outcome.body), outcome.error

    def webhook(url):
        outcome = request_sync("POST", url, data=b"{}", timeout_s=TIMEOUT, max_body=64 * 1024)
        return outcome.status, len(outcome.body), outcome.error

    server = HostileServer().start()
    replay(server.url("/"))
    probe(server.url("/"))
    webhook(server.url("/"))  # warm the clients
    print(f"hostile targets (deadline {TIMEOUT} s, body cap 64 KB, memory budget {BUDGET >> 20} MB)")
    print(f"  {'client':<7} {'target':<14} {'seconds':>7} {'kept':>8} {'peak MB':>8} {'RSS+ MB':>8}  outcome")
    failures = 0
    for path in PATHS:
        for name, call in (("replay", replay), ("probe", probe), ("webhook", webhook)):
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            tracemalloc.start()
            started = time.monotonic()
            try:
                status, kept, error = call(server.url(path))
            except Exception as exc:  # the outcome we report
                status, kept, error = None, 0, f"{type(exc).__name__}: {exc}"
            elapsed = time.monotonic() - started
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss) * 1024
            ok = elapsed <= TIMEOUT + SLACK and peak < BUDGET and grown < BUDGET and kept <= 64 * 1024
            failures += not ok
            outcome = (f"HTTP {status}" if status else "") + (f" {error[:60]}" if error else "")
            print(f"  {name:<7} {path:<14} {elapsed:7.2f} {kept:8d} {peak / 2**20:8.1f} {grown / 2**20:8.1f}  "
                  f"{outcome.strip()}{'' if ok else '   <-- OVER BUDGET'}")
    server.stop()
    print(f"  every call within {TIMEOUT}+{SLACK:g} s, 64 KB kept and {BUDGET >> 20} MB:",
          "PASS" if not failures else f"FAIL ({failures})")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
