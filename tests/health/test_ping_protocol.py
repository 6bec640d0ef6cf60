"""Heartbeat URLs speak healthchecks.io's ping protocol, so cron wrappers work unchanged:
curl one-liners (``--data-binary @-`` of the job's output) and runitor's sequence
(``/start?rid=``, then ``/<exit status>?rid=`` with the output) against a live server."""

import subprocess
import time
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from controlplane.models import AuditEntry
from health.choices import Status
from health.models import HealthConfig, HeartbeatPing, SyncRun
from health.services import config_for
from tests.factories import IntegrationFactory


def curl(*args, stdin=None):
    """The real curl, as a crontab line calls it: fail on HTTP errors, short timeout."""
    done = subprocess.run(["curl", "-fsS", "-m", "10", "-o", "/dev/null", "-w", "%{http_code}", *args],
                          input=stdin, capture_output=True, timeout=20)
    return int(done.stdout or 0)


@pytest.mark.django_db(transaction=True)
def test_cron_wrappers_over_a_live_server(live_server, cast, client_as):
    integration = IntegrationFactory(slug="nightly-export", name="Nightly export")
    base = f"{live_server.url}/api/v1/heartbeat/{config_for(integration).heartbeat_token}"
    rid = str(uuid.uuid4())

    # runitor: /start with a run id, the job runs, then /<exit status> with its output
    assert curl(f"{base}/start?rid={rid}") == 200
    time.sleep(0.3)
    assert curl("--data-binary", "@-", f"{base}/0?rid={rid}", stdin=b"exported 1200 invoices\n") == 200
    run = SyncRun.objects.get(integration=integration)
    assert run.status == "success" and run.source == "heartbeat"
    assert 0.3 <= (run.finished_at - run.started_at).total_seconds() < 5
    ping = HeartbeatPing.objects.get(run=run)
    assert (ping.kind, ping.exit_status, ping.rid, ping.body) == ("success", 0, uuid.UUID(rid), "exported 1200 invoices\n")
    assert AuditEntry.objects.filter(action="sync_run.reported", object_id=str(run.pk)).count() == 1
    assert HealthConfig.objects.get(integration=integration).status == Status.UP

    # a plain crontab one-liner: start without rid, the job fails with exit status 2
    assert curl(f"{base}/start") == 200
    assert curl("--data-binary", "@-", f"{base}/2", stdin=b"ERROR: ledger locked\n") == 200
    failed = SyncRun.objects.filter(integration=integration, status="failed").get()
    assert failed.started_at is not None and failed.started_at > run.finished_at
    assert HealthConfig.objects.get(integration=integration).consecutive_run_failures == 1

    # /log keeps the output and changes nothing; /fail, HEAD and a trailing slash work too
    assert curl("--data-binary", "progress: 50%", f"{base}/log") == 200
    assert SyncRun.objects.filter(integration=integration).count() == 2
    assert curl(f"{base}/fail") == 200
    assert curl("-I", f"{base}") == 200  # HEAD: a success
    assert curl(f"{base}/") == 200
    kinds = list(HeartbeatPing.objects.filter(integration=integration).order_by("received_at", "id")
                 .values_list("kind", flat=True))
    assert kinds == ["start", "success", "start", "fail", "log", "fail", "success", "success"]

    # mistakes are refused with nothing stored
    assert curl(f"{base}/256") == 400
    assert curl(f"{base}/0?rid=not-a-uuid") == 400
    assert curl(f"{live_server.url}/api/v1/heartbeat/{uuid.uuid4()}/start") == 404
    assert HeartbeatPing.objects.count() == 8

    # the integration page shows the runs' logs and durations
    html = client_as("architect").get("/health/integrations/nightly-export/").content.decode()
    assert "ERROR: ledger locked" in html and "exported 1200 invoices" in html and "progress: 50%" in html


@pytest.mark.django_db
def test_the_body_is_capped_by_the_setting(client, settings):
    settings.HEARTBEAT_BODY_LIMIT_BYTES = 10
    config = config_for(IntegrationFactory())
    response = client.post(f"/api/v1/heartbeat/{config.heartbeat_token}/1", data=b"0123456789-overflow\x00",
                           content_type="text/plain")
    assert response.status_code == 200
    ping = HeartbeatPing.objects.get()
    assert (ping.kind, ping.exit_status, ping.body, ping.body_truncated) == ("fail", 1, "0123456789", True)


@pytest.mark.django_db(transaction=True)  # outside a transaction, as a real request: the windows come from the cache
def test_a_steady_ping_is_one_statement_and_flips_only_on_a_change(client, settings):
    settings.HEALTH_MAINTENANCE_CACHE_MS = 60_000  # however slow the machine, the steady pings find it warm
    config = config_for(IntegrationFactory())
    url = f"/api/v1/heartbeat/{config.heartbeat_token}"
    assert client.get(url).status_code == 200  # unknown -> up: evaluated, flipped
    assert HealthConfig.objects.get(pk=config.pk).status == Status.UP
    for ping in (lambda: client.get(url), lambda: client.post(f"{url}/0", data=b"ok", content_type="text/plain")):
        with CaptureQueriesContext(connection) as steady:
            assert ping().status_code == 200
        assert len(steady) == 1, [q["sql"][:80] for q in steady]  # the budget is 2
    assert SyncRun.objects.filter(integration_id=config.integration_id).count() == 3
    assert AuditEntry.objects.filter(action="sync_run.reported").count() == 3
    with CaptureQueriesContext(connection) as start:
        assert client.get(f"{url}/start").status_code == 200
    assert len(start) == 1
    # a failure changes the status (up -> degraded): evaluated, flipped and audited
    assert client.get(f"{url}/fail").status_code == 200
    assert HealthConfig.objects.get(pk=config.pk).status == Status.DEGRADED
    assert AuditEntry.objects.filter(action="health.status_changed").count() == 2
