import datetime as dt

from celery import shared_task
from django.utils import timezone

from . import services


@shared_task(acks_late=True, autoretry_for=(Exception,), retry_backoff=True, max_retries=3)
def refresh_after_ingest(days: list[str], source: str = "events"):
    """Messages queued before dirty windows existed: mark those days dirty."""
    return services.refresh_after_ingest([dt.date.fromisoformat(d) for d in days], source)


@shared_task(acks_late=True, autoretry_for=(Exception,), retry_backoff=True, max_retries=3)
def refresh_dirty():
    """Debounced (queued a few seconds after the first mark) and periodic: recompute the
    KPI windows late or new data has touched."""
    return services.refresh_dirty()


@shared_task(acks_late=True)
def refresh_current():
    """Periodic: today's and yesterday's day/week/month windows."""
    today = timezone.now().date()
    return services.refresh_days([today - dt.timedelta(days=1), today])
