"""Statements per reported sync run over the API on PostgreSQL, counted as production runs
them (no test transaction around the request) with the token cache warm: the integration
lookup, then one statement in autocommit (controlplane.statements); the status is
evaluated only when the run can change it."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext, override_settings

from controlplane.models import AuditEntry
from health.choices import Status
from health.models import HealthConfig, SyncRun
from tests.factories import IntegrationFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("require_postgres")]

MAX_STATEMENTS = 4  # issue #19


def post(client, url, body, **headers):
    with CaptureQueriesContext(connection) as statements:
        response = client.post(url, body, format="json", **headers)
    return response, [q["sql"][:90] for q in statements.captured_queries]


@override_settings(SERVICE_TOKEN_CACHE_MS=60_000)
def test_new_run_repeat_and_changed_report(api_as):
    integration = IntegrationFactory(slug="erp-sync")
    url = f"/api/v1/integrations/{integration.slug}/runs/"
    client = api_as("service")
    first = client.post(url, {"status": "success", "run_id": "warm"}, format="json")  # config made, status up
    assert first.status_code == 201 and HealthConfig.objects.get(integration=integration).status == Status.UP

    created, sql = post(client, url, {"status": "success", "run_id": "r-1", "records_processed": 12})
    assert created.status_code == 201, created.content
    assert len(sql) <= MAX_STATEMENTS, sql
    run = SyncRun.objects.get(run_key="r-1")
    assert created.json()["id"] == run.pk and created.json()["integration"] == "erp-sync"
    assert AuditEntry.objects.filter(action="sync_run.reported", object_id=str(run.pk)).count() == 1
    assert HealthConfig.objects.get(integration=integration).last_success_at == run.finished_at

    again, sql = post(client, url, {"status": "success", "run_id": "r-1", "records_processed": 12})
    assert again.status_code == 200 and again.json()["id"] == run.pk
    assert len(sql) <= MAX_STATEMENTS, sql
    assert SyncRun.objects.filter(run_key="r-1").count() == 1

    changed, _sql = post(client, url, {"status": "failed", "run_id": "r-1", "records_processed": 12})
    assert changed.status_code == 409 and changed.json()["error"]["fields"]["run"]["status"] == "success"
    assert HealthConfig.objects.get(integration=integration).consecutive_run_failures == 0


@override_settings(SERVICE_TOKEN_CACHE_MS=60_000)
def test_a_failed_run_still_flips_the_status(api_as):
    """The one-statement path skips the status engine only when a run cannot change it."""
    integration = IntegrationFactory(slug="erp-flaky")
    url = f"/api/v1/integrations/{integration.slug}/runs/"
    client = api_as("service")
    assert client.post(url, {"status": "success"}, format="json").status_code == 201
    config = HealthConfig.objects.get(integration=integration)
    for n in range(config.failure_threshold):
        assert client.post(url, {"status": "failed", "run_id": f"f-{n}"}, format="json").status_code == 201
    config.refresh_from_db()
    assert config.status == Status.DOWN and config.consecutive_run_failures == config.failure_threshold
    assert client.post(url, {"status": "success", "run_id": "ok"}, format="json").status_code == 201
    config.refresh_from_db()
    assert config.status == Status.UP and config.consecutive_run_failures == 0
