"""Catalog list endpoints and pages on a large estate (default 200 systems, 600 APIs,
3,000 integrations with 3 APIs, 3 entities and 2 workflows each, SLAs on most).

Prints the median time and query count of the API list (page sizes 50 and 500), a few
filters and the HTML list page. Runs on whatever DATABASE_URL says (SQLite by default);
builds and drops its own test database.

    python -m tests.benchmarks catalog
"""

import os
import statistics
import time

SYSTEMS = int(os.environ.get("BENCH_CATALOG_SYSTEMS", "200"))
APIS = int(os.environ.get("BENCH_CATALOG_APIS", "600"))
INTEGRATIONS = int(os.environ.get("BENCH_CATALOG_INTEGRATIONS", "3000"))


def main():
    from tests.benchmarks import test_database

    with test_database():
        run()


def build():
    from catalog.models import Api, CanonicalEntity, Integration, Sla, System, Team, Workflow

    teams = Team.objects.bulk_create([Team(name=f"Team {i}", slug=f"team-{i}") for i in range(20)])
    systems = System.objects.bulk_create([
        System(name=f"System {i}", slug=f"system-{i}", owner_team=teams[i % 20], category="erp",
               vendor=f"Vendor {i % 13}") for i in range(SYSTEMS)
    ])
    apis = Api.objects.bulk_create([
        Api(name=f"API {i}", slug=f"api-{i}", provider_system=systems[i % SYSTEMS], owner_team=teams[i % 20],
            lifecycle="published", finance_sensitive=i % 4 == 0) for i in range(APIS)
    ])
    integrations = Integration.objects.bulk_create([
        Integration(name=f"Integration {i}", slug=f"integration-{i}", source_system=systems[i % SYSTEMS],
                    target_system=systems[(i * 7 + 1) % SYSTEMS], owner_team=teams[i % 20], lifecycle="active",
                    schedule="*/15 * * * *") for i in range(INTEGRATIONS)
    ])
    entities = list(CanonicalEntity.objects.all())
    workflows = list(Workflow.objects.all())
    Through = Integration.apis.through
    Through.objects.bulk_create([Through(integration=it, api=apis[(i + k * 97) % APIS])
                                 for i, it in enumerate(integrations) for k in range(3)])
    Through = Integration.entities.through
    Through.objects.bulk_create([Through(integration=it, canonicalentity=entities[(i + k) % len(entities)])
                                 for i, it in enumerate(integrations) for k in range(3)])
    Through = Integration.workflows.through
    Through.objects.bulk_create([Through(integration=it, workflow=workflows[(i + k) % len(workflows)])
                                 for i, it in enumerate(integrations) for k in range(2)])
    Sla.objects.bulk_create([Sla(integration=it, availability_target="99.5", p95_latency_ms=800)
                             for i, it in enumerate(integrations) if i % 5])


def measure(client, url, repeat=5):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    times, queries = [], 0
    for _ in range(repeat):
        with CaptureQueriesContext(connection) as ctx:
            started = time.perf_counter()
            response = client.get(url)
            times.append(time.perf_counter() - started)
        assert response.status_code == 200, (url, response.status_code)
        queries = len(ctx.captured_queries)
    return statistics.median(times) * 1000, queries


def run():
    from django.contrib.auth import get_user_model
    from django.db import connection
    from rest_framework.test import APIClient

    started = time.perf_counter()
    build()
    print(f"estate: {SYSTEMS} systems, {APIS} APIs, {INTEGRATIONS} integrations on {connection.vendor} "
          f"(built in {time.perf_counter() - started:.1f} s)")
    user = get_user_model().objects.create_superuser("bench", "bench@example.com", "pw")
    api = APIClient()
    api.force_login(user)
    from django.test import Client

    web = Client()
    web.force_login(user)
    cases = [
        (api, "/api/v1/catalog/integrations/?page_size=50"),
        (api, "/api/v1/catalog/integrations/?page_size=500"),
        (api, "/api/v1/catalog/integrations/?page_size=50&page=40"),
        (api, "/api/v1/catalog/integrations/?q=integration 12"),
        (api, "/api/v1/catalog/integrations/?system=system-5"),
        (api, "/api/v1/catalog/integrations/?api=api-7&lifecycle=active"),
        (api, "/api/v1/catalog/integrations/?finance_sensitive=true&page_size=100"),
        (api, "/api/v1/catalog/apis/?page_size=500"),
        (api, "/api/v1/catalog/systems/?page_size=200"),
        (web, "/catalog/integrations/?page_size=50"),
        (web, "/catalog/integrations/?page_size=200&sort=-source"),
        (web, "/catalog/apis/?page_size=200&sort=consumers"),
        (web, "/catalog/"),
    ]
    print(f"{'request':75} {'median ms':>10} {'queries':>8}")
    for client, url in cases:
        ms, queries = measure(client, url)
        kind = "API " if client is api else "page"
        print(f"{kind} {url:70} {ms:10.1f} {queries:8d}")
