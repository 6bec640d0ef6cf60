"""validate_schema: [] for a valid schema of its format, else human messages naming the place."""

from __future__ import annotations

import pytest

from stewardship.compat import validate_schema

D7 = "http://json-schema.org/draft-07/schema#"
D2020 = "https://json-schema.org/draft/2020-12/schema"


@pytest.mark.parametrize("doc", [
    {"$schema": D7, "type": "object", "properties": {"a": {"type": "string"}}},
    {"$schema": D2020, "type": "array", "prefixItems": [{"type": "string"}], "items": False},
    {"type": "string"},
    True,
    {"$ref": "#/$defs/A", "$defs": {"A": {"type": "integer"}}},
])
def test_valid_json_schemas(doc):
    assert validate_schema(doc) == []


def test_metaschema_errors_name_the_place():
    messages = validate_schema({"$schema": D7, "type": "object", "properties": {"a": {"minLength": -1}}})
    assert len(messages) == 1
    assert messages[0].startswith("#/properties/a/minLength:")


def test_the_declared_draft_is_honoured():
    # draft-04 used boolean exclusiveMinimum; 2020-12 requires a number
    doc = {"type": "number", "minimum": 1, "exclusiveMinimum": True}
    assert validate_schema({"$schema": "http://json-schema.org/draft-04/schema#", **doc}) == []
    assert validate_schema({"$schema": D2020, **doc}) != []


def test_unknown_dialect_and_wrong_document_type():
    assert "unknown JSON Schema dialect" in validate_schema({"$schema": "urn:nope"})[0]
    assert validate_schema(["not", "a", "schema"]) == ["#: a JSON Schema must be an object or a boolean."]


def test_unresolvable_local_ref():
    messages = validate_schema({"properties": {"a": {"$ref": "#/definitions/Missing"}}})
    assert messages == ["#/properties/a/$ref: '#/definitions/Missing' does not resolve inside the document."]


def _openapi(version="3.0.3"):
    return {"openapi": version, "info": {"title": "t", "version": "1"}, "paths": {
        "/pets": {"get": {"parameters": [{"name": "q", "in": "query", "schema": {"type": "string"}}],
                          "responses": {"200": {"description": "ok", "content": {
                              "application/json": {"schema": {"type": "array", "items": {"type": "string"}}}}}}}}}}


@pytest.mark.parametrize("version", ["3.0.3", "3.1.0"])
def test_valid_openapi(version):
    assert validate_schema(_openapi(version), "openapi") == []


def test_openapi_structural_errors():
    doc = _openapi()
    doc["openapi"] = "2.0"
    del doc["info"]["version"]
    doc["paths"]["pets"] = doc["paths"].pop("/pets")
    del doc["paths"]["pets"]["get"]["responses"]
    messages = validate_schema(doc, "openapi")
    assert "#/openapi: must be a version string 3.0.x or 3.1.x, got '2.0'." in messages
    assert "#/info/version: required string is missing." in messages
    assert "#/paths/pets: path must start with '/'." in messages
    assert "#/paths/pets/get/responses: required object is missing." in messages


def test_openapi_schema_objects_are_checked():
    doc = _openapi()
    doc["paths"]["/pets"]["get"]["parameters"][0]["schema"] = {"type": "text"}
    messages = validate_schema(doc, "openapi")
    assert len(messages) == 1 and messages[0].startswith("#/paths/~1pets/get/parameters/0/schema/type:")


def test_openapi_31_needs_no_paths_when_it_has_webhooks_or_components():
    doc = {"openapi": "3.1.0", "info": {"title": "t", "version": "1"}, "components": {"schemas": {}}}
    assert validate_schema(doc, "openapi") == []
    doc["openapi"] = "3.0.3"
    assert validate_schema(doc, "openapi") == ["#/paths: required object is missing."]


def test_unknown_format_raises():
    with pytest.raises(ValueError, match="format"):
        validate_schema({}, "protobuf")


def test_absurdly_deep_document_gets_a_message_not_a_crash():
    deep = {"type": "string"}
    for _ in range(5000):
        deep = {"type": "object", "properties": {"c": deep}}
    messages = validate_schema(deep)
    assert messages == [] or messages == ["#: the document nests too deeply to be checked."]


def test_a_schema_without_dollar_schema_is_read_as_draft_07_as_confluent_does():
    # Tuple `items` and `dependencies` are draft-07; the 2020-12 metaschema refuses an items array.
    doc = {"type": "array", "items": [{"type": "string"}, {"type": "integer"}], "additionalItems": False}
    assert validate_schema(doc) == []
    assert validate_schema({"$schema": D2020, **doc}) != []
    assert validate_schema({"type": "object", "dependencies": {"a": ["b"]}}) == []


def test_payloads_against_a_schema_without_dollar_schema_follow_draft_07():
    from stewardship.validation import compile_validator

    doc = {"type": "array", "items": [{"type": "string"}, {"type": "integer"}], "additionalItems": False}
    for engine in ("rust", "python"):
        validator = compile_validator(doc, engine=engine)
        assert validator.errors(["a", 1], 10) == [], engine
        assert [e["path"] for e in validator.errors([1, 1], 10)] == ["$[0]"], engine
        assert len(validator.errors(["a", 1, "extra"], 10)) == 1, engine
