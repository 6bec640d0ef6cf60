"""The architect's journey in a real browser: register a system and an integration with
an SLA through the forms, find it by search in the list, and see it on its page."""

import pytest

from catalog.models import Integration, Sla
from tests.catalog.factories import SystemFactory, TeamFactory


@pytest.mark.e2e
def test_architect_registers_a_system_and_an_integration_with_an_sla(cast, transactional_db, live_server, page,
                                                                     login):
    TeamFactory(name="Finance Systems", slug="finance-systems")
    SystemFactory(name="NetSuite ERP", slug="netsuite", category="erp")
    login("architect")

    page.goto(f"{live_server.url}/catalog/")
    page.get_by_role("button", name="Register a system").click()
    page.wait_for_url("**/systems/new/")
    page.locator("#id_name").fill("Zuora Billing")
    page.locator("#id_slug").fill("zuora")
    page.locator("#id_category").select_option(label="Billing")
    page.locator("#id_owner_team").select_option(label="Finance Systems")
    page.get_by_role("button", name="Register", exact=True).click()
    page.wait_for_url("**/catalog/systems/zuora/")
    assert page.get_by_role("heading", level=1).inner_text().startswith("Zuora Billing")

    page.goto(f"{live_server.url}/catalog/integrations/new/")
    page.locator("#id_name").fill("Retainer invoices to ERP")
    page.locator("#id_slug").fill("zuora-to-netsuite")
    page.locator("#id_source_system").select_option(label="Zuora Billing")
    page.locator("#id_target_system").select_option(label="NetSuite ERP")
    page.locator("#id_owner_team").select_option(label="Finance Systems")
    page.locator("#id_schedule").fill("*/15 * * * *")
    page.locator("#id_sla-availability_target").fill("99.9")
    page.locator("#id_sla-max_sync_lag_minutes").fill("30")
    page.get_by_role("button", name="Register", exact=True).click()
    page.wait_for_url("**/catalog/integrations/zuora-to-netsuite/")
    sla = page.locator("dl.sla").inner_text()
    assert "99.9%" in sla and "30 min" in sla
    assert page.get_by_role("link", name="Zuora Billing").first.is_visible()

    page.goto(f"{live_server.url}/catalog/integrations/")
    page.locator("#id_q").fill("retainer")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**q=retainer**")
    rows = page.locator("table tbody tr")
    assert rows.count() == 1
    rows.first.get_by_role("link", name="Retainer invoices to ERP").click()
    page.wait_for_url("**/catalog/integrations/zuora-to-netsuite/")
    history = page.locator("section.history").inner_text()
    assert "Created" in history and "owner team: — → Finance Systems" in history  # names, not ids

    integration = Integration.objects.get(slug="zuora-to-netsuite")
    assert integration.source_system.slug == "zuora"
    assert Sla.objects.get(integration=integration).max_sync_lag_minutes == 30
