"""Thin Celery tasks of the stewardship app."""

from celery import shared_task


@shared_task(acks_late=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def notify_consumers(version_id, event):
    """Email the owning teams of the integrations a schema version affects."""
    from .notifications import notify_consumers as send

    return send(version_id=version_id, event=event)
