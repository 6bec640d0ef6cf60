"""The smallest obvious fix for a payload an approved schema refuses: a missing required
field (add it, with a value of the right shape), a wrong type (the same value in the right
type, e.g. ``"12"`` -> ``12``), a pattern or an enum (the value that matches once case or
spaces are fixed, else an example that matches). Only fixes that are verified to clear the
error are offered; where none is obvious, there is no hint.

Pure Python (jsonschema names the failing keyword; the project's validator decides validity
elsewhere)."""

from __future__ import annotations

import json

from jsonschema import validators

from ..validation import json_path
from .counterexamples import pattern_strings, sample

MAX_HINTS = 20


def _show(value) -> str:
    return json.dumps(value, ensure_ascii=False)


def _retyped(value, wanted):
    """``value`` converted to JSON type ``wanted`` when the conversion is lossless and obvious."""
    wanted = wanted if isinstance(wanted, list) else [wanted]
    if isinstance(value, str):
        text = value.strip()
        if "integer" in wanted:
            try:
                return int(text)
            except ValueError:
                pass
        if "number" in wanted:
            try:
                number = float(text)
                return int(number) if number.is_integer() and "." not in text else number
            except ValueError:
                pass
        if "boolean" in wanted and text.lower() in ("true", "false"):
            return text.lower() == "true"
    if isinstance(value, int | float) and not isinstance(value, bool) and "string" in wanted:
        return str(value)
    if isinstance(value, float) and value.is_integer() and "integer" in wanted:
        return int(value)
    return None


def _clears(validator, error, value) -> bool:
    """Does ``value`` in place of the refused one satisfy the sub-schema that refused it?"""
    try:
        return validator.evolve(schema=error.schema).is_valid(value)
    except Exception:
        return False


def _fix(validator, root, error):
    kw, wanted, value = error.validator, error.validator_value, error.instance
    where = json_path(list(error.absolute_path))
    where = "the payload" if where == "$" else where
    if kw == "required" and isinstance(value, dict):
        missing = [name for name in wanted if name not in value]
        if missing:
            name = missing[0]
            prop = (error.schema.get("properties") or {}).get(name, {})
            example = sample(root, prop)
            return f"add the field {_show(name)} to {where}, e.g. {_show(name)}: {_show(example)}"
    if kw == "type":
        converted = _retyped(value, wanted)
        if converted is not None and _clears(validator, error, converted):
            return f"write {_show(converted)} instead of {_show(value)} at {where}"
        names = " or ".join(wanted) if isinstance(wanted, list) else wanted
        return f"{where} must be a {names}, e.g. {_show(sample(root, error.schema))}"
    if kw in ("pattern", "enum", "const", "format") and isinstance(value, str):
        for candidate in (value.strip(), value.upper(), value.lower(), value.strip().upper(), value.replace(" ", "")):
            if candidate != value and _clears(validator, error, candidate):
                return f"write {_show(candidate)} instead of {_show(value)} at {where}"
        if kw == "enum":
            return f"{where} must be one of {', '.join(_show(v) for v in wanted[:10])}"
        if kw == "pattern":
            examples = [s for s in pattern_strings(wanted, 3) if _clears(validator, error, s)]
            if examples:
                return f"{where} must match {wanted}, e.g. {_show(examples[0])}"
    if kw == "maxLength" and isinstance(value, str):
        return f"shorten {where} to {wanted} characters (it has {len(value)})"
    if kw == "additionalProperties" and isinstance(value, dict):
        allowed = set(error.schema.get("properties") or {})
        extra = [k for k in value if k not in allowed]
        if extra:
            return f"remove the field {_show(extra[0])} from {where}"
    if kw in ("minimum", "exclusiveMinimum"):
        return f"{where} must be {'at least' if kw == 'minimum' else 'above'} {wanted}"
    if kw in ("maximum", "exclusiveMaximum"):
        return f"{where} must be {'at most' if kw == 'maximum' else 'below'} {wanted}"
    return ""


def payload_fixes(schema: dict, payload, limit: int = MAX_HINTS) -> list[dict]:
    """``[{"path", "message", "fix"}]`` for each error of ``payload`` under ``schema``, sorted
    by path; ``fix`` is ``""`` where no small fix is obvious."""
    cls = validators.validator_for(schema, default=validators.Draft202012Validator)
    validator = cls(schema, format_checker=cls.FORMAT_CHECKER)
    out = []
    for error in validator.iter_errors(payload):
        out.append({"path": json_path(list(error.absolute_path)), "message": error.message,
                    "fix": _fix(validator, schema, error)})
        if len(out) >= limit:
            break
    out.sort(key=lambda e: e["path"])
    return out
