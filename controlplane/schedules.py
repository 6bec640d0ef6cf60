"""Periodic schedules, in one place: django-celery-beat's tables (editable in admin).

Each app may declare ``PERIODIC_TASKS`` in ``<app>/schedules.py``::

    PERIODIC_TASKS = [
        {"name": "health: dispatch due probes", "task": "health.tasks.dispatch_due_probes", "every_seconds": 5},
        {"name": "exceptions: mark overdue", "task": "exceptions.tasks.mark_overdue", "crontab": "*/5 * * * *"},
    ]

``ensure_periodic_tasks`` creates the missing rows after every migrate. It never changes
an existing row, so what an admin edited (interval, enabled) stays as they left it.
"""

import importlib

from django.apps import apps

PERIODIC_TASKS = [
    # Publishes what could not be published after commit (broker down): see controlplane.outbox.
    {"name": "controlplane: relay outbox", "task": "controlplane.tasks.relay_outbox", "every_seconds": 5},
]


def declared_tasks():
    for config in apps.get_app_configs():
        try:
            module = importlib.import_module(f"{config.name}.schedules")
        except ModuleNotFoundError as exc:
            if exc.name == f"{config.name}.schedules":
                continue
            raise
        yield from getattr(module, "PERIODIC_TASKS", [])


def ensure_periodic_tasks():
    from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

    for spec in declared_tasks():
        if PeriodicTask.objects.filter(name=spec["name"]).exists():
            continue
        kwargs = {}
        if "every_seconds" in spec:
            kwargs["interval"], _ = IntervalSchedule.objects.get_or_create(
                every=spec["every_seconds"], period=IntervalSchedule.SECONDS
            )
        else:
            minute, hour, day_of_month, month_of_year, day_of_week = spec["crontab"].split()
            kwargs["crontab"], _ = CrontabSchedule.objects.get_or_create(
                minute=minute, hour=hour, day_of_month=day_of_month, month_of_year=month_of_year,
                day_of_week=day_of_week, timezone="UTC",
            )
        PeriodicTask.objects.create(name=spec["name"], task=spec["task"], **kwargs)


def ensure_after_migrate(sender, **kwargs):
    if sender.name == "controlplane":
        ensure_periodic_tasks()
