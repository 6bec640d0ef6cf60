"""Pages and management endpoints: who may, who may not, what they show, query counts."""

import datetime as dt

import pytest
from django.utils import timezone

from health.choices import Granularity, Status
from health.models import Flip, HealthConfig, MaintenanceWindow, NotificationChannel, Probe, Rollup
from tests.factories import IntegrationFactory, SlaFactory, WorkflowFactory
from tests.health.factories import ProbeFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def estate(db):
    quote = WorkflowFactory(name="Health test flow", slug="health-test-flow")
    items = []
    for i, status in enumerate([Status.UP, Status.DOWN, Status.LATE, Status.MAINTENANCE]):
        integration = IntegrationFactory(name=f"Flow {i}", slug=f"flow-{i}", workflows=[quote] if i < 3 else [])
        HealthConfig.objects.create(integration=integration, status=status, status_reason=f"reason {i}")
        SlaFactory(integration=integration, availability_target="99.0")
        Rollup.objects.create(integration=integration, granularity=Granularity.HOUR,
                              period_start=timezone.now().replace(minute=0, second=0, microsecond=0),
                              checks=100, checks_ok=100 - i * 5, latency_p95_ms=100 + i)
        items.append(integration)
    return items


@pytest.mark.parametrize("name,code", [("architect", 200), ("executive", 200), ("finance", 200), ("outsider", 403)])
def test_board_permissions(client_as, estate, name, code):
    assert client_as(name).get("/health/").status_code == code


def test_board_requires_login(client):
    response = client.get("/health/")
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_board_groups_by_workflow_colours_and_filters(client_as, estate, django_assert_max_num_queries):
    client = client_as("executive")
    with django_assert_max_num_queries(20):
        response = client.get("/health/")
    html = response.content.decode()
    assert "Health test flow" in html and "No workflow" in html
    assert 'data-integration="flow-1" title="reason 1"' in html
    assert "tile-down" in html and "tile-late" in html
    filtered = client.get("/health/?status=down").content.decode()
    assert 'data-integration="flow-1"' in filtered and 'data-integration="flow-0"' not in filtered
    # htmx polling gets only the board fragment
    fragment = client.get("/health/", HTTP_HX_REQUEST="true").content.decode()
    assert fragment.lstrip().startswith('<section id="board"') and "<html" not in fragment


def test_board_poll_answers_204_until_something_on_it_changes(client_as, estate):
    import re

    client = client_as("executive")

    def version(html):
        return re.search(r'data-version="([0-9a-f]+)"', html).group(1)

    def poll(v, query=""):
        return client.get(f"/health/?{query}v={v}", HTTP_HX_REQUEST="true")

    v = version(client.get("/health/?status=down").content.decode())
    assert f"hx-vals='{{\"v\": \"{v}\"}}'" in client.get("/health/?status=down").content.decode()
    assert poll(v, "status=down&").status_code == 204  # nothing moved: htmx swaps nothing
    assert poll(v).status_code == 200  # another filter shows another board

    HealthConfig.objects.filter(integration=estate[0]).update(status=Status.DOWN, status_reason="now failing")
    changed = poll(v, "status=down&")
    assert changed.status_code == 200
    html = changed.content.decode()
    assert 'data-integration="flow-0"' in html and version(html) != v
    assert "v=" not in re.search(r'hx-get="([^"]*)"', html).group(1)  # the next poll sends only the new one

    estate[3].workflows.add(WorkflowFactory(name="Moved here", slug="moved-here"))  # regrouped
    v_all = version(client.get("/health/").content.decode())
    estate[3].workflows.clear()
    assert poll(v_all).status_code == 200


def test_board_poll_without_a_version_renders(client_as, estate):
    assert client_as("executive").get("/health/", HTTP_HX_REQUEST="true").status_code == 200


def _count(client, url):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.parametrize("url", ["/health/", "/health/sla/", "/api/v1/health/status/", "/api/v1/health/sla/"])
def test_query_count_does_not_grow_with_integrations(client_as, estate, url):
    client = client_as("executive")
    client.get(url)  # warm the session
    before = _count(client, url)
    workflow = estate[0].workflows.first()
    for _ in range(15):
        integration = IntegrationFactory(workflows=[workflow])
        HealthConfig.objects.create(integration=integration, status=Status.UP)
        SlaFactory(integration=integration)
    assert _count(client, url) == before


@pytest.mark.parametrize("name,code", [("architect", 200), ("executive", 200), ("outsider", 403)])
def test_integration_page_permissions(client_as, estate, name, code):
    assert client_as(name).get("/health/integrations/flow-1/").status_code == code


def test_integration_page_shows_status_flips_sla_and_charts(client_as, estate, django_assert_max_num_queries):
    Flip.objects.create(integration=estate[1], from_status="up", to_status="down", reason="All 1 probe(s) failing", at=timezone.now())
    client = client_as("architect")
    with django_assert_max_num_queries(40):
        response = client.get("/health/integrations/flow-1/")
    html = response.content.decode()
    assert "All 1 probe(s) failing" in html and 'id="health-charts"' in html
    assert "95.000 %" in html  # availability from the rollup
    assert "heartbeat" in html  # architects see the push URLs
    assert "heartbeat/" not in client_as("executive").get("/health/integrations/flow-1/").content.decode()
    assert client.get("/health/integrations/nope/").status_code == 404


def test_a_batch_integration_page_speaks_in_hours_and_shows_runs_not_an_empty_latency_chart(client_as, estate):
    from health.models import SlaBreach, SyncRun

    batch = IntegrationFactory(name="Nightly rate cards", slug="nightly-rate-cards")
    now = timezone.now()
    HealthConfig.objects.create(integration=batch, status=Status.UP, expected_period_seconds=86400, grace_seconds=10800)
    Rollup.objects.create(integration=batch, granularity=Granularity.HOUR, period_start=now.replace(minute=0, second=0, microsecond=0),
                          checks=0, checks_ok=0, runs=1, runs_failed=0)
    SyncRun.objects.create(integration=batch, run_key="r1", source="api", status="success", finished_at=now,
                           received_at=now, records_processed=10, lag_seconds=371)
    SlaBreach.objects.create(integration=batch, metric="exception_resolution", window="30d", value=55.58, target=48,
                             opened_at=now, fingerprint="health:sla:nightly-rate-cards:exception_resolution")
    MaintenanceWindow.objects.create(name="Weekend patching", integration=batch, recurrence="weekly", weekdays="6,7",
                                     start_time=dt.time(2, 0), duration_minutes=120)
    html = client_as("architect").get("/health/integrations/nightly-rate-cards/").content.decode()
    assert 'id="latency-chart"' not in html and "Runs succeeded %" in html
    assert "Expected every 24 h, with 3 h of grace." in html
    assert "<td>6 min</td>" in html  # the run's lag, not 371
    assert "Exceptions took 55.6 h to resolve over the last 30 days (target 48 h)" in html
    assert "every Saturday and Sunday at 02:00 UTC for 2 h" in html
    probed = client_as("architect").get("/health/integrations/flow-1/").content.decode()
    assert 'id="latency-chart"' in probed  # a probed integration keeps its latency chart


@pytest.mark.parametrize("name,code", [("architect", 200), ("executive", 200), ("outsider", 403)])
def test_sla_page_permissions(client_as, estate, name, code):
    assert client_as(name).get("/health/sla/").status_code == code


def test_sla_page_meeting_and_missing_by_team_and_workflow(client_as, estate, django_assert_max_num_queries):
    with django_assert_max_num_queries(30):
        response = client_as("executive").get("/health/sla/?window=24h")
    html = response.content.decode()
    assert 'data-integration="flow-0" data-verdict="meeting"' in html
    assert 'data-integration="flow-1" data-verdict="meeting"' not in html
    assert 'data-integration="flow-2" data-verdict="missing"' in html
    assert response.context["totals"] == {"meeting": 1, "missing": 3, "no_data": 0}
    assert dict(response.context["by_workflow"])["Health test flow"] == {"meeting": 1, "missing": 2, "no_data": 0}


# --- API ------------------------------------------------------------------------------


def test_status_api(api_as, estate, django_assert_max_num_queries):
    client = api_as("executive")
    with django_assert_max_num_queries(8):
        response = client.get("/api/v1/health/status/")
    assert response.status_code == 200
    assert {r["integration"]: r["status"] for r in response.json()["results"]}["flow-1"] == "down"
    assert api_as("executive").get("/api/v1/health/status/flow-2/").json()["status"] == "late"
    assert api_as("outsider").get("/api/v1/health/status/").status_code == 403
    assert api_as(None).get("/api/v1/health/status/").status_code in (401, 403)


def test_probe_api_create_masks_secrets_and_validates(api_as, estate, settings):
    settings.OUTBOUND_URL_ALLOWLIST = ["127.0.0.0/8"]
    body = {"integration": "flow-0", "name": "main", "url": "http://127.0.0.1:9/ok", "headers": {"Accept": "application/json",
            "X-Env": "env:PROBE_SECRET_PARTNER_TOKEN"}, "secret_headers": {"Authorization": "Bearer hunter2"},
            "conditions": "[STATUS] == 200\n[RESPONSE_TIME] < 800"}
    assert api_as("executive").post("/api/v1/health/probes/", body, format="json").status_code == 403
    response = api_as("architect").post("/api/v1/health/probes/", body, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["headers"]["Authorization"] == "********"
    probe = Probe.objects.get(name="main")
    assert probe.headers["Authorization"].startswith("enc:") and "hunter2" not in probe.headers["Authorization"]
    from health.secrets import revealed_headers

    assert revealed_headers(probe.headers)["Authorization"] == "Bearer hunter2"
    bad = api_as("architect").post("/api/v1/health/probes/", {**body, "name": "b", "conditions": "[STATUS] = 200"}, format="json")
    assert bad.status_code == 400 and "conditions" in bad.json()["error"]["fields"]
    denied = api_as("architect").post("/api/v1/health/probes/", {**body, "name": "c", "url": "http://169.254.169.254/"}, format="json")
    assert denied.status_code == 400 and "url" in denied.json()["error"]["fields"]
    # update keeps the masked secret when sent back unchanged
    detail = api_as("architect").get(f"/api/v1/health/probes/{probe.pk}/").json()
    response = api_as("architect").patch(f"/api/v1/health/probes/{probe.pk}/", {"headers": detail["headers"], "timeout_ms": 2000}, format="json")
    assert response.status_code == 200
    probe.refresh_from_db()
    assert revealed_headers(probe.headers)["Authorization"] == "Bearer hunter2" and probe.timeout_ms == 2000
    assert api_as("executive").delete(f"/api/v1/health/probes/{probe.pk}/").status_code == 403
    assert api_as("architect").delete(f"/api/v1/health/probes/{probe.pk}/").status_code == 204


def test_maintenance_api(api_as, estate):
    body = {"name": "Weekly patching", "integration": "flow-1", "recurrence": "weekly", "weekdays": "6,7",
            "start_time": "02:00", "duration_minutes": 120}
    assert api_as("finance").post("/api/v1/health/maintenance/", body, format="json").status_code == 403
    response = api_as("architect").post("/api/v1/health/maintenance/", body, format="json")
    assert response.status_code == 201, response.content
    bad = api_as("architect").post("/api/v1/health/maintenance/", {**body, "weekdays": "9"}, format="json")
    assert bad.status_code == 400 and "weekdays" in bad.json()["error"]["fields"]
    assert MaintenanceWindow.objects.count() == 1
    assert api_as("executive").get("/api/v1/health/maintenance/").status_code == 200


def test_channel_api_hides_secret(api_as, estate, settings):
    settings.OUTBOUND_URL_ALLOWLIST = ["127.0.0.0/8"]
    team = estate[0].owner_team.slug
    body = {"team": team, "name": "hook", "kind": "webhook", "target": "http://127.0.0.1:9/hook", "secret": "abc"}
    assert api_as("executive").post("/api/v1/health/channels/", body, format="json").status_code == 403
    response = api_as("architect").post("/api/v1/health/channels/", body, format="json")
    assert response.status_code == 201, response.content
    assert "secret" not in response.json() and response.json()["has_secret"] is True
    assert NotificationChannel.objects.get().secret.startswith("enc:")
    email = api_as("architect").post("/api/v1/health/channels/", {**body, "name": "m", "kind": "email", "target": "nope"}, format="json")
    assert email.status_code == 400


def test_flips_notifications_and_sla_api(api_as, estate, django_assert_max_num_queries):
    Flip.objects.create(integration=estate[1], from_status="up", to_status="down", reason="r", at=timezone.now() - dt.timedelta(minutes=1))
    client = api_as("executive")
    with django_assert_max_num_queries(8):
        assert client.get("/api/v1/health/flips/").json()["results"][0]["integration"] == "flow-1"
    assert api_as("executive").get("/api/v1/health/notifications/").status_code == 200
    assert api_as("outsider").get("/api/v1/health/flips/").status_code == 403
    with django_assert_max_num_queries(12):
        response = client.get("/api/v1/health/sla/?window=24h")
    rows = {r["integration"]: r for r in response.json()["results"]}
    assert rows["flow-0"]["meeting_all"] is True and rows["flow-3"]["meeting_all"] is False
    assert api_as("executive").get("/api/v1/health/sla/?window=1y").status_code == 400
    assert api_as("outsider").get("/api/v1/health/sla/").status_code == 403


def test_scorecard_check_lists_integrations_without_health_checks(estate):
    from health.scorecard_checks import CHECKS

    check = CHECKS[0]
    assert check["key"] == "integration-without-health-check"
    ProbeFactory(integration=estate[0])
    HealthConfig.objects.filter(integration=estate[1]).update(expected_period_seconds=600)
    failing = set(check["failing"]().values_list("slug", flat=True))
    assert {"flow-2", "flow-3"} <= failing and not {"flow-0", "flow-1"} & failing


def test_an_overspent_error_budget_reads_as_how_many_times_it_was_spent():
    from controlplane.templatetags.controlplane import budget_left

    assert budget_left(42.04) == "42.0 %"
    assert budget_left(0) == "0.0 %"
    assert budget_left(-7347.6) == "none (spent 74.5× the budget)"
    assert budget_left(None) == "—" and budget_left("") == "—"  # no SLA
