"""KPI reads for the pages and the API."""

import datetime as dt
from dataclasses import dataclass

from django.utils import timezone

from .choices import Direction, Period, ScopeType
from .definitions import KPIS, Kpi
from .models import KpiSnapshot, KpiTarget
from .periods import window_containing, windows_between


def status_for(kpi: Kpi, value, target: KpiTarget | None) -> str:
    """ok / warn / bad against the target; "none" when there is no value or target."""
    target_value = target.target if target else kpi.default_target
    if value is None or target_value is None:
        return "none"
    tolerance = (target.tolerance_pct if target else 10.0) / 100.0
    slack = abs(target_value) * tolerance
    if kpi.direction == Direction.LOWER:
        if value <= target_value:
            return "ok"
        return "warn" if value <= target_value + slack else "bad"
    if value >= target_value:
        return "ok"
    return "warn" if value >= target_value - slack else "bad"


@dataclass
class Card:
    kpi: Kpi
    value: float | None
    detail: dict
    previous: float | None
    target: float | None
    status: str
    series: list  # [(period_start, value)], oldest first
    window_start: dt.date

    @property
    def trend(self) -> str:
        if self.value is None or self.previous is None or self.value == self.previous:
            return "flat"
        return "up" if self.value > self.previous else "down"

    @property
    def trend_is_good(self) -> bool | None:
        if self.trend == "flat":
            return None
        return (self.trend == "down") == (self.kpi.direction == Direction.LOWER)


def series(key: str, *, period: str, first: dt.date, last: dt.date, scope_type=ScopeType.ALL, scope_key="") -> list:
    """[(period_start, value, detail)] for every window in [first, last]; None where no snapshot."""
    snaps = {
        s.period_start: s
        for s in KpiSnapshot.objects.filter(
            key=key, period=period, scope_type=scope_type, scope_key=scope_key,
            period_start__gte=window_containing(period, first).start, period_start__lte=last,
        )
    }
    out = []
    for window in windows_between(period, first, last):
        snap = snaps.get(window.start)
        out.append((window.start, snap.value if snap else None, snap.detail if snap else {}))
    return out


def cards(*, period: str = Period.WEEK, first: dt.date | None = None, last: dt.date | None = None) -> list[Card]:
    """One card per KPI for the whole estate: the latest window in [first, last]."""
    last = last or timezone.now().date()
    first = first or last - dt.timedelta(days={"day": 30, "week": 7 * 12, "month": 365}[period])
    targets = {t.key: t for t in KpiTarget.objects.all()}
    snaps = KpiSnapshot.objects.filter(
        period=period, scope_type=ScopeType.ALL, period_start__gte=window_containing(period, first).start,
        period_start__lte=last,
    ).values_list("key", "period_start", "value", "detail")
    by_key: dict[str, dict] = {}
    for key, start, value, detail in snaps:
        by_key.setdefault(key, {})[start] = (value, detail)
    windows = windows_between(period, first, last)
    result = []
    for kpi in KPIS.values():
        values = by_key.get(kpi.key, {})
        points = [(w.start, values.get(w.start, (None, {}))[0]) for w in windows]
        current = windows[-1].start
        value, detail = values.get(current, (None, {}))
        previous = values.get(windows[-2].start, (None, {}))[0] if len(windows) > 1 else None
        target = targets.get(kpi.key)
        result.append(Card(
            kpi=kpi, value=value, detail=detail, previous=previous,
            target=target.target if target else kpi.default_target,
            status=status_for(kpi, value, target), series=points, window_start=current,
        ))
    return result


def breakdown(key: str, *, period: str, start: dt.date) -> dict[str, list]:
    """Values of one window by workflow, team and integration, worst first."""
    kpi = KPIS[key]
    rows = KpiSnapshot.objects.filter(key=key, period=period, period_start=start).exclude(scope_type=ScopeType.ALL)
    grouped: dict[str, list] = {ScopeType.WORKFLOW: [], ScopeType.TEAM: [], ScopeType.INTEGRATION: []}
    for snap in rows:
        grouped.setdefault(snap.scope_type, []).append(snap)
    reverse = kpi.direction == Direction.LOWER
    for snaps in grouped.values():
        snaps.sort(key=lambda s: (s.value is None, -(s.value or 0) if reverse else (s.value or 0)))
    return grouped
