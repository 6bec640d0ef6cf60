"""Thin Celery tasks of the control plane itself."""

from celery import shared_task


@shared_task(acks_late=True, ignore_result=True, expires=60)
def relay_outbox():
    """Periodic (beat): publish outbox messages the after-commit publisher could not."""
    from .outbox import relay

    return relay()
