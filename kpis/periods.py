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


# --- many windows in one query -------------------------------------------------------------

def windows_values(windows: list[Window], columns: list[tuple[str, str]]) -> tuple[str, list]:
    """A CTE ``wnd(w, <columns>)`` with one row per window (``w`` its index in ``windows``),
    so one query can join facts to every window at once and GROUP BY it. ``columns`` are
    (name, attribute of the window): start/end are dates, start_at/end_at/as_of moments."""
    from django.db import connection

    pg = connection.vendor == "postgresql"
    rows, params = [], []
    for index, window in enumerate(windows):
        cells = [str(index)]
        for _, attribute in columns:
            value = getattr(window, attribute)
            if isinstance(value, dt.datetime):
                cells.append("CAST(%s AS timestamptz)" if pg else "%s")
                params.append(connection.ops.adapt_datetimefield_value(value))
            else:
                cells.append("CAST(%s AS date)" if pg else "%s")
                params.append(connection.ops.adapt_datefield_value(value))
        rows.append(f"({', '.join(cells)})")
    names = ", ".join(["w", *(name for name, _ in columns)])
    return f"wnd({names}) AS (VALUES {', '.join(rows)})", params


def spans(windows: list[Window]) -> list[tuple[dt.date, dt.date]]:
    """The days the windows cover, as disjoint [first, after) spans: a query for many
    windows reads only the facts inside them, however far apart they lie."""
    merged: list[list[dt.date]] = []
    for window in sorted(windows, key=lambda w: w.start):
        if merged and window.start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], window.end)
        else:
            merged.append([window.start, window.end])
    return [(first, after) for first, after in merged]


def within_sql(column: str, windows: list[Window], *, moments: bool = True) -> tuple[str, list]:
    """SQL condition: ``column`` (a datetime, or a date with ``moments=False``) falls in
    one of the windows' spans."""
    from django.db import connection

    parts, params = [], []
    for first, after in spans(windows):
        parts.append(f"({column} >= %s AND {column} < %s)")
        if moments:
            params += [connection.ops.adapt_datetimefield_value(dt.datetime.combine(d, dt.time.min, tzinfo=dt.UTC))
                       for d in (first, after)]
        else:
            params += [connection.ops.adapt_datefield_value(d) for d in (first, after)]
    return f"({' OR '.join(parts)})", params
