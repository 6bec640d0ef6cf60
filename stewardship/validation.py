"""Payload validation against approved schemas, with compiled validators cached.

Approved documents never change, so a validator compiled once per version id stays right
for the life of the process. The cache is bounded (least recently used out)."""

import threading
from collections import OrderedDict

from jsonschema import validators

_CACHE: OrderedDict = OrderedDict()
_LOCK = threading.Lock()
MAX_CACHED = 512


def compiled_validator(version_id, document):
    with _LOCK:
        validator = _CACHE.get(version_id)
        if validator is not None:
            _CACHE.move_to_end(version_id)
            return validator
    cls = validators.validator_for(document, default=validators.Draft202012Validator)
    validator = cls(document, format_checker=cls.FORMAT_CHECKER)
    with _LOCK:
        _CACHE[version_id] = validator
        while len(_CACHE) > MAX_CACHED:
            _CACHE.popitem(last=False)
    return validator


def validate_payload(version_id, document, payload, limit=100):
    """The payload's errors as ``[{"path", "message"}]``, at most ``limit`` of them."""
    validator = compiled_validator(version_id, document)
    errors = []
    for error in validator.iter_errors(payload):
        errors.append({"path": error.json_path, "message": error.message})
        if len(errors) >= limit:
            break
    errors.sort(key=lambda e: e["path"])
    return errors


def clear_cache():
    with _LOCK:
        _CACHE.clear()
