"""Each persona signs in and finds their work on the home page; finance narrows the list
with a name picker and finds an invoice with the header search. Any console error or
failed request fails the test. Screenshots of every home page go to var/screenshots/ (docs/screenshots/ with UPDATE_SCREENSHOTS=1)."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from catalog.models import TeamMember
from health.models import HealthConfig, SlaBreach
from kpis import services as kpi_services
from kpis.models import BusinessEvent
from tests.browser import screenshot_dir
from tests.exceptions.factories import BusinessExceptionFactory, QueueFactory
from tests.factories import IntegrationFactory, SystemFactory, TeamFactory
from tests.stewardship.factories import SubjectFactory, VersionFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]



@pytest.fixture
def strict(page):
    """The page, failing on any console error or any failed (4xx/5xx or broken) request."""
    problems = []
    page.on("console", lambda msg: problems.append(f"console {msg.type}: {msg.text}") if msg.type == "error" else None)
    page.on("pageerror", lambda err: problems.append(f"page error: {err}"))
    page.on("requestfailed", lambda req: None if req.failure == "net::ERR_ABORTED" else problems.append(f"request failed: {req.url} {req.failure}"))
    page.on("response", lambda r: problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None)
    yield page
    assert not problems, "\n".join(problems)


@pytest.fixture
def estate(cast):
    """A small consultancy estate with a story for every persona."""
    finance_team = TeamFactory(name="Finance Systems", slug="finance-systems")
    platform = TeamFactory(name="Integration Platform", slug="integration-platform")
    for username, team in [("finance", finance_team), ("architect", platform)]:
        TeamMember.objects.create(team=team, user=cast[username], name=username)
    for username, first, last in [("finance", "Fran", "Finance"), ("architect", "Ada", "Architect"),
                                  ("steward", "Sam", "Steward"), ("steward2", "Sasha", "Second"),
                                  ("executive", "Eve", "Executive")]:
        user = cast[username]
        user.first_name, user.last_name = first, last
        user.save()
    psa = SystemFactory(name="Certinia PSA")
    erp = SystemFactory(name="NetSuite ERP")
    tax = SystemFactory(name="Avalara AvaTax")
    time_sync = IntegrationFactory(name="Approved time → NetSuite invoice lines", slug="approved-time-netsuite",
                                   source_system=psa, target_system=erp, owner_team=platform, lifecycle="live")
    tax_calc = IntegrationFactory(name="Invoice posted → Avalara tax", slug="invoice-tax", source_system=erp,
                                  target_system=tax, owner_team=platform, lifecycle="live")
    HealthConfig.objects.create(integration=time_sync, status="down", status_reason="NetSuite answers 503")
    HealthConfig.objects.create(integration=tax_calc, status="up")
    SlaBreach.objects.create(integration=tax_calc, metric="availability", opened_at=timezone.now(), fingerprint="t")
    uk = QueueFactory(name="UK invoicing", team=finance_team)
    us = QueueFactory(name="US invoicing", team=finance_team)
    past = timezone.now() - dt.timedelta(hours=3)
    tax_error = BusinessExceptionFactory(
        queue=uk, integration=tax_calc, assignee=cast["finance"], error_code="TAX_CODE_UNKNOWN",
        message="Tax code GB-STD-20 is not known to Avalara", invoice_number="INV-UK-2026-0042",
        business_keys={"invoice_number": "INV-UK-2026-0042", "legal_entity": "UK01"},
        amount_at_risk=Decimal("18450.00"), currency="GBP", due_at=past)
    BusinessExceptionFactory(queue=uk, integration=time_sync, assignee=cast["finance"], error_code="RATE_MISSING",
                             amount_at_risk=Decimal("7200.00"), currency="GBP")
    BusinessExceptionFactory(queue=us, integration=time_sync, error_code="RATE_MISSING",
                             amount_at_risk=Decimal("12900.00"), currency="USD")
    VersionFactory(subject=SubjectFactory(name="Invoice (canonical)"), status="in_review", author=cast["steward2"],
                   submitted_at=timezone.now())
    now = timezone.now()
    week_ago, two_weeks_ago = now - dt.timedelta(days=7), now - dt.timedelta(days=14)
    # The home page shows the last complete week. The week before it, invoices took longer
    # (40-80 h); in it, 20-52 h: the trend points down, which is good.
    for when, prefix, spans in [(two_weeks_ago, "w", [40, 60, 80]), (week_ago, "t", [20, 30, 52])]:
        for n, hours in enumerate(spans):
            BusinessEvent.objects.create(event_id=f"{prefix}s{n}", type="time_approved", correlation_key=f"{prefix}-{n}",
                                         occurred_at=when - dt.timedelta(hours=hours + 1))
            BusinessEvent.objects.create(event_id=f"{prefix}e{n}", type="invoice_posted", correlation_key=f"{prefix}-{n}",
                                         occurred_at=when - dt.timedelta(hours=1))
    kpi_services.refresh_days([two_weeks_ago.date(), week_ago.date()])
    return {"tax_error": tax_error, "time_sync": time_sync, "uk": uk}


def _shoot(page, persona):
    page.screenshot(path=str(screenshot_dir() / f"home-{persona}.png"), full_page=True)


def test_each_persona_home_page_shows_their_work(estate, live_server, login, strict):
    page = strict
    login("finance")
    finance = page.locator("#home-finance")
    assert finance.locator("#home-assigned strong").inner_text() == "2"
    assert finance.locator("#home-assigned-overdue strong").inner_text() == "1"
    queues = finance.locator("#home-queues")
    assert "UK invoicing" in queues.inner_text() and "GBP 25,650.00" in queues.inner_text()
    assert "USD 12,900.00" in queues.inner_text()  # side by side, never added to the GBP
    _shoot(page, "finance")
    # The overdue figure opens exactly the overdue item.
    finance.locator("#home-assigned-overdue").click()
    page.wait_for_url("**/exceptions/mine/?overdue=true")
    assert page.locator("#exception-total").inner_text() == "1 exception"
    page.context.clear_cookies()

    login("steward")
    steward = page.locator("#home-steward")
    assert "Invoice (canonical)" in steward.inner_text() and "Sasha Second" in steward.inner_text()
    _shoot(page, "steward")
    page.context.clear_cookies()

    login("architect")
    architect = page.locator("#home-architect")
    text = architect.inner_text()
    assert "Approved time → NetSuite invoice lines" in text and "Invoice posted → Avalara tax" in text
    assert "1 down, 1 breaching an SLA" in text
    assert "Integration without SLA" in architect.locator("#home-findings").inner_text()
    _shoot(page, "architect")
    architect.get_by_role("link", name="Approved time → NetSuite invoice lines").click()
    page.wait_for_url("**/health/integrations/approved-time-netsuite/")
    page.context.clear_cookies()

    login("executive")
    executive = page.locator("#home-executive")
    card = executive.locator("[data-kpi=approved-time-to-invoice]")
    assert card.locator(".value").inner_text() == "30"  # median of 20, 30 and 52 hours
    assert card.locator(".trend.good").inner_text() == "▼"  # down from last week's 60 h
    _shoot(page, "executive")
    card.get_by_role("link", name="Approved time to invoice").click()
    page.wait_for_url("**/kpis/approved-time-to-invoice/**")


def test_finance_uses_a_name_picker_and_the_global_search(estate, live_server, login, strict):
    page = strict
    login("finance")
    page.goto(f"{live_server.url}/exceptions/list/")
    assert page.locator("#exception-total").inner_text() == "3 exceptions"
    # The integration filter is a type-ahead of names; the form submits the slug.
    picker = page.locator("select[name=integration] + .ts-wrapper")
    picker.click()
    page.keyboard.type("approved time")
    option = page.locator(".ts-dropdown .option", has_text="Approved time → NetSuite invoice lines")
    option.wait_for()
    assert "Certinia PSA → NetSuite ERP" in option.inner_text()
    option.click()
    page.click("#apply-filters")
    page.wait_for_url("**integration=approved-time-netsuite**")
    assert page.locator("#exception-total").inner_text() == "2 exceptions"
    assert "Approved time → NetSuite invoice lines" in page.locator("select[name=integration] + .ts-wrapper").inner_text()

    # Header search: an invoice number opens its trace (#17), whose timeline links the exception;
    # the trace links to all search results, which say the key matched exactly.
    search = page.get_by_role("searchbox", name="Search systems, APIs, integrations, teams and exceptions")
    search.fill("INV-UK-2026-0042")
    search.press("Enter")
    page.wait_for_url("**/traces/?key=INV-UK-2026-0042")
    tax_error = estate["tax_error"]
    page.get_by_role("link", name="All search results for “INV-UK-2026-0042”").click()
    page.wait_for_url("**/search/?q=INV-UK-2026-0042&trace=0")
    assert "exactly" in page.locator("#exact-key-note").inner_text()
    page.get_by_role("link", name=f"EXC-{tax_error.pk}").click()
    page.wait_for_url(f"**/exceptions/{tax_error.pk}/")
    assert "Invoice number\nINV-UK-2026-0042" in page.locator("dl.keys").inner_text()

    # EXC-n opens the item directly; the detail links back to the filtered list.
    page.goto(f"{live_server.url}/exceptions/list/?queue={estate['uk'].pk}&status=open")
    page.get_by_role("link", name=f"EXC-{tax_error.pk}").click()
    page.wait_for_url(f"**/exceptions/{tax_error.pk}/**")
    page.click("#back-to-list")
    page.wait_for_url(f"**/exceptions/list/?queue={estate['uk'].pk}&status=open")
    search = page.get_by_role("searchbox", name="Search systems, APIs, integrations, teams and exceptions")
    search.fill(f"exc-{tax_error.pk}")
    search.press("Enter")
    page.wait_for_url(f"**/exceptions/{tax_error.pk}/")
    assert page.locator("dl.props a[href='/health/integrations/invoice-tax/']").count() == 1
