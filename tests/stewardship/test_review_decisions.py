"""Deciding faster (#20): counterexamples and plain words on the stored report and in the API,
the draft preview, withdrawing a submission, "Invoice v4 (in review)" names, and the
schema events on the consumer teams' channels (signed webhooks, on approval every channel)."""

import copy
import hashlib
import hmac
import json

import jsonschema
import pytest
from django.core import mail

from controlplane.models import AuditEntry
from health.models import Notification, NotificationChannel
from health.services import save_channel
from stewardship import services
from stewardship.models import SchemaVersion
from tests.factories import EntityFactory, IntegrationFactory, TeamFactory
from tests.health.conftest import allow_loopback, loopback  # noqa: F401  (the health tests' receiver)

from .factories import BASE_DOC, SubjectFactory


@pytest.fixture
def receiver(loopback, allow_loopback):  # noqa: F811  (pytest fixtures imported above)
    loopback.received.clear()
    loopback.fail_next = 0
    return loopback


@pytest.fixture
def setup(cast):
    team = TeamFactory(name="Billing team")
    entity = EntityFactory(name="Invoice")
    integration = IntegrationFactory(name="PSA invoices to ERP", entities=[entity], owner_team=team)
    subject = SubjectFactory(name="Invoice", entity=entity)
    v1 = services.submit(actor=cast["steward"], version=services.create_draft(
        actor=cast["steward"], subject=subject, document=copy.deepcopy(BASE_DOC)))
    v1 = services.approve(actor=cast["steward2"], version=v1)
    return {"team": team, "entity": entity, "integration": integration, "subject": subject, "v1": v1}


def shorter():
    doc = copy.deepcopy(BASE_DOC)
    doc["properties"]["name"]["maxLength"] = 40
    return doc


def submit(cast, subject, document):
    draft = services.create_draft(actor=cast["steward"], subject=subject, document=document)
    return services.submit(actor=cast["steward"], version=draft)


def test_api_detail_has_display_name_plain_words_and_a_verified_counterexample(cast, setup, api_as):
    version = submit(cast, setup["subject"], shorter())
    body = api_as("steward2").get(f"/api/v1/stewardship/versions/{version.pk}/").json()
    assert body["display_name"] == "Invoice v2 (in review)"
    (finding,) = body["findings"]
    assert finding["type"] == "MAX_LENGTH_DECREASED"
    assert "`name`" in finding["message"] and "longer than 40 characters will be refused" in finding["message"]
    example = finding["counterexample"]
    assert example["found"]
    assert jsonschema.Draft7Validator(BASE_DOC).is_valid(example["document"])
    assert not jsonschema.Draft7Validator(shorter()).is_valid(example["document"])
    # stored at submission: the same document is read back, not generated anew
    stored = SchemaVersion.objects.get(pk=version.pk).compat_report["findings"][0]["counterexample"]
    assert stored == example


def test_a_report_stored_before_counterexamples_gets_them_on_read(cast, setup, api_as):
    version = submit(cast, setup["subject"], shorter())
    report = copy.deepcopy(version.compat_report)
    report["findings"][0].pop("counterexample")
    SchemaVersion.objects.filter(pk=version.pk).update(compat_report=report)
    (finding,) = api_as("architect").get(f"/api/v1/stewardship/versions/{version.pk}/").json()["findings"]
    assert finding["counterexample"]["found"]
    assert "counterexample" not in SchemaVersion.objects.get(pk=version.pk).compat_report["findings"][0]


def test_display_names_never_collide_with_approved_numbers(cast, setup):
    subject = setup["subject"]
    assert str(setup["v1"]) == setup["v1"].display_name == "Invoice v1"
    draft = services.create_draft(actor=cast["steward"], subject=subject, document=shorter())
    assert draft.display_name == "Invoice v2 (draft)"
    other = submit(cast, subject, copy.deepcopy(BASE_DOC) | {"description": "x"})
    services.approve(actor=cast["steward2"], version=other)
    draft = SchemaVersion.objects.get(pk=draft.pk)
    assert draft.display_name == "Invoice v3 (draft)"  # v2 went to the other version
    services.submit(actor=cast["steward"], version=draft)
    rejected = services.reject(actor=cast["steward2"], version=SchemaVersion.objects.get(pk=draft.pk), comment="No.")
    # a rejected version never gets a number: it is named by its submission date
    assert rejected.display_name == f"Invoice proposal of {rejected.submitted_at:%Y-%m-%d} (rejected)"


def test_author_withdraws_back_to_draft_reviews_void_and_audited(cast, setup, api_as):
    setup["integration"].criticality = 1  # tier 1: two approvals, so one can sit on the round
    setup["integration"].save()
    version = submit(cast, setup["subject"], copy.deepcopy(BASE_DOC) | {"description": "x"})
    assert version.required_approvals == 2
    services.approve(actor=cast["steward2"], version=version)
    url = f"/api/v1/stewardship/versions/{version.pk}/withdraw/"

    assert api_as("steward2").post(url, {}, format="json").status_code == 403  # not the author
    resp = api_as("steward").post(url, {"comment": "Found a typo"}, format="json")
    assert resp.status_code == 200, resp.content
    assert resp.json()["status"] == "draft" and resp.json()["display_name"] == "Invoice v2 (draft)"
    assert all(r["voided_at"] for r in resp.json()["reviews"])
    log = AuditEntry.objects.filter(action="schemaversion.withdraw").get()
    assert log.after["voided_reviews"] == 1 and log.note == "Found a typo"
    assert api_as("steward").post(url, {}, format="json").status_code == 409  # already a draft

    # the void approval does not count in the next round
    again = services.submit(actor=cast["steward"], version=SchemaVersion.objects.get(pk=version.pk))
    again = services.approve(actor=cast["steward2"], version=again)
    assert again.status == "in_review"


def test_preview_reports_before_anything_is_submitted_and_stores_nothing(cast, setup, api_as):
    url = f"/api/v1/stewardship/subjects/{setup['subject'].slug}/preview/"
    versions, audits = SchemaVersion.objects.count(), AuditEntry.objects.count()
    resp = api_as("steward").post(url, {"document": shorter()}, format="json")
    assert resp.status_code == 200, resp.content
    body = resp.json()
    assert (body["valid"], body["level"], body["policy"], body["compared_with"]) == (True, "BACKWARD", "STRICT", "Invoice v1")
    (finding,) = body["report"]["findings"]
    assert finding["type"] == "MAX_LENGTH_DECREASED" and finding["counterexample"]["found"]
    assert (SchemaVersion.objects.count(), AuditEntry.objects.count()) == (versions, audits)

    invalid = api_as("steward").post(url, {"document": {"type": "no-such-type"}}, format="json").json()
    assert invalid["valid"] is False and invalid["errors"] and invalid["report"] is None
    assert api_as("steward").post(url, {"document": [1]}, format="json").status_code == 400
    assert api_as("finance").post(url, {"document": shorter()}, format="json").status_code == 403


def test_events_are_signed_webhooks_and_approval_reaches_every_channel(
        cast, setup, receiver, django_capture_on_commit_callbacks):
    team = setup["team"]
    save_channel(actor=cast["architect"], team=team, name="hook", kind="webhook", target=receiver.url + "/hook",
                 secret="s3cret")
    NotificationChannel.objects.create(team=team, name="mail", kind="email", target="billing@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        version = submit(cast, setup["subject"], shorter())
    (hit,) = receiver.received
    body = json.loads(hit["body"])
    assert body["type"] == "schema_version.submitted" and body["state"] == "in_review"
    timestamp = hit["headers"]["X-ControlPlane-Timestamp"]
    expected = "sha256=" + hmac.new(b"s3cret", timestamp.encode() + b"." + hit["body"], hashlib.sha256).hexdigest()
    assert hit["headers"]["X-ControlPlane-Signature"] == expected
    assert not Notification.objects.filter(channel__kind="email").exists()  # submitted: webhooks only

    services.accept_finding(actor=cast["steward2"], version=version, finding_type="MAX_LENGTH_DECREASED",
                            path="#/properties/name/maxLength", justification="Billing confirmed all names fit.")
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        services.approve(actor=cast["steward2"], version=SchemaVersion.objects.get(pk=version.pk), comment="ok")
    body = json.loads(receiver.received[-1]["body"])
    assert {k: body[k] for k in ("type", "version_id", "subject", "number", "state")} == {
        "type": "schema_version.approved", "version_id": version.pk, "subject": setup["subject"].slug,
        "number": 2, "state": "approved"}
    assert body["findings"][0]["type"] == "MAX_LENGTH_DECREASED"
    assert body["url"].endswith(f"/stewardship/versions/{version.pk}/")
    (message,) = [m for m in mail.outbox if m.to == ["billing@example.com"]]
    assert "Invoice v2" in message.subject
    assert "longer than 40 characters will be refused" in message.body and f"/stewardship/versions/{version.pk}/" in message.body


def test_a_team_whose_address_is_also_its_email_channel_gets_one_approval_email(
        cast, setup, django_capture_on_commit_callbacks):
    team, other = setup["team"], TeamFactory(name="Ledger team", email="ledger@example.com")
    team.email = "billing@example.com"
    team.save(update_fields=["email"])
    IntegrationFactory(name="ERP ledger feed", entities=[setup["entity"]], owner_team=other)
    NotificationChannel.objects.create(team=team, name="mail", kind="email", target="Billing@example.com")
    version = submit(cast, setup["subject"], {**copy.deepcopy(BASE_DOC), "description": "v2"})
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        services.approve(actor=cast["steward2"], version=SchemaVersion.objects.get(pk=version.pk))
    recipients = sorted(address.lower() for message in mail.outbox for address in message.to)
    # The channel carries Billing's approval; Ledger, with no email channel, gets the team-address one.
    assert recipients == ["billing@example.com", "ledger@example.com"]
