"""Pushed runs and heartbeats: tokens, bodies, idempotency, clock skew, freshness."""

import datetime as dt
import uuid

import pytest
from django.utils import timezone

from health.choices import Status
from health.models import HealthConfig, SyncRun
from health.services import config_for, refresh_time_based
from tests.factories import IntegrationFactory

pytestmark = pytest.mark.django_db


def url(slug):
    return f"/api/v1/integrations/{slug}/runs/"


@pytest.fixture
def integration(db):
    return IntegrationFactory()


def test_service_token_reports_a_run(api_as, integration):
    now = timezone.now()
    body = {"run_id": "r-1", "status": "success", "started_at": (now - dt.timedelta(minutes=2)).isoformat(),
            "finished_at": now.isoformat(), "records_processed": 120, "records_failed": 0, "lag_seconds": 40}
    response = api_as("service").post(url(integration.slug), body, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["run_id"] == "r-1"
    config = HealthConfig.objects.get(integration=integration)
    assert config.status == Status.UP and config.last_success_at is not None


def test_same_run_id_is_idempotent_and_a_different_report_conflicts(api_as, integration):
    client = api_as("service")
    body = {"run_id": "r-1", "status": "failed", "records_processed": 10, "records_failed": 10}
    assert client.post(url(integration.slug), body, format="json").status_code == 201
    again = client.post(url(integration.slug), body, format="json")
    assert again.status_code == 200
    assert SyncRun.objects.filter(integration=integration).count() == 1
    changed = client.post(url(integration.slug), {**body, "status": "success", "records_failed": 0}, format="json")
    assert changed.status_code == 409 and changed.json()["error"]["code"] == "idempotency_conflict"
    stored = SyncRun.objects.get(integration=integration)
    assert changed.json()["error"]["fields"]["id"] == stored.pk
    assert changed.json()["error"]["fields"]["run"]["status"] == "failed"  # the stored report, unchanged


def test_idempotency_key_header(api_as, integration):
    client = api_as("service")
    for _ in range(2):
        client.post(url(integration.slug), {"status": "success"}, format="json", HTTP_IDEMPOTENCY_KEY="key-9")
    assert SyncRun.objects.filter(integration=integration, run_key="key-9").count() == 1


def test_finished_before_started_is_400(api_as, integration):
    now = timezone.now()
    response = api_as("service").post(url(integration.slug), {
        "status": "success", "started_at": now.isoformat(), "finished_at": (now - dt.timedelta(minutes=5)).isoformat(),
    }, format="json")
    assert response.status_code == 400
    assert "finished_at" in response.json()["error"]["fields"]


def test_finish_in_the_future_is_clamped_and_flagged(api_as, integration):
    future = timezone.now() + dt.timedelta(hours=2)
    response = api_as("service").post(url(integration.slug), {
        "run_id": "skewed", "status": "success", "started_at": (future - dt.timedelta(minutes=1)).isoformat(),
        "finished_at": future.isoformat(),
    }, format="json")
    assert response.status_code == 201
    data = response.json()
    assert data["clock_skew_flagged"] is True and data["clock_skew_seconds"] > 7000
    run = SyncRun.objects.get(run_key="skewed")
    assert run.finished_at <= timezone.now()
    assert run.started_at < run.finished_at  # shifted with the finish, keeping the duration


@pytest.mark.parametrize("body,field", [
    ({}, "status"),
    ({"status": "great"}, "status"),
    ({"status": "success", "records_processed": -1}, "records_processed"),
    ({"status": "success", "finished_at": "yesterday"}, "finished_at"),
])
def test_bad_bodies_are_400_with_the_field(api_as, integration, body, field):
    response = api_as("service").post(url(integration.slug), body, format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


def test_failed_more_than_processed_is_400(api_as, integration):
    response = api_as("service").post(url(integration.slug), {"status": "success", "records_processed": 1,
                                                              "records_failed": 5}, format="json")
    assert response.status_code == 400


def test_bad_tokens_and_roles_are_refused(api_as, integration, client):
    body = {"status": "success"}
    assert api_as(None).post(url(integration.slug), body, format="json").status_code in (401, 403)
    bad = api_as(None)
    bad.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")
    assert bad.post(url(integration.slug), body, format="json").status_code == 401
    assert api_as("executive").post(url(integration.slug), body, format="json").status_code == 403
    assert api_as("outsider").get(url(integration.slug)).status_code == 403
    assert api_as("executive").get(url(integration.slug)).status_code == 200
    assert api_as("service").post("/api/v1/integrations/nope/runs/", body, format="json").status_code == 404
    assert not SyncRun.objects.exists()


def test_heartbeat_by_url_token(client, integration):
    config = config_for(integration)
    response = client.get(f"/api/v1/heartbeat/{config.heartbeat_token}/")
    assert response.status_code == 200
    response = client.post(f"/api/v1/heartbeat/{config.heartbeat_token}/fail/")
    assert response.status_code == 200
    runs = list(SyncRun.objects.filter(integration=integration).order_by("pk").values_list("source", "status"))
    assert runs == [("heartbeat", "success"), ("heartbeat", "failed")]
    assert client.get(f"/api/v1/heartbeat/{uuid.uuid4()}/").status_code == 404
    assert client.get("/api/v1/heartbeat/not-a-uuid/").status_code == 404
    assert client.delete(f"/api/v1/heartbeat/{config.heartbeat_token}/").status_code == 405


def test_late_after_period_plus_grace_and_back_up_on_the_next_run(client, integration):
    config = config_for(integration)
    HealthConfig.objects.filter(pk=config.pk).update(expected_period_seconds=900, grace_seconds=300)
    client.get(f"/api/v1/heartbeat/{config.heartbeat_token}/")
    config.refresh_from_db()
    assert config.status == Status.UP
    now = timezone.now()
    refresh_time_based(now + dt.timedelta(seconds=1100))
    config.refresh_from_db()
    assert config.status == Status.UP  # within period + grace
    refresh_time_based(now + dt.timedelta(seconds=1300))
    config.refresh_from_db()
    assert config.status == Status.LATE
    assert "expected every 900 s" in config.status_reason
    client.get(f"/api/v1/heartbeat/{config.heartbeat_token}/")
    config.refresh_from_db()
    assert config.status == Status.UP


def test_consecutive_failed_runs_degrade_then_down(api_as, integration):
    client = api_as("service")
    statuses = []
    for i in range(3):
        client.post(url(integration.slug), {"run_id": f"f{i}", "status": "failed"}, format="json")
        statuses.append(HealthConfig.objects.get(integration=integration).status)
    assert statuses == [Status.DEGRADED, Status.DEGRADED, Status.DOWN]
