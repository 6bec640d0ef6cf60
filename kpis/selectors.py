"""KPI reads for the pages and the API."""

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from django.utils import timezone

from .choices import Direction, Period, ScopeType
from .definitions import KPIS, Kpi
from .models import KpiSnapshot, KpiTarget
from .periods import Window, window_containing, windows_between


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
    """A KPI's headline: the last complete period (``window``) and the running one ``so far``."""

    kpi: Kpi
    value: Decimal | None
    detail: dict
    previous: Decimal | None
    target: float | None
    status: str
    series: list  # [(period_start, value)], oldest first
    window: Window
    computed_at: dt.datetime | None = None
    running: Window | None = None
    running_value: Decimal | None = None
    running_detail: dict = field(default_factory=dict)
    running_computed_at: dt.datetime | None = None

    @property
    def window_start(self) -> dt.date:
        return self.window.start

    @property
    def window_last_day(self) -> dt.date:
        return self.window.end - dt.timedelta(days=1)

    @property
    def rests_on(self) -> int | None:
        """How many rows the figure rests on (the drill-down's count)."""
        for name in ("count", "integrations", "tier1"):
            if isinstance(self.detail.get(name), int):
                return self.detail[name]
        return None

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
    """One card per KPI for the whole estate: the last complete window in [first, last]
    (the running one beside it as "so far"), its snapshot time and the trend."""
    now = timezone.now()
    last = last or now.date()
    first = first or last - dt.timedelta(days={"day": 30, "week": 7 * 12, "month": 365}[period])
    targets = {t.key: t for t in KpiTarget.objects.all()}
    snaps = KpiSnapshot.objects.filter(
        period=period, scope_type=ScopeType.ALL, period_start__gte=window_containing(period, first).start,
        period_start__lte=last,
    ).values_list("key", "period_start", "value", "detail", "computed_at")
    by_key: dict[str, dict] = {}
    for key, start, value, detail, computed_at in snaps:
        by_key.setdefault(key, {})[start] = (value, detail, computed_at)
    windows = windows_between(period, first, last)
    running = windows[-1] if windows[-1].end_at > now else None
    complete = [w for w in windows if w.end_at <= now]
    current = complete[-1] if complete else windows[-1]
    before = window_containing(period, current.start - dt.timedelta(days=1))
    empty = (None, {}, None)
    result = []
    for kpi in KPIS.values():
        values = by_key.get(kpi.key, {})
        value, detail, computed_at = values.get(current.start, empty)
        target = targets.get(kpi.key)
        so_far = values.get(running.start, empty) if running and running != current else empty
        result.append(Card(
            kpi=kpi, value=value, detail=detail, previous=values.get(before.start, empty)[0],
            target=target.target if target else kpi.default_target, status=status_for(kpi, value, target),
            series=[(w.start, values.get(w.start, empty)[0]) for w in windows], window=current,
            computed_at=computed_at, running=running if running != current else None,
            running_value=so_far[0], running_detail=so_far[1], running_computed_at=so_far[2],
        ))
    return result


def scope_names(scope_type: str, keys) -> dict[str, str]:
    """Names people read for scope slugs (workflow, team, integration)."""
    from catalog.models import Integration, Team, Workflow

    model = {ScopeType.WORKFLOW: Workflow, ScopeType.TEAM: Team, ScopeType.INTEGRATION: Integration}.get(scope_type)
    if model is None:
        return {}
    return dict(model.objects.filter(slug__in=list(keys)).values_list("slug", "name"))


# Where a scope type reaches an exception, for the visibility rule.
_EXCEPTION_SCOPE_PATHS = {
    ScopeType.WORKFLOW: "integration__workflows__slug",
    ScopeType.TEAM: "queue__team__slug",
    ScopeType.INTEGRATION: "integration__slug",
}


def hidden_scopes(user, kpi: Kpi, window: Window | None = None) -> dict[str, set[str]]:
    """Scope keys whose figure ``user`` may not see: those that take in exceptions of a
    restricted queue the user cannot see (``BusinessException.objects.visible_to``), in
    ``window`` (or ever). The whole-estate figure is never hidden."""
    if kpi.source != "exceptions" or getattr(user, "is_superuser", False):
        return {}
    from exceptions.models import BusinessException

    if window is not None and kpi.rows is not None:
        base = kpi.rows(window, ScopeType.ALL, "")
    else:
        base = BusinessException.objects.all()
    invisible = base.filter(queue__restricted=True).exclude(
        pk__in=BusinessException.objects.visible_to(user).filter(queue__restricted=True).values("pk"))
    return {
        scope_type: set(invisible.exclude(**{f"{path}__isnull": True}).values_list(path, flat=True).distinct())
        for scope_type, path in _EXCEPTION_SCOPE_PATHS.items()
    }


def breakdown(key: str, *, period: str, start: dt.date, user=None) -> tuple[dict[str, list], int]:
    """Values of one window by workflow, team and integration, worst first, each row
    ``(snapshot, name, share of the largest value in percent)``, without the rows ``user``
    may not see; and how many were withheld."""
    kpi = KPIS[key]
    rows = KpiSnapshot.objects.filter(key=key, period=period, period_start=start).exclude(scope_type=ScopeType.ALL)
    hidden = hidden_scopes(user, kpi, Window(period, start)) if user is not None else {}
    grouped: dict[str, list] = {ScopeType.WORKFLOW: [], ScopeType.TEAM: [], ScopeType.INTEGRATION: []}
    withheld = 0
    for snap in rows:
        if snap.scope_key in hidden.get(snap.scope_type, ()):
            withheld += 1
            continue
        grouped.setdefault(snap.scope_type, []).append(snap)
    reverse = kpi.direction == Direction.LOWER
    out = {}
    for scope_type, snaps in grouped.items():
        snaps.sort(key=lambda s: (s.value is None, -(s.value or 0) if reverse else (s.value or 0)))
        names = scope_names(scope_type, {s.scope_key for s in snaps})
        top = max((abs(s.value) for s in snaps if s.value is not None), default=0)
        out[scope_type] = [
            (s, names.get(s.scope_key, s.scope_key), float(100 * abs(s.value) / top) if top and s.value is not None else 0.0)
            for s in snaps
        ]
    return out, withheld
