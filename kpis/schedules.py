PERIODIC_TASKS = [
    {"name": "kpis: refresh current periods", "task": "kpis.tasks.refresh_current", "crontab": "*/15 * * * *"},
    # Safety net for the debounced drain (a mark made while a drain was running).
    {"name": "kpis: refresh dirty windows", "task": "kpis.tasks.refresh_dirty", "every_seconds": 60},
]
