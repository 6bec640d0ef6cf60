"""CI's short load run: gunicorn with 2 workers on PostgreSQL, the load client for a few
seconds, then no 5xx and an exact reconciliation of everything acknowledged."""

import pytest

from . import harness
from .client import LoadClient, format_summary, summarize
from .reconcile import new_run_id, reconcile, seed

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def test_short_load_run_has_no_5xx_and_reconciles_exactly(load_env):
    plan = seed(new_run_id(), integrations=3, finance_users=2, service_accounts=2)
    server = harness.Gunicorn(load_env, workers=2, threads=2).start()
    try:
        client = LoadClient(server.url, plan, duration=6, concurrency=1, rng_seed=8)
        elapsed = client.run_blocking()
    finally:
        server.stop()
    summary = summarize(client.stats, elapsed)
    print(format_summary(summary))
    rec = reconcile(client.ledger)
    print(rec.format())
    assert summary["server_errors"] == 0 and summary["transport_errors"] == 0, format_summary(summary)
    # Every kind of traffic ran and was acknowledged at least once.
    for endpoint in ("POST exceptions/ingest (1)", "POST exceptions/ingest (batch)", "POST integrations/runs",
                     "POST heartbeat", "POST events", "GET api exceptions (filtered)", "GET exceptions list page"):
        assert any(200 <= s < 300 for s in summary["endpoints"][endpoint]["statuses"]), endpoint
    # Only expected refusals: a resolve that lost the race to another user.
    unexpected = [(e, s) for e, row in summary["endpoints"].items() for s in row["statuses"]
                  if 400 <= s < 500 and not (e == "POST api exceptions/resolve" and s == 409)]
    assert not unexpected, unexpected
    assert client.ledger.dedup_checks > 0, "no deliberate re-send happened"
    assert rec.ok, rec.format()
    assert server.boots == 2 and server.timeouts == 0 and server.tracebacks == 0, server.log()[-3000:]
