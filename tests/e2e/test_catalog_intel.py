"""Browser journey: an architect uploads Backstage files, reviews the dry run, applies it;
then opens an Impact page and follows the graph to an object."""

import pytest

from catalog.models import BackstageImport, Team
from tests.catalog.intel.factories import build_estate
from tests.catalog.intel.test_backstage import conformance_dir


@pytest.mark.e2e
def test_backstage_import_dry_run_then_apply(cast, transactional_db, live_server, login):
    files = sorted(str(p) for p in conformance_dir().glob("*.yaml"))
    page = login("architect")
    page.goto(f"{live_server.url}/catalog/backstage/import/")
    page.set_input_files("#id_files", files)
    page.click("#import-form button[type=submit]")
    page.wait_for_selector("#plan")
    assert "Dry run:" in page.inner_text("#plan-summary")
    error_row = page.locator("#plan tr.plan-error")
    assert error_row.count() == 1 and "invalid metadata.name" in error_row.inner_text()
    assert page.locator("#plan tr.plan-create").count() == 12
    assert not Team.objects.filter(slug="team-a").exists()

    page.click("#apply-button")
    page.wait_for_selector(".message-success")
    assert "Import applied" in page.inner_text(".messages")
    assert page.inner_text("#batch-status") == "Applied"
    assert page.locator("#apply-button").count() == 0
    assert Team.objects.filter(slug="team-a").exists()
    assert BackstageImport.objects.get().status == "applied"


@pytest.mark.e2e
def test_impact_graph_is_drawn_and_clickable(cast, transactional_db, live_server, login):
    build_estate()
    page = login("steward")
    page.goto(f"{live_server.url}/catalog/impact/system/netsuite/")
    assert page.inner_text("#count-integrations") == "2"
    page.wait_for_selector("#intel-graph.ready canvas")
    nodes = page.evaluate("document.getElementById('intel-graph').cytoscapeInstance.nodes().length")
    assert nodes >= 7
    # Clicking a node opens its page (the Impact page while the catalog pages are not installed).
    # (emitted after evaluate returns, so the navigation does not cut the evaluation short)
    page.evaluate(
        "setTimeout(function () { document.getElementById('intel-graph').cytoscapeInstance"
        ".nodes('[slug = \"invoice-to-bi\"]')[0].emit('tap'); }, 0)"
    )
    page.wait_for_url(lambda url: "invoice-to-bi" in url, wait_until="domcontentloaded")
    assert "Invoice to BI" in page.inner_text("h1")
