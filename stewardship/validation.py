"""Payload validation against approved schemas, with compiled validators cached.

Approved documents never change, so a validator compiled once per version id stays right
for the life of the process. The cache is bounded (least recently used out).

The validator is jsonschema-rs (Rust) when installed: a 5 KB payload costs about 0.1 ms
against several ms for the pure-Python ``jsonschema`` (see tests/benchmarks/
bench_validation.py), which remains the fallback."""

import re
import threading
from collections import OrderedDict

try:
    import jsonschema_rs
except ImportError:  # pragma: no cover - the pure-Python path is exercised by tests directly
    jsonschema_rs = None

from jsonschema import validators

_CACHE: OrderedDict = OrderedDict()
_LOCK = threading.Lock()
MAX_CACHED = 512
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def json_path(parts) -> str:
    """``["lines", 0, "amount"]`` -> ``$.lines[0].amount`` (jsonschema's json_path style)."""
    out = "$"
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _IDENTIFIER.match(part):
            out += f".{part}"
        else:
            out += "['" + part.replace("'", "\\'") + "']"
    return out


class _RustValidator:
    def __init__(self, document):
        self._v = jsonschema_rs.validator_for(document, validate_formats=True)

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
        cls = validators.validator_for(document, default=validators.Draft202012Validator)
        self._v = cls(document, format_checker=cls.FORMAT_CHECKER)

    def errors(self, payload, limit):
        out = []
        for error in self._v.iter_errors(payload):
            out.append({"path": error.json_path, "message": error.message})
            if len(out) >= limit:
                break
        return out


def compile_validator(document, engine=None):
    engine = engine or ("rust" if jsonschema_rs is not None else "python")
    return _RustValidator(document) if engine == "rust" else _PythonValidator(document)


def compiled_validator(version_id, document):
    with _LOCK:
        validator = _CACHE.get(version_id)
        if validator is not None:
            _CACHE.move_to_end(version_id)
            return validator
    validator = compile_validator(document)
    with _LOCK:
        _CACHE[version_id] = validator
        while len(_CACHE) > MAX_CACHED:
            _CACHE.popitem(last=False)
    return validator


def validate_payload(version_id, document, payload, limit=100):
    """The payload's errors as ``[{"path", "message"}]`` sorted by path, at most ``limit``."""
    errors = compiled_validator(version_id, document).errors(payload, limit)
    errors.sort(key=lambda e: e["path"])
    return errors


def clear_cache():
    with _LOCK:
        _CACHE.clear()
