"""HTML pages: who may see and do what, what the pages show, query counts."""

import json

import pytest
from django.urls import reverse

from stewardship import services
from stewardship.models import SchemaVersion, SorAssignment
from tests.factories import EntityFactory, IntegrationFactory, SystemFactory, TeamFactory

from .conftest import BREAKING
from .factories import SorFactory, SubjectFactory, VersionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def in_review(cast, fake_engine, doc):
    entity = EntityFactory(name="Invoice X")
    IntegrationFactory(name="PSA invoices to ERP", entities=[entity], owner_team=TeamFactory(name="Billing team"))
    subject = SubjectFactory(entity=entity, name="Invoice schema")
    v1 = services.submit(actor=cast["steward"], version=services.create_draft(actor=cast["steward"], subject=subject, document=doc))
    services.approve(actor=cast["steward2"], version=v1)
    fake_engine.findings = [BREAKING]
    new = json.loads(json.dumps(doc))
    new["properties"]["name"]["maxLength"] = 50
    return services.submit(actor=cast["steward"], version=services.create_draft(actor=cast["steward"], subject=subject, document=new))


def page_urls(version, subject, assignment, entity):
    return [
        reverse("stewardship:home"),
        reverse("stewardship:subject-list"),
        reverse("stewardship:subject-detail", args=[subject.slug]),
        reverse("stewardship:version-detail", args=[version.pk]),
        reverse("stewardship:sor-matrix"),
        reverse("stewardship:sor-detail", args=[assignment.pk]),
        reverse("stewardship:entity-detail", args=[entity.slug]),
    ]


@pytest.mark.parametrize("who,status", [("steward", 200), ("executive", 200), ("finance", 200), ("outsider", 403)])
def test_read_pages(client_as, in_review, who, status):
    assignment = SorFactory(status="proposed")
    for url in page_urls(in_review, in_review.subject, assignment, assignment.entity):
        assert client_as(who).get(url).status_code == status, url


def test_anonymous_is_sent_to_login(client_as, in_review):
    r = client_as(None).get(reverse("stewardship:home"))
    assert r.status_code == 302 and "/login/" in r["Location"]


@pytest.mark.parametrize("who,status", [("steward", 200), ("architect", 403), ("executive", 403)])
def test_write_pages_need_steward(client_as, cast, in_review, who, status):
    draft = VersionFactory(subject=in_review.subject, author=cast["steward"])
    for url in (reverse("stewardship:subject-create"), reverse("stewardship:sor-propose"),
                reverse("stewardship:draft-create", args=[in_review.subject.slug]),
                reverse("stewardship:draft-edit", args=[draft.pk])):
        assert client_as(who).get(url).status_code == status, url


@pytest.mark.parametrize("who", ["architect", "executive", "finance"])
def test_review_actions_refused_to_non_stewards(client_as, in_review, who):
    for name in ("submit", "approve", "reject", "request-changes", "accept", "deprecate"):
        r = client_as(who).post(reverse(f"stewardship:version-{name}", args=[in_review.pk]), {"comment": "x"})
        assert r.status_code == 403, name
    assert SchemaVersion.objects.get(pk=in_review.pk).status == "in_review"


def test_review_page_shows_diff_findings_consumers_and_blocks_approval(client_as, in_review):
    client = client_as("steward2")
    url = reverse("stewardship:version-detail", args=[in_review.pk])
    html = client.get(url).content.decode()
    assert "MAX_LENGTH_DECREASED" in html
    assert 'data-pointer="/properties/name/maxLength"' in html
    assert "line changed breaking" in html  # the finding sits on the changed line of the diff
    assert "PSA invoices to ERP" in html and "Billing team" in html
    assert "Accept this finding" in html and 'id="approve-version"' in html
    r = client.post(reverse("stewardship:version-approve", args=[in_review.pk]),
                    {"seen_status": "in_review", "seen_round": "1"}, follow=True)
    assert "need a justified acceptance" in r.content.decode()
    assert SchemaVersion.objects.get(pk=in_review.pk).status == "in_review"
    client.post(reverse("stewardship:version-accept", args=[in_review.pk]), {
        "finding_type": BREAKING["type"], "path": BREAKING["path"], "seen_status": "in_review", "seen_round": "1",
        "justification": "The only consumer truncates to 40 characters anyway.",
    })
    r = client.post(reverse("stewardship:version-approve", args=[in_review.pk]),
                    {"seen_status": "in_review", "seen_round": "1", "comment": "ok"}, follow=True)
    assert "published as version 2" in r.content.decode()
    html = client.get(url).content.decode()
    assert "truncates to 40 characters" in html  # the acceptance stays on the version


def test_author_sees_no_review_form(client_as, in_review):
    html = client_as("steward").get(reverse("stewardship:version-detail", args=[in_review.pk])).content.decode()
    assert 'id="approve-version"' not in html and "Accept this finding" not in html


def test_the_author_is_named_as_people_know_them(client_as, cast, in_review):
    cast["steward"].first_name, cast["steward"].last_name = "Sam", "Steward"
    cast["steward"].save()
    html = client_as("steward2").get(reverse("stewardship:version-detail", args=[in_review.pk])).content.decode()
    assert "<dt>Author</dt><dd>Sam Steward</dd>" in html


def test_stale_form_is_reported_as_conflict(client_as, cast, in_review):
    services.reject(actor=cast["steward2"], version=in_review, comment="no")
    r = client_as("steward2").post(reverse("stewardship:version-approve", args=[in_review.pk]),
                                   {"seen_status": "in_review", "seen_round": "1"}, follow=True)
    assert "changed meanwhile" in r.content.decode()


def test_dashboard_lists_what_waits_for_me(client_as, in_review):
    html = client_as("steward2").get(reverse("stewardship:home")).content.decode()
    assert "Invoice schema" in html.split('id="waiting-for-review"')[1]
    html = client_as("steward").get(reverse("stewardship:home")).content.decode()
    assert 'id="waiting-for-review"' not in html  # my own submission does not wait for me


def test_create_subject_and_draft_through_pages(client_as):
    entity = EntityFactory(slug="widget")
    client = client_as("steward")
    r = client.post(reverse("stewardship:subject-create"), {"name": "Widget", "slug": "widget-schema", "entity": "widget",
                                                            "format": "json-schema"})
    assert r.status_code == 302
    r = client.post(reverse("stewardship:draft-create", args=["widget-schema"]), {"document": "{not json"})
    assert r.status_code == 400 and "Not valid JSON" in r.content.decode()
    r = client.post(reverse("stewardship:draft-create", args=["widget-schema"]), {"document": '{"type": "object"}'})
    assert r.status_code == 302
    version = SchemaVersion.objects.get(subject__entity=entity)
    r = client.post(reverse("stewardship:version-submit", args=[version.pk]), {"seen_status": "draft", "seen_round": "0"})
    assert SchemaVersion.objects.get(pk=version.pk).status == "in_review"


def test_sor_propose_and_decide_pages(client_as, cast):
    entity, system = EntityFactory(), SystemFactory()
    r = client_as("steward").post(reverse("stewardship:sor-propose"), {
        "entity": entity.slug, "scope_type": "legal_entity", "scope_value": "ACME UK Ltd", "attribute_group": "tax",
        "system": system.slug,
    })
    assert r.status_code == 302
    proposal = SorAssignment.objects.get(entity=entity)
    html = client_as("steward").get(reverse("stewardship:sor-detail", args=[proposal.pk])).content.decode()
    assert "Approve" not in html  # not for the proposer
    assert client_as("architect").post(reverse("stewardship:sor-approve", args=[proposal.pk])).status_code == 403
    assert client_as("executive").post(reverse("stewardship:sor-reject", args=[proposal.pk])).status_code == 403
    assert client_as("architect").post(reverse("stewardship:sor-propose"), {}).status_code == 403
    client_as("steward2").post(reverse("stewardship:sor-approve", args=[proposal.pk]), {"seen_status": "proposed"})
    assert SorAssignment.objects.get(pk=proposal.pk).status == "approved"


def test_proposers_and_deciders_are_named_as_people_know_them(client_as, cast):
    for name, (first, last) in {"steward": ("Sam", "Steward"), "steward2": ("Sol", "Third-Steward")}.items():
        cast[name].first_name, cast[name].last_name = first, last
        cast[name].save()
    entity, system = EntityFactory(), SystemFactory()
    client_as("steward").post(reverse("stewardship:sor-propose"), {
        "entity": entity.slug, "scope_type": "global", "scope_value": "", "attribute_group": "all", "system": system.slug,
    })
    proposal = SorAssignment.objects.get(entity=entity)
    home = client_as("steward2").get(reverse("stewardship:home")).content.decode()
    assert "by Sam Steward" in home and "by steward<" not in home
    client_as("steward2").post(reverse("stewardship:sor-approve", args=[proposal.pk]), {"seen_status": "proposed"})
    detail = client_as("architect").get(reverse("stewardship:sor-detail", args=[proposal.pk])).content.decode()
    assert "<dd>Sam Steward</dd>" in detail and "<dd>Sol Third-Steward " in detail


def test_matrix_page_shows_pending_and_findings(client_as, django_assert_max_num_queries):
    covered = EntityFactory(name="Covered")
    crm = SystemFactory(name="CRM One")
    SorFactory(entity=covered, system=crm, status="approved")
    SorFactory(entity=covered, system=SystemFactory(name="Proposed PSA"), status="proposed",
               scope_type="region", scope_value="EMEA")
    IntegrationFactory(entities=[covered], source_system=SystemFactory(name="Rogue"), target_system=SystemFactory(name="Sink"))
    for _ in range(10):
        SorFactory(status="approved")
    client = client_as("executive")
    with django_assert_max_num_queries(12):
        html = client.get(reverse("stewardship:sor-matrix")).content.decode()
    row = html.split(f'data-entity="{covered.slug}"')[1].split("</tr>")[0]
    assert "CRM One" in row and "pending" in row and "Proposed PSA" in row
    assert "Unmanaged writer" in row and "Rogue" in row
    assert "Region: EMEA" in html


def test_list_page_query_counts(client_as, cast, django_assert_max_num_queries):
    for _ in range(12):
        v = VersionFactory(author=cast["steward"], status="in_review", submitted_at="2026-01-01T00:00:00Z",
                           compat_report={"compatible": True, "findings": []})
        VersionFactory(subject=v.subject, status="approved", number=1)
    client = client_as("steward2")
    with django_assert_max_num_queries(10):
        assert client.get(reverse("stewardship:subject-list")).status_code == 200
    with django_assert_max_num_queries(14):
        html = client.get(reverse("stewardship:home")).content.decode()
    assert html.count("/stewardship/versions/") >= 12


def test_entity_panel_tag_for_other_apps(rf, cast):
    from django.template import Context, Template

    entity = EntityFactory(name="Panel entity")
    SorFactory(entity=entity, system=SystemFactory(name="Panel ERP"), status="approved")
    IntegrationFactory(entities=[entity], source_system=SystemFactory(name="Rogue"), target_system=SystemFactory())
    template = Template("{% load stewardship %}{% entity_stewardship entity %}")
    html = template.render(Context({"entity": entity, "user": cast["executive"]}))
    assert "Panel ERP" in html and "Unmanaged writer" in html
    assert template.render(Context({"entity": entity, "user": cast["outsider"]})).strip() == ""


def test_subject_settings_override(client_as):
    subject = SubjectFactory()
    url = reverse("stewardship:subject-settings", args=[subject.slug])
    assert client_as("architect").post(url, {"compatibility_level": "FULL"}).status_code == 403
    assert client_as("steward").get(url).status_code == 405
    client_as("steward").post(url, {"compatibility_level": "FULL_TRANSITIVE", "policy": "LENIENT"})
    subject.refresh_from_db()
    assert (subject.effective_level(), subject.effective_policy()) == ("FULL_TRANSITIVE", "LENIENT")
    client_as("steward").post(url, {"compatibility_level": "", "policy": ""})
    subject.refresh_from_db()
    assert (subject.compatibility_level, subject.effective_level()) == ("", "BACKWARD")


def test_refused_submission_shows_the_schema_errors(client_as, cast):
    version = services.create_draft(actor=cast["steward"], subject=SubjectFactory(),
                                    document={"type": "object", "properties": {"id": {"type": 3}}})
    r = client_as("steward").post(reverse("stewardship:version-submit", args=[version.pk]),
                                  {"seen_status": "draft", "seen_round": "0"}, follow=True)
    html = r.content.decode()
    assert 'id="validity-errors"' in html and "#/properties/id/type" in html
    assert SchemaVersion.objects.get(pk=version.pk).status == "draft"


def test_avro_review_page_puts_the_finding_on_the_changed_line(client_as, cast):
    from tests.factories import ApiFactory

    v1 = {"type": "record", "name": "InvoiceReady", "fields": [{"name": "id", "type": "long"}]}
    v2 = {"type": "record", "name": "InvoiceReady", "fields": [{"name": "id", "type": "long"},
                                                               {"name": "memo", "type": "string"}]}
    subject = SubjectFactory(entity=None, api=ApiFactory(), format="avro", name="Invoice ready events")
    first = services.submit(actor=cast["steward"], version=services.create_draft(actor=cast["steward"], subject=subject, document=v1))
    services.approve(actor=cast["steward2"], version=first)
    second = services.submit(actor=cast["steward"], version=services.create_draft(actor=cast["steward"], subject=subject, document=v2))
    html = client_as("steward2").get(reverse("stewardship:version-detail", args=[second.pk])).content.decode()
    assert "READER_FIELD_MISSING_DEFAULT_VALUE" in html
    assert '<span class="line added breaking" data-pointer="/fields/1">' in html  # on the added field
    assert "The field memo of InvoiceReady is not in the data the writer sends" in html
