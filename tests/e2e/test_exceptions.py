"""Finance signs in, finds an exception by invoice number, corrects the payload, replays
it to a local test endpoint, and sees it resolved."""

import json

import pytest

from tests.exceptions.factories import BusinessExceptionFactory, QueueFactory, ReplayTargetFactory
from tests.exceptions.test_replay import ReplayServer

pytestmark = pytest.mark.e2e


def test_finance_filters_edits_replays_and_sees_resolved(cast, transactional_db, live_server, login, page, settings):
    settings.OUTBOUND_URL_ALLOWLIST = ["127.0.0.0/8"]
    settings.EXCEPTIONS_REPLAY_BACKOFF_SECONDS = 0
    server = ReplayServer()
    try:
        queue = QueueFactory(name="Billing")
        target = BusinessExceptionFactory(queue=queue, invoice_number="INV-2026-4242",
                                          business_keys={"invoice_number": "INV-2026-4242", "legal_entity": "UK01"},
                                          payload={"invoice": "INV-2026-4242", "tax_code": "V7"})
        other = BusinessExceptionFactory(queue=queue)
        ReplayTargetFactory(integration=target.integration, url=server.url, secret="s3cret")

        login("finance")
        page.goto(f"{live_server.url}/exceptions/list/")
        page.fill(".exc-filters input[name=q]", "INV-2026-4242")  # the list's own search, not the header's
        page.press(".exc-filters input[name=q]", "Enter")
        page.wait_for_url(lambda url: "q=INV-2026-4242" in url)
        assert page.locator(f"text=EXC-{other.pk}").count() == 0
        page.click(f"a:has-text('EXC-{target.pk}')")
        page.wait_for_url(f"**/exceptions/{target.pk}/**")
        assert page.locator(".business-keys").inner_text().count("INV-2026-4242") == 1

        page.click("summary:has-text('Edit and replay')")
        editor = page.locator("#id_payload")
        editor.fill('{"invoice": "INV-2026-4242", "tax_code": ')
        assert "Invalid JSON" in page.locator(".json-status").inner_text()
        editor.fill(json.dumps({"invoice": "INV-2026-4242", "tax_code": "S1"}))
        page.click("button:has-text('Format JSON')")
        assert "Valid JSON" in page.locator(".json-status").inner_text()
        page.click("#replay-submit")
        page.wait_for_url(f"**/exceptions/{target.pk}/**")
        assert page.locator("#exc-status").inner_text() == "Resolved"
        assert "Data corrected and replayed" in page.locator("#exception-state").inner_text()
        assert "Replay attempt 1: succeeded" in page.locator("#timeline").inner_text()
        assert json.loads(server.requests[0]["body"]) == {"invoice": "INV-2026-4242", "tax_code": "S1"}
    finally:
        server.close()
