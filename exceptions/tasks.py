"""Thin Celery tasks: they take ids and call the services. Services queue them by name
through the outbox, so this module imports them and they never import it."""

from celery import shared_task

from . import services
from .replay import perform_attempt


@shared_task(acks_late=True)
def replay_exception(exception_id: int, replay_id: str, attempt: int = 1, requested_by_id=None) -> str:
    """Deliver one replay attempt. A retryable failure queues the next attempt (through the
    outbox, with exponential backoff: EXCEPTIONS_REPLAY_BACKOFF_SECONDS, doubling) in the
    same transaction that records this one."""
    return perform_attempt(exception_id=exception_id, replay_id=replay_id, attempt=attempt,
                           requested_by_id=requested_by_id)


@shared_task(acks_late=True)
def mark_overdue() -> int:
    return services.mark_overdue(actor=None)
