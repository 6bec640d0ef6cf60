"""The Celery application. Periodic schedules live in django-celery-beat's tables
(editable in admin); ``controlplane.schedules`` seeds them."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controlplane.settings.base")

app = Celery("controlplane")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
