"""Catalog intelligence at estate sizes beyond the tests: impact analysis (target: one
system within 300 ms on 20,000 integrations) and scorecards on 2,000 and 20,000 integrations, Backstage import (dry run, apply, re-import) and export of
1,000 entities. Runs on SQLite or PostgreSQL (DATABASE_URL); builds its own test database.

Sizes: BENCH_INTEL_INTEGRATIONS (comma list, default "2000,20000"), BENCH_INTEL_ENTITIES (1000).
"""

import os
import time

SIZES = [int(s) for s in os.environ.get("BENCH_INTEL_INTEGRATIONS", "2000,20000").split(",")]
ENTITIES = int(os.environ.get("BENCH_INTEL_ENTITIES", "1000"))


def main():
    from tests.benchmarks import test_database

    with test_database():
        run()


def timed(label, fn, repeat=3):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    best = None
    for _ in range(repeat):
        with CaptureQueriesContext(connection) as ctx:
            started = time.perf_counter()
            result = fn()
            elapsed = time.perf_counter() - started
        best = elapsed if best is None else min(best, elapsed)
    print(f"{label:<58} {best * 1000:9.1f} ms  {len(ctx.captured_queries):4d} queries")
    return result


def run():
    from catalog import backstage, estate_graph, impact, scorecards
    from catalog.models import Api, Integration, System, Team
    from tests.catalog.intel.factories import build_large_estate

    for size in SIZES:
        Integration.objects.all().delete()
        Api.objects.all().delete()
        System.objects.all().delete()
        Team.objects.all().delete()
        started = time.perf_counter()
        big = build_large_estate(size, n_systems=max(30, size // 20), n_apis=max(40, size // 10))
        built = time.perf_counter() - started
        print(f"\nestate: {size} integrations, {len(big.systems)} systems, {len(big.apis)} APIs (built in {built:.1f} s)")
        for label, depth in (("1 hop, the default", 1), ("all downstream", None)):
            result = timed(f"impact of a system, {label} ({size})",
                           lambda b=big, d=depth: impact.answer(b.systems[0], depth=d))
            counts = result["counts"]
            print(f"{'':<58} -> {counts['direct']} direct, {counts['downstream']} downstream listed, "
                  f"{counts['beyond_depth']} beyond, up to hop {result['max_hop']}")
        timed(f"impact of an API, breaking change ({size})", lambda b=big: impact.answer(b.apis[5]))
        timed(f"impact of an integration down, all hops ({size})",
              lambda b=big: impact.answer(b.integrations[7], depth=None))
        timed(f"neighbourhood graph of a system ({size})", lambda b=big: estate_graph.neighbourhood(b.systems[0]))
        timed(f"estate map, first {estate_graph.ESTATE_MAP_LIMIT} integrations ({size})",
              lambda: estate_graph.filtered_map({}))
        timed(f"scorecard summary ({size} integrations)", scorecards.summary)
        if size <= 10000:  # about 95 s at 20,000 here: not worth repeating for every run
            timed(f"Backstage export of the whole estate ({size})", backstage.export_yaml, repeat=1)

    Integration.objects.all().delete()
    Api.objects.all().delete()
    System.objects.all().delete()
    Team.objects.all().delete()

    docs = ["apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: {name: bench-team}\nspec: {type: team, children: []}\n"]
    for i in range(ENTITIES // 2):
        docs.append(
            f"apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {{name: svc-{i}, tags: [bench]}}\n"
            f"spec: {{type: service, lifecycle: production, owner: bench-team, providesApis: [api-{i}]}}\n"
        )
        docs.append(
            f"apiVersion: backstage.io/v1alpha1\nkind: API\nmetadata: {{name: api-{i}}}\n"
            f"spec: {{type: openapi, lifecycle: production, owner: bench-team, definition: 'openapi: 3.0.0'}}\n"
        )
    text = "---\n".join(docs)
    files = [("bench.yaml", text)]
    print(f"\nBackstage: {len(docs)} entities, {len(text) // 1024} KiB")
    timed("import dry run", lambda: backstage.run_import(files, actor=None, dry_run=True), repeat=1)
    timed("import apply", lambda: backstage.run_import(files, actor=None, dry_run=False), repeat=1)
    again = timed("re-import (nothing changes)", lambda: backstage.run_import(files, actor=None, dry_run=False),
                  repeat=1)
    print(f"{'':<58} -> {again.summary()}")
    timed("export of the imported entities", backstage.export_yaml, repeat=1)
