"""Demo health data from the scenario: probes on the simulated systems' health endpoints
(``/demo/<system>/health`` on the demo's own HOST/PORT, see controlplane/scenario/
receiver.py), pushed runs for the scheduled batch and file integrations, a maintenance
window, team channels, and 30 days of hourly history that meets the SLAs except where the
story says otherwise:

- the legacy SAP gateway has been down since this morning (its probe fails; the SAP
  exceptions in Integration Ops are the same outage);
- the nightly AR ageing file to Snowflake has not arrived for two nights (the SFTP key
  expired): late;
- a 40-minute Zuora callout outage nine days ago, long recovered (a flip pair in history).

Probes, runs and health settings go through ``health.services``; the hourly history is
bulk-inserted. Idempotent: probes by (integration, name), runs by run key, history only
written once. Run the worker with ``OUTBOUND_URL_ALLOWLIST=127.0.0.1`` (``make demo`` does)
or the probes are refused as loopback.
"""

import datetime as dt
import random

from django.db import transaction

from controlplane import scenario
from controlplane.scenario.receiver import CATALOG_SYSTEMS, OUTAGES, SYSTEMS
from controlplane.scenario.story import schedule_period_minutes

from . import services
from .choices import Granularity, ProbeState, Recurrence, RunStatus, Status
from .models import Flip, HealthConfig, MaintenanceWindow, NotificationChannel, Probe, Rollup, SyncRun

PROBE_NAME = "System health"
CONDITIONS = '[STATUS] == 200\n[BODY].status == "ok"\n[RESPONSE_TIME] < 1500'
HISTORY_DAYS = 30
LATE = {"netsuite-ar-to-snowflake": "SFTP key for the AR ageing export expired; the file was not picked up."}
PAST_OUTAGE = ("zuora-invoices-to-netsuite", 9, 40, "All 1 probe(s) failing: HTTP 503")  # slug, days ago, minutes, reason


def _probe_targets(integrations):
    """Integrations that are always on (API calls and events) get a probe on the system they
    call, and so does everything posting to the legacy SAP ledger (its RFC gateway is the
    weak point, so Integration Platform watches it)."""
    return [i for i in integrations if i.lifecycle != "planned" and i.target_system.slug in CATALOG_SYSTEMS
            and (i.pattern in ("api_sync", "event") or i.target_system.slug == "sap-fi-legacy")]


def _pushers(integrations):
    """Batch and file integrations report their runs instead (scheduled ones are expected
    every period; triggered ones, like the payroll journal after a pay run, whenever)."""
    return [i for i in integrations if i.pattern in ("batch", "file") and i.lifecycle != "planned"]


@transaction.atomic
def load(stdout):
    from catalog.models import Integration, Team
    from exceptions.demo import base_url

    integrations = list(Integration.objects.select_related("target_system", "owner_team").order_by("slug"))
    probed, pushers = _probe_targets(integrations), _pushers(integrations)
    if not probed and not pushers:
        stdout.write("health: no catalog integrations, skipping")
        return
    now = scenario.clock()
    base = base_url().rstrip("/")
    for integration in probed:
        system = CATALOG_SYSTEMS[integration.target_system.slug]
        url = f"{base}/demo/{system}/health"
        probe = Probe.objects.filter(integration=integration, name=PROBE_NAME).first()
        if probe is None:
            probe = services.create_probe(integration=integration, actor=None, url=url, name=PROBE_NAME,
                                          conditions=CONDITIONS, interval_seconds=60, timeout_ms=5000)
        elif probe.url != url:  # the demo moved to another HOST/PORT
            services.update_probe(probe=probe, actor=None, url=url)
        if not Rollup.objects.filter(integration=integration).exists():
            _probe_history(integration, system, now)
    for integration in pushers:
        period = (schedule_period_minutes(integration.schedule) or 0) * 60
        config = services.config_for(integration)
        if period and config.expected_period_seconds != period:
            services.update_config(integration=integration, actor=None, expected_period_seconds=period,
                                   grace_seconds=max(600, period // 8))
        if not Rollup.objects.filter(integration=integration).exists():
            _run_history(integration, period or 14 * 86400, now)  # unscheduled: about every two weeks
    _past_outage(now)
    for day in range(HISTORY_DAYS + 1):
        _rollup_day(now - dt.timedelta(days=day))
    services.refresh_statuses()
    for team in Team.objects.filter(integrations__in=probed + pushers).distinct():
        if team.email and not NotificationChannel.objects.filter(team=team, name="Team email").exists():
            services.save_channel(actor=None, team=team, name="Team email", kind="email", target=team.email)
    if not MaintenanceWindow.objects.filter(name="Sunday ERP patching").exists():
        services.save_maintenance_window(actor=None, name="Sunday ERP patching", recurrence=Recurrence.WEEKLY,
                                         weekdays="7", start_time=dt.time(2, 0), duration_minutes=120)
    down = HealthConfig.objects.filter(status=Status.DOWN).count()
    stdout.write(f"health: {len(probed)} probes on {base}/demo/<system>/health, {len(pushers)} integrations "
                 f"reporting runs, {down} down")


def _probe_history(integration, system, now):
    """Hourly rollups of 60 checks an hour; the probe's state as the last check left it."""
    rng = random.Random(integration.slug)
    _name, median, spread, failure_rate, _status, _detail = SYSTEMS[system]
    outage_since = now - dt.timedelta(hours=3, minutes=20) if system in OUTAGES else None
    hour0 = now.replace(minute=0) - dt.timedelta(days=HISTORY_DAYS)
    rows = []
    for h in range(HISTORY_DAYS * 24 + 1):
        start = hour0 + dt.timedelta(hours=h)
        if start > now:
            break
        checks = 60 if start + dt.timedelta(hours=1) <= now else max(1, (now - start).seconds // 60)
        failed = sum(1 for _ in range(checks) if rng.random() < 0.0003)  # a timeout now and then
        if outage_since and start + dt.timedelta(hours=1) > outage_since:
            minutes_out = (min(now, start + dt.timedelta(hours=1)) - max(start, outage_since)).seconds // 60
            failed = min(checks, failed + minutes_out)
        rows.append(Rollup(
            integration=integration, granularity=Granularity.HOUR, period_start=start, checks=checks,
            checks_ok=checks - failed, latency_avg_ms=median * (0.9 + rng.random() * 0.2),
            latency_p95_ms=round(median + 1.2 * spread * (0.8 + rng.random() * 0.4), 1),
            latency_max_ms=int(median + 2.5 * spread), runs=0, runs_failed=0, records_processed=0, records_failed=0,
        ))
    Rollup.objects.bulk_create(rows, ignore_conflicts=True)
    probe = Probe.objects.get(integration=integration, name=PROBE_NAME)
    if outage_since:
        state = {"state": ProbeState.DOWN, "consecutive_failures": 200, "consecutive_successes": 0,
                 "last_error": "HTTP 503"}
    else:
        state = {"state": ProbeState.UP, "consecutive_failures": 0, "consecutive_successes": 60, "last_error": ""}
    Probe.objects.filter(pk=probe.pk).update(last_checked_at=now, next_due_at=now, **state)
    Flip.objects.create(integration=integration, from_status=Status.UNKNOWN, to_status=Status.UP,
                        reason="Probes passing.", at=hour0)
    if outage_since:
        Flip.objects.create(integration=integration, from_status=Status.UP, to_status=Status.DOWN,
                            reason=f"All 1 probe(s) failing: HTTP 503 ({OUTAGES[system][:120]})", at=outage_since)
        HealthConfig.objects.filter(integration=integration).update(
            status=Status.DOWN, status_reason="All 1 probe(s) failing: HTTP 503", status_changed_at=outage_since)
    else:
        HealthConfig.objects.filter(integration=integration).update(
            status=Status.UP, status_reason="Probes passing.", status_changed_at=hour0)


def _run_history(integration, period, now):
    """Hourly rollups with a run every ``period``; the last three runs through record_run."""
    rng = random.Random(integration.slug)
    late = integration.slug in LATE
    hour0 = now.replace(minute=0) - dt.timedelta(days=HISTORY_DAYS)
    every = max(1, period // 3600)
    rows, runs = [], []
    last_good = now - dt.timedelta(days=1, hours=20) if late else None  # two nights ago
    last_hour = HISTORY_DAYS * 24 - 1  # runs line up so the latest one is in the last full hour
    for h in range(HISTORY_DAYS * 24 + 1):
        start = hour0 + dt.timedelta(hours=h)
        if start + dt.timedelta(hours=1) > now:
            break
        ran = (last_hour - h) % every == 0
        failed = ran and late and start > last_good
        processed = rng.randint(300, 4000) if ran and not failed else 0
        rows.append(Rollup(
            integration=integration, granularity=Granularity.HOUR, period_start=start, checks=0, checks_ok=0,
            runs=1 if ran else 0, runs_failed=1 if failed else 0, records_processed=processed,
            records_failed=rng.choice([0, 0, 0, 0, 1]) if processed else 0,
            max_lag_seconds=rng.randint(60, 900) if ran and not failed else None,
        ))
        if ran:
            runs.append((start + dt.timedelta(minutes=rng.randint(3, 12)), failed, processed))
    Rollup.objects.bulk_create(rows, ignore_conflicts=True)
    # Newest first: the first report already leaves the state the history ends in (record_run
    # keeps the latest success and last run), so loading does not flip every scheduled
    # integration to "late" on its two-day-old run and back to "up" a moment later, with a
    # notification for each flip.
    for finished, failed, processed in reversed(runs[-3:]):
        if SyncRun.objects.filter(integration=integration, run_key=f"demo-{finished:%Y%m%d%H%M}").exists():
            continue
        services.record_run(
            integration=integration, actor=None, status=RunStatus.FAILED if failed else RunStatus.SUCCESS,
            started_at=finished - dt.timedelta(minutes=4), finished_at=finished,
            run_key=f"demo-{finished:%Y%m%d%H%M}", records_processed=processed,
            lag_seconds=None if failed else rng.randint(60, 900))
    if late:
        # The last good run is older than the three failed ones above.
        HealthConfig.objects.filter(integration=integration).update(last_success_at=last_good)


def _past_outage(now):
    from catalog.models import Integration

    slug, days_ago, minutes, reason = PAST_OUTAGE
    integration = Integration.objects.filter(slug=slug).first()
    if integration is None or Flip.objects.filter(integration=integration, to_status=Status.DOWN).exists():
        return
    start = now - dt.timedelta(days=days_ago, hours=5)
    Flip.objects.bulk_create([
        Flip(integration=integration, from_status=Status.UP, to_status=Status.DOWN, reason=reason, at=start),
        Flip(integration=integration, from_status=Status.DOWN, to_status=Status.UP, reason="Probes passing.",
             at=start + dt.timedelta(minutes=minutes)),
    ])
    hour = start.replace(minute=0)
    Rollup.objects.filter(integration=integration, granularity=Granularity.HOUR, period_start=hour).update(
        checks_ok=60 - minutes)


def _rollup_day(day):
    from .rollups import rollup_day

    rollup_day(day)
