"""One small schema pair per change type of compat-rules.md: type, JSON pointer, and verdict
under STRICT and LENIENT (BACKWARD: ``old`` is the writer, ``new`` the reader)."""

from __future__ import annotations

import os
from pathlib import Path

import jsonschema
import pytest

from stewardship.compat import check
from stewardship.compat.rules import CONFLUENT_TYPES, EXTENSION_TYPES
from tests.stewardship.compat.test_conformance import REPO_ROOT

S = {"type": "string"}
N = {"type": "number"}
B = {"type": "boolean"}


def num(**kw):
    return {"type": "number", **kw}


def string(**kw):
    return {"type": "string", **kw}


def obj(props=None, **kw):
    out = {"type": "object", "properties": props or {}}
    out.update(kw)
    return out


def arr(**kw):
    return {"type": "array", **kw}


# (type, old, new, path, compatible under STRICT, compatible under LENIENT)
# Verdicts copied from the table in compat-rules.md.
CASES = [
    ("ID_CHANGED", string(**{"$id": "urn:a"}), string(**{"$id": "urn:b"}), "#/$id", True, True),
    ("DESCRIPTION_CHANGED", string(description="a"), string(description="b"), "#/description", True, True),
    ("TITLE_CHANGED", string(title="a"), string(title="b"), "#/title", True, True),
    ("DEFAULT_CHANGED", string(default="a"), string(default="b"), "#/default", True, True),
    ("SCHEMA_ADDED", arr(), arr(items=S), "#/items", False, False),
    ("SCHEMA_REMOVED", arr(items=S), arr(), "#/items", True, True),
    ("TYPE_EXTENDED", {"type": "integer"}, N, "#/type", True, True),
    ("TYPE_NARROWED", N, {"type": "integer"}, "#/type", False, False),
    ("TYPE_CHANGED", S, B, "#", False, False),
    ("MAX_LENGTH_ADDED", S, string(maxLength=5), "#/maxLength", False, False),
    ("MAX_LENGTH_REMOVED", string(maxLength=5), S, "#/maxLength", True, True),
    ("MAX_LENGTH_INCREASED", string(maxLength=5), string(maxLength=9), "#/maxLength", True, True),
    ("MAX_LENGTH_DECREASED", string(maxLength=9), string(maxLength=5), "#/maxLength", False, False),
    ("MIN_LENGTH_ADDED", S, string(minLength=5), "#/minLength", False, False),
    ("MIN_LENGTH_REMOVED", string(minLength=5), S, "#/minLength", True, True),
    ("MIN_LENGTH_INCREASED", string(minLength=5), string(minLength=9), "#/minLength", False, False),
    ("MIN_LENGTH_DECREASED", string(minLength=9), string(minLength=5), "#/minLength", True, True),
    ("PATTERN_ADDED", S, string(pattern="^a"), "#/pattern", False, False),
    ("PATTERN_REMOVED", string(pattern="^a"), S, "#/pattern", True, True),
    ("PATTERN_CHANGED", string(pattern="^a"), string(pattern="^b"), "#/pattern", False, False),
    ("MAXIMUM_ADDED", N, num(maximum=5), "#/maximum", False, False),
    ("MAXIMUM_REMOVED", num(maximum=5), N, "#/maximum", True, True),
    ("MAXIMUM_INCREASED", num(maximum=5), num(maximum=9), "#/maximum", True, True),
    ("MAXIMUM_DECREASED", num(maximum=9), num(maximum=5), "#/maximum", False, False),
    ("MINIMUM_ADDED", N, num(minimum=5), "#/minimum", False, False),
    ("MINIMUM_REMOVED", num(minimum=5), N, "#/minimum", True, True),
    ("MINIMUM_INCREASED", num(minimum=5), num(minimum=9), "#/minimum", False, False),
    ("MINIMUM_DECREASED", num(minimum=9), num(minimum=5), "#/minimum", True, True),
    ("EXCLUSIVE_MAXIMUM_ADDED", N, num(exclusiveMaximum=5), "#/exclusiveMaximum", False, False),
    ("EXCLUSIVE_MAXIMUM_REMOVED", num(exclusiveMaximum=5), N, "#/exclusiveMaximum", True, True),
    ("EXCLUSIVE_MAXIMUM_INCREASED", num(exclusiveMaximum=5), num(exclusiveMaximum=9), "#/exclusiveMaximum",
     True, True),
    ("EXCLUSIVE_MAXIMUM_DECREASED", num(exclusiveMaximum=9), num(exclusiveMaximum=5), "#/exclusiveMaximum",
     False, False),
    ("EXCLUSIVE_MINIMUM_ADDED", N, num(exclusiveMinimum=5), "#/exclusiveMinimum", False, False),
    ("EXCLUSIVE_MINIMUM_REMOVED", num(exclusiveMinimum=5), N, "#/exclusiveMinimum", True, True),
    ("EXCLUSIVE_MINIMUM_INCREASED", num(exclusiveMinimum=5), num(exclusiveMinimum=9), "#/exclusiveMinimum",
     False, False),
    ("EXCLUSIVE_MINIMUM_DECREASED", num(exclusiveMinimum=9), num(exclusiveMinimum=5), "#/exclusiveMinimum",
     True, True),
    ("MULTIPLE_OF_ADDED", N, num(multipleOf=2), "#/multipleOf", False, False),
    ("MULTIPLE_OF_REMOVED", num(multipleOf=2), N, "#/multipleOf", True, True),
    ("MULTIPLE_OF_EXPANDED", num(multipleOf=2), num(multipleOf=4), "#/multipleOf", False, False),
    ("MULTIPLE_OF_REDUCED", num(multipleOf=4), num(multipleOf=2), "#/multipleOf", True, True),
    ("MULTIPLE_OF_CHANGED", num(multipleOf=3), num(multipleOf=5), "#/multipleOf", False, False),
    ("REQUIRED_ATTRIBUTE_ADDED", obj({"a": S}), obj({"a": S}, required=["a"]), "#/required/a", False, False),
    ("REQUIRED_ATTRIBUTE_WITH_DEFAULT_ADDED", obj({"a": S}), obj({"a": string(default="x")}, required=["a"]),
     "#/required/a", True, True),
    ("REQUIRED_ATTRIBUTE_REMOVED", obj({"a": S}, required=["a"]), obj({"a": S}), "#/required/a", True, True),
    ("MAX_PROPERTIES_ADDED", obj(), obj(maxProperties=3), "#/maxProperties", False, False),
    ("MAX_PROPERTIES_REMOVED", obj(maxProperties=3), obj(), "#/maxProperties", True, True),
    ("MAX_PROPERTIES_INCREASED", obj(maxProperties=3), obj(maxProperties=5), "#/maxProperties", True, True),
    ("MAX_PROPERTIES_DECREASED", obj(maxProperties=5), obj(maxProperties=3), "#/maxProperties", False, False),
    ("MIN_PROPERTIES_ADDED", obj(), obj(minProperties=3), "#/minProperties", False, False),
    ("MIN_PROPERTIES_REMOVED", obj(minProperties=3), obj(), "#/minProperties", True, True),
    ("MIN_PROPERTIES_INCREASED", obj(minProperties=3), obj(minProperties=5), "#/minProperties", False, False),
    ("MIN_PROPERTIES_DECREASED", obj(minProperties=5), obj(minProperties=3), "#/minProperties", True, True),
    ("ADDITIONAL_PROPERTIES_ADDED", obj(additionalProperties=False), obj(), "#/additionalProperties", True, True),
    ("ADDITIONAL_PROPERTIES_REMOVED", obj(), obj(additionalProperties=False), "#/additionalProperties",
     False, True),
    ("ADDITIONAL_PROPERTIES_EXTENDED", obj(additionalProperties=S), obj(), "#/additionalProperties", True, True),
    ("ADDITIONAL_PROPERTIES_NARROWED", obj(), obj(additionalProperties=S), "#/additionalProperties",
     False, True),
    ("DEPENDENCY_ARRAY_ADDED", obj(), obj(dependencies={"a": ["b"]}), "#/dependencies/a", False, False),
    ("DEPENDENCY_ARRAY_REMOVED", obj(dependencies={"a": ["b"]}), obj(), "#/dependencies/a", True, True),
    ("DEPENDENCY_ARRAY_EXTENDED", obj(dependencies={"a": ["b"]}), obj(dependencies={"a": ["b", "c"]}),
     "#/dependencies/a", False, False),
    ("DEPENDENCY_ARRAY_NARROWED", obj(dependencies={"a": ["b", "c"]}), obj(dependencies={"a": ["b"]}),
     "#/dependencies/a", True, True),
    ("DEPENDENCY_ARRAY_CHANGED", obj(dependencies={"a": ["b"]}), obj(dependencies={"a": ["c"]}),
     "#/dependencies/a", False, False),
    ("DEPENDENCY_SCHEMA_ADDED", obj(), obj(dependencies={"a": {"required": ["b"]}}), "#/dependencies/a",
     False, False),
    ("DEPENDENCY_SCHEMA_REMOVED", obj(dependencies={"a": {"required": ["b"]}}), obj(), "#/dependencies/a",
     True, True),
    ("REQUIRED_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL", obj(), obj({"b": S}, required=["b"]), "#/properties/b",
     False, False),
    ("REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_OPEN_CONTENT_MODEL", obj(),
     obj({"b": string(default="x")}, required=["b"]), "#/properties/b", False, True),
    ("OPTIONAL_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL", obj(), obj({"b": S}), "#/properties/b", False, True),
    ("PROPERTY_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL", obj(), obj({"b": {}}), "#/properties/b",
     True, True),
    ("REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL", obj(additionalProperties=False),
     obj({"b": S}, required=["b"], additionalProperties=False), "#/properties/b", False, False),
    ("REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_UNOPEN_CONTENT_MODEL", obj(additionalProperties=False),
     obj({"b": string(default="x")}, required=["b"], additionalProperties=False), "#/properties/b", True, True),
    ("OPTIONAL_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL", obj(additionalProperties=False),
     obj({"b": S}, additionalProperties=False), "#/properties/b", True, True),
    ("PROPERTY_REMOVED_FROM_OPEN_CONTENT_MODEL", obj({"a": S}), obj(), "#/properties/a", True, True),
    ("PROPERTY_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL", obj({"a": False}, additionalProperties=False),
     obj(additionalProperties=False), "#/properties/a", True, True),
    ("PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL", obj({"a": S}, additionalProperties=False),
     obj(additionalProperties=False), "#/properties/a", False, True),
    ("PROPERTY_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", obj({"a": S}, additionalProperties=S),
     obj(additionalProperties=S), "#/properties/a", True, True),
    ("PROPERTY_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", obj({"a": S}, additionalProperties=N),
     obj(additionalProperties=N), "#/properties/a", False, True),
    ("PROPERTY_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", obj(additionalProperties=S),
     obj({"b": S}, additionalProperties=S), "#/properties/b", True, True),
    ("PROPERTY_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", obj(additionalProperties=S),
     obj({"b": N}, additionalProperties=S), "#/properties/b", False, True),
    ("RESERVED_PROPERTY_REMOVED", obj(**{"confluent:reserved": "a,b"}), obj(**{"confluent:reserved": "b"}),
     "#/properties/a", False, False),
    ("RESERVED_PROPERTY_CONFLICTS_WITH_PROPERTY", obj({"a": S}, **{"confluent:reserved": "a"}),
     obj({"a": S}, **{"confluent:reserved": "a"}), "#/properties/a", False, False),
    ("UNEVALUATED_PROPERTIES_ADDED", obj(unevaluatedProperties=False), obj(), "#/unevaluatedProperties",
     True, True),
    ("UNEVALUATED_PROPERTIES_REMOVED", obj(), obj(unevaluatedProperties=False), "#/unevaluatedProperties",
     False, True),
    ("UNEVALUATED_PROPERTIES_EXTENDED", obj(unevaluatedProperties=S), obj(), "#/unevaluatedProperties",
     True, True),
    ("UNEVALUATED_PROPERTIES_NARROWED", obj(), obj(unevaluatedProperties=S), "#/unevaluatedProperties",
     False, True),
    ("MAX_ITEMS_ADDED", arr(), arr(maxItems=3), "#/maxItems", False, False),
    ("MAX_ITEMS_REMOVED", arr(maxItems=3), arr(), "#/maxItems", True, True),
    ("MAX_ITEMS_INCREASED", arr(maxItems=3), arr(maxItems=5), "#/maxItems", True, True),
    ("MAX_ITEMS_DECREASED", arr(maxItems=5), arr(maxItems=3), "#/maxItems", False, False),
    ("MIN_ITEMS_ADDED", arr(), arr(minItems=3), "#/minItems", False, False),
    ("MIN_ITEMS_REMOVED", arr(minItems=3), arr(), "#/minItems", True, True),
    ("MIN_ITEMS_INCREASED", arr(minItems=3), arr(minItems=5), "#/minItems", False, False),
    ("MIN_ITEMS_DECREASED", arr(minItems=5), arr(minItems=3), "#/minItems", True, True),
    ("MAX_CONTAINS_ADDED", arr(contains=S), arr(contains=S, maxContains=3), "#/maxContains", False, False),
    ("MAX_CONTAINS_REMOVED", arr(contains=S, maxContains=3), arr(contains=S), "#/maxContains", True, True),
    ("MAX_CONTAINS_INCREASED", arr(contains=S, maxContains=3), arr(contains=S, maxContains=5), "#/maxContains",
     True, True),
    ("MAX_CONTAINS_DECREASED", arr(contains=S, maxContains=5), arr(contains=S, maxContains=3), "#/maxContains",
     False, False),
    ("MIN_CONTAINS_ADDED", arr(contains=S), arr(contains=S, minContains=3), "#/minContains", False, False),
    ("MIN_CONTAINS_REMOVED", arr(contains=S, minContains=3), arr(contains=S), "#/minContains", True, True),
    ("MIN_CONTAINS_INCREASED", arr(contains=S, minContains=3), arr(contains=S, minContains=5), "#/minContains",
     False, False),
    ("MIN_CONTAINS_DECREASED", arr(contains=S, minContains=5), arr(contains=S, minContains=3), "#/minContains",
     True, True),
    ("UNIQUE_ITEMS_ADDED", arr(), arr(uniqueItems=True), "#/uniqueItems", False, False),
    ("UNIQUE_ITEMS_REMOVED", arr(uniqueItems=True), arr(), "#/uniqueItems", True, True),
    ("ADDITIONAL_ITEMS_ADDED", arr(items=[S], additionalItems=False), arr(items=[S]), "#/additionalItems",
     True, True),
    ("ADDITIONAL_ITEMS_REMOVED", arr(items=[S]), arr(items=[S], additionalItems=False), "#/additionalItems",
     False, False),
    ("ADDITIONAL_ITEMS_EXTENDED", arr(items=[S], additionalItems=S), arr(items=[S]), "#/additionalItems",
     True, True),
    ("ADDITIONAL_ITEMS_NARROWED", arr(items=[S]), arr(items=[S], additionalItems=S), "#/additionalItems",
     False, False),
    ("UNEVALUATED_ITEMS_ADDED", arr(unevaluatedItems=False), arr(), "#/unevaluatedItems", True, True),
    ("UNEVALUATED_ITEMS_REMOVED", arr(), arr(unevaluatedItems=False), "#/unevaluatedItems", False, False),
    ("UNEVALUATED_ITEMS_EXTENDED", arr(unevaluatedItems=S), arr(), "#/unevaluatedItems", True, True),
    ("UNEVALUATED_ITEMS_NARROWED", arr(), arr(unevaluatedItems=S), "#/unevaluatedItems", False, False),
    ("ITEM_ADDED_TO_OPEN_CONTENT_MODEL", arr(items=[S]), arr(items=[S, N]), "#/items/1", False, False),
    ("ITEM_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL", arr(items=[S]), arr(items=[S, {}]), "#/items/1",
     True, True),
    ("ITEM_ADDED_TO_CLOSED_CONTENT_MODEL", arr(items=[S], additionalItems=False),
     arr(items=[S, N], additionalItems=False), "#/items/1", True, True),
    ("ITEM_REMOVED_FROM_OPEN_CONTENT_MODEL", arr(items=[S, N]), arr(items=[S]), "#/items/1", True, True),
    ("ITEM_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL", arr(items=[S, False], additionalItems=False),
     arr(items=[S], additionalItems=False), "#/items/1", True, True),
    ("ITEM_REMOVED_FROM_CLOSED_CONTENT_MODEL", arr(items=[S, N], additionalItems=False),
     arr(items=[S], additionalItems=False), "#/items/1", False, False),
    ("ITEM_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", arr(items=[S, S], additionalItems=S),
     arr(items=[S], additionalItems=S), "#/items/1", True, True),
    ("ITEM_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", arr(items=[S, N], additionalItems=S),
     arr(items=[S], additionalItems=S), "#/items/1", False, False),
    ("ITEM_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", arr(items=[S], additionalItems=S),
     arr(items=[S, S], additionalItems=S), "#/items/1", True, True),
    ("ITEM_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", arr(items=[S], additionalItems=S),
     arr(items=[S, N], additionalItems=S), "#/items/1", False, False),
    ("ENUM_ARRAY_EXTENDED", {"enum": ["a"]}, {"enum": ["a", "b"]}, "#/enum", True, True),
    ("ENUM_ARRAY_NARROWED", {"enum": ["a", "b"]}, {"enum": ["a"]}, "#/enum", False, False),
    ("ENUM_ARRAY_CHANGED", {"enum": ["a"]}, {"enum": ["b"]}, "#/enum", False, False),
    ("COMBINED_TYPE_EXTENDED", {"oneOf": [S, N]}, {"anyOf": [S, N]}, "#", True, True),
    ("COMBINED_TYPE_CHANGED", {"anyOf": [S, N]}, {"allOf": [S, N]}, "#", False, False),
    ("PRODUCT_TYPE_EXTENDED", {"allOf": [S, string(minLength=1)]},
     {"allOf": [S, string(minLength=1), string(maxLength=9)]}, "#", False, False),
    ("PRODUCT_TYPE_NARROWED", {"allOf": [S, string(minLength=1), string(maxLength=9)]},
     {"allOf": [S, string(minLength=1)]}, "#", True, True),
    ("SUM_TYPE_EXTENDED", {"anyOf": [S, N]}, {"anyOf": [S, N, B]}, "#", True, True),
    ("SUM_TYPE_NARROWED", {"anyOf": [S, N, B]}, {"anyOf": [S, N]}, "#", False, False),
    ("COMBINED_TYPE_SUBSCHEMAS_CHANGED", {"anyOf": [S, N]}, {"anyOf": [S, B]}, "#/anyOf", False, False),
    ("NOT_TYPE_EXTENDED", {"not": string(maxLength=5)}, {"not": string(maxLength=9)}, "#/not", False, False),
    ("NOT_TYPE_NARROWED", {"not": string(maxLength=9)}, {"not": string(maxLength=5)}, "#/not", True, True),
]

# Engine extensions (keywords Confluent ignores), same principle.
EXTENSION_CASES = [
    ("FORMAT_ADDED", S, string(format="date"), "#/format", False, False),
    ("FORMAT_REMOVED", string(format="date"), S, "#/format", True, True),
    ("FORMAT_CHANGED", string(format="date"), string(format="email"), "#/format", False, False),
    ("CONTENT_ENCODING_ADDED", S, string(contentEncoding="base64"), "#/contentEncoding", False, False),
    ("CONTENT_ENCODING_REMOVED", string(contentEncoding="base64"), S, "#/contentEncoding", True, True),
    ("CONTENT_ENCODING_CHANGED", string(contentEncoding="base64"), string(contentEncoding="7bit"),
     "#/contentEncoding", False, False),
    ("CONTENT_MEDIA_TYPE_ADDED", S, string(contentMediaType="image/png"), "#/contentMediaType", False, False),
    ("CONTENT_MEDIA_TYPE_REMOVED", string(contentMediaType="image/png"), S, "#/contentMediaType", True, True),
    ("CONTENT_MEDIA_TYPE_CHANGED", string(contentMediaType="image/png"), string(contentMediaType="image/gif"),
     "#/contentMediaType", False, False),
    ("CONDITIONAL_ADDED", {"then": S}, {"if": N, "then": S}, "#/if", False, False),
    ("CONDITIONAL_REMOVED", {"if": N, "then": S}, {"then": S}, "#/if", True, True),
    ("CONDITION_CHANGED", {"if": N, "then": S}, {"if": B, "then": S}, "#/if", False, False),
    ("REFERENCE_UNRESOLVED", {"$ref": "other.json#/a"}, {"$ref": "other.json#/b"}, "#/$ref", False, False),
]


def _run(old, new, policy):
    return check(new=new, previous=[old], level="BACKWARD", policy=policy)


@pytest.mark.parametrize("policy", ["STRICT", "LENIENT"])
@pytest.mark.parametrize(
    "ftype,old,new,path,strict,lenient", CASES + EXTENSION_CASES, ids=[c[0] for c in CASES + EXTENSION_CASES]
)
def test_change_type(policy, ftype, old, new, path, strict, lenient):
    report = _run(old, new, policy)
    matching = [f for f in report.findings if f.type == ftype]
    assert matching, f"{ftype} not reported; got {[(f.type, f.path) for f in report.findings]}"
    finding = matching[0]
    expected = strict if policy == "STRICT" else lenient
    assert finding.path == path
    assert finding.compatible is expected
    assert finding.direction == "BACKWARD"
    assert finding.against_version == 1
    assert finding.message and finding.message.endswith(".")
    if not expected:
        assert report.compatible is False
    # the report is compatible exactly when every finding is
    assert report.compatible is all(f.compatible for f in report.findings)


def test_every_type_of_the_rules_table_has_a_case():
    covered = {c[0] for c in CASES} | {"PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL"}  # coarse alias, see below
    assert covered == set(CONFLUENT_TYPES)
    assert {c[0] for c in EXTENSION_CASES} == set(EXTENSION_TYPES)


def test_rules_table_matches_compat_rules_md():
    """rules.py mirrors the table of shared/compat-rules.md (when the file is at hand)."""
    candidates = [Path(os.environ["SHARED_DIR"])] if os.environ.get("SHARED_DIR") else []
    candidates += [REPO_ROOT.parent / "shared", Path("/work/shared")]
    md = next((c / "compat-rules.md" for c in candidates if (c / "compat-rules.md").is_file()), None)
    if md is None:
        pytest.skip("compat-rules.md not available")
    table = {}
    for line in md.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].isupper() and cells[1] in ("yes", "no"):
            table[cells[0]] = (cells[1] == "yes", cells[2] == "yes")
    assert table == CONFLUENT_TYPES
    case_verdicts = {c[0]: (c[4], c[5]) for c in CASES}
    for name, verdicts in case_verdicts.items():
        assert table[name] == verdicts, name


def test_property_added_to_open_model_is_reported_with_the_finer_name():
    report = _run(obj(), obj({"b": S}), "STRICT")
    types = [f.type for f in report.findings]
    assert "OPTIONAL_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL" in types
    assert "PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL" not in types
    assert report.compatible is False


def test_lenient_accepts_optional_property_add_and_remove_whatever_the_model():
    for old, new in ((obj(), obj({"b": S})), (obj({"a": S}, additionalProperties=False),
                                             obj(additionalProperties=False))):
        assert _run(old, new, "STRICT").compatible is False
        assert _run(old, new, "LENIENT").compatible is True


def test_lenient_still_refuses_a_required_property_without_default():
    report = _run(obj(), obj({"b": S}, required=["b"]), "LENIENT")
    assert report.compatible is False


def test_forward_swaps_the_roles():
    old, new = string(maxLength=5), string(maxLength=9)
    report = check(new=new, previous=[old], level="FORWARD")
    assert report.compatible is False
    assert [(f.type, f.direction) for f in report.findings] == [("MAX_LENGTH_DECREASED", "FORWARD")]


def test_messages_name_the_path():
    report = _run(obj({"name": string(maxLength=9)}), obj({"name": string(maxLength=5)}), "STRICT")
    (finding,) = report.findings
    assert finding.path == "#/properties/name/maxLength"
    assert "#/properties/name/maxLength" in finding.message
    assert "breaks" in finding.message


@pytest.mark.parametrize("old,new,expected", [
    (string(enum=["draft", "sent", "paid"]), string(enum=["draft", "sent"]), [("ENUM_ARRAY_NARROWED", "#/enum")]),
    (obj({"status": string(enum=["a", "b"])}), obj({"status": string(enum=["a"])}),
     [("ENUM_ARRAY_NARROWED", "#/properties/status/enum")]),
    (string(enum=["ab", "abc"], maxLength=3), string(enum=["ab"], maxLength=2),
     [("ENUM_ARRAY_NARROWED", "#/enum"), ("MAX_LENGTH_DECREASED", "#/maxLength")]),
])
def test_one_finding_per_change_an_enum_narrowed_in_place_has_no_combinator_finding(old, new, expected):
    # {"type": "string", "enum": [...]} is read as an implicit allOf of its parts; no combinator
    # was written, so narrowing the enum is one ENUM_ARRAY_NARROWED, not also
    # COMBINED_TYPE_SUBSCHEMAS_CHANGED.
    report = check(new=new, previous=[old], level="BACKWARD")
    assert report.compatible is False
    assert sorted((f.type, f.path) for f in report.findings) == expected


def test_a_written_combinator_whose_member_narrows_still_says_so():
    old = {"oneOf": [string(enum=["a", "b"]), {"type": "integer"}]}
    new = {"oneOf": [string(enum=["a"]), {"type": "integer"}]}
    found = {(f.type, f.path) for f in check(new=new, previous=[old]).findings}
    assert found == {("COMBINED_TYPE_SUBSCHEMAS_CHANGED", "#/oneOf"), ("ENUM_ARRAY_NARROWED", "#/oneOf/0/enum")}


@pytest.mark.parametrize("keyword, schema_uri, finding", [
    # Without $schema a document reads as draft-07, where dependentRequired is not a keyword.
    ("dependentRequired", None, None),
    ("dependentRequired", "https://json-schema.org/draft/2020-12/schema", "DEPENDENCY_ARRAY_ADDED"),
    ("dependencies", None, "DEPENDENCY_ARRAY_ADDED"),
    # 2020-12 dropped `dependencies`: a validator of that draft ignores it.
    ("dependencies", "https://json-schema.org/draft/2020-12/schema", None),
])
def test_dependency_keywords_count_only_in_the_draft_that_validates_them(keyword, schema_uri, finding):
    head = {"$schema": schema_uri} if schema_uri else {}
    old = {**head, **obj({"a": {"type": "string"}, "b": {"type": "string"}})}
    new = {**old, keyword: {"a": ["b"]}}
    validator = jsonschema.validators.validator_for(new, default=jsonschema.Draft7Validator)
    refuses = not validator(new).is_valid({"a": "x"})
    types = {c.type for c in check(new=new, previous=[old], level="BACKWARD", policy="STRICT").findings}
    assert refuses == (finding is not None)
    assert (finding in types) if finding else not any(t.startswith("DEPENDENCY") for t in types)
