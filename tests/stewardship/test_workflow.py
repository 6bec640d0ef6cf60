"""The schema approval workflow: four eyes, two approvals, justified acceptance, emails."""

import copy

import pytest
from django.core import mail

from catalog.choices import Criticality
from controlplane.errors import Conflict, InvalidTransition, NotAllowed, ValidationFailed
from controlplane.models import AuditEntry
from stewardship import services
from stewardship.models import SchemaVersion
from stewardship.selectors import waiting_for_review
from tests.factories import ApiFactory, EntityFactory, IntegrationFactory, TeamFactory

from .conftest import BREAKING, HARMLESS
from .factories import SubjectFactory

pytestmark = pytest.mark.django_db


def _reload(version):
    return SchemaVersion.objects.get(pk=version.pk)


def publish(subject, author, reviewers, document):
    version = services.create_draft(actor=author, subject=subject, document=document)
    version = services.submit(actor=author, version=version)
    for reviewer in reviewers:
        version = services.approve(actor=reviewer, version=_reload(version))
    return _reload(version)


def test_author_cannot_approve_own_version(cast, fake_engine, doc):
    subject = SubjectFactory()
    version = services.submit(actor=cast["steward"], version=services.create_draft(actor=cast["steward"], subject=subject, document=doc))
    with pytest.raises(NotAllowed):
        services.approve(actor=cast["steward"], version=version)
    assert _reload(version).status == "in_review"


def test_one_approval_publishes_with_numbers_in_order(cast, fake_engine, doc):
    subject = SubjectFactory()
    v1 = publish(subject, cast["steward"], [cast["steward2"]], doc)
    assert (v1.status, v1.number) == ("approved", 1)
    assert v1.approved_at is not None
    doc2 = copy.deepcopy(doc)
    doc2["properties"]["extra"] = {"type": "string"}
    v2 = publish(subject, cast["steward2"], [cast["steward"]], doc2)
    assert (v2.status, v2.number) == ("approved", 2)
    # the check ran against the approved version 1
    assert fake_engine.calls[-1]["previous_versions"] == [1]
    assert fake_engine.calls[-1]["previous"] == [doc]
    actions = list(AuditEntry.objects.filter(object_id=str(v2.pk)).values_list("action", flat=True))
    assert "schemaversion.submit" in actions and "schemaversion.publish" in actions


def test_non_steward_cannot_review(cast, fake_engine, doc):
    subject = SubjectFactory()
    version = services.submit(actor=cast["steward"], version=services.create_draft(actor=cast["steward"], subject=subject, document=doc))
    with pytest.raises(NotAllowed):
        services.approve(actor=cast["architect"], version=version)


def test_finance_sensitive_api_needs_two_distinct_stewards(cast, fake_engine):
    api = ApiFactory(finance_sensitive=True)
    subject = SubjectFactory(entity=None, api=api, format="openapi")
    third = cast["steward"].__class__.objects.create_user("steward3", password="x")
    third.groups.add(*cast["steward"].groups.all())
    spec = {"openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "paths": {}}
    version = services.submit(actor=third, version=services.create_draft(actor=third, subject=subject, document=spec))
    assert version.required_approvals == 2
    version = services.approve(actor=cast["steward"], version=version)
    assert (version.status, version.number) == ("in_review", None)
    with pytest.raises(Conflict):  # the same steward cannot give the second approval
        services.approve(actor=cast["steward"], version=_reload(version))
    version = services.approve(actor=cast["steward2"], version=_reload(version))
    assert (version.status, version.number) == ("approved", 1)
    assert version.reviews.filter(decision="approve").count() == 2


def test_tier1_integration_carrying_the_entity_needs_two_approvals(cast, fake_engine, doc):
    entity = EntityFactory()
    IntegrationFactory(entities=[entity], criticality=Criticality.TIER_1)
    subject = SubjectFactory(entity=entity)
    version = services.submit(actor=cast["steward"], version=services.create_draft(actor=cast["steward"], subject=subject, document=doc))
    assert version.required_approvals == 2
    plain = SubjectFactory()
    other = services.submit(actor=cast["steward"], version=services.create_draft(actor=cast["steward"], subject=plain, document=doc))
    assert other.required_approvals == 1


def test_invalid_schema_is_refused_with_errors(cast, monkeypatch, doc):
    from stewardship import compat

    monkeypatch.setattr(compat, "validate_schema", lambda d, fmt: ["#/properties/id/type: 3 is not valid"])
    version = services.create_draft(actor=cast["steward"], subject=SubjectFactory(), document=doc)
    with pytest.raises(ValidationFailed) as info:
        services.submit(actor=cast["steward"], version=version)
    assert info.value.fields["document"] == ["#/properties/id/type: 3 is not valid"]
    assert _reload(version).status == "draft"
    assert _reload(version).validity_errors == ["#/properties/id/type: 3 is not valid"]
    with pytest.raises(NotAllowed):  # only the author submits
        services.submit(actor=cast["steward2"], version=version)


def test_breaking_findings_need_justified_acceptance(cast, fake_engine, doc, settings):
    settings.STEWARDSHIP_MIN_JUSTIFICATION = 20
    subject = SubjectFactory()
    publish(subject, cast["steward"], [cast["steward2"]], doc)
    fake_engine.findings = [BREAKING, HARMLESS]
    version = services.submit(actor=cast["steward"], version=services.create_draft(actor=cast["steward"], subject=subject, document=doc))
    assert version.compat_report["compatible"] is False
    with pytest.raises(ValidationFailed) as info:
        services.approve(actor=cast["steward2"], version=version)
    assert info.value.code == "unaccepted_findings"
    with pytest.raises(ValidationFailed):
        services.accept_finding(actor=cast["steward2"], version=version, finding_type=BREAKING["type"],
                                path=BREAKING["path"], justification="ok")
    with pytest.raises(NotAllowed):  # the author cannot wave their own breaking change through
        services.accept_finding(actor=cast["steward"], version=version, finding_type=BREAKING["type"],
                                path=BREAKING["path"], justification="All three consumers were told on 12 May.")
    with pytest.raises(ValidationFailed):  # only incompatible findings are accepted
        services.accept_finding(actor=cast["steward2"], version=version, finding_type=HARMLESS["type"],
                                path=HARMLESS["path"], justification="All three consumers were told on 12 May.")
    services.accept_finding(actor=cast["steward2"], version=version, finding_type=BREAKING["type"],
                            path=BREAKING["path"], justification="All three consumers were told on 12 May.")
    version = services.approve(actor=cast["steward2"], version=_reload(version))
    assert (version.status, version.number) == ("approved", 2)
    acceptance = version.acceptances.get()
    assert acceptance.steward == cast["steward2"] and "12 May" in acceptance.justification


def test_request_changes_then_resubmit_starts_a_new_round(cast, fake_engine, doc):
    subject = SubjectFactory()
    version = services.submit(actor=cast["steward"], version=services.create_draft(actor=cast["steward"], subject=subject, document=doc))
    with pytest.raises(ValidationFailed):
        services.request_changes(actor=cast["steward2"], version=version, comment="")
    version = services.request_changes(actor=cast["steward2"], version=version, comment="Add a description")
    assert version.status == "changes_requested"
    with pytest.raises(NotAllowed):
        services.update_draft(actor=cast["steward2"], version=version, document=doc)
    doc["description"] = "An invoice"
    version = services.update_draft(actor=cast["steward"], version=version, document=doc)
    version = services.submit(actor=cast["steward"], version=version)
    assert (version.status, version.round) == ("in_review", 2)
    version = services.approve(actor=cast["steward2"], version=version)
    assert version.status == "approved"


def test_reject_and_deprecate(cast, fake_engine, doc):
    subject = SubjectFactory()
    bad = services.submit(actor=cast["steward"], version=services.create_draft(actor=cast["steward"], subject=subject, document=doc))
    bad = services.reject(actor=cast["steward2"], version=bad, comment="Wrong entity")
    assert bad.status == "rejected"
    with pytest.raises(InvalidTransition):
        services.approve(actor=cast["steward2"], version=bad)
    good = publish(subject, cast["steward"], [cast["steward2"]], doc)
    assert good.number == 1  # rejected versions never get a number
    good = services.deprecate(actor=cast["steward2"], version=good, comment="superseded")
    assert good.status == "deprecated"
    with pytest.raises(InvalidTransition):
        services.deprecate(actor=cast["steward2"], version=good)


def test_stale_view_of_the_state_is_a_conflict(cast, fake_engine, doc):
    subject = SubjectFactory()
    version = services.submit(actor=cast["steward"], version=services.create_draft(actor=cast["steward"], subject=subject, document=doc))
    seen_by_a = _reload(version)
    seen_by_b = _reload(version)
    services.reject(actor=cast["steward2"], version=seen_by_b, comment="no")
    with pytest.raises(Conflict):
        services.approve(actor=cast["steward2"], version=seen_by_a)


def test_waiting_for_my_review(cast, fake_engine, doc):
    subject = SubjectFactory()
    mine = services.submit(actor=cast["steward"], version=services.create_draft(actor=cast["steward"], subject=subject, document=doc))
    theirs = services.submit(actor=cast["steward2"], version=services.create_draft(actor=cast["steward2"], subject=subject, document=doc))
    assert list(waiting_for_review(cast["steward"])) == [theirs]
    assert list(waiting_for_review(cast["steward2"])) == [mine]


def test_emails_to_owning_teams_on_submit_and_publish(cast, fake_engine, doc, django_capture_on_commit_callbacks):
    entity = EntityFactory()
    billing = TeamFactory(email="billing@example.com")
    delivery = TeamFactory(email="delivery@example.com")
    silent = TeamFactory(email="")
    IntegrationFactory(entities=[entity], owner_team=billing)
    IntegrationFactory(entities=[entity], owner_team=billing)
    IntegrationFactory(entities=[entity], owner_team=delivery)
    IntegrationFactory(entities=[entity], owner_team=silent)
    IntegrationFactory(owner_team=TeamFactory(email="unrelated@example.com"))
    subject = SubjectFactory(entity=entity)
    with django_capture_on_commit_callbacks(execute=True):
        version = services.submit(actor=cast["steward"], version=services.create_draft(actor=cast["steward"], subject=subject, document=doc))
    assert sorted(m.to[0] for m in mail.outbox) == ["billing@example.com", "delivery@example.com"]
    assert "in review" in mail.outbox[0].subject
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        services.approve(actor=cast["steward2"], version=version)
    assert sorted(m.to[0] for m in mail.outbox) == ["billing@example.com", "delivery@example.com"]
    assert all("v1 is approved" in m.subject for m in mail.outbox)


def test_no_email_when_submission_fails(cast, monkeypatch, doc, django_capture_on_commit_callbacks):
    from stewardship import compat

    entity = EntityFactory()
    IntegrationFactory(entities=[entity], owner_team=TeamFactory(email="billing@example.com"))
    monkeypatch.setattr(compat, "validate_schema", lambda d, fmt: ["broken"])
    version = services.create_draft(actor=cast["steward"], subject=SubjectFactory(entity=entity), document=doc)
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(ValidationFailed):
        services.submit(actor=cast["steward"], version=version)
    assert mail.outbox == []


def test_subject_level_override_and_global_default(cast, fake_engine, doc):
    from stewardship.models import StewardshipSettings

    row = StewardshipSettings.get()
    row.default_level = "FULL"
    row.save()
    inherit = SubjectFactory()
    override = SubjectFactory(compatibility_level="FORWARD_TRANSITIVE", policy="LENIENT")
    for subject in (inherit, override):
        publish(subject, cast["steward"], [cast["steward2"]], doc)
        services.submit(actor=cast["steward"], version=services.create_draft(actor=cast["steward"], subject=subject, document=doc))
    assert [(c["level"], c["policy"]) for c in fake_engine.calls] == [("FULL", "STRICT"), ("FORWARD_TRANSITIVE", "LENIENT")]


def test_a_malformed_openapi_definition_is_refused_with_the_validators_message(cast):
    # Structurally plausible, but the path parameter {id} is never declared and a response has
    # no description: openapi-spec-validator refuses it, so the submission is refused too.
    spec = {"openapi": "3.0.3", "info": {"title": "Invoices", "version": "1"}, "paths": {
        "/invoices/{id}": {"get": {"responses": {"200": {"description": "The invoice"}}}}}}
    subject = SubjectFactory(entity=None, api=ApiFactory(), format="openapi")
    version = services.create_draft(actor=cast["steward"], subject=subject, document=spec)
    with pytest.raises(ValidationFailed) as info:
        services.submit(actor=cast["steward"], version=version)
    assert info.value.fields["document"] == ["#: Path parameter 'id' for 'get' operation in '/invoices/{id}' was not resolved"]
    assert _reload(version).status == "draft"
    spec["paths"]["/invoices/{id}"]["get"]["parameters"] = [
        {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}]
    spec["components"] = {"schemas": {"Invoice": {"$ref": "#/components/schemas/Missing"}}}
    version = services.create_draft(actor=cast["steward"], subject=subject, document=spec)
    with pytest.raises(ValidationFailed) as info:
        services.submit(actor=cast["steward"], version=version)
    assert info.value.fields["document"] == [
        "#: the reference '/components/schemas/Missing' does not resolve inside the document."]


def test_an_avro_subject_goes_through_review_with_its_avro_compatibility_report(cast):
    v1 = {"type": "record", "name": "PaymentReceived", "namespace": "billing",
          "fields": [{"name": "invoice", "type": "string"}, {"name": "amount_cents", "type": "int"}]}
    subject = SubjectFactory(entity=None, api=ApiFactory(), format="avro")
    first = publish(subject, cast["steward"], [cast["steward2"]], v1)
    assert (first.status, first.number) == ("approved", 1)
    widened = {**v1, "fields": [v1["fields"][0], {"name": "amount_cents", "type": "long"}]}
    second = services.submit(actor=cast["steward"], version=services.create_draft(
        actor=cast["steward"], subject=subject, document=widened))
    assert second.compat_report["compatible"] is True  # BACKWARD: int data read as long
    subject.compatibility_level = "FULL"
    subject.save(update_fields=["compatibility_level"])
    third = services.submit(actor=cast["steward"], version=services.create_draft(
        actor=cast["steward"], subject=subject, document=widened))
    (finding,) = third.compat_report["findings"]
    assert (finding["type"], finding["path"], finding["direction"]) == ("TYPE_MISMATCH", "#/fields/1/type", "FORWARD")
    broken = services.create_draft(actor=cast["steward"], subject=subject, document={"type": "record", "fields": []})
    with pytest.raises(ValidationFailed) as info:
        services.submit(actor=cast["steward"], version=broken)
    assert "not a valid Avro schema" in info.value.fields["document"][0]
