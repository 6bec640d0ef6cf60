"""The machine posts' one statement (controlplane.statements) and their shared serializers
(controlplane.serializing): counted and checked as production runs them, no test
transaction around the request."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext, override_settings
from django.utils import timezone

from health.models import SyncRun
from kpis.models import BusinessEvent
from tests.factories import IntegrationFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _prepared(prefix):
    with connection.cursor() as cursor:
        cursor.execute("SELECT generic_plans + custom_plans FROM pg_prepared_statements WHERE statement LIKE %s",
                       [f"%{prefix}%"])
        return [n for (n,) in cursor.fetchall()]


@pytest.mark.usefixtures("require_postgres")
@override_settings(SERVICE_TOKEN_CACHE_MS=60_000, INTEGRATION_LOOKUP_CACHE_MS=60_000, HEALTH_MAINTENANCE_CACHE_MS=60_000)
def test_a_sync_run_is_one_prepared_statement_with_no_transaction_round_trips(api_as):
    integration = IntegrationFactory(slug="erp-prepared")
    url = f"/api/v1/integrations/{integration.slug}/runs/"
    client = api_as("service")
    for n in range(3):
        assert client.post(url, {"status": "success", "run_id": f"warm-{n}"}, format="json").status_code == 201
    with CaptureQueriesContext(connection) as ctx:
        response = client.post(url, {"status": "success", "run_id": "r-1", "records_processed": 5}, format="json")
    assert response.status_code == 201, response.content
    sql = [q["sql"].strip()[:40] for q in ctx.captured_queries]
    # no BEGIN / COMMIT around it: one statement is atomic by itself
    assert len(sql) == 1 and sql[0].startswith("WITH prev AS"), sql
    # prepared once on this connection, then executed again (not parsed and planned per post)
    runs = _prepared("existing AS (")  # record_run's statement
    assert len(runs) == 1 and runs[0] >= 4, runs
    assert SyncRun.objects.get(run_key="r-1").records_processed == 5


@pytest.mark.usefixtures("require_postgres")
def test_a_duplicate_event_with_another_body_is_refused_and_changes_nothing(api_as):
    client = api_as("service")
    body = {"event_id": "e-1", "type": "time_approved", "correlation_key": "K1",
            "occurred_at": (timezone.now() - dt.timedelta(hours=1)).isoformat()}
    assert client.post("/api/v1/events/", body, format="json").json()["created"] == 1
    changed = client.post("/api/v1/events/", {**body, "correlation_key": "K2"}, format="json")
    assert changed.status_code == 409 and changed.json()["error"]["code"] == "idempotency_conflict"
    assert list(BusinessEvent.objects.values_list("correlation_key", flat=True)) == ["K1"]


def test_shared_event_serializer_keeps_no_lookups_between_posts(api_as):
    """One serializer instance validates every post: the integrations one post named must
    not be known to the next."""
    IntegrationFactory(slug="crm-known")
    client = api_as("service")
    when = (timezone.now() - dt.timedelta(hours=1)).isoformat()

    def post(n, **extra):
        return client.post("/api/v1/events/", {"event_id": f"s-{n}", "type": "time_approved", "correlation_key": f"K{n}",
                                               "occurred_at": when, **extra}, format="json")

    assert post(1, integration="crm-known").json()["created"] == 1
    refused = post(2, integration="crm-unknown")
    assert refused.status_code == 400
    assert refused.json()["error"]["fields"]["results"][0]["errors"] == {
        "integration": ["Unknown integration 'crm-unknown'."]}
    assert post(3).json()["created"] == 1
    assert BusinessEvent.objects.get(event_id="s-3").integration_id is None


def test_a_refused_sync_run_answers_the_serializers_errors_then_the_next_run_is_stored(api_as):
    integration = IntegrationFactory(slug="erp-refused")
    url = f"/api/v1/integrations/{integration.slug}/runs/"
    client = api_as("service")
    now = timezone.now()
    refused = client.post(url, {"status": "sideways", "records_processed": -1,
                                "started_at": now.isoformat(), "finished_at": (now - dt.timedelta(hours=1)).isoformat()},
                          format="json")
    assert refused.status_code == 400
    fields = refused.json()["error"]["fields"]
    assert set(fields) == {"status", "records_processed"}, fields
    backwards = client.post(url, {"status": "success", "started_at": now.isoformat(),
                                  "finished_at": (now - dt.timedelta(hours=1)).isoformat()}, format="json")
    assert backwards.status_code == 400
    assert backwards.json()["error"]["fields"] == {"finished_at": ["Must not be before started_at."]}
    stored = client.post(url, {"status": "success", "run_id": "after"}, format="json")
    assert stored.status_code == 201 and stored.json()["run_id"] == "after"


@pytest.mark.usefixtures("require_postgres")
def test_a_statement_prepared_before_a_migration_still_runs_after_it():
    """A column a prepared statement returns changed under it (a migration while the web
    processes run): the post still succeeds, prepared afresh, instead of failing until the
    connection is recycled."""
    import psycopg

    from controlplane import statements

    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE hot_path_probe (a integer)")
        cursor.execute("INSERT INTO hot_path_probe VALUES (1)")
    try:
        for _ in range(2):
            assert statements.fetchone("SELECT * FROM hot_path_probe WHERE a = %(a)s", {"a": 1}) == (1,)
        with psycopg.connect(**connection.get_connection_params(), autocommit=True) as other:
            other.execute("ALTER TABLE hot_path_probe ADD COLUMN b integer")
        assert statements.fetchone("SELECT * FROM hot_path_probe WHERE a = %(a)s", {"a": 1}) == (1, None)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE hot_path_probe")


@pytest.mark.usefixtures("require_postgres")
@override_settings(DB_PREPARED_STATEMENTS=False, SERVICE_TOKEN_CACHE_MS=60_000, INTEGRATION_LOOKUP_CACHE_MS=60_000)
def test_with_prepared_statements_off_the_posts_work_unprepared(api_as):
    """For a pooler that cannot keep prepared statements: the same posts, sent like any query."""
    integration = IntegrationFactory(slug="erp-pooled")
    client = api_as("service")
    url = f"/api/v1/integrations/{integration.slug}/runs/"
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")
    for n in range(3):
        assert client.post(url, {"status": "success", "run_id": f"p-{n}"}, format="json").status_code == 201
    event = {"event_id": "pooled-1", "type": "time_approved", "correlation_key": "KP",
             "occurred_at": (timezone.now() - dt.timedelta(hours=1)).isoformat()}
    assert client.post("/api/v1/events/", event, format="json").json()["created"] == 1
    assert _prepared("existing AS (") == [] and _prepared("INSERT INTO \"kpis_businessevent\"") == []
    assert SyncRun.objects.filter(integration=integration).count() == 3


@pytest.mark.usefixtures("require_postgres")
def test_a_prepared_statement_dropped_behind_psycopgs_back_is_prepared_again(api_as):
    integration = IntegrationFactory(slug="erp-dropped")
    client = api_as("service")
    url = f"/api/v1/integrations/{integration.slug}/runs/"
    for n in range(2):
        assert client.post(url, {"status": "success", "run_id": f"d-{n}"}, format="json").status_code == 201
    with connection.cursor() as cursor:  # Django's own cursor: psycopg does not see this one
        cursor.execute("DEALLOCATE ALL")
    assert client.post(url, {"status": "success", "run_id": "after-drop"}, format="json").status_code == 201
    assert _prepared("existing AS (") != []
