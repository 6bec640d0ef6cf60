"""The exception list exported as Excel with 100,000 rows (BENCH_XLSX_ROWS): time, file
size and the process's peak RSS growth while building and streaming it, against the CSV
export of the same rows measured in the same run (the baseline: a streamed text export).

Each export runs in a fresh child process (``multiprocessing`` spawn) so its peak RSS
(``ru_maxrss``) is its own and not the high-water mark of building the data set.
Runs on whatever DATABASE_URL says (SQLite by default); builds and drops its own test database.

    python -m tests.benchmarks xlsx
"""

import os
import time

ROWS = int(os.environ.get("BENCH_XLSX_ROWS", "100000"))


def main():
    from tests.benchmarks import test_database

    with test_database() as name:
        run(name)


def build():
    from django.utils import timezone

    from catalog.models import Integration, System, Team
    from exceptions.models import BusinessException, Queue

    team = Team.objects.create(name="Export team", slug="export-team")
    a = System.objects.create(name="ERP", slug="erp", owner_team=team)
    b = System.objects.create(name="PSA", slug="psa", owner_team=team)
    integrations = Integration.objects.bulk_create([
        Integration(name=f"Integration {i}", slug=f"integration-{i}", source_system=a, target_system=b, owner_team=team)
        for i in range(50)])
    queues = [Queue.objects.create(name=f"Queue {i}", slug=f"queue-{i}", team=team) for i in range(5)]
    now = timezone.now()
    currencies = ["EUR", "GBP", "USD", "JPY"]
    for start in range(0, ROWS, 10000):
        BusinessException.objects.bulk_create([
            BusinessException(integration=integrations[i % 50], queue=queues[i % 5], error_code="TAX_CODE_MISMATCH",
                              message=f"Tax code V{i % 9} unknown in ERP for invoice INV-{i:07d}", severity="high",
                              fingerprint=f"fp-{i}", invoice_number=f"INV-{i:07d}", amount_at_risk=1000 + i % 997,
                              currency=currencies[i % 4], first_seen=now, last_seen=now, due_at=now)
            for i in range(start, min(ROWS, start + 10000))])


def _export(db_name, url, queue):
    """In a child: sign in, fetch ``url``, drain the stream; report time, bytes, peak RSS."""
    import resource

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controlplane.settings.test")
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import connections
    from django.test import Client
    from django.test.utils import setup_test_environment

    setup_test_environment()
    settings.DATABASES["default"]["NAME"] = db_name
    connections["default"].settings_dict["NAME"] = db_name
    client = Client()
    client.force_login(get_user_model().objects.get(username="bench"))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    response = client.get(url)
    size = sum(len(chunk) for chunk in response.streaming_content)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    queue.put((response.status_code, elapsed, size, before / 1024, after / 1024))


def run(db_name):
    import multiprocessing

    from django.contrib.auth import get_user_model
    from django.db import connection

    started = time.perf_counter()
    build()
    get_user_model().objects.create_superuser("bench", "bench@example.com", "pw")
    print(f"{ROWS} exceptions on {connection.vendor} (built in {time.perf_counter() - started:.0f} s); "
          "the machine may be shared: read the ratios")
    connection.close()  # the children open their own
    context = multiprocessing.get_context("spawn")
    print(f"{'export':10} {'seconds':>8} {'MB out':>8} {'RSS at start MB':>16} {'peak RSS MB':>12} {'growth MB':>10}")
    results = {}
    for label, url in (("CSV", "/exceptions/export.csv"), ("XLSX", "/exceptions/export.xlsx")):
        queue = context.Queue()
        child = context.Process(target=_export, args=(db_name, url, queue))
        child.start()
        status, elapsed, size, before, peak = queue.get(timeout=1800)
        child.join()
        assert status == 200, (label, status)
        results[label] = (elapsed, peak - before)
        print(f"{label:10} {elapsed:8.1f} {size / 1e6:8.1f} {before:16.0f} {peak:12.0f} {peak - before:10.0f}")
    print(f"XLSX / CSV: {results['XLSX'][0] / results['CSV'][0]:.1f}x the time, "
          f"RSS growth {results['XLSX'][1]:.0f} MB vs {results['CSV'][1]:.0f} MB for {ROWS} rows")
