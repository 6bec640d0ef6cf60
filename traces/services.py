"""Writes of the traces app: the CloudEvents type mappings (one function per change), and
ingesting CloudEvents as business events through the kpis service."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from controlplane import audit
from controlplane.errors import Conflict, NotFound, ValidationFailed
from kpis.choices import EventType

from .models import CloudEventMapping

MAPPING_FIELDS = ("source", "ce_type", "event_type", "integration", "workflow")


def _check(source, ce_type, event_type):
    problems = {}
    if not (source or "").strip() or len(source) > 200:
        problems["source"] = ["Give the CloudEvents source (at most 200 characters)."]
    if not (ce_type or "").strip() or len(ce_type) > 200:
        problems["ce_type"] = ["Give the CloudEvents type (at most 200 characters)."]
    if event_type not in EventType.values:
        problems["event_type"] = [f"One of: {', '.join(EventType.values)}."]
    if problems:
        raise ValidationFailed("The mapping is incomplete.", fields=problems)


@transaction.atomic
def set_mapping(*, actor, source: str, ce_type: str, event_type: str, integration=None, workflow=None,
                mapping: CloudEventMapping | None = None) -> CloudEventMapping:
    """Create the mapping of (source, type), or change ``mapping``. A second mapping of the
    same (source, type) is a 409."""
    _check(source, ce_type, event_type)
    before = audit.snapshot(mapping) if mapping is not None else None
    obj = mapping or CloudEventMapping()
    obj.source, obj.ce_type, obj.event_type = source.strip(), ce_type.strip(), event_type
    obj.integration, obj.workflow = integration, workflow
    try:
        with transaction.atomic():
            obj.save()
    except IntegrityError:
        raise Conflict(f"{source} {ce_type} is already mapped.", fields={"ce_type": ["Already mapped."]}) from None
    audit.record(actor=actor, action="cloudevent_mapping.changed" if before else "cloudevent_mapping.created", obj=obj,
                 before=before, after=audit.snapshot(obj))
    return obj


@transaction.atomic
def delete_mapping(*, actor, mapping: CloudEventMapping) -> None:
    if mapping.pk is None:
        raise NotFound("No such mapping.")
    before = audit.snapshot(mapping)
    audit.record(actor=actor, action="cloudevent_mapping.deleted", obj=mapping, before=before)
    mapping.delete()
