"""A real Celery worker (subprocess, Redis broker) runs a sweep against a loopback server
and writes to the same PostgreSQL database as this test."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from health.models import Probe, ProbeResult
from tests.health.factories import ProbeFactory

pytestmark = [pytest.mark.celery_worker, pytest.mark.postgres, pytest.mark.redis]

ROOT = Path(__file__).resolve().parents[2]
REDIS_DB = 6


def _broker(redis_url):
    base = redis_url.rsplit("/", 1)[0] if redis_url.count("/") > 2 else redis_url.rstrip("/")
    return f"{base}/{REDIS_DB}"


def _database_url():
    s = connection.settings_dict
    password = f":{s['PASSWORD']}" if s.get("PASSWORD") else ""
    return f"postgres://{s['USER']}{password}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def _wait(predicate, timeout=25):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_worker_runs_a_sweep_from_the_broker(require_postgres, redis_url, transactional_db, loopback, monkeypatch):
    from celery import Celery

    broker = _broker(redis_url)
    # Celery lets CELERY_BROKER_URL in the environment override an app's broker argument:
    # point this process's client at the worker's broker too.
    monkeypatch.setenv("CELERY_BROKER_URL", broker)
    ok = ProbeFactory(url=loopback.url + "/ok")
    failing = ProbeFactory(url=loopback.url + "/status/503")
    hung = ProbeFactory(url=loopback.url + "/hang", timeout_ms=500)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "controlplane.settings.test",
        "DATABASE_URL": _database_url(),
        "CELERY_BROKER_URL": broker,
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "OUTBOUND_URL_ALLOWLIST": "127.0.0.0/8",
        "PYTHONPATH": str(ROOT),
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "controlplane", "worker", "--pool=solo", "--loglevel=WARNING",
         "--without-heartbeat", "--without-gossip", "--without-mingle", "-n", f"health-e2e-{os.getpid()}@%h"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    client = Celery(broker=broker)
    try:
        client.connection_for_write().ensure_connection(max_retries=3)
        client.send_task("health.tasks.dispatch_due_probes")
        if not _wait(lambda: ProbeResult.objects.count() == 3):
            worker.terminate()
            pytest.fail("the worker did not store the results in time; its output:\n" + worker.communicate(timeout=10)[0])
        results = {r.probe_id: r for r in ProbeResult.objects.all()}
        assert results[ok.pk].ok and not results[failing.pk].ok and "timeout" in results[hung.pk].error
        # a re-delivered / duplicate tick finds nothing due: no duplicates
        client.send_task("health.tasks.dispatch_due_probes")
        client.send_task("health.tasks.refresh_time_based_statuses")
        time.sleep(1.5)
        assert ProbeResult.objects.count() == 3
        assert not Probe.objects.exclude(lease_owner="").exists()
    finally:
        worker.terminate()
        try:
            output, _ = worker.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            worker.kill()
            output, _ = worker.communicate()
        client.close()
        connection.close()
    assert "Traceback" not in (output or ""), output
