"""Every write to the exception queues: ingestion, the lifecycle moves, comments, replay
requests, overdue marking and the routing configuration. One function per action, each
atomic with one audit row per changed exception."""

import datetime
import hashlib
import json
import logging
import re
import uuid
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.core.mail import send_mail
from django.db import IntegrityError, OperationalError, connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.text import slugify

from controlplane import audit, outbox
from controlplane.errors import Conflict, InvalidTransition, ValidationFailed
from controlplane.models import AuditEntry

from .choices import (
    INDEXED_BUSINESS_KEYS,
    OPEN_STATUSES,
    SEVERITY_RANK,
    Resolution,
    Severity,
    Status,
    can_move,
    raised,
)
from .models import BusinessException, Comment, DefaultQueue, IdempotencyKey, Queue, ReplayTarget, RoutingRule

log = logging.getLogger(__name__)

INTEGRATION_OPS = "Integration Ops"
_AUDIT_FIELDS = ("status", "assignee", "severity", "queue", "resolution_code", "resolution_note", "resolved_at", "due_at")


# --- routing ---------------------------------------------------------------------------


def integration_ops_queue(integration) -> Queue:
    """The catch-all queue, created on first need and owned by the integration's team."""
    queue = Queue.objects.filter(name=INTEGRATION_OPS).first()
    if queue is None:
        try:
            with transaction.atomic():
                queue = Queue.objects.create(
                    name=INTEGRATION_OPS, slug=slugify(INTEGRATION_OPS), team_id=integration.owner_team_id,
                    description="Exceptions no routing rule claimed.",
                )
        except IntegrityError:  # created concurrently
            queue = Queue.objects.get(name=INTEGRATION_OPS)
    return queue


class Router:
    """Routing decisions for many exceptions with the rules loaded once.

    ``rules`` may be given (a preview of edited rules); otherwise the enabled rules in order.
    """

    def __init__(self, rules=None):
        if rules is None:
            rules = RoutingRule.objects.filter(enabled=True).select_related("queue").order_by("position", "id")
        self.rules = [r for r in rules if r.enabled]
        self.defaults = {d.integration_id: d.queue for d in DefaultQueue.objects.select_related("queue")}
        self._ops = None

    def route(self, *, integration, entity_id, error_code, severity, business_keys):
        """-> (queue, assignee_id, severity, rule or None)."""
        for rule in self.rules:
            if rule.matches(
                integration_id=integration.pk, entity_id=entity_id, error_code=error_code,
                severity=severity, business_keys=business_keys,
            ):
                final = severity
                if rule.raise_severity_to and SEVERITY_RANK[rule.raise_severity_to] < SEVERITY_RANK[severity]:
                    final = rule.raise_severity_to
                return rule.queue, rule.assignee_id, final, rule
        queue = self.defaults.get(integration.pk)
        if queue is None:
            if self._ops is None:
                self._ops = integration_ops_queue(integration)
            queue = self._ops
        return queue, None, severity, None


def default_fingerprint(integration_slug: str, error_code: str, business_keys: dict) -> str:
    """integration + error code + business keys, hashed: the same failure of the same
    transaction is the same exception."""
    raw = json.dumps([integration_slug, error_code, business_keys or {}], sort_keys=True, default=str)
    return hashlib.sha256(raw.encode()).hexdigest()


def _due_at(queue: Queue, severity: str, start):
    return start + datetime.timedelta(hours=queue.target_hours(severity))


# --- ingestion -------------------------------------------------------------------------


class IngestItem:
    """One validated item ready to store (built by ``exceptions.ingestion``)."""

    __slots__ = (
        "integration", "entity_id", "error_code", "message", "severity", "business_keys", "amount_at_risk",
        "currency", "correlation_id", "fingerprint", "idempotency_key", "payload", "details", "seen_at",
    )

    def __init__(self, **kwargs):
        for name in self.__slots__:
            setattr(self, name, kwargs.get(name))
        self.business_keys = self.business_keys or {}
        self.details = self.details or {}
        self.amount_at_risk = self.amount_at_risk if self.amount_at_risk is not None else Decimal("0")
        if not self.fingerprint:
            self.fingerprint = default_fingerprint(self.integration.slug, self.error_code, self.business_keys)


def _new_exception(item: IngestItem, router: Router, now) -> BusinessException:
    queue, assignee_id, severity, _rule = router.route(
        integration=item.integration, entity_id=item.entity_id, error_code=item.error_code,
        severity=item.severity, business_keys=item.business_keys,
    )
    seen = item.seen_at or now
    indexed = {k: str(item.business_keys.get(k, "") or "")[:200] for k in INDEXED_BUSINESS_KEYS}
    indexed["legal_entity"] = indexed["legal_entity"][:50]
    indexed["invoice_number"] = indexed["invoice_number"][:100]
    indexed["project_code"] = indexed["project_code"][:100]
    indexed["contract"] = indexed["contract"][:100]
    return BusinessException(
        integration=item.integration, entity_id=item.entity_id, error_code=item.error_code, message=item.message,
        severity=severity, reported_severity=item.severity, status=Status.NEW, queue=queue,
        assignee_id=assignee_id, business_keys=item.business_keys, amount_at_risk=item.amount_at_risk,
        currency=item.currency or "", correlation_id=item.correlation_id or "", fingerprint=item.fingerprint,
        occurrences=1, first_seen=seen, last_seen=seen, due_at=_due_at(queue, severity, seen),
        payload=item.payload, details=item.details, **indexed,
    )


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
    table = model._meta.db_table
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    rows = [{f.column: _plain(getattr(o, f.attname)) for f in fields} for o in objs]
    quote = connection.ops.quote_name
    cols = ", ".join(quote(f.column) for f in fields)
    returning = f"id, {quote(key_field)}" if key_field else "id"
    sql = (f"INSERT INTO {quote(table)} ({cols}) SELECT {cols} FROM json_populate_recordset(NULL::{quote(table)}, %s)"
           f" RETURNING {returning}")
    with connection.cursor() as cursor:
        cursor.execute(sql, [json.dumps(rows, default=str)])
        returned = cursor.fetchall()
    if key_field:
        by_key = {row[1]: row[0] for row in returned}
        for obj in objs:
            obj.pk = by_key[getattr(obj, key_field)]


def _bulk_audit(actor, action, objects, note=""):
    """One audit row per object, written in one INSERT (ingestion of 1,000 items)."""
    if not objects:
        return
    actor_obj = actor if getattr(actor, "is_authenticated", False) else None
    actor_repr = getattr(actor_obj, "username", "") or "system"
    ct = ContentType.objects.get_for_model(BusinessException)
    from controlplane.middleware import current_request_id

    request_id = current_request_id() or ""
    now = timezone.now()
    _bulk_insert([
        AuditEntry(
            created_at=now, actor=actor_obj, actor_repr=actor_repr, action=action, content_type=ct,
            object_id=str(obj.pk), object_repr=str(obj)[:200], before=None,
            after={"status": obj.status, "queue": obj.queue_id, "severity": obj.severity, "assignee": obj.assignee_id},
            request_id=request_id, note=note,
        )
        for obj in objects
    ])


def _regress(exc: BusinessException, *, now, actor, count: int) -> bool:
    """Reopen a resolved exception whose failure came back. False if it changed meanwhile."""
    before = audit.snapshot(exc, _AUDIT_FIELDS)
    due = _due_at(exc.queue, exc.severity, now)
    changed = BusinessException.objects.filter(pk=exc.pk, status=exc.status).update(
        status=Status.REOPENED, occurrences=F("occurrences") + count, regressions=F("regressions") + 1,
        last_seen=now, resolved_at=None, due_at=due, is_overdue=False, updated_at=now,
    )
    if not changed:
        return False
    exc.refresh_from_db()
    audit.record(
        actor=actor, action="businessexception.regressed", obj=exc, before=before,
        after=audit.snapshot(exc, _AUDIT_FIELDS),
        note=f"Regression: the failure came back after it was {before['status']} "
             f"({before.get('resolution_code') or 'no code'}).",
    )
    return True


def _ingest_one(item: IngestItem, *, router, now, actor):
    """The careful path, one item in its own savepoint, retried when a concurrent post
    wins a unique index (fingerprint or idempotency key) first."""
    for _attempt in range(6):
        try:
            with transaction.atomic():
                if item.idempotency_key:
                    known = IdempotencyKey.objects.filter(key=item.idempotency_key).values_list("exception_id", flat=True).first()
                    if known:
                        return known, "idempotent"
                exc = (
                    BusinessException.objects.select_for_update()
                    .filter(fingerprint=item.fingerprint, status__in=OPEN_STATUSES).first()
                )
                if exc is not None:
                    BusinessException.objects.filter(pk=exc.pk).update(
                        occurrences=F("occurrences") + 1, last_seen=now, updated_at=now
                    )
                    outcome = "deduplicated"
                else:
                    exc = (
                        # of=self: a plain FOR UPDATE would also lock the (shared) queue row,
                        # which every concurrent insert needs FOR KEY SHARE for its foreign
                        # key: under load that deadlocked ingestion (found by `make load`).
                        BusinessException.objects.select_for_update(of=("self",)).select_related("queue")
                        .filter(fingerprint=item.fingerprint, status=Status.RESOLVED).order_by("-id").first()
                    )
                    if exc is not None:
                        if not _regress(exc, now=now, actor=actor, count=1):
                            raise IntegrityError("resolved exception changed concurrently")
                        outcome = "regressed"
                    else:
                        exc = _new_exception(item, router, now)
                        exc.save(force_insert=True)
                        _bulk_audit(actor, "businessexception.created", [exc], note="ingested")
                        outcome = "created"
                if item.idempotency_key:
                    IdempotencyKey.objects.create(key=item.idempotency_key, exception_id=exc.pk)
                return exc.pk, outcome
        except IntegrityError:
            continue
    raise Conflict("Too many concurrent changes to the same exception; retry the post.")


def _fast_path(items, pending, *, router, now, actor):
    """Set-based ingestion of a batch: a handful of queries whatever its size.

    Returns {index: (id, outcome)} or raises IntegrityError when a concurrent post got in
    first (the caller rolls back the savepoint and takes the careful path)."""
    out = {}
    groups: dict[str, list[int]] = {}
    for i in pending:
        groups.setdefault(items[i].fingerprint, []).append(i)
    open_map = {
        e.fingerprint: e
        for e in BusinessException.objects.filter(fingerprint__in=list(groups), status__in=OPEN_STATUSES).only("id", "fingerprint")
    }
    resolved = set(
        BusinessException.objects.filter(
            fingerprint__in=[fp for fp in groups if fp not in open_map], status=Status.RESOLVED
        ).values_list("fingerprint", flat=True)
    )
    if resolved:
        raise _NeedCarefulPath()
    # Repeats of open exceptions: one UPDATE for all of them on PostgreSQL. Rows are
    # locked in id order (and new fingerprints inserted in fingerprint order, below) so two
    # concurrent batches touching the same exceptions queue up instead of deadlocking.
    counts = {exc.pk: len(groups[fp]) for fp, exc in sorted(open_map.items(), key=lambda kv: kv[1].pk)}
    if counts and not _bulk_count_occurrences(counts, now):
        raise _NeedCarefulPath()
    for fp, exc in open_map.items():
        for i in groups[fp]:
            out[i] = (exc.pk, "deduplicated")
    # New fingerprints: one INSERT for all, one for their audit rows.
    new_objs, new_groups = [], []
    for fp, idx in sorted(groups.items()):
        if fp in open_map:
            continue
        obj = _new_exception(items[idx[0]], router, now)
        obj.occurrences = len(idx)
        new_objs.append(obj)
        new_groups.append(idx)
    if new_objs:
        for obj in new_objs:
            obj.updated_at = now
        _bulk_insert(new_objs, key_field="fingerprint")
        if any(o.pk is None for o in new_objs):  # backends that do not return ids
            raise _NeedCarefulPath()
        _bulk_audit(actor, "businessexception.created", new_objs, note="ingested")
        for obj, idx in zip(new_objs, new_groups, strict=True):
            out[idx[0]] = (obj.pk, "created")
            for i in idx[1:]:
                out[i] = (obj.pk, "deduplicated")
    keys = [IdempotencyKey(key=items[i].idempotency_key, exception_id=out[i][0]) for i in pending if items[i].idempotency_key]
    if keys:
        IdempotencyKey.objects.bulk_create(keys)
    return out


def _bulk_count_occurrences(counts: dict[int, int], now) -> bool:
    """Add occurrences to open exceptions. False if any of them closed meanwhile (the
    caller rolls back and takes the careful path)."""
    if connection.vendor == "postgresql":
        open_list = ", ".join(f"'{s.value}'" for s in OPEN_STATUSES)
        sql = (
            "UPDATE exceptions_businessexception AS e SET occurrences = e.occurrences + v.n, last_seen = %s, updated_at = %s"
            " FROM json_to_recordset(%s) AS v(id bigint, n integer)"
            f" WHERE e.id = v.id AND e.status IN ({open_list})"
        )
        with connection.cursor() as cursor:
            if len(counts) > 1:  # the UPDATE's join order is the planner's: lock in id order first
                cursor.execute("SELECT id FROM exceptions_businessexception WHERE id = ANY(%s::bigint[]) ORDER BY id FOR UPDATE",
                               [sorted(counts)])
            cursor.execute(sql, [now, now, json.dumps([{"id": k, "n": n} for k, n in counts.items()])])
            return cursor.rowcount == len(counts)
    for pk, n in counts.items():
        changed = BusinessException.objects.filter(pk=pk, status__in=OPEN_STATUSES).update(
            occurrences=F("occurrences") + n, last_seen=now, updated_at=now
        )
        if not changed:
            return False
    return True


class _NeedCarefulPath(Exception):
    pass


def _careful_path(items, pending, outcomes, *, router, now, actor):
    # Fingerprint order: two batches sharing fingerprints lock them in the same order.
    for i in sorted(pending, key=lambda i: items[i].fingerprint):
        outcomes[i] = _ingest_one(items[i], router=router, now=now, actor=actor)


@transaction.atomic
def ingest(*, items: list[IngestItem], actor) -> list[dict]:
    """Store validated items: create, deduplicate by fingerprint, reopen regressions, and
    honour idempotency keys. All or nothing: one transaction for the batch.

    Returns one result per item: ``{"id", "status", "occurrences", "deduplicated", "outcome"}``
    where outcome is created / deduplicated / regressed / idempotent.
    """
    now = timezone.now()
    router = Router()
    found = {}
    if any(it.idempotency_key for it in items):
        found = dict(
            IdempotencyKey.objects.filter(key__in=[it.idempotency_key for it in items if it.idempotency_key])
            .values_list("key", "exception_id")
        )
    outcomes: dict[int, tuple[int, str]] = {}
    pending, first_with_key, aliases = [], {}, {}
    for i, it in enumerate(items):
        key = it.idempotency_key
        if key and key in found:
            outcomes[i] = (found[key], "idempotent")
        elif key and key in first_with_key:
            aliases[i] = first_with_key[key]
        else:
            if key:
                first_with_key[key] = i
            pending.append(i)
    if pending:
        try:
            with transaction.atomic():
                outcomes.update(_fast_path(items, pending, router=router, now=now, actor=actor))
        except (IntegrityError, _NeedCarefulPath):
            _careful_path(items, pending, outcomes, router=router, now=now, actor=actor)
        except OperationalError as exc:
            # A deadlock with a concurrent post rolled the fast path's savepoint back;
            # the one-by-one path takes the locks in a fixed order.
            if getattr(getattr(exc, "__cause__", None), "sqlstate", None) != "40P01":
                raise
            _careful_path(items, pending, outcomes, router=router, now=now, actor=actor)
    for i, first in aliases.items():
        outcomes[i] = (outcomes[first][0], "idempotent")
    ids = {pk for pk, _ in outcomes.values()}
    state = dict(
        (pk, (status, occ))
        for pk, status, occ in BusinessException.objects.filter(pk__in=ids).values_list("id", "status", "occurrences")
    )
    results = []
    for i in range(len(items)):
        pk, outcome = outcomes[i]
        status, occ = state[pk]
        results.append({"id": pk, "status": status, "occurrences": occ, "deduplicated": outcome != "created", "outcome": outcome})
    return results


def open_system_exception(*, integration, error_code: str, message: str, severity: str, fingerprint: str,
                          details: dict | None = None, actor=None) -> BusinessException:
    """For the platform itself (health breaches): routed like ingestion, deduplicated by
    ``fingerprint`` (an open one gets occurrences + 1; a resolved one is reopened)."""
    if severity not in Severity.values:
        raise ValidationFailed(f"Unknown severity {severity!r}.", fields={"severity": ["Unknown severity."]})
    item = IngestItem(
        integration=integration, entity_id=None, error_code=error_code[:100], message=message, severity=severity,
        fingerprint=fingerprint[:128], details=details or {}, seen_at=None,
    )
    with transaction.atomic():
        pk, _outcome = _ingest_one(item, router=Router(), now=timezone.now(), actor=actor)
    return BusinessException.objects.get(pk=pk)


@transaction.atomic
def auto_resolve(*, fingerprint: str | None = None, correlation_id: str | None = None, note: str = "", actor=None) -> int:
    """Resolve every open exception with this fingerprint or correlation id as "fixed at
    source" (the middleware says the source fixed itself). Returns how many."""
    if not fingerprint and not correlation_id:
        raise ValidationFailed("Give a fingerprint or a correlation id.", fields={"fingerprint": ["Required without correlation_id."]})
    qs = BusinessException.objects.open()
    qs = qs.filter(fingerprint=fingerprint) if fingerprint else qs.filter(correlation_id=correlation_id)
    now = timezone.now()
    resolved = []
    for exc in qs.select_for_update():
        changed = BusinessException.objects.filter(pk=exc.pk, status=exc.status).update(
            status=Status.RESOLVED, resolution_code=Resolution.FIXED_AT_SOURCE, resolution_note=note,
            resolved_at=now, is_overdue=False, updated_at=now,
        )
        if changed:
            exc.status = Status.RESOLVED
            resolved.append(exc)
    _bulk_audit(actor, "businessexception.auto_resolved", resolved, note=note or "fixed at source")
    return len(resolved)


# --- lifecycle -------------------------------------------------------------------------


def _pk(exception):
    return exception.pk if isinstance(exception, BusinessException) else int(exception)


def _move(exception, *, actor, to, action, expected_status=None, note="", **changes) -> BusinessException:
    fresh = BusinessException.objects.select_related("queue").get(pk=_pk(exception))
    if expected_status and fresh.status != expected_status:
        raise Conflict(
            f"Someone else changed this exception first: it is now {fresh.get_status_display().lower()}. "
            "Reload to see the change.", fields={"status": [fresh.status]},
        )
    if not can_move(fresh.status, to):
        raise InvalidTransition(
            f"An exception that is {fresh.get_status_display().lower()} cannot become {Status(to).label.lower()}.",
        )
    before = audit.snapshot(fresh, _AUDIT_FIELDS)
    now = timezone.now()
    changed = BusinessException.objects.filter(pk=fresh.pk, status=fresh.status).update(status=to, updated_at=now, **changes)
    if not changed:
        raise Conflict("Someone else changed this exception at the same moment. Reload and try again.")
    fresh.refresh_from_db()
    audit.record(actor=actor, action=action, obj=fresh, before=before, after=audit.snapshot(fresh, _AUDIT_FIELDS), note=note)
    return fresh


@transaction.atomic
def acknowledge(*, exception, actor, assignee=None, expected_status=None) -> BusinessException:
    """Take it on: acknowledged and assigned (to the actor unless someone else is named)."""
    who = assignee or actor
    return _move(exception, actor=actor, to=Status.ACKNOWLEDGED, action="businessexception.acknowledged",
                 expected_status=expected_status, assignee_id=who.pk)


@transaction.atomic
def assign(*, exception, actor, assignee, expected_status=None) -> BusinessException:
    """Give it to someone. New and reopened exceptions become acknowledged; others keep
    their state and change hands."""
    fresh = BusinessException.objects.get(pk=_pk(exception))
    if fresh.status in (Status.NEW, Status.REOPENED):
        return _move(fresh, actor=actor, to=Status.ACKNOWLEDGED, action="businessexception.assigned",
                     expected_status=expected_status, assignee_id=assignee.pk if assignee else None)
    if fresh.status not in OPEN_STATUSES:
        raise InvalidTransition("Closed exceptions cannot be assigned; reopen it first.")
    if expected_status and fresh.status != expected_status:
        raise Conflict(f"Someone else changed this exception first: it is now {fresh.get_status_display().lower()}.")
    before = audit.snapshot(fresh, _AUDIT_FIELDS)
    changed = BusinessException.objects.filter(pk=fresh.pk, status=fresh.status, assignee_id=fresh.assignee_id).update(
        assignee_id=assignee.pk if assignee else None, updated_at=timezone.now()
    )
    if not changed:
        raise Conflict("Someone else changed this exception at the same moment. Reload and try again.")
    fresh.refresh_from_db()
    audit.record(actor=actor, action="businessexception.assigned", obj=fresh, before=before,
                 after=audit.snapshot(fresh, _AUDIT_FIELDS))
    return fresh


@transaction.atomic
def start_progress(*, exception, actor, expected_status=None) -> BusinessException:
    fresh = BusinessException.objects.get(pk=_pk(exception))
    extra = {} if fresh.assignee_id else {"assignee_id": actor.pk}
    return _move(fresh, actor=actor, to=Status.IN_PROGRESS, action="businessexception.started",
                 expected_status=expected_status, **extra)


@transaction.atomic
def resolve(*, exception, actor, resolution_code: str, note: str = "", expected_status=None) -> BusinessException:
    if resolution_code not in Resolution.values:
        raise ValidationFailed("Choose a resolution code.", fields={"resolution_code": ["Choose a resolution code."]})
    return _move(exception, actor=actor, to=Status.RESOLVED, action="businessexception.resolved",
                 expected_status=expected_status, note=note, resolution_code=resolution_code,
                 resolution_note=note, resolved_at=timezone.now(), is_overdue=False)


@transaction.atomic
def dismiss(*, exception, actor, resolution_code: str = Resolution.NOT_AN_ERROR, note: str = "",
            expected_status=None) -> BusinessException:
    if resolution_code not in Resolution.values:
        raise ValidationFailed("Choose a resolution code.", fields={"resolution_code": ["Choose a resolution code."]})
    return _move(exception, actor=actor, to=Status.DISMISSED, action="businessexception.dismissed",
                 expected_status=expected_status, note=note, resolution_code=resolution_code,
                 resolution_note=note, resolved_at=timezone.now(), is_overdue=False)


@transaction.atomic
def reopen(*, exception, actor, note: str = "", expected_status=None) -> BusinessException:
    fresh = BusinessException.objects.select_related("queue").get(pk=_pk(exception))
    now = timezone.now()
    return _move(fresh, actor=actor, to=Status.REOPENED, action="businessexception.reopened",
                 expected_status=expected_status, note=note, resolved_at=None,
                 due_at=_due_at(fresh.queue, fresh.severity, now), is_overdue=False)


ACTIONS = {
    "acknowledge": acknowledge,
    "start": start_progress,
    "resolve": resolve,
    "dismiss": dismiss,
    "reopen": reopen,
}


def bulk_apply(*, ids, actor, action: str, **kwargs) -> tuple[list[int], dict[int, str]]:
    """Apply one action to many exceptions, each in its own transaction: one that moved
    meanwhile is reported, not allowed to undo the rest. -> (done ids, {id: reason})."""
    from controlplane.errors import DomainError

    done, failed = [], {}
    # Exceptions in restricted queues the actor may not see are "not found", as on the detail page.
    visible = set(BusinessException.objects.visible_to(actor).filter(pk__in=ids).values_list("pk", flat=True))
    for pk in ids:
        if pk not in visible:
            failed[pk] = "Not found."
            continue
        try:
            if action == "assign":
                assign(exception=pk, actor=actor, **kwargs)
            elif action == "replay":
                request_replay(exception=pk, actor=actor)
            else:
                ACTIONS[action](exception=pk, actor=actor, **kwargs)
            done.append(pk)
        except DomainError as exc:
            failed[pk] = exc.message
        except BusinessException.DoesNotExist:
            failed[pk] = "Not found."
    return done, failed


# --- comments --------------------------------------------------------------------------

MENTION_RE = re.compile(r"(?<![\w@])@([\w.+-]+)")


@transaction.atomic
def add_comment(*, exception, actor, body: str) -> Comment:
    """A comment; ``@username`` mentions link those users and email them."""
    body = (body or "").strip()
    if not body:
        raise ValidationFailed("Write something first.", fields={"body": ["This field is required."]})
    exc = BusinessException.objects.get(pk=_pk(exception))
    names = {m.rstrip(".") for m in MENTION_RE.findall(body)}
    users = list(get_user_model().objects.filter(username__in=names, is_active=True)) if names else []
    comment = Comment.objects.create(exception=exc, author=actor, body=body)
    if users:
        comment.mentions.set(users)
    audit.record(actor=actor, action="businessexception.commented", obj=exc,
                 note=body[:500] + (f" (mentions: {', '.join(u.username for u in users)})" if users else ""))
    recipients = [u.email for u in users if u.email and u.pk != getattr(actor, "pk", None)]
    if recipients:
        link = exc.get_absolute_url()
        transaction.on_commit(lambda: send_mail(
            f"You were mentioned on {exc}", f"{actor} wrote:\n\n{body}\n\n{link}",
            settings.DEFAULT_FROM_EMAIL, recipients, fail_silently=True,
        ))
    return comment


# --- replay ----------------------------------------------------------------------------

_UNSET = object()


def payload_size(payload) -> int:
    return len(json.dumps(payload, separators=(",", ":"), default=str).encode())


@transaction.atomic
def request_replay(*, exception, actor, payload=_UNSET) -> uuid.UUID:
    """Queue a replay of the exception's payload (edited first when ``payload`` is given)
    to the integration's replay target. The task posts it and records every attempt."""
    from . import schema_check, tasks

    # of=self: do not lock the integration row every ingest of its exceptions references.
    exc = BusinessException.objects.select_for_update(of=("self",)).select_related("integration").get(pk=_pk(exception))
    if not exc.is_open:
        raise InvalidTransition("Only open exceptions can be replayed; reopen it first.")
    target = ReplayTarget.objects.filter(integration_id=exc.integration_id, enabled=True).first()
    if target is None:
        raise ValidationFailed(f"{exc.integration} declares no replay endpoint.", code="no_replay_target")
    note = "replay requested"
    if payload is not _UNSET:
        if payload is None:
            raise ValidationFailed("The payload is empty.", fields={"payload": ["Enter a JSON value."]})
        limit = settings.EXCEPTIONS_MAX_PAYLOAD_BYTES
        if payload_size(payload) > limit:
            raise ValidationFailed(f"The payload is over the {limit // 1024} KB limit.", fields={"payload": ["Too large."]})
        if exc.entity_id:
            errors = schema_check.validate_against_entity_schema(exc.entity, payload)
            if errors:
                raise ValidationFailed("The payload does not match the entity's approved schema.",
                                       fields={"payload": errors})
        if payload != exc.payload:
            fields = ["payload"]
            if exc.original_payload is None:
                exc.original_payload = exc.payload
                fields.append("original_payload")
            exc.payload = payload
            exc.save(update_fields=[*fields, "updated_at"])
            note = "payload edited; replay requested"
    if exc.payload is None:
        raise ValidationFailed("There is no payload to replay.", fields={"payload": ["Enter a JSON value."]})
    replay_id = uuid.uuid4()
    audit.record(actor=actor, action="businessexception.replay_requested", obj=exc,
                 after={"replay_id": str(replay_id), "payload_sha256": hashlib.sha256(
                     json.dumps(exc.payload, sort_keys=True, default=str).encode()).hexdigest()},
                 note=note)
    actor_id = getattr(actor, "pk", None)
    # The outbox: a broker outage neither fails this request nor loses the replay.
    outbox.enqueue(tasks.replay_exception, exc.pk, str(replay_id), 1, actor_id)
    return replay_id


# --- overdue ---------------------------------------------------------------------------


@transaction.atomic
def mark_overdue(*, now=None, actor=None) -> int:
    """Flag open exceptions past their due time, raise severity where the queue says so,
    and email each queue's team once with what went overdue. Returns how many."""
    now = now or timezone.now()
    newly = list(
        BusinessException.objects.overdue(now).filter(is_overdue=False)
        .select_related("queue", "queue__team").select_for_update(of=("self",))
    )
    if not newly:
        return 0
    plain = [e.pk for e in newly if not e.queue.raise_severity_when_overdue]
    BusinessException.objects.filter(pk__in=plain, is_overdue=False).update(is_overdue=True, updated_at=now)
    for exc in newly:
        if exc.queue.raise_severity_when_overdue:
            new_sev = raised(exc.severity)
            BusinessException.objects.filter(pk=exc.pk).update(is_overdue=True, severity=new_sev, updated_at=now)
            exc.severity = new_sev
        exc.is_overdue = True
    _bulk_audit(actor, "businessexception.overdue", newly, note="past due")
    by_queue: dict[int, list[BusinessException]] = {}
    for exc in newly:
        by_queue.setdefault(exc.queue_id, []).append(exc)
    for items in by_queue.values():
        queue = items[0].queue
        recipients = _team_emails(queue.team)
        if not recipients:
            continue
        lines = [f"- {e} {e.message[:80]} (due {e.due_at:%Y-%m-%d %H:%M} UTC, severity {e.severity})" for e in items[:50]]
        more = f"\n... and {len(items) - 50} more" if len(items) > 50 else ""
        body = f"{len(items)} exception(s) in queue {queue} went overdue:\n\n" + "\n".join(lines) + more
        subject = f"[{queue}] {len(items)} exception(s) overdue"
        transaction.on_commit(lambda s=subject, b=body, r=recipients: send_mail(
            s, b, settings.DEFAULT_FROM_EMAIL, r, fail_silently=True))
    return len(newly)


def _team_emails(team) -> list[str]:
    emails = [team.email] if team.email else []
    for member in team.memberships.select_related("user"):
        email = member.email or (member.user.email if member.user else "")
        if email and email not in emails:
            emails.append(email)
    return emails


# --- configuration (queues and routing rules) -----------------------------------------

QUEUE_FIELDS = ("name", "slug", "description", "team", "target_hours_critical", "target_hours_high",
                "target_hours_medium", "target_hours_low", "raise_severity_when_overdue", "restricted")
RULE_FIELDS = ("position", "name", "enabled", "integration", "entity", "error_code", "error_code_match", "severity",
               "business_key", "business_value", "queue", "assignee", "raise_severity_to")


def _save_config(model, fields, *, actor, instance=None, data: dict, action: str):
    creating = instance is None
    obj = instance or model()
    before = None if creating else audit.snapshot(obj)
    for name in fields:
        if name in data:
            setattr(obj, name, data[name])
    if isinstance(obj, Queue) and not obj.slug:
        obj.slug = slugify(obj.name)[:100]
    obj.full_clean()
    if creating:
        obj.save()
    else:
        obj.save(update_fields=[model._meta.get_field(n).attname if model._meta.get_field(n).is_relation else n
                                for n in fields if n in data] + (["updated_at"] if hasattr(obj, "updated_at") else []))
    audit.record(actor=actor, action=f"{action}.{'created' if creating else 'changed'}", obj=obj, before=before,
                 after=audit.snapshot(obj))
    return obj


@transaction.atomic
def save_queue(*, actor, data: dict, queue: Queue | None = None) -> Queue:
    return _save_config(Queue, QUEUE_FIELDS, actor=actor, instance=queue, data=data, action="queue")


@transaction.atomic
def save_routing_rule(*, actor, data: dict, rule: RoutingRule | None = None) -> RoutingRule:
    return _save_config(RoutingRule, RULE_FIELDS, actor=actor, instance=rule, data=data, action="routingrule")


@transaction.atomic
def delete_routing_rule(*, actor, rule: RoutingRule) -> None:
    audit.record(actor=actor, action="routingrule.deleted", obj=rule, before=audit.snapshot(rule))
    rule.delete()
