"""A Prometheus scrape of /metrics on a large estate (default 10,000 integrations, each with
a status, an SLA and three hours of rollups, plus 20,000 open exceptions in three
currencies): median time, body size and queries per scrape, against the same scrape at a
tenth of the estate measured in the same run (the baseline), so a load on the machine
shows in both and the ratio says how the cost grows.

Runs on whatever DATABASE_URL says (SQLite by default); builds and drops its own test
database.

    python -m tests.benchmarks metrics
"""

import datetime as dt
import os
import statistics
import time
from decimal import Decimal

INTEGRATIONS = int(os.environ.get("BENCH_METRICS_INTEGRATIONS", "10000"))
BEARER = "b" * 40


def main():
    from tests.benchmarks import test_database

    with test_database():
        run()


def grow(team, systems, queues, start, stop):
    from django.utils import timezone

    from catalog.models import Integration, Sla
    from exceptions.models import BusinessException
    from health.choices import Granularity, Status
    from health.models import HealthConfig, Rollup

    a, b = systems
    integrations = Integration.objects.bulk_create([
        Integration(name=f"Integration {i}", slug=f"integration-{i}", source_system=a, target_system=b, owner_team=team)
        for i in range(start, stop)
    ], batch_size=2000)
    statuses = [Status.UP] * 17 + [Status.DOWN, Status.LATE, Status.DEGRADED]
    HealthConfig.objects.bulk_create([HealthConfig(integration=it, status=statuses[i % 20])
                                      for i, it in enumerate(integrations)], batch_size=2000)
    Sla.objects.bulk_create([Sla(integration=it, availability_target=Decimal("99.5"), p95_latency_ms=800)
                             for it in integrations], batch_size=2000)
    hour = timezone.now().replace(minute=0, second=0, microsecond=0)
    Rollup.objects.bulk_create([
        Rollup(integration=it, granularity=Granularity.HOUR, period_start=hour - dt.timedelta(hours=h), checks=60,
               checks_ok=60 - (i % 3), latency_p95_ms=100.0 + i % 500)
        for i, it in enumerate(integrations) for h in range(1, 4)
    ], batch_size=5000)
    currencies = ["EUR", "GBP", "USD"]
    BusinessException.objects.bulk_create([
        BusinessException(integration=it, queue=queues[(i + k) % len(queues)], error_code="E", message="m",
                          severity=["critical", "high", "medium", "low"][(i + k) % 4], fingerprint=f"fp-{i}-{k}",
                          amount_at_risk=Decimal("125.50"), currency=currencies[(i + k) % 3])
        for i, it in enumerate(integrations) for k in range(2)
    ], batch_size=5000)


def scrape(client, repeat=5):
    from django.db import connection

    executed = []

    def count(execute, sql, params, many, context):  # every statement, whatever the log does
        executed.append(sql)
        return execute(sql, params, many, context)

    times = []
    for _ in range(repeat):
        executed.clear()
        with connection.execute_wrapper(count):
            started = time.perf_counter()
            response = client.get("/metrics")
            times.append(time.perf_counter() - started)
        assert response.status_code == 200, response.status_code
    gzipped = client.get("/metrics", HTTP_ACCEPT_ENCODING="gzip")  # what Prometheus asks for
    return statistics.median(times) * 1000, len(response.content), len(gzipped.content), len(executed)


def run():
    from django.conf import settings
    from django.db import connection
    from django.test import Client

    from catalog.models import System, Team
    from exceptions.models import Queue

    settings.METRICS_BEARER_TOKEN = BEARER
    team = Team.objects.create(name="Metrics team", slug="metrics-team")
    systems = (System.objects.create(name="A", slug="a", owner_team=team),
               System.objects.create(name="B", slug="b", owner_team=team))
    queues = [Queue.objects.create(name=f"Queue {i}", slug=f"queue-{i}", team=team) for i in range(8)]
    client = Client(HTTP_AUTHORIZATION=f"Bearer {BEARER}")
    small = max(1, INTEGRATIONS // 10)
    print(f"on {connection.vendor}; the machine may be shared (numbers under load: read the ratio)")
    print(f"{'estate':40} {'median ms':>10} {'bytes':>10} {'gzipped':>10} {'queries':>8}")
    rows = []
    for size, start in ((small, 0), (INTEGRATIONS, small)):
        started = time.perf_counter()
        grow(team, systems, queues, start, size)
        built = time.perf_counter() - started
        ms, length, gzipped, queries = scrape(client)
        rows.append((ms, queries))
        print(f"{f'{size} integrations (built in {built:.0f} s)':40} {ms:10.1f} {length:10d} {gzipped:10d} {queries:8d}")
    healthz = statistics.median(
        [(lambda s: (client.get("/healthz"), time.perf_counter() - s)[1])(time.perf_counter()) for _ in range(20)]) * 1000
    print(f"{'/healthz (floor of a request)':40} {healthz:10.1f}")
    print(f"ratio {INTEGRATIONS} / {small} integrations: {rows[1][0] / rows[0][0]:.1f}x time "
          f"for {INTEGRATIONS / small:.0f}x the estate; queries {rows[0][1]} -> {rows[1][1]}")
