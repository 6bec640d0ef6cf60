"""The Celery application. Periodic schedules live in django-celery-beat's tables
(editable in admin); ``controlplane.schedules`` seeds them."""

import os

from celery import Celery
from celery.signals import worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controlplane.settings.base")

app = Celery("controlplane")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_ready.connect
def relay_outbox_on_start(**kwargs):
    """A worker that starts after a broker outage publishes what piled up in the outbox
    at once, without waiting for beat."""
    import logging

    from django.db import connections

    try:
        from controlplane.outbox import relay

        relay()
    except Exception:  # a failed relay must not stop the worker; beat retries
        logging.getLogger(__name__).exception("outbox relay at worker start failed")
    finally:
        connections.close_all()
