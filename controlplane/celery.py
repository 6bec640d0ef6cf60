"""The Celery application. Periodic schedules live in django-celery-beat's tables
(editable in admin); ``controlplane.schedules`` seeds them.

This module imports none of the project's modules, so any of them (the outbox included)
may import the app without an import cycle. Signal handlers that need the project (the
outbox relay at worker start) live in ``controlplane.tasks``, which the worker imports
through autodiscovery."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controlplane.settings.base")

app = Celery("controlplane")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
