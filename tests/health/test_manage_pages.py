"""Architect pages for probes, settings, maintenance and channels: who may, validation."""

import pytest

from health.models import HealthConfig, MaintenanceWindow, NotificationChannel, Probe
from tests.factories import IntegrationFactory
from tests.health.factories import ProbeFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def integration(db):
    return IntegrationFactory(slug="mgmt-flow")


@pytest.mark.parametrize("path", ["/health/integrations/mgmt-flow/probes/add/", "/health/integrations/mgmt-flow/settings/",
                                  "/health/maintenance/add/", "/health/channels/add/"])
def test_forms_architect_only(client_as, integration, path):
    assert client_as("architect").get(path).status_code == 200
    assert client_as("executive").get(path).status_code == 403
    assert client_as("finance").post(path, {}).status_code == 403


def test_channels_page(client_as, integration):
    assert client_as("executive").get("/health/channels/").status_code == 200
    assert client_as("outsider").get("/health/channels/").status_code == 403


def test_add_probe_with_bad_conditions_shows_the_error(client_as, integration, settings):
    settings.OUTBOUND_URL_ALLOWLIST = ["127.0.0.0/8"]
    client = client_as("architect")
    data = {"name": "main", "url": "http://127.0.0.1:9/ok", "method": "GET", "headers": "{}", "timeout_ms": 1000,
            "interval_seconds": 60, "conditions": "[STATUS] => 200", "enabled": "on"}
    response = client.post("/health/integrations/mgmt-flow/probes/add/", data)
    assert response.status_code == 200 and "Unexpected" in response.content.decode()
    assert not Probe.objects.exists()
    data["conditions"] = "[STATUS] == 200"
    data["secret_header_name"], data["secret_header_value"] = "Authorization", "Bearer x"
    response = client.post("/health/integrations/mgmt-flow/probes/add/", data)
    assert response.status_code == 302
    probe = Probe.objects.get()
    assert probe.headers["Authorization"].startswith("enc:")
    # edit keeps the secret when the masked value comes back
    data.update({"headers": '{"Authorization": "********"}', "secret_header_name": "", "secret_header_value": "",
                 "timeout_ms": 2500})
    assert client.post(f"/health/probes/{probe.pk}/edit/", data).status_code == 302
    probe.refresh_from_db()
    assert probe.timeout_ms == 2500 and probe.headers["Authorization"].startswith("enc:")
    assert client_as("executive").post(f"/health/probes/{probe.pk}/delete/").status_code == 403
    assert client.post(f"/health/probes/{probe.pk}/delete/").status_code == 302
    assert not Probe.objects.exists()


def test_settings_form_changes_thresholds_and_pause(client_as, integration):
    ProbeFactory(integration=integration)
    response = client_as("architect").post("/health/integrations/mgmt-flow/settings/", {
        "paused": "on", "failure_threshold": 5, "success_threshold": 1, "expected_period_seconds": 3600, "grace_seconds": 60})
    assert response.status_code == 302
    config = HealthConfig.objects.get(integration=integration)
    assert (config.paused, config.failure_threshold, config.expected_period_seconds) == (True, 5, 3600)
    assert config.status == "paused"


def test_maintenance_form_validates_and_saves(client_as, integration):
    client = client_as("architect")
    bad = client.post("/health/maintenance/add/", {"name": "x", "integration": integration.pk, "recurrence": "cron",
                                                  "cron": "not cron", "duration_minutes": 60})
    assert bad.status_code == 200 and "five fields" in bad.content.decode()
    ok = client.post("/health/maintenance/add/", {"name": "Patch", "integration": integration.pk, "recurrence": "weekly",
                                                 "weekdays": "7", "start_time": "02:00", "duration_minutes": 60})
    assert ok.status_code == 302
    window = MaintenanceWindow.objects.get()
    assert client_as("executive").post(f"/health/maintenance/{window.pk}/delete/").status_code == 403
    assert client.post(f"/health/maintenance/{window.pk}/delete/").status_code == 302
    assert not MaintenanceWindow.objects.exists()


def test_channel_form(client_as, integration, settings):
    settings.OUTBOUND_URL_ALLOWLIST = []
    client = client_as("architect")
    base = {"team": integration.owner_team.pk, "name": "hook", "kind": "webhook", "enabled": "on"}
    bad = client.post("/health/channels/add/", {**base, "target": "http://169.254.169.254/x"})
    assert bad.status_code == 200 and "link-local" in bad.content.decode()
    ok = client.post("/health/channels/add/", {**base, "kind": "email", "target": "ops@example.com"})
    assert ok.status_code == 302 and NotificationChannel.objects.get().target == "ops@example.com"


def test_probe_headers_may_only_reference_probe_secrets(architect, monkeypatch):
    from controlplane.errors import ValidationFailed
    from health import secrets
    from health.services import create_probe
    from tests.factories import IntegrationFactory

    monkeypatch.setenv("DATABASE_URL", "postgres://secret")
    monkeypatch.setenv("PROBE_SECRET_TOKEN", "t0ken")
    integration = IntegrationFactory()
    with pytest.raises(ValidationFailed, match="PROBE_SECRET_"):
        create_probe(integration=integration, actor=architect, url="https://x.example.com/h",
                     headers={"X-Leak": "env:DATABASE_URL"})
    assert secrets.reveal("env:DATABASE_URL") == ""
    assert secrets.reveal("env:PROBE_SECRET_TOKEN") == "t0ken"


def test_webhook_targets_are_masked_for_readers(api_as, client_as, architect):
    from health.models import NotificationChannel
    from tests.factories import TeamFactory

    NotificationChannel.objects.create(team=TeamFactory(), name="chat", kind="chat",
                                       target="https://hooks.slack.example.com/services/T000/B000/SECRET")
    assert b"SECRET" not in client_as("executive").get("/health/channels/").content
    assert b"SECRET" in client_as("architect").get("/health/channels/").content
    listing = api_as("executive").get("/api/v1/health/channels/").json()
    rows = listing["results"] if isinstance(listing, dict) else listing
    assert rows and all("SECRET" not in row["target"] for row in rows)
