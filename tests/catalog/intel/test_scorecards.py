"""Governance scorecards on the small estate (see test_impact.py for its picture)."""

import pytest

from catalog import scorecards
from catalog.models import Integration, TeamMember
from tests.catalog.intel.factories import build_estate


@pytest.fixture
def estate(db):
    return build_estate()


def failing(key):
    check = next(c for c in scorecards.checks() if c.key == key)
    return sorted(check.failing().values_list("slug", flat=True))


def test_builtin_checks_find_the_known_failures(estate):
    assert failing("integration-without-sla") == ["invoice-to-bi", "sap-feed"]  # retired old-sync ignored
    assert failing("integration-without-owner") == ["invoice-to-bi", "sap-feed"]  # ops: no email, no members
    assert failing("critical-integration-deprecated-api") == ["opp-to-project"]
    assert failing("api-without-definition") == ["certinia-api"]
    # Legacy SAP is retired and still feeds Snowflake; Old CRM is past its date but only
    # a retired integration uses it.
    assert failing("system-past-retirement-in-use") == ["legacy-sap"]


def test_a_member_makes_the_owner_reachable(estate):
    TeamMember.objects.create(team=estate.ops, name="Olga", email="olga@example.com")
    assert failing("integration-without-owner") == []


# Checks other apps declare (autodiscovered); the tests that pin the catalog's own counts
# set them aside, test_app_checks_are_discovered_and_find_their_failures covers them.
APP_CHECKS = ("entity-without-sor", "integration-without-health-check")


@pytest.fixture
def catalog_checks_only():
    scorecards.checks()  # discover first, so nothing comes back midway
    kept = {key: scorecards._registry.pop(key) for key in APP_CHECKS if key in scorecards._registry}
    yield
    scorecards._registry.update(kept)


def test_app_checks_are_discovered_and_find_their_failures(estate):
    keys = {c.key for c in scorecards.checks()}
    assert set(APP_CHECKS) <= keys  # declared as CHECKS lists in stewardship/ and health/
    assert "time-sync" in failing("integration-without-health-check")  # no probe, schedule or runs
    data = scorecards.summary()
    assert {c["key"] for c in data["checks"]} >= set(APP_CHECKS)


def test_summary_counts_per_team_and_ranks(estate, catalog_checks_only, django_assert_max_num_queries):
    with django_assert_max_num_queries(2 * len(scorecards.checks()) + 1):
        data = scorecards.summary()
    teams = {t["slug"]: t for t in data["teams"]}
    assert teams["ops"]["failing"] == 5
    assert teams["ops"]["by_check"] == {
        "integration-without-sla": 2, "integration-without-owner": 2, "system-past-retirement-in-use": 1}
    assert teams["sales"]["by_check"] == {"critical-integration-deprecated-api": 1, "api-without-definition": 1}
    assert teams["fin"]["failing"] == 0 and teams["fin"]["score"] == 100.0
    ranked = [t["slug"] for t in data["teams"] if t["score"] is not None]
    assert ranked[0] == "fin" and ranked[-1] == "ops"
    checks = {c["key"]: c for c in data["checks"]}
    assert checks["integration-without-sla"]["failing"] == 2
    assert checks["api-without-definition"]["severity"] == "medium" and checks["api-without-definition"]["fix"]


def test_failing_checks_for_one_object(estate, catalog_checks_only):
    assert [c["key"] for c in scorecards.failing_checks_for(estate.opp_to_project)] == [
        "critical-integration-deprecated-api"]
    assert scorecards.failing_checks_for(estate.time_sync) == []


def test_other_apps_register_checks(estate):
    scorecards.register_check(
        "test-plugin-check", "Integration without health check", "medium", "Add a probe.",
        Integration, lambda: Integration.objects.filter(slug="time-sync"),
    )
    try:
        data = scorecards.summary()
        fin = next(t for t in data["teams"] if t["slug"] == "fin")
        assert fin["by_check"]["test-plugin-check"] == 1
    finally:
        scorecards.unregister_check("test-plugin-check")
    with pytest.raises(ValueError):
        scorecards.register_check("x", "x", "urgent", "", Integration, Integration.objects.none)


def test_autodiscover_imports_app_modules(monkeypatch):
    imported = []
    monkeypatch.setattr(scorecards, "_discovered", False)
    real = scorecards.importlib.import_module

    def spy(name):
        imported.append(name)
        return real(name)

    monkeypatch.setattr(scorecards.importlib, "import_module", spy)
    scorecards.autodiscover()
    assert "catalog.scorecard_checks" in imported


def test_scorecards_api(estate, catalog_checks_only, api_as):
    response = api_as("executive").get("/api/v1/catalog/scorecards/")
    assert response.status_code == 200
    body = response.json()
    ops = next(t for t in body["teams"] if t["slug"] == "ops")
    assert ops["failing"] == 5 and "objects" not in ops
    detailed = api_as("executive").get("/api/v1/catalog/scorecards/", {"objects": "true"}).json()
    ops = next(t for t in detailed["teams"] if t["slug"] == "ops")
    assert [o["slug"] for o in ops["objects"]["system-past-retirement-in-use"]] == ["legacy-sap"]


def test_scorecards_page_ranks_teams_and_lists_failures(estate, client_as):
    response = client_as("finance").get("/catalog/scorecards/")
    assert response.status_code == 200
    html = response.content.decode()
    assert html.index("Finance Systems") < html.index('id="team-ops"')
    assert "Legacy SAP" in html and "Tier-1 integration using a deprecated API" in html


def test_scorecards_page_lists_a_page_of_failing_objects_and_counts_the_rest(estate, client_as, monkeypatch):
    monkeypatch.setattr(scorecards, "OBJECTS_PER_CHECK", 1)
    html = client_as("finance").get("/catalog/scorecards/").content.decode()
    # ops fails "integration without SLA" twice (invoice-to-bi, sap-feed): the first by name is listed
    card = html[html.index('id="card-ops"'):]
    card = card[card.index("Integration without SLA"):]
    card = card[:card.index("</details>")]
    assert card.count("<li><a ") == 1
    assert 'data-more="1"' in card and "and 1 more" in card


def test_scorecards_page_query_count(estate, client_as, django_assert_max_num_queries):
    client = client_as("finance")
    client.get("/catalog/scorecards/")
    with django_assert_max_num_queries(3 * len(scorecards.checks()) + 10):
        client.get("/catalog/scorecards/")


def test_panel_shows_impact_link_and_failing_checks(estate, catalog_checks_only, client_as):
    from django.template.loader import render_to_string

    html = render_to_string("catalog/intel/_panel.html", {"object": estate.opp_to_project})
    assert "/catalog/intel/panel/integration/opp-to-project/" in html
    assert "/catalog/impact/integration/opp-to-project/" in html
    body = client_as("executive").get("/catalog/intel/panel/integration/opp-to-project/").content.decode()
    assert "Tier-1 integration using a deprecated API" in body and "/catalog/impact/integration/opp-to-project/" in body
    team = client_as("executive").get("/catalog/intel/panel/team/ops/").content.decode()
    assert "5 failing checks" in team
    assert client_as("executive").get("/catalog/intel/panel/workflow/period-close/").status_code == 200
    assert client_as("executive").get("/catalog/intel/panel/gizmo/x/").status_code == 404
