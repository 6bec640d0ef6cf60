"""Browser pages of catalog intelligence: impact, team scorecards, Backstage import and
export, and the panel fragment the catalog's detail pages load."""

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from controlplane.errors import DomainError

from . import backstage, estate_graph, impact, scorecards
from .api.intel_serializers import ImpactOptionsSerializer
from .filtersets import EstateMapFilterSet
from .models import BackstageImport, Domain, Integration, Team, UnresolvedReference, Workflow

READ = "catalog.view_integration"
IMPORT = "catalog.import_backstage"
PANEL_MODELS = {**impact.KINDS, "team": Team, "domain": Domain, "workflow": Workflow}


def _read(view):
    return permission_required(READ, raise_exception=True)(view)


def _import(view):
    return permission_required(IMPORT, raise_exception=True)(view)


@require_GET
@_read
def impact_page(request, kind, slug):
    if kind not in impact.KINDS:
        raise Http404("Impact is computed for systems, APIs, entities and integrations.")
    obj = impact.get_object(kind, slug)
    if obj is None:
        raise Http404(f"No {kind} {slug}.")
    options = ImpactOptionsSerializer(data=request.GET, context={"kind": kind})
    context = {
        "object": obj, "kind": kind, "kind_label": impact.KIND_LABELS[kind],
        "changes": impact.CHANGES[kind].items(), "failing_checks": scorecards.failing_checks_for(obj),
        "has_graph": kind in ("system", "integration"),
    }
    if not options.is_valid():
        context["errors"] = options.errors
        return render(request, "catalog/intel/impact.html", context, status=400)
    result = impact.answer(obj, **options.validated_data)
    if context["has_graph"]:  # the sentences shown without JavaScript
        context["graph_rows"] = estate_graph.neighbourhood(obj)["rows"]
    for name in ("direct", "downstream"):
        listing = result[name]
        for link, number in (("previous_url", listing["page"] - 1), ("next_url", listing["page"] + 1)):
            if 1 <= number <= listing["pages"]:
                query = request.GET.copy()
                query[f"{name}_page"] = number
                listing[link] = "?" + query.urlencode()
    context.update(result=result, depth_all=result["depth"] is None)
    return render(request, "catalog/intel/impact.html", context)


@require_GET
@_read
def estate_map_page(request):
    """Every system and integration on one layered map, filtered like the API."""
    try:
        filterset, graph = estate_graph.filtered_map(request.GET)
    except DomainError:
        filterset = EstateMapFilterSet(request.GET, queryset=Integration.objects.none())
        filterset.is_valid()
        return render(request, "catalog/intel/estate_map.html", {"filter": filterset, "invalid": True}, status=400)
    return render(request, "catalog/intel/estate_map.html", {
        "filter": filterset, "graph": graph, "query": request.GET.urlencode(),
    })


@require_GET
@_read
def scorecards_page(request):
    data = scorecards.summary(with_objects=True)
    names = {check["key"]: check for check in data["checks"]}
    for team in data["teams"]:
        team["failing_checks"] = [
            {**names[key], "count": count, "objects": team["objects"].get(key, []),
             "more": count - len(team["objects"].get(key, []))}
            for key, count in team["by_check"].items()
        ]
        team["failing_checks"].sort(key=lambda c: (-scorecards.SEVERITIES[c["severity"]], c["name"]))
    return render(request, "catalog/intel/scorecards.html", data)


@require_GET
@_read
def panel(request, kind, slug):
    """The intelligence panel of one catalog object (loaded by htmx from its detail page)."""
    model = PANEL_MODELS.get(kind)
    if model is None:
        raise Http404("Unknown kind.")
    obj = get_object_or_404(model, slug=slug)
    context = {"object": obj, "kind": kind, "impact_kind": kind if kind in impact.KINDS else None,
               "failing_checks": scorecards.failing_checks_for(obj)}
    if isinstance(obj, Team):
        row = next((t for t in scorecards.summary()["teams"] if t["slug"] == obj.slug), None)
        context["team_score"] = row
    return render(request, "catalog/intel/_panel_body.html", context)


@require_http_methods(["GET", "POST"])
@_import
def import_page(request):
    if request.method == "POST":
        uploads = request.FILES.getlist("files")
        if not uploads:
            messages.error(request, "Choose one or more Backstage YAML files.")
            return redirect("catalog_intel:backstage-import")
        files = [(u.name, u.size if u.size > backstage.max_bytes() else u.read()) for u in uploads]
        batch = backstage.plan_batch(actor=request.user, files=files)
        return redirect("catalog_intel:backstage-batch", pk=batch.pk)
    return render(request, "catalog/intel/import.html", {
        "batches": BackstageImport.objects.select_related("created_by", "applied_by")[:10],
        "unresolved": UnresolvedReference.objects.all()[:200],
        "unresolved_count": UnresolvedReference.objects.count(),
        "max_bytes": backstage.max_bytes(),
        "teams": Team.objects.exclude(slug=backstage.PLACEHOLDER_TEAM).values("slug", "name"),
    })


@require_GET
@_import
def batch_page(request, pk):
    batch = get_object_or_404(BackstageImport.objects.select_related("created_by", "applied_by"), pk=pk)
    return render(request, "catalog/intel/batch.html", {"batch": batch, "plan": batch.plan})


@require_POST
@_import
def apply_batch(request, pk):
    try:
        batch = backstage.apply_batch(actor=request.user, batch_id=pk)
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("catalog_intel:backstage-batch", pk=pk)
    summary = batch.plan.get("summary", {})
    messages.success(request, "Import applied: " + ", ".join(f"{n} {a}" for a, n in sorted(summary.items())))
    return redirect("catalog_intel:backstage-batch", pk=pk)


@require_GET
@_read
def export_download(request):
    owner = request.GET.get("owner") or None
    kind = request.GET.get("kind") or None
    response = HttpResponse(backstage.export_yaml(owner=owner, kind=kind), content_type="application/yaml; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="catalog-info.yaml"'
    return response
