PERIODIC_TASKS = [
    {"name": "health: dispatch due probes", "task": "health.tasks.dispatch_due_probes", "every_seconds": 5},
    {"name": "health: late and maintenance statuses", "task": "health.tasks.refresh_time_based_statuses", "every_seconds": 30},
    {"name": "health: reconcile all statuses", "task": "health.tasks.reconcile_statuses", "every_seconds": 60},
    {"name": "health: retry notifications", "task": "health.tasks.retry_notifications", "every_seconds": 30},
    {"name": "health: hourly and daily rollups", "task": "health.tasks.rollup_recent", "crontab": "*/5 * * * *"},
    {"name": "health: SLA evaluation", "task": "health.tasks.evaluate_slas", "crontab": "*/10 * * * *"},
    {"name": "health: prune raw results", "task": "health.tasks.prune_old_results", "crontab": "17 3 * * *"},
]
