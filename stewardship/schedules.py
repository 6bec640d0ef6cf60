PERIODIC_TASKS = [
    {"name": "stewardship: refresh observed writers", "task": "stewardship.tasks.refresh_observed_writers",
     "crontab": "7 * * * *"},
]
