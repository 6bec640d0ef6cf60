"""Demo health data: probes against the demo web's /healthz, heartbeats, a maintenance
window, team email channels, and 30 days of history (results, runs, rollups, flips) so the
pages are not empty. Idempotent: natural keys everywhere, history only written once.

The probes call http://127.0.0.1:8000/healthz, so the demo sets nothing itself: run it
with ``OUTBOUND_URL_ALLOWLIST=127.0.0.1`` in the environment of the worker or the probes fail
with "denied: loopback".
"""

import datetime as dt
import random

from django.db import transaction
from django.utils import timezone

from .choices import Granularity, ProbeState, Recurrence, RunStatus, Status
from .models import Flip, HealthConfig, MaintenanceWindow, NotificationChannel, Probe, Rollup, SyncRun

DEMO_URL = "http://127.0.0.1:8000/healthz"
MAX_INTEGRATIONS = 16
# A few integrations get a story: which status they end in and why.
STORIES = [
    (Status.DOWN, "All 1 probe(s) failing: timeout: no complete answer within 5 s"),
    (Status.DEGRADED, "Last 1 run(s) failed."),
    (Status.LATE, "No successful run since yesterday; expected every 3600 s plus 600 s grace."),
]


@transaction.atomic
def load(stdout):
    from catalog.models import Integration, Team

    integrations = list(Integration.objects.exclude(lifecycle="retired").select_related("owner_team").order_by("pk")[:MAX_INTEGRATIONS])
    if not integrations:
        stdout.write("health: no catalog integrations, skipping")
        return
    now = timezone.now().replace(second=0, microsecond=0)
    for index, integration in enumerate(integrations):
        config, _ = HealthConfig.objects.get_or_create(integration=integration)
        pushes = index % 3 == 1
        if pushes and config.expected_period_seconds is None:
            HealthConfig.objects.filter(pk=config.pk).update(expected_period_seconds=3600, grace_seconds=600)
        Probe.objects.get_or_create(
            integration=integration, name="healthz",
            defaults={"url": DEMO_URL, "conditions": '[STATUS] == 200\n[BODY].status == "ok"\n[RESPONSE_TIME] < 800',
                      "interval_seconds": 60, "timeout_ms": 5000, "next_due_at": now, "state": ProbeState.UP},
        )
        if not Rollup.objects.filter(integration=integration).exists():
            _history(integration, index, now, pushes)
    for team in Team.objects.filter(integrations__in=integrations).distinct():
        if team.email:
            NotificationChannel.objects.get_or_create(team=team, name="Team email",
                                                      defaults={"kind": "email", "target": team.email})
    MaintenanceWindow.objects.get_or_create(
        name="Sunday ERP patching", defaults={"recurrence": Recurrence.WEEKLY, "weekdays": "7",
                                              "start_time": dt.time(2, 0), "duration_minutes": 120},
    )
    MaintenanceWindow.objects.get_or_create(
        name="Month-end freeze checks", integration=integrations[-1],
        defaults={"recurrence": Recurrence.CRON, "cron": "0 22 28-31 * *", "duration_minutes": 60},
    )
    stdout.write(f"health: {len(integrations)} integrations with probes, history and channels")


def _history(integration, index, now, pushes):
    rng = random.Random(integration.slug)
    hour0 = now.replace(minute=0) - dt.timedelta(days=30)
    base_latency = rng.randint(80, 400)
    rollups, runs = [], []
    for h in range(30 * 24):
        start = hour0 + dt.timedelta(hours=h)
        bad_hour = rng.random() < 0.01 * (1 + index % 4)
        checks = 60
        ok = checks - (rng.randint(5, 30) if bad_hour else (1 if rng.random() < 0.05 else 0))
        p95 = base_latency * (1.2 + rng.random() * (3 if bad_hour else 0.6))
        run_count = 1 if pushes else 0
        rollups.append(Rollup(
            integration=integration, granularity=Granularity.HOUR, period_start=start, checks=checks, checks_ok=ok,
            latency_avg_ms=base_latency * (1 + rng.random() * 0.3), latency_p95_ms=round(p95, 1),
            latency_max_ms=int(p95 * 1.5), runs=run_count, runs_failed=1 if (pushes and bad_hour) else 0,
            records_processed=run_count * rng.randint(200, 900), records_failed=run_count * rng.randint(0, 3),
            max_lag_seconds=rng.randint(30, 900) if pushes else None,
        ))
        if pushes and h >= 30 * 24 - 48:
            runs.append(SyncRun(
                integration=integration, run_key=f"demo-{start:%Y%m%d%H}", status=RunStatus.FAILED if bad_hour else RunStatus.SUCCESS,
                started_at=start + dt.timedelta(minutes=5), finished_at=start + dt.timedelta(minutes=9),
                records_processed=rng.randint(200, 900), records_failed=rng.randint(0, 3), lag_seconds=rng.randint(30, 900),
            ))
    Rollup.objects.bulk_create(rollups, ignore_conflicts=True)
    SyncRun.objects.bulk_create(runs, ignore_conflicts=True)
    from .rollups import rollup_day

    for d in range(31):
        _day_rollup(rollup_day, hour0 + dt.timedelta(days=d))
    flips = [Flip(integration=integration, from_status=Status.UNKNOWN, to_status=Status.UP, reason="Probes passing.",
                  at=hour0 + dt.timedelta(minutes=3))]
    status, reason = Status.UP, "Probes passing."
    if index < len(STORIES):
        status, reason = STORIES[index]
        flips.append(Flip(integration=integration, from_status=Status.UP, to_status=status, reason=reason,
                          at=now - dt.timedelta(minutes=20 + 15 * index)))
    elif index % 4 == 3:
        flips.append(Flip(integration=integration, from_status=Status.UP, to_status=Status.DOWN,
                          reason="All 1 probe(s) failing: HTTP 502", at=now - dt.timedelta(days=3, hours=2)))
        flips.append(Flip(integration=integration, from_status=Status.DOWN, to_status=Status.UP,
                          reason="Probes passing.", at=now - dt.timedelta(days=3, hours=1, minutes=20)))
    Flip.objects.bulk_create(flips)
    last_success = now - (dt.timedelta(hours=26) if status == Status.LATE else dt.timedelta(minutes=9))
    HealthConfig.objects.filter(integration=integration).update(
        status=status, status_reason=reason, status_changed_at=flips[-1].at,
        last_success_at=last_success if pushes or status == Status.LATE else None,
        last_run_at=last_success if pushes else None,
    )


def _day_rollup(rollup_day, day):
    # rollup_day is atomic on its own; nested here inside load()'s transaction
    rollup_day(day)
