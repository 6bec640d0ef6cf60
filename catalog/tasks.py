"""Thin Celery tasks of the catalog app."""

from celery import shared_task


@shared_task(acks_late=True)
def notify_stuck_items():
    """Periodic: tell each workflow's owning team about items that became late since the
    last run (each item once: the service keeps a row per item)."""
    from . import services

    return services.notify_stuck_items()
