PERIODIC_TASKS = [
    {"name": "telemetry: purge old spans", "task": "telemetry.tasks.purge_spans", "crontab": "17 3 * * *"},
]
