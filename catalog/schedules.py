PERIODIC_TASKS = [
    {"name": "catalog: notify newly stuck workflow items", "task": "catalog.tasks.notify_stuck_items",
     "crontab": "*/10 * * * *"},
]
