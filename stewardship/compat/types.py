"""Public value types of the compatibility engine (pure Python, no Django)."""

from __future__ import annotations

import re
from dataclasses import dataclass

LEVELS = (
    "BACKWARD",
    "BACKWARD_TRANSITIVE",
    "FORWARD",
    "FORWARD_TRANSITIVE",
    "FULL",
    "FULL_TRANSITIVE",
    "NONE",
)
POLICIES = ("STRICT", "LENIENT")
FORMATS = ("json-schema", "openapi", "avro")


@dataclass(frozen=True)
class Finding:
    """One difference found between a writer and a reader schema."""

    type: str  # e.g. "MAX_LENGTH_DECREASED" (Confluent names, see docs/compatibility.md)
    path: str  # JSON pointer, e.g. "#/properties/name/maxLength"
    compatible: bool  # under the policy and direction
    against_version: int | None  # version number of the previous schema it was found against
    direction: str  # "BACKWARD" or "FORWARD"
    message: str  # one human sentence

    def to_dict(self) -> dict:
        return {
            "type": self.type,
            "path": self.path,
            "compatible": self.compatible,
            "against_version": self.against_version,
            "direction": self.direction,
            "message": self.message,
        }


@dataclass(frozen=True)
class Report:
    """The outcome of one :func:`stewardship.compat.check` call."""

    compatible: bool
    findings: tuple[Finding, ...]
    timed_out: bool
    checked_versions: tuple[int, ...]

    @property
    def breaking(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if not f.compatible)

    def to_dict(self) -> dict:
        return {
            "compatible": self.compatible,
            "timed_out": self.timed_out,
            "findings": [f.to_dict() for f in self.findings],
            "checked_versions": list(self.checked_versions),
        }


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
