"""This app's own trace sources: business events, sync runs, exceptions and their replays,
and reconciliation mismatch samples that carry a key. Each reads through an index (see
``lookups.py`` and migration 0002), caps its rows and applies the one visibility rule of
exceptions (``BusinessException.objects.visible_to``)."""

from __future__ import annotations

import datetime as dt

from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from .types import ITEMS_PER_SOURCE, Kind, TraceItem

NO_INTEGRATION = "No integration named"


def item(*, at, kind, lane, lane_url="", title, detail="", status="", amount=None, currency="", url="") -> TraceItem:
    return TraceItem(at=at, kind=kind, lane=lane, lane_url=lane_url, title=title, detail=detail, status=status,
                     amount=amount, currency=currency or "", url=url)


def _lane(integration):
    if integration is None:
        return NO_INTEGRATION, ""
    return integration.name, integration.get_absolute_url()


def _keyed(key: str, *columns: str, json_fields=()) -> Q:
    from .selectors import key_variants

    variants = key_variants(key)
    cond = Q()
    for column in columns:
        cond |= Q(**{f"{column}__in": variants})
    for name in json_fields:
        cond |= Q(**{f"{name}__carries": variants})
    return cond


def _rows(qs, related, order):
    """The first ITEMS_PER_SOURCE rows of a source's query, or none when the reader may not see it."""
    return [] if qs is None else qs.select_related(*related).order_by(*order)[:ITEMS_PER_SOURCE]


def events_query(key: str, user):
    if not user.has_perm("kpis.view_businessevent"):
        return None
    from kpis.models import BusinessEvent

    return BusinessEvent.objects.filter(_keyed(key, "correlation_key", json_fields=["attributes"]))


def events(key: str, user) -> list[TraceItem]:
    rows = _rows(events_query(key, user), ("integration", "workflow"), ("occurred_at", "id"))
    out = []
    for event in rows:
        lane, lane_url = _lane(event.integration)
        detail = [f"Workflow: {event.workflow.name}"] if event.workflow else []
        if event.correlation_key.upper() != key.upper():
            detail.append(f"Correlation key {event.correlation_key}")
        out.append(item(at=event.occurred_at, kind=Kind.EVENT, lane=lane, lane_url=lane_url,
                        title=event.get_type_display(), detail=" · ".join(detail), status="recorded",
                        amount=event.amount, currency=event.currency))
    return out


def runs_query(key: str, user):
    if not user.has_perm("health.view_syncrun"):
        return None
    from health.models import SyncRun

    return SyncRun.objects.filter(_keyed(key, json_fields=["business_keys"]))


def runs(key: str, user) -> list[TraceItem]:
    rows = _rows(runs_query(key, user), ("integration",), ("finished_at", "id"))
    out = []
    for run in rows:
        lane, lane_url = _lane(run.integration)
        out.append(item(at=run.finished_at, kind=Kind.RUN, lane=lane, lane_url=lane_url, title=f"Sync run {run.run_key}",
                        detail=f"{run.records_processed:,} records processed, {run.records_failed:,} failed",
                        status=run.get_status_display(),
                        url=reverse("health:integration", kwargs={"slug": run.integration.slug})))
    return out


def exceptions_query(key: str, user):
    """The exceptions carrying ``key`` that ``user`` may see (the one visibility rule)."""
    if not user.has_perm("exceptions.view_businessexception"):
        return None
    from exceptions.models import BusinessException

    return (BusinessException.objects.visible_to(user)
            .filter(_keyed(key, "correlation_id", json_fields=["business_keys"])))


def exceptions(key: str, user) -> list[TraceItem]:
    rows = _rows(exceptions_query(key, user), ("integration",), ("first_seen", "id"))
    out = []
    for exc in rows:
        lane, lane_url = _lane(exc.integration)
        repeats = f" · seen {exc.occurrences} times, last {timezone.localtime(exc.last_seen):%d %b %H:%M}" \
            if exc.occurrences > 1 else ""
        out.append(item(at=exc.first_seen, kind=Kind.EXCEPTION, lane=lane, lane_url=lane_url,
                        title=f"EXC-{exc.pk} {exc.error_code}", detail=exc.message[:300] + repeats,
                        status=exc.get_status_display(), amount=exc.amount_at_risk if exc.amount_at_risk else None,
                        currency=exc.currency, url=exc.get_absolute_url()))
    return out


def replays_query(key: str, user):
    visible = exceptions_query(key, user)
    if visible is None:
        return None
    from exceptions.models import ReplayAttempt

    return ReplayAttempt.objects.filter(exception__in=visible.values("pk"))


def replays(key: str, user) -> list[TraceItem]:
    rows = _rows(replays_query(key, user), ("exception__integration",), ("started_at", "id"))
    out = []
    for attempt in rows:
        exc = attempt.exception
        lane, lane_url = _lane(exc.integration)
        if attempt.finished_at is None:
            outcome = "In flight"
        elif attempt.succeeded:
            outcome = "Delivered"
        else:
            outcome = "Failed"
        answer = f"HTTP {attempt.status_code}" if attempt.status_code else (attempt.error[:200] or "no answer")
        out.append(item(at=attempt.started_at, kind=Kind.REPLAY, lane=lane, lane_url=lane_url,
                        title=f"Replay of EXC-{exc.pk}, attempt {attempt.attempt}", detail=answer, status=outcome,
                        url=exc.get_absolute_url()))
    return out


def mismatches_query(key: str, user):
    if not user.has_perm("kpis.view_reconciliation"):
        return None
    from kpis.models import Reconciliation

    return Reconciliation.objects.filter(_keyed(key, json_fields=["mismatched_sample"]))


def mismatches(key: str, user) -> list[TraceItem]:
    rows = _rows(mismatches_query(key, user), ("integration", "entity"), ("period_end", "id"))
    out = []
    for recon in rows:
        lane, lane_url = _lane(recon.integration)
        at = timezone.make_aware(dt.datetime.combine(recon.period_end, dt.time(23, 59)))
        out.append(item(at=at, kind=Kind.MISMATCH, lane=lane, lane_url=lane_url,
                        title=f"Named in the {recon.entity.name} reconciliation mismatches",
                        detail=(f"{recon.period_start:%d %b} – {recon.period_end:%d %b %Y}: "
                                f"{recon.source_count:,} in source, {recon.target_count:,} in target, "
                                f"{recon.mismatched_count:,} mismatched"),
                        status=""))
    return out


# (source, probe): the probe is the source's own query, so "has a trace" and the trace agree.
SOURCES = ((events, events_query), (runs, runs_query), (exceptions, exceptions_query), (replays, replays_query),
           (mismatches, mismatches_query))
