import datetime as dt

from django.http import Http404
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET
from django.views.generic import TemplateView

from controlplane.csv_export import csv_response
from controlplane.validation import date_problem
from controlplane.views_mixins import RolePermissionMixin

from . import selectors
from .choices import Period, ScopeType
from .definitions import KPIS, drilldown_url
from .models import BusinessEvent, Reconciliation
from .periods import window_containing

VIEW_PERM = "kpis.view_kpisnapshot"
DEFAULT_SPAN = {Period.DAY: 30, Period.WEEK: 7 * 12, Period.MONTH: 365}


def _range(request):
    """(period, first, last, errors) from ?period=&from=&to=, with sane defaults."""
    errors = []
    period = request.GET.get("period") or Period.WEEK
    if period not in Period.values:
        errors.append(f"Unknown period {period!r}; showing weeks.")
        period = Period.WEEK
    today = timezone.now().date()

    def parse(name, default):
        raw = request.GET.get(name)
        if not raw:
            return default
        try:
            value = dt.date.fromisoformat(raw)
        except ValueError:
            errors.append(f"{name} {raw!r} is not a date (YYYY-MM-DD); using {default}.")
            return default
        problem = date_problem(value)
        if problem:
            errors.append(f"{name} {raw} is outside the accepted dates. {problem} Using {default}.")
            return default
        return value

    last = parse("to", today)
    first = parse("from", last - dt.timedelta(days=DEFAULT_SPAN[period]))
    if first > last:
        errors.append("The start is after the end; the range was swapped.")
        first, last = last, first
    if (last - first).days > 3660:
        first = last - dt.timedelta(days=3660)
        errors.append("Ranges are limited to ten years.")
    return period, first, last, errors


class OverviewView(RolePermissionMixin, TemplateView):
    """KPI cards grouped by workflow: value, target, status, trend and sparkline."""

    permission_required = VIEW_PERM
    template_name = "kpis/overview.html"

    def get_context_data(self, **kwargs):
        period, first, last, errors = _range(self.request)
        cards = selectors.cards(period=period, first=first, last=last)
        groups: dict[str, list] = {}
        from catalog.models import Workflow

        names = dict(Workflow.objects.filter(slug__in={c.kpi.workflow for c in cards}).values_list("slug", "name"))
        for card in cards:
            groups.setdefault(names.get(card.kpi.workflow, "Estate-wide"), []).append(card)
        return {**super().get_context_data(**kwargs), "groups": groups, "period": period, "first": first,
                "last": last, "errors": errors, "periods": Period.choices}


class KpiDetailView(RolePermissionMixin, TemplateView):
    """One KPI: trend, breakdown by workflow/team/integration, definition, drill-down."""

    permission_required = VIEW_PERM
    template_name = "kpis/detail.html"

    def get_kpi(self):
        kpi = KPIS.get(self.kwargs["key"])
        if kpi is None:
            raise Http404("No such KPI")
        return kpi

    def get_context_data(self, **kwargs):
        kpi = self.get_kpi()
        period, first, last, errors = _range(self.request)
        points = selectors.series(kpi.key, period=period, first=first, last=last)
        current = window_containing(period, last)
        card = next(c for c in selectors.cards(period=period, first=first, last=last) if c.kpi.key == kpi.key)
        breakdown = selectors.breakdown(kpi.key, period=period, start=current.start)
        breakdown_rows = {
            scope: [(s, drilldown_url(kpi, current, scope, s.scope_key)) for s in snaps]
            for scope, snaps in breakdown.items()
        }
        return {
            **super().get_context_data(**kwargs), "kpi": kpi, "card": card, "period": period, "first": first,
            "last": last, "errors": errors, "periods": Period.choices, "window": current,
            "chart": {"labels": [p[0].isoformat() for p in points], "values": [p[1] for p in points],
                      "target": card.target, "unit": kpi.unit},
            "points": points, "breakdown": breakdown_rows, "drilldown": drilldown_url(kpi, current),
        }


@require_GET
def kpi_csv(request, key):
    """The KPI's series as CSV (period start, value, detail columns)."""
    if not request.user.has_perm(VIEW_PERM):
        from django.core.exceptions import PermissionDenied

        raise PermissionDenied
    kpi = KPIS.get(key)
    if kpi is None:
        raise Http404("No such KPI")
    period, first, last, _ = _range(request)
    points = selectors.series(kpi.key, period=period, first=first, last=last)
    detail_keys = sorted({k for _, _, d in points for k in d})

    def rows():
        yield ["period", "period_start", "value", *detail_keys]
        for start, value, detail in points:
            yield [period, start.isoformat(), "" if value is None else value, *[detail.get(k, "") for k in detail_keys]]

    return csv_response(rows(), filename=f"kpi-{kpi.key}-{period}-{first}-{last}.csv")


@require_GET
def kpi_rows(request):
    """Drill-down: exactly the rows behind a KPI value (events or reconciliations)."""
    if not request.user.has_perm(VIEW_PERM):
        from django.core.exceptions import PermissionDenied

        raise PermissionDenied
    kpi = KPIS.get(request.GET.get("kpi", ""))
    if kpi is None or kpi.rows is None:
        raise Http404("No such KPI")
    period = request.GET.get("period", Period.WEEK)
    try:
        start = dt.date.fromisoformat(request.GET.get("start", ""))
    except ValueError:
        start = timezone.now().date()
    if date_problem(start):
        start = timezone.now().date()
    if period not in Period.values:
        period = Period.WEEK
    window = window_containing(period, start)
    scope_type = request.GET.get("scope_type", ScopeType.ALL)
    if scope_type not in ScopeType.values:
        scope_type = ScopeType.ALL
    scope_key = request.GET.get("scope_key", "")
    queryset = kpi.rows(window, scope_type, scope_key)
    model = queryset.model
    kind = {BusinessEvent: "events", Reconciliation: "reconciliations"}.get(model, "objects")
    related = ROW_RELATED.get(model._meta.label, ())
    if related:
        queryset = queryset.select_related(*related)
    from django.core.paginator import Paginator

    page = Paginator(queryset.order_by("-pk"), 50).get_page(request.GET.get("page"))
    return render(request, "kpis/rows.html", {
        "kpi": kpi, "window": window, "scope_type": scope_type, "scope_key": scope_key, "page_obj": page,
        "kind": kind, "model_name": model._meta.verbose_name_plural, "window_end": window.end - dt.timedelta(days=1),
    })


# What each kind of row needs to render without a query per row.
ROW_RELATED = {
    "kpis.BusinessEvent": ("workflow", "integration"),
    "kpis.Reconciliation": ("integration", "entity"),
    "exceptions.BusinessException": ("integration", "queue"),
    "health.Rollup": ("integration",),
    "stewardship.SchemaVersion": ("subject",),
    "catalog.Integration": ("owner_team",),
}


