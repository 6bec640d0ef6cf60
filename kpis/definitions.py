"""The KPI catalog: every KPI defined in one place, with its SQL.

Each KPI's ``compute(window, scope_type)`` returns ``{scope_key: (value, detail)}`` for every
scope of that type in one query (scope_key is "" for the whole estate), so a refresh costs
a query per KPI and scope type, not per scope. ``rows(window, scope_type, scope_key)`` gives
the queryset behind a number, which the drill-down lists show.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import connection
from django.db.models import (
    BooleanField,
    Count,
    Exists,
    ExpressionWrapper,
    F,
    Max,
    OuterRef,
    Q,
    Subquery,
    Sum,
)
from django.urls import reverse
from django.utils.http import urlencode

from catalog.models import Sla
from controlplane.sql import epoch_hours, fetch, grouped_percentiles

from .choices import Direction, EventType, ScopeType
from .models import BusinessEvent, Reconciliation
from .periods import Window

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
    source: str = "events"  # what feeds it: events, reconciliations, exceptions, health, governance
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
    source="reconciliations",
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
    source="reconciliations",
))


def drilldown_url(kpi: Kpi, window: Window, scope_type: str = ScopeType.ALL, scope_key: str = "") -> str:
    """The list page showing exactly the rows behind ``kpi`` for this window and scope."""
    if kpi.rows is None:
        return ""
    params = {"kpi": kpi.key, "period": window.period, "start": window.start.isoformat()}
    if scope_type != ScopeType.ALL:
        params.update(scope_type=scope_type, scope_key=scope_key)
    return f"{reverse('kpis:rows')}?{urlencode(params)}"


# --- exception queues, health and governance (ORM aggregates: one grouped query each) ----

def _grouped(qs, scope_paths: dict, scope_type: str, **aggregates) -> dict[str, dict]:
    """``{scope_key: {aggregate: value}}`` for one scope type in one query."""
    path = scope_paths.get(scope_type)
    if scope_type == ScopeType.ALL:
        return {"": qs.aggregate(**aggregates)}
    if path is None:
        return {}
    rows = qs.exclude(**{f"{path}__isnull": True}).values(path).annotate(**aggregates).order_by()
    return {row[path]: row for row in rows}


_EXC_SCOPES = {
    ScopeType.WORKFLOW: "integration__workflows__slug",
    ScopeType.TEAM: "queue__team__slug",
    ScopeType.INTEGRATION: "integration__slug",
}
_INT_SCOPES = {
    ScopeType.WORKFLOW: "integration__workflows__slug",
    ScopeType.TEAM: "integration__owner_team__slug",
    ScopeType.INTEGRATION: "integration__slug",
}


def _open_exceptions(window: Window):
    """Exceptions open at the window's end (or now): seen before it, not closed before it."""
    from exceptions.models import BusinessException

    as_of = window.as_of
    return BusinessException.objects.filter(first_seen__lt=as_of).filter(
        Q(resolved_at__isnull=True) | Q(resolved_at__gte=as_of)
    )


def _scope_filter(qs, paths, scope_type, scope_key):
    path = paths.get(scope_type)
    return qs.filter(**{path: scope_key}) if path else qs


def _revenue_at_risk(window, scope_type):
    rows = _grouped(_open_exceptions(window), _EXC_SCOPES, scope_type, amount=Sum("amount_at_risk"), n=Count("id"))
    return {g: (float(r["amount"] or 0), {"count": r["n"], "amount": float(r["amount"] or 0)}) for g, r in rows.items()}


def _open_counts(window, scope_type):
    return _grouped(_open_exceptions(window), _EXC_SCOPES, scope_type, n=Count("id"),
                    overdue=Count("id", filter=Q(due_at__lt=window.as_of)))


def _exception_backlog(window, scope_type):
    return {g: (float(r["n"]), {"count": r["n"], "overdue": r["overdue"]}) for g, r in _open_counts(window, scope_type).items()}


def _overdue_share(window, scope_type):
    return {
        g: (round(100.0 * r["overdue"] / r["n"], 4) if r["n"] else None, {"count": r["n"], "overdue": r["overdue"]})
        for g, r in _open_counts(window, scope_type).items()
    }


def _resolved_in(window):
    from exceptions.choices import Status
    from exceptions.models import BusinessException

    return BusinessException.objects.filter(
        status=Status.RESOLVED, resolved_at__gte=window.start_at, resolved_at__lt=window.end_at
    )


def _resolved_within_target(window, scope_type):
    qs = _resolved_in(window).filter(due_at__isnull=False)
    rows = _grouped(qs, _EXC_SCOPES, scope_type, n=Count("id"), met=Count("id", filter=Q(resolved_at__lte=F("due_at"))))
    return {
        g: (round(100.0 * r["met"] / r["n"], 4) if r["n"] else None, {"count": r["n"], "within_target": r["met"]})
        for g, r in rows.items()
    }


_EXC_SQL_SCOPES = {
    ScopeType.ALL: ("''", ""),
    ScopeType.WORKFLOW: (
        "w.slug",
        "JOIN catalog_integration_workflows iw ON iw.integration_id = x.integration_id "
        "JOIN catalog_workflow w ON w.id = iw.workflow_id",
    ),
    ScopeType.TEAM: ("t.slug", "JOIN exceptions_queue q ON q.id = x.queue_id JOIN catalog_team t ON t.id = q.team_id"),
    ScopeType.INTEGRATION: ("i.slug", "JOIN catalog_integration i ON i.id = x.integration_id"),
}


def _time_to_resolve(window, scope_type):
    scope_expr, joins = _EXC_SQL_SCOPES[scope_type]
    inner = (
        f"SELECT {scope_expr} AS g, {epoch_hours('x.resolved_at', 'x.first_seen')} AS v "
        f"FROM exceptions_businessexception x {joins} "
        f"WHERE x.status = 'resolved' AND x.resolved_at >= %s AND x.resolved_at < %s"
    )
    rows = fetch(grouped_percentiles(inner), [_dt(window.start_at), _dt(window.end_at)])
    return {g: (p50, {"p50": p50, "p90": p90, "count": n}) for g, n, p50, p90 in rows}


def _exception_rows(kind):
    def rows(window, scope_type, scope_key):
        qs = _open_exceptions(window) if kind == "open" else _resolved_in(window)
        if kind == "overdue":
            qs = _open_exceptions(window).filter(due_at__lt=window.as_of)
        if kind == "targeted":
            qs = qs.filter(due_at__isnull=False)
        return _scope_filter(qs, _EXC_SCOPES, scope_type, scope_key).distinct()

    return rows


def _rollups(window):
    from health.choices import Granularity
    from health.models import Rollup

    return Rollup.objects.filter(granularity=Granularity.HOUR, period_start__gte=window.start_at,
                                 period_start__lt=window.end_at)


def _availability(window, scope_type):
    rows = _grouped(_rollups(window), _INT_SCOPES, scope_type, checks=Sum("checks"), ok=Sum("checks_ok"))
    return {
        g: (round(100.0 * r["ok"] / r["checks"], 4), {"checks": r["checks"], "ok": r["ok"]})
        for g, r in rows.items() if r["checks"]
    }


def _sla_attainment(window, scope_type):
    """Share of integrations with an availability target whose availability in the window
    meets it: per-integration availability in a subquery, compared in the database."""
    from catalog.models import Integration

    rollups = _rollups(window).filter(integration=OuterRef("pk")).values("integration")
    checks = Subquery(rollups.annotate(s=Sum("checks")).values("s")[:1])
    ok = Subquery(rollups.annotate(s=Sum("checks_ok")).values("s")[:1])
    qs = (
        Integration.objects.filter(sla__availability_target__isnull=False)
        .annotate(checks=checks, ok=ok)
        .filter(checks__gt=0)
        .annotate(met=ExpressionWrapper(
            Q(ok__gte=F("checks") * F("sla__availability_target") / 100), output_field=BooleanField()))
    )
    paths = {ScopeType.WORKFLOW: "workflows__slug", ScopeType.TEAM: "owner_team__slug", ScopeType.INTEGRATION: "slug"}
    rows = _grouped(qs, paths, scope_type, n=Count("id"), met_n=Count("id", filter=Q(met=True)))
    return {
        g: (round(100.0 * r["met_n"] / r["n"], 4), {"integrations": r["n"], "meeting": r["met_n"]})
        for g, r in rows.items() if r["n"]
    }


def _freshness(window, scope_type):
    qs = _rollups(window).filter(integration__criticality=1, max_lag_seconds__isnull=False)
    rows = _grouped(qs, _INT_SCOPES, scope_type, worst=Max("max_lag_seconds"))
    return {g: (round(r["worst"] / 60.0, 2), {"worst_lag_seconds": r["worst"]}) for g, r in rows.items()
            if r["worst"] is not None}


def _failed_posting(window, scope_type):
    rows = _grouped(_rollups(window), _INT_SCOPES, scope_type, processed=Sum("records_processed"),
                    failed=Sum("records_failed"))
    return {
        g: (round(100.0 * r["failed"] / r["processed"], 4), {"processed": r["processed"], "failed": r["failed"]})
        for g, r in rows.items() if r["processed"]
    }


def _rollup_rows(window, scope_type, scope_key):
    return _scope_filter(_rollups(window), _INT_SCOPES, scope_type, scope_key).distinct()


def _tier1_integrations():
    from catalog.models import Integration
    from health.models import HealthConfig, Probe, SyncRun
    from stewardship.models import SchemaVersion

    approved = SchemaVersion.objects.filter(status="approved")
    return (
        Integration.objects.filter(criticality=1).exclude(lifecycle="retired")
        .annotate(
            has_sla=Exists(Sla.objects.filter(integration=OuterRef("pk"))),
            has_check=Exists(Probe.objects.filter(integration=OuterRef("pk"), enabled=True))
            | Exists(HealthConfig.objects.filter(integration=OuterRef("pk"), expected_period_seconds__isnull=False))
            | Exists(SyncRun.objects.filter(integration=OuterRef("pk"))),
            has_schema=Exists(approved.filter(subject__entity__integrations=OuterRef("pk")))
            | Exists(approved.filter(subject__api__integrations=OuterRef("pk"))),
        )
    )


def _governance(window, scope_type):
    covered = Q(has_sla=True, has_check=True, has_schema=True)
    paths = {ScopeType.WORKFLOW: "workflows__slug", ScopeType.TEAM: "owner_team__slug", ScopeType.INTEGRATION: "slug"}
    rows = _grouped(_tier1_integrations(), paths, scope_type, n=Count("id"), ok=Count("id", filter=covered),
                    sla=Count("id", filter=Q(has_sla=True)), check=Count("id", filter=Q(has_check=True)),
                    schema=Count("id", filter=Q(has_schema=True)))
    return {
        g: (round(100.0 * r["ok"] / r["n"], 4), {"tier1": r["n"], "covered": r["ok"], "with_sla": r["sla"],
                                                 "with_health_check": r["check"], "with_approved_schema": r["schema"]})
        for g, r in rows.items() if r["n"]
    }


def _governance_rows(window, scope_type, scope_key):
    qs = _tier1_integrations().exclude(has_sla=True, has_check=True, has_schema=True)
    paths = {ScopeType.WORKFLOW: "workflows__slug", ScopeType.TEAM: "owner_team__slug", ScopeType.INTEGRATION: "slug"}
    return _scope_filter(qs, paths, scope_type, scope_key).distinct()


def _schema_lead_time(window, scope_type):
    inner = (
        f"SELECT '' AS g, {epoch_hours('v.approved_at', 'v.submitted_at')} AS v FROM stewardship_schemaversion v "
        f"WHERE v.approved_at >= %s AND v.approved_at < %s AND v.submitted_at IS NOT NULL"
    )
    rows = fetch(grouped_percentiles(inner), [_dt(window.start_at), _dt(window.end_at)])
    return {g: (p50, {"p50": p50, "p90": p90, "count": n}) for g, n, p50, p90 in rows}


def _schema_rows(window, scope_type, scope_key):
    from stewardship.models import SchemaVersion

    return SchemaVersion.objects.filter(approved_at__gte=window.start_at, approved_at__lt=window.end_at,
                                        submitted_at__isnull=False)


register(Kpi(
    key="revenue-at-risk", name="Revenue at risk",
    description="Amount on business exceptions that are still open.",
    unit="amount", direction=Direction.LOWER, default_target=50_000, point_in_time=True,
    formula="At the period end (or now): sum of amount at risk over exceptions first seen before then and not "
            "resolved or dismissed before then. Amounts are summed as reported, whatever their currency.",
    compute=_revenue_at_risk, rows=_exception_rows("open"), drilldown_label="Open exceptions", workflow="quote-to-cash",
    source="exceptions",
))
register(Kpi(
    key="exception-backlog", name="Exception backlog",
    description="Business exceptions still open (overdue count beside it).",
    unit="exceptions", direction=Direction.LOWER, default_target=50, point_in_time=True,
    formula="At the period end (or now): exceptions first seen before then and not resolved or dismissed before "
            "then. Teams are the queues' owning teams.",
    compute=_exception_backlog, rows=_exception_rows("open"), drilldown_label="Open exceptions",
    source="exceptions",
))
register(Kpi(
    key="overdue-share", name="Overdue share",
    description="Share of open exceptions past their due time.",
    unit="%", direction=Direction.LOWER, default_target=10, point_in_time=True,
    formula="Open exceptions (as for the backlog) whose due time has passed, over all open exceptions, in percent.",
    compute=_overdue_share, rows=_exception_rows("overdue"), drilldown_label="Overdue open exceptions",
    source="exceptions",
))
register(Kpi(
    key="time-to-resolve", name="Median time to resolve",
    description="How long business exceptions stay open before they are resolved.",
    unit="hours", direction=Direction.LOWER, default_target=24,
    formula="For exceptions resolved in the period (not dismissed): hours from first seen to resolved. Value = p50 "
            "(p90 beside it).",
    compute=_time_to_resolve, rows=_exception_rows("resolved"), drilldown_label="Exceptions resolved in the period",
    source="exceptions",
))
register(Kpi(
    key="resolved-within-target", name="Resolved within target",
    description="Share of resolved exceptions closed before their queue's target time.",
    unit="%", direction=Direction.HIGHER, default_target=90,
    formula="For exceptions resolved in the period that had a due time: resolved at or before it, over all of "
            "them, in percent.",
    compute=_resolved_within_target, rows=_exception_rows("targeted"), drilldown_label="Exceptions resolved in the period",
    source="exceptions",
))
register(Kpi(
    key="integration-availability", name="Integration availability",
    description="Share of health checks that passed, outside maintenance windows.",
    unit="%", direction=Direction.HIGHER, default_target=99.5,
    formula="Sum of passed checks over sum of checks in the hourly health rollups of the period, in percent "
            "(maintenance excluded).",
    compute=_availability, rows=_rollup_rows, drilldown_label="Hourly health rollups in the period",
    source="health",
))
register(Kpi(
    key="sla-attainment", name="Integrations meeting their SLA",
    description="Share of integrations with an availability target that met it.",
    unit="%", direction=Direction.HIGHER, default_target=95,
    formula="Integrations with an availability target and health checks in the period whose availability over "
            "the period is at least the target, over all such integrations, in percent.",
    compute=_sla_attainment, rows=None,
    source="health",
))
register(Kpi(
    key="sync-freshness", name="Sync freshness (tier 1)",
    description="Worst sync lag reported by a tier-1 integration.",
    unit="minutes", direction=Direction.LOWER, default_target=60,
    formula="Largest lag reported by a sync run of a tier-1 integration in the period, in minutes.",
    compute=_freshness, rows=_rollup_rows, drilldown_label="Hourly health rollups in the period",
    source="health",
))
register(Kpi(
    key="failed-posting-rate", name="Failed posting rate",
    description="Share of records that sync runs failed to post.",
    unit="%", direction=Direction.LOWER, default_target=0.5,
    formula="Sum of failed records over sum of processed records reported by sync runs in the period, in percent.",
    compute=_failed_posting, rows=_rollup_rows, drilldown_label="Hourly health rollups in the period",
    source="health",
))
register(Kpi(
    key="governance-coverage", name="Governance coverage (tier 1)",
    description="Share of tier-1 integrations with an owner, an SLA, a health check and an approved schema.",
    unit="%", direction=Direction.HIGHER, default_target=90, point_in_time=True,
    formula="Tier-1 integrations that are not retired and have an SLA, a health check (probe, expected run "
            "period or reported runs) and an approved schema version for an entity they carry or an API they use "
            "(every integration has an owning team), over all such integrations, in percent. Computed as of now.",
    compute=_governance, rows=_governance_rows, drilldown_label="Tier-1 integrations missing something",
    source="governance",
))
register(Kpi(
    key="schema-change-lead-time", name="Schema change lead time",
    description="How long a submitted schema version waits for approval.",
    unit="hours", direction=Direction.LOWER, default_target=48,
    formula="For schema versions approved in the period: hours from submission to approval. Value = p50 "
            "(p90 beside it).",
    compute=_schema_lead_time, rows=_schema_rows, drilldown_label="Schema versions approved in the period",
    scope_types=(ScopeType.ALL,),
    source="governance",
))
