"""The KPI catalog: every KPI defined in one place, with its SQL.

Each KPI's ``compute(window, scope_type)`` returns ``{scope_key: (value, detail)}`` for every
scope of that type in one query (scope_key is "" for the whole estate), so a refresh costs
a query per KPI and scope type, not per scope. ``rows(window, scope_type, scope_key)`` gives
the queryset behind a number, which the drill-down lists show.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import connection
from django.db.models import Exists, OuterRef, Q
from django.urls import reverse
from django.utils.http import urlencode

from .choices import Direction, EventType, ScopeType
from .models import BusinessEvent, Reconciliation
from .periods import Window
from .sql import epoch_hours, fetch, grouped_percentiles

EVENTS = BusinessEvent._meta.db_table
RECONCILIATIONS = Reconciliation._meta.db_table


def _dt(value):
    return connection.ops.adapt_datetimefield_value(value)


def _d(value):
    return connection.ops.adapt_datefield_value(value)


def _group_by(scope_expr: str, *others: str) -> str:
    """GROUP BY clause; PostgreSQL refuses a constant (the whole-estate scope) in it."""
    columns = [*others] + ([] if scope_expr == "''" else [scope_expr])
    return f"GROUP BY {', '.join(columns)}" if columns else ""


# (expression giving the scope key, joins needed) for event-based KPIs, by scope type.
_EVENT_SCOPES = {
    ScopeType.ALL: ("''", ""),
    ScopeType.WORKFLOW: ("w.slug", "JOIN catalog_workflow w ON w.id = e.workflow_id"),
    ScopeType.INTEGRATION: ("i.slug", "JOIN catalog_integration i ON i.id = e.integration_id"),
    ScopeType.TEAM: (
        "t.slug",
        "JOIN catalog_integration i ON i.id = e.integration_id JOIN catalog_team t ON t.id = i.owner_team_id",
    ),
}

_RECON_SCOPES = {
    ScopeType.ALL: ("''", ""),
    ScopeType.INTEGRATION: ("i.slug", "JOIN catalog_integration i ON i.id = r.integration_id"),
    ScopeType.TEAM: (
        "t.slug",
        "JOIN catalog_integration i ON i.id = r.integration_id JOIN catalog_team t ON t.id = i.owner_team_id",
    ),
    ScopeType.WORKFLOW: (
        "w.slug",
        "JOIN catalog_integration_workflows iw ON iw.integration_id = r.integration_id "
        "JOIN catalog_workflow w ON w.id = iw.workflow_id",
    ),
}


@dataclass(frozen=True)
class Kpi:
    key: str
    name: str
    description: str
    unit: str
    direction: str
    formula: str
    default_target: float | None
    compute: Callable[[Window, str], dict]
    rows: Callable | None = None  # (window, scope_type, scope_key) -> queryset behind the number
    drilldown_label: str = ""
    workflow: str = ""  # slug of the workflow it belongs to on the overview ("" = estate-wide)
    point_in_time: bool = False
    scope_types: tuple = field(default=(ScopeType.ALL, ScopeType.WORKFLOW, ScopeType.TEAM, ScopeType.INTEGRATION))


# --- event pairs: duration from a start event to the end event with the same key ---------

def _pair_compute(start_type: str, end_type: str, divisor: float):
    def compute(window: Window, scope_type: str) -> dict:
        scope_expr, joins = _EVENT_SCOPES[scope_type]
        # A correlated MIN per end event walks the (type, key, occurred_at) index: cost grows
        # with the events in the window, not with history.
        first_start = (
            f"(SELECT MIN(s.occurred_at) FROM {EVENTS} s WHERE s.type = %s AND "
            f"s.correlation_key = e.correlation_key AND s.occurred_at <= e.occurred_at)"
        )
        # MATERIALIZED keeps the planner from copying the subquery into every use of t_start.
        inner = (
            f"WITH pairs AS MATERIALIZED ("
            f"SELECT {scope_expr} AS g, e.occurred_at AS t_end, {first_start} AS t_start "
            f"FROM {EVENTS} e {joins} WHERE e.type = %s AND e.occurred_at >= %s AND e.occurred_at < %s) "
            f"SELECT g, {epoch_hours('t_end', 't_start')} / {divisor} AS v FROM pairs WHERE t_start IS NOT NULL"
        )
        rows = fetch(grouped_percentiles(inner), [start_type, end_type, _dt(window.start_at), _dt(window.end_at)])
        return {
            g: (p50, {"p50": p50, "p90": p90, "count": n})
            for g, n, p50, p90 in rows
        }

    return compute


def _pair_rows(start_type: str, end_type: str):
    def rows(window: Window, scope_type: str, scope_key: str):
        started = BusinessEvent.objects.filter(
            type=start_type, correlation_key=OuterRef("correlation_key"), occurred_at__lte=OuterRef("occurred_at")
        )
        qs = BusinessEvent.objects.filter(
            Exists(started), type=end_type, occurred_at__gte=window.start_at, occurred_at__lt=window.end_at
        )
        return _scope_events(qs, scope_type, scope_key)

    return rows


def _scope_events(qs, scope_type, scope_key):
    if scope_type == ScopeType.WORKFLOW:
        return qs.filter(workflow__slug=scope_key)
    if scope_type == ScopeType.INTEGRATION:
        return qs.filter(integration__slug=scope_key)
    if scope_type == ScopeType.TEAM:
        return qs.filter(integration__owner_team__slug=scope_key)
    return qs


# --- invoice-ready backlog: ready but not posted as of the period's end --------------------

def _backlog_compute(window: Window, scope_type: str) -> dict:
    # Open now (partial index on open rows) plus those closed only after the period ended.
    scope_expr, joins = _EVENT_SCOPES[scope_type]
    as_of = _dt(window.as_of)
    base = f"SELECT {scope_expr} AS g, e.amount AS amount FROM {EVENTS} e {joins} WHERE e.type = %s AND e.occurred_at < %s"
    sql = (
        f"SELECT {'MIN(g)' if scope_type == ScopeType.ALL else 'g'}, COUNT(*), COALESCE(SUM(amount), 0) FROM ("
        f"{base} AND e.closed_at IS NULL UNION ALL {base} AND e.closed_at >= %s"
        f") AS backlog {'' if scope_type == ScopeType.ALL else 'GROUP BY g'}"
    )
    # For the whole estate an empty backlog is a real 0, not a missing value.
    rows = fetch(sql, [EventType.INVOICE_READY, as_of, EventType.INVOICE_READY, as_of, as_of])
    if scope_type == ScopeType.ALL:
        rows = [("", n, amount) for _, n, amount in rows]
    return {g: (float(n), {"count": n, "amount": float(amount)}) for g, n, amount in rows}


def _backlog_rows(window: Window, scope_type: str, scope_key: str):
    qs = BusinessEvent.objects.filter(type=EventType.INVOICE_READY, occurred_at__lt=window.as_of).filter(
        Q(closed_at__isnull=True) | Q(closed_at__gte=window.as_of)
    )
    return _scope_events(qs, scope_type, scope_key)


# --- reconciliations -------------------------------------------------------------------

def _recon_compute(numerator: str, denominator: str):
    def compute(window: Window, scope_type: str) -> dict:
        scope_expr, joins = _RECON_SCOPES[scope_type]
        sql = (
            f"SELECT {scope_expr} AS g, SUM({numerator}), SUM({denominator}), COUNT(*) FROM {RECONCILIATIONS} r {joins} "
            f"WHERE r.period_end >= %s AND r.period_end < %s {_group_by(scope_expr)} HAVING COUNT(*) > 0"
        )
        result = {}
        for g, num, den, n in fetch(sql, [_d(window.start), _d(window.end)]):
            num, den = float(num or 0), float(den or 0)
            value = round(100.0 * num / den, 4) if den else None
            result[g] = (value, {"numerator": num, "denominator": den, "count": n})
        return result

    return compute


def _recon_rows(window: Window, scope_type: str, scope_key: str):
    qs = Reconciliation.objects.filter(period_end__gte=window.start, period_end__lt=window.end)
    if scope_type == ScopeType.WORKFLOW:
        return qs.filter(integration__workflows__slug=scope_key)
    if scope_type == ScopeType.INTEGRATION:
        return qs.filter(integration__slug=scope_key)
    if scope_type == ScopeType.TEAM:
        return qs.filter(integration__owner_team__slug=scope_key)
    return qs


KPIS: dict[str, Kpi] = {}


def register(kpi: Kpi) -> Kpi:
    KPIS[kpi.key] = kpi
    return kpi


register(Kpi(
    key="approved-time-to-invoice",
    name="Approved time to invoice",
    description="How long approved time takes to appear on a posted invoice.",
    unit="hours", direction=Direction.LOWER, default_target=72,
    formula="For each invoice_posted event in the period: hours since the earliest time_approved event with the "
            "same correlation key at or before it. Value = p50 (p90 shown beside it).",
    compute=_pair_compute(EventType.TIME_APPROVED, EventType.INVOICE_POSTED, 1.0),
    rows=_pair_rows(EventType.TIME_APPROVED, EventType.INVOICE_POSTED),
    drilldown_label="Invoices posted in the period", workflow="time-to-invoice",
))
register(Kpi(
    key="closed-won-to-activation",
    name="Closed-won to project activation",
    description="Days from a deal closing to its project being active and billable.",
    unit="days", direction=Direction.LOWER, default_target=5,
    formula="For each project_activated event in the period: days since the earliest closed_won event with the "
            "same correlation key. Value = p50 (p90 shown beside it).",
    compute=_pair_compute(EventType.CLOSED_WON, EventType.PROJECT_ACTIVATED, 24.0),
    rows=_pair_rows(EventType.CLOSED_WON, EventType.PROJECT_ACTIVATED),
    drilldown_label="Projects activated in the period", workflow="project-setup",
))
register(Kpi(
    key="milestone-to-invoice",
    name="Milestone to invoice",
    description="Days from a completed milestone to its invoice being posted.",
    unit="days", direction=Direction.LOWER, default_target=3,
    formula="For each invoice_posted event in the period: days since the earliest milestone_completed event with "
            "the same correlation key. Value = p50 (p90 shown beside it).",
    compute=_pair_compute(EventType.MILESTONE_COMPLETED, EventType.INVOICE_POSTED, 24.0),
    rows=_pair_rows(EventType.MILESTONE_COMPLETED, EventType.INVOICE_POSTED),
    drilldown_label="Invoices posted in the period", workflow="milestone-to-revenue",
))
register(Kpi(
    key="invoice-ready-backlog",
    name="Invoice-ready backlog",
    description="Invoices ready to bill that have not been posted yet (count; amount beside it).",
    unit="invoices", direction=Direction.LOWER, default_target=20, point_in_time=True,
    formula="At the end of the period (or now): invoice_ready events with no invoice_posted event for the same "
            "correlation key before that moment. Value = count; detail = summed amount.",
    compute=_backlog_compute, rows=_backlog_rows,
    drilldown_label="Invoices ready but not posted", workflow="time-to-invoice",
))
register(Kpi(
    key="reconciliation-variance",
    name="Reconciliation variance",
    description="How far target amounts drift from source amounts in reconciliations.",
    unit="%", direction=Direction.LOWER, default_target=0.5,
    formula="Sum of |source amount - target amount| over sum of source amount, for reconciliations whose period "
            "ends in this period, in percent.",
    compute=_recon_compute("ABS(COALESCE(r.source_amount, 0) - COALESCE(r.target_amount, 0))", "COALESCE(r.source_amount, 0)"),
    rows=_recon_rows, drilldown_label="Reconciliations in the period", workflow="period-close",
))
register(Kpi(
    key="master-data-mismatch-rate",
    name="Master data mismatch rate",
    description="Share of records whose keys disagree between source and target.",
    unit="%", direction=Direction.LOWER, default_target=1.0,
    formula="Sum of mismatched keys over sum of source counts, for reconciliations whose period ends in this "
            "period, in percent.",
    compute=_recon_compute("r.mismatched_count", "r.source_count"),
    rows=_recon_rows, drilldown_label="Reconciliations in the period", workflow="client-onboarding",
))


def drilldown_url(kpi: Kpi, window: Window, scope_type: str = ScopeType.ALL, scope_key: str = "") -> str:
    """The list page showing exactly the rows behind ``kpi`` for this window and scope."""
    if kpi.rows is None:
        return ""
    params = {"kpi": kpi.key, "period": window.period, "start": window.start.isoformat()}
    if scope_type != ScopeType.ALL:
        params.update(scope_type=scope_type, scope_key=scope_key)
    return f"{reverse('kpis:rows')}?{urlencode(params)}"
