"""The Impact page and API (same answers, paged), the neighbourhood graph, the estate map
and its filters, and declared entity derivations over the API."""

import pytest

from catalog import estate_graph, impact
from catalog.models import EntityDerivation
from controlplane.models import AuditEntry
from tests.catalog.intel.factories import build_estate, build_flows


@pytest.fixture
def estate(db):
    return build_estate()


def test_impact_api_and_page_give_the_same_answer(estate, api_as, client_as):
    body = api_as("executive").get("/api/v1/catalog/impact/", {"system": "netsuite"}).json()
    assert body["change"] == "outage" and body["depth"] == 1
    assert body["counts"]["direct"] == 2 and body["counts"]["workflows"] == 2 and body["counts"]["teams"] == 2
    assert [i["slug"] for i in body["direct"]["results"]] == ["time-sync", "invoice-to-bi"]  # tier 1 first
    assert body["direct"]["results"][0]["path_text"] == "Time sync delivers Time entry into NetSuite"
    html = client_as("steward").get("/catalog/impact/system/netsuite/").content.decode()
    assert 'id="count-direct">2<' in html
    assert html.index(">Time sync</a>") < html.index(">Invoice to BI</a>")
    assert "Tier 1 · 1 workflow · SLA" in html


def test_depth_and_change_are_options_with_ranges(estate, api_as, client_as):
    api = api_as("architect")
    body = api.get("/api/v1/catalog/impact/", {"integration": "opp-to-project", "depth": "all"}).json()
    assert body["depth"] == "all" or body["depth"] is None
    retire = api.get("/api/v1/catalog/impact/", {"system": "netsuite", "change": "retire"}).json()
    assert retire["change_label"] == "Retirement of System NetSuite"
    for params, field in [({"system": "netsuite", "depth": "0"}, "depth"),
                          ({"system": "netsuite", "depth": "51"}, "depth"),
                          ({"system": "netsuite", "depth": "deep"}, "depth"),
                          ({"api": "certinia-api", "change": "retire"}, "change"),
                          ({"system": "netsuite", "change": "explode"}, "change"),
                          ({"system": "netsuite", "page_size": "1000"}, "page_size"),
                          ({"system": "netsuite", "direct_page": "-1"}, "direct_page")]:
        response = api.get("/api/v1/catalog/impact/", params)
        assert response.status_code == 400, params
        assert field in response.json()["error"]["fields"], params
    page = client_as("architect").get("/catalog/impact/system/netsuite/", {"depth": "x"})
    assert page.status_code == 400 and "depth" in page.content.decode()


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


def test_a_hub_is_paged_not_one_long_page(db, client_as, api_as):
    build_flows([(f"feed-{i:02d}", f"src-{i:02d}", "hub", ["invoice"]) for i in range(30)], hubs=("hub",))
    body = api_as("architect").get("/api/v1/catalog/impact/", {"system": "hub", "page_size": 25}).json()
    assert body["direct"]["count"] == 30 and body["direct"]["pages"] == 2 and len(body["direct"]["results"]) == 25
    second = api_as("architect").get("/api/v1/catalog/impact/", {"system": "hub", "direct_page": 2}).json()
    assert len(second["direct"]["results"]) == 5
    assert not {i["slug"] for i in second["direct"]["results"]} & {i["slug"] for i in body["direct"]["results"]}
    html = client_as("architect").get("/catalog/impact/system/hub/").content.decode()
    assert html.count('class="tier-2"') == 25 and "Page 1 of 2" in html and "direct_page=2" in html


def test_page_offers_all_downstream_when_there_is_more(db, client_as):
    build_flows([("i1", "a", "b", ["invoice"]), ("i2", "b", "c", ["invoice"])])
    html = client_as("finance").get("/catalog/impact/system/a/").content.decode()
    assert 'id="show-all"' in html and "depth=all" in html
    everything = client_as("finance").get("/catalog/impact/system/a/", {"depth": "all"}).content.decode()
    assert 'id="show-all"' not in everything
    assert "I2</a> reads <strong>Invoice</strong> from" in everything


def test_list_view_reads_naturally(estate, client_as):
    html = client_as("steward").get("/catalog/impact/system/netsuite/").content.decode()
    # The no-JavaScript list of the neighbourhood: who delivers what into which system.
    assert ">Time sync</a> delivers <strong>Time entry</strong> into <a" in html
    assert "reads from <a href=\"/catalog/systems/certinia/\">Certinia</a>, via MuleSoft" in html
    assert 'id="graph-legend"' in html and "cytoscape-dagre-4.0.1.min.js" in html


def test_neighbourhood_of_a_system_is_data_flow_without_a_middleware_tangle(estate):
    graph = estate_graph.neighbourhood(estate.netsuite)
    labels = {n["data"]["label"] for n in graph["nodes"]}
    assert labels == {"NetSuite", "Time sync", "Invoice to BI", "Certinia", "Snowflake"}
    flows = {(e["data"]["source"], e["data"]["target"]): e["data"] for e in graph["edges"]}
    ids = {n["data"]["label"]: n["data"]["id"] for n in graph["nodes"]}
    assert flows[(ids["Certinia"], ids["Time sync"])]["kind"] == "reads"
    delivers = flows[(ids["Time sync"], ids["NetSuite"])]
    assert delivers["label"] == "Time entry" and delivers["title"] == "Time sync delivers Time entry into NetSuite"
    assert [n["data"]["label"] for n in graph["nodes"] if n["data"]["focus"]] == ["NetSuite"]
    # The middleware's own graph shows what runs through it.
    mule = estate_graph.neighbourhood(estate.mulesoft)
    assert [e["data"]["kind"] for e in mule["edges"]].count("through") == 1


def test_neighbourhood_of_an_integration_shows_apis_workflows_owner(estate, api_as):
    kinds = sorted({n["data"]["kind"] for n in estate_graph.neighbourhood(estate.time_sync)["nodes"]})
    assert kinds == ["api", "integration", "system", "team", "workflow"]
    assert api_as("finance").get("/api/v1/catalog/graph/", {"integration": "time-sync"}).status_code == 200
    assert api_as("finance").get("/api/v1/catalog/graph/", {"api": "netsuite-rest"}).status_code == 400


def test_estate_map_filters_by_domain_team_tier_workflow_entity(estate, api_as, client_as):
    from tests.factories import DomainFactory

    finance = DomainFactory(slug="fin-domain", name="Finance domain")
    estate.snowflake.domain = finance
    estate.snowflake.save(update_fields=["domain"])
    api = api_as("executive")

    def shown(**params):
        body = api.get("/api/v1/catalog/estate-map/", params).json()
        return sorted(n["data"]["slug"] for n in body["nodes"] if n["data"]["kind"] == "integration")

    assert shown() == ["invoice-to-bi", "opp-to-project", "sap-feed", "time-sync"]  # not the retired one
    everything = api.get("/api/v1/catalog/estate-map/").json()
    assert "old-crm" in {n["data"]["slug"] for n in everything["nodes"]}  # every system, even unused
    assert shown(domain="fin-domain") == ["invoice-to-bi", "sap-feed"]
    assert shown(team="sales") == ["opp-to-project", "time-sync"]  # owns it, or owns a system it touches
    assert shown(tier="1") == ["opp-to-project", "time-sync"]
    assert shown(workflow="period-close") == ["invoice-to-bi"]
    assert shown(entity="time-entry") == ["time-sync"]
    for params in ({"tier": "9"}, {"team": "nobody"}, {"entity": "x" * 300}):
        response = api.get("/api/v1/catalog/estate-map/", params)
        assert response.status_code == 400 and response.json()["error"]["fields"], params
    page = client_as("executive").get("/catalog/estate-map/", {"workflow": "period-close"})
    html = page.content.decode()
    assert page.status_code == 200 and "<option value=\"period-close\" selected>Period close</option>" in html
    assert "/api/v1/catalog/estate-map/?workflow=period-close" in html and 'id="graph-legend"' in html
    assert client_as("executive").get("/catalog/estate-map/", {"tier": "9"}).status_code == 400


def test_estate_map_is_capped_most_critical_first(db, api_as, monkeypatch):
    build_flows([(f"f{i}", "a", "b", ["invoice"], {"criticality": 1 if i == 4 else 3}) for i in range(6)])
    monkeypatch.setattr(estate_graph, "ESTATE_MAP_LIMIT", 2)
    body = api_as("architect").get("/api/v1/catalog/estate-map/").json()
    assert body["truncated"] and body["total"] == 6 and body["shown"] == 2
    assert "f4" in {n["data"]["slug"] for n in body["nodes"]}


def test_query_counts_do_not_grow_with_the_estate(db, django_assert_max_num_queries):
    from tests.catalog.intel.factories import build_large_estate

    big = build_large_estate(200)
    # derivations, the direct set (2), their entities, the next hop, details (3), entity,
    # API and team names, then the names along the shown paths (2): 13 at any size.
    with django_assert_max_num_queries(13):
        impact.answer(big.systems[0])
    with django_assert_max_num_queries(6):
        estate_graph.neighbourhood(big.systems[0])
    with django_assert_max_num_queries(6):
        estate_graph.filtered_map({})


# --- derivations ------------------------------------------------------------------------


def test_architect_declares_and_removes_a_derivation(estate, api_as):
    api = api_as("architect")
    response = api.post("/api/v1/catalog/entity-derivations/", {
        "source_entity": "time-entry", "derived_entity": "invoice", "system": "netsuite",
        "description": "Approved time becomes invoice lines"}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["derived_entity_name"] == "Invoice" and body["system_name"] == "NetSuite"
    derivation = EntityDerivation.objects.get()
    assert AuditEntry.objects.filter(action="derivation.created", object_id=str(derivation.pk)).exists()
    # Now time entries missing in NetSuite reach whoever reads invoices from NetSuite.
    down = api.get("/api/v1/catalog/impact/", {"integration": "time-sync"}).json()
    assert [i["slug"] for i in down["downstream"]["results"]] == ["invoice-to-bi"]
    assert "(derived from Time entry)" in down["downstream"]["results"][0]["path_text"]

    again = api.post("/api/v1/catalog/entity-derivations/", {"source_entity": "time-entry",
                                                            "derived_entity": "invoice", "system": "netsuite"},
                     format="json")
    assert again.status_code == 400 and "already declared" in again.json()["error"]["message"]
    itself = api.post("/api/v1/catalog/entity-derivations/", {"source_entity": "invoice", "derived_entity": "invoice"},
                      format="json")
    assert itself.status_code == 400 and "not derived from itself" in itself.json()["error"]["message"]
    unknown = api.post("/api/v1/catalog/entity-derivations/", {"source_entity": "nope", "derived_entity": "invoice"},
                       format="json")
    assert unknown.status_code == 400 and "source_entity" in unknown.json()["error"]["fields"]
    assert EntityDerivation.objects.count() == 1

    assert api_as("steward").delete(f"/api/v1/catalog/entity-derivations/{derivation.pk}/").status_code == 403
    assert api.delete(f"/api/v1/catalog/entity-derivations/{derivation.pk}/").status_code == 204
    assert not EntityDerivation.objects.exists()
    assert AuditEntry.objects.filter(action="derivation.deleted").exists()
