"""Fixtures for the load and outage tests: gunicorn serving this test database."""

import os

import pytest
from django.db import connection

from . import harness


def database_url() -> str:
    s = connection.settings_dict
    password = f":{s['PASSWORD']}" if s.get("PASSWORD") else ""
    return f"postgres://{s['USER']}{password}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


@pytest.fixture
def load_env(require_postgres, redis_url, transactional_db):
    """Environment for web processes on the test database (committed data: they are other
    processes), with a real Redis broker nobody consumes; purged afterwards."""
    base = redis_url.rsplit("/", 1)[0] if redis_url.count("/") > 2 else redis_url.rstrip("/")
    broker = f"{base}/{os.environ.get('LOAD_BROKER_DB', '7')}"
    env = harness.server_env(database_url=database_url(), redis_url=redis_url, broker_url=broker,
                             settings_module="controlplane.settings.production")
    yield env
    harness.broker_backlog(broker, purge=True)
