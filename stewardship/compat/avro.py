"""Avro schemas: parsing and the Parsing Canonical Form.

``parse(text)`` reads an Avro schema (JSON text) with fastavro and raises ``ValueError`` with a
plain sentence when it is not one; ``canonical(text)`` gives the schema's Parsing Canonical Form
(Avro specification, "Parsing Canonical Form for Schemas"), the form two equal schemas share.
"""

from __future__ import annotations

import json

import fastavro
from fastavro.schema import SchemaParseException, UnknownType, to_parsing_canonical_form


def parse(text: str):
    """The fastavro-parsed schema of ``text``; ``ValueError`` when it is not a valid Avro schema."""
    try:
        raw = json.loads(text) if isinstance(text, str | bytes) else text
    except json.JSONDecodeError as exc:
        raise ValueError(f"The Avro schema is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno}).") from exc
    if not isinstance(raw, dict | list | str):
        raise ValueError("An Avro schema is a JSON object, array (a union) or type name string.")
    try:
        return fastavro.parse_schema(raw, _write_hint=False)
    except UnknownType as exc:
        raise ValueError(f"This is not a valid Avro schema: unknown type {exc.name!r}.") from exc
    except (SchemaParseException, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise ValueError(f"This is not a valid Avro schema: {exc}") from exc


def canonical(text: str) -> str:
    """The Parsing Canonical Form of the Avro schema ``text``."""
    return to_parsing_canonical_form(parse(text))
