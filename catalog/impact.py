"""Impact analysis: what is affected when a system, API, canonical entity or integration
goes down or changes, with the path that links each affected object to the cause.

The dependency graph is small (hundreds to a few thousand integrations) and every edge
type lives in its own table, so it is loaded with a fixed handful of ``values()`` queries
(integrations, their API / entity / workflow links, then the names of what was reached)
and walked in memory. The number of queries does not depend on the size of the estate or
the number of edges; ``tests/catalog/intel/test_impact.py`` pins it.

Propagation rules:
- a system affects the integrations that read from it, write to it or pass through it
  (source / target / middleware) and those that use an API it provides;
- an API affects the integrations that use it;
- a canonical entity affects the integrations that carry it;
- an integration affects itself (its workflows and owners);
- downstream: an affected integration delivers stale or missing data into its target
  system, so integrations that read from that target are affected in turn (depth 2, 3...).
  For an entity, only downstream integrations that carry the same entity are followed.
- every affected integration's workflows are affected; the teams to notify own the
  affected integrations, workflows and APIs (and the cause itself).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from django.urls import NoReverseMatch, reverse

from .choices import IntegrationLifecycle
from .models import Api, CanonicalEntity, Integration, System, Team

KINDS = {
    "system": System,
    "api": Api,
    "entity": CanonicalEntity,
    "integration": Integration,
}
KIND_LABELS = {
    "system": "System",
    "api": "API",
    "entity": "Entity",
    "integration": "Integration",
    "workflow": "Workflow",
    "team": "Team",
}
URL_NAMES = {
    "system": "system",
    "api": "api",
    "entity": "entity",
    "integration": "integration",
    "workflow": "workflow",
    "team": "team",
}
MAX_DEPTH = 6


def object_url(kind: str, slug: str) -> str:
    """The catalog detail page of an object; the Impact page when the detail page is not
    installed (the catalog pages ship on another branch)."""
    try:
        return reverse(f"catalog:{URL_NAMES[kind]}-detail", kwargs={"slug": slug})
    except NoReverseMatch:
        if kind in KINDS:
            return reverse("catalog_intel:impact", kwargs={"kind": kind, "slug": slug})
        return ""


def _node(kind, slug, name, relation=None):
    step = {"kind": kind, "label": KIND_LABELS[kind], "slug": slug, "name": name}
    if relation:
        step["relation"] = relation
    return step


def path_text(path) -> str:
    parts = []
    for step in path:
        text = f"{step['label']} {step['name']}"
        parts.append(f"{step['relation']} {text}" if step.get("relation") else text)
    return " → ".join(parts)


@dataclass
class _Graph:
    integrations: dict  # id -> row
    int_apis: dict  # integration id -> [api ids]
    api_ints: dict  # api id -> [integration ids]
    by_source: dict  # system id -> [integration ids]


def _load_graph(need_apis: bool) -> _Graph:
    rows = Integration.objects.exclude(lifecycle=IntegrationLifecycle.RETIRED).values(
        "id", "slug", "name", "source_system_id", "target_system_id", "middleware_system_id", "owner_team_id",
        "criticality", "lifecycle",
    )
    integrations = {row["id"]: row for row in rows}
    by_source: dict[int, list[int]] = {}
    for row in integrations.values():
        by_source.setdefault(row["source_system_id"], []).append(row["id"])
    int_apis: dict[int, list[int]] = {}
    api_ints: dict[int, list[int]] = {}
    if need_apis:
        for link in Integration.apis.through.objects.values("integration_id", "api_id"):
            if link["integration_id"] in integrations:
                int_apis.setdefault(link["integration_id"], []).append(link["api_id"])
                api_ints.setdefault(link["api_id"], []).append(link["integration_id"])
    return _Graph(integrations, int_apis, api_ints, by_source)


def get_object(kind: str, slug: str):
    model = KINDS.get(kind)
    if model is None:
        return None
    return model.objects.filter(slug=slug).first()


def analyse(obj) -> dict:
    """The impact of ``obj`` (System, Api, CanonicalEntity or Integration) going down or
    changing: affected integrations, workflows and teams to notify, each with its path."""
    kind = next(k for k, model in KINDS.items() if isinstance(obj, model))
    cause = _node(kind, obj.slug, obj.name)
    graph = _load_graph(need_apis=kind in ("system", "api"))
    system_names: dict[int, tuple[str, str]] = {}

    # integration id -> (path, depth); first reach wins (BFS gives the shortest path).
    reached: dict[int, tuple[list, int]] = {}
    queue: deque[int] = deque()
    apis_affected: list[dict] = []
    entity_filter: set[int] | None = None

    def reach(integration_id, path, depth):
        if integration_id in reached:
            return
        reached[integration_id] = (path, depth)
        queue.append(integration_id)

    def int_node(iid, relation):
        row = graph.integrations[iid]
        return _node("integration", row["slug"], row["name"], relation)

    if kind == "system":
        apis = list(Api.objects.filter(provider_system=obj).values("id", "slug", "name", "owner_team_id", "lifecycle"))
        for iid, row in graph.integrations.items():
            for field, relation in (
                ("source_system_id", "read by"),
                ("target_system_id", "written to by"),
                ("middleware_system_id", "carries"),
            ):
                if row[field] == obj.pk:
                    reach(iid, [cause, int_node(iid, relation)], 1)
                    break
        for api in apis:
            api_step = _node("api", api["slug"], api["name"], "provides")
            apis_affected.append({**api_step, "lifecycle": api["lifecycle"], "path": [cause, api_step],
                                  "owner_team_id": api["owner_team_id"]})
            for iid in graph.api_ints.get(api["id"], []):
                reach(iid, [cause, api_step, int_node(iid, "used by")], 1)
    elif kind == "api":
        for iid in graph.api_ints.get(obj.pk, []):
            reach(iid, [cause, int_node(iid, "used by")], 1)
    elif kind == "entity":
        carriers = set(
            Integration.entities.through.objects.filter(canonicalentity_id=obj.pk).values_list("integration_id", flat=True)
        )
        entity_filter = carriers
        for iid in sorted(carriers):
            if iid in graph.integrations:
                reach(iid, [cause, int_node(iid, "carried by")], 1)
    elif kind == "integration":
        if obj.pk in graph.integrations:
            reach(obj.pk, [cause], 0)

    # Downstream: data that does not arrive in a target system is missing for whatever
    # reads from that system next.
    while queue:
        iid = queue.popleft()
        path, depth = reached[iid]
        if depth >= MAX_DEPTH:
            continue
        target = graph.integrations[iid]["target_system_id"]
        for nxt in graph.by_source.get(target, []):
            if entity_filter is not None and nxt not in entity_filter:
                continue
            system_names.setdefault(target, None)
            reach(nxt, path + [{"kind": "system", "system_id": target, "relation": "delivers into"},
                               int_node(nxt, "read by")], depth + 1)

    # Workflows served by the affected integrations (one query).
    workflow_rows = list(
        Integration.workflows.through.objects.filter(integration_id__in=list(reached)).values(
            "integration_id", "workflow_id", "workflow__slug", "workflow__name", "workflow__owner_team_id"
        ).order_by("workflow__name", "integration_id")
    )
    # Names of systems appearing in paths (one query).
    if system_names:
        for row in System.objects.filter(id__in=list(system_names)).values("id", "slug", "name"):
            system_names[row["id"]] = (row["slug"], row["name"])

    def finish(path):
        out = []
        for step in path:
            if "system_id" in step:
                slug, name = system_names[step["system_id"]]
                step = _node("system", slug, name, step["relation"])
            out.append(step)
        return out

    integrations = []
    for iid, (path, depth) in reached.items():
        row = graph.integrations[iid]
        full = finish(path)
        integrations.append({
            "slug": row["slug"], "name": row["name"], "depth": depth, "criticality": row["criticality"],
            "lifecycle": row["lifecycle"], "owner_team_id": row["owner_team_id"], "path": full,
            "path_text": path_text(full), "url": object_url("integration", row["slug"]),
        })
    integrations.sort(key=lambda i: (i["depth"], i["criticality"], i["name"]))
    int_by_slug = {i["slug"]: i for i in integrations}

    workflows: dict[str, dict] = {}
    for link in workflow_rows:
        slug = link["workflow__slug"]
        if slug in workflows:
            continue
        via = int_by_slug[graph.integrations[link["integration_id"]]["slug"]]
        full = via["path"] + [_node("workflow", slug, link["workflow__name"], "serves")]
        workflows[slug] = {
            "slug": slug, "name": link["workflow__name"], "owner_team_id": link["workflow__owner_team_id"],
            "path": full, "path_text": path_text(full), "url": object_url("workflow", slug),
        }

    # Teams to notify, each with the first reason found (owner of the cause first).
    team_reasons: dict[int, tuple[list, str]] = {}

    def notify(team_id, path, reason):
        if team_id and team_id not in team_reasons:
            team_reasons[team_id] = (path, reason)

    notify(getattr(obj, "owner_team_id", None), [cause], f"owns {cause['label']} {cause['name']}")
    for api in apis_affected:
        notify(api["owner_team_id"], api["path"], f"owns API {api['name']}")
    for item in integrations:
        notify(item["owner_team_id"], item["path"], f"owns Integration {item['name']}")
    for item in workflows.values():
        notify(item["owner_team_id"], item["path"], f"owns Workflow {item['name']}")
    teams = []
    if team_reasons:
        for row in Team.objects.filter(id__in=list(team_reasons)).values("id", "slug", "name", "email", "chat_channel"):
            path, reason = team_reasons[row["id"]]
            full = path + [_node("team", row["slug"], row["name"], "owned by")]
            teams.append({
                "slug": row["slug"], "name": row["name"], "email": row["email"], "chat_channel": row["chat_channel"],
                "reason": reason, "path": full, "path_text": path_text(full), "url": object_url("team", row["slug"]),
            })
    teams.sort(key=lambda t: t["name"])

    for collection in (integrations, workflows.values(), apis_affected):
        for item in collection:
            item.pop("owner_team_id", None)
    for api in apis_affected:
        api["path_text"] = path_text(api["path"])
        api["url"] = object_url("api", api["slug"])
    return {
        "cause": {**cause, "url": object_url(kind, obj.slug)},
        "apis": apis_affected,
        "integrations": integrations,
        "workflows": sorted(workflows.values(), key=lambda w: w["name"]),
        "teams": teams,
        "counts": {
            "apis": len(apis_affected), "integrations": len(integrations), "workflows": len(workflows),
            "teams": len(teams),
        },
    }


def neighbourhood(obj) -> dict:
    """Nodes and edges around a system or integration, in Cytoscape's ``elements`` shape
    (``{"nodes": [{"data": {...}}], "edges": [...]}``). A handful of queries."""
    nodes: dict[str, dict] = {}
    edges: list[dict] = []

    def add_node(kind, pk, slug, name, focus=False, lifecycle=""):
        node_id = f"{kind}-{pk}"
        if node_id not in nodes:
            nodes[node_id] = {"data": {
                "id": node_id, "label": name, "kind": kind, "slug": slug, "url": object_url(kind, slug),
                "focus": focus, "lifecycle": lifecycle,
            }}
        return node_id

    def add_edge(source, target, label):
        edge_id = f"{source}>{target}:{label}"
        if not any(e["data"]["id"] == edge_id for e in edges):
            edges.append({"data": {"id": edge_id, "source": source, "target": target, "label": label}})

    related = ("source_system", "target_system", "middleware_system", "owner_team")

    def add_integration(integration, focus=False):
        nid = add_node("integration", integration.pk, integration.slug, integration.name, focus,
                       integration.lifecycle)
        src = integration.source_system
        tgt = integration.target_system
        add_edge(add_node("system", src.pk, src.slug, src.name), nid, "reads from")
        add_edge(nid, add_node("system", tgt.pk, tgt.slug, tgt.name), "writes to")
        if integration.middleware_system_id:
            mid = integration.middleware_system
            add_edge(nid, add_node("system", mid.pk, mid.slug, mid.name), "through")
        for api in integration.apis.all():
            add_edge(nid, add_node("api", api.pk, api.slug, api.name, lifecycle=api.lifecycle), "uses")
        return nid

    prefetch = ("apis", "entities", "workflows")
    if isinstance(obj, System):
        focus = add_node("system", obj.pk, obj.slug, obj.name, True)
        for api in obj.apis.all():
            add_edge(focus, add_node("api", api.pk, api.slug, api.name, lifecycle=api.lifecycle), "provides")
        from django.db.models import Q

        touching = (
            Integration.objects.filter(
                Q(source_system=obj) | Q(target_system=obj) | Q(middleware_system=obj) | Q(apis__provider_system=obj)
            )
            .distinct()
            .select_related(*related)
            .prefetch_related("apis")
        )
        for integration in touching:
            add_integration(integration)
    elif isinstance(obj, Integration):
        obj = Integration.objects.select_related(*related).prefetch_related(*prefetch).get(pk=obj.pk)
        nid = add_integration(obj, focus=True)
        for entity in obj.entities.all():
            add_edge(nid, add_node("entity", entity.pk, entity.slug, entity.name), "carries")
        for workflow in obj.workflows.all():
            add_edge(nid, add_node("workflow", workflow.pk, workflow.slug, workflow.name), "serves")
        team = obj.owner_team
        add_edge(add_node("team", team.pk, team.slug, team.name), nid, "owns")
    else:
        raise ValueError("neighbourhood is drawn for systems and integrations")
    return {"nodes": list(nodes.values()), "edges": edges}
