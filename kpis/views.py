import datetime as dt
from decimal import Decimal

from django.contrib import messages
from django.db.models import Count, Q, Sum
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views import View
from django.views.decorators.http import require_GET
from django.views.generic import TemplateView

from catalog.stages import stuck_list_url
from controlplane.csv_export import csv_response
from controlplane.errors import ValidationFailed
from controlplane.validation import date_problem
from controlplane.views_mixins import FilteredListView, RolePermissionMixin
from controlplane.xlsx_export import DATE, MONEY, NUMBER, TEXT, Column, xlsx_response

from . import selectors, services
from .choices import Period, ScopeType
from .definitions import KPIS, drilldown_url
from .filtersets import FxRateFilterSet
from .forms import EcbUploadForm
from .fx import reporting_currency, with_converted
from .models import BusinessEvent, FxRate, Reconciliation
from .periods import Window, window_containing
from .templatetags.kpis import kpi_unit

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
                "last": last, "errors": errors, "periods": Period.choices,
                "detail_query": f"?period={period}&from={first:%Y-%m-%d}&to={last:%Y-%m-%d}"}


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
        card = next(c for c in selectors.cards(period=period, first=first, last=last) if c.kpi.key == kpi.key)
        current = card.window
        breakdown, withheld = selectors.breakdown(kpi.key, period=period, start=current.start, user=self.request.user)
        breakdown_rows = {
            scope: [(s, name, share, drilldown_url(kpi, _snapshot_window(current, s.detail), scope, s.scope_key))
                    for s, name, share in snaps]
            for scope, snaps in breakdown.items()
        }
        # An integration serving several workflows counts in each: say so where the rows add
        # up to more than the card (an additive KPI's team and integration rows never do).
        overlapping = {scope for scope, snaps in breakdown.items()
                       if kpi.additive and card.value is not None
                       and sum(s.value for s, _name, _share in snaps if s.value is not None) > card.value}
        return {
            **super().get_context_data(**kwargs), "kpi": kpi, "card": card, "period": period, "first": first,
            "overlapping": overlapping,
            "last": last, "errors": errors, "periods": Period.choices, "window": current,
            "chart": {"labels": [p[0].isoformat() for p in points],
                      "values": [None if p[1] is None else float(p[1]) for p in points],  # drawing only
                      "target": card.target, "unit": kpi_unit(kpi, card.detail)},
            "points": points, "breakdown": breakdown_rows, "withheld": withheld,
            "drilldown": drilldown_url(kpi, _snapshot_window(current, card.detail)),
            "running_drilldown": drilldown_url(kpi, _snapshot_window(card.running, card.running_detail))
            if card.running else "",
            "stuck_list": stuck_list_url(kpi.workflow, kpi.stuck_step, _snapshot_window(current, card.detail).as_of)
            if kpi.stuck_step else "",
        }


def _flat(detail: dict, prefix="") -> dict:
    """Nested detail (per-currency figures) as flat CSV columns: ``by_currency.GBP.amount``."""
    out = {}
    for key, value in detail.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _snapshot_window(window, detail):
    """The window as its snapshot read it (a point-in-time figure's moment)."""
    at = _parse_moment((detail or {}).get("as_of"))
    return window if at is None else Window(window.period, window.start, at)


def _parse_moment(raw):
    if not raw or not isinstance(raw, str) or len(raw) > 40:
        return None
    try:
        value = dt.datetime.fromisoformat(raw)
    except ValueError:
        return None
    return value if value.tzinfo is not None else None


def _export(request, key):
    """(kpi, period, first, last, points, detail keys) of the KPI's series in the range:
    what the CSV and the XLSX both write."""
    if not request.user.has_perm(VIEW_PERM):
        from django.core.exceptions import PermissionDenied

        raise PermissionDenied
    kpi = KPIS.get(key)
    if kpi is None:
        raise Http404("No such KPI")
    period, first, last, _ = _range(request)
    points = [(start, value, _flat(detail)) for start, value, detail in
              selectors.series(kpi.key, period=period, first=first, last=last)]
    detail_keys = sorted({k for _, _, d in points for k in d})
    return kpi, period, first, last, points, detail_keys


@require_GET
def kpi_csv(request, key):
    """The KPI's series as CSV (period start, value, detail columns)."""
    kpi, period, first, last, points, detail_keys = _export(request, key)

    def rows():
        yield ["period", "period_start", "value", *detail_keys]
        for start, value, detail in points:
            yield [period, start.isoformat(), "" if value is None else value, *[detail.get(k, "") for k in detail_keys]]

    return csv_response(rows(), filename=f"kpi-{kpi.key}-{period}-{first}-{last}.csv")


@require_GET
def kpi_xlsx(request, key):
    """The KPI's series as an Excel workbook: the period start a date, the value a number
    (in the reporting currency's format for money KPIs), the detail figures beside it."""
    kpi, period, first, last, points, detail_keys = _export(request, key)
    numeric = {k for k in detail_keys
               if all(isinstance(d.get(k), int | float | Decimal) or d.get(k) in (None, "") for _s, _v, d in points)}
    currency = reporting_currency() if kpi.money else ""
    value_header = f"{kpi.name} ({currency or kpi.unit})"
    columns = [Column("Period", TEXT, 8), Column("Period start", DATE, 12),
               Column(value_header, MONEY if kpi.money else NUMBER, max(16, len(value_header)),
                      currency=currency),
               *[Column(k.replace("_", " ").capitalize(), NUMBER if k in numeric else TEXT, 14) for k in detail_keys]]
    rows = ([period, start, value, *[detail.get(k) for k in detail_keys]] for start, value, detail in points)
    return xlsx_response(rows, columns=columns, filename=f"kpi-{kpi.key}-{period}-{first}-{last}.xlsx",
                         sheet_name=kpi.name)


@require_GET
def kpi_rows(request):
    """Drill-down: exactly the rows behind a KPI value, with what finance needs on each
    (key, amount and currency, converted amount, age, owner, link) and their totals.
    Exceptions in restricted queues are listed only to those who may see them."""
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
    at = _parse_moment(request.GET.get("as_of"))
    if at is not None and window.start_at <= at <= window.end_at:
        window = Window(window.period, window.start, at)
    scope_type = request.GET.get("scope_type", ScopeType.ALL)
    if scope_type not in ScopeType.values:
        scope_type = ScopeType.ALL
    scope_key = request.GET.get("scope_key", "")[:100] if scope_type != ScopeType.ALL else ""
    queryset = kpi.rows(window, scope_type, scope_key)
    model = queryset.model
    kind = {BusinessEvent: "events", Reconciliation: "reconciliations"}.get(model, "objects")
    hidden = 0
    if model._meta.label == "exceptions.BusinessException":
        kind = "exceptions"
        if "converted_amount" not in queryset.query.annotations:
            queryset = with_converted(queryset, "amount_at_risk", "currency", "first_seen")
        visible = queryset.filter(pk__in=model.objects.visible_to(request.user).values("pk"))
        if scope_type == ScopeType.ALL:  # an estate total may include them; a scope must not reveal them
            hidden = queryset.count() - visible.count()
        queryset = visible
    elif model is BusinessEvent and "converted_amount" not in queryset.query.annotations:
        queryset = with_converted(queryset, "amount", "currency", "occurred_at")
    totals = _row_totals(queryset, kind)
    related = ROW_RELATED.get(model._meta.label, ())
    if related:
        queryset = queryset.select_related(*related)
    from django.core.paginator import Paginator

    page = Paginator(queryset.order_by("-pk"), 50).get_page(request.GET.get("page"))
    scope_name = selectors.scope_names(scope_type, [scope_key]).get(scope_key, scope_key) if scope_key else ""
    return render(request, "kpis/rows.html", {
        "kpi": kpi, "window": window, "scope_type": scope_type, "scope_key": scope_key, "scope_name": scope_name,
        "page_obj": page, "kind": kind, "model_name": model._meta.verbose_name_plural,
        "window_end": window.end - dt.timedelta(days=1), "as_of": window.as_of, "totals": totals, "hidden": hidden,
        "reporting_currency": reporting_currency(),
    })


def _row_totals(queryset, kind) -> dict:
    """Count and converted sum of every row (not just the page): what the card shows."""
    if kind in ("exceptions", "events"):
        amount = "amount_at_risk" if kind == "exceptions" else "amount"
        totals = queryset.aggregate(count=Count("pk"), converted=Sum("converted_amount"),
                                    unconverted=Count("pk", filter=Q(converted_amount__isnull=True)
                                                      & Q(**{f"{amount}__isnull": False})))
        totals["converted"] = Decimal(str(totals["converted"] or 0)).quantize(Decimal("0.01"))
        return totals
    if kind == "reconciliations":
        totals = queryset.aggregate(count=Count("pk"), source=Sum("converted_source"), variance=Sum("converted_variance"))
        for name in ("source", "variance"):
            totals[name] = Decimal(str(totals[name] or 0)).quantize(Decimal("0.01"))
        return totals
    return {"count": queryset.count()}


# What each kind of row needs to render without a query per row.
ROW_RELATED = {
    "kpis.BusinessEvent": ("workflow", "integration", "integration__owner_team"),
    "kpis.Reconciliation": ("integration", "entity"),
    "exceptions.BusinessException": ("integration", "queue", "queue__team", "assignee"),
    "health.Rollup": ("integration",),
    "stewardship.SchemaVersion": ("subject",),
    "catalog.Integration": ("owner_team",),
}




class FxRateListView(FilteredListView):
    """The dated FX rates money KPIs convert with, and (for finance) the ECB file upload."""

    permission_required = "kpis.view_fxrate"
    model = FxRate
    filterset_class = FxRateFilterSet
    template_name = "kpis/fx_rates.html"
    sort_fields = {"date": "-date", "quote": "quote"}
    default_sort = "date"
    paginate_by = 50

    def get_context_data(self, **kwargs):
        from django.conf import settings

        return {**super().get_context_data(**kwargs), "upload_form": kwargs.get("upload_form") or EcbUploadForm(),
                "reporting_currency": settings.REPORTING_CURRENCY,
                "can_upload": self.request.user.has_perm("kpis.add_fxrate")}


class FxUploadView(RolePermissionMixin, View):
    """POST an ECB reference-rate CSV: all its rates stored, or none and the reason shown."""

    permission_required = "kpis.add_fxrate"

    def post(self, request):
        form = EcbUploadForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                summary = services.import_ecb_csv(actor=request.user, text=form.cleaned_data["file"],
                                                  source=f"Upload {request.FILES['file'].name[:60]}")
            except ValidationFailed as exc:
                form.add_error("file", exc.message)
            else:
                messages.success(request, f"Stored {summary['rates']:,} rates ({summary['created']:,} new, "
                                          f"{summary['replaced']:,} replaced) from {summary['first']} to {summary['last']}; "
                                          f"{summary['snapshots_marked']:,} KPI snapshots will be recomputed.")
                return redirect("kpis:fx-rates")
        view = FxRateListView()
        view.setup(request)
        view.request.GET = request.GET
        view.object_list = view.get_queryset()
        return render(request, view.template_name, view.get_context_data(upload_form=form), status=400)
