"""Browser test: a steward reviews a version with a breaking change, accepts the finding
with a justification and approves it; the version is published as v2."""

import copy

import pytest

from stewardship import services
from stewardship.models import SchemaVersion
from tests.factories import EntityFactory, IntegrationFactory, TeamFactory
from tests.stewardship.factories import BASE_DOC, SubjectFactory


@pytest.mark.e2e
def test_steward_accepts_breaking_change_and_approves(cast, transactional_db, live_server, page, login):
    entity = EntityFactory(name="Invoice E2E")
    IntegrationFactory(name="PSA invoices to ERP", entities=[entity], owner_team=TeamFactory(name="Billing team"))
    subject = SubjectFactory(name="Invoice schema", entity=entity)
    v1 = services.submit(actor=cast["steward"], version=services.create_draft(
        actor=cast["steward"], subject=subject, document=copy.deepcopy(BASE_DOC)))
    services.approve(actor=cast["steward2"], version=v1)
    shorter = copy.deepcopy(BASE_DOC)
    shorter["properties"]["name"]["maxLength"] = 40
    version = services.submit(actor=cast["steward"], version=services.create_draft(
        actor=cast["steward"], subject=subject, document=shorter, change_summary="Names capped at 40"))
    assert version.breaking_findings

    login("steward2")
    page.goto(f"{live_server.url}/stewardship/")
    page.click("#waiting-for-review >> text=Invoice schema")
    page.wait_for_selector("#findings")
    assert "MAX_LENGTH_DECREASED" in page.inner_text("#findings")
    assert "PSA invoices to ERP" in page.inner_text("table.consumers")
    # the finding sits on its line of the diff
    assert page.locator('.diff-side .line.breaking[data-pointer="/properties/name/maxLength"]').count() == 1

    # approving before accepting is refused
    page.click("#approve-version")
    page.wait_for_selector(".message-error")
    assert "justified acceptance" in page.inner_text(".messages")
    assert SchemaVersion.objects.get(pk=version.pk).status == "in_review"

    page.fill(".accept-form textarea", "Billing team confirmed no name is longer than 40 characters.")
    page.click(".accept-form button")
    page.wait_for_selector(".acceptance")
    assert "steward2" in page.inner_text(".acceptance")

    page.fill("#decision-comment", "Accepted after talking to Billing.")
    page.click("#approve-version")
    page.wait_for_selector(".message-success")
    assert "published as version 2" in page.inner_text(".messages")
    version.refresh_from_db()
    assert (version.status, version.number) == ("approved", 2)
    assert "confirmed no name is longer" in page.inner_text(".acceptances")
