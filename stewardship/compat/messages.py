"""One human sentence per finding."""

from __future__ import annotations

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
