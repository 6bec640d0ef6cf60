"""Chaos: the Celery broker goes away for real, comes back, and nothing is lost or doubled.

A private redis-server (port 6390, in memory; the shared Redis is never touched) is the
broker of a real worker. Replays and event batches are posted through the API before,
during and after the broker is killed; two relay loops (as two `manage.py relay_outbox
--loop` processes would) publish the backlog when it is back. Prints what it proved.

    DATABASE_URL=postgres://... python scripts/chaos/broker_outage.py
"""

import os
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.worker_support import PrivateRedis, setup_django  # noqa: E402

PORT = int(os.environ.get("CHAOS_BROKER_PORT", "6390"))
BEFORE, DURING = 10, 40

redis_server = PrivateRedis(PORT)
setup_django(CELERY_BROKER_URL=redis_server.url, CELERY_TASK_ALWAYS_EAGER="0", OUTBOUND_URL_ALLOWLIST="127.0.0.0/8",
             OUTBOX_RELAY_AFTER_SECONDS="0")


def main():
    import datetime as dt

    from django.db import connections
    from django.db.models import Count
    from django.utils import timezone
    from rest_framework.test import APIClient

    from controlplane import outbox
    from controlplane.models import OutboxMessage
    from exceptions.models import ReplayAttempt
    from tests.conftest import CAST, make_user
    from tests.exceptions.factories import BusinessExceptionFactory, ReplayTargetFactory
    from tests.exceptions.test_replay import ReplayServer
    from tests.factories import IntegrationFactory
    from tests.worker_support import ChaosDatabase, database_url, start_worker, stop_worker, wait_for

    target = ReplayServer()
    with redis_server, ChaosDatabase("broker") as connection:
        finance = make_user("finance", CAST["finance"])
        from controlplane import roles
        from controlplane.services import create_service_account

        token, key = create_service_account(name="chaos", role=roles.INTEGRATION, all_integrations=True)
        people, machine = APIClient(), APIClient()
        people.force_login(finance)
        machine.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
        integration = IntegrationFactory()
        ReplayTargetFactory(integration=integration, url=target.url, secret="s", max_attempts=3)
        excs = [BusinessExceptionFactory(integration=integration) for _ in range(BEFORE + DURING)]

        def replay(exc):
            started = time.monotonic()
            response = people.post(f"/api/v1/exceptions/items/{exc.pk}/replay/", {"payload": {"fixed": exc.pk}},
                                   format="json")
            return response.status_code, time.monotonic() - started

        def events(n):
            at = (timezone.now() - dt.timedelta(hours=1)).isoformat()
            started = time.monotonic()
            response = machine.post("/api/v1/events/", [
                {"event_id": f"chaos-{n}", "type": "time_approved", "correlation_key": f"C{n}", "occurred_at": at}
            ], format="json")
            return response.status_code, time.monotonic() - started

        worker = start_worker(broker=redis_server.url, database=database_url(connection), name="chaos-outage")
        try:
            for exc in excs[:BEFORE]:
                assert replay(exc)[0] == 202
            if not wait_for(lambda: ReplayAttempt.objects.filter(succeeded=True).count() == BEFORE, timeout=60):
                raise SystemExit("worker did not deliver the replays sent before the outage")

            redis_server.kill()  # --- the outage ---
            outage_started = time.monotonic()
            results = [replay(exc) for exc in excs[BEFORE:]] + [events(n) for n in range(10)]
            accepted = sum(1 for status, _ in results if 200 <= status < 300)
            latencies = sorted(seconds for _, seconds in results)
            pending = OutboxMessage.objects.filter(sent_at__isnull=True).count()
            relay_during = outbox.relay()
            outage_s = time.monotonic() - outage_started

            redis_server.start()  # --- the broker is back ---
            back = time.monotonic()
            stop = threading.Event()
            relayed = []

            def relay_loop():
                try:
                    while not stop.is_set():
                        relayed.append(outbox.relay()["sent"])
                        time.sleep(0.5)
                finally:
                    connections.close_all()

            relays = [threading.Thread(target=relay_loop) for _ in range(2)]
            for t in relays:
                t.start()
            drained = wait_for(lambda: ReplayAttempt.objects.filter(succeeded=True).count() == BEFORE + DURING
                               and not OutboxMessage.objects.filter(sent_at__isnull=True).exists(), timeout=120)
            drain_s = time.monotonic() - back
            time.sleep(2)  # room for doubles to show
            stop.set()
            for t in relays:
                t.join()
        finally:
            output = stop_worker(worker)
            target.close()
        keys = [r["headers"]["Idempotency-Key"] for r in target.requests]
        doubled_attempts = ReplayAttempt.objects.values("replay_id").annotate(n=Count("id")).filter(n__gt=1).count()
        kpi_runs = OutboxMessage.objects.filter(task="kpis.tasks.refresh_after_ingest").count()

    print("broker outage (private redis-server killed and restarted, real worker, two relay loops)")
    print(f"  requests during the outage:   {len(results)} ({DURING} replays + 10 event batches)")
    print(f"  accepted (2xx):               {accepted}/{len(results)}")
    print(f"  latency during the outage:    median {statistics.median(latencies) * 1000:.0f} ms, "
          f"max {latencies[-1] * 1000:.0f} ms")
    print(f"  pending in the outbox:        {pending} (relay while down: {relay_during})")
    print(f"  outage lasted:                {outage_s:.1f} s")
    print(f"  delivered after it:           {len(set(keys)) - BEFORE} replays, {kpi_runs} KPI refreshes queued")
    print(f"  time to drain:                {drain_s:.1f} s after the broker came back")
    print(f"  target requests / unique keys: {len(keys)} / {len(set(keys))}  -> doubles = {len(keys) - len(set(keys))}")
    print(f"  replays with >1 attempt row:  {doubled_attempts}")
    print(f"  relay runs that sent something: {sum(1 for n in relayed if n)} (sent {sum(relayed)} in total)")
    ok = (drained and accepted == len(results) and len(keys) == len(set(keys)) == BEFORE + DURING
          and doubled_attempts == 0 and sum(relayed) == pending and "Traceback" not in output)
    print("  RESULT:", "PASS" if ok else "FAIL")
    if not ok:
        print(output[-3000:])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
