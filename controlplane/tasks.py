"""Thin Celery tasks of the control plane itself."""

import logging

from celery import shared_task
from celery.signals import worker_ready
from django.db import connections

from .outbox import relay

logger = logging.getLogger(__name__)


@shared_task(acks_late=True, ignore_result=True, expires=60)
def relay_outbox():
    """Periodic (beat): publish outbox messages the after-commit publisher could not."""
    return relay()


@worker_ready.connect
def relay_outbox_on_start(**kwargs):
    """A worker that starts after a broker outage publishes what piled up in the outbox
    at once, without waiting for beat."""
    try:
        relay()
    except Exception:  # a failed relay must not stop the worker; beat retries
        logger.exception("outbox relay at worker start failed")
    finally:
        connections.close_all()
