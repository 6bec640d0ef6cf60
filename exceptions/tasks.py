"""Thin Celery tasks: they take ids and call the services."""

from celery import shared_task
from django.conf import settings


@shared_task(acks_late=True)
def replay_exception(exception_id: int, replay_id: str, attempt: int = 1, requested_by_id=None) -> str:
    """Deliver one replay attempt; on a retryable failure schedule the next with
    exponential backoff (base EXCEPTIONS_REPLAY_BACKOFF_SECONDS, doubling)."""
    from .replay import perform_attempt

    outcome = perform_attempt(exception_id=exception_id, replay_id=replay_id, attempt=attempt,
                              requested_by_id=requested_by_id)
    if outcome == "retry":
        countdown = settings.EXCEPTIONS_REPLAY_BACKOFF_SECONDS * (2 ** (attempt - 1))
        replay_exception.apply_async((exception_id, replay_id, attempt + 1, requested_by_id), countdown=countdown)
    return outcome


@shared_task(acks_late=True)
def mark_overdue() -> int:
    from .services import mark_overdue as mark

    return mark(actor=None)
