"""Calendar periods that KPI snapshots are computed for (UTC)."""

import datetime as dt
from dataclasses import dataclass, field

from django.utils import timezone

from .choices import Period


@dataclass(frozen=True)
class Window:
    period: str
    start: dt.date  # first day of the period
    # The moment a point-in-time KPI is read at in a running period (default: now). A
    # snapshot freezes it, and its drill-down reads the rows as of that same moment.
    at: dt.datetime | None = field(default=None, compare=False, hash=False)

    @property
    def end(self) -> dt.date:
        """First day after the period."""
        if self.period == Period.DAY:
            return self.start + dt.timedelta(days=1)
        if self.period == Period.WEEK:
            return self.start + dt.timedelta(days=7)
        year, month = (self.start.year + 1, 1) if self.start.month == 12 else (self.start.year, self.start.month + 1)
        return dt.date(year, month, 1)

    @property
    def start_at(self) -> dt.datetime:
        return dt.datetime.combine(self.start, dt.time.min, tzinfo=dt.UTC)

    @property
    def end_at(self) -> dt.datetime:
        return dt.datetime.combine(self.end, dt.time.min, tzinfo=dt.UTC)

    @property
    def as_of(self) -> dt.datetime:
        """For point-in-time KPIs (backlogs): the end of the period, or now if sooner."""
        return min(self.end_at, self.at or timezone.now())

    def previous(self) -> "Window":
        return window_containing(self.period, self.start - dt.timedelta(days=1))


def period_start(period: str, day: dt.date) -> dt.date:
    if period == Period.DAY:
        return day
    if period == Period.WEEK:
        return day - dt.timedelta(days=day.weekday())
    if period == Period.MONTH:
        return day.replace(day=1)
    raise ValueError(f"Unknown period {period!r}; use day, week or month.")


def window_containing(period: str, day: dt.date) -> Window:
    return Window(period, period_start(period, day))


def windows_between(period: str, first: dt.date, last: dt.date) -> list[Window]:
    """Every window of ``period`` that overlaps [first, last], oldest first."""
    windows, current = [], window_containing(period, first)
    while current.start <= last:
        windows.append(current)
        current = Window(period, current.end)
    return windows
