"""Thin Celery tasks: each calls one function. All idempotent (acks_late is the project
default), so a re-delivered message after a worker crash does no harm."""

import logging

from celery import shared_task

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
    from .breaches import evaluate_breaches

    return evaluate_breaches()


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
