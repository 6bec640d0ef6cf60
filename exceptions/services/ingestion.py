"""Ingestion: storing new exceptions, counting repeats, reopening regressions, and the
automatic open/resolve used by health checks."""

import functools
import hashlib
import json
import logging
from decimal import Decimal

from django.db import IntegrityError, OperationalError, connection, transaction
from django.db.models import F
from django.utils import timezone

from controlplane import audit, statements
from controlplane import scope as token_scope
from controlplane.errors import Conflict, IdempotencyConflict, ValidationFailed

from ..choices import (
    INDEXED_BUSINESS_KEYS,
    OPEN_STATUSES,
    Resolution,
    Severity,
    Status,
)
from ..models import BusinessException, IdempotencyKey
from ._shared import AUDIT_FIELDS as _AUDIT_FIELDS
from ._shared import _bulk_audit, _bulk_insert, _plain, audit_context
from .routing import Router, due_at, forget_routing

log = logging.getLogger(__name__)


# --- ingestion -------------------------------------------------------------------------


def default_fingerprint(integration_slug: str, error_code: str, business_keys: dict) -> str:
    """integration + error code + business keys, hashed: the same failure of the same
    transaction is the same exception."""
    raw = json.dumps([integration_slug, error_code, business_keys or {}], sort_keys=True, default=str)
    return hashlib.sha256(raw.encode()).hexdigest()


class IngestItem:
    """One validated item ready to store (built by ``exceptions.ingestion``)."""

    __slots__ = (
        "integration", "entity_id", "error_code", "message", "severity", "business_keys", "amount_at_risk",
        "currency", "correlation_id", "fingerprint", "idempotency_key", "payload", "details", "seen_at", "_body_hash",
    )

    def __init__(self, **kwargs):
        for name in self.__slots__:
            setattr(self, name, kwargs.get(name))
        self.business_keys = self.business_keys or {}
        self.details = self.details or {}
        self.amount_at_risk = self.amount_at_risk if self.amount_at_risk is not None else Decimal("0")
        if not self.fingerprint:
            self.fingerprint = default_fingerprint(self.integration.slug, self.error_code, self.business_keys)

    @property
    def body_hash(self) -> str:
        """SHA-256 of what the item says (everything but its idempotency key), after
        validation: the same report re-sent hashes the same, a changed one does not.
        Computed when first asked (only items with an idempotency key need it: serialising
        every item's payload again cost a tenth of a 1,000-item batch)."""
        if self._body_hash is None:
            self._body_hash = self._hash()
        return self._body_hash

    def _hash(self) -> str:
        said = [self.integration.pk, self.entity_id, self.error_code, self.message, self.severity, self.business_keys,
                str(self.amount_at_risk), self.currency or "", self.correlation_id or "", self.fingerprint,
                self.payload, self.details, self.seen_at.isoformat() if self.seen_at else None]
        return hashlib.sha256(json.dumps(said, sort_keys=True, default=str).encode()).hexdigest()


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
        occurrences=1, first_seen=seen, last_seen=seen, due_at=due_at(queue, severity, seen),
        payload=item.payload, details=item.details, **indexed,
    )


def _regress(exc: BusinessException, *, now, actor, count: int) -> bool:
    """Reopen a resolved exception whose failure came back. False if it changed meanwhile."""
    before = audit.snapshot(exc, _AUDIT_FIELDS)
    due = due_at(exc.queue, exc.severity, now)
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
                    known = (IdempotencyKey.objects.filter(account_id=_account_id(actor), key=item.idempotency_key)
                             .values_list("exception_id", "body_sha256").first())
                    if known:
                        _check_same_body(item, known[1], known[0])
                        return known[0], "idempotent"
                exc = (
                    BusinessException.objects.select_for_update()
                    .filter(integration_id=item.integration.pk, fingerprint=item.fingerprint, status__in=OPEN_STATUSES).first()
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
                        .filter(integration_id=item.integration.pk, fingerprint=item.fingerprint, status=Status.RESOLVED)
                        .order_by("-id").first()
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
                    IdempotencyKey.objects.create(account_id=_account_id(actor), key=item.idempotency_key,
                                                  body_sha256=item.body_hash, exception_id=exc.pk)
                return exc.pk, outcome
        except IntegrityError:
            # A concurrent post got in first, or a queue cached for routing was deleted by
            # another process within the cache's second: retry with the routing read afresh.
            forget_routing()
            router = Router()
            continue
    raise Conflict("Too many concurrent changes to the same exception; retry the post.")


def _fast_path(items, pending, *, router, now, actor, state):
    """Set-based ingestion of a batch: a handful of queries whatever its size.

    Fills ``state`` with {id: (status, occurrences)} of the rows it wrote. Returns
    {index: (id, outcome)} or raises IntegrityError when a concurrent post got in
    first (the caller rolls back the savepoint and takes the careful path)."""
    out = {}
    groups: dict[str, list[int]] = {}
    integration_of: dict[str, int] = {}
    for i in pending:
        fp, integration_id = items[i].fingerprint, items[i].integration.pk
        if integration_of.setdefault(fp, integration_id) != integration_id:
            # One fingerprint sent for two integrations (caller-supplied): they must stay
            # apart, and the set-based insert matches new rows back by fingerprint.
            raise _NeedCarefulPath()
        groups.setdefault(fp, []).append(i)
    # Open and resolved rows of these fingerprints in one query: an open one is repeated,
    # a resolved one (with no open one) regresses. Only the regressing items go one by one
    # (each reopening is its own audited change), after the set-based writes; the rest of
    # the batch stays set-based (a batch of 10 with one regression used to go item by item).
    open_map, resolved = {}, set()
    for pk, fp, integration_id, status in _rows_of_fingerprints(list(groups)):
        if integration_id != integration_of[fp]:
            continue
        if status == Status.RESOLVED:
            resolved.add(fp)
        else:
            open_map[fp] = BusinessException(pk=pk, fingerprint=fp, integration_id=integration_id)
    regressing = [i for fp in sorted(resolved - set(open_map)) for i in groups.pop(fp)]
    if regressing:
        later = set(regressing)
        pending = [i for i in pending if i not in later]
    # Repeats of open exceptions: one UPDATE for all of them on PostgreSQL. Rows are
    # locked in id order (and new fingerprints inserted in fingerprint order, below) so two
    # concurrent batches touching the same exceptions queue up instead of deadlocking.
    counts = {exc.pk: len(groups[fp]) for fp, exc in sorted(open_map.items(), key=lambda kv: kv[1].pk)}
    if counts and not _bulk_count_occurrences(counts, now, state=state):
        raise _NeedCarefulPath()
    for fp, exc in open_map.items():
        for i in groups[fp]:
            out[i] = (exc.pk, "deduplicated")
    # New fingerprints: one INSERT for all, one for their audit rows.
    if connection.vendor == "postgresql":
        new_groups = [idx for fp, idx in sorted(groups.items()) if fp not in open_map]
        if new_groups:
            for pk, idx in zip(_insert_created(items, new_groups, router=router, now=now, actor=actor), new_groups,
                               strict=True):
                out[idx[0]] = (pk, "created")
                state[pk] = (Status.NEW, len(idx))
                for i in idx[1:]:
                    out[i] = (pk, "deduplicated")
        _store_keys(items, pending, out, actor)
        _regress_one_by_one(items, regressing, out, router=router, now=now, actor=actor)
        return out
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
            state[obj.pk] = (obj.status, obj.occurrences)
            for i in idx[1:]:
                out[i] = (obj.pk, "deduplicated")
    _store_keys(items, pending, out, actor)
    _regress_one_by_one(items, regressing, out, router=router, now=now, actor=actor)
    return out


def _regress_one_by_one(items, indexes, out, *, router, now, actor):
    """The batch's items whose failure came back, in fingerprint order (the careful path's
    lock order): the first of a fingerprint reopens it, the next ones count as repeats.
    A deadlock with a concurrent batch rolls the whole fast path back (the caller then
    takes the careful path for every item)."""
    for i in indexes:
        out[i] = _ingest_one(items[i], router=router, now=now, actor=actor)


def _rows_of_fingerprints(fingerprints):
    """(id, fingerprint, integration id, status) of the open and resolved exceptions with
    these fingerprints. On PostgreSQL the list is one array parameter: the ORM's ``__in``
    prepares each of a batch's 1,000 values in Python."""
    statuses = [s.value for s in (*OPEN_STATUSES, Status.RESOLVED)]
    if connection.vendor == "postgresql":
        with statements.cursor(savepoint=False) as cursor:  # the caller's savepoint takes any error
            cursor.execute("SELECT id, fingerprint, integration_id, status FROM exceptions_businessexception"
                           " WHERE fingerprint = ANY(%s::varchar[]) AND status = ANY(%s::varchar[])",
                           [fingerprints, statuses])
            return cursor.fetchall()
    return BusinessException.objects.filter(fingerprint__in=fingerprints, status__in=statuses).values_list(
        "id", "fingerprint", "integration_id", "status")


def _store_keys(items, pending, out, actor):
    keys = [IdempotencyKey(account_id=_account_id(actor), key=items[i].idempotency_key, body_sha256=items[i].body_hash,
                           exception_id=out[i][0]) for i in pending if items[i].idempotency_key]
    if keys:
        IdempotencyKey.objects.bulk_create(keys)


# --- batch path: new exceptions and their audit rows in one statement (PostgreSQL) ------

_CREATED_SQL = """
WITH ins AS (
  INSERT INTO exceptions_businessexception ({cols}, status, regressions, is_overdue, resolved_at, resolution_code,
    resolution_note, original_payload, updated_at)
  SELECT {cols}, 'new', 0, false, NULL, '', '', NULL, %s::timestamptz
  FROM json_populate_recordset(NULL::exceptions_businessexception, %s::json)
  RETURNING id, fingerprint, status, queue_id, severity, assignee_id, error_code
), audited AS (
  INSERT INTO controlplane_auditentry (created_at, actor_id, actor_repr, action, content_type_id, object_id,
    object_repr, before, after, request_id, note)
  SELECT %s::timestamptz, %s::bigint, %s, 'businessexception.created', %s::integer, ins.id::text, left('EXC-' || ins.id || ' ' || ins.error_code, 200),
    NULL, jsonb_build_object('status', ins.status, 'queue', ins.queue_id, 'severity', ins.severity,
    'assignee', ins.assignee_id), %s, 'ingested'
  FROM ins
)
SELECT id, fingerprint FROM ins
"""

# The indexed copies of business keys, cut to their columns (as ``_new_exception`` does).
_INDEXED_LIMITS = tuple((k, {"legal_entity": 50, "invoice_number": 100, "project_code": 100, "contract": 100}.get(k, 200))
                        for k in INDEXED_BUSINESS_KEYS)


def _insert_created(items, new_groups, *, router, now, actor) -> list[int]:
    """Insert one new exception per group of items sharing a fingerprint (the group's
    size is its occurrences) with its "created" audit row, in one statement: rows travel
    as one JSON parameter, without model instances (building and compiling 1,000 of them
    cost more than the database's work). Returns the new ids in the groups' order
    (matched back by fingerprint, unique among the new rows of a batch)."""
    now_iso = now.isoformat()
    due_cache: dict = {}
    rows = []
    for idx in new_groups:
        item = items[idx[0]]
        queue, assignee_id, severity, _rule = router.route(
            integration=item.integration, entity_id=item.entity_id, error_code=item.error_code,
            severity=item.severity, business_keys=item.business_keys,
        )
        seen = item.seen_at or now
        due_key = (queue.pk, severity, seen)
        if due_key not in due_cache:
            due_cache[due_key] = due_at(queue, severity, seen).isoformat()
        seen_iso = now_iso if item.seen_at is None else seen.isoformat()
        keys = item.business_keys
        rows.append({
            "integration_id": item.integration.pk, "entity_id": item.entity_id, "error_code": item.error_code,
            "message": item.message, "severity": severity, "reported_severity": item.severity,
            "queue_id": queue.pk, "assignee_id": assignee_id, "business_keys": keys,
            **{k: str(keys.get(k, "") or "")[:limit] for k, limit in _INDEXED_LIMITS},
            "amount_at_risk": str(item.amount_at_risk), "currency": item.currency or "",
            "correlation_id": item.correlation_id or "", "fingerprint": item.fingerprint, "occurrences": len(idx),
            "first_seen": seen_iso, "last_seen": seen_iso, "due_at": due_cache[due_key],
            "payload": item.payload, "details": item.details,
        })  # the columns every new row shares (status new, no regressions...) are the statement's
    quote = connection.ops.quote_name
    sql = _CREATED_SQL.format(cols=", ".join(quote(c) for c in rows[0]))
    actor_id, actor_repr, ct_id, request_id = audit_context(actor)
    # Bound by the server (controlplane.statements): the batch's JSON travels as one
    # parameter instead of being quoted into the statement's text and parsed again there.
    with statements.cursor(savepoint=False) as cursor:  # the caller's savepoint takes any error
        cursor.execute(sql, [now, json.dumps(rows, default=str), now, actor_id, actor_repr, ct_id, request_id])
        by_fingerprint = {fp: pk for pk, fp in cursor.fetchall()}
    return [by_fingerprint[row["fingerprint"]] for row in rows]


def _bulk_count_occurrences(counts: dict[int, int], now, state=None) -> bool:
    """Add occurrences to open exceptions (their new (status, occurrences) into ``state``
    on PostgreSQL). False if any of them closed meanwhile (the caller rolls back and takes
    the careful path)."""
    if connection.vendor == "postgresql":
        open_list = ", ".join(f"'{s.value}'" for s in OPEN_STATUSES)
        sql = (
            "UPDATE exceptions_businessexception AS e SET occurrences = e.occurrences + v.n, last_seen = %s, updated_at = %s"
            " FROM json_to_recordset(%s) AS v(id bigint, n integer)"
            f" WHERE e.id = v.id AND e.status IN ({open_list}) RETURNING e.id, e.status, e.occurrences"
        )
        with connection.cursor() as cursor:
            if len(counts) > 1:  # the UPDATE's join order is the planner's: lock in id order first
                cursor.execute("SELECT id FROM exceptions_businessexception WHERE id = ANY(%s::bigint[]) ORDER BY id FOR UPDATE",
                               [sorted(counts)])
            cursor.execute(sql, [now, now, json.dumps([{"id": k, "n": n} for k, n in counts.items()])])
            rows = cursor.fetchall()
        if state is not None:
            state.update((pk, (status, occurrences)) for pk, status, occurrences in rows)
        return len(rows) == len(counts)
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


def _account_id(actor):
    return actor.pk if getattr(actor, "is_authenticated", False) else None


def _check_same_body(item: IngestItem, stored_hash: str, stored_id: int, index=None):
    # Keys stored before body hashes were kept have none: nothing to compare, so idempotent.
    if stored_hash and stored_hash != item.body_hash:
        raise _idempotency_conflict([(index, item.idempotency_key, stored_id)])


def _idempotency_conflict(conflicts) -> IdempotencyConflict:
    """409: the same idempotency key came back with a different body. Names the stored
    exception (one item) or every conflicting item of a batch; nothing was stored."""
    if len(conflicts) == 1 and conflicts[0][0] is None:
        _index, key, stored_id = conflicts[0]
        return IdempotencyConflict(
            f"Idempotency key {key!r} was already used for EXC-{stored_id} with a different body; "
            "send a new key for a new report.", fields={"id": stored_id, "idempotency_key": key})
    return IdempotencyConflict(
        f"{len(conflicts)} item(s) reuse an idempotency key with a different body; nothing was stored.",
        fields={"items": [{"index": i, "idempotency_key": key, "id": stored_id} for i, key, stored_id in conflicts]})


def ingest(*, items: list[IngestItem], actor, scope=None) -> list[dict]:
    """Store validated items: create, deduplicate by fingerprint (within the item's
    integration), reopen regressions, and honour the sender's idempotency keys. All or
    nothing: one transaction for the batch.

    ``scope`` is the caller's service token (``controlplane.scope``): an item for an
    integration it does not speak for refuses the batch (403). A key the account already
    used with a different body refuses it too (409 ``idempotency_conflict`` with the
    stored id).

    Returns one result per item: ``{"id", "status", "occurrences", "deduplicated", "outcome"}``
    where outcome is created / deduplicated / regressed / idempotent.
    """
    token_scope.require(scope, {it.integration.pk: it.integration for it in items}.values(), what="post exceptions")
    if len(items) == 1 and connection.vendor == "postgresql":
        result = _ingest_single_postgres(items[0], actor=actor)
        if result is not None:
            return [result]
    return _ingest_items(items=items, actor=actor)


@transaction.atomic
def _ingest_items(*, items: list[IngestItem], actor) -> list[dict]:
    now = timezone.now()
    router = Router()
    found = {}
    if any(it.idempotency_key for it in items):
        found = {
            key: (exception_id, body)
            for key, exception_id, body in IdempotencyKey.objects.filter(
                account_id=_account_id(actor), key__in=[it.idempotency_key for it in items if it.idempotency_key]
            ).values_list("key", "exception_id", "body_sha256")
        }
    single = len(items) == 1
    outcomes: dict[int, tuple[int, str]] = {}
    pending, first_with_key, aliases, conflicts = [], {}, {}, []
    for i, it in enumerate(items):
        key = it.idempotency_key
        if key and key in found:
            stored_id, stored_hash = found[key]
            if stored_hash and stored_hash != it.body_hash:
                conflicts.append((None if single else i, key, stored_id))
            outcomes[i] = (stored_id, "idempotent")
        elif key and key in first_with_key:
            if items[first_with_key[key]].body_hash != it.body_hash:
                conflicts.append((i, key, None))
            aliases[i] = first_with_key[key]
        else:
            if key:
                first_with_key[key] = i
            pending.append(i)
    if conflicts:
        raise _idempotency_conflict(conflicts)
    state: dict[int, tuple[str, int]] = {}  # what the fast path wrote: no need to read it back
    if pending:
        try:
            with transaction.atomic():
                outcomes.update(_fast_path(items, pending, router=router, now=now, actor=actor, state=state))
        except (IntegrityError, _NeedCarefulPath):
            state.clear()
            _careful_path(items, pending, outcomes, router=router, now=now, actor=actor)
        except OperationalError as exc:
            # A deadlock with a concurrent post rolled the fast path's savepoint back;
            # the one-by-one path takes the locks in a fixed order.
            if getattr(getattr(exc, "__cause__", None), "sqlstate", None) != "40P01":
                raise
            state.clear()
            _careful_path(items, pending, outcomes, router=router, now=now, actor=actor)
    for i, first in aliases.items():
        outcomes[i] = (outcomes[first][0], "idempotent")
    unknown = {pk for pk, _ in outcomes.values()} - set(state)
    if unknown:
        state.update(
            (pk, (status, occ))
            for pk, status, occ in BusinessException.objects.filter(pk__in=unknown).values_list("id", "status", "occurrences")
        )
    results = []
    for i in range(len(items)):
        pk, outcome = outcomes[i]
        status, occ = state[pk]
        results.append({"id": pk, "status": status, "occurrences": occ, "deduplicated": outcome != "created", "outcome": outcome})
    return results



# --- one item on PostgreSQL: one statement ---------------------------------------------

_OPEN_SQL = ", ".join(f"'{s.value}'" for s in OPEN_STATUSES)


@functools.cache
def _single_statement(without_account: bool) -> tuple[list, str]:
    """(the inserted fields, the statement) of ``_ingest_single_postgres``: built once per
    process (it quoted 32 column names and joined the text on every post), the same text every
    time, so the connection's prepared statement is reused."""
    from controlplane.models import AuditEntry

    fields = [f for f in BusinessException._meta.concrete_fields if not f.primary_key]
    q = connection.ops.quote_name
    exc_t, key_t, audit_t = (q(m._meta.db_table) for m in (BusinessException, IdempotencyKey, AuditEntry))
    cols = ", ".join(q(f.column) for f in fields)
    account = "k.account_id IS NULL" if without_account else "k.account_id = %(account)s"
    sql = f"""
        WITH known AS (
            SELECT k.exception_id, k.body_sha256 FROM {key_t} k
            WHERE %(key)s <> '' AND {account} AND k.key = %(key)s
        ), open_row AS (
            SELECT e.id FROM {exc_t} e
            WHERE NOT EXISTS (SELECT 1 FROM known) AND e.integration_id = %(integration)s AND e.fingerprint = %(fp)s
              AND e.status IN ({_OPEN_SQL})
            LIMIT 1
        ), resolved AS (
            SELECT 1 FROM {exc_t} e
            WHERE NOT EXISTS (SELECT 1 FROM known) AND NOT EXISTS (SELECT 1 FROM open_row)
              AND e.integration_id = %(integration)s AND e.fingerprint = %(fp)s AND e.status = 'resolved'
            LIMIT 1
        ), dedup AS (
            UPDATE {exc_t} e SET occurrences = e.occurrences + 1, last_seen = %(now)s, updated_at = %(now)s
            FROM open_row WHERE e.id = open_row.id AND e.status IN ({_OPEN_SQL})
            RETURNING e.id, e.status, e.occurrences
        ), ins AS (
            INSERT INTO {exc_t} ({cols})
            SELECT {cols} FROM json_populate_record(NULL::{exc_t}, %(row)s::json)
            WHERE NOT EXISTS (SELECT 1 FROM known) AND NOT EXISTS (SELECT 1 FROM open_row)
              AND NOT EXISTS (SELECT 1 FROM resolved)
            RETURNING id, status, occurrences, queue_id, severity, assignee_id
        ), audit AS (
            INSERT INTO {audit_t} (created_at, actor_id, actor_repr, action, content_type_id, object_id, object_repr,
                before, after, request_id, note)
            SELECT %(now)s, %(actor_id)s, %(actor_repr)s, 'businessexception.created', %(content_type)s, ins.id::text,
                LEFT('EXC-' || ins.id || ' ' || %(error_code)s::text, 200), NULL,
                jsonb_build_object('status', ins.status, 'queue', ins.queue_id, 'severity', ins.severity,
                                   'assignee', ins.assignee_id),
                %(request_id)s, 'ingested'
            FROM ins
        ), stored_key AS (
            INSERT INTO {key_t} (key, account_id, body_sha256, exception_id, created_at)
            SELECT %(key)s, %(account)s, %(hash)s, w.id, %(now)s
            FROM (SELECT id FROM dedup UNION ALL SELECT id FROM ins) w WHERE %(key)s <> ''
        )
        SELECT 'idempotent', k.exception_id, e.status, e.occurrences, k.body_sha256
            FROM known k LEFT JOIN {exc_t} e ON e.id = k.exception_id
        UNION ALL SELECT 'deduplicated', id, status, occurrences, NULL FROM dedup
        UNION ALL SELECT 'created', id, status, occurrences, NULL FROM ins
    """
    return fields, sql


def _ingest_single_postgres(item: IngestItem, *, actor) -> dict | None:
    """The common single post in one statement (data-modifying CTEs): the stored key's
    answer (idempotent), or +1 on the open exception with this fingerprint (deduplicated),
    or the new row with its audit row (created), the idempotency key stored with the last
    two. Returns None, having written nothing, when the careful path must decide: a
    resolved exception to reopen, an open one closed meanwhile, or a concurrent post that
    won a unique index (fingerprint or key) first."""
    from django.contrib.contenttypes.models import ContentType

    from controlplane.middleware import current_request_id

    now = timezone.now()
    new = _new_exception(item, Router(), now)
    new.updated_at = now
    account_id = _account_id(actor)
    actor_obj = actor if getattr(actor, "is_authenticated", False) else None
    fields, sql = _single_statement(account_id is None)
    params = {
        "key": item.idempotency_key or "", "account": account_id, "integration": item.integration.pk,
        "fp": item.fingerprint, "now": now, "hash": item.body_hash, "error_code": item.error_code,
        "row": json.dumps({f.column: _plain(getattr(new, f.attname)) for f in fields}, default=str),
        "actor_id": getattr(actor_obj, "pk", None), "actor_repr": getattr(actor_obj, "username", "") or "system",
        "content_type": ContentType.objects.get_for_model(BusinessException).pk, "request_id": current_request_id() or "",
    }
    try:
        row = statements.fetchone(sql, params)
        if row is not None and row[0] == "idempotent":
            _check_same_body(item, row[4], row[1])
    except IntegrityError:  # a concurrent post won the fingerprint or the key: nothing was written
        return None
    if row is None or row[2] is None:  # reopen, closed meanwhile, or a stored key's exception deleted
        return None
    outcome, pk, status, occurrences, _hash = row
    return {"id": pk, "status": status, "occurrences": occurrences, "deduplicated": outcome != "created",
            "outcome": outcome}


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
def auto_resolve(*, fingerprint: str | None = None, correlation_id: str | None = None, note: str = "", actor=None,
                 integration=None, scope=None) -> int:
    """Resolve every open exception with this fingerprint or correlation id (of
    ``integration`` when given) as "fixed at source" (the middleware says the source fixed
    itself). Returns how many. With a ``scope`` (service token), any match outside what
    the token speaks for refuses the whole call (403) and nothing is resolved."""
    if not fingerprint and not correlation_id:
        raise ValidationFailed("Give a fingerprint or a correlation id.", fields={"fingerprint": ["Required without correlation_id."]})
    if integration is not None:
        token_scope.require(scope, [integration], what="resolve exceptions")
    qs = BusinessException.objects.open()
    qs = qs.filter(fingerprint=fingerprint) if fingerprint else qs.filter(correlation_id=correlation_id)
    if integration is not None:
        qs = qs.filter(integration=integration)
    now = timezone.now()
    resolved = []
    matches = list(qs.select_for_update(of=("self",)).select_related("integration"))
    token_scope.require(scope, {e.integration_id: e.integration for e in matches}.values(), what="resolve exceptions")
    for exc in matches:
        changed = BusinessException.objects.filter(pk=exc.pk, status=exc.status).update(
            status=Status.RESOLVED, resolution_code=Resolution.FIXED_AT_SOURCE, resolution_note=note,
            resolved_at=now, is_overdue=False, updated_at=now,
        )
        if changed:
            exc.status = Status.RESOLVED
            resolved.append(exc)
    _bulk_audit(actor, "businessexception.auto_resolved", resolved, note=note or "fixed at source")
    return len(resolved)
