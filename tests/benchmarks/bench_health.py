"""Probe sweep benchmark: a loopback aiohttp server (separate process) answers 2,000 then
10,000 endpoints with 50-250 ms latency, 5% hanging past the timeout; one real sweep
(claim -> run -> store) runs through them. Prints the sweep time beside the ideal bound
(sum of latencies + hung x timeout) / concurrency, and the sweep process's CPU time.

"first" is the first sweep (every integration flips unknown -> up: flips and audit rows
in bulk); "steady" is the next one (no flips), the everyday case.

Also compares (``HEALTH_BENCH_COMPARE=1``) the raw fetch phase of the one outbound client (guarded) with a bare aiohttp
session at the same concurrency (2,000 endpoints), the measurement behind keeping our own client. Loopback only;
bounded in time.
"""

import asyncio
import os
import resource
import socket
import subprocess
import sys
import time

TIMEOUT_MS = 2000
CONCURRENCY = int(os.environ.get("HEALTH_BENCH_CONCURRENCY", "500"))
REPEAT = int(os.environ.get("HEALTH_BENCH_REPEAT", "1"))  # steady sweeps per size
SIZES = [int(n) for n in os.environ.get("HEALTH_BENCH_SIZES", "2000,10000").split(",")]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _proc_cpu(pid):
    """User + system CPU seconds of another process (the loopback server), from /proc."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return float("nan")


def _db_backend_pid(connection):
    """The PostgreSQL backend serving this connection (same machine: its CPU counts
    against the same two cores)."""
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def _start_server():
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "health.testing", str(port)], stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if "listening" not in line:
        proc.kill()
        raise RuntimeError("loopback server did not start")
    return proc, f"http://127.0.0.1:{port}"


def _seed(n, base_url):
    from django.utils import timezone

    from catalog.models import Integration, System, Team
    from health.models import HealthConfig, Probe, ProbeResult

    ProbeResult.objects.all().delete()
    Probe.objects.all().delete()
    HealthConfig.objects.all().delete()
    Integration.objects.filter(slug__startswith="bench-").delete()
    team, _ = Team.objects.get_or_create(slug="bench-team", defaults={"name": "Bench team"})
    a, _ = System.objects.get_or_create(slug="bench-a", defaults={"name": "Bench A", "owner_team": team})
    b, _ = System.objects.get_or_create(slug="bench-b", defaults={"name": "Bench B", "owner_team": team})
    integrations = Integration.objects.bulk_create(
        [Integration(name=f"Bench {i}", slug=f"bench-{i}", source_system=a, target_system=b, owner_team=team) for i in range(n)],
        batch_size=2000,
    )
    HealthConfig.objects.bulk_create([HealthConfig(integration=i) for i in integrations], batch_size=2000)
    now = timezone.now()
    Probe.objects.bulk_create(
        [Probe(integration=integ, name="bench", url=f"{base_url}/bench/{i}", timeout_ms=TIMEOUT_MS, interval_seconds=60,
               conditions="[STATUS] == 200", next_due_at=now) for i, integ in enumerate(integrations)],
        batch_size=2000,
    )


def _bound(n):
    from health.testing import bench_hangs, bench_latency_ms

    hung = sum(1 for i in range(n) if bench_hangs(i))
    latency = sum(bench_latency_ms(i) for i in range(n) if not bench_hangs(i)) / 1000
    return (latency + hung * TIMEOUT_MS / 1000) / CONCURRENCY, hung


def _aiohttp_fetch(base_url, n):
    import aiohttp

    from controlplane.aio import run_async

    async def run():
        semaphore = asyncio.Semaphore(CONCURRENCY)
        connector = aiohttp.TCPConnector(limit=CONCURRENCY)
        async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=TIMEOUT_MS / 1000)) as session:

            async def one(i):
                async with semaphore:
                    try:
                        async with session.get(f"{base_url}/bench/{i}") as response:
                            await response.read()
                            return response.status
                    except (aiohttp.ClientError, TimeoutError):
                        return None

            return await asyncio.gather(*(one(i) for i in range(n)))

    return run_async(run())


def _outbound_fetch(base_url, n):
    from controlplane.aio import run_async
    from controlplane.outbound import Client

    async def run():
        semaphore = asyncio.Semaphore(CONCURRENCY)
        async with Client() as client:

            async def one(i):
                async with semaphore:
                    return await client.request("GET", f"{base_url}/bench/{i}", timeout_s=TIMEOUT_MS / 1000)

            return await asyncio.gather(*(one(i) for i in range(n)))

    return run_async(run())


def main():
    from django.conf import settings
    from django.db import connection

    from health.sweep import sweep
    from tests.benchmarks import test_database

    settings.OUTBOUND_URL_ALLOWLIST = ["127.0.0.0/8"]
    with test_database():
        _main(connection, sweep)


def _main(connection, sweep):
    proc, base_url = _start_server()
    try:
        print(f"database={connection.vendor} concurrency={CONCURRENCY} timeout={TIMEOUT_MS} ms cores={os.cpu_count()} "
              f"load average={os.getloadavg()[0]:.1f} (wall times stretch when other work shares the cores; CPU does not)")
        if "--compare" in sys.argv or os.environ.get("HEALTH_BENCH_COMPARE"):
            n = 2000
            bound, _ = _bound(n)
            for name, fetch in (("outbound (guarded)", _outbound_fetch), ("aiohttp (bare)", _aiohttp_fetch)):
                cpu, started = _cpu(), time.perf_counter()
                fetch(base_url, n)
                wall = time.perf_counter() - started
                print(f"fetch only, {n} endpoints, {name:18s}: {wall:6.2f} s (bound {bound:.2f} s, {wall / bound:.2f}x), CPU {_cpu() - cpu:.2f} s")
        for n in SIZES:
            _seed(n, base_url)
            bound, hung = _bound(n)
            for label in ("first", *["steady"] * REPEAT):
                if label == "steady":
                    from django.utils import timezone

                    from health.models import Probe

                    Probe.objects.update(next_due_at=timezone.now())
                db_pid = _db_backend_pid(connection)
                db_cpu = _proc_cpu(db_pid) if db_pid else float("nan")
                cpu, server_cpu, started = _cpu(), _proc_cpu(proc.pid), time.perf_counter()
                stats = sweep(limit=n, concurrency=CONCURRENCY)
                wall = time.perf_counter() - started
                print(
                    f"{label:6s} sweep {n:>6} endpoints ({hung} hung): {wall:6.2f} s vs ideal bound {bound:.2f} s = "
                    f"{wall / bound:.2f}x; CPU sweep {_cpu() - cpu:.2f} s, server {_proc_cpu(proc.pid) - server_cpu:.2f} s, "
                    + (f"database backend {_proc_cpu(db_pid) - db_cpu:.2f} s; " if db_pid else "database in-process; ")
                    + f"wall/CPU claim {stats['claim_s']}/{stats['claim_cpu']} s, fetch+store {stats['run_s']}/{stats['run_cpu']} s "
                    f"(last answer at {stats['fetch_s']} s; event-loop thread CPU {stats['loop_cpu']} s, "
                    f"waited for a CPU {stats['loop_runqueue_wait']} s) "
                    f"(of which store, overlapped: {stats['store_s']}/{stats['store_cpu']} s), status refresh "
                    f"{stats['status_s']}/{stats['status_cpu']} s; failed {stats['failed']}, "
                    f"integrations flipped {stats['flipped_integrations']}; load {os.getloadavg()[0]:.1f}",
                    flush=True,
                )
    finally:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controlplane.settings.test")
    import django

    django.setup()
    main()
