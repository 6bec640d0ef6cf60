"""The audit log writer. Service functions call ``record`` inside their transaction."""

import datetime
import decimal
import uuid

from django.contrib.contenttypes.models import ContentType
from django.db import models

from .middleware import current_request_id
from .models import AuditEntry


def _jsonable(value):
    if isinstance(value, models.Model):
        return value.pk
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_jsonable(v) for v in value]
    return value


def snapshot(obj, fields=None) -> dict:
    """The audit-friendly values of ``obj``: concrete fields (foreign keys as ids) and,
    for saved objects, many-to-many fields as sorted id lists."""
    data = {}
    for field in obj._meta.concrete_fields:
        if fields is not None and field.name not in fields:
            continue
        if field.name in ("id",):
            continue
        data[field.attname if field.is_relation else field.name] = _jsonable(getattr(obj, field.attname))
    if obj.pk is not None:
        for field in obj._meta.many_to_many:
            if fields is not None and field.name not in fields:
                continue
            data[field.name] = sorted(getattr(obj, field.name).values_list("pk", flat=True))
    return data


def record(*, actor, action: str, obj=None, before=None, after=None, note: str = "") -> AuditEntry:
    """Append one audit row. Call inside the transaction of the change it records."""
    actor_obj = actor if getattr(actor, "is_authenticated", False) else None
    return AuditEntry.objects.create(
        actor=actor_obj,
        actor_repr=getattr(actor_obj, "username", "") or ("system" if actor is None else str(actor))[:150],
        action=action,
        content_type=ContentType.objects.get_for_model(obj, for_concrete_model=False) if obj is not None else None,
        object_id=str(obj.pk) if obj is not None else "",
        object_repr=str(obj)[:200] if obj is not None else "",
        before=_jsonable(before) if before is not None else None,
        after=_jsonable(after) if after is not None else None,
        request_id=current_request_id() or "",
        note=note,
    )


def history(obj, limit: int = 50):
    return AuditEntry.objects.for_object(obj).select_related("actor")[:limit]
