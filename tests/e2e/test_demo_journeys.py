"""Every persona's job, in Chromium, on the data ``load_demo`` loads (not test fixtures).

One module-wide load of the demo into the test database (the live server's), then one
journey per persona. Each fails on any console error, failed request or HTTP error
response, besides the Content-Security-Policy check of the shared ``page`` fixture, and
writes screenshots of the persona's pages to var/screenshots/ (docs/screenshots/ with UPDATE_SCREENSHOTS=1) (named in README.md).
The replay targets and probes point at the simulated systems the live server serves
under /demo/, exactly as ``make demo`` wires them on HOST:PORT.
"""

import json

import pytest
from django.core.management import call_command
from django.test.utils import override_settings

from controlplane.management.commands.load_demo import DEMO_PASSWORD
from tests.browser import screenshot_dir

pytestmark = pytest.mark.e2e



@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker):
    """The demo estate, loaded once for the module, served by a live server of its own and
    flushed after the module. (pytest-django's ``live_server`` would make every test
    transactional, flushing the estate after the first journey.)"""
    from pytest_django.live_server_helper import LiveServer

    with override_settings(DEMO_ENDPOINTS=True, OUTBOUND_URL_ALLOWLIST=["127.0.0.0/8"],
                           EXCEPTIONS_REPLAY_BACKOFF_SECONDS=0), pytest.MonkeyPatch.context() as env:
        with django_db_blocker.unblock():  # the server thread and the tests read the estate throughout
            server = LiveServer("localhost")
            env.setenv("DEMO_BASE_URL", server.url)
            try:
                call_command("load_demo", verbosity=0)
                yield server.url
            finally:
                server.stop()
                call_command("flush", interactive=False, verbosity=0)


@pytest.fixture
def journey(demo, page):
    """``journey(username)``: a signed-in page that records console errors, failed
    requests and 4xx/5xx responses; any of them fails the test."""
    problems = []
    def console(message):
        # The browser's own favicon probe is not the page's request (and has no response event).
        if message.type == "error" and not message.location.get("url", "").endswith("/favicon.ico"):
            problems.append(f"console {message.type}: {message.text} ({message.location.get('url')})")

    page.on("console", console)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: None if r.failure == "net::ERR_ABORTED" else problems.append(f"request failed: {r.method} {r.url} {r.failure}"))
    page.on("response", lambda r: problems.append(f"HTTP {r.status}: {r.request.method} {r.url}")
            if r.status >= 400 else None)

    def sign_in(username):
        page.goto(f"{demo}/login/")
        page.fill("#id_username", username)
        page.fill("#id_password", DEMO_PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(lambda url: "/login/" not in url)
        return page

    yield sign_in
    assert not problems, "\n".join(problems)


def shot(page, name):
    page.screenshot(path=str(screenshot_dir() / f"{name}.png"))


def test_finance_corrects_a_uk_invoice_replays_it_and_retries_a_refused_replay(journey, demo):
    from controlplane import scenario
    from exceptions.models import BusinessException

    page = journey("finance")
    shot(page, "finance-home")
    exc = (BusinessException.objects.open().filter(error_code="TAX_CODE_INVALID", assignee__username="finance")
           .order_by("first_seen").first())
    failure = next(f for f in scenario.build().failures if f"demo-{f.key}" == exc.correlation_id)

    page.goto(f"{demo}{exc.queue.get_absolute_url()}")  # the Billing queue
    page.wait_for_selector(f"text=EXC-{exc.pk}")
    shot(page, "finance-exceptions")
    page.fill(".exc-filters input[name=q]", exc.invoice_number)  # the list's own search, not the header's
    page.press(".exc-filters input[name=q]", "Enter")
    page.wait_for_url(lambda url: f"q={exc.invoice_number}" in url)
    page.click(f"a:has-text('EXC-{exc.pk}')")
    page.wait_for_url(f"**/exceptions/{exc.pk}/**")
    assert "GB-VAT20" in page.locator(".lead").inner_text()
    page.click("summary:has-text('Edit and replay')")
    page.locator("#id_payload").fill(json.dumps(failure.correction, indent=2))
    page.click("#replay-submit")
    page.wait_for_url(f"**/exceptions/{exc.pk}/**")
    assert page.locator("#exc-status").inner_text() == "Resolved"
    assert "Data corrected and replayed" in page.locator("#exception-state").inner_text()
    assert "Accepted" in page.locator("#replay-state").inner_text()
    shot(page, "finance-replayed")

    # The one Fran replayed yesterday during NetSuite maintenance: refused, so it says so.
    refused = BusinessException.objects.open().filter(replay_attempts__succeeded=False).distinct().first()
    page.goto(f"{demo}/exceptions/{refused.pk}/")
    state = page.locator("#replay-state").inner_text()
    assert "Replay failed" in state and "HTTP 503" in state and "scheduled maintenance" in state
    shot(page, "finance-replay-failed")
    page.click("#replay-retry")
    page.wait_for_url(f"**/exceptions/{refused.pk}/**")
    assert page.locator("#exc-status").inner_text() == "Resolved"


def test_executive_drills_down_from_a_red_card_to_the_rows_behind_it(journey, demo):
    page = journey("executive")
    shot(page, "executive-home")
    page.goto(f"{demo}/kpis/")
    cards = page.locator(".kpi-card")
    assert cards.count() >= 10
    on_target = page.locator(".kpi-card.status-ok").count()
    red = page.locator(".kpi-card.status-bad")
    assert 1 <= red.count() < on_target  # mostly near target, a few red
    shot(page, "executive-kpis")
    card = red.first
    name = card.locator("header a").inner_text()
    card.locator("header a").click()
    page.wait_for_url("**/kpis/*/**")
    assert name in page.locator("h1").inner_text()
    page.click("a:has-text('→')")  # the rows behind the number
    page.wait_for_load_state()
    rows = page.locator("table tbody tr")
    assert rows.count() >= 1
    shot(page, "executive-drilldown")


def test_architect_sees_a_mostly_green_board_and_the_sap_outage(journey, demo):
    page = journey("architect")
    shot(page, "architect-home")
    page.goto(f"{demo}/health/")
    tiles = page.locator("[data-status]")
    assert tiles.count() >= 30
    up = page.locator("[data-status=up]").count()
    others = {(t.get_attribute("data-integration"), t.get_attribute("data-status"))
              for t in page.locator("[data-status]:not([data-status=up])").all()}
    # Green but for the SAP gateway outage, the AR ageing file that stopped arriving and
    # the two integrations that are only planned.
    assert up >= tiles.count() * 0.85
    assert {s for s in others if s[1] != "unknown"} == {("psa-time-to-sap", "down"),
                                                       ("sap-customers-from-sfdc", "down"),
                                                       ("netsuite-ar-to-snowflake", "late")}, others
    assert {slug for slug, status in others if status == "unknown"} <= {"docusign-terms-to-zuora",
                                                                         "sap-to-netsuite-migration"}
    shot(page, "architect-health")
    page.goto(f"{demo}/health/integrations/psa-time-to-sap/")
    assert "sapgw00" in page.content() or "HTTP 503" in page.content()
    page.goto(f"{demo}/catalog/")
    shot(page, "architect-catalog")


def test_steward_reviews_the_breaking_invoice_change_with_its_consumers(journey, demo):
    from stewardship.models import SchemaVersion

    version = SchemaVersion.objects.get(subject__slug="invoice", status="in_review")
    page = journey("steward")
    shot(page, "steward-home")
    page.goto(f"{demo}/stewardship/versions/{version.pk}/")
    text = page.locator("main").inner_text()
    assert "taxCode" in text and "memo" in text
    shot(page, "steward-review")


@pytest.mark.django_db  # also what makes pytest-django set up the test database for this module
def test_loading_the_demo_again_changes_nothing(demo):
    from exceptions.models import BusinessException
    from health.models import Probe, Rollup
    from kpis.models import BusinessEvent, Reconciliation
    from stewardship.models import SchemaVersion

    def counts():
        return {"open": BusinessException.objects.open().count(), "all": BusinessException.objects.count(),
                "resolved": BusinessException.objects.filter(status="resolved").count(),
                "probes": Probe.objects.count(), "rollups": Rollup.objects.count(),
                "events": BusinessEvent.objects.count(), "recons": Reconciliation.objects.count(),
                "versions": SchemaVersion.objects.count()}

    before = counts()
    call_command("load_demo", verbosity=0)
    assert counts() == before
