"""Finance's pages: queue overview, exception list (cursor-paginated, filterable, bulk
actions, CSV), "My work", the detail page with in-place htmx actions, and the routing
rule editor with its preview."""

import json

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.db.models import Value
from django.db.models.functions import Coalesce, Concat, NullIf, Trim
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from rest_framework.request import Request

from controlplane.csv_export import csv_response
from controlplane.errors import DomainError, ValidationFailed
from controlplane.pagination import InvalidCursor
from controlplane.xlsx_export import DATETIME, INTEGER, MONEY, TEXT, Column, xlsx_response

from . import selectors, services
from .api.views import ExceptionCursorPagination
from .choices import DISMISS_RESOLUTIONS, TRANSITIONS, Resolution, Severity, Status
from .filtersets import BusinessExceptionFilterSet
from .forms import AssignForm, BulkForm, CommentForm, PayloadForm, ResolveForm, RoutingRuleForm
from .models import BusinessException, ReplayTarget, RoutingRule

VIEW = "exceptions.view_businessexception"
CHANGE = "exceptions.change_businessexception"


def _403(perm):
    return permission_required(perm, raise_exception=True)


@require_GET
@_403(VIEW)
def home(request):
    return render(request, "exceptions/home.html", {"overview": selectors.queue_overview(user=request.user)})


class ListPagination(ExceptionCursorPagination):
    page_size = 50


SORTS = {
    "last_seen": ("-last_seen", "-id"),
    "-last_seen": ("last_seen", "id"),
    "first_seen": ("-first_seen", "-id"),
    "-first_seen": ("first_seen", "id"),
    "amount": ("-amount_at_risk", "-id"),
    "-amount": ("amount_at_risk", "id"),
    "occurrences": ("-occurrences", "-id"),
}


def _filtered(request, base=None):
    base = base if base is not None else BusinessException.objects.all()
    base = base.visible_to(request.user)
    fs = BusinessExceptionFilterSet(request.GET, queryset=base, request=request)
    qs = fs.qs if fs.is_valid() else base.none()
    return fs, qs


def _list(request, *, mine=False):
    base = BusinessException.objects.select_related("integration", "entity", "queue", "assignee")
    if mine:
        base = base.filter(assignee=request.user)
        if "status" not in request.GET:
            base = base.open()
    fs, qs = _filtered(request, base)
    sort = request.GET.get("sort", "last_seen")
    paginator = ListPagination()
    paginator.ordering = SORTS.get(sort, SORTS["last_seen"])
    try:
        page = paginator.paginate_queryset(qs, Request(request))
    except InvalidCursor as bad:  # a tampered cursor: bad input, as on the API
        return render(request, "400.html", {"message": bad.detail}, status=400)
    context = {
        "filter": fs, "page": page, "mine": mine, "sort": sort, "total": qs.count(),
        "back": request.get_full_path(),
        "next_url": paginator.get_next_link(), "previous_url": paginator.get_previous_link(),
        "bulk_actions": BulkForm.base_fields["action"].choices, "resolutions": Resolution.choices,
        "query": request.GET.urlencode(),
    }
    return render(request, "exceptions/list.html", context)


@require_GET
@_403(VIEW)
def exception_list(request):
    return _list(request)


@require_GET
@_403(VIEW)
def my_work(request):
    return _list(request, mine=True)


# (header, value path, XLSX kind and width): names people read (integration and entity
# names, the assignee's full name, labels of status and severity), never slugs or column names.
EXPORT_COLUMNS = [
    ("Exception", "id", TEXT, 12), ("Status", "status", TEXT, 12), ("Severity", "severity", TEXT, 10),
    ("Queue", "queue__name", TEXT, 22), ("Integration", "integration__name", TEXT, 28), ("Entity", "entity__name", TEXT, 16),
    ("Error code", "error_code", TEXT, 20), ("Message", "message", TEXT, 50), ("Assignee", "assignee_name", TEXT, 18),
    ("Invoice number", "invoice_number", TEXT, 16), ("Project code", "project_code", TEXT, 14), ("Client", "client", TEXT, 20),
    ("Legal entity", "legal_entity", TEXT, 12), ("Contract", "contract", TEXT, 14),
    ("Amount at risk", "amount_at_risk", MONEY, 16), ("Currency", "currency", TEXT, 9),
    ("Occurrences", "occurrences", INTEGER, 11), ("First seen (UTC)", "first_seen", DATETIME, 19),
    ("Last seen (UTC)", "last_seen", DATETIME, 19), ("Due (UTC)", "due_at", DATETIME, 19),
    ("Resolution", "resolution_code", TEXT, 16), ("Correlation ID", "correlation_id", TEXT, 24),
]
CSV_COLUMNS = [(header.removesuffix(" (UTC)"), path) for header, path, _kind, _width in EXPORT_COLUMNS]
_CURRENCY_INDEX = [path for _h, path, _k, _w in EXPORT_COLUMNS].index("currency")
XLSX_COLUMNS = [Column(header, kind, width, currency_column=_CURRENCY_INDEX if kind == MONEY else None)
                for header, _path, kind, width in EXPORT_COLUMNS]


def _export_value(column, value):
    """The value as people read it (EXC-12, labels), typed: dates and amounts stay
    dates and Decimals for the XLSX; the CSV writer turns them into text."""
    if value is None:
        return None
    if column == "id":
        return f"EXC-{value}"
    if column in _EXPORT_LABELS:
        return _EXPORT_LABELS[column].get(value, value)
    return value


_EXPORT_LABELS = {"status": dict(Status.choices), "severity": dict(Severity.choices),
                  "resolution_code": dict(Resolution.choices)}


def _export_rows(request):
    """The filtered list (the same FilterSet as the page), newest first, read in chunks
    (iterator) so a big export never sits in memory."""
    _fs, qs = _filtered(request)
    full_name = Trim(Concat("assignee__first_name", Value(" "), "assignee__last_name"))
    columns = [path for _header, path, _kind, _width in EXPORT_COLUMNS]
    rows = qs.order_by("-last_seen", "-id").annotate(
        assignee_name=Coalesce(NullIf(full_name, Value("")), "assignee__username"),
    ).values_list(*columns)
    for row in rows.iterator(chunk_size=2000):
        yield [_export_value(column, v) for column, v in zip(columns, row, strict=True)]


@require_GET
@_403("exceptions.export_businessexception")
def export_csv(request):
    """The filtered list as CSV, streamed."""
    def stream():
        yield [header for header, _path in CSV_COLUMNS]
        yield from _export_rows(request)

    return csv_response(stream(), filename="exceptions.csv")


@require_GET
@_403("exceptions.export_businessexception")
def export_xlsx(request):
    """The filtered list as an Excel workbook: typed dates and amounts, each amount in its
    own currency's format (controlplane.xlsx_export), built in constant memory."""
    return xlsx_response(_export_rows(request), columns=XLSX_COLUMNS, filename="exceptions.xlsx",
                         sheet_name="Exceptions")


def _detail_context(request, exc, **extra):
    perms = request.user
    return {
        "exc": exc,
        "keys": [(k, v) for k, v in (exc.business_keys or {}).items()],
        "payload_json": json.dumps(exc.payload, indent=2, sort_keys=True) if exc.payload is not None else "",
        "original_json": json.dumps(exc.original_payload, indent=2, sort_keys=True) if exc.original_payload is not None else "",
        "allowed": TRANSITIONS.get(exc.status, ()),
        "can_change": perms.has_perm(CHANGE),
        "can_comment": perms.has_perm("exceptions.add_comment"),
        "can_replay": perms.has_perm("exceptions.replay_businessexception"),
        "replay_target": (target := ReplayTarget.objects.filter(integration_id=exc.integration_id, enabled=True).first()),
        "replay": selectors.replay_state(exc, target),
        "payload_compact": json.dumps(exc.payload, separators=(",", ":")) if exc.payload is not None else "",
        "resolutions": Resolution.choices,
        "dismiss_resolutions": [(c.value, c.label) for c in DISMISS_RESOLUTIONS],
        "assign_form": AssignForm(initial={"assignee": exc.assignee}, queue=exc.queue),
        "comment_form": CommentForm(),
        "payload_form": extra.pop("payload_form", None) or PayloadForm(initial={"payload": json.dumps(exc.payload, indent=2, sort_keys=True) if exc.payload is not None else ""}),
        "timeline": selectors.timeline(exc),
        "back_url": extra.pop("back_url", None) or reverse("exceptions:list"),
        **extra,
    }


def _load(request, pk):
    # A restricted queue's exception is a 404 to non-members: its existence is not shown.
    return get_object_or_404(BusinessException.objects.visible_to(request.user).select_related("integration", "integration__source_system", "integration__target_system", "entity", "queue", "assignee", "queue__team"), pk=pk)


def _back_to_list(request) -> str:
    """Where "Back to the list" goes: the filtered list the user came from (``?back=``),
    accepted only as a path of the list pages themselves, so it cannot point elsewhere."""
    back = request.GET.get("back", "")
    lists = (reverse("exceptions:list"), reverse("exceptions:mine"))
    if back.startswith(lists) and url_has_allowed_host_and_scheme(back, allowed_hosts=None) and len(back) <= 2000:
        return back
    return reverse("exceptions:list")


@require_GET
@_403(VIEW)
def exception_detail(request, pk):
    return render(request, "exceptions/detail.html",
                  _detail_context(request, _load(request, pk), back_url=_back_to_list(request)))


@require_POST
@_403(CHANGE)
def exception_action(request, pk, name):
    """A lifecycle move. With htmx the state panel is swapped in place (a conflict shows as
    a message there); without, a redirect back with a message."""
    exc = _load(request, pk)
    expected = request.POST.get("expected_status") or None
    error = None
    try:
        if name == "assign":
            form = AssignForm(request.POST, queue=exc.queue)
            if not form.is_valid():
                raise ValidationFailed(services.NOT_ELIGIBLE)
            services.assign(exception=exc, actor=request.user, assignee=form.cleaned_data["assignee"], expected_status=expected)
        elif name == "assign_me":
            services.assign(exception=exc, actor=request.user, assignee=request.user, expected_status=expected)
        elif name == "acknowledge":
            services.acknowledge(exception=exc, actor=request.user, expected_status=expected)
        elif name == "start":
            services.start_progress(exception=exc, actor=request.user, expected_status=expected)
        elif name in ("resolve", "dismiss"):
            form = ResolveForm(request.POST)
            if not form.is_valid():
                raise ValidationFailed("Choose a resolution code.")
            fn = services.resolve if name == "resolve" else services.dismiss
            fn(exception=exc, actor=request.user, resolution_code=form.cleaned_data["resolution_code"],
               note=form.cleaned_data["note"], expected_status=expected)
        elif name == "reopen":
            services.reopen(exception=exc, actor=request.user, note=request.POST.get("note", ""), expected_status=expected)
        else:
            raise ValidationFailed(f"Unknown action {name!r}.")
    except DomainError as exc_error:
        error = exc_error.message
    return _after_action(request, pk, error, "Done.")


def _after_action(request, pk, error, ok_message):
    if request.headers.get("HX-Request"):
        exc = _load(request, pk)
        context = _detail_context(request, exc, action_error=error, action_ok=None if error else ok_message)
        return render(request, "exceptions/_state.html", context)
    if error:
        messages.error(request, error)
    else:
        messages.success(request, ok_message)
    return redirect("exceptions:detail", pk=pk)


@require_POST
@_403("exceptions.add_comment")
def add_comment(request, pk):
    exc = _load(request, pk)
    form = CommentForm(request.POST)
    error = None
    if form.is_valid():
        try:
            services.add_comment(exception=exc, actor=request.user, body=form.cleaned_data["body"])
        except DomainError as e:
            error = e.message
    else:  # empty, or over the comment size limit
        error = form.errors["body"][0] if request.POST.get("body", "").strip() else "Write something first."
    return _after_action(request, pk, error, "Comment added.")


@require_http_methods(["GET", "POST"])
@_403("exceptions.replay_businessexception")
def edit_and_replay(request, pk):
    exc = _load(request, pk)
    if request.method == "POST":
        form = PayloadForm(request.POST)
        if form.is_valid():
            try:
                services.request_replay(exception=exc, actor=request.user, payload=form.cleaned_data["payload"])
            except DomainError as e:
                form.add_error("payload", e.message)
                for problem in (e.fields or {}).get("payload", []):
                    if problem != e.message:
                        form.add_error("payload", problem)
            else:
                messages.success(request, "Replay queued; attempts appear in the timeline.")
                return redirect("exceptions:detail", pk=pk)
        return render(request, "exceptions/detail.html", _detail_context(request, exc, payload_form=form, open_editor=True), status=400)
    return redirect("exceptions:detail", pk=pk)


@require_POST
@_403(CHANGE)
def bulk_action(request):
    form = BulkForm(request.POST)
    back = reverse("exceptions:list") + ("?" + request.POST["query"] if request.POST.get("query") else "")
    if not form.is_valid():
        messages.error(request, "Select at least one exception and an action.")
        return HttpResponseRedirect(back)
    name = form.cleaned_data["action"]
    ids = form.cleaned_data["ids"]
    kwargs = {}
    if name == "assign_me":
        name, kwargs = "assign", {"assignee": request.user}
    elif name in ("resolve", "dismiss"):
        code = form.cleaned_data["resolution_code"] or ("not_an_error" if name == "dismiss" else "")
        if not code:
            messages.error(request, "Choose a resolution code to resolve.")
            return HttpResponseRedirect(back)
        kwargs = {"resolution_code": code}
    elif name == "replay" and not request.user.has_perm("exceptions.replay_businessexception"):
        messages.error(request, "You may not replay.")
        return HttpResponseRedirect(back)
    done, failed = services.bulk_apply(ids=ids, actor=request.user, action=name, **kwargs)
    if done:
        messages.success(request, f"{name.capitalize()}: {len(done)} exception(s) done.")
    for pk, reason in list(failed.items())[:20]:
        messages.error(request, f"EXC-{pk}: {reason}")
    return HttpResponseRedirect(back)


# --- routing rules ----------------------------------------------------------------------


@require_GET
@_403("exceptions.view_routingrule")
def rule_list(request):
    rules = RoutingRule.objects.select_related("integration", "entity", "queue", "assignee")
    return render(request, "exceptions/rules.html", {"rules": rules})


@require_http_methods(["GET", "POST"])
@_403("exceptions.change_routingrule")
def rule_edit(request, pk=None):
    """Create or edit a rule. "Preview" shows which recent open exceptions would route
    differently, without saving."""
    rule = get_object_or_404(RoutingRule, pk=pk) if pk else None
    if pk is None and not request.user.has_perm("exceptions.add_routingrule"):
        return render(request, "403.html", status=403)
    form = RoutingRuleForm(request.POST or None, instance=rule)
    preview = None
    if request.method == "POST" and form.is_valid():
        if "preview" in request.POST:
            candidate = form.save(commit=False)
            preview = selectors.routing_preview(candidate, user=request.user)
        elif "delete" in request.POST and rule is not None:
            if not request.user.has_perm("exceptions.delete_routingrule"):
                return render(request, "403.html", status=403)
            try:
                services.delete_routing_rule(actor=request.user, rule=rule)
            except DomainError as e:
                form.add_error(None, e.message)
            else:
                messages.success(request, "Rule deleted.")
                return redirect("exceptions:rules")
        else:
            try:
                services.save_routing_rule(actor=request.user, data=form.cleaned_data, rule=rule)
            except DomainError as e:
                form.add_error(None, e.message)
            else:
                messages.success(request, "Rule saved.")
                return redirect("exceptions:rules")
    template = "exceptions/_preview.html" if preview is not None and request.headers.get("HX-Request") else "exceptions/rule_form.html"
    return render(request, template, {"form": form, "rule": rule, "preview": preview})
