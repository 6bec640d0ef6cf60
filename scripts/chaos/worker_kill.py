"""Chaos: SIGKILL a real Celery worker in the middle of a replay and of a probe sweep, start
another, and check the end state equals one clean run: one attempt row per replay, one
probe result per scheduled run, nothing lost. Prints what it proved.

The whole worker process is killed (as a crashed host or an OOM kill would), so its
unacknowledged message comes back after the broker's visibility timeout (5 s here, via
CELERY_VISIBILITY_TIMEOUT_SECONDS; 1 hour by default) and the probes' lease (10 s here).

    DATABASE_URL=postgres://... python scripts/chaos/worker_kill.py
"""

import os
import signal
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.worker_support import PrivateRedis, setup_django  # noqa: E402

PORT = int(os.environ.get("CHAOS_KILL_BROKER_PORT", "6391"))
REPLAYS, PROBES = 5, 20
WORKER_ENV = {"CELERY_VISIBILITY_TIMEOUT_SECONDS": "5", "HEALTH_LEASE_SECONDS": "10"}

redis_server = PrivateRedis(PORT)
setup_django(CELERY_BROKER_URL=redis_server.url, CELERY_TASK_ALWAYS_EAGER="0", OUTBOUND_URL_ALLOWLIST="127.0.0.0/8",
             **WORKER_ENV)


def main():
    from celery import Celery
    from django.db import transaction
    from django.db.models import Count

    from exceptions import services
    from exceptions.models import ReplayAttempt
    from health.models import ProbeResult
    from tests.conftest import CAST, make_user
    from tests.exceptions.factories import BusinessExceptionFactory, ReplayTargetFactory
    from tests.exceptions.test_replay import ReplayServer
    from tests.factories import IntegrationFactory
    from tests.health.factories import ProbeFactory
    from tests.hostile_server import HostileServer
    from tests.worker_support import ChaosDatabase, database_url, start_worker, stop_worker, wait_for

    target, probe_target = ReplayServer(), HostileServer().start()
    outputs, report = [], {}
    with redis_server, ChaosDatabase("kill") as connection:
        db = database_url(connection)
        client = Celery(broker=redis_server.url)

        def worker(name):
            return start_worker(broker=redis_server.url, database=db, name=name, extra_env=WORKER_ENV)

        def kill(process):
            process.send_signal(signal.SIGKILL)
            outputs.append(stop_worker(process))

        # --- replay: killed while the target is answering the first POST ---------------
        finance = make_user("finance", CAST["finance"])
        integration = IntegrationFactory()
        ReplayTargetFactory(integration=integration, url=target.url, secret="s", max_attempts=3)
        excs = [BusinessExceptionFactory(integration=integration) for _ in range(REPLAYS)]
        target.delay = 3.0
        first = worker("chaos-kill-1")
        for exc in excs:
            with transaction.atomic():
                services.request_replay(exception=exc, actor=finance)
        if not wait_for(lambda: len(target.requests) >= 1, timeout=60):
            raise SystemExit("the worker never started the first replay")
        time.sleep(0.5)
        kill(first)
        killed_at = time.monotonic()
        in_flight = len(target.requests)
        recorded_at_kill = ReplayAttempt.objects.filter(finished_at__isnull=False).count()
        target.delay = 0.1
        second = worker("chaos-kill-2")
        replays_done = wait_for(lambda: ReplayAttempt.objects.filter(succeeded=True).count() == REPLAYS, timeout=150)
        report["replay_recovery_s"] = time.monotonic() - killed_at
        keys = [r["headers"]["Idempotency-Key"] for r in target.requests]
        per_replay = ReplayAttempt.objects.values("replay_id").annotate(n=Count("id"))
        doubled_rows = sum(1 for row in per_replay if row["n"] > 1)
        attempt_rows = sum(row["n"] for row in per_replay)

        # --- probe sweep: killed while its probes wait on a slow target ----------------
        ProbeFactory.create_batch(PROBES, url=probe_target.url("/slow"), timeout_ms=5000)
        client.send_task("health.tasks.dispatch_due_probes")
        if not wait_for(lambda: probe_target.hits["/slow"] >= PROBES, timeout=60):
            raise SystemExit("the sweep never reached the probes")
        kill(second)
        killed_at = time.monotonic()
        results_at_kill = ProbeResult.objects.count()
        third = worker("chaos-kill-3")
        # beat's next ticks (every 5 s in production)
        ticks = 0
        while ProbeResult.objects.count() < PROBES and time.monotonic() - killed_at < 150:
            client.send_task("health.tasks.dispatch_due_probes")
            ticks += 1
            time.sleep(2)
        report["sweep_recovery_s"] = time.monotonic() - killed_at
        client.send_task("health.tasks.dispatch_due_probes")  # and a duplicate tick
        time.sleep(3)
        results = ProbeResult.objects.count()
        runs = ProbeResult.objects.values("probe_id", "scheduled_at").distinct().count()
        outputs.append(stop_worker(third))
        client.close()
    target.close()
    probe_target.stop()

    print("worker killed mid-task (SIGKILL of a real solo worker; a fresh worker takes over)")
    print(f"  replay: killed during POST #{in_flight} (rows finished at the kill: {recorded_at_kill})")
    print(f"    target requests / unique Idempotency-Keys: {len(keys)} / {len(set(keys))} "
          f"(the interrupted one re-sent with the SAME key: the target dedupes)")
    print(f"    attempt rows: {attempt_rows} "
          f"for {REPLAYS} replays; replays with >1 row: {doubled_rows}")
    print(f"    all {REPLAYS} delivered {report['replay_recovery_s']:.1f} s after the kill: {replays_done}")
    print(f"  sweep: killed with {PROBES} probes in flight (results stored at the kill: {results_at_kill})")
    print(f"    results {results}, distinct (probe, scheduled run) {runs}, expected {PROBES} -> doubles = {results - runs}")
    print(f"    recovered {report['sweep_recovery_s']:.1f} s after the kill (lease 10 s) over {ticks} beat ticks")
    ok = (replays_done and len(set(keys)) == REPLAYS and doubled_rows == 0 and results == runs == PROBES
          and results_at_kill == 0)
    print("  RESULT:", "PASS" if ok else "FAIL")
    if not ok:
        print("\n".join(o[-2000:] for o in outputs))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
