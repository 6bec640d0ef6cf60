"""SLA breaches and the hand-off to the exception queues.

A breach is opened once per (integration, metric) while the target is missed and closed
when it is met again. The breach row, its audit row, its notifications and its hand-off
to the exception queues commit together: the hand-off is an outbox message
(``health.tasks.hand_off_breach``, queued by name), so an exception queue that is down
when the breach opens is tried again later instead of being forgotten.

``hand_off`` is the one place that talks to the exceptions app, through its services: an
opened breach opens (deduplicated by fingerprint) an exception in the integration's ops
queue, and recovery auto-resolves it. It is idempotent: the breach row is locked and
``handed_off`` is set in the same transaction as the exception, so a redelivered or
retried message opens nothing twice, and a breach that closed before its hand-off went
through opens nothing at all.
"""

import datetime as dt
import logging

from django.db import IntegrityError, transaction
from django.utils import timezone

from catalog.models import Sla
from controlplane import audit, outbox
from exceptions.services import auto_resolve, open_system_exception

from .models import SlaBreach
from .notify import notify_breach
from .sla import sla_rows

logger = logging.getLogger(__name__)

HAND_OFF_TASK = "health.tasks.hand_off_breach"
# A hand-off chain retries with backoff capped at an hour (health.tasks.hand_off_delay): an
# open breach not handed off with no hand-off message for longer than that has given up.
STALLED_AFTER = dt.timedelta(hours=1, minutes=5)


def fingerprint_for(integration, metric) -> str:
    return f"health:sla:{integration.slug}:{metric}"


def _message(breach) -> str:
    return f"SLA missed: {breach.sentence()}." if breach.value is not None else "SLA target missed"


@transaction.atomic
def hand_off(*, breach_id: int, opened: bool, actor=None) -> str:
    """Open (``opened``) or auto-resolve the breach's exception. Returns what happened:
    "opened", "already handed off", "closed before hand-off", "resolved N" or "gone".
    Errors of the exception queue propagate (the task retries)."""
    breach = SlaBreach.objects.select_for_update().select_related("integration").filter(pk=breach_id).first()
    if breach is None:
        return "gone"
    if not opened:
        resolved = auto_resolve(fingerprint=breach.fingerprint, note="SLA target met again.", actor=actor)
        return f"resolved {resolved}"
    if breach.handed_off:
        return "already handed off"
    if breach.closed_at is not None:
        return "closed before hand-off"
    exception = open_system_exception(
        integration=breach.integration, error_code=f"SLA_{breach.metric.upper()}", message=_message(breach),
        severity="high", fingerprint=breach.fingerprint,
        details={"metric": breach.metric, "value": breach.value, "target": breach.target, "window": breach.window},
        actor=actor,
    )
    SlaBreach.objects.filter(pk=breach.pk).update(handed_off=True)
    audit.record(actor=actor, action="sla_breach.handed_off", obj=breach, before={"handed_off": False},
                 after={"handed_off": True, "exception": exception.pk})
    return "opened"


def _open(sla, metric, item, window_key, now):
    """Open one breach with its audit row, notifications and hand-off, or None when
    another evaluator opened it first."""
    with transaction.atomic():
        try:
            with transaction.atomic():
                breach = SlaBreach.objects.create(
                    integration=sla.integration, metric=metric, window=window_key, value=item["value"],
                    target=item["target"], opened_at=now, fingerprint=fingerprint_for(sla.integration, metric),
                )
        except IntegrityError:
            return None
        audit.record(actor=None, action="sla_breach.opened", obj=breach,
                     after={"value": item["value"], "target": item["target"]})
        notify_breach(breach, "breach_opened")
        outbox.enqueue(HAND_OFF_TASK, breach.pk, opened=True)
    return breach


def _close(breach, item, now) -> bool:
    with transaction.atomic():
        if not SlaBreach.objects.filter(pk=breach.pk, closed_at__isnull=True).update(closed_at=now, value=item["value"]):
            return False
        breach.closed_at = now
        audit.record(actor=None, action="sla_breach.closed", obj=breach, after={"value": item["value"]})
        notify_breach(breach, "breach_closed")
        outbox.enqueue(HAND_OFF_TASK, breach.pk, opened=False)
    return True


def evaluate_breaches(window=None, now=None):
    """Open and close breaches for every SLA. Each SLA is judged over its own
    measurement window unless ``window`` is given. Returns (opened, closed)."""
    now = now or timezone.now()
    slas = list(Sla.objects.select_related("integration"))
    by_window = {}
    for sla in slas:
        by_window.setdefault(window or sla.measurement_window or "30d", []).append(sla)
    open_breaches = {(b.integration_id, b.metric): b
                     for b in SlaBreach.objects.filter(closed_at__isnull=True).select_related("integration")}
    opened = closed = 0
    for window_key, group in by_window.items():
        for sla, _figs, result in sla_rows(window_key, slas=group, now=now):
            for metric, item in result.items():
                key = (sla.integration_id, metric)
                if item["met"] is False and key not in open_breaches:
                    if _open(sla, metric, item, window_key, now) is not None:
                        opened += 1
                elif item["met"] is True and key in open_breaches:
                    if _close(open_breaches[key], item, now):
                        closed += 1
    requeue_stalled_hand_offs(now=now)
    return opened, closed


@transaction.atomic
def requeue_stalled_hand_offs(now=None) -> int:
    """Open breaches whose hand-off gave up (the exception queue failed every attempt) get a
    new chain of attempts, at most one per breach per STALLED_AFTER: a breach reaches its
    queue once the queue is back, instead of waiting in admin for somebody to notice."""
    from controlplane.models import OutboxMessage

    now = now or timezone.now()
    since = now - STALLED_AFTER
    stalled = list(SlaBreach.objects.filter(closed_at__isnull=True, handed_off=False, opened_at__lte=since)
                   .values_list("pk", flat=True))
    if not stalled:
        return 0
    recent = {args[0] for args in OutboxMessage.objects.filter(task=HAND_OFF_TASK, created_at__gt=since)
              .values_list("args", flat=True) if args}
    again = [pk for pk in stalled if pk not in recent]
    for pk in again:
        outbox.enqueue(HAND_OFF_TASK, pk, opened=True)
        logger.warning("hand-off of breach %s had given up; queued again", pk)
    return len(again)
