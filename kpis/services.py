"""KPI writes: ingesting business events and reconciliations, recomputing snapshots,
setting targets. One function per action."""

import datetime as dt
import json
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, OuterRef, Q, Subquery, Value
from django.db.models.functions import Collate
from django.utils import timezone

from controlplane import audit, outbox, statements
from controlplane.errors import ValidationFailed

from .choices import EventType, Period
from .definitions import KPIS
from .fx import ECB_BASE, FxFileError, parse_ecb_csv, parse_rate
from .models import BusinessEvent, FxRate, KpiDirtyWindow, KpiSnapshot, KpiTarget, Reconciliation
from .periods import Window, window_containing, windows_between

# --- events and reconciliations ---------------------------------------------------------

# What an event says: the same event_id with any of these different is another report.
EVENT_BODY_FIELDS = ("type", "correlation_key", "occurred_at", "workflow_id", "integration_id", "amount", "currency",
                     "attributes")


def _event_body(values: dict) -> list:
    body = []
    for name in EVENT_BODY_FIELDS:
        value = values.get(name)
        if name == "amount" and value is not None:
            value = Decimal(value).normalize()
        elif name in ("currency", "attributes"):
            value = value or ("" if name == "currency" else {})
        body.append(value)
    return body


def ingest_events(*, items: list[dict], scope=None) -> list[dict]:
    """Store validated event dicts (serializer output). Idempotent by ``event_id`` (the
    sender's id of a business fact, one namespace: two middlewares reporting the same fact
    must not count it twice): a known id with the same body answers ``duplicate`` with the
    stored event's id, never stored twice, even under concurrent posts. A known id with a
    different body refuses the whole post (409 ``idempotency_conflict`` naming the stored
    events; nothing stored). ``scope`` (a service token) must speak for every event's
    integration (an event naming none needs a token for all integrations), else 403."""
    if not items:
        return []
    from catalog.models import Integration
    from controlplane import scope as token_scope
    from controlplane.errors import IdempotencyConflict

    if scope is not None:
        named = {item.get("integration_id") for item in items}
        if not all(token_scope.allows(scope, pk) for pk in named):  # the names only for the refusal
            integrations = {i.pk: i for i in Integration.objects.filter(pk__in=[pk for pk in named if pk])}
            token_scope.require(scope, [integrations.get(pk) if pk else None for pk in named], what="post events")
    if len(items) == 1 and connection.vendor == "postgresql":
        result = _ingest_one_event_postgres(items[0])
        if result is not None:
            return [result]
    ids = [item["event_id"] for item in items]

    def conflicts_with(stored_rows):
        clashes = []
        for index, item in enumerate(items):
            row = stored_rows.get(item["event_id"])
            if row is not None and _event_body(row) != _event_body(item):
                clashes.append({"index": index, "event_id": item["event_id"], "id": row["id"]})
        return clashes

    def stored_bodies(event_ids):
        return {row["event_id"]: row for row in BusinessEvent.objects.filter(event_id__in=event_ids)
                .values("id", "event_id", *EVENT_BODY_FIELDS)}

    def refuse(clashes):
        first = clashes[0]
        return IdempotencyConflict(
            f"Event {first['event_id']!r} was already received with a different body (stored event {first['id']})"
            + (f" and {len(clashes) - 1} more" if len(clashes) > 1 else "") + "; nothing was stored.",
            fields={"items": clashes, "id": first["id"]})

    existing = stored_bodies(ids)
    clashes = conflicts_with(existing)
    first_body = {}
    for index, item in enumerate(items):  # the same id twice in one post, with two bodies
        body = first_body.setdefault(item["event_id"], _event_body(item))
        if body != _event_body(item):
            clashes.append({"index": index, "event_id": item["event_id"], "id": None})
    if clashes:
        raise refuse(clashes)
    fresh, seen = [], set()
    for item in items:
        if item["event_id"] in existing or item["event_id"] in seen:
            continue
        seen.add(item["event_id"])
        fresh.append(BusinessEvent(**item))
    with transaction.atomic():
        # ignore_conflicts: a concurrent post of the same id wins quietly; we re-read below
        # and refuse (rolling ours back) if what won says something else.
        BusinessEvent.objects.bulk_create(fresh, ignore_conflicts=True, batch_size=500)
        after = stored_bodies([e.event_id for e in fresh])
        clashes = conflicts_with(after)
        if clashes:
            raise refuse(clashes)
        stored = {event_id: row["id"] for event_id, row in after.items()}
        close_ready_invoices(keys={e.correlation_key for e in fresh})
        # Marked with the events: a crash after commit cannot lose the refresh.
        mark_dirty(pairs=event_dirty_windows(list(stored.values())))
    created_ids = {e.event_id for e in fresh}
    results = []
    for item in items:
        event_id = item["event_id"]
        if event_id in created_ids:
            created_ids.discard(event_id)
            results.append({"event_id": event_id, "status": "created", "id": stored.get(event_id)})
        else:
            known = existing.get(event_id) or after.get(event_id)
            results.append({"event_id": event_id, "status": "duplicate", "id": known["id"] if known else None})
    return results


def _ingest_one_event_postgres(item: dict) -> dict | None:
    """One event in one statement (data-modifying CTEs), with what ``ingest_events`` does
    after storing it: invoice_ready events of its key closed by an invoice_posted one (or
    the new invoice_ready closed at insert by a posting already known), its KPI windows
    marked dirty and one debounced drain queued in the outbox unless one waits. A known
    ``event_id`` answers the stored event (duplicate) or a 409 when its body differs.
    Returns None, having written nothing, when a concurrent post of the same id is in
    flight: the general path decides."""
    from controlplane.errors import IdempotencyConflict
    from controlplane.models import OutboxMessage

    q = connection.ops.quote_name
    event_t, dirty_t, outbox_t = (q(m._meta.db_table) for m in (BusinessEvent, KpiDirtyWindow, OutboxMessage))
    now = timezone.now()
    pairs = sorted(_one_event_dirty_windows(item), key=_dirty_order)
    params = {
        "event_id": item["event_id"], "workflow_id": item.get("workflow_id"), "integration_id": item.get("integration_id"),
        "type": item["type"], "key": item["correlation_key"], "occurred_at": item["occurred_at"],
        "amount": item.get("amount"), "currency": item.get("currency") or "",
        "attributes": json.dumps(item.get("attributes") or {}), "now": now,
        "ready": EventType.INVOICE_READY.value, "posted": EventType.INVOICE_POSTED.value,
        "keys": [k for k, _ in pairs], "periods": [w.period for _, w in pairs], "starts": [w.start for _, w in pairs],
        "pair_keys": [k for k, _ in _pairs_started_by(item["type"])],
        "pair_ends": [end for _, end in _pairs_started_by(item["type"])],
        "task": DRAIN_TASK, "eta": now + dt.timedelta(seconds=settings.KPI_REFRESH_DEBOUNCE_SECONDS),
    }
    body_columns = ", ".join(f"s.{q(name)}" for name in EVENT_BODY_FIELDS)
    sql = f"""
        WITH ins AS (
            INSERT INTO {event_t} (event_id, workflow_id, integration_id, type, correlation_key, occurred_at, amount,
                currency, attributes, received_at, closed_at)
            SELECT %(event_id)s, %(workflow_id)s, %(integration_id)s, %(type)s, %(key)s, %(occurred_at)s, %(amount)s,
                %(currency)s, %(attributes)s::jsonb, %(now)s,
                CASE WHEN %(type)s = %(ready)s THEN (SELECT MIN(p.occurred_at) FROM {event_t} p
                                                     WHERE p.type = %(posted)s AND p.correlation_key = %(key)s) END
            ON CONFLICT (event_id) DO NOTHING
            RETURNING id
        ), stored AS (
            SELECT s.id, {body_columns} FROM {event_t} s WHERE s.event_id = %(event_id)s
        ), closed AS (
            UPDATE {event_t} r SET closed_at = LEAST(%(occurred_at)s, (SELECT MIN(p.occurred_at) FROM {event_t} p
                                                                     WHERE p.type = %(posted)s AND p.correlation_key = %(key)s))
            WHERE %(type)s = %(posted)s AND EXISTS (SELECT 1 FROM ins)
              AND r.type = %(ready)s AND r.correlation_key = %(key)s
              AND (r.closed_at IS NULL OR r.closed_at > %(occurred_at)s)
        ), dirty AS (
            INSERT INTO {dirty_t} (key, period, period_start, marked_at)
            SELECT m.key, m.period, m.start, %(now)s FROM (
                SELECT v.key, v.period, v.start
                FROM unnest(%(keys)s::varchar[], %(periods)s::varchar[], %(starts)s::date[]) AS v(key, period, start)
                UNION  -- a start event: the windows of its key's end events at or after it
                SELECT k.key, p.period, CASE p.period WHEN 'day' THEN ends.d
                                        WHEN 'week' THEN date_trunc('week', ends.d)::date
                                        ELSE date_trunc('month', ends.d)::date END
                FROM (SELECT DISTINCT e.type, (e.occurred_at AT TIME ZONE 'UTC')::date AS d FROM {event_t} e
                      WHERE e.type = ANY(%(pair_ends)s::varchar[]) AND e.correlation_key = %(key)s
                        AND e.occurred_at >= %(occurred_at)s) ends
                JOIN unnest(%(pair_keys)s::varchar[], %(pair_ends)s::varchar[]) AS k(key, end_type) ON k.end_type = ends.type
                CROSS JOIN (VALUES ('day'), ('week'), ('month')) AS p(period)
            ) m
            WHERE EXISTS (SELECT 1 FROM ins)
            ORDER BY m.key COLLATE "C", m.period COLLATE "C", m.start  -- _dirty_order: deadlock-free
            ON CONFLICT (key, period, period_start) DO UPDATE SET marked_at = EXCLUDED.marked_at
        ), drain AS (
            INSERT INTO {outbox_t} (task, args, kwargs, eta, created_at, attempts, last_error)
            SELECT %(task)s, '[]'::jsonb, '{{}}'::jsonb, %(eta)s, %(now)s, 0, ''
            WHERE EXISTS (SELECT 1 FROM ins)
              AND NOT EXISTS (SELECT 1 FROM {outbox_t} o WHERE o.task = %(task)s AND o.sent_at IS NULL)
        )
        SELECT true, id, {", ".join(["NULL"] * len(EVENT_BODY_FIELDS))} FROM ins
        UNION ALL SELECT false, s.id, {body_columns} FROM stored s
    """
    # One statement: atomic by itself (a duplicate writes nothing, so its 409 needs no rollback).
    row = statements.fetchone(sql, params)
    if row is None:
        return None
    created, pk = row[0], row[1]
    if not created:
        stored = dict(zip(EVENT_BODY_FIELDS, row[2:], strict=True))
        stored["attributes"] = json.loads(stored["attributes"]) if isinstance(stored["attributes"], str) else stored["attributes"]
        if _event_body(stored) != _event_body(item):
            raise IdempotencyConflict(
                f"Event {item['event_id']!r} was already received with a different body (stored event {pk}); "
                "nothing was stored.", fields={"items": [{"index": 0, "event_id": item["event_id"], "id": pk}], "id": pk})
    return {"event_id": item["event_id"], "status": "created" if created else "duplicate", "id": pk}


def close_ready_invoices(*, keys=None) -> int:
    """Set ``closed_at`` of invoice_ready events to their invoice's first posting, for the
    given correlation keys (all keys when None): on open ones, and on closed ones when an
    earlier posting arrived late. Events may arrive in any order, so this runs after every
    ingest for the keys it touched."""
    posted = BusinessEvent.objects.filter(
        type=EventType.INVOICE_POSTED, correlation_key=OuterRef("correlation_key")
    ).order_by("occurred_at").values("occurred_at")[:1]
    ready = BusinessEvent.objects.filter(Q(closed_at__isnull=True) | Q(closed_at__gt=Subquery(posted)),
                                         type=EventType.INVOICE_READY)
    if keys is not None:
        keys = list(keys)
        if not keys:
            return 0
        ready = ready.filter(correlation_key__in=keys)
    return ready.filter(Exists(posted)).update(closed_at=Subquery(posted))


@transaction.atomic
def record_reconciliation(*, actor, integration, entity, period_start, period_end, scope=None,
                          **figures) -> tuple[Reconciliation, bool]:
    """Upsert the reconciliation of (integration, entity, period). ``scope`` (a service
    token) must speak for ``integration`` (else 403)."""
    from controlplane import scope as token_scope

    token_scope.require(scope, [integration], what="post reconciliations")
    if period_end < period_start:
        raise ValidationFailed("period_end is before period_start.", fields={"period_end": ["Must not be before period_start."]})
    try:
        with transaction.atomic():
            recon, created = Reconciliation.objects.update_or_create(
                integration=integration, entity=entity, period_start=period_start, period_end=period_end,
                defaults={**figures, "received_at": timezone.now()},
            )
    except IntegrityError:  # a concurrent insert of the same period: update it instead
        recon = Reconciliation.objects.get(integration=integration, entity=entity, period_start=period_start, period_end=period_end)
        for name, value in figures.items():
            setattr(recon, name, value)
        recon.save(update_fields=[*figures, "received_at"])
        created = False
    audit.record(actor=actor, action="reconciliation.recorded", obj=recon, after=audit.snapshot(recon))
    _queue_refresh([period_end], "reconciliations")
    return recon, created


def _queue_refresh(days, source):
    """Mark every snapshot the data of ``days`` touches dirty, in the caller's transaction,
    and make sure one debounced drain is queued (through the outbox: ingestion answers 2xx
    with the broker down and the refresh runs when it is back)."""
    mark_dirty(days=days, source=source)


DRAIN_TASK = "kpis.tasks.refresh_dirty"


def _dirty_order(pair):
    """The one order dirty-window rows are written and locked in (deadlock-free upserts)."""
    key, window = pair
    return key, window.period, window.start


def _bytewise(field: str):
    """Order by ``field`` as Python sorts strings (_dirty_order): PostgreSQL's "C" collation;
    SQLite compares bytes already (BINARY) and has no collation of that name."""
    return (Collate(field, "C"),) if connection.vendor == "postgresql" else (field,)


def dirty_windows(days, source, types=None) -> set[tuple[str, Window]]:
    """(KPI key, window) pairs that data dated ``days`` from ``source`` can change: the
    day, week and month containing each day for every KPI it feeds, and for the
    point-in-time KPIs (backlogs) every window from the earliest day up to now, since an
    item that opens or closes a backlog changes it at every moment after its date.
    ``types``: the event types of the data; a KPI reading none of them is not touched."""
    fed = [key for key, kpi in KPIS.items() if kpi.source == source
           and (types is None or not kpi.event_types or set(types) & set(kpi.event_types))]
    if not days or not fed:
        return set()
    pairs = {(key, window_containing(p, d)) for d in days for p in Period.values for key in fed}
    backlog = [key for key in fed if KPIS[key].point_in_time]
    if backlog:
        today = timezone.now().date()
        first = min(days)
        if first <= today:
            pairs |= {(key, w) for p in Period.values for w in windows_between(p, first, today) for key in backlog}
    return pairs


def _windows_of_days(first: dt.date, last: dt.date) -> set[Window]:
    """Every day, week and month window overlapping [first, last]."""
    return {w for p in Period.values for w in windows_between(p, first, last)}


def _one_event_dirty_windows(item: dict) -> set[tuple[str, Window]]:
    """The windows one event (not stored yet) can change on its own day: its day's windows
    for the KPIs reading its type (the backlog's up to today). The windows of the later
    end events a start event may pair with are the one-event statement's to add."""
    return dirty_windows([item["occurred_at"].astimezone(dt.UTC).date()], "events", types=[item["type"]])


def _pairs_started_by(event_type: str) -> list[tuple[str, str]]:
    """(KPI key, end type) of the pair KPIs ``event_type`` starts."""
    return [(key, kpi.pair[1]) for key, kpi in KPIS.items() if kpi.source == "events" and kpi.pair
            and kpi.pair[0] == event_type]


def event_dirty_windows(ids) -> set[tuple[str, Window]]:
    """(KPI key, window) pairs the stored events ``ids`` (one batch, invoices already
    closed) changed, and no more: a KPI that recomputes a window the batch cannot move
    only costs the drain time.
    - Pair KPIs: the day/week/month of each end event whose duration the batch sets or may
      change: a new end event with a start of its key at or before it, and every end event
      of a new start's key at or after that start. A new end event with no start counts
      nowhere.
    - The invoice-ready backlog (an invoice counts at a window's moment ``a`` when it was
      ready before ``a`` and not posted before ``a``): for a new ready invoice, the windows
      from the day it was ready to the day it was posted (or today); for an older one whose
      close a new posting moved earlier, from the new close (or its opening, if later) to
      the old close (or today).
    Three statements per batch, whatever its size. Two posts in flight at once that each
    need the other (a start and its end, in two concurrent transactions) can miss the
    windows they share, as ``close_ready_invoices`` can miss closing an invoice: the
    periodic refresh of the current periods covers today and yesterday."""
    from .fx import UtcDay

    ids = list(ids)
    if not ids:
        return set()
    rows = list(BusinessEvent.objects.filter(pk__in=ids).values_list("pk", "type", "correlation_key", "occurred_at",
                                                                       "closed_at"))
    of_type: dict[str, list] = {}
    for row in rows:
        of_type.setdefault(row[1], []).append(row)
    today = timezone.now().date()
    out: set[tuple[str, Window]] = set()
    events = [(key, kpi) for key, kpi in KPIS.items() if kpi.source == "events"]
    pair_kpis = [(key, kpi.pair) for key, kpi in events if kpi.pair and (kpi.pair[0] in of_type or kpi.pair[1] in of_type)]
    queries = []

    def days_of(qs, index):
        return qs.annotate(kpi=Value(index), day=UtcDay("occurred_at")).values_list("kpi", "day").order_by()

    for index, (_, (start, end)) in enumerate(pair_kpis):
        if end in of_type:  # new end events that have a start
            started = BusinessEvent.objects.filter(type=start, correlation_key=OuterRef("correlation_key"),
                                                   occurred_at__lte=OuterRef("occurred_at"))
            queries.append(days_of(BusinessEvent.objects.filter(pk__in=[r[0] for r in of_type[end]])
                                   .filter(Exists(started)), index))
        if start in of_type:  # end events of a new start's key, at or after it
            new_start = BusinessEvent.objects.filter(pk__in=[r[0] for r in of_type[start]],
                                                     correlation_key=OuterRef("correlation_key"),
                                                     occurred_at__lte=OuterRef("occurred_at"))
            queries.append(days_of(BusinessEvent.objects.filter(
                type=end, correlation_key__in=sorted({r[2] for r in of_type[start]})).filter(Exists(new_start)), index))
    if queries:
        for index, day in queries[0].union(*queries[1:]):
            day = day if isinstance(day, dt.date) else dt.date.fromisoformat(str(day))
            out |= {(pair_kpis[index][0], window_containing(p, day)) for p in Period.values}
    # Any other event KPI (neither a pair nor a backlog): the day, week and month of each
    # event of a type it reads, as dirty_windows marks them.
    for key, kpi in events:
        if not kpi.pair and not kpi.point_in_time:
            days = {row[3].astimezone(dt.UTC).date() for row in rows if not kpi.event_types or row[1] in kpi.event_types}
            out |= {(key, window_containing(p, d)) for d in days for p in Period.values}
    backlogs = [key for key, kpi in events if kpi.point_in_time
                and set(kpi.event_types or (EventType.INVOICE_READY,)) & set(of_type)]
    if backlogs:
        spans = [(opened, closed) for _, _, _, opened, closed in of_type.get(EventType.INVOICE_READY, [])]
        posted = of_type.get(EventType.INVOICE_POSTED, [])
        if posted:  # older invoices whose first posting is now one of the batch's
            first_posting = (BusinessEvent.objects.filter(type=EventType.INVOICE_POSTED,
                                                          correlation_key=OuterRef("correlation_key"))
                             .exclude(pk__in=ids).order_by("occurred_at").values("occurred_at")[:1])
            closes = {(r[2], r[3]) for r in posted}
            older = (BusinessEvent.objects.filter(type=EventType.INVOICE_READY,
                                                  correlation_key__in=sorted({r[2] for r in posted}))
                     .exclude(pk__in=ids).annotate(old_close=Subquery(first_posting))
                     .values_list("correlation_key", "occurred_at", "closed_at", "old_close"))
            spans += [(max(opened, closed), old_close) for key, opened, closed, old_close in older
                      if (key, closed) in closes]
        windows: set[Window] = set()
        for lo, hi in spans:  # counted at the moments in (lo, hi]; hi None: still open
            if hi is None or hi > lo:
                last = hi.astimezone(dt.UTC).date() if hi else today
                windows |= _windows_of_days(lo.astimezone(dt.UTC).date(), min(last, today))
        out |= {(key, w) for key in backlogs for w in windows}
    return out


def mark_dirty(*, days=(), source="events", pairs=None) -> int:
    """Record the (key, window) pairs to recompute and queue one drain if none is waiting.
    Re-marking a pair only moves its ``marked_at``: a burst of posts leaves one row."""
    pairs = dirty_windows(days, source) if pairs is None else pairs
    if not pairs:
        return 0
    now = timezone.now()
    # In one order everywhere (the single-event statement's too): a set's order differs
    # from process to process, and two posts upserting the same rows in two orders deadlock.
    KpiDirtyWindow.objects.bulk_create(
        [KpiDirtyWindow(key=key, period=w.period, period_start=w.start, marked_at=now)
         for key, w in sorted(pairs, key=_dirty_order)],
        update_conflicts=True, unique_fields=["key", "period", "period_start"], update_fields=["marked_at"],
        batch_size=500,
    )
    from controlplane.models import OutboxMessage

    if not OutboxMessage.objects.filter(task=DRAIN_TASK, sent_at__isnull=True).exists():
        outbox.enqueue(DRAIN_TASK, countdown=settings.KPI_REFRESH_DEBOUNCE_SECONDS)
    return len(pairs)


def refresh_dirty(*, limit: int = 5000) -> int:
    """Recompute the dirty (key, window) pairs, oldest first, then clear the rows not
    marked again meanwhile (those wait for the next drain). Returns the snapshots written."""
    started = timezone.now()
    rows = list(KpiDirtyWindow.objects.filter(marked_at__lte=started).order_by("period_start")
                .values_list("pk", "key", "period", "period_start")[:limit])
    total = refresh_windows([(key, Window(period, start)) for _, key, period, start in rows if key in KPIS])
    with transaction.atomic():  # locked in the upserts' order first, so the delete cannot deadlock with them
        done = list(KpiDirtyWindow.objects.select_for_update().filter(pk__in=[r[0] for r in rows], marked_at__lte=started)
                    .order_by(*_bytewise("key"), *_bytewise("period"), "period_start").values_list("pk", flat=True))
        KpiDirtyWindow.objects.filter(pk__in=done).delete()
    if KpiDirtyWindow.objects.exists():
        with transaction.atomic():
            outbox.enqueue(DRAIN_TASK, countdown=settings.KPI_REFRESH_DEBOUNCE_SECONDS)
    return total


# --- snapshots ----------------------------------------------------------------------------

def refresh_window(window: Window, keys=None) -> int:
    """Recompute every KPI (or ``keys``) for every scope of one window. Idempotent: the
    window's snapshots are replaced in one transaction."""
    return refresh_windows([(key, window) for key in (keys or KPIS)])


def refresh_windows(pairs) -> int:
    """Recompute the (KPI key, window) ``pairs``, every scope, and replace their snapshots
    in one transaction. A KPI with ``compute_scopes`` reads its facts for all its windows
    and scope types together (the event KPIs: one query), one with ``compute_many`` a query per scope type for all its
    windows (a late item touches a backlog on every day since), the others a query per
    window and scope type. Every KPI reads the same moment (``now``)."""
    now = timezone.now()
    by_kpi: dict[str, list[Window]] = {}
    for key, window in pairs:
        by_kpi.setdefault(key, []).append(Window(window.period, window.start, now))
    rows = []
    for key, windows in by_kpi.items():
        kpi = KPIS[key]
        windows = sorted(set(windows), key=lambda w: (w.start, w.period))
        by_scope = kpi.compute_scopes(windows, list(kpi.scope_types)) if kpi.compute_scopes else {}
        for scope_type in kpi.scope_types:
            if kpi.compute_scopes:
                results = by_scope[scope_type]
            elif kpi.compute_many:
                results = kpi.compute_many(windows, scope_type)
            else:
                results = {window: kpi.compute(window, scope_type) for window in windows}
            for window in windows:
                for scope_key, (value, detail) in results[window].items():
                    if scope_key is None:
                        continue
                    if kpi.point_in_time:
                        detail = {**detail, "as_of": window.as_of.isoformat()}
                    rows.append(KpiSnapshot(
                        key=key, scope_type=scope_type, scope_key=scope_key or "", period=window.period,
                        period_start=window.start, value=_decimal(value), detail=detail, computed_at=now,
                    ))
    with transaction.atomic():
        for (key, period), starts in _starts_by_key_period(by_kpi).items():
            KpiSnapshot.objects.filter(key=key, period=period, period_start__in=starts).delete()
        KpiSnapshot.objects.bulk_create(rows, batch_size=1000)
    return len(rows)


def _starts_by_key_period(by_kpi) -> dict[tuple[str, str], list]:
    starts: dict[tuple[str, str], list] = {}
    for key, windows in by_kpi.items():
        for window in windows:
            starts.setdefault((key, window.period), []).append(window.start)
    return starts


def _decimal(value):
    if value is None:
        return None
    return value if isinstance(value, Decimal) else Decimal(str(round(float(value), 4)))


def refresh_days(days, keys=None) -> int:
    """Recompute the day, week and month windows containing each of ``days``."""
    windows = {window_containing(p, d) for d in days for p in Period.values}
    return refresh_windows([(key, w) for w in windows for key in (keys or KPIS)])


def refresh_after_ingest(days, source="events") -> int:
    """Kept for refresh messages queued before dirty windows existed: marks them dirty."""
    return mark_dirty(days=days, source=source)


def backfill(*, first: dt.date, last: dt.date, periods=tuple(Period.values), keys=None) -> int:
    return sum(refresh_windows([(key, w) for w in windows_between(period, first, last) for key in (keys or KPIS)])
               for period in periods)


@transaction.atomic
def set_target(*, actor, key: str, target: float, tolerance_pct: float | None = None) -> KpiTarget:
    if key not in KPIS:
        raise ValidationFailed(f"Unknown KPI {key!r}.")
    existing = KpiTarget.objects.filter(key=key).first()
    before = audit.snapshot(existing) if existing else None
    values = {"target": target}
    if tolerance_pct is not None:
        values["tolerance_pct"] = tolerance_pct
    obj, _ = KpiTarget.objects.update_or_create(key=key, defaults=values)
    audit.record(actor=actor, action="kpi_target.set", obj=obj, before=before, after=audit.snapshot(obj))
    return obj


# --- FX rates -----------------------------------------------------------------------------

MAX_RATES = 200_000


@transaction.atomic
def record_fx_rates(*, actor, rates, source: str = "") -> dict:
    """Store dated rates ``[(base, quote, date, rate)]``, replacing a pair's rate of the
    same day, and mark every money KPI snapshot from the earliest date on dirty (a rate
    changes the conversion of every amount dated on or after it until the next rate)."""
    rates = list(rates)
    if not rates:
        raise ValidationFailed("No rates to store.")
    if len(rates) > MAX_RATES:
        raise ValidationFailed(f"At most {MAX_RATES} rates at a time; this has {len(rates)}.")
    rows, seen = [], set()
    for base, quote, day, rate in rates:
        base, quote = base.upper(), quote.upper()
        if base == quote:
            raise ValidationFailed(f"A rate needs two currencies; got {base}->{quote}.", fields={"quote": ["Same as base."]})
        try:
            rate = parse_rate(rate)
        except FxFileError as exc:
            raise ValidationFailed(str(exc), fields={"rate": [str(exc)]}) from None
        if (base, quote, day) in seen:
            raise ValidationFailed(f"{base}->{quote} on {day} appears twice.")
        seen.add((base, quote, day))
        rows.append(FxRate(base=base, quote=quote, date=day, rate=rate, source=source[:100], updated_at=timezone.now()))
    existing = FxRate.objects.filter(date__gte=min(r.date for r in rows), date__lte=max(r.date for r in rows))
    before = existing.count()
    FxRate.objects.bulk_create(rows, update_conflicts=True, unique_fields=["base", "quote", "date"],
                               update_fields=["rate", "source", "updated_at"], batch_size=1000)
    created = existing.count() - before
    first = min(r.date for r in rows)
    money = [key for key, kpi in KPIS.items() if kpi.money]
    touched = set(KpiSnapshot.objects.filter(key__in=money, period_start__gte=window_containing(Period.MONTH, first).start)
                  .values_list("key", "period", "period_start").distinct())
    mark_dirty(pairs={(key, Window(period, start)) for key, period, start in touched})
    summary = {"rates": len(rows), "created": created, "replaced": len(rows) - created, "first": first.isoformat(),
               "last": max(r.date for r in rows).isoformat(), "source": source[:100],
               "snapshots_marked": len(touched)}
    audit.record(actor=actor, action="fx_rates.recorded", obj=None, after=summary)
    return summary


def import_ecb_csv(*, actor, text: str, source: str = "ECB reference rates") -> dict:
    """Store the rates of an ECB reference-rate CSV (eurofxref-hist.csv layout, base EUR)."""
    try:
        parsed = parse_ecb_csv(text)
    except FxFileError as exc:
        raise ValidationFailed(str(exc), fields={"file": [str(exc)]}) from None
    return record_fx_rates(actor=actor, rates=[(ECB_BASE, quote, day, rate) for day, quote, rate in parsed], source=source)
