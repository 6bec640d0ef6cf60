PERIODIC_TASKS = [
    {"name": "kpis: refresh current periods", "task": "kpis.tasks.refresh_current", "crontab": "*/15 * * * *"},
]
