"""Impact analysis on a small estate with known answers.

    Salesforce --opp-to-project (uses certinia-api, tier 1)--> Certinia
    Certinia --time-sync (via MuleSoft, uses netsuite-rest)--> NetSuite
    NetSuite --invoice-to-bi--> Snowflake          Legacy SAP --sap-feed--> Snowflake
    NetSuite --old-sync (retired)--> Old CRM
"""

import pytest

from catalog import impact
from tests.catalog.intel.factories import build_estate, build_large_estate


@pytest.fixture
def estate(db):
    return build_estate()


def slugs(items):
    return sorted(item["slug"] for item in items)


def test_system_impact_follows_sources_targets_middleware_and_apis(estate):
    result = impact.analyse(estate.netsuite)
    # time-sync writes to NetSuite (and uses its API); invoice-to-bi reads from it; the
    # retired old-sync is not affected.
    assert slugs(result["integrations"]) == ["invoice-to-bi", "time-sync"]
    assert slugs(result["workflows"]) == ["period-close", "time-to-invoice"]
    assert slugs(result["teams"]) == ["fin", "ops"]
    assert slugs(result["apis"]) == ["netsuite-rest"]
    by_slug = {i["slug"]: i for i in result["integrations"]}
    assert by_slug["invoice-to-bi"]["path_text"] == "System NetSuite → read by Integration Invoice to BI"
    workflow = next(w for w in result["workflows"] if w["slug"] == "period-close")
    assert workflow["path_text"].endswith("→ serves Workflow Period close")
    ops = next(t for t in result["teams"] if t["slug"] == "ops")
    assert ops["reason"] == "owns Integration Invoice to BI"


def test_middleware_system_affects_what_passes_through_it(estate):
    result = impact.analyse(estate.mulesoft)
    by_slug = {i["slug"]: i for i in result["integrations"]}
    assert by_slug["time-sync"]["depth"] == 1
    assert by_slug["time-sync"]["path"][1]["relation"] == "carries"
    # Downstream: time-sync feeds NetSuite, which invoice-to-bi reads.
    assert by_slug["invoice-to-bi"]["depth"] == 2


def test_api_impact_propagates_downstream_with_the_full_path(estate):
    result = impact.analyse(estate.certinia_api)
    assert [(i["slug"], i["depth"]) for i in result["integrations"]] == [
        ("opp-to-project", 1), ("time-sync", 2), ("invoice-to-bi", 3)]
    far = result["integrations"][-1]
    assert far["path_text"] == (
        "API certinia-api → used by Integration Opportunity to project → delivers into System Certinia"
        " → read by Integration Time sync → delivers into System NetSuite → read by Integration Invoice to BI"
    )
    assert slugs(result["workflows"]) == ["period-close", "project-setup", "time-to-invoice"]
    assert slugs(result["teams"]) == ["fin", "ops", "sales"]


def test_entity_impact_only_follows_integrations_carrying_it(estate):
    result = impact.analyse(estate.time_sync.entities.get())
    assert slugs(result["integrations"]) == ["time-sync"]
    assert slugs(result["workflows"]) == ["time-to-invoice"]
    assert slugs(result["teams"]) == ["fin"]


def test_unused_system_affects_nothing_but_its_owner_is_listed(estate):
    result = impact.analyse(estate.old_crm)
    assert result["integrations"] == [] and result["workflows"] == []
    assert slugs(result["teams"]) == ["sales"]


def test_neighbourhood_of_a_system(estate):
    graph = impact.neighbourhood(estate.netsuite)
    labels = {n["data"]["label"] for n in graph["nodes"]}
    assert {"NetSuite", "netsuite-rest", "Time sync", "Invoice to BI", "Certinia", "Snowflake", "MuleSoft"} <= labels
    focus = [n["data"]["label"] for n in graph["nodes"] if n["data"]["focus"]]
    assert focus == ["NetSuite"]
    node_ids = {n["data"]["id"] for n in graph["nodes"]}
    assert all(e["data"]["source"] in node_ids and e["data"]["target"] in node_ids for e in graph["edges"])
    assert all(n["data"]["url"] for n in graph["nodes"])


def test_neighbourhood_of_an_integration_shows_entities_workflows_owner(estate):
    graph = impact.neighbourhood(estate.time_sync)
    kinds = sorted({n["data"]["kind"] for n in graph["nodes"]})
    assert kinds == ["api", "entity", "integration", "system", "team", "workflow"]


def naive_impact(system):
    """The same rules written the slow, obvious way (a query per edge), as a reference."""
    from django.db.models import Q

    from catalog.models import Integration

    live = Integration.objects.exclude(lifecycle="retired")
    frontier = set(live.filter(
        Q(source_system=system) | Q(target_system=system) | Q(middleware_system=system) | Q(apis__provider_system=system)
    ).distinct())
    seen = {i.slug for i in frontier}
    for _depth in range(1, impact.MAX_DEPTH):
        nxt = set()
        for integration in frontier:
            for follower in live.filter(source_system_id=integration.target_system_id):
                if follower.slug not in seen:
                    seen.add(follower.slug)
                    nxt.add(follower)
        frontier = nxt
    return seen


def test_query_count_is_fixed_on_a_200_integration_estate(db, django_assert_max_num_queries):
    big = build_large_estate(200)
    system = big.systems[0]
    with django_assert_max_num_queries(7) as ctx:
        result = impact.analyse(system)
    assert len(ctx.captured_queries) <= 7
    assert {i["slug"] for i in result["integrations"]} == naive_impact(system)
    assert max(i["depth"] for i in result["integrations"]) == impact.MAX_DEPTH
    with django_assert_max_num_queries(7):
        impact.analyse(big.apis[3])
    with django_assert_max_num_queries(10):
        impact.neighbourhood(system)


# --- endpoint and page ----------------------------------------------------------------------


def test_impact_api_returns_affected_objects(estate, api_as):
    response = api_as("executive").get("/api/v1/catalog/impact/", {"system": "netsuite"})
    assert response.status_code == 200
    body = response.json()
    assert body["cause"]["slug"] == "netsuite"
    assert body["counts"] == {"apis": 1, "integrations": 2, "workflows": 2, "teams": 2}


@pytest.mark.parametrize(
    "params, field",
    [({}, "non_field_errors"), ({"system": "nope"}, "system"), ({"api": "x", "system": "netsuite"}, "non_field_errors"),
     ({"entity": "no-such-entity"}, "entity")],
)
def test_impact_api_400_in_error_shape(estate, api_as, params, field):
    response = api_as("architect").get("/api/v1/catalog/impact/", params)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["message"] and field in error["fields"]


def test_graph_api(estate, api_as):
    response = api_as("finance").get("/api/v1/catalog/graph/", {"integration": "time-sync"})
    assert response.status_code == 200
    assert {"nodes", "edges"} == set(response.json())
    assert api_as("finance").get("/api/v1/catalog/graph/", {"api": "netsuite-rest"}).status_code == 400


def test_impact_page_lists_paths_and_graph_fallback(estate, client_as):
    response = client_as("steward").get("/catalog/impact/system/netsuite/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Invoice to BI" in html and "Period close" in html and "Ops" in html
    assert 'id="intel-graph"' in html and "/api/v1/catalog/graph/?system=netsuite" in html
    assert "reads from" in html  # the no-JavaScript list of edges
    assert client_as("steward").get("/catalog/impact/system/nope/").status_code == 404
    assert client_as("steward").get("/catalog/impact/team/fin/").status_code == 404


def test_impact_page_for_api_and_entity_has_no_graph(estate, client_as):
    response = client_as("architect").get("/catalog/impact/api/certinia-api/")
    assert response.status_code == 200 and 'id="intel-graph"' not in response.content.decode()
    assert client_as("architect").get("/catalog/impact/entity/time-entry/").status_code == 200


def test_impact_page_query_count(db, cast, client_as, django_assert_max_num_queries):
    big = build_large_estate(200)
    client = client_as("architect")
    client.get(f"/catalog/impact/system/{big.systems[0].slug}/")  # warm caches (content types, perms)
    with django_assert_max_num_queries(25):
        assert client.get(f"/catalog/impact/system/{big.systems[0].slug}/").status_code == 200
