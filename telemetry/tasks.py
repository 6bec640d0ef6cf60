from celery import shared_task

from . import services


@shared_task(acks_late=True)
def purge_spans():
    """Retention: spans older than OTLP_RETENTION_DAYS go (daily, see schedules.py)."""
    return services.purge_spans()
