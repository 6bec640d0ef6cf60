"""Counterexamples: for an incompatible finding, a concrete document the writer schema
accepts and the reader schema refuses, verified with the real validator before it is shown.

BACKWARD findings compare writer=old, reader=new ("the old schema accepts it, the new one
refuses it"); FORWARD findings the reverse. The engine reports the same way, so
:func:`annotate` only needs each finding's direction to pick the two schemas.

How a document is found (targeted, not blind fuzzing):

1. The finding's path (``#/properties/lines/items/properties/qty/minimum``) is walked in
   both schemas; structural steps (``properties/x``, ``items``, ``prefixItems/i``,
   ``allOf/i``...) become an instance location (``lines[0].qty``), the first other keyword
   ends the walk.
2. A base document valid under the writer is built with that location present.
3. Candidate values for the location come from both sub-schemas' boundaries (lengths at
   and beyond each bound, numbers around each bound, enum values, each type, strings
   drawn from patterns with ``exrex``, objects with a property left out or an unknown one
   added, arrays at each size bound...). Each candidate put in the base document is
   validated against both schemas (jsonschema-rs, or jsonschema where it is missing, as in
   ``stewardship.validation``); the first the writer accepts and the reader refuses wins.
4. When none works at the location, the parent locations are tried; when the budget is
   spent the answer says so instead of showing anything unverified.

Formats plug in through :data:`GENERATORS` (format name -> callable with the signature of
:func:`json_schema_counterexample`); JSON Schema is built in, OpenAPI findings concern
operations rather than documents and get none; Avro's (``avro_counterexamples``) writes a
record with the writer schema and reads it with the reader's, through fastavro.
"""

from __future__ import annotations

import copy
import itertools
import json
import time
from collections.abc import Callable

try:
    import exrex
except ImportError:  # pragma: no cover - a pyproject dependency
    exrex = None

from jsonschema import validators

from ..validation import compile_validator, json_path
from .pointers import locate, resolve

_MISSING = object()
DEFAULT_BUDGET = 0.5  # seconds per finding
MAX_CANDIDATES = 400


# --- sample values --------------------------------------------------------------------------

_FORMAT_SAMPLES = {
    "email": "ada@example.com", "date": "2026-01-31", "date-time": "2026-01-31T12:00:00Z", "time": "12:00:00Z",
    "uuid": "7c9e6679-7425-40de-944b-e07fc1f90ae7", "uri": "https://example.com/a", "hostname": "example.com",
    "ipv4": "192.0.2.1", "ipv6": "2001:db8::1", "uri-reference": "/a",
}


def _types(schema) -> list[str]:
    t = schema.get("type") if isinstance(schema, dict) else None
    if isinstance(t, str):
        return [t]
    if isinstance(t, list) and t:
        return [x for x in t if isinstance(x, str)]
    if not isinstance(schema, dict):
        return []
    for kind, keys in (("object", ("properties", "required", "additionalProperties")),
                       ("array", ("items", "prefixItems", "minItems", "maxItems")),
                       ("string", ("minLength", "maxLength", "pattern", "format")),
                       ("number", ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"))):
        if any(k in schema for k in keys):
            return [kind]
    return []


def pattern_strings(pattern, limit=4) -> list[str]:
    if exrex is None or not isinstance(pattern, str):
        return []
    try:
        out = list(itertools.islice(exrex.generate(pattern, limit=3), limit))
        out.append(exrex.getone(pattern, limit=3))
    except Exception:  # exrex cannot read every regex dialect
        return []
    return [s for s in out if isinstance(s, str)]


def _string_sample(s) -> str:
    if isinstance(s.get("format"), str) and s["format"] in _FORMAT_SAMPLES:
        return _FORMAT_SAMPLES[s["format"]]
    found = pattern_strings(s.get("pattern"), 1)
    if found:
        return found[0]
    n = s.get("minLength") if isinstance(s.get("minLength"), int) else 1
    return "a" * max(n, 1) if not isinstance(s.get("maxLength"), int) or s["maxLength"] >= max(n, 1) else "a" * n


def _number_sample(s, integer):
    lo = s.get("minimum", s.get("exclusiveMinimum"))
    value = lo if isinstance(lo, int | float) and not isinstance(lo, bool) else 1
    if isinstance(s.get("exclusiveMinimum"), int | float) and not isinstance(s.get("exclusiveMinimum"), bool):
        value = s["exclusiveMinimum"] + 1
    step = s.get("multipleOf")
    if isinstance(step, int | float) and not isinstance(step, bool) and step > 0:
        value = step * max(1, -(-value // step))
    return int(value) if integer else value


def sample(root, schema, depth=0, force: tuple = ()):
    """A small value meant to be valid under ``schema``; ``force`` is an instance path the
    value must contain (each step's property present, arrays long enough)."""
    schema = resolve(root, schema)
    if depth > 12 or schema is True or not isinstance(schema, dict):
        return {} if force else "x"
    if "const" in schema:
        return copy.deepcopy(schema["const"])
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return copy.deepcopy(schema["enum"][0])
    for key in ("default",):
        if key in schema and not force:
            return copy.deepcopy(schema[key])
    if isinstance(schema.get("examples"), list) and schema["examples"] and not force:
        return copy.deepcopy(schema["examples"][0])
    for comb in ("allOf", "anyOf", "oneOf"):
        parts = schema.get(comb)
        if isinstance(parts, list) and parts and not _types(schema):
            if comb == "allOf":
                merged = {}
                for part in parts:
                    part = resolve(root, part)
                    if isinstance(part, dict):
                        merged.update(part)
                return sample(root, merged, depth + 1, force)
            return sample(root, parts[0], depth + 1, force)
    types = _types(schema)
    if force and isinstance(force[0], int):
        kind = "array"
    elif force:
        kind = "object"
    else:
        kind = types[0] if types else "string"
    if kind == "object":
        props = schema.get("properties") if isinstance(schema.get("properties"), dict) else {}
        out = {}
        wanted = [r for r in (schema.get("required") or []) if isinstance(r, str)]
        if force and force[0] not in wanted:
            wanted.append(force[0])
        for name in wanted:
            sub_force = force[1:] if force and name == force[0] else ()
            out[name] = sample(root, props.get(name, {}), depth + 1, sub_force)
        return out
    if kind == "array":
        items = schema.get("items")
        prefix = schema.get("prefixItems") or (items if isinstance(items, list) else None)
        count = schema.get("minItems") if isinstance(schema.get("minItems"), int) else 0
        if force:
            count = max(count, force[0] + 1)
        out = []
        for index in range(count):
            sub = prefix[index] if isinstance(prefix, list) and index < len(prefix) else (
                items if isinstance(items, dict) else {})
            sub_force = force[1:] if force and index == force[0] else ()
            value = sample(root, sub, depth + 1, sub_force)
            if schema.get("uniqueItems") and value in out:
                value = f"{value}-{index}" if isinstance(value, str) else value
            out.append(value)
        return out
    if kind == "string":
        return _string_sample(schema)
    if kind in ("number", "integer"):
        return _number_sample(schema, kind == "integer")
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return "x"


# --- candidates ---------------------------------------------------------------------------------

def _nums(*schemas) -> list:
    out = []
    for s in schemas:
        for key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
            b = s.get(key)
            if isinstance(b, int | float) and not isinstance(b, bool):
                out += [b, b - 1, b + 1, b - 0.5, b + 0.5]
        m = s.get("multipleOf")
        if isinstance(m, int | float) and not isinstance(m, bool) and m > 0:
            out += [m, m * 2, m * 3, m * 1.5, m / 2]
    return out + [0, 1, -1, 0.5, 2, 10, 100, 1e9]


def _lengths(key_min, key_max, *schemas) -> list[int]:
    out = {0, 1, 2, 5}
    for s in schemas:
        for key in (key_min, key_max):
            b = s.get(key)
            if isinstance(b, int) and not isinstance(b, bool):
                out.update(x for x in (b - 1, b, b + 1) if x >= 0)
    return sorted(x for x in out if x <= 10_000)


def candidates(root_w, w, root_r, r, seed=_MISSING, depth=0):
    """Values for one instance location, from both sides' sub-schemas; ``seed`` is the value
    a document both accept has there (object candidates change it one property at a time)."""
    w = w if isinstance(w, dict) else {}
    r = r if isinstance(r, dict) else {}
    out = []
    if isinstance(seed, dict):
        out += _object_candidates(root_w, w, root_r, r, seed, depth)
    for s in (w, r):
        if "const" in s:
            out.append(s["const"])
        for key in ("enum", "examples"):
            if isinstance(s.get(key), list):
                out.extend(s[key])
        if "default" in s:
            out.append(s["default"])
    base = sample(root_w, w)
    out.append(base)
    kinds = set(_types(w) or ["string", "number", "integer", "object", "array", "boolean", "null"])
    kinds |= set(_types(r))
    if "string" in kinds:
        for pat in (w.get("pattern"), r.get("pattern")):
            out.extend(pattern_strings(pat))
        seed = base if isinstance(base, str) and base else "a"
        for n in _lengths("minLength", "maxLength", w, r):
            out.append((seed * (n // len(seed) + 1))[:n])
        out += ["", "A", "0", "a b", "Ω", "!", "ada@example.com", "2026-01-31", "not-a-date"]
        out += list(_FORMAT_SAMPLES.values())
    if kinds & {"number", "integer"}:
        out += _nums(w, r)
    if "boolean" in kinds:
        out += [True, False]
    if "null" in kinds:
        out.append(None)
    if "object" in kinds:
        obj = sample(root_w, w) if "object" in _types(w) or "properties" in w else {}
        if isinstance(obj, dict):
            out += _object_candidates(root_w, w, root_r, r, obj, depth)
    if "array" in kinds:
        items = w.get("items") if isinstance(w.get("items"), dict) else {}
        one = sample(root_w, items)
        for n in _lengths("minItems", "maxItems", w, r):
            out.append([copy.deepcopy(one) for _ in range(n)])
        out.append([one, "x" if one != "x" else 1])
        for s in (w, r):  # contains: arrays with the matching item at and beyond each bound
            if isinstance(s.get("contains"), dict):
                hit = sample(root_w, s["contains"])
                for n in _lengths("minContains", "maxContains", w, r):
                    out.append([copy.deepcopy(hit) for _ in range(n)])
    return out


def _object_candidates(root_w, w, root_r, r, obj, depth=0):
    props = {**(r.get("properties") or {}), **(w.get("properties") or {})}
    full = dict(obj)
    for name, sub in props.items():
        full.setdefault(name, sample(root_w, (w.get("properties") or {}).get(name, sub)))
    out = [{**obj, "extra_field": "x"}]
    bounds = [b for s in (w, r) for b in (s.get("maxProperties"), s.get("minProperties")) if isinstance(b, int)]
    for n in sorted({b + 1 for b in bounds if b < 50}):
        out.append({**obj, **{f"extra_field_{i}": "x" for i in range(n)}})
    for name in list(full):
        out.append({k: v for k, v in obj.items() if k != name})
    out += [obj, full, {**full, "extra_field": 1}]
    for name in list(full):
        out.append({k: v for k, v in full.items() if k != name})
    if depth >= 1:  # one level of property values; deeper locations are searched on their own
        return out
    for name in list(props)[:50]:
        for value in candidates(root_w, (w.get("properties") or {}).get(name, {}), root_r,
                                (r.get("properties") or {}).get(name, {}), depth=depth + 1)[:40]:
            out.append({**obj, name: value})
    return out


# --- search ----------------------------------------------------------------------------------------

def _set_at(doc, path: tuple, value):
    if not path:
        return copy.deepcopy(value)
    doc = copy.deepcopy(doc)
    target = doc
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = copy.deepcopy(value)
    return doc


def _present(doc, path) -> bool:
    target = doc
    for step in path:
        if isinstance(step, int) and isinstance(target, list) and step < len(target):
            target = target[step]
        elif isinstance(step, str) and isinstance(target, dict) and step in target:
            target = target[step]
        else:
            return False
    return True


class _Budget:
    """The search's budget in CPU time of this thread, as the check's own (engine.Deadline):
    on a busy machine the search waits for a core without spending it."""

    def __init__(self, seconds):
        self.at = time.thread_time() + seconds
        self.tries = 0

    def spent(self) -> bool:
        self.tries += 1
        return self.tries > MAX_CANDIDATES or time.thread_time() > self.at


def _errors(validator, doc, limit=3):
    return [e["message"] for e in validator.errors(doc, limit)]


def json_schema_counterexample(writer, reader, path, ftype=None, budget=DEFAULT_BUDGET):
    """A verified document ``writer`` accepts and ``reader`` refuses, or a note that none was
    found: ``{"found": True, "document": ..., "refused_because": [...]}`` /
    ``{"found": False, "note": "..."}``."""
    if not isinstance(writer, dict) or not isinstance(reader, dict):
        return {"found": False, "note": "Counterexamples need object schemas on both sides."}
    try:
        wv, rv = compile_validator(writer), compile_validator(reader)
    except Exception as exc:  # a schema the validator cannot compile
        return {"found": False, "note": f"The validator could not compile a schema: {exc}"[:300]}
    clock = _Budget(budget)
    _inst, trail_w, left = locate(writer, path)
    keyword = left[0] if left and left[0] in _ATTRIBUTABLE else None
    _, trail_r, _ = locate(reader, path)
    readers = dict(trail_r)
    seen = set()
    # Deepest location first, then its parents.
    for inst, sub_w in reversed(trail_w):
        sub_r = readers.get(inst, {})
        base = _common_base(writer, reader, wv, rv, inst)
        if base is None:
            continue
        where = json_path(inst)
        # A property's own refusal can sit on its object (closed content model, required).
        around = json_path(inst[:-1]) if inst and isinstance(inst[-1], str) else where
        seed = _get_at(base, inst)
        tries = [_set_at(base, inst, value) for value in candidates(writer, sub_w, reader, sub_r, seed)]
        if inst:  # leave the location's property out of its parent object
            parent, last = inst[:-1], inst[-1]
            holder = base
            for step in parent:
                holder = holder[step]
            if isinstance(holder, dict) and isinstance(last, str):
                tries.insert(0, _set_at(base, parent, {k: v for k, v in holder.items() if k != last}))
        for doc in tries:
            key = json.dumps(doc, sort_keys=True, default=str)
            if key in seen:
                continue
            seen.add(key)
            if clock.spent():
                return {"found": False, "note": f"No document was found within the {budget:g} s budget."}
            try:
                if wv.errors(doc, 1):
                    continue
                refused = rv.errors(doc, 10)
            except Exception:  # a candidate the validator chokes on (e.g. a huge number)
                continue
            # Refused for this change, not for another one elsewhere in the document.
            if refused and all(_within(e["path"], where) or e["path"] == around for e in refused) \
                    and _for_keyword(reader, doc, keyword):
                return {"found": True, "document": doc, "refused_because": [_short(e["message"]) for e in refused[:3]]}
    return {"found": False, "note": "No document was found that one schema accepts and the other refuses."}


# Keywords a refusal can be attributed to with jsonschema's ``error.validator``.
_ATTRIBUTABLE = {
    "type", "enum", "const", "required", "additionalProperties", "maxLength", "minLength", "pattern", "format",
    "maximum", "minimum", "exclusiveMaximum", "exclusiveMinimum", "multipleOf", "maxItems", "minItems",
    "uniqueItems", "maxProperties", "minProperties", "maxContains", "minContains", "dependencies",
    "dependentRequired", "propertyNames", "unevaluatedProperties", "additionalItems", "unevaluatedItems",
}


# The engine names some findings by the older keyword (or the kind) of what refuses.
_ALIASES = {
    "dependencies": {"dependencies", "dependentRequired", "dependentSchemas"},
    "type": {"type", "enum", "const"},
}


def _for_keyword(reader, doc, keyword) -> bool:
    """Does the reader refuse ``doc`` by ``keyword`` (the keyword the finding is about)?
    Checked with the pure-Python jsonschema, which names the failing keyword."""
    if keyword is None:
        return True
    cls = validators.validator_for(reader, default=validators.Draft202012Validator)
    found = set()
    for error in cls(reader, format_checker=cls.FORMAT_CHECKER).iter_errors(doc):
        # The failing keyword, and the applicators on its way (additionalProperties, items...).
        found.add(error.validator)
        found.update(str(step) for step in error.schema_path)
        found.update(e.validator for e in error.context or ())
    return bool(found & _ALIASES.get(keyword, {keyword}))


def _get_at(doc, path):
    for step in path:
        doc = doc[step]
    return doc


def _short(message: str, limit: int = 160) -> str:
    """Validator messages quote the value; a 300-character string is not worth repeating."""
    return message if len(message) <= limit else message[: limit - 1] + "…"


def _within(path: str, where: str) -> bool:
    return path == where or (path.startswith(where) and path[len(where)] in ".[")


def _merge(a, b):
    if isinstance(a, dict) and isinstance(b, dict):
        out = dict(a)
        for k, v in b.items():
            out[k] = _merge(a[k], v) if k in a else v
        return out
    return b


def _common_base(writer, reader, wv, rv, inst):
    """A document with ``inst`` present that both schemas accept (so a refusal after
    changing only ``inst`` is due to the change there); else one the writer accepts."""
    from_w, from_r = sample(writer, writer, force=inst), sample(reader, reader, force=inst)
    fallback = None
    for base in (from_w, _merge(from_r, from_w), from_r, _merge(from_w, from_r)):
        if inst and not _present(base, inst):
            continue
        try:
            if wv.errors(base, 1):
                continue
            if not rv.errors(base, 1):
                return base
        except Exception:
            continue
        fallback = fallback if fallback is not None else base
    return fallback


def _avro(writer, reader, path, ftype, budget):
    from .avro_counterexamples import avro_counterexample

    return avro_counterexample(writer, reader, path, ftype, budget)


GENERATORS: dict[str, Callable] = {"json-schema": json_schema_counterexample, "avro": _avro}


def annotate(report: dict, *, new, previous_by_number: dict, fmt: str, budget: float = 2.0) -> dict:
    """Add ``counterexample`` to each incompatible finding of ``report`` (a ``Report.to_dict()``),
    in place; compatible findings get ``None``. ``previous_by_number`` maps each approved
    version number to its document. The whole call is bounded by ``budget`` seconds."""
    generator = GENERATORS.get(fmt)
    deadline = time.thread_time() + budget
    for finding in report.get("findings", []):
        if finding.get("compatible", True):
            finding["counterexample"] = None
            continue
        old = previous_by_number.get(finding.get("against_version"))
        if generator is None:
            finding["counterexample"] = {"found": False, "note": "Counterexamples are not available for this format."}
            continue
        if old is None or finding.get("type", "").startswith("CHECK_"):
            finding["counterexample"] = {"found": False, "note": "No counterexample for this finding."}
            continue
        left = deadline - time.thread_time()
        if left <= 0:
            finding["counterexample"] = {"found": False, "note": "Not searched: the time budget for this report was spent."}
            continue
        writer, reader = (old, new) if finding.get("direction", "BACKWARD") == "BACKWARD" else (new, old)
        try:
            finding["counterexample"] = generator(writer, reader, finding.get("path", "#"), finding.get("type"),
                                                  min(DEFAULT_BUDGET, left))
        except (RecursionError, ValueError, TypeError, KeyError, IndexError, AttributeError):
            # A schema shape the generator does not read: say so rather than fail the submission.
            finding["counterexample"] = {"found": False, "note": "No counterexample could be generated for this schema."}
    return report


def enrich(report: dict, *, new, previous_by_number: dict, fmt: str, budget: float = 2.0) -> dict:
    """What a steward reads on each finding: the plain sentence (``message``, JSON Schema) and
    the verified ``counterexample``. In place; returns ``report``."""
    from .messages import explain

    if fmt == "json-schema":
        for finding in report.get("findings", []):
            old = previous_by_number.get(finding.get("against_version"))
            if old is not None:
                try:
                    finding["message"] = explain(finding, old=old, new=new,
                                                 version_label=f"v{finding.get('against_version')}")
                except (RecursionError, ValueError, TypeError, KeyError, IndexError, AttributeError):
                    pass  # keep the engine's sentence
    return annotate(report, new=new, previous_by_number=previous_by_number, fmt=fmt, budget=budget)
