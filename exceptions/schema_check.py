"""Payload check for edit-and-replay against the entity's approved schema in stewardship."""

from stewardship import selectors, validation
from stewardship.compat import hints
from stewardship.models import SchemaSubject


def validate_against_entity_schema(entity, payload) -> list[str] | None:
    """Error messages ([] when valid), or None when the entity has no approved JSON Schema."""
    if entity is None:
        return None
    subject = SchemaSubject.objects.filter(entity=entity, format="json-schema").first()
    version = selectors.latest_approved(subject) if subject is not None else None
    if version is None:
        return None
    errors = validation.validate_payload(version.pk, version.document, payload)
    if errors:
        # A refusal: name the smallest obvious fix next to each error where there is one.
        errors = hints.payload_fixes(version.document, payload) or errors
    return [_line(e) if isinstance(e, dict) else str(e) for e in errors]


def _line(error) -> str:
    line = f"{error.get('path') or '$'}: {error.get('message')}"
    return line + (f" Fix: {error['fix']}." if error.get("fix") else "")
