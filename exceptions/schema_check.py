"""Adapter to stewardship's payload validation (stewardship is built in parallel; the lead
wires it at merge). Returns error messages ([] when valid), or None when stewardship has no
approved JSON Schema for the entity, or is not installed / offers no such API."""


def validate_against_entity_schema(entity, payload) -> list[str] | None:
    if entity is None:
        return None
    try:
        from stewardship import selectors, validation  # noqa: PLC0415 - optional, imported lazily
        from stewardship.models import SchemaSubject  # noqa: PLC0415

        subject = SchemaSubject.objects.filter(entity=entity, format="json-schema").first()
        version = selectors.latest_approved(subject) if subject is not None else None
        if version is None:
            return None
        errors = validation.validate_payload(version.pk, version.document, payload)
    except (ImportError, AttributeError, LookupError, TypeError):
        return None
    return [f"{e.get('path') or '$'}: {e.get('message')}" if isinstance(e, dict) else str(e) for e in errors]
