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


def _watch_errors(page):
    errors = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return errors


def _x(page, slug):
    return page.evaluate(
        "(slug) => document.getElementById('intel-graph').cytoscapeInstance"
        ".nodes('[slug = \"' + slug + '\"]')[0].position('x')", slug)


def _no_overlap(page):
    """Bounding boxes of nodes (labels included) do not overlap."""
    return page.evaluate("""() => {
        const boxes = document.getElementById('intel-graph').cytoscapeInstance.nodes().map(n => n.boundingBox());
        for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
            const a = boxes[i], b = boxes[j];
            if (a.x1 < b.x2 && b.x1 < a.x2 && a.y1 < b.y2 && b.y1 < a.y2) return false;
        }
        return true;
    }""")


@pytest.mark.e2e
def test_impact_graph_is_layered_left_to_right_with_a_legend(cast, transactional_db, live_server, login, tmp_path):
    build_estate()
    page = login("steward")
    errors = _watch_errors(page)
    page.goto(f"{live_server.url}/catalog/impact/system/netsuite/")
    assert page.inner_text("#count-direct") == "2"
    page.wait_for_selector("#intel-graph.ready canvas")
    page.wait_for_selector("#intel-graph[data-layout='dagre-LR']")
    assert page.is_visible("#graph-legend") and "Runs through middleware" in page.inner_text("#graph-legend")
    # Data flows left to right: Certinia → Time sync → NetSuite → Invoice to BI → Snowflake.
    xs = [_x(page, slug) for slug in ("certinia", "time-sync", "netsuite", "invoice-to-bi", "snowflake")]
    assert xs == sorted(xs) and len(set(xs)) == 5, xs
    assert _no_overlap(page)
    # Hovering an arrow shows the entities it carries.
    page.evaluate("document.getElementById('intel-graph').cytoscapeInstance.edges('[kind = \"delivers\"]')[0]"
                  ".emit('mouseover')")
    assert "delivers" in page.inner_text("#graph-tip")
    page.locator("#intel-graph").scroll_into_view_if_needed()
    page.screenshot(path=str(tmp_path / "impact-graph.png"), full_page=True)
    assert not errors, errors
    # Clicking a node opens its page (emitted after evaluate returns, so the navigation
    # does not cut the evaluation short).
    page.evaluate(
        "setTimeout(function () { document.getElementById('intel-graph').cytoscapeInstance"
        ".nodes('[slug = \"invoice-to-bi\"]')[0].emit('tap'); }, 0)"
    )
    page.wait_for_url(lambda url: "invoice-to-bi" in url, wait_until="domcontentloaded")


@pytest.mark.e2e
def test_estate_map_draws_every_system_and_filters(cast, transactional_db, live_server, login, tmp_path):
    from catalog import demo

    demo.load()
    page = login("architect")
    errors = _watch_errors(page)
    page.goto(f"{live_server.url}/catalog/estate-map/")
    page.wait_for_selector("#intel-graph[data-layout='dagre-LR']")
    assert page.is_visible("#graph-legend")
    count = page.evaluate("document.getElementById('intel-graph').cytoscapeInstance.nodes().length")
    assert count >= 50
    assert _no_overlap(page)
    # One source and its integration: the integration sits to the right of what it reads.
    assert _x(page, "workday-to-adp") > _x(page, "workday") or _x(page, "adp") > _x(page, "workday-to-adp")
    page.screenshot(path=str(tmp_path / "estate-map.png"), full_page=False)
    # Pickers may wrap the select (hidden behind the type-ahead); the form still submits it.
    page.select_option("#id_workflow", "collections", force=True)
    page.click("#estate-filters button[type=submit]")
    page.wait_for_url(lambda url: "workflow=collections" in url)
    page.wait_for_selector("#intel-graph[data-layout='dagre-LR']")
    filtered = page.evaluate("document.getElementById('intel-graph').cytoscapeInstance.nodes('[kind = \"integration\"]').length")
    assert 0 < filtered < 15
    page.screenshot(path=str(tmp_path / "estate-map-collections.png"), full_page=False)
    assert not errors, errors
