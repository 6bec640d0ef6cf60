"""One human sentence per finding."""

from __future__ import annotations

from .pointers import locate

_SPECIAL = {
    "SCHEMA_ADDED": "A constraint schema was added where there was none",
    "SCHEMA_REMOVED": "A constraint schema was removed",
    "TYPE_CHANGED": "The type changed",
    "TYPE_EXTENDED": "The type was widened (integer to number)",
    "TYPE_NARROWED": "The type was narrowed (number to integer)",
    "REQUIRED_ATTRIBUTE_ADDED": "An existing property became required without a default",
    "REQUIRED_ATTRIBUTE_WITH_DEFAULT_ADDED": "An existing property became required, with a default",
    "REQUIRED_ATTRIBUTE_REMOVED": "A property is no longer required",
    "COMBINED_TYPE_SUBSCHEMAS_CHANGED": "The subschemas of a combination no longer match pairwise",
    "CHECK_TIMED_OUT": "The check did not finish within its time budget",
    "REFERENCE_UNRESOLVED": "A $ref that cannot be resolved inside the document changed",
    "CONDITION_CHANGED": "The if-condition of a conditional changed",
}


def _human(ftype: str) -> str:
    words = ftype.lower().replace("_", " ")
    return words[:1].upper() + words[1:]


def message_for(ftype: str, path: str, compatible: bool) -> str:
    what = _SPECIAL.get(ftype) or _human(ftype)
    verdict = "which is compatible" if compatible else "which breaks compatibility"
    return f"{what} at {path}, {verdict}."


# --- plain words for a steward ---------------------------------------------------------------
# ``explain`` turns one finding (with both schemas at hand) into a sentence naming the field,
# what changed (old value -> new value) and who is hurt: for BACKWARD findings the documents
# written under the older version, for FORWARD ones the consumers still reading with it.

_SIDES = {  # change type prefix -> (keyword, "documents ..." phrase using {f} and {v} = the stricter value)
    "MAX_LENGTH": ("maxLength", "with a `{f}` longer than {v} characters"),
    "MIN_LENGTH": ("minLength", "with a `{f}` shorter than {v} characters"),
    "PATTERN": ("pattern", "whose `{f}` does not match `{v}`"),
    "MAXIMUM": ("maximum", "with a `{f}` above {v}"),
    "MINIMUM": ("minimum", "with a `{f}` below {v}"),
    "EXCLUSIVE_MAXIMUM": ("exclusiveMaximum", "with a `{f}` of {v} or more"),
    "EXCLUSIVE_MINIMUM": ("exclusiveMinimum", "with a `{f}` of {v} or less"),
    "MULTIPLE_OF": ("multipleOf", "with a `{f}` that is not a multiple of {v}"),
    "MAX_ITEMS": ("maxItems", "with more than {v} entries in `{f}`"),
    "MIN_ITEMS": ("minItems", "with fewer than {v} entries in `{f}`"),
    "MAX_PROPERTIES": ("maxProperties", "with more than {v} fields in `{f}`"),
    "MIN_PROPERTIES": ("minProperties", "with fewer than {v} fields in `{f}`"),
    "UNIQUE_ITEMS": ("uniqueItems", "with repeated entries in `{f}`"),
    "FORMAT": ("format", "whose `{f}` is not a valid {v}"),
    "TYPE": ("type", "where `{f}` is not of type {v}"),
    "ENUM_ARRAY": ("enum", "where `{f}` is {v}"),
}
_FIELD_PHRASES = {
    "REQUIRED_ATTRIBUTE_ADDED": "without a `{f}`",
    "REQUIRED_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL": "without a `{f}`",
    "REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL": "without a `{f}`",
    "REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_OPEN_CONTENT_MODEL": "without a `{f}`",
    "PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL": "that already carry a `{f}` of another shape",
    "OPTIONAL_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL": "that already carry a `{f}` of another shape",
    "PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL": "that still carry a `{f}`",
    "PROPERTY_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL": "that still carry a `{f}`",
    "PROPERTY_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL": "that already carry a `{f}` of another shape",
    "ADDITIONAL_PROPERTIES_REMOVED": "with fields in {f} that the schema does not list",
    "ADDITIONAL_PROPERTIES_NARROWED": "with extra fields in {f} of another shape",
    "UNEVALUATED_PROPERTIES_REMOVED": "with fields in {f} that the schema does not list",
    "DEPENDENCY_ARRAY_ADDED": "that have `{f}` without the fields it now depends on",
    "DEPENDENCY_ARRAY_EXTENDED": "that have `{f}` without the fields it now depends on",
}
_WHAT = {
    "REQUIRED_ATTRIBUTE_ADDED": "`{f}` is now required",
    "REQUIRED_ATTRIBUTE_REMOVED": "`{f}` is no longer required",
    "ENUM_ARRAY_NARROWED": "`{f}` no longer allows {v}",
    "ENUM_ARRAY_EXTENDED": "`{f}` now also allows {v}",
}


_LABELS = {
    "maxLength": "maximum length", "minLength": "minimum length", "pattern": "pattern", "maximum": "maximum",
    "minimum": "minimum", "exclusiveMaximum": "exclusive maximum", "exclusiveMinimum": "exclusive minimum",
    "multipleOf": "multiple of", "maxItems": "maximum entries", "minItems": "minimum entries",
    "maxProperties": "maximum fields", "minProperties": "minimum fields", "uniqueItems": "unique entries",
    "format": "format", "type": "type", "enum": "allowed values",
}
_OPPOSITE = {"added": "removed", "removed": "added", "extended": "narrowed", "narrowed": "extended",
             "increased": "decreased", "decreased": "increased", "expanded": "reduced", "reduced": "expanded",
             "from": "to", "to": "from"}


def field_name(path: str) -> str:
    """``#/properties/lines/items/properties/qty/minimum`` -> ``lines[].qty``; ``#/required/memo`` -> ``memo``."""
    segs = [s.replace("~1", "/").replace("~0", "~") for s in path.lstrip("#").split("/") if s]
    out, i = "", 0
    while i < len(segs):
        seg = segs[i]
        nxt = segs[i + 1] if i + 1 < len(segs) else None
        if seg in ("properties", "required", "dependencies", "dependentRequired") and nxt is not None:
            out += ("." if out else "") + nxt
            i += 2
        elif seg in ("items", "prefixItems", "additionalItems"):
            out += "[]"
            i += 2 if nxt is not None and nxt.isdigit() else 1
        elif seg in ("allOf", "anyOf", "oneOf") and nxt is not None and nxt.isdigit():
            i += 2
        else:
            break
    return out or "the document"


def _show(value) -> str:
    if isinstance(value, list):
        return ", ".join(_show(v) for v in value[:8]) + (" and more" if len(value) > 8 else "")
    if isinstance(value, str):
        return f'"{value}"'
    return "true" if value is True else "false" if value is False else "null" if value is None else str(value)


def _keyword_values(ftype, path, old, new):
    """The value of the finding's keyword in the old and the new schema (``None`` when absent)."""
    keyword = next((kw for prefix, (kw, _) in sorted(_SIDES.items(), key=lambda p: -len(p[0]))
                    if ftype.startswith(prefix + "_")), None)
    if keyword is None:
        return None, None, None
    values = []
    for doc in (old, new):
        _, trail, _ = locate(doc, path) if isinstance(doc, dict) else ((), [((), {})], ())
        node = trail[-1][1] if trail else {}
        values.append(node.get(keyword) if isinstance(node, dict) else None)
    return keyword, values[0], values[1]


def explain(finding: dict, *, old, new, version_label: str) -> str:
    """One sentence for ``finding`` (a dict of a report): ``old`` is the approved document it
    was found against (``version_label``, e.g. "v3"), ``new`` the proposed one."""
    ftype, path = finding.get("type", ""), finding.get("path", "#")
    compatible = finding.get("compatible", True)
    forward = finding.get("direction") == "FORWARD"
    f = field_name(path)
    if ftype.startswith("CHECK_") or ftype == "REFERENCE_UNRESOLVED":
        return finding.get("message") or message_for(ftype, path, compatible)
    keyword, was, now = _keyword_values(ftype, path, old, new)
    name = f if f == "the document" else f"`{f}`"
    if ftype.startswith("ENUM_ARRAY") and isinstance(was, list) and isinstance(now, list):
        gone = [v for v in was if v not in now]
        added = [v for v in now if v not in was]
        if gone:
            what = f"{name} no longer allows {_show(gone)}" + (f" (and now allows {_show(added)})" if added else "")
        else:
            what = f"{name} now also allows {_show(added)}"
    elif keyword is not None:
        label = _LABELS.get(keyword, keyword)
        if was is not None and now is not None:
            what = f"{name}: {label} {_show(was)} → {_show(now)}"
        elif now is not None:
            what = f"{name}: {label} {_show(now)} added"
        else:
            what = f"{name}: {label} {_show(was)} removed"
    else:
        # FORWARD findings name the change from the new schema to the old one: turn it round.
        words = _human(ftype)
        if forward:
            words = " ".join(_OPPOSITE.get(w, w) for w in words.split(" "))
        if ftype in _WHAT and not forward:
            what = _WHAT[ftype].format(f=f, v="")
        elif forward and ftype == "REQUIRED_ATTRIBUTE_REMOVED":
            what = f"`{f}` is now required"
        else:
            what = f"{name}: {words[:1].lower() + words[1:]}"
    if compatible:
        if forward:
            return f"{what}; consumers still reading with {version_label} can read new documents."
        return f"{what}; documents valid under {version_label} still pass."
    # The stricter side is the reader: the new schema for BACKWARD, the old one for FORWARD.
    stricter = was if forward else now
    if ftype.startswith("ENUM_ARRAY") and isinstance(was, list) and isinstance(now, list):
        reader, writer = (was, now) if forward else (now, was)
        stricter = _show([x for x in writer if x not in reader]) or "a value no longer listed"
    elif stricter is not None:
        stricter = _show(stricter) if keyword not in ("pattern", "format", "type") else stricter
        if isinstance(stricter, list):
            stricter = " or ".join(str(x) for x in stricter)
    prefix = next((p for p in sorted(_SIDES, key=len, reverse=True) if ftype.startswith(p + "_")), None)
    if ftype in _FIELD_PHRASES:
        docs = _FIELD_PHRASES[ftype].format(f=f)
    elif prefix and stricter is not None:
        docs = _SIDES[prefix][1].format(f=f, v=stricter)
    else:
        docs = f"that rely on what {name} allowed before"
    if forward:
        return f"{what}: consumers still reading with {version_label} will refuse new documents {docs}."
    return f"{what}: documents valid under {version_label} {docs} will be refused."
