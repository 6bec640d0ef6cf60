"""The stewardship API: permissions, workflow actions, the stateless compatibility check,
payload validation and query counts."""

import copy

import pytest

from stewardship import services
from stewardship.models import SchemaVersion
from tests.factories import ApiFactory, EntityFactory, IntegrationFactory, SystemFactory

from .conftest import BREAKING
from .factories import SorFactory, SubjectFactory, VersionFactory

pytestmark = pytest.mark.django_db
BASE = "/api/v1/stewardship"


def published(cast, doc, subject=None):
    subject = subject or SubjectFactory()
    v = services.submit(actor=cast["steward"], version=services.create_draft(actor=cast["steward"], subject=subject, document=doc))
    return services.approve(actor=cast["steward2"], version=v)


# --- permissions ------------------------------------------------------------------------

@pytest.mark.parametrize("who,status", [("steward", 200), ("executive", 200), ("service", 200), ("outsider", 403), (None, 401)])
def test_read_endpoints_need_a_role(api_as, who, status):
    VersionFactory()
    SorFactory()
    for url in ("subjects/", "versions/", "sor-assignments/"):
        assert api_as(who).get(f"{BASE}/{url}").status_code == status, url


@pytest.mark.parametrize("who,status", [("steward", 201), ("architect", 403), ("finance", 403), ("service", 403)])
def test_only_stewards_create_subjects_and_drafts(api_as, who, status, doc):
    entity = EntityFactory()
    r = api_as(who).post(f"{BASE}/subjects/", {"slug": "inv", "name": "Invoice", "entity": entity.slug,
                                               "format": "json-schema"}, format="json")
    assert r.status_code == status, r.content
    subject = SubjectFactory()
    r = api_as(who).post(f"{BASE}/versions/", {"subject": subject.slug, "document": doc}, format="json")
    assert r.status_code == status, r.content


@pytest.mark.parametrize("who,status", [("steward2", 200), ("architect", 403), ("finance", 403), ("service", 403), ("outsider", 403)])
def test_only_stewards_review(api_as, cast, fake_engine, who, status, doc):
    version = services.submit(actor=cast["steward"], version=services.create_draft(
        actor=cast["steward"], subject=SubjectFactory(), document=doc))
    r = api_as(who).post(f"{BASE}/versions/{version.pk}/approve/", {"comment": "fine"}, format="json")
    assert r.status_code == status, r.content


@pytest.mark.parametrize("who,status", [("steward2", 200), ("architect", 403), ("executive", 403)])
def test_only_stewards_decide_sor(api_as, cast, who, status):
    proposal = services.propose_sor(actor=cast["steward"], entity=EntityFactory(), system=SystemFactory())
    assert api_as(who).post(f"{BASE}/sor-assignments/{proposal.pk}/approve/", {}, format="json").status_code == status


@pytest.mark.parametrize("who", ["architect", "finance", "executive", "service"])
def test_every_version_action_refused_to_non_stewards(api_as, cast, fake_engine, who, doc):
    version = services.submit(actor=cast["steward"], version=services.create_draft(
        actor=cast["steward"], subject=SubjectFactory(), document=doc))
    draft = services.create_draft(actor=cast["steward"], subject=version.subject, document=doc)
    client = api_as(who)
    for action in ("approve", "request-changes", "reject", "deprecate", "accept-finding"):
        assert client.post(f"{BASE}/versions/{version.pk}/{action}/", {"comment": "x"}, format="json").status_code == 403
    assert client.post(f"{BASE}/versions/{draft.pk}/submit/").status_code == 403
    assert client.patch(f"{BASE}/versions/{draft.pk}/", {"document": doc}, format="json").status_code == 403
    assert client.post(f"{BASE}/sor-assignments/", {}, format="json").status_code == 403
    proposal = services.propose_sor(actor=cast["steward"], entity=EntityFactory(), system=SystemFactory())
    assert client.post(f"{BASE}/sor-assignments/{proposal.pk}/reject/", {}, format="json").status_code == 403
    assert SchemaVersion.objects.get(pk=version.pk).status == "in_review"


# --- workflow through the API -----------------------------------------------------------

def test_full_review_through_the_api(api_as, cast, fake_engine, doc):
    subject = SubjectFactory()
    published(cast, doc, subject)
    author, reviewer = api_as("steward"), api_as("steward2")
    r = author.post(f"{BASE}/versions/", {"subject": subject.slug, "document": doc, "change_summary": "shorter"}, format="json")
    assert r.status_code == 201, r.content
    vid = r.json()["id"]
    assert r.json()["status"] == "draft" and r.json()["author"] == "steward"
    doc2 = copy.deepcopy(doc)
    doc2["properties"]["name"]["maxLength"] = 50
    assert reviewer.patch(f"{BASE}/versions/{vid}/", {"document": doc2}, format="json").status_code == 403
    assert author.patch(f"{BASE}/versions/{vid}/", {"document": doc2}, format="json").status_code == 200
    fake_engine.findings = [BREAKING]
    r = author.post(f"{BASE}/versions/{vid}/submit/")
    assert r.status_code == 200 and r.json()["status"] == "in_review"
    assert r.json()["compat_report"]["findings"][0]["type"] == "MAX_LENGTH_DECREASED"
    assert author.post(f"{BASE}/versions/{vid}/approve/", {}, format="json").status_code == 403
    r = reviewer.post(f"{BASE}/versions/{vid}/approve/", {}, format="json")
    assert r.status_code == 400 and r.json()["error"]["code"] == "unaccepted_findings"
    r = reviewer.post(f"{BASE}/versions/{vid}/accept-finding/", {"type": BREAKING["type"], "path": BREAKING["path"],
                                                                 "justification": "short"}, format="json")
    assert r.status_code == 400 and "justification" in r.json()["error"]["fields"]
    r = reviewer.post(f"{BASE}/versions/{vid}/accept-finding/", {"type": BREAKING["type"], "path": BREAKING["path"],
                                                                 "justification": "Only the archive job reads names; told them."}, format="json")
    assert r.status_code == 201
    r = reviewer.post(f"{BASE}/versions/{vid}/approve/", {"comment": "ok"}, format="json")
    assert r.status_code == 200
    body = r.json()
    assert (body["status"], body["number"]) == ("approved", 2)
    assert body["acceptances"][0]["steward"] == "steward2"
    r = reviewer.post(f"{BASE}/versions/{vid}/approve/", {}, format="json")
    assert r.status_code == 409 and r.json()["error"]["code"] in ("invalid_transition", "conflict")


def test_sor_propose_and_approve_through_the_api(api_as, cast):
    entity, system = EntityFactory(), SystemFactory()
    r = api_as("steward").post(f"{BASE}/sor-assignments/", {"entity": entity.slug, "system": system.slug,
                                                            "scope_type": "region", "scope_value": "EU"}, format="json")
    assert r.status_code == 201, r.content
    pid = r.json()["id"]
    assert r.json()["status"] == "proposed"
    assert api_as("steward").post(f"{BASE}/sor-assignments/{pid}/approve/", {}, format="json").status_code == 403
    r = api_as("steward2").post(f"{BASE}/sor-assignments/{pid}/approve/", {}, format="json")
    assert r.status_code == 200 and r.json()["status"] == "approved"
    r = api_as("steward").post(f"{BASE}/sor-assignments/", {"entity": entity.slug, "system": system.slug,
                                                            "scope_type": "region"}, format="json")
    assert r.status_code == 400 and r.json()["error"]["code"] == "validation_failed"


def test_subject_update_override(api_as):
    subject = SubjectFactory()
    r = api_as("steward").patch(f"{BASE}/subjects/{subject.slug}/", {"compatibility_level": "FULL"}, format="json")
    assert r.status_code == 200 and r.json()["effective_level"] == "FULL"
    assert api_as("architect").patch(f"{BASE}/subjects/{subject.slug}/", {"policy": "LENIENT"}, format="json").status_code == 403


# --- query counts -------------------------------------------------------------------------

def test_list_endpoints_query_counts(api_as, cast, django_assert_max_num_queries, doc):
    for _ in range(8):
        v = VersionFactory(author=cast["steward"])
        VersionFactory(subject=v.subject, author=cast["steward2"])
        SorFactory(steward=cast["steward"], proposed_by=cast["steward2"])
    from stewardship.models import StewardshipSettings

    StewardshipSettings.get()  # the defaults row exists after the first use
    client = api_as("executive")
    for url, limit in (("subjects/", 8), ("versions/", 7), ("sor-assignments/", 7)):
        with django_assert_max_num_queries(limit):
            r = client.get(f"{BASE}/{url}")
        assert r.status_code == 200 and r.json()["count"] >= 8


# --- stateless compatibility check -----------------------------------------------------------

def test_compatibility_endpoint_shape_and_errors(api_as, fake_engine, doc):
    fake_engine.findings = [BREAKING]
    body = {"format": "json-schema", "level": "BACKWARD", "policy": "STRICT", "schema": doc, "previous": [doc, doc]}
    r = api_as("finance").post(f"{BASE}/compatibility/", body, format="json")
    assert r.status_code == 200, r.content
    assert r.json()["compatible"] is False
    assert r.json()["findings"][0]["path"] == "#/properties/name/maxLength"
    assert fake_engine.calls[-1]["previous_versions"] == [1, 2]
    r = api_as("finance").post(f"{BASE}/compatibility/", {**body, "level": "SIDEWAYS"}, format="json")
    assert r.status_code == 400 and "level" in r.json()["error"]["fields"]
    r = api_as("finance").post(f"{BASE}/compatibility/", {**body, "format": "avro"}, format="json")
    assert r.status_code == 400 and r.json()["error"]["code"] == "validation_failed"
    assert api_as("outsider").post(f"{BASE}/compatibility/", body, format="json").status_code == 403
    assert api_as(None).post(f"{BASE}/compatibility/", body, format="json").status_code == 401


# --- payload validation ----------------------------------------------------------------------

INVOICE = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["number", "lines"],
    "properties": {
        "number": {"type": "string", "pattern": "^INV-[0-9]+$"},
        "lines": {"type": "array", "items": {"type": "object", "required": ["amount"],
                                             "properties": {"amount": {"type": "number", "minimum": 0}}}},
    },
}


@pytest.mark.parametrize("who,status", [("service", 200), ("steward", 200), ("architect", 200), ("finance", 403), ("outsider", 403), (None, 401)])
def test_validate_permissions(api_as, cast, who, status):
    subject = SubjectFactory(slug="invoice-schema")
    published(cast, INVOICE, subject)
    r = api_as(who).post(f"{BASE}/subjects/invoice-schema/validate/", {"payload": {"number": "INV-1", "lines": []}}, format="json")
    assert r.status_code == status


def test_validate_reports_errors_with_paths_and_versions(api_as, cast, fake_engine):
    subject = SubjectFactory(slug="invoice-schema")
    published(cast, INVOICE, subject)
    v2doc = copy.deepcopy(INVOICE)
    v2doc["properties"]["currency"] = {"type": "string"}
    v2doc["required"] = ["number", "lines", "currency"]
    published(cast, v2doc, subject)
    client = api_as("service")
    url = f"{BASE}/subjects/invoice-schema/validate/"
    good = {"number": "INV-7", "lines": [{"amount": 3}]}
    r = client.post(url, {"payload": good, "version": 1}, format="json")
    assert r.json() == {"valid": True, "version": 1, "errors": []}
    r = client.post(url, {"payload": good}, format="json")  # latest approved is v2, needs currency
    assert r.json()["version"] == 2 and r.json()["valid"] is False
    r = client.post(url, {"payload": {"number": "X", "lines": [{"amount": -1}]}, "version": 1}, format="json")
    paths = [e["path"] for e in r.json()["errors"]]
    assert paths == ["$.lines[0].amount", "$.number"]
    assert client.post(url, {"payload": good, "version": 9}, format="json").status_code == 404
    assert client.post(f"{BASE}/subjects/nope/validate/", {"payload": good}, format="json").status_code == 404
    assert client.post(url, {}, format="json").status_code == 400


def test_validate_draft_only_subject_is_404_and_openapi_is_400(api_as, cast):
    VersionFactory(subject=SubjectFactory(slug="draft-only"), document=INVOICE)
    assert api_as("service").post(f"{BASE}/subjects/draft-only/validate/", {"payload": {}}, format="json").status_code == 404
    spec = SubjectFactory(slug="spec", entity=None, api=ApiFactory(), format="openapi")
    VersionFactory(subject=spec, status="approved", number=1, document={"openapi": "3.0.3"})
    r = api_as("service").post(f"{BASE}/subjects/spec/validate/", {"payload": {}}, format="json")
    assert r.status_code == 400 and r.json()["error"]["code"] == "unsupported_format"


def test_validate_query_count_and_cache(api_as, cast, django_assert_max_num_queries):
    from stewardship import validation

    published(cast, INVOICE, SubjectFactory(slug="invoice-schema"))
    client = api_as("service")
    url = f"{BASE}/subjects/invoice-schema/validate/"
    client.post(url, {"payload": {"number": "INV-1", "lines": []}}, format="json")
    assert len(validation._CACHE) == 1
    with django_assert_max_num_queries(4):
        r = client.post(url, {"payload": {"number": "INV-1", "lines": []}}, format="json")
    assert r.json()["valid"] is True and len(validation._CACHE) == 1


def test_affected_consumer_lookup_for_api_subjects(cast):
    from stewardship.selectors import affected_integrations

    api = ApiFactory()
    users = [IntegrationFactory(apis=[api]) for _ in range(2)]
    IntegrationFactory()
    assert set(affected_integrations(SubjectFactory(entity=None, api=api, format="openapi"))) == set(users)


def test_version_detail_is_readable(api_as, cast, fake_engine, doc):
    v = published(cast, doc)
    r = api_as("executive").get(f"{BASE}/versions/{v.pk}/")
    assert r.status_code == 200 and r.json()["reviews"][0]["reviewer"] == "steward2"
    assert SchemaVersion.objects.get(pk=v.pk).number == r.json()["number"] == 1


@pytest.mark.parametrize("engine", ["rust", "python"])
def test_both_validator_engines_agree(engine):
    from stewardship.validation import compile_validator, json_path

    validator = compile_validator(INVOICE, engine=engine)
    assert validator.errors({"number": "INV-1", "lines": [{"amount": 2}]}, 10) == []
    errors = validator.errors({"number": "X", "lines": [{"amount": -1}, {}]}, 10)
    assert sorted(e["path"] for e in errors) == ["$.lines[0].amount", "$.lines[1]", "$.number"]
    assert json_path(["a b", 0, "c"]) == "$['a b'][0].c"


def test_validate_accepts_avro_json_encoding_against_the_approved_avro_schema(api_as, cast):
    schema = {"type": "record", "name": "PaymentReceived", "namespace": "billing", "fields": [
        {"name": "invoice", "type": "string"},
        {"name": "amount_cents", "type": "long"},
        {"name": "memo", "type": ["null", "string"], "default": None}]}
    subject = SubjectFactory(slug="payment-received", entity=None, api=ApiFactory(), format="avro")
    published(cast, schema, subject)
    url = f"{BASE}/subjects/payment-received/validate/"
    client = api_as("service")
    r = client.post(url, {"payload": {"invoice": "INV-1", "amount_cents": 1250, "memo": {"string": "ok"}}}, format="json")
    assert r.json() == {"valid": True, "version": 1, "errors": []}
    r = client.post(url, {"payload": {"invoice": "INV-1", "amount_cents": 12.5, "memo": "ok"}}, format="json")
    body = r.json()
    assert body["valid"] is False
    assert [e["path"] for e in body["errors"]] == ["$.amount_cents", "$.memo"]
    assert "whole number" in body["errors"][0]["message"]


def test_compatibility_endpoint_checks_avro_by_its_resolution_rules(api_as):
    v1 = {"type": "record", "name": "InvoiceReady", "fields": [{"name": "id", "type": "long"}]}
    v2 = {**v1, "fields": [*v1["fields"], {"name": "memo", "type": "string"}]}
    body = {"format": "avro", "level": "BACKWARD", "schema": v2, "previous": [v1]}
    r = api_as("finance").post(f"{BASE}/compatibility/", body, format="json")
    assert r.status_code == 200, r.content
    (finding,) = r.json()["findings"]
    assert r.json()["compatible"] is False
    assert (finding["type"], finding["path"]) == ("READER_FIELD_MISSING_DEFAULT_VALUE", "#/fields/1")
    # a union is a whole Avro schema; a bad one is refused with fastavro's reason
    r = api_as("finance").post(f"{BASE}/compatibility/", {**body, "schema": ["null", "string"], "previous": ["string"]}, format="json")
    assert r.status_code == 200 and r.json()["compatible"] is True
    r = api_as("finance").post(f"{BASE}/compatibility/", {**body, "schema": {"type": "nope"}}, format="json")
    assert r.status_code == 400 and "unknown type 'nope'" in str(r.json()["error"]["fields"]["schema"])
    r = api_as("finance").post(f"{BASE}/compatibility/", {**body, "format": "json-schema", "schema": ["x"]}, format="json")
    assert r.status_code == 400
