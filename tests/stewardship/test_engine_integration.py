"""The workflow and the stateless endpoint with the real compatibility engine."""

import copy

import pytest

from controlplane.errors import ValidationFailed
from stewardship import services

from .factories import SubjectFactory

pytestmark = pytest.mark.django_db
BASE = "/api/v1/stewardship"


def test_submit_stores_real_findings_against_the_approved_version(cast, doc):
    subject = SubjectFactory()
    v1 = services.submit(actor=cast["steward"], version=services.create_draft(actor=cast["steward"], subject=subject, document=doc))
    v1 = services.approve(actor=cast["steward2"], version=v1)
    new = copy.deepcopy(doc)
    new["properties"]["name"]["maxLength"] = 50
    v2 = services.submit(actor=cast["steward"], version=services.create_draft(actor=cast["steward"], subject=subject, document=new))
    assert v2.compat_report["compatible"] is False
    assert [(f["type"], f["path"], f["against_version"]) for f in v2.breaking_findings] == [
        ("MAX_LENGTH_DECREASED", "#/properties/name/maxLength", 1)
    ]
    assert v2.compared_with == v1


def test_invalid_json_schema_is_refused(cast, doc):
    doc["properties"]["id"]["type"] = 3
    version = services.create_draft(actor=cast["steward"], subject=SubjectFactory(), document=doc)
    with pytest.raises(ValidationFailed) as info:
        services.submit(actor=cast["steward"], version=version)
    assert info.value.fields["document"]
    version.refresh_from_db()
    assert version.status == "draft" and version.validity_errors == info.value.fields["document"]


def test_compatibility_endpoint_example_from_the_issue(api_as):
    old = {"type": "object", "properties": {"name": {"type": "string", "maxLength": 100}}}
    mid = {"type": "object", "properties": {"name": {"type": "string", "maxLength": 80}}}
    new = {"type": "object", "properties": {"name": {"type": "string", "maxLength": 60}}}
    body = {"format": "json-schema", "level": "BACKWARD", "policy": "STRICT", "schema": new, "previous": [old, mid]}
    r = api_as("executive").post(f"{BASE}/compatibility/", body, format="json")
    assert r.status_code == 200
    data = r.json()
    assert data["compatible"] is False
    assert {"type": "MAX_LENGTH_DECREASED", "path": "#/properties/name/maxLength", "compatible": False,
            "against_version": 2}.items() <= data["findings"][0].items()
    r = api_as("executive").post(f"{BASE}/compatibility/", {**body, "schema": old, "previous": [new]}, format="json")
    assert r.json()["compatible"] is True
    r = api_as("executive").post(f"{BASE}/compatibility/", {**body, "schema": {"type": 7}}, format="json")
    assert r.status_code == 400 and "schema" in r.json()["error"]["fields"]
