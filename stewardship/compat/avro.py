"""Avro schemas: parsing and the Parsing Canonical Form.

``parse(text)`` reads an Avro schema (JSON text) with fastavro and raises ``ValueError`` with a
plain sentence when it is not one; ``canonical(text)`` gives the schema's Parsing Canonical Form
(Avro specification, "Parsing Canonical Form for Schemas"), the form two equal schemas share.
"""

from __future__ import annotations

import io
import json
import re

import fastavro
from fastavro.schema import SchemaParseException, UnknownType, to_parsing_canonical_form

from .types import json_path

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")


def _load(text):
    if not isinstance(text, str | bytes):
        return text  # already parsed JSON (a stored document)
    if isinstance(text, str) and _NAME.match(text.strip()):
        return text.strip()  # a bare type name such as null or int (a stored JSON string)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"The Avro schema is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno}).") from exc


def parse(text: str):
    """The fastavro-parsed schema of ``text``; ``ValueError`` when it is not a valid Avro schema."""
    return parse_named(text)[0]


def parse_named(text):
    """``(parsed schema, {full name: definition})``; named types are referenced by full name."""
    named: dict = {}
    raw = _load(text)
    if not isinstance(raw, dict | list | str):
        raise ValueError("An Avro schema is a JSON object, array (a union) or type name string.")
    try:
        parsed = fastavro.parse_schema(raw, named_schemas=named, _write_hint=False)
    except UnknownType as exc:
        name = exc.name.get("type") if isinstance(exc.name, dict) else exc.name
        raise ValueError(f"This is not a valid Avro schema: unknown type {name!r}.") from exc
    except (SchemaParseException, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise ValueError(f"This is not a valid Avro schema: {exc}") from exc
    return parsed, named


def canonical(text: str) -> str:
    """The Parsing Canonical Form of the Avro schema ``text``."""
    return to_parsing_canonical_form(parse(text))


# -- payloads in Avro's JSON encoding ---------------------------------------------------------------

_INT_RANGE = {"int": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}
_JSON_KIND = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}


def _what(value) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return _JSON_KIND.get(type(value), type(value).__name__)


def _branch_name(branch, named) -> str:
    """The key Avro's JSON encoding uses for a union branch: the type name (full name if named)."""
    if isinstance(branch, str):
        return branch
    kind = branch["type"]
    if isinstance(kind, str) and kind in named and kind not in ("record", "enum", "fixed", "error"):
        return kind
    return branch.get("name") or kind


class _PayloadChecker:
    def __init__(self, named, limit):
        self.named, self.limit, self.errors = named, limit, []

    def error(self, path, message):
        if len(self.errors) < self.limit:
            self.errors.append({"path": path, "message": message})

    def check(self, schema, value, path):
        if len(self.errors) >= self.limit:
            return
        while isinstance(schema, str) and schema in self.named:
            schema = self.named[schema]
        if isinstance(schema, dict) and not isinstance(schema["type"], str):
            schema = schema["type"]
        if isinstance(schema, list):
            return self.union(schema, value, path)
        kind = schema if isinstance(schema, str) else schema["type"]
        if kind in self.named:
            return self.check(self.named[kind], value, path)
        if kind == "null":
            if value is not None:
                self.error(path, f"Expected null, got {_what(value)}.")
        elif kind == "boolean":
            if not isinstance(value, bool):
                self.error(path, f"Expected true or false, got {_what(value)}.")
        elif kind in ("int", "long"):
            low, high = _INT_RANGE[kind]
            if isinstance(value, bool) or not isinstance(value, int):
                self.error(path, f"Expected a whole number ({kind}), got {_what(value)}.")
            elif not low <= value <= high:
                self.error(path, f"{value} is out of range for an Avro {kind}.")
        elif kind in ("float", "double"):
            if isinstance(value, bool) or not isinstance(value, int | float):
                self.error(path, f"Expected a number ({kind}), got {_what(value)}.")
        elif kind == "string":
            if not isinstance(value, str):
                self.error(path, f"Expected a string, got {_what(value)}.")
        elif kind in ("bytes", "fixed"):
            if not isinstance(value, str) or any(ord(c) > 255 for c in value):
                self.error(path, f"Expected {kind} as a string of code points 0-255 (Avro's JSON "
                                 f"encoding of {kind}), got {_what(value)}.")
            elif kind == "fixed" and len(value) != schema["size"]:
                self.error(path, f"Expected exactly {schema['size']} bytes, got {len(value)}.")
        elif kind == "enum":
            if value not in schema["symbols"]:
                shown = ", ".join(schema["symbols"][:10])
                self.error(path, f"{value!r} is not a symbol of {schema['name']} (one of {shown}).")
        elif kind == "array":
            if not isinstance(value, list):
                self.error(path, f"Expected an array, got {_what(value)}.")
            else:
                for i, item in enumerate(value):
                    self.check(schema["items"], item, f"{path}[{i}]")
        elif kind == "map":
            if not isinstance(value, dict):
                self.error(path, f"Expected an object (an Avro map), got {_what(value)}.")
            else:
                for key, item in value.items():
                    self.check(schema["values"], item, _member(path, key))
        elif kind in ("record", "error"):
            self.record(schema, value, path)

    def record(self, schema, value, path):
        if not isinstance(value, dict):
            self.error(path, f"Expected an object (the record {schema['name']}), got {_what(value)}.")
            return
        known = set()
        for field in schema["fields"]:
            known.add(field["name"])
            where = _member(path, field["name"])
            if field["name"] in value:
                self.check(field["type"], value[field["name"]], where)
            elif "default" not in field:
                self.error(where, f"The field {field['name']} is required (it has no default).")
        for extra in sorted(set(value) - known):
            self.error(_member(path, extra), f"{schema['name']} has no field {extra}.")

    def union(self, branches, value, path):
        names = [_branch_name(b, self.named) for b in branches]
        if value is None:
            if "null" not in names:
                self.error(path, f"null is not allowed here (the union is {' | '.join(names)}).")
            return
        if not isinstance(value, dict) or len(value) != 1:
            self.error(path, "A union value other than null is written as an object with one key, the "
                             f"branch's type name ({' | '.join(n for n in names if n != 'null')}), "
                             f"e.g. {{\"{next((n for n in names if n != 'null'), 'string')}\": ...}}.")
            return
        (name, inner), = value.items()
        if name not in names:
            self.error(path, f"{name!r} is not a branch of the union ({' | '.join(names)}).")
            return
        self.check(branches[names.index(name)], inner, _member(path, name))


def _member(path, key) -> str:
    return path + json_path([key])[1:]


class PayloadValidator:
    """Checks payloads in Avro's JSON encoding against one schema, parsed once."""

    def __init__(self, document):
        self.schema, self.named = parse_named(document)
        self._decoding = fastavro.parse_schema(_load(document))  # with fastavro's own hints

    def errors(self, payload, limit: int = 100) -> list[dict]:
        checker = _PayloadChecker(self.named, limit)
        checker.check(self.schema, payload, "$")
        if checker.errors:
            return checker.errors
        try:  # the reference decoder has the last word (logical types, anything missed above)
            next(iter(fastavro.json_reader(io.StringIO(json.dumps(payload)), self._decoding)))
        except Exception as exc:  # noqa: BLE001 - fastavro raises assorted types on bad input
            return [{"path": "$", "message": f"fastavro cannot decode this payload: {exc}"}]
        return []


def payload_errors(document, payload, limit: int = 100) -> list[dict]:
    """Errors of ``payload`` (a value in Avro's JSON encoding) against the Avro schema
    ``document``, as ``[{"path", "message"}]``; ``[]`` when fastavro's JSON reader decodes it."""
    return PayloadValidator(document).errors(payload, limit)
