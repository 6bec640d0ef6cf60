"""Thin Celery tasks of the stewardship app."""

from celery import shared_task


@shared_task(bind=True, acks_late=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def notify_consumers(self, version_id, event):
    """Email the owning teams of the integrations a schema version affects. Emails have no
    idempotency key, so a message the outbox delivered twice sends them once."""
    from controlplane.outbox import exclusive

    from .notifications import notify_consumers as send

    with exclusive(self.request.id) as first:
        return send(version_id=version_id, event=event) if first else 0


@shared_task(acks_late=True)
def refresh_observed_writers():
    """Periodic: rebuild who was seen writing each entity, in one set-based statement."""
    from .services import refresh_observed_writers as refresh

    return refresh(actor=None)
