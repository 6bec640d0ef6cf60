"""Graphs of the estate for Cytoscape: the neighbourhood of a system or integration and the
estate map. Both are drawn the same way (``static/js/catalog-intel-graph.js``, dagre,
left to right): a system feeds the integrations that read from it, an integration feeds
the system it delivers into; each arrow carries the entities on hover.

Middleware is shown on the integration ("via MuleSoft"), not as arrows: an integration
platform through which everything runs would otherwise tie every flow to one node. The
middleware itself gets "runs through" arrows only on its own neighbourhood graph.

Every graph comes with ``rows``: one sentence per integration ("Approved time → NetSuite
delivers Time entry into NetSuite ERP"), the list shown without JavaScript."""

from django.db.models import Q

from controlplane.errors import ValidationFailed

from .choices import IntegrationLifecycle, SystemCategory
from .filtersets import EstateMapFilterSet
from .impact import object_url
from .models import Integration, System

HUB_CATEGORIES = {SystemCategory.MIDDLEWARE, SystemCategory.DATA_STORE, SystemCategory.BI}
ESTATE_MAP_LIMIT = 300


class _Builder:
    def __init__(self):
        self.nodes: dict[str, dict] = {}
        self.edges: dict[str, dict] = {}
        self.rows: list[dict] = []

    def node(self, kind, pk, slug, name, **data):
        node_id = f"{kind}-{pk}"
        if node_id not in self.nodes:
            self.nodes[node_id] = {"data": {"id": node_id, "label": name, "kind": kind, "slug": slug,
                                            "url": object_url(kind, slug), "focus": False, **data}}
        return node_id

    def system(self, system: System, focus=False):
        node_id = self.node("system", system.pk, system.slug, system.name, category=system.category,
                            category_label=system.get_category_display(), hub=system.category in HUB_CATEGORIES,
                            lifecycle=system.lifecycle)
        if focus:
            self.nodes[node_id]["data"]["focus"] = True
        return node_id

    def edge(self, source, target, kind, label, title=""):
        edge_id = f"{source}>{target}:{kind}"
        if edge_id not in self.edges:
            self.edges[edge_id] = {"data": {"id": edge_id, "source": source, "target": target, "kind": kind,
                                            "label": label, "title": title or label}}

    def integration(self, integration: Integration, focus=False):
        entities = ", ".join(e.name for e in integration.entities.all()) or "no entity declared"
        via = integration.middleware_system.name if integration.middleware_system_id else ""
        nid = self.node("integration", integration.pk, integration.slug, integration.name,
                        tier=integration.criticality, lifecycle=integration.lifecycle, via=via, entities=entities)
        if focus:
            self.nodes[nid]["data"]["focus"] = True
        src, tgt = integration.source_system, integration.target_system
        self.edge(self.system(src), nid, "reads", entities, f"{integration.name} reads {entities} from {src.name}")
        self.edge(nid, self.system(tgt), "delivers", entities,
                  f"{integration.name} delivers {entities} into {tgt.name}")
        self.rows.append({
            "integration": {"name": integration.name, "url": object_url("integration", integration.slug)},
            "entities": entities, "source": {"name": src.name, "url": object_url("system", src.slug)},
            "target": {"name": tgt.name, "url": object_url("system", tgt.slug)}, "via": via,
        })
        return nid

    def elements(self, **extra):
        self.rows.sort(key=lambda r: r["integration"]["name"])
        return {"nodes": list(self.nodes.values()), "edges": list(self.edges.values()), "rows": self.rows, **extra}


def _integrations(queryset):
    return (queryset.select_related("source_system", "target_system", "middleware_system")
            .prefetch_related("entities").order_by("criticality", "name"))


def neighbourhood(obj) -> dict:
    """The systems and integrations around a system (what reads from it, delivers into it,
    runs through it) or around an integration (its systems, APIs, entities, workflows and
    owner). A handful of queries whatever the size of the estate."""
    graph = _Builder()
    live = Integration.objects.exclude(lifecycle=IntegrationLifecycle.RETIRED)
    if isinstance(obj, System):
        focus = graph.system(obj, focus=True)
        touching = live.filter(Q(source_system=obj) | Q(target_system=obj) | Q(middleware_system=obj))
        for integration in _integrations(touching):
            nid = graph.integration(integration)
            if integration.middleware_system_id == obj.pk:
                graph.edge(focus, nid, "through", "runs through", f"{integration.name} runs through {obj.name}")
    elif isinstance(obj, Integration):
        integration = _integrations(Integration.objects.filter(pk=obj.pk)).prefetch_related(
            "apis", "workflows").select_related("owner_team").get()
        nid = graph.integration(integration, focus=True)
        if integration.middleware_system_id:
            mid = integration.middleware_system
            graph.edge(nid, graph.system(mid), "through", "runs through",
                       f"{integration.name} runs through {mid.name}")
        for api in integration.apis.all():
            graph.edge(nid, graph.node("api", api.pk, api.slug, api.name, lifecycle=api.lifecycle), "uses", "uses",
                       f"{integration.name} uses {api.name}")
        for workflow in integration.workflows.all():
            graph.edge(nid, graph.node("workflow", workflow.pk, workflow.slug, workflow.name), "serves", "serves",
                       f"{integration.name} serves {workflow.name}")
        team = integration.owner_team
        graph.edge(graph.node("team", team.pk, team.slug, team.name), nid, "owns", "owns",
                   f"{team.name} owns {integration.name}")
    else:
        raise ValueError("neighbourhood is drawn for systems and integrations")
    return graph.elements()


def estate_map(queryset, *, filtered: bool) -> dict:
    """Every system and integration of ``queryset`` (filtered by EstateMapFilterSet); at
    most ESTATE_MAP_LIMIT integrations, the most critical first. Unfiltered (and whole),
    systems that no integration touches are shown too."""
    graph = _Builder()
    live = queryset.exclude(lifecycle=IntegrationLifecycle.RETIRED)
    total = live.count()
    for integration in _integrations(live)[:ESTATE_MAP_LIMIT]:
        graph.integration(integration)
    if not filtered and total <= ESTATE_MAP_LIMIT:
        for system in System.objects.exclude(lifecycle="retired"):
            graph.system(system)
    return graph.elements(total=total, shown=min(total, ESTATE_MAP_LIMIT), truncated=total > ESTATE_MAP_LIMIT)


def filtered_map(params):
    """(filterset, elements) of the estate map for query ``params``; a bad filter value is
    a 400 naming the field."""
    filterset = EstateMapFilterSet(params, queryset=Integration.objects.all())
    if not filterset.is_valid():
        raise ValidationFailed("invalid estate map filter", fields=filterset.errors)
    filtered = any(filterset.form.cleaned_data.get(name) for name in filterset.filters)
    return filterset, estate_map(filterset.qs, filtered=filtered)
