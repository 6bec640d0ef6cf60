"""How the wire API names a schema: its Confluent type, canonical text and fingerprint.

Pure functions (no Django), shared by the publication service, the lookups and the data
migration, so a schema approved in the browser and the same text registered by a client
land on one global id.
"""

import hashlib
import json

# Subject formats the wire serves, and their Confluent ``schemaType``. OpenAPI documents
# are not schemas a serializer can use, so their subjects stay off the wire.
WIRE_TYPES = {"json-schema": "JSON", "avro": "AVRO"}
FORMAT_OF_TYPE = {v: k for k, v in WIRE_TYPES.items()}


def wire_type(fmt: str) -> str | None:
    return WIRE_TYPES.get(fmt)


def schema_errors(document, fmt: str) -> list[str]:
    """Why ``document`` is not a valid schema of ``fmt`` ([] when it is): the compatibility
    package's validator, or for Avro, until that validator knows it, fastavro's parser."""
    from stewardship import compat

    if fmt in compat.FORMATS:
        return list(compat.validate_schema(document, fmt))
    if fmt == "avro":
        from stewardship.compat import avro

        try:
            avro.parse(document)
        except ValueError as exc:
            return [str(exc)]
        return []
    return [f"{fmt} documents are not served on the wire."]


def canonical_text(document) -> str:
    """One text per JSON value whatever its spacing and key order (array order is kept:
    it means something, e.g. Avro field order)."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def normalize_references(references) -> list[dict]:
    return [{"name": str(r["name"]), "subject": str(r["subject"]), "version": int(r["version"])}
            for r in references or []]


def fingerprint(schema_type: str, document, references=()) -> str:
    refs = json.dumps(normalize_references(references), sort_keys=True, separators=(",", ":"))
    text = f"{schema_type}\n{canonical_text(document)}\n{refs}"
    return hashlib.sha256(text.encode()).hexdigest()


def version_fingerprint(fmt: str, document, references=()) -> str:
    """The fingerprint a version of a subject of format ``fmt`` is found by ("" off the wire)."""
    schema_type = wire_type(fmt)
    return fingerprint(schema_type, document, references) if schema_type else ""
