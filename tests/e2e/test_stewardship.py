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


@pytest.mark.e2e
def test_preview_submit_approve_with_a_counterexample_on_the_page(cast, transactional_db, live_server, page, login,
                                                                   tmp_path):
    """The author sees the compatibility preview (with its counterexample) while drafting,
    saves and submits; the reviewer sees the counterexample on the review page, accepts the
    finding and approves: "Invoice schema v2 (in review)" becomes "Invoice schema v2"."""
    import json

    entity = EntityFactory(name="Invoice E2E preview")
    IntegrationFactory(name="PSA invoices to ERP", entities=[entity], owner_team=TeamFactory(name="Billing team"))
    subject = SubjectFactory(name="Invoice schema", slug="invoice-schema", entity=entity)
    v1 = services.submit(actor=cast["steward"], version=services.create_draft(
        actor=cast["steward"], subject=subject, document=copy.deepcopy(BASE_DOC)))
    services.approve(actor=cast["steward2"], version=v1)
    shorter = copy.deepcopy(BASE_DOC)
    shorter["properties"]["name"]["maxLength"] = 40

    login("steward")
    page.goto(f"{live_server.url}/stewardship/subjects/{subject.slug}/versions/new/")
    page.wait_for_selector("#preview-verdict")  # checked once on load: the approved document, nothing breaks
    assert "nothing breaks" in page.inner_text("#preview-verdict")
    page.fill("#id_document", json.dumps(shorter, indent=2))  # the preview follows the edit (debounced)
    page.wait_for_selector("#preview-findings >> text=MAX_LENGTH_DECREASED")
    assert "against Invoice schema v1 (BACKWARD / STRICT)" in page.inner_text("#preview-verdict")
    preview = page.locator("#preview-findings details.counterexample pre")
    shown = json.loads(preview.inner_text())
    assert len(shown["name"]) > 40  # a name v1 accepts and the draft refuses
    assert "longer than 40 characters will be refused" in page.inner_text("#preview-findings")
    assert SchemaVersion.objects.filter(subject=subject).count() == 1  # a preview stores nothing
    page.screenshot(path=str(tmp_path / "preview.png"), full_page=True)

    page.fill("#id_change_summary", "Names capped at 40")
    page.click("#draft-form button[type=submit]")
    page.wait_for_selector("#submit-version")
    assert page.inner_text("#version-name").startswith("Invoice schema v2 (draft)")
    page.click("#submit-version")
    page.wait_for_selector(".message-success")
    assert page.inner_text("#version-name").startswith("Invoice schema v2 (in review)")
    assert page.locator("#withdraw-version").is_visible()

    page.context.clear_cookies()  # sign out
    login("steward2")
    version = SchemaVersion.objects.get(subject=subject, status="in_review")
    page.goto(f"{live_server.url}/stewardship/versions/{version.pk}/")
    example = page.locator("#findings details.counterexample")
    assert example.is_visible()
    assert "v1 accepts this document, this version refuses it" in example.inner_text()
    assert len(json.loads(page.inner_text("#findings details.counterexample pre"))["name"]) > 40
    assert page.locator("table.consumers a >> text=Billing team").count() == 1
    page.screenshot(path=str(tmp_path / "review.png"), full_page=True)

    page.fill(".accept-form textarea", "Billing team confirmed no name is longer than 40 characters.")
    page.click(".accept-form button")
    page.wait_for_selector(".acceptance")
    page.fill("#decision-comment", "Accepted after talking to Billing.")
    page.click("#approve-version")
    page.wait_for_selector(".message-success")
    assert "published as version 2" in page.inner_text(".messages")
    assert page.inner_text("#version-name").startswith("Invoice schema v2")
    assert "(in review)" not in page.inner_text("#version-name")
    page.screenshot(path=str(tmp_path / "approved.png"), full_page=True)
