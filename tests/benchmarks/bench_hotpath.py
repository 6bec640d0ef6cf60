"""Machine-facing hot paths, in one process through Django's real WSGI handler (no test
client, no network), each beside a bare Django view measured in the same run:

- a bare view with no middleware (the floor) and the same view through the project's
  whole middleware stack, as a browser would call it and as a machine (service token);
  the difference is what the stack costs a machine request (goal: <= 1 ms CPU);
- a heartbeat ping on the steady path (goal: <= 2 SQL statements, <= 2 ms worker CPU);
- a service-token request to a DRF endpoint, first lookup and cached.

Prints CPU per request (process time: the database server's own CPU is not in it) and
SQL statements per request. Needs PostgreSQL (DATABASE_URL); builds its own database.
``BENCH_HOTPATH_N`` sets the requests per case (default 2,000). The machine may be
shared: compare the ratios, not the absolute numbers.
"""

import io
import os
import time

from django.contrib.auth.decorators import login_not_required
from django.http import HttpResponse
from django.urls import include, path

N = int(os.environ.get("BENCH_HOTPATH_N", "2000"))


@login_not_required
def bare(request):
    return HttpResponse(b"ok", content_type="text/plain")


urlpatterns = [path("bench/bare/", bare), path("", include("controlplane.urls"))]


def _environ(method, url, headers=None, body=b""):
    path_info, _, query = url.partition("?")
    environ = {
        "REQUEST_METHOD": method, "PATH_INFO": path_info, "QUERY_STRING": query, "SERVER_NAME": "testserver",
        "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1", "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body), "wsgi.errors": io.StringIO(), "CONTENT_LENGTH": str(len(body)),
        "CONTENT_TYPE": "text/plain", "HTTP_HOST": "testserver",
    }
    for name, value in (headers or {}).items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    return environ


def _measure(handler, method, url, headers=None, body=b"", n=N, expect=200):
    from django.db import connection

    from tests.benchmarks.bench_exceptions import _Counter

    def call():
        statuses = []
        response = handler(_environ(method, url, headers, body), lambda status, hdrs, exc_info=None: statuses.append(status))
        b"".join(response)
        response.close()
        return int(statuses[0].split()[0])

    for _ in range(min(50, n)):  # warm: URL resolver, lazy imports, prepared caches
        status = call()
        assert status == expect, f"{method} {url}: {status}"
    with _Counter(connection) as q:
        assert call() == expect
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(n):
        call()
    return (time.process_time() - cpu) / n * 1000, (time.perf_counter() - wall) / n * 1000, q.count


def main():
    from django.db import connection

    if connection.vendor != "postgresql":
        print("skipped: bench_hotpath needs PostgreSQL (set DATABASE_URL=postgres://...)")
        return
    from tests.benchmarks import test_database

    # its own database, so it never collides with a pytest run's test_<name>
    connection.settings_dict.setdefault("TEST", {})["NAME"] = f"test_{connection.settings_dict['NAME']}_hotpath"
    with test_database():
        _run()


def _run():
    from django.conf import settings
    from django.core.handlers.wsgi import WSGIHandler
    from django.test.utils import override_settings

    from controlplane import roles
    from controlplane.services import create_service_account
    from health.services import config_for
    from tests.factories import IntegrationFactory

    roles.sync_roles()
    _token, key = create_service_account(name="bench-hot", role=roles.INTEGRATION, all_integrations=True)
    beat = f"/api/v1/heartbeat/{config_for(IntegrationFactory(slug='bench-beat')).heartbeat_token}"
    machine = {"Authorization": f"Bearer {key}"}
    with override_settings(ROOT_URLCONF=__name__, MIDDLEWARE=[], ALLOWED_HOSTS=["testserver"]):
        floor = _measure(WSGIHandler(), "GET", "/bench/bare/")
    with override_settings(ROOT_URLCONF=__name__, ALLOWED_HOSTS=["testserver"]):
        full = WSGIHandler()
        print(f"middleware: {len(settings.MIDDLEWARE)} classes; {N} requests per case; load average "
              f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (numbers stretch under load; ratios hold better)")
        cases = [
            ("bare view, no middleware (floor)", floor),
            ("bare view, full stack, browser", _measure(full, "GET", "/bench/bare/")),
            ("bare view, full stack, service token", _measure(full, "GET", "/bench/bare/", machine)),
            ("heartbeat GET, steady", _measure(full, "GET", beat)),
            ("heartbeat POST /0 with a log", _measure(full, "POST", f"{beat}/0", body=b"exported 1200 rows\n" * 20)),
            ("heartbeat /start", _measure(full, "GET", f"{beat}/start")),
            ("API GET, service token (cached)", _measure(full, "GET", "/api/v1/health/status/bench-beat/", machine,
                                                        n=N // 4)),
        ]
    print(f"{'case':40} {'CPU ms':>8} {'wall ms':>8} {'SQL':>4} {'CPU x floor':>12}")
    for label, (cpu, wall, sql) in cases:
        print(f"{label:40} {cpu:8.3f} {wall:8.3f} {sql:4d} {cpu / floor[0]:11.1f}x")
    overhead = cases[2][1][0] - floor[0]
    print(f"middleware stack on a machine request: {overhead:.3f} ms CPU over bare Django (goal <= 1 ms); "
          f"browser request: {cases[1][1][0] - floor[0]:.3f} ms")
    print(f"heartbeat: {cases[3][1][0]:.3f} ms CPU, {cases[3][1][2]} statement(s) (goals <= 2 ms, <= 2)")
