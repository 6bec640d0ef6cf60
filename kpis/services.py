"""KPI writes: ingesting business events and reconciliations, recomputing snapshots,
setting targets. One function per action."""

import datetime as dt
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Subquery
from django.utils import timezone

from controlplane import audit, outbox
from controlplane.errors import ValidationFailed

from .choices import EventType, Period
from .definitions import KPIS
from .models import BusinessEvent, KpiSnapshot, KpiTarget, Reconciliation
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
        integrations = {i.pk: i for i in Integration.objects.filter(pk__in=[pk for pk in named if pk])}
        token_scope.require(scope, [integrations.get(pk) if pk else None for pk in named], what="post events")
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
        touched = sorted({item["occurred_at"].astimezone(dt.UTC).date() for item in items})
        if touched:  # queued with the events: a crash after commit cannot lose the refresh
            _queue_refresh(touched, "events")
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


def close_ready_invoices(*, keys=None) -> int:
    """Set ``closed_at`` on open invoice_ready events whose invoice has been posted, for the
    given correlation keys (all keys when None). Events may arrive in any order, so this runs
    after every ingest for the keys it touched."""
    posted = BusinessEvent.objects.filter(
        type=EventType.INVOICE_POSTED, correlation_key=OuterRef("correlation_key")
    ).order_by("occurred_at").values("occurred_at")[:1]
    ready = BusinessEvent.objects.filter(type=EventType.INVOICE_READY, closed_at__isnull=True)
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
    # Through the outbox, in the caller's transaction: ingestion answers 2xx with the
    # broker down and the refresh runs when it is back (refreshes are idempotent).
    outbox.enqueue("kpis.tasks.refresh_after_ingest", [d.isoformat() for d in days], source)


# --- snapshots ----------------------------------------------------------------------------

def refresh_window(window: Window, keys=None) -> int:
    """Recompute every KPI (or ``keys``) for every scope of one window. Idempotent: the
    window's snapshots are replaced in one transaction."""
    kpis = [KPIS[k] for k in keys] if keys else list(KPIS.values())
    now = timezone.now()
    rows = []
    for kpi in kpis:
        for scope_type in kpi.scope_types:
            for scope_key, (value, detail) in kpi.compute(window, scope_type).items():
                if scope_key is None:
                    continue
                rows.append(KpiSnapshot(
                    key=kpi.key, scope_type=scope_type, scope_key=scope_key or "", period=window.period,
                    period_start=window.start, value=None if value is None else float(value), detail=detail,
                    computed_at=now,
                ))
    with transaction.atomic():
        KpiSnapshot.objects.filter(key__in=[k.key for k in kpis], period=window.period, period_start=window.start).delete()
        KpiSnapshot.objects.bulk_create(rows, batch_size=1000)
    return len(rows)


def refresh_days(days, keys=None) -> int:
    """Recompute the day, week and month windows containing each of ``days``."""
    windows = {window_containing(p, d) for d in days for p in Period.values}
    return sum(refresh_window(w, keys) for w in sorted(windows, key=lambda w: (w.start, w.period)))


def refresh_after_ingest(days, source="events") -> int:
    """The cheap refresh new data triggers: the day windows it touched, for the KPIs that
    data feeds and that are measured over a window. Point-in-time KPIs (backlogs) and the
    current week and month are left to the periodic refresh (every 15 minutes), whose cost
    grows with the period; late data for older days also recomputes their week and month."""
    today = timezone.now().date()
    fed = [k for k, kpi in KPIS.items() if kpi.source == source]
    windowed = [k for k in fed if not KPIS[k].point_in_time]
    total = sum(refresh_window(window_containing(Period.DAY, d), windowed) for d in days) if windowed else 0
    old = [d for d in days if d < today - dt.timedelta(days=1)]
    if old and fed:
        windows = {window_containing(p, d) for d in old for p in (Period.WEEK, Period.MONTH)}
        total += sum(refresh_window(w, fed) for w in windows)
    return total


def backfill(*, first: dt.date, last: dt.date, periods=tuple(Period.values), keys=None) -> int:
    total = 0
    for period in periods:
        for window in windows_between(period, first, last):
            total += refresh_window(window, keys)
    return total


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


