import os

import pytest

from tests.traces import story

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_finance_searches_an_invoice_in_the_header_and_follows_it_across_systems(cast, live_server, login, page,
                                                                                   tmp_path):
    journey = story.build(cast["architect"])
    login("finance")
    page.goto(f"{live_server.url}/")
    search = page.locator("header input[type=search]")
    search.fill(story.KEY)
    search.press("Enter")
    page.wait_for_url("**/traces/?key=INV-2026-1133")
    assert page.get_by_role("heading", level=1).inner_text() == f"Trace of {story.KEY}"
    lanes = page.locator("th.trace-lane").all_inner_texts()
    assert sorted(lanes) == ["Approved time → NetSuite", "NetSuite → Avalara tax"]
    amounts = page.locator(".trace-amount").all_inner_texts()
    assert "4,200.00 GBP" in amounts and "5,040.00 USD" in amounts and "840.00 USD" in amounts
    # each item sits in the column of its lane, oldest first
    posted = page.locator("tr.trace-event", has_text="Invoice posted").locator("td.trace-item")
    assert posted.get_attribute("data-lane") == "NetSuite → Avalara tax"
    kinds = page.locator("td.trace-item .trace-kind").all_inner_texts()
    assert kinds[0].lower() == "reconciliation mismatch" and kinds[-1].lower() == "business event"
    assert "SALARY_SPLIT" not in page.content()  # the payroll queue's exception is not finance's to see
    shot = os.environ.get("TRACE_SCREENSHOT") or str(tmp_path / "finance-trace.png")
    page.screenshot(path=shot, full_page=True)
    page.get_by_role("link", name=f"EXC-{journey['exception'].pk} TAX_CODE_MISMATCH").click()
    page.wait_for_url(f"**/exceptions/{journey['exception'].pk}/**")
