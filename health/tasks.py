"""Thin Celery tasks: each calls one function. All idempotent (acks_late is the project
default), so a re-delivered message after a worker crash does no harm."""

import logging

from celery import shared_task
from django.conf import settings
from django.db import transaction

from controlplane import outbox

from . import breaches

logger = logging.getLogger(__name__)


@shared_task(acks_late=True, ignore_result=True)
def dispatch_due_probes():
    """Every few seconds (beat): run the probes that are due, from our own table."""
    from .sweep import sweep

    return sweep()


@shared_task(acks_late=True, ignore_result=True)
def refresh_time_based_statuses():
    from .services import refresh_time_based

    return refresh_time_based()


@shared_task(acks_late=True, ignore_result=True)
def reconcile_statuses():
    """Every minute (beat): re-evaluate every integration's status. A sweep stores its
    results batch by batch and re-evaluates statuses at the end; a worker killed in
    between leaves probe states advanced but statuses stale, and the next sweep would not
    notice (the probe states no longer change). This repairs that within a minute."""
    from .services import refresh_statuses

    return refresh_statuses()


@shared_task(acks_late=True, ignore_result=True)
def rollup_recent():
    from .rollups import rollup_recent as run

    return run()


@shared_task(acks_late=True, ignore_result=True)
def prune_old_results():
    from .rollups import prune

    return prune()


@shared_task(acks_late=True, ignore_result=True)
def evaluate_slas():
    return breaches.evaluate_breaches()


def hand_off_delay(attempt: int) -> int:
    """Seconds before attempt ``attempt + 1``: HEALTH_HAND_OFF_BACKOFF_SECONDS, doubling, at most an hour."""
    return min(settings.HEALTH_HAND_OFF_BACKOFF_SECONDS * 2 ** (attempt - 1), 3600)


@shared_task(acks_late=True, ignore_result=True)
def hand_off_breach(breach_id: int, opened: bool, attempt: int = 1) -> str:
    """Hand an SLA breach to the exception queues (queued by ``health.breaches`` through
    the outbox). ``breaches.hand_off`` is idempotent, so a redelivery does no harm. When
    the exception queue fails, the next attempt is queued through the outbox with backoff,
    up to HEALTH_HAND_OFF_MAX_ATTEMPTS; then the breach stays "not handed off" in admin
    and the error is logged."""
    try:
        return breaches.hand_off(breach_id=breach_id, opened=opened)
    except Exception:  # whatever the exception queue raised: retry later, never lose the breach
        if attempt >= settings.HEALTH_HAND_OFF_MAX_ATTEMPTS:
            logger.exception("hand-off of breach %s gave up after %s attempts", breach_id, attempt)
            return "gave up"
        delay = hand_off_delay(attempt)
        logger.warning("hand-off of breach %s failed (attempt %s); retrying in %s s", breach_id, attempt, delay,
                       exc_info=True)
        with transaction.atomic():
            outbox.enqueue(hand_off_breach.name, breach_id, opened=opened, attempt=attempt + 1, countdown=delay)
        return "retry queued"


@shared_task(acks_late=True, ignore_result=True)
def deliver_notification(notification_id):
    from .notify import deliver

    return deliver(notification_id)


@shared_task(acks_late=True, ignore_result=True)
def retry_notifications():
    from .notify import deliver, due_retries

    for pk in due_retries():
        try:
            deliver(pk)
        except Exception:  # one broken delivery must not hold back the ones after it
            logger.exception("notification %s: delivery crashed; its lease expires and it is retried", pk)
