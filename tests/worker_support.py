"""Starting a real Celery worker subprocess on the test database, for the fault tests and
the chaos scripts (scripts/chaos/)."""

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def database_url(connection):
    s = connection.settings_dict
    password = f":{s['PASSWORD']}" if s.get("PASSWORD") else ""
    return f"postgres://{s['USER']}{password}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def broker_on(redis_url, db):
    base = redis_url.rsplit("/", 1)[0] if redis_url.count("/") > 2 else redis_url.rstrip("/")
    return f"{base}/{db}"


def start_worker(*, broker, database, name, extra_env=None, pool="solo"):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "controlplane.settings.test",
        "DATABASE_URL": database,
        "CELERY_BROKER_URL": broker,
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "OUTBOUND_URL_ALLOWLIST": "127.0.0.0/8",
        "PYTHONPATH": str(ROOT),
        **(extra_env or {}),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "controlplane", "worker", f"--pool={pool}", "--loglevel=" + os.environ.get("WORKER_LOGLEVEL", "WARNING"),
         "--without-heartbeat", "--without-gossip", "--without-mingle", "-n", f"{name}-{os.getpid()}@%h"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def stop_worker(worker, timeout=10):
    """Stop it (TERM, then KILL) and return its output."""
    if worker.poll() is None:
        worker.terminate()
    try:
        output, _ = worker.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        worker.kill()
        output, _ = worker.communicate()
    return output or ""


def wait_for(predicate, timeout=25, step=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return False


# --- for scripts/chaos/ ---------------------------------------------------------------------


def setup_django(**env):
    """Django with the test settings, for a chaos script run as a plain program."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controlplane.settings.test")
    os.environ.update(env)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    django.setup()
    from django.test.utils import setup_test_environment

    setup_test_environment()


class ChaosDatabase:
    """A throwaway PostgreSQL database (``chaos_<name>``) next to DATABASE_URL's, migrated."""

    def __init__(self, name):
        self.name = name

    def __enter__(self):
        from django.db import connection

        if connection.vendor != "postgresql":
            raise SystemExit("chaos scripts need PostgreSQL: set DATABASE_URL")
        connection.settings_dict.setdefault("TEST", {})["NAME"] = f"chaos_{self.name}_{os.getpid()}"
        self.old = connection.settings_dict["NAME"]
        connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
        return connection

    def __exit__(self, *exc):
        from django.db import connection, connections

        connections.close_all()
        connection.creation.destroy_test_db(self.old, verbosity=0)


class PrivateRedis:
    """A redis-server of our own on ``port`` (never the shared one), in memory only, that
    the script may kill and restart to play a broker outage."""

    def __init__(self, port):
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self.process = None

    def start(self):
        import redis

        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        if not wait_for(lambda: _pings(client), timeout=10):
            raise SystemExit(f"redis-server on port {self.port} did not start")
        return self

    def kill(self):
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)

    __enter__ = start

    def __exit__(self, *exc):
        self.kill()


def _pings(client):
    try:
        return client.ping()
    except Exception:
        return False
