"""PostgreSQL goes away under load (a TCP proxy between gunicorn and the database is cut,
then restored): requests fail fast with a clean 503 and succeed again without restarting
the web processes; writes retried with their idempotency keys reconcile exactly."""

import pytest

from . import harness
from .client import LoadClient, format_summary, summarize
from .pg_restart import Outage, analyse, format_outage, outage_ok, outage_timeline
from .proxy import TcpProxy
from .reconcile import new_run_id, reconcile, seed

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def test_database_outage_answers_503_and_recovers_without_restarting_workers(load_env):
    from django.db import connection

    plan = seed(new_run_id(), integrations=3, finance_users=2, service_accounts=2)
    proxy = TcpProxy(connection.settings_dict["HOST"] or "127.0.0.1", int(connection.settings_dict["PORT"] or 5432)).start()
    env = {**load_env, "DATABASE_URL": harness.with_host_port(load_env["DATABASE_URL"], "127.0.0.1", proxy.port)}
    server = harness.Gunicorn(env, workers=2, threads=2).start()
    outage = Outage()
    try:
        client = LoadClient(server.url, plan, duration=9, concurrency=1, rng_seed=5, drain=10)
        elapsed = client.run_blocking(outage_timeline(client, outage, before=2.5, length=2.5, proxy=proxy))
    finally:
        server.stop()
        proxy.stop()
    result = analyse(client, outage)
    print(format_summary(summarize(client.stats, elapsed)))
    print(format_outage(result, server))
    rec = reconcile(client.ledger)
    print(rec.format())
    assert result["api_503"] > 0, "no request met the outage"
    # Clean failures only while it was down: 503 in the API error shape / the 503 page,
    # and no request hung on the dead connection (gunicorn's timeout is 30 s; the slowest
    # here only queued behind others on a busy machine).
    assert result["unclean"] == 0 and result["api_503_clean"] == result["api_503"], result
    assert result["page_503_clean"] == result["page_503"], result
    assert result["during_max_ms"] < 10_000, result
    # Back without a restart: no worker replaced or timed out, no error after recovery.
    assert result["recovery_s"] is not None and result["recovery_s"] < 5, result
    assert result["after"] > 0 and result["after_errors"] == 0, result
    assert server.boots == 2 and server.timeouts == 0
    assert outage_ok(result, server)
    assert rec.ok, rec.format()
