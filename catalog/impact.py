"""Impact analysis along data flow: what a change to a system, API, canonical entity or
integration affects, hop by hop, with the entity that carries the impact on each path and
the affected integrations ranked by consequence.

Rules (docs/catalog-intel.md has the table):

- *direct* impact depends on the kind of change:
  - outage or retirement of a system: the integrations that read from it, deliver into it,
    run through it (middleware) or use an API it provides;
  - breaking schema change of an API: the integrations that use it;
  - breaking schema change of an entity: the integrations that carry it;
  - an integration down: nothing directly but itself (its workflows are affected).
- *downstream*: an affected integration that carries entity E into system T leaves E
  missing or stale in T, so the integrations that read E (or an entity declared as
  derived from E in T, one derivation per hop) from T are affected one hop further. An
  integration delivering invoices into NetSuite does not affect one reading tax codes from
  NetSuite, so hubs (middleware platforms, warehouses) do not connect everything. An
  integration that declares no entity has no known downstream (flagged on the result).
- outages and integrations down concern what runs (active, deprecated); retirements and
  breaking changes also concern planned integrations, which must be designed again.
- results are ranked by consequence: tier, finance-critical (uses a finance-sensitive
  API), workflows served, SLA (having one, then the availability promised), then hop.

The walk is over (integration, entity) pairs, so a cycle ends when every pair was seen,
and each integration is reported at the first hop that reaches it, with that path. The
data flow is read with one query (entity links joined to their integration), the direct
set with one or two, and the details of what is shown with a few more: the count does not
grow with the estate (``tests/catalog/intel/test_impact.py`` pins it).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from django.core.paginator import Paginator
from django.db.models import Exists, OuterRef, Q
from django.urls import NoReverseMatch, reverse

from .choices import Criticality, IntegrationLifecycle
from .models import Api, CanonicalEntity, EntityDerivation, Integration, System, Team

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
# kind -> {change: label}; the first is the default.
CHANGES = {
    "system": {"outage": "Outage", "retire": "Retirement"},
    "api": {"breaking": "Breaking schema change"},
    "entity": {"breaking": "Breaking schema change"},
    "integration": {"down": "Integration down"},
}
RUNNING = (IntegrationLifecycle.ACTIVE, IntegrationLifecycle.DEPRECATED)
NOT_RETIRED = (IntegrationLifecycle.PLANNED, *RUNNING)
MAX_DEPTH = 50  # the largest explicit depth accepted; "all" follows every hop
PAGE_SIZE = 25
# Above this many integrations to describe, read them all instead of a long IN list.
_IN_LIST_LIMIT = 2000


def default_change(kind: str) -> str:
    return next(iter(CHANGES[kind]))


_PLACEHOLDER = "slug-placeholder"


@lru_cache(maxsize=16)
def _url_pattern(kind: str) -> str:
    try:
        return reverse(f"catalog:{kind}-detail", kwargs={"slug": _PLACEHOLDER})
    except NoReverseMatch:
        if kind in KINDS:
            return reverse("catalog_intel:impact", kwargs={"kind": kind, "slug": _PLACEHOLDER})
        return ""


def object_url(kind: str, slug: str) -> str:
    """The catalog detail page of an object; the Impact page when the detail page is not
    installed. Reversed once per kind: graphs and impact lists name thousands of objects."""
    return _url_pattern(kind).replace(_PLACEHOLDER, slug)


def get_object(kind: str, slug: str):
    model = KINDS.get(kind)
    if model is None:
        return None
    return model.objects.filter(slug=slug).first()


def kind_of(obj) -> str:
    return next(k for k, model in KINDS.items() if isinstance(obj, model))


# --- the data flow ----------------------------------------------------------------------


class _Flow:
    """Who carries which entity from which system to which, for the integrations a change
    concerns. Read hop by hop (one query per hop for what reads the entities that hop
    delivered), or, for "all downstream", all at once in one query."""

    def __init__(self, lifecycles, *, everything: bool):
        self.lifecycles = lifecycles
        self.carried: dict[int, list[int]] = {}  # integration id -> entity ids
        self.target: dict[int, int] = {}  # integration id -> target system id
        self.readers: dict[tuple[int, int], list[int]] = {}  # (system id, entity id) -> integration ids
        self.everything = everything
        self.derived: dict[tuple[int, int | None], list[int]] = {}  # (entity, system | None) -> entities
        for source, derived, system in EntityDerivation.objects.values_list(
                "source_entity_id", "derived_entity_id", "system_id"):
            self.derived.setdefault((source, system), []).append(derived)
        if everything:
            self._read(self._links())

    def _links(self):
        return Integration.entities.through.objects.filter(integration__lifecycle__in=self.lifecycles).values_list(
            "integration_id", "canonicalentity_id", "integration__source_system_id", "integration__target_system_id")

    def _read(self, links, keys=None):
        for iid, entity_id, source_id, target_id in links.iterator(chunk_size=5000):
            self.target[iid] = target_id
            if keys is None or (source_id, entity_id) in keys:
                self.readers.setdefault((source_id, entity_id), []).append(iid)
            if keys is None:
                self.carried.setdefault(iid, []).append(entity_id)

    def know(self, ids):
        """Read the entities and targets of integrations ``ids`` (the direct set, the cause)."""
        ids = [iid for iid in ids if iid not in self.carried]
        if not ids:
            return
        for iid in ids:
            self.carried[iid] = []
        links = Integration.entities.through.objects.filter(integration_id__in=ids).values_list(
            "integration_id", "canonicalentity_id", "integration__target_system_id")
        for iid, entity_id, target_id in links:
            self.carried[iid].append(entity_id)
            self.target[iid] = target_id

    def _derived(self, entity_id, system_id):
        return (*self.derived.get((entity_id, system_id), ()), *self.derived.get((entity_id, None), ()))

    def prepare(self, frontier):
        """Read, in one query, what reads out of the systems ``frontier`` (integration,
        entity) pairs deliver into."""
        if self.everything:
            return
        keys = set()
        for iid, entity_id in frontier:
            system_id = self.target.get(iid)
            keys.add((system_id, entity_id))
            keys.update((system_id, d) for d in self._derived(entity_id, system_id))
        keys = {key for key in keys if key not in self.readers and key[0] is not None}
        if not keys:
            return
        for key in keys:
            self.readers[key] = []
        self._read(self._links().filter(integration__source_system_id__in={k[0] for k in keys},
                                        canonicalentity_id__in={k[1] for k in keys}), keys)

    def consumers(self, iid, entity_id):
        """(integration, entity read, derived from) for what reads ``entity_id`` (or an
        entity derived from it there) out of the system ``iid`` delivers into."""
        system_id = self.target.get(iid)
        for reader in self.readers.get((system_id, entity_id), ()):
            yield reader, entity_id, None
        for derived in self._derived(entity_id, system_id):
            for reader in self.readers.get((system_id, derived), ()):
                yield reader, derived, entity_id


@dataclass
class _Reach:
    hop: int
    step: tuple  # how this integration was reached (see _sentences)
    parent: _Reach | None
    entities: set


def _walk(flow: _Flow, seeds, cause_iid=None, max_hop=None) -> dict[int, _Reach]:
    """Breadth-first, hop by hop, over (integration, entity) pairs from ``seeds``
    ((integration id, step) at hop 1) or from the cause integration (hop 0), up to
    ``max_hop`` (None: until nothing new is reached)."""
    reached: dict[int, _Reach] = {}
    seen: set[tuple[int, int]] = set()
    frontier: list[tuple[int, int, _Reach]] = []
    if cause_iid is not None:
        flow.know([cause_iid])
        root = _Reach(0, ("cause", cause_iid), None, set(flow.carried[cause_iid]))
        frontier = [(cause_iid, entity_id, root) for entity_id in flow.carried[cause_iid]]
    flow.know([iid for iid, _, _ in seeds])
    for iid, step, entity_ids in seeds:
        if iid not in reached:
            entity_ids = flow.carried[iid] if entity_ids is None else entity_ids
            reach = reached[iid] = _Reach(1, step, None, set(entity_ids))
            for entity_id in entity_ids:
                seen.add((iid, entity_id))
                frontier.append((iid, entity_id, reach))
    hop = 0 if cause_iid is not None else 1
    while frontier and (max_hop is None or hop < max_hop):
        hop += 1
        flow.prepare([(iid, entity_id) for iid, entity_id, _ in frontier])
        following = []
        for iid, entity_id, via in frontier:
            for nxt, read, derived_from in flow.consumers(iid, entity_id):
                if (nxt, read) in seen or nxt == cause_iid:
                    continue
                seen.add((nxt, read))
                reach = reached.get(nxt)
                if reach is None:
                    reach = reached[nxt] = _Reach(hop, ("downstream", nxt, flow.target[iid], read, entity_id,
                                                        derived_from, iid), via, set())
                if reach.hop == hop:
                    reach.entities.add(read)
                following.append((nxt, read, reach))
        frontier = following
    return reached


def _direct_seeds(obj, kind, lifecycles):
    """(integration id, step, entity ids carrying the impact: None for all it carries)
    of what ``obj`` hits first."""
    if kind == "system":
        rows = (Integration.objects.filter(lifecycle__in=lifecycles)
                .filter(Q(source_system=obj) | Q(target_system=obj) | Q(middleware_system=obj))
                .values_list("id", "source_system_id", "target_system_id").order_by("id"))
        seeds = []
        for iid, source_id, target_id in rows:
            verb = "reads" if source_id == obj.pk else "delivers" if target_id == obj.pk else "through"
            seeds.append((iid, (verb, iid, obj.pk), None))
        via_api = Integration.apis.through.objects.filter(
            api__provider_system=obj, integration__lifecycle__in=lifecycles
        ).values_list("integration_id", "api_id").order_by("integration_id", "api_id")
        return seeds + [(iid, ("uses", iid, api_id), None) for iid, api_id in via_api]
    if kind == "api":
        users = Integration.apis.through.objects.filter(api=obj, integration__lifecycle__in=lifecycles).values_list(
            "integration_id", flat=True).order_by("integration_id")
        return [(iid, ("uses", iid, obj.pk), None) for iid in users]
    if kind == "entity":
        carriers = Integration.entities.through.objects.filter(
            canonicalentity=obj, integration__lifecycle__in=lifecycles).values_list(
            "integration_id", flat=True).order_by("integration_id")
        return [(iid, ("carries", iid, obj.pk), [obj.pk]) for iid in carriers]
    return []


# --- describing the result --------------------------------------------------------------


class _Names:
    """Names and URLs of what the steps mention, read once per kind."""

    def __init__(self, integrations, entities):
        self.systems: dict = {}
        self.apis: dict = {}
        self.entities = entities  # id -> (slug, name)
        self.integrations = integrations  # id -> detail row

    def read(self, system_ids, api_ids):
        self.systems = {pk: (slug, name) for pk, slug, name in
                        System.objects.filter(id__in=system_ids).values_list("id", "slug", "name")}
        self.apis = {pk: (slug, name) for pk, slug, name in
                     Api.objects.filter(id__in=api_ids).values_list("id", "slug", "name")} if api_ids else {}

    def ref(self, kind, pk):
        if kind == "integration":
            row = self.integrations[pk]
            slug, name = row["slug"], row["name"]
        else:
            slug, name = getattr(self, {"system": "systems", "api": "apis", "entity": "entities"}[kind])[pk]
        return {"kind": kind, "slug": slug, "name": name, "url": object_url(kind, slug)}

    def entity_names(self, ids):
        return sorted(self.entities[pk][1] for pk in ids)


def _sentences(step, names: _Names) -> list[dict]:
    """One hop as sentences a person reads left to right."""
    verb, iid = step[0], step[1]
    subject = names.ref("integration", iid)
    carried = names.entity_names(names.integrations[iid]["entities"])
    if verb == "downstream":  # the previous integration delivered, this one reads
        _, _, system_id, read, delivered, derived_from, previous = step
        system = names.ref("system", system_id)
        out = [{"subject": names.ref("integration", previous), "verb": "delivers", "entities": names.entity_names([delivered]),
                "preposition": "into", "object": system}]
        reads = {"subject": subject, "verb": "reads", "entities": names.entity_names([read]), "preposition": "from",
                 "object": system}
        if derived_from is not None:
            reads["derived_from"] = names.entities[derived_from][1]
        return [*out, reads]
    if verb == "cause":
        return []
    target = step[2]
    if verb == "uses":
        return [{"subject": subject, "verb": "uses", "entities": [], "preposition": "", "object": names.ref("api", target)}]
    if verb == "carries":
        return [{"subject": subject, "verb": "carries", "entities": [], "preposition": "",
                 "object": names.ref("entity", target)}]
    preposition = {"reads": "from", "delivers": "into", "through": "through"}[verb]
    verb_text = {"reads": "reads", "delivers": "delivers", "through": "runs"}[verb]
    return [{"subject": subject, "verb": verb_text, "entities": carried if verb != "through" else [],
             "preposition": preposition, "object": names.ref("system", target)}]


def sentence_text(s: dict) -> str:
    parts = [s["subject"]["name"], s["verb"]]
    if s["entities"]:
        parts.append(", ".join(s["entities"]))
    if s.get("derived_from"):
        parts.append(f"(derived from {s['derived_from']})")
    if s["preposition"]:
        parts.append(s["preposition"])
    parts.append(s["object"]["name"])
    return " ".join(parts)


def _path(reach: _Reach, names: _Names) -> list[dict]:
    chain = []
    while reach is not None:
        chain.append(reach.step)
        reach = reach.parent
    sentences = []
    for step in reversed(chain):
        sentences += _sentences(step, names)
    return sentences


def _details(ids):
    finance = Integration.apis.through.objects.filter(integration_id=OuterRef("pk"), api__finance_sensitive=True)
    rows = Integration.objects.annotate(finance=Exists(finance)).values(
        "id", "slug", "name", "criticality", "lifecycle", "owner_team_id", "target_system_id",
        "sla__availability_target", "sla__max_sync_lag_minutes", "finance",
    )
    links = Integration.workflows.through.objects.values_list(
        "integration_id", "workflow_id", "workflow__slug", "workflow__name", "workflow__owner_team_id"
    ).order_by("workflow__name")
    entity_links = Integration.entities.through.objects.values_list("integration_id", "canonicalentity_id")
    if len(ids) <= _IN_LIST_LIMIT:
        rows = rows.filter(id__in=ids)
        links = links.filter(integration_id__in=ids)
        entity_links = entity_links.filter(integration_id__in=ids)
    wanted = set(ids)
    out = {row["id"]: {**row, "workflows": [], "entities": []} for row in rows if row["id"] in wanted}
    for iid, *workflow in links:
        if iid in out:
            out[iid]["workflows"].append(tuple(workflow))
    for iid, entity_id in entity_links:
        if iid in out:
            out[iid]["entities"].append(entity_id)
    return out


def _consequence(row) -> tuple[tuple, str]:
    """(sort key, text) of how much it matters that this integration is affected."""
    tier = row["criticality"]
    availability = row["sla__availability_target"]
    has_sla = availability is not None or row["sla__max_sync_lag_minutes"] is not None
    words = [f"Tier {tier}"]
    if row["finance"]:
        words.append("finance-critical")
    n = len(row["workflows"])
    words.append(f"{n} workflow{'s' if n != 1 else ''}")
    if has_sla:
        promise = [f"{availability.normalize():f}% available" if availability is not None else "",
                   f"{row['sla__max_sync_lag_minutes']} min lag" if row["sla__max_sync_lag_minutes"] else ""]
        words.append("SLA " + ", ".join(p for p in promise if p))
    else:
        words.append("no SLA")
    key = (tier, not row["finance"], -n, not has_sla, -(availability or 0))
    return key, " · ".join(words)


def _item(iid, reach: _Reach, names: _Names):
    row = names.integrations[iid]
    key, consequence = _consequence(row)
    return {
        "slug": row["slug"], "name": row["name"], "url": object_url("integration", row["slug"]),
        "hop": reach.hop, "criticality": row["criticality"], "tier": Criticality(row["criticality"]).label,
        "lifecycle": row["lifecycle"], "finance_critical": row["finance"],
        "sla": None if key[3] else {
            "availability_target": str(row["sla__availability_target"]) if row["sla__availability_target"] is not None else None,
            "max_sync_lag_minutes": row["sla__max_sync_lag_minutes"],
        },
        "workflows": [name for _, _, name, _ in row["workflows"]],
        "consequence": consequence,
        "entities": names.entity_names(reach.entities),
        "downstream_unknown": not row["entities"],
        "_key": (*key, reach.hop, row["name"]), "_row": row, "_reach": reach,
    }


def _describe(items, names: _Names, obj, kind):
    """Give ``items`` their paths (two queries for the names along them, whatever their
    number): done for the page shown, not for every affected integration."""
    system_ids = {obj.pk} if kind == "system" else set()
    api_ids = {obj.pk} if kind == "api" else set()
    for item in items:
        reach = item["_reach"]
        while reach is not None:
            step = reach.step
            if step[0] in ("downstream", "reads", "delivers", "through"):
                system_ids.add(step[2])
            elif step[0] == "uses":
                api_ids.add(step[2])
            reach = reach.parent
    names.read(system_ids, api_ids)
    for item in items:
        item["path"] = _path(item.pop("_reach"), names)
        item["path_text"] = " → ".join(sentence_text(s) for s in item["path"])


def analyse(obj, *, change: str | None = None, depth: int | None = 1, describe: bool = True) -> dict:
    """The impact of ``change`` to ``obj`` (System, Api, CanonicalEntity or Integration).
    ``depth``: how many hops to list (1 = direct impact; for an integration down, its
    immediate consumers); ``None`` lists every hop downstream. The hop after ``depth`` is
    counted (``beyond_depth``), not listed. ``describe=False`` leaves the paths to
    ``result["describe"](items)`` (see ``answer``)."""
    kind = kind_of(obj)
    change = change or default_change(kind)
    if change not in CHANGES[kind]:
        raise ValueError(f"{change!r} is not a change of a {kind}")
    lifecycles = RUNNING if change in ("outage", "down") else NOT_RETIRED
    flow = _Flow(lifecycles, everything=depth is None)
    cause_iid = obj.pk if kind == "integration" else None
    reached = _walk(flow, _direct_seeds(obj, kind, lifecycles), cause_iid,
                    max_hop=None if depth is None else depth + 1)
    shown = [iid for iid, reach in reached.items() if depth is None or reach.hop <= depth]
    beyond = len(reached) - len(shown)
    details = _details([*shown, *([cause_iid] if cause_iid else [])])
    names = _Names(details, {pk: (slug, name) for pk, slug, name in
                             CanonicalEntity.objects.values_list("id", "slug", "name")})
    apis = []
    if kind == "system":
        apis = list(Api.objects.filter(provider_system=obj).values("id", "slug", "name", "lifecycle", "owner_team_id"))
    cause = {"kind": kind, "label": KIND_LABELS[kind], "slug": obj.slug, "name": obj.name,
             "url": object_url(kind, obj.slug)}

    items = sorted((_item(iid, reached[iid], names) for iid in shown), key=lambda i: i["_key"])
    direct = [i for i in items if i["hop"] == 1 and kind != "integration"]
    downstream = [i for i in items if i["hop"] > 1 or kind == "integration"]

    # Workflows served by what is affected (the cause integration's own first), each with
    # the most consequential integration that reaches it.
    workflows: dict[str, dict] = {}
    sources = ([(details[cause_iid], cause["url"])] if cause_iid else []) + [(i["_row"], i["url"]) for i in items]
    for row, url in sources:
        for _wid, slug, wname, owner_id in row["workflows"]:
            if slug not in workflows:
                workflows[slug] = {"slug": slug, "name": wname, "url": object_url("workflow", slug),
                                   "via": row["name"], "via_url": url, "_owner": owner_id}

    # Teams to notify, each with the first reason (owner of the cause first).
    reasons: dict[int, str] = {}

    def notify(team_id, reason):
        if team_id and team_id not in reasons:
            reasons[team_id] = reason

    notify(getattr(obj, "owner_team_id", None), f"owns {KIND_LABELS[kind]} {obj.name}")
    for api in apis:
        notify(api["owner_team_id"], f"owns API {api['name']}")
    for item in items:
        notify(item["_row"]["owner_team_id"], f"owns Integration {item['name']} (hop {item['hop']})")
    for wf in workflows.values():
        notify(wf["_owner"], f"owns Workflow {wf['name']}")
    teams = sorted(({"slug": slug, "name": name, "email": email, "chat_channel": chat, "reason": reasons[pk],
                     "url": object_url("team", slug)}
                    for pk, slug, name, email, chat in Team.objects.filter(id__in=list(reasons)).values_list(
                        "id", "slug", "name", "email", "chat_channel")), key=lambda t: t["name"])
    for item in items:
        del item["_key"], item["_row"]
    for wf in workflows.values():
        del wf["_owner"]
    result = {
        "cause": cause,
        "change": change,
        "change_label": f"{CHANGES[kind][change]} of {KIND_LABELS[kind]} {obj.name}",
        "depth": depth,
        "max_hop": max((r.hop for r in reached.values()), default=0),
        "direct": direct,
        "downstream": downstream,
        "apis": [{"slug": a["slug"], "name": a["name"], "lifecycle": a["lifecycle"], "url": object_url("api", a["slug"])}
                 for a in apis],
        "workflows": sorted(workflows.values(), key=lambda w: w["name"]),
        "teams": teams,
        "counts": {"direct": len(direct), "downstream": len(downstream), "beyond_depth": beyond,
                   "integrations": len(items), "workflows": len(workflows), "teams": len(teams), "apis": len(apis)},
    }
    if describe:
        _describe(items, names, obj, kind)
    else:
        result["describe"] = lambda chosen: _describe(chosen, names, obj, kind)
    return result


def page(items: list, number, size: int = PAGE_SIZE) -> dict:
    """One page of a ranked list, for the page and the API alike."""
    paginator = Paginator(items, size)
    current = paginator.get_page(number)
    return {"count": paginator.count, "page": current.number, "pages": paginator.num_pages,
            "results": list(current.object_list)}


def answer(obj, *, change=None, depth=1, direct_page=1, downstream_page=1, page_size=PAGE_SIZE) -> dict:
    """The analysis with its two ranked lists paged: what the API returns and the page shows."""
    result = analyse(obj, change=change, depth=depth, describe=False)
    result["direct"] = page(result["direct"], direct_page, page_size)
    result["downstream"] = page(result["downstream"], downstream_page, page_size)
    result.pop("describe")([*result["direct"]["results"], *result["downstream"]["results"]])
    return result
