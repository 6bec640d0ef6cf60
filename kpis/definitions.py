"""The KPI catalog: every KPI defined in one place, with its SQL.

Each KPI's ``compute(window, scope_type)`` returns ``{scope_key: (value, detail)}`` for every
scope of that type in one query (scope_key is "" for the whole estate), so a refresh costs
a query per KPI and scope type, not per scope. ``rows(window, scope_type, scope_key)`` gives
the queryset behind a number, which the drill-down lists show.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import connection
from django.db.models import (
    BooleanField,
    Case,
    Count,
    DecimalField,
    Exists,
    ExpressionWrapper,
    F,
    Max,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Abs, Coalesce
from django.urls import reverse
from django.utils.http import urlencode

from catalog.models import Sla
from controlplane.sql import epoch_hours, fetch, grouped_percentiles

from .choices import Direction, EventType, ScopeType
from .fx import MONEY, converted, money_by_window, money_detail, reporting_currency, rows_sql, with_converted
from .models import KPI_NAMES, BusinessEvent, Reconciliation
from .periods import Window, spans, windows_values, within_sql

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
    # (windows, scope_type) -> {window: {scope_key: (value, detail)}} in one query: the drain
    # of late data recomputes every window it touched at once. None: compute per window.
    compute_many: Callable[[list[Window], str], dict] | None = None
    # (windows, scope_types) -> {scope_type: {window: {scope_key: (value, detail)}}}: the
    # facts read once for every scope type. None: compute_many per scope type.
    compute_scopes: Callable[[list[Window], list], dict] | None = None
    rows: Callable | None = None  # (window, scope_type, scope_key) -> queryset behind the number
    drilldown_label: str = ""
    workflow: str = ""  # slug of the workflow it belongs to on the overview ("" = estate-wide)
    point_in_time: bool = False
    source: str = "events"  # what feeds it: events, reconciliations, exceptions, health, governance
    money: bool = False  # computed from converted amounts: an FX rate change recomputes it
    additive: bool = False  # the drill-down rows sum (count, and amount) exactly to the card
    # Event type of the workflow step whose waiting items are this KPI's rows: the page links
    # the workflow's stuck list (catalog/stages.py), which explains each item.
    stuck_step: str = ""
    # The event types it reads (source "events"): an event of another type cannot change
    # it, so ingestion marks none of its windows dirty. Empty: every event type.
    event_types: tuple = ()
    # (start type, end type) of a pair KPI: ingestion marks only the windows of the end
    # events whose duration the new events set or change (kpis.services.event_dirty_windows).
    pair: tuple | None = None
    scope_types: tuple = field(default=(ScopeType.ALL, ScopeType.WORKFLOW, ScopeType.TEAM, ScopeType.INTEGRATION))


# --- event pairs: duration from a start event to the end event with the same key ---------

# Scope keys of an event, each through its foreign keys (one key per event and scope type):
# (column, the joins it needs).
_EVENT_KEYS = {
    ScopeType.ALL: ("''", []),
    ScopeType.WORKFLOW: ("w.slug", ["LEFT JOIN catalog_workflow w ON w.id = e.workflow_id"]),
    ScopeType.INTEGRATION: ("i.slug", ["LEFT JOIN catalog_integration i ON i.id = e.integration_id"]),
    ScopeType.TEAM: ("t.slug", ["LEFT JOIN catalog_integration i ON i.id = e.integration_id",
                                "LEFT JOIN catalog_team t ON t.id = i.owner_team_id"]),
}


def _pair_compute(start_type: str, end_type: str, divisor: float):
    def compute_scopes(windows: list[Window], scope_types) -> dict:
        joins = list(dict.fromkeys(j for st in scope_types for j in _EVENT_KEYS[st][1]))
        keys = ", ".join(f"{_EVENT_KEYS[st][0]} AS g{i}" for i, st in enumerate(scope_types))
        # A correlated MIN per end event walks the (type, key, occurred_at) index: cost grows
        # with the events in the windows, not with history.
        first_start = (
            f"(SELECT MIN(s.occurred_at) FROM {EVENTS} s WHERE s.type = %s AND "
            f"s.correlation_key = e.correlation_key AND s.occurred_at <= e.occurred_at)"
        )
        values, value_params = windows_values(windows, [("s", "start_at"), ("e", "end_at")])
        inside, inside_params = within_sql("e.occurred_at", windows)
        # MATERIALIZED: each end event's start is looked up once, however many windows
        # (its day, week, month) and scope types it then counts in.
        by_scope = " UNION ALL ".join(
            f"SELECT {i} AS st, pw.w AS w, pw.g{i} AS g, pw.v AS v FROM pw WHERE pw.g{i} IS NOT NULL"
            for i in range(len(scope_types)))
        inner = (
            f"WITH {values}, pairs AS MATERIALIZED ("
            f"SELECT {keys}, e.occurred_at AS t_end, {first_start} AS t_start "
            f"FROM {EVENTS} e {' '.join(joins)} WHERE e.type = %s AND {inside}), "
            f"pw AS MATERIALIZED (SELECT wnd.w AS w, pairs.*, "
            f"{epoch_hours('pairs.t_end', 'pairs.t_start')} / {divisor} AS v "
            f"FROM pairs JOIN wnd ON pairs.t_end >= wnd.s AND pairs.t_end < wnd.e WHERE pairs.t_start IS NOT NULL) "
            f"{by_scope}"
        )
        out = {scope_type: {window: {} for window in windows} for scope_type in scope_types}
        for st, w, g, n, p50, p90 in fetch(grouped_percentiles(inner, keys="st, w, g"),
                                           [*value_params, start_type, end_type, *inside_params]):
            out[scope_types[st]][windows[w]][g] = (p50, {"p50": p50, "p90": p90, "count": n})
        return out

    return compute_scopes


def _one_window(compute_many):
    """compute(window, scope_type) of a KPI computed for many windows at once."""
    def compute(window: Window, scope_type: str) -> dict:
        return compute_many([window], scope_type)[window]

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

_EVENT_PATHS = {
    ScopeType.WORKFLOW: "workflow__slug",
    ScopeType.INTEGRATION: "integration__slug",
    ScopeType.TEAM: "integration__owner_team__slug",
}


def _open_money(base, paths, *, opened, closed, amount, currency, on, value="amount", before=None, one_query=False):
    """compute_scopes() of a point-in-time money KPI over the rows of ``base`` open at each
    window's moment: the converted sum (or the count), per scope, for all windows at once.
    ``one_query``: every scope type in one query (the paths must give a row one key each)."""
    def compute_scopes(windows: list[Window], scope_types) -> dict:
        out = {scope_type: {window: {} for window in windows} for scope_type in scope_types}
        wanted = {st: paths.get(st) for st in scope_types if st == ScopeType.ALL or paths.get(st)}
        for group in ([wanted] if one_query and wanted else [{st: path} for st, path in wanted.items()]):
            qs = base()
            if len(group) == 1 and (path := next(iter(group.values()))):
                qs = qs.exclude(**{f"{path}__isnull": True})
            by_scope = money_by_window(qs, windows, opened=opened, closed=closed, paths=group, amount=amount,
                                       currency=currency, on=on, before=before)
            for scope_type, by_window in by_scope.items():
                out[scope_type] = {
                    window: {g: (r["amount"] if value == "amount" else Decimal(r["count"]), money_detail(r))
                             for g, r in scopes.items()}
                    for window, scopes in by_window.items()
                }
        return out

    return compute_scopes


def _backlog_rows(window: Window, scope_type: str, scope_key: str):
    qs = BusinessEvent.objects.filter(type=EventType.INVOICE_READY, occurred_at__lt=window.as_of).filter(
        Q(closed_at__isnull=True) | Q(closed_at__gte=window.as_of)
    )
    return with_converted(_scope_events(qs, scope_type, scope_key), "amount", "currency", "occurred_at")


_backlog_compute = _open_money(lambda: BusinessEvent.objects.filter(type=EventType.INVOICE_READY), _EVENT_PATHS,
                               opened="occurred_at", closed="closed_at", amount="amount", currency="currency",
                               on="occurred_at", value="count", one_query=True)


# --- reconciliations -------------------------------------------------------------------

def _recon_compute(numerator: str, denominator: str):
    def compute_many(windows: list[Window], scope_type: str) -> dict:
        scope_expr, joins = _RECON_SCOPES[scope_type]
        values, value_params = windows_values(windows, [("s", "start"), ("e", "end")])
        inside, inside_params = within_sql("r.period_end", windows, moments=False)
        sql = (
            f"WITH {values} SELECT wnd.w, {scope_expr} AS g, SUM({numerator}), SUM({denominator}), COUNT(*) "
            f"FROM {RECONCILIATIONS} r {joins} JOIN wnd ON r.period_end >= wnd.s AND r.period_end < wnd.e "
            f"WHERE {inside} {_group_by(scope_expr, 'wnd.w')} HAVING COUNT(*) > 0"
        )
        out = {window: {} for window in windows}
        for w, g, num, den, n in fetch(sql, [*value_params, *inside_params]):
            num, den = Decimal(str(num or 0)), Decimal(str(den or 0))
            value = (100 * num / den).quantize(Decimal("0.0001")) if den else None
            out[windows[w]][g] = (value, {"numerator": int(num), "denominator": int(den), "count": n})
        return out

    return compute_many


def _recon_rows(window: Window, scope_type: str, scope_key: str):
    qs = Reconciliation.objects.filter(period_end__gte=window.start, period_end__lt=window.end)
    return _recon_converted(_scope_filter(qs, _RECON_PATHS, scope_type, scope_key))


def _recon_converted(qs):
    variance = Abs(Coalesce(F("source_amount"), Value(Decimal("0"))) - Coalesce(F("target_amount"), Value(Decimal("0"))))
    # A reconciliation posted without a currency is in the reporting currency (the API's default).
    return qs.annotate(
        amount_currency=Case(When(currency="", then=Value(reporting_currency())), default=F("currency")),
        variance_amount=ExpressionWrapper(variance, output_field=MONEY),
    ).annotate(
        converted_source=converted("source_amount", "amount_currency", "period_end"),
        converted_variance=converted("variance_amount", "amount_currency", "period_end"),
    )


_RECON_PATHS = {
    ScopeType.WORKFLOW: "integration__workflows__slug",
    ScopeType.INTEGRATION: "integration__slug",
    ScopeType.TEAM: "integration__owner_team__slug",
}


def _recon_variance(windows: list[Window], scope_type: str) -> dict:
    """Σ|source − target| over Σ source, both converted to the reporting currency at the
    reconciliation's period end; one without a rate is left out and counted apart."""
    covered = Q()
    for first, after in spans(windows):
        covered |= Q(period_end__gte=first, period_end__lt=after)
    qs = _recon_converted(Reconciliation.objects.filter(covered))
    path = _RECON_PATHS.get(scope_type)
    if path:
        qs = qs.exclude(**{f"{path}__isnull": True})
    inner, params = rows_sql(qs, g=F(path) if path else Value(""), src=F("converted_source"),
                             var=F("converted_variance"), raw=F("source_amount"), pe=F("period_end"))
    values, value_params = windows_values(windows, [("s", "start"), ("e", "end")])
    sql = (
        f"WITH {values} SELECT wnd.w, t.g, SUM(CASE WHEN t.src IS NOT NULL AND t.var IS NOT NULL THEN t.var END), "
        "SUM(CASE WHEN t.src IS NOT NULL AND t.var IS NOT NULL THEN t.src END), COUNT(*), "
        "SUM(CASE WHEN t.raw IS NOT NULL AND (t.src IS NULL OR t.var IS NULL) THEN 1 ELSE 0 END) "
        f"FROM ({inner}) t JOIN wnd ON t.pe >= wnd.s AND t.pe < wnd.e GROUP BY wnd.w, t.g"
    )
    out = {window: {} for window in windows}
    for w, g, num, den, n, missing in fetch(sql, [*value_params, *params]):
        num, den = _cents(num), _cents(den)
        value = (100 * num / den).quantize(Decimal("0.0001")) if den else None
        out[windows[w]][g or ""] = (value, {
            "numerator": str(num), "denominator": str(den), "currency": reporting_currency(), "count": n,
            "unconverted_count": missing,
        })
    return out


def _cents(value) -> Decimal:
    return (Decimal(str(value)) if value is not None else Decimal("0")).quantize(Decimal("0.01"))


KPIS: dict[str, Kpi] = {}


def many(compute_many) -> dict:
    """A KPI's ``compute`` and ``compute_many`` from the one many-window computation."""
    return {"compute": _one_window(compute_many), "compute_many": compute_many}


def scopes(compute_scopes) -> dict:
    """A KPI's ``compute``, ``compute_many`` and ``compute_scopes`` from the one
    computation over many windows and scope types."""
    def compute_many(windows, scope_type):
        return compute_scopes(windows, [scope_type])[scope_type]

    return {"compute_scopes": compute_scopes, **many(compute_many)}


def register(kpi: Kpi) -> Kpi:
    KPIS[kpi.key] = kpi
    KPI_NAMES[kpi.key] = kpi.name
    return kpi


register(Kpi(
    key="approved-time-to-invoice",
    name="Approved time to invoice",
    description="How long approved time takes to appear on a posted invoice.",
    unit="hours", direction=Direction.LOWER, default_target=72,
    formula="For each invoice_posted event in the period: hours since the earliest time_approved event with the "
            "same correlation key at or before it. Value = p50 (p90 shown beside it).",
    **scopes(_pair_compute(EventType.TIME_APPROVED, EventType.INVOICE_POSTED, 1.0)),
    rows=_pair_rows(EventType.TIME_APPROVED, EventType.INVOICE_POSTED),
    drilldown_label="Invoices posted in the period", workflow="time-to-invoice",
    event_types=(EventType.TIME_APPROVED, EventType.INVOICE_POSTED), pair=(EventType.TIME_APPROVED, EventType.INVOICE_POSTED),
))
register(Kpi(
    key="closed-won-to-activation",
    name="Closed-won to project activation",
    description="Days from a deal closing to its project being active and billable.",
    unit="days", direction=Direction.LOWER, default_target=5,
    formula="For each project_activated event in the period: days since the earliest closed_won event with the "
            "same correlation key. Value = p50 (p90 shown beside it).",
    **scopes(_pair_compute(EventType.CLOSED_WON, EventType.PROJECT_ACTIVATED, 24.0)),
    rows=_pair_rows(EventType.CLOSED_WON, EventType.PROJECT_ACTIVATED),
    drilldown_label="Projects activated in the period", workflow="project-setup",
    event_types=(EventType.CLOSED_WON, EventType.PROJECT_ACTIVATED), pair=(EventType.CLOSED_WON, EventType.PROJECT_ACTIVATED),
))
register(Kpi(
    key="milestone-to-invoice",
    name="Milestone to invoice",
    description="Days from a completed milestone to its invoice being posted.",
    unit="days", direction=Direction.LOWER, default_target=3,
    formula="For each invoice_posted event in the period: days since the earliest milestone_completed event with "
            "the same correlation key. Value = p50 (p90 shown beside it).",
    **scopes(_pair_compute(EventType.MILESTONE_COMPLETED, EventType.INVOICE_POSTED, 24.0)),
    rows=_pair_rows(EventType.MILESTONE_COMPLETED, EventType.INVOICE_POSTED),
    drilldown_label="Invoices posted in the period", workflow="milestone-to-revenue",
    event_types=(EventType.MILESTONE_COMPLETED, EventType.INVOICE_POSTED), pair=(EventType.MILESTONE_COMPLETED, EventType.INVOICE_POSTED),
))
register(Kpi(
    key="invoice-ready-backlog",
    name="Invoice-ready backlog",
    description="Invoices ready to bill that have not been posted yet (count; amount beside it).",
    unit="invoices", direction=Direction.LOWER, default_target=20, point_in_time=True,
    formula="At the end of the period (or now): invoice_ready events with no invoice_posted event for the same "
            "correlation key before that moment. Value = count; beside it, their amount in the reporting currency "
            "(each converted at the rate of its own day, or the latest earlier rate) and per currency; amounts "
            "without a rate are counted apart, never added.",
    **scopes(_backlog_compute), rows=_backlog_rows, money=True, additive=True,
    drilldown_label="Invoices ready but not posted", workflow="time-to-invoice", stuck_step=EventType.INVOICE_POSTED,
    event_types=(EventType.INVOICE_READY, EventType.INVOICE_POSTED),
))
register(Kpi(
    key="reconciliation-variance",
    name="Reconciliation variance",
    description="How far target amounts drift from source amounts in reconciliations.",
    unit="%", direction=Direction.LOWER, default_target=0.5,
    formula="Sum of |source amount - target amount| over sum of source amount, for reconciliations whose period "
            "ends in this period, in percent. Both sums are in the reporting currency, each reconciliation's amounts "
            "converted at the rate of its period end (or the latest earlier rate); one without a rate is left out "
            "and counted apart.",
    **many(_recon_variance),
    rows=_recon_rows, drilldown_label="Reconciliations in the period", workflow="period-close",
    source="reconciliations", money=True,
))
register(Kpi(
    key="master-data-mismatch-rate",
    name="Master data mismatch rate",
    description="Share of records whose keys disagree between source and target.",
    unit="%", direction=Direction.LOWER, default_target=1.0,
    formula="Sum of mismatched keys over sum of source counts, for reconciliations whose period ends in this "
            "period, in percent.",
    **many(_recon_compute("r.mismatched_count", "r.source_count")),
    rows=_recon_rows, drilldown_label="Reconciliations in the period", workflow="client-onboarding",
    source="reconciliations",
))


def drilldown_url(kpi: Kpi, window: Window, scope_type: str = ScopeType.ALL, scope_key: str = "") -> str:
    """The list page showing exactly the rows behind ``kpi`` for this window and scope."""
    if kpi.rows is None:
        return ""
    params = {"kpi": kpi.key, "period": window.period, "start": window.start.isoformat()}
    if kpi.point_in_time and window.at is not None and window.as_of < window.end_at:
        params["as_of"] = window.as_of.isoformat()  # the snapshot's moment, so the rows match its figure
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


def _open_rows(window, scope_type, scope_key):
    # No DISTINCT: one workflow (or team, integration) joins each exception once.
    qs = _scope_filter(_open_exceptions(window), _EXC_SCOPES, scope_type, scope_key)
    return with_converted(qs, "amount_at_risk", "currency", "first_seen")


def _exceptions():
    from exceptions.models import BusinessException

    return BusinessException.objects.all()


_revenue_at_risk = _open_money(_exceptions, _EXC_SCOPES, opened="first_seen", closed="resolved_at",
                               amount="amount_at_risk", currency="currency", on="first_seen",
                               before={"overdue": "due_at"})


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


def _target_hours_sql(alias: str) -> str:
    """The queue's resolution target (hours) for the exception's severity."""
    from exceptions.choices import Severity

    cases = " ".join(f"WHEN '{sev}' THEN {alias}.target_hours_{sev}" for sev in Severity.values)
    return f"(CASE x.severity {cases} END)"


def _resolved_within_target(window, scope_type):
    """Counted from the exception's first sighting: a reopen (which moves ``due_at``)
    does not restart the clock. Compared in hours, never by integer division."""
    scope_expr, joins = _EXC_SQL_SCOPES[scope_type]
    elapsed = epoch_hours("x.resolved_at", "x.first_seen")
    sql = (
        f"SELECT {scope_expr} AS g, COUNT(*), SUM(CASE WHEN {elapsed} <= {_target_hours_sql('tq')} THEN 1 ELSE 0 END) "
        f"FROM exceptions_businessexception x JOIN exceptions_queue tq ON tq.id = x.queue_id {joins} "
        f"WHERE x.status = 'resolved' AND x.resolved_at >= %s AND x.resolved_at < %s {_group_by(scope_expr)}"
    )
    rows = fetch(sql, [_dt(window.start_at), _dt(window.end_at)])
    return {
        g: ((Decimal(100 * met) / n).quantize(Decimal("0.0001")), {"count": n, "within_target": met})
        for g, n, met in rows if n
    }


def _exception_rows(kind):
    def rows(window, scope_type, scope_key):
        qs = _open_exceptions(window) if kind == "open" else _resolved_in(window)
        if kind == "overdue":
            qs = _open_exceptions(window).filter(due_at__lt=window.as_of)
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
        .annotate(ok_x100=ExpressionWrapper(F("ok") * 100, output_field=DecimalField()))
        .annotate(met=ExpressionWrapper(
            # No division: SQLite would divide integers and count 75% as meeting an 80% target.
            Q(ok_x100__gte=F("checks") * F("sla__availability_target")), output_field=BooleanField()))
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
            "resolved or dismissed before then, in the reporting currency: each amount converted at the rate of the "
            "day it was first seen (or the latest earlier rate). Per-currency figures are shown beside it; amounts "
            "without a rate are counted apart, never added raw or as zero.",
    **scopes(_revenue_at_risk), rows=_open_rows, drilldown_label="Open exceptions", workflow="quote-to-cash",
    source="exceptions", money=True, additive=True,
))
register(Kpi(
    key="exception-backlog", name="Exception backlog",
    description="Business exceptions still open (overdue count beside it).",
    unit="exceptions", direction=Direction.LOWER, default_target=50, point_in_time=True,
    formula="At the period end (or now): exceptions first seen before then and not resolved or dismissed before "
            "then. Teams are the queues' owning teams.",
    compute=_exception_backlog, rows=_exception_rows("open"), drilldown_label="Open exceptions",
    source="exceptions", additive=True,
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
    formula="For exceptions resolved (not dismissed) in the period: those resolved within their queue's target "
            "hours for their severity, counted from when the exception was first seen (a reopen does not restart "
            "the clock), over all of them, in percent.",
    compute=_resolved_within_target, rows=_exception_rows("resolved"), additive=True, drilldown_label="Exceptions resolved in the period",
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
