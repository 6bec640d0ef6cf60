"""The status board's poll on a large estate (default 10,000 integrations in 20 workflows,
every one with a status): how long a full board takes to render, and how long the poll
takes when nothing changed (the board answers 204 and htmx swaps nothing).

Runs on whatever DATABASE_URL says (SQLite by default); builds and drops its own test
database.

    python -m tests.benchmarks health_board
"""

import os
import re
import statistics
import time

INTEGRATIONS = int(os.environ.get("BENCH_BOARD_INTEGRATIONS", "10000"))


def main():
    from tests.benchmarks import test_database

    with test_database():
        run()


def build():
    from catalog.models import Integration, System, Team, Workflow
    from health.choices import Status
    from health.models import HealthConfig

    team = Team.objects.create(name="Board team", slug="board-team")
    a = System.objects.create(name="A", slug="a", owner_team=team)
    b = System.objects.create(name="B", slug="b", owner_team=team)
    workflows = Workflow.objects.bulk_create([Workflow(name=f"Board flow {i}", slug=f"board-flow-{i}") for i in range(20)])
    integrations = Integration.objects.bulk_create([
        Integration(name=f"Integration {i}", slug=f"integration-{i}", source_system=a, target_system=b,
                    owner_team=team) for i in range(INTEGRATIONS)
    ])
    Through = Integration.workflows.through
    Through.objects.bulk_create([Through(integration=it, workflow=workflows[i % 20]) for i, it in enumerate(integrations)])
    statuses = [Status.UP] * 17 + [Status.DOWN, Status.LATE, Status.DEGRADED]
    HealthConfig.objects.bulk_create([
        HealthConfig(integration=it, status=statuses[i % 20], status_reason=f"reason {i}")
        for i, it in enumerate(integrations)
    ])


def timed(client, url, expect, repeat=5, **headers):
    times, size = [], 0
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.get(url, **headers)
        times.append(time.perf_counter() - started)
        assert response.status_code == expect, (url, response.status_code)
        size = len(response.content)
    return statistics.median(times) * 1000, size


def run():
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client

    started = time.perf_counter()
    build()
    print(f"estate: {INTEGRATIONS} integrations with a status on {connection.vendor} "
          f"(built in {time.perf_counter() - started:.1f} s)")
    client = Client()
    client.force_login(get_user_model().objects.create_superuser("bench", "bench@example.com", "pw"))
    full_ms, full_size = timed(client, "/health/", 200)
    poll_ms, poll_size = timed(client, "/health/", 200, HTTP_HX_REQUEST="true")
    version = re.search(r'data-version="([0-9a-f]+)"', client.get("/health/").content.decode()).group(1)
    same_ms, _ = timed(client, f"/health/?v={version}", 204, HTTP_HX_REQUEST="true")
    print(f"{'request':48} {'median ms':>10} {'bytes':>10}")
    print(f"{'board page':48} {full_ms:10.1f} {full_size:10d}")
    print(f"{'poll, something changed (fragment rendered)':48} {poll_ms:10.1f} {poll_size:10d}")
    print(f"{'poll, nothing changed (204)':48} {same_ms:10.1f} {0:10d}")
