"""Is a maintenance window active at a moment? One-off, weekly and cron windows."""

import datetime as dt
import time

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from .choices import Recurrence
from .models import MaintenanceWindow


class CronError(ValueError):
    pass


def _cron_field(text, low, high):
    values = set()
    for part in text.split(","):
        step = 1
        if "/" in part:
            part, step_text = part.split("/", 1)
            if not step_text.isdigit() or int(step_text) < 1:
                raise CronError(f"Bad step in {text!r}")
            step = int(step_text)
        if part == "*":
            start, end = low, high
        elif "-" in part:
            a, b = part.split("-", 1)
            if not (a.isdigit() and b.isdigit()):
                raise CronError(f"Bad range in {text!r}")
            start, end = int(a), int(b)
        elif part.isdigit():
            start = end = int(part)
        else:
            raise CronError(f"Bad cron field {text!r}")
        if start < low or end > high or start > end:
            raise CronError(f"{text!r} is outside {low}-{high}")
        values.update(range(start, end + 1, step))
    return values


def parse_cron(expression: str):
    fields = expression.split()
    if len(fields) != 5:
        raise CronError("A cron expression has five fields: minute hour day month weekday")
    minute, hour, day, month, weekday = fields
    weekdays = _cron_field(weekday, 0, 7)
    return (
        _cron_field(minute, 0, 59), _cron_field(hour, 0, 23), _cron_field(day, 1, 31), _cron_field(month, 1, 12),
        {0 if w == 7 else w for w in weekdays},
    )


def _cron_matches(parsed, moment):
    minutes, hours, days, months, weekdays = parsed
    return (
        moment.minute in minutes and moment.hour in hours and moment.day in days and moment.month in months
        and (moment.isoweekday() % 7) in weekdays
    )


def window_active(window: MaintenanceWindow, at: dt.datetime) -> bool:
    at = at.astimezone(dt.UTC)
    if window.recurrence == Recurrence.ONCE:
        return bool(window.starts_at and window.ends_at and window.starts_at <= at < window.ends_at)
    if window.active_from and at < window.active_from:
        return False
    if window.active_until and at > window.active_until:
        return False
    duration = dt.timedelta(minutes=window.duration_minutes)
    if window.recurrence == Recurrence.WEEKLY:
        if window.start_time is None:
            return False
        days = {int(d) for d in window.weekdays.replace(" ", "").split(",") if d.isdigit()}
        for back in range(0, duration.days + 2):
            day = (at - dt.timedelta(days=back)).date()
            if day.isoweekday() not in days:
                continue
            start = dt.datetime.combine(day, window.start_time, tzinfo=dt.UTC)
            if start <= at < start + duration:
                return True
        return False
    try:
        parsed = parse_cron(window.cron)
    except CronError:
        return False
    # A start that matches the cron within the last `duration` minutes means we are inside.
    moment = at.replace(second=0, microsecond=0)
    for _ in range(window.duration_minutes):
        if _cron_matches(parsed, moment):
            return True
        moment -= dt.timedelta(minutes=1)
    return False


def windows_for(integration_ids=None):
    qs = MaintenanceWindow.objects.select_related("integration")  # the board names each window's integration
    if integration_ids is not None:
        qs = qs.filter(Q(integration__isnull=True) | Q(integration_id__in=integration_ids))
    return list(qs)


def active_integration_ids(at=None, windows=None):
    """(covers_all, ids): whether a global window is active, and which integrations have
    their own active window."""
    at = at or timezone.now()
    covers_all, ids = False, set()
    for window in windows if windows is not None else windows_for():
        if window_active(window, at):
            if window.integration_id is None:
                covers_all = True
            else:
                ids.add(window.integration_id)
    return covers_all, ids


def in_maintenance(integration_id, at=None, windows=None) -> bool:
    covers_all, ids = active_integration_ids(at, windows if windows is not None else windows_for([integration_id]))
    return covers_all or integration_id in ids


# Every run and heartbeat asks whether its integration was in a window at that moment, and
# windows change rarely: each process keeps them for HEALTH_MAINTENANCE_CACHE_MS (1 s), so
# a window saved in another process is honoured within that second; a save or delete in
# this process drops them at once and again when its transaction commits. Nothing is
# cached inside a transaction (it may see a window that is rolled back).
_cached: dict = {"loaded_at": 0.0, "windows": None}


def forget_windows(**_signal_kwargs) -> None:
    _cached["windows"] = None
    if connection.in_atomic_block:
        transaction.on_commit(lambda: _cached.update(windows=None))


def cached_windows() -> list:
    """Every maintenance window (global and per integration), from the cache above."""
    ttl = settings.HEALTH_MAINTENANCE_CACHE_MS / 1000
    if ttl <= 0 or connection.in_atomic_block:
        return list(MaintenanceWindow.objects.all())
    now = time.monotonic()
    windows = _cached["windows"]
    if windows is None or now - _cached["loaded_at"] >= ttl:
        windows = list(MaintenanceWindow.objects.all())
        _cached.update(windows=windows, loaded_at=now)
    return windows


def maintenance_now(at) -> tuple[bool, list[int]]:
    """(a global window is active, ids of integrations with their own active window) at
    ``at``: what a run finished or a ping received at that moment counts under."""
    covers_all, ids = active_integration_ids(at, cached_windows())
    return covers_all, sorted(ids)
