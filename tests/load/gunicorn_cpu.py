"""gunicorn server hooks for the load run: CPU per request kind, web and PostgreSQL.

Loaded with ``gunicorn -c python:tests.load.gunicorn_cpu`` by ``harness.Gunicorn`` when
``cpu_report`` is on. For every request that carries the load client's ``X-Load-Endpoint``
header (the endpoint name the client reports under) the worker thread records:

* its own CPU time between ``pre_request`` and ``post_request`` (``time.thread_time_ns``:
  the view, middleware, rendering and writing the response; not the worker's accept loop),
* the CPU its PostgreSQL backend used since the previous request on the same connection
  (``/proc/<backend pid>/schedstat``, nanoseconds): a backend only works while its
  client waits, so that is the statements of this request and its commit,
* the number of SQL statements it sent, and its wall time.

Each worker process writes its totals to ``LOAD_CPU_REPORT_DIR/<pid>.json`` when it exits;
``harness.Gunicorn.cpu_report`` adds them up. Requests without the header (the burst's
pings are sent with one too, the harness's own health check is not) are not counted.
"""

import json
import os
import threading
import time

_local = threading.local()
_totals: dict[str, list[int]] = {}
_lock = threading.Lock()


def _backend_ns(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/schedstat") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 0


def _count_statements(execute, sql, params, many, context):
    _local.statements = getattr(_local, "statements", 0) + 1
    return execute(sql, params, many, context)


def pre_request(worker, req):
    endpoint = None
    for name, value in req.headers:
        if name == "X-LOAD-ENDPOINT":
            endpoint = value
            break
    _local.endpoint = endpoint
    if endpoint is None:
        return
    from django.db import connection

    if not getattr(_local, "wrapped", False):
        # Installed once per thread, left on for its life: connection.execute_wrappers is
        # the thread's own list (the connection handler is thread-local).
        connection.execute_wrappers.append(_count_statements)
        _local.wrapped = True
    _local.statements = 0
    _local.wall = time.monotonic_ns()
    _local.cpu = time.thread_time_ns()


def post_request(worker, req, environ, resp):
    endpoint = getattr(_local, "endpoint", None)
    if endpoint is None:
        return
    cpu = time.thread_time_ns() - _local.cpu
    wall = time.monotonic_ns() - _local.wall
    from django.db import connection

    pg = 0
    raw = connection.connection
    if raw is not None:
        try:
            pid = raw.info.backend_pid
        except Exception:  # noqa: BLE001 - a broken connection: nothing to read
            pid = None
        if pid:
            now = _backend_ns(pid)
            last_pid, last_ns = getattr(_local, "backend", (None, 0))
            # A new connection: everything its backend did so far (start-up included).
            pg = now - (last_ns if last_pid == pid else 0)
            _local.backend = (pid, now)
    with _lock:
        row = _totals.setdefault(endpoint, [0, 0, 0, 0, 0])
        row[0] += 1
        row[1] += cpu
        row[2] += pg
        row[3] += _local.statements
        row[4] += wall


def worker_exit(server, worker):
    directory = os.environ.get("LOAD_CPU_REPORT_DIR")
    if not directory:
        return
    with _lock:
        data = {k: list(v) for k, v in _totals.items()}
    with open(os.path.join(directory, f"{os.getpid()}.json"), "w") as f:
        json.dump(data, f)
