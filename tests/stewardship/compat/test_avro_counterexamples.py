"""Avro findings show a record the old schema writes and the new one cannot read; each is
checked here again with fastavro: written by the writer, refused by the reader."""

import io

import fastavro
import pytest

from stewardship.compat import check
from stewardship.compat.counterexamples import annotate

OLD = {"type": "record", "name": "Invoice", "namespace": "fin", "fields": [
    {"name": "number", "type": "string"},
    {"name": "status", "type": {"type": "enum", "name": "Status", "symbols": ["DRAFT", "POSTED", "VOID"]}},
    {"name": "memo", "type": ["null", "string"], "default": None},
    {"name": "amount", "type": "long"}]}
F = OLD["fields"]
CASES = {
    "READER_FIELD_MISSING_DEFAULT_VALUE": {**OLD, "fields": [*F, {"name": "tax", "type": "string"}]},
    "MISSING_ENUM_SYMBOLS": {**OLD, "fields": [F[0], {"name": "status", "type": {
        "type": "enum", "name": "Status", "symbols": ["DRAFT", "POSTED"]}}, F[2], F[3]]},
    "TYPE_MISMATCH": {**OLD, "fields": [*F[:3], {"name": "amount", "type": "int"}]},
}


def _from_json_encoding(schema, document):
    parsed = fastavro.parse_schema(schema)
    return next(fastavro.json_reader(io.StringIO(__import__("json").dumps(document)), parsed))


@pytest.mark.parametrize("change", sorted(CASES))
def test_each_avro_counterexample_is_written_by_old_and_refused_by_new(change):
    new = CASES[change]
    report = check(new=new, previous=[OLD], level="BACKWARD", fmt="avro", previous_versions=[1]).to_dict()
    annotate(report, new=new, previous_by_number={1: OLD}, fmt="avro")
    (finding,) = [f for f in report["findings"] if not f["compatible"]]
    assert finding["type"] == change
    example = finding["counterexample"]
    assert example["found"], example
    datum = _from_json_encoding(OLD, example["document"])  # shown in Avro's JSON encoding
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, fastavro.parse_schema(OLD), datum)
    buffer.seek(0)
    with pytest.raises(Exception):  # noqa: B017 - fastavro raises several kinds on a failed resolution
        fastavro.schemaless_reader(buffer, fastavro.parse_schema(OLD), fastavro.parse_schema(new))
    assert example["refused_because"]


def test_the_enum_counterexample_carries_the_dropped_symbol():
    new = CASES["MISSING_ENUM_SYMBOLS"]
    report = check(new=new, previous=[OLD], level="BACKWARD", fmt="avro", previous_versions=[1]).to_dict()
    annotate(report, new=new, previous_by_number={1: OLD}, fmt="avro")
    (finding,) = [f for f in report["findings"] if not f["compatible"]]
    assert finding["counterexample"]["document"]["status"] == "VOID"
