"""Adapter to stewardship's payload validation (built in parallel; wired at merge).

Returns a list of error messages, an empty list when the payload is valid, or None when
stewardship has no approved schema for the entity (or is not installed)."""


def validate_against_entity_schema(entity, payload) -> list[str] | None:
    try:
        from stewardship import selectors  # noqa: PLC0415 - optional dependency, imported lazily
    except ImportError:
        return None
    validate = getattr(selectors, "validate_payload_for_entity", None)
    if validate is None:
        return None
    try:
        result = validate(entity=entity, payload=payload)
    except (AttributeError, LookupError):
        return None
    if result is None:
        return None
    return [str(e) for e in result]
