"""The audit log writer. Service functions call ``record`` inside their transaction."""

import datetime
import decimal
import uuid

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from . import units
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


def entry(*, actor, action: str, obj=None, before=None, after=None, note: str = "", object_repr=None) -> AuditEntry:
    """The audit row ``record`` writes, not yet written (``record_all`` writes several in
    one statement). ``object_repr``: what the object was called at the time of the change,
    when it has changed since (a draft submitted in the same transaction)."""
    actor_obj = actor if getattr(actor, "is_authenticated", False) else None
    if object_repr is None:
        object_repr = str(obj) if obj is not None else ""
    return AuditEntry(
        actor=actor_obj,
        actor_repr=getattr(actor_obj, "username", "") or ("system" if actor is None else str(actor))[:150],
        action=action,
        content_type=ContentType.objects.get_for_model(obj, for_concrete_model=False) if obj is not None else None,
        object_id=str(obj.pk) if obj is not None else "",
        object_repr=object_repr[:200],
        before=_jsonable(before) if before is not None else None,
        after=_jsonable(after) if after is not None else None,
        request_id=current_request_id() or "",
        note=note,
    )


def record(*, actor, action: str, obj=None, before=None, after=None, note: str = "") -> AuditEntry:
    """Append one audit row. Call inside the transaction of the change it records."""
    row = entry(actor=actor, action=action, obj=obj, before=before, after=after, note=note)
    row.save(force_insert=True)
    return row


def record_all(entries) -> list[AuditEntry]:
    """Append the rows built by ``entry`` in one INSERT, in order (their ``created_at`` is
    the time each was built). Call inside the transaction of the changes they record."""
    return AuditEntry.objects.bulk_create(list(entries))


def history(obj, limit: int = 50):
    return AuditEntry.objects.for_object(obj).select_related("actor", "content_type")[:limit]


# --- reading the log ------------------------------------------------------------------------

# Words people write in capitals (or mixed case) when they appear in a field or key name.
_WORDS = {"id": "ID", "api": "API", "apis": "APIs", "sla": "SLA", "slas": "SLAs", "url": "URL", "sor": "SoR",
          "kpi": "KPI", "kpis": "KPIs", "http": "HTTP", "json": "JSON", "erp": "ERP", "crm": "CRM", "psa": "PSA"}


def field_label(name: str) -> str:
    """``owner_team`` -> ``owner team``, ``sla_target`` -> ``SLA target``: the words of a
    field or business-key name (a foreign key's ``_id`` column is named by its model field
    in ``readable_changes``)."""
    name = str(name)
    words = [w for w in name.replace("-", "_").split("_") if w]
    return " ".join(_WORDS.get(w.lower(), w) for w in words) or name


def key_label(name: str) -> str:
    """A business key as a heading: ``invoice_number`` -> ``Invoice number``."""
    label = field_label(name)
    return label[:1].upper() + label[1:]


def _field_of(model, key):
    if model is None:
        return None
    try:
        return model._meta.get_field(key[:-3] if key.endswith("_id") else key)
    except Exception:  # FieldDoesNotExist, or a key that is not a field (a note, a computed value)
        try:
            return model._meta.get_field(key)
        except Exception:
            return None


def _display(field, value, names):
    if value is None or value == "" or value == []:
        return None
    if isinstance(value, bool):  # a model field or a fact the entry carries ("compatible")
        return "yes" if value else "no"
    if field is None:
        if isinstance(value, str) and "T" in value:  # a moment written into the entry (e.g. "since")
            return _moment(value)
        return value if not isinstance(value, dict | list) else str(value)
    if field.is_relation and field.related_model is not None:
        lookup = names.get(field.related_model, {})
        values = value if isinstance(value, list) else [value]
        shown = [lookup.get(str(v), f"#{v} (deleted)" if isinstance(v, int) else str(v)) for v in values]
        return ", ".join(shown)
    if field.choices:
        return dict(field.flatchoices).get(value, value)
    if field.name.endswith("_seconds") and isinstance(value, int | float):
        return units.duration(value)  # "grace seconds: 5 min → 3 h", not 300 → 10800
    if isinstance(field, models.DateTimeField) and isinstance(value, str):
        return _moment(value)
    return value if not isinstance(value, dict | list) else str(value)


def _moment(value: str) -> str:
    """An ISO date-time with its zone as "2026-12-04 02:11 UTC"; any other text as it is."""
    try:
        moment = parse_datetime(value)
    except ValueError:
        return value
    if moment is None or not timezone.is_aware(moment):
        return value
    return f"{timezone.localtime(moment, datetime.UTC):%Y-%m-%d %H:%M} UTC"


def readable_changes(entries) -> list:
    """Give each audit entry ``readable``: ``[(label, before, after)]`` with labels for
    field names (``owner team``), names for foreign keys and many-to-many ids (``Finance
    Systems``) and labels for choices. One query per related model over all ``entries``,
    so a page of history costs a handful of queries whatever its length."""
    entries = list(entries)
    wanted: dict = {}
    for entry in entries:
        model = entry.content_type.model_class() if entry.content_type_id else None
        entry._model = model
        for key, old, new in entry.changes:
            field = _field_of(model, key)
            if field is not None and field.is_relation and field.related_model is not None:
                ids = wanted.setdefault(field.related_model, set())
                for value in (old, new):
                    for v in value if isinstance(value, list) else [value]:
                        # Entries may hold a name instead of an id (a username, a slug):
                        # only values of the primary key's type are looked up.
                        try:
                            ids.add(field.related_model._meta.pk.to_python(v))
                        except (TypeError, ValueError, ValidationError):
                            continue
    names = {
        related: {str(obj.pk): display_name(obj) for obj in related._default_manager.filter(pk__in=ids)}
        for related, ids in wanted.items() if ids
    }
    for entry in entries:
        rows = []
        for key, old, new in entry.changes:
            field = _field_of(entry._model, key)
            if getattr(field, "auto_now", False):
                continue  # "updated at": the entry's own time says it
            label = str(field.verbose_name) if field is not None and not key.startswith("_") else field_label(key)
            if field is not None and field.name.endswith("_seconds"):
                label = label.removesuffix(" seconds")  # its values say their unit ("3 h")
            rows.append((label, _display(field, old, names), _display(field, new, names)))
        entry.readable = rows
    return entries


# Words of action names that people write as acronyms ("SLA created", not "Sla created").
ACRONYMS = {"sla": "SLA", "api": "API", "apis": "APIs", "sor": "SoR", "kpi": "KPI", "fx": "FX", "csv": "CSV",
            "url": "URL", "oidc": "OIDC"}


def action_label(action: str) -> str:
    """``businessexception.assigned`` -> ``assigned``; ``integration.sla_created`` -> ``SLA created``."""
    words = action.split(".", 1)[-1].split("_")
    return " ".join(ACRONYMS.get(word, word) for word in words)


def display_name(obj) -> str:
    """What people call an object: a user's full name when there is one, else its str()."""
    full = getattr(obj, "get_full_name", None)
    return (full() if callable(full) else "") or str(obj)


def readable_history(obj, limit: int = 50):
    return readable_changes(history(obj, limit))
