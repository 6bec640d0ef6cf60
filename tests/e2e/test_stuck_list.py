"""Finance opens a workflow's stuck list in the browser: late items with their amount and
reason, filtered by currency, linked to the trace, exported as CSV."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from catalog import services
from exceptions.models import BusinessException, Queue
from kpis.models import BusinessEvent
from tests.factories import IntegrationFactory, TeamFactory, WorkflowFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_finance_filters_the_stuck_list_and_follows_an_item(cast, live_server, login, page, tmp_path):
    now = timezone.now()
    team = TeamFactory(slug="billing-e2e", name="Billing")
    wf = WorkflowFactory(slug="billing-e2e-flow", name="Billing flow", owner_team=team)
    psa = IntegrationFactory(slug="psa-e2e", name="PSA to ERP", owner_team=team, workflows=[wf])
    services.create_stage(actor=None, workflow=wf, position=1, name="Invoice ready", event_type="invoice_ready",
                          integration=psa)
    services.create_stage(actor=None, workflow=wf, position=2, name="Invoice posted", event_type="invoice_posted",
                          integration=psa, max_latency_hours=48)
    for n, (amount, currency, hours) in enumerate([("1200.00", "EUR", 90), ("640.50", "GBP", 60), ("75.00", "GBP", 5)]):
        BusinessEvent.objects.create(event_id=f"r{n}", type="invoice_ready", correlation_key=f"INV-{n}", workflow=wf,
                                     integration=psa, occurred_at=now - dt.timedelta(hours=hours),
                                     amount=Decimal(amount), currency=currency)
    queue = Queue.objects.create(name="Billing", slug="billing-e2e-q", team=team)
    BusinessException.objects.create(integration=psa, queue=queue, error_code="TAX_CODE_INVALID", message="bad",
                                     fingerprint="e2e", invoice_number="INV-0", amount_at_risk=Decimal("1200"),
                                     currency="EUR")

    login("finance")
    page.goto(f"{live_server.url}/catalog/workflows/{wf.slug}/")
    page.get_by_role("button", name="Stuck items").click()
    page.wait_for_url(f"**/catalog/workflows/{wf.slug}/stuck/**")
    rows = page.locator("table.stuck-list tbody tr")
    assert rows.count() == 2  # INV-2 is 5 h old: waiting, not late
    first = rows.nth(0).inner_text()
    assert "INV-0" in first and "1,200.00 EUR" in first and "Open exception: TAX_CODE_INVALID" in first
    summary = page.locator(".stuck-summary").inner_text()
    assert "1,200.00 EUR (1)" in summary and "640.50 GBP (1)" in summary
    page.screenshot(path=str(tmp_path / "stuck-list.png"), full_page=True)

    page.select_option("#id_state", "waiting")
    page.fill("#id_currency", "GBP")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**currency=GBP**")
    keys = page.locator("table.stuck-list tbody tr td:first-child").all_inner_texts()
    assert sorted(keys) == ["INV-1", "INV-2"]
    assert "715.50 GBP (2)" in page.locator(".stuck-summary").inner_text()
    with page.expect_download() as download:
        page.get_by_role("button", name="Export CSV").click()
    text = open(download.value.path(), encoding="utf-8").read()
    assert text.splitlines()[0].startswith("Business key,") and "INV-1" in text and "INV-0" not in text
    assert page.get_by_role("link", name="INV-1").get_attribute("href") == "/traces/?key=INV-1"
    page.screenshot(path=str(tmp_path / "stuck-list-filtered.png"), full_page=True)
