PERIODIC_TASKS = [
    {"name": "exceptions: mark overdue", "task": "exceptions.tasks.mark_overdue", "crontab": "*/5 * * * *"},
]
