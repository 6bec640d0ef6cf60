"""Helpers the exception services share: set-based inserts and audit rows, and id coercion."""

import datetime
import json
import uuid
from decimal import Decimal

from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.utils import timezone

from controlplane.models import AuditEntry

from ..models import (
    BusinessException,
)

# What an exception's audit row records before and after a move.
AUDIT_FIELDS = ("status", "assignee", "severity", "queue", "resolution_code", "resolution_note", "resolved_at", "due_at")


def _plain(value):
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    return value


def _bulk_insert(objs, *, key_field=None):
    """INSERT many rows. On PostgreSQL all rows travel as one JSON parameter expanded by
    ``json_populate_recordset``: the ORM's per-value SQL compilation costs more than the
    database's work for a 1,000-row batch. Elsewhere, ``bulk_create``. Sets the new ids
    (matched back by ``key_field`` when given, which must be unique among ``objs``)."""
    if not objs:
        return
    if connection.vendor != "postgresql":
        type(objs[0]).objects.bulk_create(objs)
        return
    model = type(objs[0])
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    returned = _insert_rows(model, [{f.column: _plain(getattr(o, f.attname)) for f in fields} for o in objs],
                            key_column=model._meta.get_field(key_field).column if key_field else None)
    if key_field:
        by_key = {row[1]: row[0] for row in returned}
        for obj in objs:
            obj.pk = by_key[getattr(obj, key_field)]


def _insert_rows(model, rows: list[dict], *, key_column=None):
    """PostgreSQL: INSERT rows given as {column: JSON-able value} (every concrete column
    but the id) in one statement, without model instances (building 1,000 of them cost
    more than the insert). Returns the (id[, key]) rows."""
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    cols = ", ".join(quote(f.column) for f in model._meta.concrete_fields if not f.primary_key)
    returning = f"id, {quote(key_column)}" if key_column else "id"
    sql = (f"INSERT INTO {table} ({cols}) SELECT {cols} FROM json_populate_recordset(NULL::{table}, %s)"
           f" RETURNING {returning}")
    with connection.cursor() as cursor:
        cursor.execute(sql, [json.dumps(rows, default=str)])
        return cursor.fetchall()


def audit_context(actor) -> tuple[int | None, str, int, str]:
    """(actor id, actor name, BusinessException's content type id, request id): what every
    exception audit row of one request shares."""
    from controlplane.middleware import current_request_id

    actor_obj = actor if getattr(actor, "is_authenticated", False) else None
    return (getattr(actor_obj, "pk", None), getattr(actor_obj, "username", "") or "system",
            ContentType.objects.get_for_model(BusinessException).pk, current_request_id() or "")


def _bulk_audit(actor, action, objects, note=""):
    """One audit row per object, written in one INSERT (ingestion of 1,000 items)."""
    if not objects:
        return
    actor_id, actor_repr, ct_id, request_id = audit_context(actor)
    now = timezone.now()
    rows = [
        {"created_at": now.isoformat(), "actor_id": actor_id, "actor_repr": actor_repr,
         "action": action, "content_type_id": ct_id, "object_id": str(obj.pk), "object_repr": str(obj)[:200],
         "before": None,
         "after": {"status": obj.status, "queue": obj.queue_id, "severity": obj.severity, "assignee": obj.assignee_id},
         "request_id": request_id, "note": note}
        for obj in objects
    ]
    if connection.vendor == "postgresql":
        _insert_rows(AuditEntry, rows)
    else:
        AuditEntry.objects.bulk_create([AuditEntry(**{**row, "created_at": now}) for row in rows])


def _pk(exception):
    return exception.pk if isinstance(exception, BusinessException) else int(exception)
