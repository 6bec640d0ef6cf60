"""Counterexamples for Avro findings: a record the writer schema writes that the reader
schema cannot read, verified with fastavro itself before it is shown.

"Accepted" means the writer schema validates the datum and fastavro encodes it; "refused"
means decoding those bytes with the reader schema fails under Avro's schema resolution (a
missing default, a symbol or union branch the reader lacks, a type it cannot promote, a
fixed of another size...). Candidates are the writer schema's own shapes: a minimal datum,
then one field, enum symbol or union branch varied at a time, nearest the finding's path
first. The datum is shown in Avro's JSON encoding (unions as ``{"type": value}``), which is
what the validate-payload endpoint takes.
"""

from __future__ import annotations

import io
import itertools
import json
import time

import fastavro
from fastavro.validation import validate

from .avro import parse_named

MAX_CANDIDATES = 400
_PRIMITIVE = {"null": None, "boolean": True, "int": 1, "long": 1, "float": 1.5, "double": 1.5, "string": "a",
              "bytes": b"a"}


def _variants(schema, named, depth=0):
    """Datums of ``schema``: the first is minimal, the others vary one choice each."""
    if depth > 12:
        return
    if isinstance(schema, str):
        if schema in _PRIMITIVE:
            yield _PRIMITIVE[schema]
            return
        schema = named.get(schema, schema)
        if isinstance(schema, str):
            return
    if isinstance(schema, list):  # a union: each branch; named ones in fastavro's tuple notation
        for branch in schema:
            name = branch if isinstance(branch, str) and branch in named else (
                branch.get("name") if isinstance(branch, dict) and branch.get("type") in ("record", "enum", "fixed")
                else None)
            for value in itertools.islice(_variants(branch, named, depth + 1), 3):
                yield (name, value) if name else value
        return
    kind = schema.get("type")
    if isinstance(kind, (list, dict)) or (isinstance(kind, str) and kind in named):
        yield from _variants(kind, named, depth + 1)
        return
    if kind == "record" or kind == "error":
        fields = schema.get("fields", [])
        firsts = {f["name"]: next(iter(_variants(f["type"], named, depth + 1)), None) for f in fields}
        yield dict(firsts)
        for field in fields:
            for value in itertools.islice(_variants(field["type"], named, depth + 1), 1, 12):
                yield {**firsts, field["name"]: value}
    elif kind == "enum":
        yield from schema.get("symbols", [])
    elif kind == "fixed":
        yield b"\x00" * int(schema.get("size", 0))
    elif kind == "array":
        yield []
        for item in itertools.islice(_variants(schema.get("items"), named, depth + 1), 6):
            yield [item]
    elif kind == "map":
        yield {}
        for value in itertools.islice(_variants(schema.get("values"), named, depth + 1), 6):
            yield {"k": value}
    elif kind in _PRIMITIVE:
        yield _PRIMITIVE[kind]


def _json_encoding(parsed, datum):
    out = io.StringIO()
    fastavro.json_writer(out, parsed, [datum])
    return json.loads(out.getvalue().splitlines()[0])


def _short(exc) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) <= 200 else text[:199] + "…"


def avro_counterexample(writer, reader, path, ftype, budget):
    """``{"found": True, "document": <Avro JSON>, "refused_because": [...]}`` or
    ``{"found": False, "note": ...}`` (the signature of counterexamples.GENERATORS)."""
    deadline = time.thread_time() + budget
    w_parsed, w_named = parse_named(writer)  # full names, references resolved by name
    r_parsed, _ = parse_named(reader)
    for datum in itertools.islice(_variants(w_parsed, w_named), MAX_CANDIDATES):
        if time.thread_time() > deadline:
            return {"found": False, "note": f"No record was found within the {budget:g} s budget."}
        try:
            if not validate(datum, w_parsed, raise_errors=False):
                continue
            buffer = io.BytesIO()
            fastavro.schemaless_writer(buffer, w_parsed, datum)
        except Exception:  # a candidate the writer cannot encode is no counterexample
            continue
        buffer.seek(0)
        try:
            fastavro.schemaless_reader(buffer, w_parsed, r_parsed)
        except Exception as exc:  # the reader cannot resolve what the writer wrote: shown
            return {"found": True, "document": _json_encoding(w_parsed, datum), "refused_because": [_short(exc)]}
    return {"found": False, "note": "No record was found that one schema writes and the other cannot read."}
