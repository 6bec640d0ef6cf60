"""Avro compatibility (schema resolution), canonical form, schema and payload validation.

The conformance cases are Apache Avro's own (tests/stewardship/compat/avro_conformance/, copied
as data from apache/avro lang/py/avro/test/test_compatibility.py under the Apache License 2.0)."""

import json
import pathlib

import pytest

from stewardship.compat import check, validate_schema
from stewardship.compat.avro import canonical, parse, payload_errors
from stewardship.compat.avro_diff import compare

DATA = pathlib.Path(__file__).parent / "avro_conformance" / "apache_avro_py_compatibility.json"
# (apache_avro_java_compatibility.json beside it: the Java TestSchemaCompatibility* cases)
CASES = json.loads(DATA.read_text())["cases"]


def _breaking(findings):
    return sorted({(t, p) for t, p, ok, _ in findings if not ok})


@pytest.mark.parametrize("case", CASES, ids=[f"{i}-{c['test'][5:]}" for i, c in enumerate(CASES)])
def test_apache_avro_compatibility_case(case):
    findings = compare(case["writer"], case["reader"])
    breaking = _breaking(findings)
    assert (not breaking) is case["compatible"], findings
    if not case["compatible"]:
        assert sorted({t for t, _ in breaking}) == case["incompatibilities"]
        # Avro's merge() keeps the root "/" next to the real location; we report the real one.
        expected = {("#" + loc if loc != "/" else "#") for loc in case["locations"]}
        if len(expected) > 1:
            expected.discard("#")
        assert {p for _, p in breaking} == expected
    assert all(m.endswith(".") and len(m) > 20 for *_, m in findings)


JAVA = json.loads((DATA.parent / "apache_avro_java_compatibility.json").read_text())["cases"]
# Where we deliberately differ from a Java case, the pointer differs only in spelling:
# Java's decimal location "/scaleOrPrecision" is not a place in the schema; we name the keyword.
_JAVA_DECIMAL = {"#/scaleOrPrecision": {"#/scale", "#/precision"}}


@pytest.mark.parametrize("case", JAVA, ids=[c["test"] for c in JAVA])
def test_apache_avro_java_compatibility_case(case):
    found = _breaking(compare(case["writer"], case["reader"]))
    expected = [tuple(x) for x in case["incompatibilities"] if x not in case.get("not_in_current_avro", [])]
    assert len(found) == len(expected)
    for (etype, eloc), (ftype, floc) in zip(sorted(expected), sorted(found), strict=True):
        assert etype == ftype
        assert floc in _JAVA_DECIMAL.get("#" + eloc, {"#" + eloc})


def _record(*fields, name="Invoice", **extra):
    return {"type": "record", "name": name, "namespace": "billing", "fields": list(fields), **extra}


def test_adding_a_field_needs_a_default_backward_and_removing_one_needs_it_forward():
    v1 = _record({"name": "id", "type": "long"})
    v2 = _record({"name": "id", "type": "long"}, {"name": "memo", "type": "string"})
    report = check(new=v2, previous=[v1], level="BACKWARD", fmt="avro")
    assert not report.compatible
    (f,) = report.breaking
    assert (f.type, f.path) == ("READER_FIELD_MISSING_DEFAULT_VALUE", "#/fields/1")
    assert "memo" in f.message
    assert check(new=v2, previous=[v1], level="FORWARD", fmt="avro").compatible
    v2d = _record({"name": "id", "type": "long"}, {"name": "memo", "type": "string", "default": ""})
    assert check(new=v2d, previous=[v1], level="FULL", fmt="avro").compatible
    # removing the defaulted field later is fine FULL; transitive levels check every version
    v3 = _record({"name": "id", "type": "long"}, {"name": "memo", "type": "int", "default": 0})
    assert check(new=v3, previous=[v1], level="FULL", fmt="avro").compatible
    report = check(new=v3, previous=[v1, v2d], level="FULL_TRANSITIVE", fmt="avro")
    assert not report.compatible and report.breaking[0].type == "TYPE_MISMATCH"
    assert report.breaking[0].against_version == 2
    assert check(new=v3, previous=[v1, v2d], level="NONE", fmt="avro").compatible


def test_promotions_go_one_way():
    for writer, reader in [("int", "long"), ("int", "double"), ("long", "float"), ("float", "double"),
                           ("string", "bytes"), ("bytes", "string")]:
        assert not _breaking(compare(writer, reader)), (writer, reader)
    for writer, reader in [("long", "int"), ("double", "float"), ("string", "int"), ("boolean", "int")]:
        assert _breaking(compare(writer, reader)) == [("TYPE_MISMATCH", "#")], (writer, reader)


def test_enum_default_reads_unknown_symbols_and_aliases_and_namespaces_resolve_names():
    old = {"type": "enum", "name": "Status", "symbols": ["OPEN", "PAID", "VOID"]}
    new = {"type": "enum", "name": "Status", "symbols": ["OPEN", "PAID"]}
    (f,) = compare(old, new)
    assert f[:3] == ("MISSING_ENUM_SYMBOLS", "#/symbols", False) and "VOID" in f[3]
    assert compare(old, {**new, "default": "OPEN"}) == []
    renamed = {"type": "enum", "name": "State", "namespace": "billing", "aliases": ["Status"], "symbols": old["symbols"]}
    assert _breaking(compare({**old, "namespace": "billing"}, renamed)) == []
    assert _breaking(compare(old, renamed)) == [("NAME_MISMATCH", "#/name")]  # alias is billing.Status
    field_renamed = _record({"name": "total", "type": "long", "aliases": ["amount"]})
    assert compare(_record({"name": "amount", "type": "int"}), field_renamed) == []


def test_unions_fixed_and_nested_paths():
    w = _record({"name": "memo", "type": ["null", "string", "int"]})
    r = _record({"name": "memo", "type": ["null", "string"]})
    (f,) = compare(w, r)
    assert f[:3] == ("MISSING_UNION_BRANCH", "#/fields/0/type/2", False) and "int" in f[3]
    assert compare(r, w) == []
    assert _breaking(compare("string", ["null", "string"])) == []
    assert _breaking(compare(["null", "string"], "string")) == [("TYPE_MISMATCH", "#")]
    fx = {"type": "fixed", "name": "Hash", "size": 16}
    assert _breaking(compare(fx, {**fx, "size": 32})) == [("FIXED_SIZE_MISMATCH", "#/size")]


def test_recursive_schemas_terminate_and_a_deep_change_is_found():
    def node(value_type):
        return {"type": "record", "name": "Node", "fields": [
            {"name": "value", "type": value_type},
            {"name": "next", "type": ["null", "Node"], "default": None}]}
    assert compare(node("int"), node("long")) == []
    assert _breaking(compare(node("long"), node("int"))) == [("TYPE_MISMATCH", "#/fields/0/type")]
    assert check(new=node("long"), previous=[node("int")], level="FULL", fmt="avro").compatible is False


def test_a_result_assumed_while_recursing_is_not_reused_once_the_assumption_fails():
    # The reader union tries T first: (T, T) is in progress while (U, U) compares (T, T) again,
    # assumed compatible; then T.n (long read as int) fails. The second branch T2 (an alias of T)
    # reads n, but its c compares (U, U) again: served from the memo it would be "compatible"
    # although U.t holds a T only the failed branch could read. Without the fixpoint the whole
    # check wrongly answered compatible.
    u = {"type": "record", "name": "U", "fields": [{"name": "t", "type": ["null", "T"]}]}
    writer = {"type": "record", "name": "T", "fields": [{"name": "n", "type": "long"}, {"name": "c", "type": ["null", u]}]}
    reader = [
        {"type": "record", "name": "T", "fields": [{"name": "n", "type": "int"}, {"name": "c", "type": ["null", u]}]},
        {"type": "record", "name": "T2", "aliases": ["T"], "fields": [
            {"name": "n", "type": "long"}, {"name": "c", "type": ["null", "U"]}]},
    ]
    assert _breaking(compare(writer, reader)) == [("MISSING_UNION_BRANCH", "#")]


def test_logical_types_decimal_must_match_and_a_changed_meaning_is_strict():
    dec = {"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 2}
    assert _breaking(compare(dec, {**dec, "scale": 3})) == [("DECIMAL_SCALE_OR_PRECISION_MISMATCH", "#/scale")]
    ts = {"type": "long", "logicalType": "timestamp-millis"}
    us = {"type": "long", "logicalType": "timestamp-micros"}
    assert _breaking(compare(ts, us)) == [("LOGICAL_TYPE_CHANGED", "#/logicalType")]
    (f,) = compare(ts, us, policy="LENIENT")
    assert f[2] is True
    assert compare("long", ts) == []  # adding a logical type to a plain long keeps the bytes


def test_canonical_form_validation_and_bad_input():
    a = '{"type": "record", "name": "Invoice", "namespace": "billing", "doc": "x", "fields": [{"name": "id", "type": "long", "default": 1}]}'
    assert canonical(a) == '{"name":"billing.Invoice","type":"record","fields":[{"name":"id","type":"long"}]}'
    assert canonical('"int"') == canonical("int") == '"int"'
    assert validate_schema(json.loads(a), "avro") == []
    (msg,) = validate_schema({"type": "record", "fields": []}, "avro")
    assert "not a valid Avro schema" in msg
    with pytest.raises(ValueError, match="unknown type 'nope'"):
        parse('{"type": "nope"}')
    with pytest.raises(ValueError, match="not valid JSON"):
        parse("{")


def test_payloads_in_avro_json_encoding():
    schema = _record(
        {"name": "id", "type": "long"},
        {"name": "memo", "type": ["null", "string"], "default": None},
        {"name": "status", "type": {"type": "enum", "name": "Status", "symbols": ["OPEN", "PAID"]}},
        {"name": "lines", "type": {"type": "array", "items": "long"}, "default": []},
    )
    assert payload_errors(schema, {"id": 7, "memo": {"string": "hi"}, "status": "OPEN", "lines": [1]}) == []
    assert payload_errors(schema, {"id": 7, "memo": None, "status": "PAID"}) == []
    errors = payload_errors(schema, {"id": "7", "memo": "hi", "status": "LOST", "lines": [1, "x"], "extra": 1})
    assert [e["path"] for e in errors] == ["$.id", "$.memo", "$.status", "$.lines[1]", "$.extra"]
    assert 'e.g. {"string": ...}' in errors[1]["message"]
    assert payload_errors(schema, {"memo": None, "status": "OPEN"}) == [
        {"path": "$.id", "message": "The field id is required (it has no default)."}]
