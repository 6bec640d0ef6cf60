import datetime as dt

from celery import shared_task
from django.utils import timezone

from . import services


@shared_task(acks_late=True, autoretry_for=(Exception,), retry_backoff=True, max_retries=3)
def refresh_after_ingest(days: list[str], source: str = "events"):
    """Queued (on commit) when events or reconciliations arrive."""
    return services.refresh_after_ingest([dt.date.fromisoformat(d) for d in days], source)


@shared_task(acks_late=True)
def refresh_current():
    """Periodic: today's and yesterday's day/week/month windows."""
    today = timezone.now().date()
    return services.refresh_days([today - dt.timedelta(days=1), today])
