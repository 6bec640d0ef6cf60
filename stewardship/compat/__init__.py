"""Schema compatibility engine: Confluent Schema Registry semantics for JSON Schema, plus
breaking-change detection for OpenAPI documents. Pure Python; no Django imports here.

    from stewardship.compat import check
    report = check(new=schema, previous=[v1, v2], level="BACKWARD", policy="STRICT")
    report.compatible, report.findings, report.to_dict()

See docs/compatibility.md for the levels, policies and change types.
"""

from .engine import check
from .types import FORMATS, LEVELS, POLICIES, Finding, Report
from .validation import validate_schema

__all__ = ["check", "validate_schema", "Finding", "Report", "LEVELS", "POLICIES", "FORMATS"]
