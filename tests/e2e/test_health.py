"""Status board in a real browser: tiles by workflow, filtering, refresh without reload."""

import pytest

from health.choices import Status
from health.models import HealthConfig
from tests.factories import IntegrationFactory, WorkflowFactory

pytestmark = pytest.mark.e2e


def test_status_board_refreshes_tiles_without_reloading(cast, transactional_db, login, live_server, settings):
    settings.HEALTH_BOARD_REFRESH_SECONDS = 1
    flow = WorkflowFactory(name="Board e2e flow", slug="board-e2e-flow")
    billing = IntegrationFactory(name="Billing sync", slug="billing-sync", workflows=[flow])
    crm = IntegrationFactory(name="CRM accounts", slug="crm-accounts", workflows=[flow])
    HealthConfig.objects.create(integration=billing, status=Status.UP)
    HealthConfig.objects.create(integration=crm, status=Status.DOWN, status_reason="All 1 probe(s) failing")
    tax = IntegrationFactory(name="Tax codes", slug="tax-codes")
    HealthConfig.objects.create(integration=tax, status=Status.UP)

    page = login("executive")
    page.goto(f"{live_server.url}/health/")
    group = page.locator('section.workflow-group[data-workflow="board-e2e-flow"]')
    assert group.locator("h2").inner_text().startswith("Board e2e flow")
    tile = page.locator('a.tile[data-integration="billing-sync"]')
    assert tile.get_attribute("data-status") == "up"
    assert "tile-down" in page.locator('a.tile[data-integration="crm-accounts"]').get_attribute("class")

    page.evaluate("window.__notReloaded = true")
    HealthConfig.objects.filter(integration=billing).update(status=Status.DOWN, status_reason="3 consecutive failed runs.")
    page.wait_for_selector('a.tile[data-integration="billing-sync"][data-status="down"]', timeout=10000)
    assert page.evaluate("window.__notReloaded === true")  # swapped by htmx, not a page load

    # filtering by status keeps only matching tiles
    assert page.locator('a.tile[data-integration="tax-codes"]').count() == 1
    page.select_option("#id_status", "down")
    page.wait_for_function("() => !document.querySelector('a.tile[data-integration=\"tax-codes\"]')", timeout=10000)
    assert page.locator("a.tile").count() == 2
    page.locator('a.tile[data-integration="crm-accounts"]').click()
    page.wait_for_url("**/health/integrations/crm-accounts/")
    assert page.locator("#current-status").inner_text() == "down"
