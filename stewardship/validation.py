"""Payload validation against approved schemas, with compiled validators cached.

Approved documents never change, so a validator compiled once per version id stays right
for the life of the process. The cache is bounded (least recently used out).

The validator is jsonschema-rs (Rust) when installed: a 5 KB payload costs about 0.1 ms
against several ms for the pure-Python ``jsonschema`` (see tests/benchmarks/
bench_validation.py), which remains the fallback."""

import threading
from collections import OrderedDict

try:
    import jsonschema_rs
except ImportError:  # pragma: no cover - the pure-Python path is exercised by tests directly
    jsonschema_rs = None

from jsonschema import validators

from .compat import avro
from .compat.types import json_path  # noqa: F401 - re-exported, used here by the validators

_CACHE: OrderedDict = OrderedDict()
_LOCK = threading.Lock()
MAX_CACHED = 512


class _RustValidator:
    def __init__(self, document):
        if isinstance(document, dict) and "$schema" in document:
            self._v = jsonschema_rs.validator_for(document, validate_formats=True)
        else:  # no $schema: draft-07, as Confluent reads it (and compat.validate_schema checks it)
            self._v = jsonschema_rs.Draft7Validator(document, validate_formats=True)

    def errors(self, payload, limit):
        if self._v.is_valid(payload):
            return []
        out = []
        for error in self._v.iter_errors(payload):
            out.append({"path": json_path(error.instance_path), "message": error.message})
            if len(out) >= limit:
                break
        return out


class _PythonValidator:
    def __init__(self, document):
        cls = validators.validator_for(document, default=validators.Draft7Validator)
        self._v = cls(document, format_checker=cls.FORMAT_CHECKER)

    def errors(self, payload, limit):
        out = []
        for error in self._v.iter_errors(payload):
            out.append({"path": error.json_path, "message": error.message})
            if len(out) >= limit:
                break
        return out


def compile_validator(document, engine=None, fmt="json-schema"):
    if fmt == "avro":  # Avro's JSON encoding (unions as {"type": value}, bytes as code points 0-255)
        return avro.PayloadValidator(document)
    engine = engine or ("rust" if jsonschema_rs is not None else "python")
    return _RustValidator(document) if engine == "rust" else _PythonValidator(document)


def _with_references(version_id, document, fmt):
    """The version's document with its Confluent references inlined (a JSON Schema ``$ref``
    to another subject, an Avro type defined in one): one query when it is compiled."""
    from .models import SchemaVersion

    references = SchemaVersion.objects.filter(pk=version_id).values_list("references", flat=True).first()
    if not references:
        return document
    from .registry.selectors import resolved

    return resolved(fmt, document, references)


def compiled_validator(version_id, document, fmt="json-schema"):
    with _LOCK:
        validator = _CACHE.get(version_id)
        if validator is not None:
            _CACHE.move_to_end(version_id)
            return validator
    validator = compile_validator(_with_references(version_id, document, fmt), fmt=fmt)
    with _LOCK:
        _CACHE[version_id] = validator
        while len(_CACHE) > MAX_CACHED:
            _CACHE.popitem(last=False)
    return validator


def validate_payload(version_id, document, payload, limit=100, fmt="json-schema"):
    """The payload's errors as ``[{"path", "message"}]`` sorted by path, at most ``limit``.
    ``fmt="avro"``: the payload is a value in Avro's JSON encoding."""
    errors = compiled_validator(version_id, document, fmt).errors(payload, limit)
    errors.sort(key=lambda e: e["path"])
    return errors


def clear_cache():
    with _LOCK:
        _CACHE.clear()
