"""Counterexamples: for every change type where one exists, the document shown on a finding
is accepted by the old schema and refused by the new one (BACKWARD; the reverse for
FORWARD), checked here again with both real validators (jsonschema and jsonschema-rs)."""

import jsonschema
import jsonschema_rs
import pytest

from stewardship.compat import check
from stewardship.compat.counterexamples import enrich

S = {"type": "string"}
N = {"type": "number"}
ARR = {"type": "array", "items": {"type": "string"}}
OBJ = {"type": "object"}


def field(schema):
    """A document with one optional field ``f`` of ``schema`` next to a required ``id``."""
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",
            "properties": {"id": {"type": "string"}, "f": schema}, "required": ["id"]}


DRAFT_2020 = "https://json-schema.org/draft/2020-12/schema"


def root(**extra):
    return {"type": "object", "properties": {"id": {"type": "string"}, "memo": {"type": "string"}},
            "required": ["id"], **extra}



# (change type, old schema, new schema): one change each.
PAIRS = [
    ("MAX_LENGTH_ADDED", field(S), field({**S, "maxLength": 3})),
    ("MAX_LENGTH_DECREASED", field({**S, "maxLength": 10}), field({**S, "maxLength": 3})),
    ("MIN_LENGTH_ADDED", field(S), field({**S, "minLength": 3})),
    ("MIN_LENGTH_INCREASED", field({**S, "minLength": 1}), field({**S, "minLength": 4})),
    ("PATTERN_ADDED", field(S), field({**S, "pattern": "^[A-Z]{3}$"})),
    ("PATTERN_CHANGED", field({**S, "pattern": "^[a-z]+$"}), field({**S, "pattern": "^[a-z]{3}$"})),
    ("FORMAT_ADDED", field(S), field({**S, "format": "date"})),
    ("MAXIMUM_ADDED", field(N), field({**N, "maximum": 10})),
    ("MAXIMUM_DECREASED", field({**N, "maximum": 100}), field({**N, "maximum": 10})),
    ("MINIMUM_ADDED", field(N), field({**N, "minimum": 10})),
    ("MINIMUM_INCREASED", field({**N, "minimum": 0}), field({**N, "minimum": 10})),
    ("EXCLUSIVE_MAXIMUM_ADDED", field(N), field({**N, "exclusiveMaximum": 10})),
    ("EXCLUSIVE_MAXIMUM_DECREASED", field({**N, "exclusiveMaximum": 100}), field({**N, "exclusiveMaximum": 10})),
    ("EXCLUSIVE_MINIMUM_ADDED", field(N), field({**N, "exclusiveMinimum": 10})),
    ("EXCLUSIVE_MINIMUM_INCREASED", field({**N, "exclusiveMinimum": 0}), field({**N, "exclusiveMinimum": 10})),
    ("MULTIPLE_OF_ADDED", field(N), field({**N, "multipleOf": 5})),
    ("MULTIPLE_OF_EXPANDED", field({**N, "multipleOf": 2}), field({**N, "multipleOf": 4})),
    ("MULTIPLE_OF_CHANGED", field({**N, "multipleOf": 2}), field({**N, "multipleOf": 3})),
    ("TYPE_NARROWED", field(N), field({"type": "integer"})),
    ("TYPE_CHANGED", field(S), field({"type": "integer"})),
    ("ENUM_ARRAY_NARROWED", field({"enum": ["a", "b", "c"]}), field({"enum": ["a", "b"]})),
    ("ENUM_ARRAY_CHANGED", field({"enum": ["a", "b"]}), field({"enum": ["a", "c"]})),
    ("MAX_ITEMS_ADDED", field(ARR), field({**ARR, "maxItems": 2})),
    ("MAX_ITEMS_DECREASED", field({**ARR, "maxItems": 5}), field({**ARR, "maxItems": 2})),
    ("MIN_ITEMS_ADDED", field(ARR), field({**ARR, "minItems": 2})),
    ("MIN_ITEMS_INCREASED", field({**ARR, "minItems": 1}), field({**ARR, "minItems": 3})),
    ("UNIQUE_ITEMS_ADDED", field(ARR), field({**ARR, "uniqueItems": True})),
    ("MAX_PROPERTIES_ADDED", field(OBJ), field({**OBJ, "maxProperties": 1})),
    ("MIN_PROPERTIES_ADDED", field(OBJ), field({**OBJ, "minProperties": 2})),
    ("MAX_PROPERTIES_DECREASED", field({**OBJ, "maxProperties": 5}), field({**OBJ, "maxProperties": 2})),
    ("MIN_PROPERTIES_INCREASED", field({**OBJ, "minProperties": 1}), field({**OBJ, "minProperties": 3})),
    ("NOT_TYPE_EXTENDED", field({"not": {"type": "string"}}), field({"not": {"anyOf": [S, {"type": "integer"}]}})),
    ("ITEM_REMOVED_FROM_CLOSED_CONTENT_MODEL", field({"type": "array", "prefixItems": [S, N], "items": False}),
     field({"type": "array", "prefixItems": [S], "items": False})),
    ("MAX_CONTAINS_ADDED", field({**ARR, "contains": {"const": "x"}}), field({**ARR, "contains": {"const": "x"}, "maxContains": 1})),
    ("PRODUCT_TYPE_EXTENDED", root(), root(**{"if": {"required": ["memo"]}, "then": {"properties": {"memo": {"maxLength": 3}}}})),
    ("REQUIRED_ATTRIBUTE_ADDED", root(), {**root(), "required": ["id", "memo"]}),
    ("ADDITIONAL_PROPERTIES_REMOVED", root(), root(additionalProperties=False)),
    ("ADDITIONAL_PROPERTIES_NARROWED", root(additionalProperties=True), root(additionalProperties={"type": "string"})),
    ("OPTIONAL_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL", root(),
     {**root(), "properties": {**root()["properties"], "code": {"type": "integer"}}}),
    ("PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL", root(additionalProperties=False),
     {**root(additionalProperties=False), "properties": {"id": {"type": "string"}}}),
    # dependentRequired is a 2019-09+ keyword: a schema without $schema reads as draft-07 (Confluent).
    ("DEPENDENCY_ARRAY_ADDED", root(**{"$schema": DRAFT_2020}),
     root(**{"$schema": DRAFT_2020}, dependentRequired={"memo": ["code"]})),
    ("SUM_TYPE_NARROWED", field({"anyOf": [S, {"type": "integer"}]}), field({"anyOf": [S]})),
    # nested: an item field inside an array
    ("MINIMUM_ADDED", field({"type": "array", "items": {"type": "object", "properties": {"qty": {"type": "integer"}}}}),
     field({"type": "array", "items": {"type": "object", "properties": {"qty": {"type": "integer", "minimum": 1}}}})),
]


def _accepts(schema, doc) -> bool:
    python = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    ok_python = python(schema, format_checker=python.FORMAT_CHECKER).is_valid(doc)
    ok_rust = jsonschema_rs.validator_for(schema, validate_formats=True).is_valid(doc)
    assert ok_python == ok_rust, f"validators disagree on {doc!r}"
    return ok_python


def _report(old, new, level="BACKWARD"):
    report = check(new=new, previous=[old], level=level, policy="STRICT").to_dict()
    return enrich(report, new=new, previous_by_number={1: old}, fmt="json-schema")


@pytest.mark.parametrize(("ftype", "old", "new"), PAIRS, ids=[f"{p[0]}-{i}" for i, p in enumerate(PAIRS)])
def test_each_counterexample_is_accepted_by_old_and_refused_by_new(ftype, old, new):
    report = _report(old, new)
    finding = next((f for f in report["findings"] if f["type"] == ftype), None)
    assert finding is not None, [f["type"] for f in report["findings"]]
    assert not finding["compatible"]
    example = finding["counterexample"]
    assert example["found"], example
    assert _accepts(old, example["document"]), example
    assert not _accepts(new, example["document"]), example
    assert example["refused_because"]


def test_every_breaking_finding_of_a_report_gets_a_counterexample_of_its_own():
    old = field({"type": "string", "maxLength": 100})
    old["properties"]["state"] = {"enum": ["open", "paid", "void"]}
    new = field({"type": "string", "maxLength": 40})
    new["properties"]["state"] = {"enum": ["open", "paid"]}
    new["required"] = ["id", "f"]
    report = _report(old, new)
    breaking = [f for f in report["findings"] if not f["compatible"]]
    assert {f["type"] for f in breaking} >= {"MAX_LENGTH_DECREASED", "ENUM_ARRAY_NARROWED", "REQUIRED_ATTRIBUTE_ADDED"}
    for finding in breaking:
        doc = finding["counterexample"]["document"]
        assert _accepts(old, doc) and not _accepts(new, doc)
    by_type = {f["type"]: f["counterexample"]["document"] for f in breaking}
    # each shows its own change, not another one's: the enum example carries "void", the
    # length one a long f, and neither is refused for a missing f.
    assert by_type["ENUM_ARRAY_NARROWED"]["state"] == "void"
    assert len(by_type["MAX_LENGTH_DECREASED"]["f"]) > 40
    assert "f" not in by_type["REQUIRED_ATTRIBUTE_ADDED"]
    assert all(f["counterexample"] is None for f in report["findings"] if f["compatible"])


def test_forward_counterexample_is_accepted_by_new_and_refused_by_old():
    old, new = field({**S, "maxLength": 10}), field({**S, "maxLength": 30})
    report = _report(old, new, level="FORWARD")
    (finding,) = [f for f in report["findings"] if not f["compatible"]]
    doc = finding["counterexample"]["document"]
    assert finding["direction"] == "FORWARD"
    assert _accepts(new, doc) and not _accepts(old, doc)
    assert "consumers still reading with v1" in finding["message"]


def test_no_counterexample_is_said_so_not_invented():
    # The engine cannot compare regular expressions, so it flags a narrowing as FORWARD
    # breaking; no document proves it (every 3-letter word is also a word), and none is shown.
    old, new = field({**S, "pattern": "^[a-z]+$"}), field({**S, "pattern": "^[a-z]{3}$"})
    report = _report(old, new, level="FORWARD")
    (finding,) = [f for f in report["findings"] if not f["compatible"]]
    assert finding["counterexample"]["found"] is False
    assert "No document was found" in finding["counterexample"]["note"]
    assert "document" not in finding["counterexample"]


def test_plain_words_name_the_field_and_the_consequence():
    old = root(properties={"memo": {"type": "string", "maxLength": 100}})
    new = root(properties={"memo": {"type": "string", "maxLength": 40}})
    (finding,) = _report(old, new)["findings"]
    assert finding["type"] == "MAX_LENGTH_DECREASED"  # the Confluent name stays
    assert finding["message"] == ("`memo`: maximum length 100 → 40: documents valid under v1 with a `memo` "
                                  "longer than 40 characters will be refused.")
