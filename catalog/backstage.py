"""Backstage ``catalog-info.yaml`` import and export.

Mapping (documented for users in docs/catalog-intel.md):

=================================  ==========================================================
Backstage                          control plane
=================================  ==========================================================
Group                              Team (``spec.parent`` -> parent, ``profile.email`` -> email)
User                               TeamMember, one per team in ``spec.memberOf``
Domain                             Domain (``spec.owner`` -> owner team)
System                             System (``spec.owner``, ``spec.domain``)
Resource                           System, category "data store"
Component, type ``integration``    Integration (source / target / middleware systems, entities,
or with source/target annotations  workflows, pattern and criticality in ``controlplane.io/*``
                                   annotations; ``consumesApis`` -> APIs used)
other Component                    System (``providesApis`` -> provider of those APIs)
API                                Api (``definition`` kept, ``spec.type`` -> definition format)
Location, Template                 skipped (they describe files and scaffolding, not the estate)
=================================  ==========================================================

What has no column (tags, labels, annotations, links, namespace, spec.type, the raw
lifecycle, ``system``, ``dependsOn``...) is kept in ``metadata["backstage"]`` and the
entity reference in ``external_ref`` so that an export gives back what was imported.

A reference to an entity that is neither in the import nor in the catalog is stored as
an :class:`~catalog.models.UnresolvedReference` and applied when a later import brings
the target. Required owners that cannot be resolved point at a placeholder team
("backstage-unowned") until then; APIs whose provider is unknown at a placeholder system.

The dry run runs the very same code as the apply, inside a transaction that is rolled
back at the end (the approach django-import-export takes), so the plan shown is exactly
what Apply will do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import yaml
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from controlplane import audit
from controlplane.errors import Conflict, DomainError, InvalidTransition, ValidationFailed

from . import services
from .choices import (
    ApiLifecycle,
    ApiStyle,
    Criticality,
    DefinitionFormat,
    IntegrationLifecycle,
    IntegrationPattern,
    SystemCategory,
    SystemLifecycle,
)
from .models import (
    Api,
    BackstageImport,
    BackstageImportStatus,
    CanonicalEntity,
    Domain,
    Integration,
    System,
    Team,
    TeamMember,
    UnresolvedReference,
    Workflow,
)

DEFAULT_NAMESPACE = "default"
NAME_RE = re.compile(r"^([A-Za-z0-9]+[-_.])*[A-Za-z0-9]+$")
NAMESPACE_RE = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
MAX_NAME = 63
ANNOTATION = "controlplane.io/"
PLACEHOLDER_TEAM = "backstage-unowned"
PLACEHOLDER_SYSTEM = "backstage-unknown-provider"
NO_DEFINITION = "# No definition is recorded in the integration control plane.\n"

MAPPED_KINDS = ("Group", "User", "Domain", "System", "Resource", "Component", "API")
SKIPPED_KINDS = ("Location", "Template")
REQUIRED_SPEC = {
    "Group": ("type", "children"),
    "User": ("memberOf",),
    "Domain": ("owner",),
    "System": ("owner",),
    "Resource": ("type", "owner"),
    "Component": ("type", "lifecycle", "owner"),
    "API": ("type", "lifecycle", "owner", "definition"),
}
DEFAULT_REF_KIND = {
    "owner": "group", "parent": "group", "children": "group", "memberOf": "group", "domain": "domain",
    "system": "system", "providesApis": "api", "consumesApis": "api", "dependsOn": "component",
    "source": "component", "target": "component", "middleware": "component",
}

SYSTEM_LIFECYCLE_IN = {"experimental": "planned", "production": "active", "deprecated": "retiring"}
SYSTEM_LIFECYCLE_OUT = {"planned": "experimental", "active": "production", "retiring": "deprecated"}
API_LIFECYCLE_IN = {"experimental": "draft", "production": "published"}
API_LIFECYCLE_OUT = {"draft": "experimental", "published": "production"}
INTEGRATION_LIFECYCLE_IN = {"experimental": "planned", "production": "active"}
INTEGRATION_LIFECYCLE_OUT = {"planned": "experimental", "active": "production"}
API_TYPE_FORMAT = {"openapi": "openapi", "asyncapi": "asyncapi", "graphql": "graphql", "wsdl": "wsdl"}
API_TYPE_STYLE = {"openapi": "rest", "asyncapi": "event", "graphql": "graphql", "wsdl": "soap", "grpc": "rest"}
STYLE_TYPE = {"rest": "openapi", "event": "asyncapi", "graphql": "graphql", "soap": "wsdl", "batch_file": "file"}


# --- reading YAML safely ------------------------------------------------------------------


def max_bytes() -> int:
    return getattr(settings, "BACKSTAGE_IMPORT_MAX_BYTES", 1024 * 1024)


def max_aliases() -> int:
    return getattr(settings, "BACKSTAGE_IMPORT_MAX_ALIASES", 50)


MAX_EXPANDED_NODES = 100_000


class YamlBomb(yaml.YAMLError):
    def __init__(self, message, document):
        super().__init__(message)
        self.message = message
        self.document = document


# libyaml when installed (about ten times faster); the pure-Python loader otherwise.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


MAX_DEPTH = 64


def _refuse_bombs(text: str):
    """Walk the parse events (nothing is constructed) and refuse a document with more
    aliases than the limit or whose aliases would expand it beyond MAX_EXPANDED_NODES
    (billion laughs). Anchored sizes are tracked so nested aliases multiply as they would
    when loaded. Raises YamlBomb, or YAMLError for invalid YAML."""
    document, aliases, sizes, stack = 0, 0, {}, [[0, None]]
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, yaml.DocumentStartEvent):
            document, aliases, sizes, stack = document + 1, 0, {}, [[0, None]]
        elif isinstance(event, yaml.SequenceStartEvent | yaml.MappingStartEvent):
            stack.append([1, event.anchor])
            # Descriptors are a few levels deep; thousands of levels only cost time here and
            # recursion when the document is constructed.
            if len(stack) > MAX_DEPTH:
                raise YamlBomb(f"the document nests deeper than {MAX_DEPTH} levels; refused", document)
        elif isinstance(event, yaml.SequenceEndEvent | yaml.MappingEndEvent):
            size, anchor = stack.pop()
            if anchor:
                sizes[anchor] = size
            stack[-1][0] += size
        elif isinstance(event, yaml.ScalarEvent):
            if event.anchor:
                sizes[event.anchor] = 1
            stack[-1][0] += 1
        elif isinstance(event, yaml.AliasEvent):
            aliases += 1
            if aliases > max_aliases():
                raise YamlBomb(
                    f"more than {max_aliases()} YAML aliases in one document; refused (possible YAML bomb)", document)
            stack[-1][0] += sizes.get(event.anchor, 1)
        if stack[-1][0] > MAX_EXPANDED_NODES:
            raise YamlBomb(
                f"the document's aliases expand it beyond {MAX_EXPANDED_NODES} nodes; refused (YAML bomb)", document)


@dataclass
class Document:
    file: str
    index: int
    data: object = None
    error: str = ""


def load_documents(files) -> list[Document]:
    """``files``: iterable of (name, text or bytes; or the size in bytes of an upload that
    was too big to read). Every problem becomes a Document with an ``error``; nothing
    raises, so one bad file never stops the others."""
    documents: list[Document] = []
    for name, content in files:
        if isinstance(content, int):
            size = content
        else:
            size = len(content.encode() if isinstance(content, str) else content)
        if size > max_bytes():
            documents.append(Document(name, 0, error=f"file is {size} bytes, over the {max_bytes()}-byte limit"))
            continue
        if isinstance(content, bytes):
            try:
                content = content.decode("utf-8")
            except UnicodeDecodeError:
                documents.append(Document(name, 0, error="file is not UTF-8 text"))
                continue
        try:
            _refuse_bombs(content)
        except YamlBomb as exc:
            documents.append(Document(name, exc.document, error=exc.message))
            continue
        except yaml.YAMLError:
            pass  # reported below, after the documents before the error are read
        index = 0
        try:
            for data in yaml.load_all(content, Loader=_Loader):
                index += 1
                if data is None:
                    continue
                if not isinstance(data, dict):
                    documents.append(Document(name, index, error=(
                        f"document is a {type(data).__name__}, not a mapping with apiVersion, kind, metadata, spec")))
                    continue
                documents.append(Document(name, index, data))
        except yaml.YAMLError as exc:
            documents.append(Document(name, index + 1, error=f"invalid YAML: {exc}".replace("\n", " ")))
    return documents


# --- entity validation and references -----------------------------------------------------


@dataclass
class Entity:
    file: str
    index: int
    kind: str
    namespace: str
    name: str
    data: dict
    is_integration: bool = False

    @property
    def ref(self) -> str:
        return make_ref(self.kind, self.namespace, self.name)

    @property
    def spec(self) -> dict:
        return self.data.get("spec") or {}

    @property
    def meta(self) -> dict:
        return self.data.get("metadata") or {}


def make_ref(kind: str, namespace: str, name: str) -> str:
    return f"{kind.lower()}:{namespace.lower()}/{name.lower()}"


def parse_ref(value, default_kind: str) -> str | None:
    """``[kind:][namespace/]name`` (or a {kind, namespace, name} mapping) -> full ref."""
    if isinstance(value, dict):
        kind, namespace, name = value.get("kind") or default_kind, value.get("namespace"), value.get("name")
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        kind, _, rest = text.partition(":") if ":" in text else (default_kind, "", text)
        namespace, _, name = rest.partition("/") if "/" in rest else (None, "", rest)
    else:
        return None
    if not name:
        return None
    return make_ref(kind, namespace or DEFAULT_NAMESPACE, name)


def split_ref(ref: str) -> tuple[str, str, str]:
    kind, _, rest = ref.partition(":")
    namespace, _, name = rest.partition("/")
    return kind, namespace, name


def compact_ref(ref: str, default_kind: str) -> str:
    kind, namespace, name = split_ref(ref)
    text = name if namespace == DEFAULT_NAMESPACE else f"{namespace}/{name}"
    return text if kind == default_kind else f"{kind}:{text}"


def _as_list(value) -> list:
    """A relation list as Backstage allows it; a lone string counts as one item."""
    if value is None:
        return []
    if isinstance(value, str | dict):
        return [value]
    return list(value) if isinstance(value, list) else []


def valid_name(name) -> bool:
    return isinstance(name, str) and 0 < len(name) <= MAX_NAME and bool(NAME_RE.match(name))


def validate(document: Document) -> tuple[Entity | None, str, str]:
    """-> (entity, error, skip_reason)."""
    data = document.data
    missing = [key for key in ("apiVersion", "kind", "metadata") if not data.get(key)]
    if missing:
        return None, f"missing required field(s): {', '.join(missing)}", ""
    kind = data["kind"]
    if not isinstance(kind, str):
        return None, "kind must be a string", ""
    if not isinstance(data["apiVersion"], str) or "/" not in data["apiVersion"]:
        return None, f"apiVersion {data['apiVersion']!r} is not of the form group/version", ""
    metadata = data["metadata"]
    if not isinstance(metadata, dict):
        return None, "metadata must be a mapping", ""
    name = metadata.get("name")
    if not name:
        return None, "missing required field: metadata.name", ""
    if not valid_name(name):
        return None, (
            f"invalid metadata.name {name!r}: Backstage names are 1-63 characters [a-zA-Z0-9] "
            "separated by single '-', '_' or '.'"
        ), ""
    namespace = metadata.get("namespace") or DEFAULT_NAMESPACE
    if not isinstance(namespace, str) or len(namespace) > MAX_NAME or not NAMESPACE_RE.match(namespace):
        return None, f"invalid metadata.namespace {namespace!r}: lowercase letters, digits and '-', max 63", ""
    if kind in SKIPPED_KINDS:
        return None, "", f"{kind} entities describe files or templates, not the estate; not imported"
    if kind not in MAPPED_KINDS:
        return None, (
            f"unknown kind {kind!r}: expected one of {', '.join(MAPPED_KINDS + SKIPPED_KINDS)}"
        ), ""
    spec = data.get("spec")
    if spec is None or not isinstance(spec, dict):
        return None, "missing required field: spec (a mapping)", ""
    missing = [f"spec.{key}" for key in REQUIRED_SPEC[kind] if spec.get(key) in (None, "")]
    if missing:
        return None, f"missing required field(s): {', '.join(missing)}", ""
    for key in ("owner", "parent", "system", "domain"):
        if key in spec and spec[key] is not None and not isinstance(spec[key], str | dict):
            return None, f"spec.{key} must be an entity reference such as group:default/team-a", ""
    entity = Entity(document.file, document.index, kind, namespace, name, data)
    annotations = metadata.get("annotations") or {}
    if kind == "Component" and (
        spec.get("type") == "integration"
        or f"{ANNOTATION}source-system" in annotations
        or f"{ANNOTATION}target-system" in annotations
    ):
        entity.is_integration = True
    return entity, "", ""


# --- the plan -----------------------------------------------------------------------------


@dataclass
class PlanItem:
    file: str
    index: int
    kind: str
    name: str
    ref: str
    action: str  # create / update / unchanged / error / skipped
    target: str = ""  # "System artists-db"
    changes: list = field(default_factory=list)
    reason: str = ""
    unresolved: list = field(default_factory=list)
    reason_code: str = ""  # the service's error code of a refusal (not shown)

    def as_dict(self):
        return {
            "file": self.file, "document": self.index, "kind": self.kind, "name": self.name, "ref": self.ref,
            "action": self.action, "target": self.target, "changes": self.changes, "reason": self.reason,
            "unresolved": self.unresolved,
        }


# Refusals that another entity of the same import may lift (its last user retired).
IN_USE_CODES = {"in_use", "has_consumers"}


class _Rollback(Exception):
    pass


def slug_for(namespace: str, name: str) -> str:
    slug = name.lower().replace(".", "-")
    if namespace != DEFAULT_NAMESPACE:
        slug = f"{namespace}-{slug}"
    return slug[:100]


class _Importer:
    """One run over a set of entities. Every catalog write goes through ``catalog.services``
    (the same validation, lifecycle transition table, in-use rules and audit rows as the
    API and the pages), so an import cannot make what a person could not: an active
    integration of a retired system, a retired system still in use, a lifecycle jump the
    table forbids. A refused entity is reported with the service's message and the rest
    imports (each entity runs in its own savepoint)."""

    def __init__(self, entities: list[Entity], actor, note: str):
        self.entities = entities
        self.actor = actor
        self.note = note
        self.in_import = {e.ref for e in entities}
        self.items: list[PlanItem] = []
        self.refs_created = 0
        self.refs_resolved = 0
        # ref -> (model, id); filled from the catalog, then as entities are written.
        self.index: dict[str, tuple[type, int]] = {}
        self._load_index()
        self.open_refs: dict[str, list] = {}
        for row in UnresolvedReference.objects.filter(source_ref__in=self.in_import):
            self.open_refs.setdefault(row.source_ref, []).append(row)

    # ---- index of what exists
    def _load_index(self):
        self.slugs: dict[type, set] = {}
        for model, kind in ((Team, "group"), (Domain, "domain"), (System, "component"), (Integration, "component"),
                            (Api, "api")):
            self.slugs[model] = set()
            for row in model.objects.values("id", "slug", "external_ref"):
                self.slugs[model].add(row["slug"])
                if row["external_ref"]:
                    self.index.setdefault(row["external_ref"].lower(), (model, row["id"]))
                self.index.setdefault(make_ref(kind, DEFAULT_NAMESPACE, row["slug"]), (model, row["id"]))
        self.members = {}
        for row in TeamMember.objects.exclude(external_ref="").values("id", "team_id", "external_ref"):
            self.members.setdefault(row["external_ref"].lower(), {})[row["team_id"]] = row["id"]

    def lookup(self, ref: str | None, models: tuple[type, ...]):
        """The (model, id) a ref points at, trying the kinds that can stand for each other
        (a Backstage System, Resource or Component may all be our System)."""
        if not ref:
            return None
        kind, namespace, name = split_ref(ref)
        candidates = [ref]
        if kind in ("system", "resource", "component"):
            candidates += [make_ref(k, namespace, name) for k in ("system", "resource", "component")]
        for candidate in candidates:
            found = self.index.get(candidate)
            if found and found[0] in models:
                return found
        return None

    def remember(self, entity: Entity, obj):
        self.slugs[type(obj)].add(obj.slug)
        self.index[entity.ref] = (type(obj), obj.pk)
        self.index.setdefault(make_ref(
            "group" if isinstance(obj, Team) else "domain" if isinstance(obj, Domain)
            else "api" if isinstance(obj, Api) else "component", DEFAULT_NAMESPACE, obj.slug), (type(obj), obj.pk))

    # ---- placeholders
    def placeholder_team(self) -> Team:
        team = Team.objects.filter(slug=PLACEHOLDER_TEAM).first()
        if team is None:
            team = services.create_team(
                actor=self.actor, note="placeholder owner for Backstage import",
                slug=PLACEHOLDER_TEAM, name="Unowned (awaiting owner from Backstage)",
                description="Owner of imported objects whose Backstage owner is not in the catalog yet.",
                metadata={"placeholder": True},
            )
        return team

    def placeholder_system(self) -> System:
        system = System.objects.filter(slug=PLACEHOLDER_SYSTEM).first()
        if system is None:
            system = services.create_system(
                actor=self.actor, note="placeholder provider for Backstage import",
                slug=PLACEHOLDER_SYSTEM, name="Unknown provider (Backstage)", owner_team=self.placeholder_team(),
                description="Provider of imported APIs whose providing component is not in the catalog yet.",
                metadata={"placeholder": True},
            )
        return system

    # ---- writing
    def _save(self, model, existing, values: dict, m2m: dict | None = None):
        """Create or update through the catalog's services; -> (obj, action, changed names).
        Only what differs is sent, so an unchanged entity writes (and audits) nothing."""
        m2m = m2m or {}
        if existing is None:
            obj = services.create(model, actor=self.actor, note=self.note, **values, **self._m2m_values(m2m))
            return obj, "create", []
        changed = [k for k, v in values.items() if getattr(existing, k) != v]
        m2m_changed = [
            name for name, ids in m2m.items()
            if set(getattr(existing, name).values_list("pk", flat=True)) != set(ids)
        ]
        if not changed and not m2m_changed:
            return existing, "unchanged", []
        obj = services.update(existing, actor=self.actor, note=self.note, **{k: values[k] for k in changed},
                              **self._m2m_values({name: m2m[name] for name in m2m_changed}))
        return obj, "update", changed + m2m_changed

    @staticmethod
    def _m2m_values(m2m: dict) -> dict:
        # The services check the APIs an integration uses (a retired one keeps it from being
        # active), so they get the rows, not bare ids.
        return {name: list(Api.objects.filter(pk__in=ids)) if name == "apis" else ids for name, ids in m2m.items()}

    def existing(self, entity: Entity, model):
        found = self.index.get(entity.ref)
        if found and found[0] is model:
            return model.objects.get(pk=found[1])
        slug = slug_for(entity.namespace, entity.name)
        if slug not in self.slugs[model]:
            return None  # the index holds every slug: no row to look for
        obj = model.objects.filter(slug=slug).first()
        if obj is not None and obj.external_ref and obj.external_ref.lower() != entity.ref:
            raise ValidationFailed(
                f"slug {slug!r} is already used by {obj.external_ref}; rename one of them in Backstage"
            )
        return obj

    def resolve(self, entity: Entity, field_name: str, value, models, unresolved: list, payload=None):
        ref = parse_ref(value, DEFAULT_REF_KIND[field_name])
        if ref is None:
            return None
        found = self.lookup(ref, models)
        if found is None:
            unresolved.append((field_name, ref, payload or {}))
        return found

    def sync_unresolved(self, source_ref: str, wanted: list) -> list[str]:
        wanted_keys = {(f, t): p for f, t, p in wanted}
        current = {(r.field, r.target_ref): r for r in self.open_refs.get(source_ref, [])}
        stale = [r.pk for key, r in current.items() if key not in wanted_keys]
        if stale:
            UnresolvedReference.objects.filter(pk__in=stale).delete()
        for (field_name, target), payload in wanted_keys.items():
            if (field_name, target) not in current:
                UnresolvedReference.objects.create(
                    source_ref=source_ref, field=field_name, target_ref=target, payload=payload
                )
                self.refs_created += 1
            elif current[(field_name, target)].payload != payload:
                UnresolvedReference.objects.filter(pk=current[(field_name, target)].pk).update(payload=payload)
        return sorted(f"{f} → {t}" for f, t in wanted_keys)

    @staticmethod
    def kept_metadata(entity: Entity, mapped_spec: tuple[str, ...]) -> dict:
        meta = entity.meta
        kept = {"kind": entity.kind, "apiVersion": entity.data["apiVersion"]}
        if entity.name != entity.name.lower():
            kept["name"] = entity.name  # external_ref is lower-cased; keep the spelling
        for key in ("title", "labels", "annotations", "tags", "links"):
            if meta.get(key):
                kept[key] = meta[key]
        if entity.namespace != DEFAULT_NAMESPACE:
            kept["namespace"] = entity.namespace
        spec = {k: v for k, v in entity.spec.items() if k not in mapped_spec}
        if spec:
            kept["spec"] = spec
        return {"backstage": kept}

    # ---- per kind
    def run(self):
        groups = [e for e in self.entities if e.kind == "Group"]
        depth = {}

        def group_depth(entity, seen=()):
            if entity.ref in depth:
                return depth[entity.ref]
            parent = parse_ref(entity.spec.get("parent"), "group")
            parent_entity = next((g for g in groups if g.ref == parent), None)
            value = 0 if parent_entity is None or parent in seen else 1 + group_depth(parent_entity, (*seen, entity.ref))
            depth[entity.ref] = value
            return value

        for group in groups:
            group_depth(group)
        ordered = sorted(groups, key=lambda g: depth[g.ref])
        order = {"User": 1, "Domain": 2, "System": 3, "Resource": 4, "Component": 5, "API": 6}
        others = sorted(
            (e for e in self.entities if e.kind != "Group"),
            key=lambda e: (7 if e.is_integration else order[e.kind]),
        )
        self.providers = {}
        for entity in self.entities:
            if entity.kind == "Component" and not entity.is_integration:
                for api in _as_list(entity.spec.get("providesApis")):
                    ref = parse_ref(api, "api")
                    if ref:
                        self.providers.setdefault(ref, entity.ref)
        in_use = []
        for entity in ordered + others:
            item = self._write(entity)
            if item.reason_code in IN_USE_CODES:
                in_use.append(entity)
            self.items.append(item)
        # Systems are written before the integrations that use them, so a file retiring a
        # system together with its last integrations finds it still in use the first time:
        # those refusals get one more try once everything else is written.
        for entity in in_use:
            retried = self._write(entity)
            if retried.action != "error":
                self.items = [retried if i.ref == entity.ref else i for i in self.items]
        self.resolve_earlier_references()

    def _write(self, entity: Entity) -> PlanItem:
        """Write one entity in its own savepoint; a refusal becomes the item's reason."""
        handler = getattr(self, f"do_{'integration' if entity.is_integration else entity.kind.lower()}")
        item = PlanItem(entity.file, entity.index, entity.kind, entity.name, entity.ref, "error")
        try:
            with transaction.atomic():
                handler(entity, item)
        except DomainError as exc:  # refused by a service rule: its message says why
            item.action, item.reason, item.reason_code = "error", exc.message, exc.code
        except IntegrityError as exc:
            item.action, item.reason = "error", f"conflicts with existing data: {exc}"
        except Exception as exc:  # noqa: BLE001 - Django ValidationError and friends, reported per entity
            messages = getattr(exc, "message_dict", None) or getattr(exc, "messages", None) or [str(exc)]
            item.action, item.reason = "error", f"invalid: {messages}"
        return item

    def do_group(self, entity: Entity, item: PlanItem):
        spec, meta = entity.spec, entity.meta
        unresolved: list = []
        parent = self.resolve(entity, "parent", spec.get("parent"), (Team,), unresolved) if spec.get("parent") else None
        profile = spec.get("profile") or {}
        kept = self.kept_metadata(entity, ("parent", "profile"))
        extra_profile = {k: v for k, v in profile.items() if k != "email"}
        if extra_profile:
            kept["backstage"].setdefault("spec", {})["profile"] = extra_profile
        values = {
            "name": meta.get("title") or profile.get("displayName") or entity.name,
            "slug": slug_for(entity.namespace, entity.name), "description": meta.get("description") or "",
            "email": profile.get("email") or "", "parent_id": parent[1] if parent else None,
            "external_ref": entity.ref, "metadata": kept,
        }
        existing = self.existing(entity, Team)
        if existing is not None and parent is None and spec.get("parent") is None:
            values["parent_id"] = existing.parent_id if not existing.external_ref else None
        obj, item.action, item.changes = self._save(Team, existing, values)
        item.target = f"Team {obj.slug}"
        self.remember(entity, obj)
        item.unresolved = self.sync_unresolved(entity.ref, unresolved)

    def do_user(self, entity: Entity, item: PlanItem):
        spec, meta = entity.spec, entity.meta
        profile = spec.get("profile") or {}
        name = profile.get("displayName") or meta.get("title") or entity.name
        email = profile.get("email") or ""
        unresolved: list = []
        wanted_teams = []
        for group in _as_list(spec.get("memberOf")):
            found = self.resolve(entity, "memberOf", group, (Team,), unresolved, {"name": name, "email": email})
            if found:
                wanted_teams.append(found[1])
        current = {m.team_id: m for m in TeamMember.objects.filter(external_ref__iexact=entity.ref)}
        actions, notes = [], []
        for team_id in wanted_teams:
            member = current.get(team_id)
            values = {"name": name, "email": email, "external_ref": entity.ref}
            if member is None:
                clash = TeamMember.objects.filter(team_id=team_id, email=email).exclude(email="").first()
                if clash is not None:
                    notes.append(
                        f"{clash.team.slug} already lists {email} as {clash.external_ref or clash.name}; "
                        "a team lists a person once"
                    )
                    continue
                member = services.add_team_member(actor=self.actor, team=Team.objects.get(pk=team_id),
                                                  note=self.note, **values)
                self.members.setdefault(entity.ref, {})[team_id] = member.pk
                actions.append("create")
            else:
                changed = [k for k, v in values.items() if getattr(member, k) != v]
                if changed:
                    services.update_team_member(actor=self.actor, member=member, note=self.note,
                                                **{k: values[k] for k in changed})
                    actions.append("update")
                    item.changes += changed
        for team_id, member in current.items():
            if team_id not in wanted_teams:
                services.remove_team_member(actor=self.actor, member=member, note=self.note)
                actions.append("update")
                item.changes.append("memberOf")
        item.unresolved = self.sync_unresolved(entity.ref, unresolved)
        if "create" in actions:
            item.action = "create"
        elif actions:
            item.action = "update"
        elif notes and not current:
            item.action = "skipped"
        else:
            item.action = "unchanged"
        item.reason = "; ".join(notes)
        item.target = "Team member" + ("s" if len(wanted_teams) > 1 else "")

    def _owner(self, entity, unresolved):
        found = self.resolve(entity, "owner", entity.spec.get("owner"), (Team,), unresolved)
        if found is None:
            ref = parse_ref(entity.spec.get("owner"), "group")
            member_teams = self.members.get(ref or "", {})
            if member_teams:  # an owner that is a user: the user's (first) team
                unresolved.pop()
                return sorted(member_teams)[0]
            return self.placeholder_team().pk
        return found[1]

    def do_domain(self, entity: Entity, item: PlanItem):
        unresolved: list = []
        found = self.resolve(entity, "owner", entity.spec.get("owner"), (Team,), unresolved)
        values = {
            "name": entity.meta.get("title") or entity.name, "slug": slug_for(entity.namespace, entity.name),
            "description": entity.meta.get("description") or "", "owner_team_id": found[1] if found else None,
            "external_ref": entity.ref, "metadata": self.kept_metadata(entity, ("owner",)),
        }
        obj, item.action, item.changes = self._save(Domain, self.existing(entity, Domain), values)
        item.target = f"Domain {obj.slug}"
        self.remember(entity, obj)
        item.unresolved = self.sync_unresolved(entity.ref, unresolved)

    def _system(self, entity: Entity, item: PlanItem, category_default: str):
        spec = entity.spec
        unresolved: list = []
        owner = self._owner(entity, unresolved)
        domain = self.resolve(entity, "domain", spec.get("domain"), (Domain,), unresolved) if spec.get("domain") else None
        # Relations without a column: checked (so they are listed when dangling) and kept.
        if spec.get("system"):
            self.resolve(entity, "system", spec.get("system"), (System,), unresolved)
        for dep in _as_list(spec.get("dependsOn")):
            self.resolve(entity, "dependsOn", dep, (System, Integration), unresolved)
        for api in _as_list(spec.get("consumesApis")):
            self.resolve(entity, "consumesApis", api, (Api,), unresolved)
        for api in _as_list(spec.get("providesApis")):
            ref = parse_ref(api, "api")
            if ref and ref not in self.in_import and not self.lookup(ref, (Api,)):
                unresolved.append(("providesApis", ref, {}))
        existing = self.existing(entity, System)
        lifecycle_raw = spec.get("lifecycle")
        lifecycle = SYSTEM_LIFECYCLE_IN.get(lifecycle_raw, lifecycle_raw)
        if lifecycle not in SystemLifecycle.values:
            lifecycle = SystemLifecycle.ACTIVE
        category = category_default
        if existing is not None and category_default == SystemCategory.OTHER:
            category = existing.category  # a Component says nothing about CRM vs ERP; keep ours
        values = {
            "name": entity.meta.get("title") or entity.name, "slug": slug_for(entity.namespace, entity.name),
            "description": entity.meta.get("description") or "", "owner_team_id": owner,
            "domain_id": domain[1] if domain else None, "lifecycle": lifecycle, "category": category,
            "external_ref": entity.ref,
            "metadata": self.kept_metadata(entity, ("owner", "domain", "providesApis")),
        }
        if existing is not None and not spec.get("domain") and entity.kind != "System":
            values["domain_id"] = existing.domain_id
        obj, item.action, item.changes = self._save(System, existing, values)
        item.target = f"System {obj.slug}"
        self.remember(entity, obj)
        item.unresolved = self.sync_unresolved(entity.ref, unresolved)

    def do_system(self, entity, item):
        self._system(entity, item, SystemCategory.OTHER)

    def do_resource(self, entity, item):
        self._system(entity, item, SystemCategory.DATA_STORE)

    def do_component(self, entity, item):
        self._system(entity, item, SystemCategory.OTHER)

    def do_api(self, entity: Entity, item: PlanItem):
        spec = entity.spec
        unresolved: list = []
        owner = self._owner(entity, unresolved)
        existing = self.existing(entity, Api)
        provider_ref = self.providers.get(entity.ref)
        provider = self.lookup(provider_ref, (System,)) if provider_ref else None
        if provider is None and spec.get("system"):
            provider = self.lookup(parse_ref(spec["system"], "system"), (System,))
        if spec.get("system"):
            self.resolve(entity, "system", spec.get("system"), (System,), unresolved)
        if provider is not None:
            provider_id = provider[1]
        elif existing is not None:
            provider_id = existing.provider_system_id
        else:
            provider_id = self.placeholder_system().pk
        api_type = str(spec.get("type"))
        lifecycle_raw = spec.get("lifecycle")
        lifecycle = API_LIFECYCLE_IN.get(lifecycle_raw, lifecycle_raw)
        if lifecycle not in ApiLifecycle.values:
            lifecycle = ApiLifecycle.DRAFT
        definition = spec.get("definition")
        if not isinstance(definition, str):
            definition = yaml.safe_dump(definition, sort_keys=False)
        if definition == NO_DEFINITION:
            definition = ""
        values = {
            "name": entity.meta.get("title") or entity.name, "slug": slug_for(entity.namespace, entity.name),
            "description": entity.meta.get("description") or "", "owner_team_id": owner,
            "provider_system_id": provider_id, "lifecycle": lifecycle,
            "definition_format": API_TYPE_FORMAT.get(api_type, DefinitionFormat.OTHER) if definition else "",
            "style": API_TYPE_STYLE.get(api_type, existing.style if existing else ApiStyle.REST),
            "definition": definition, "external_ref": entity.ref,
            "metadata": self.kept_metadata(entity, ("owner", "definition")),
        }
        obj, item.action, item.changes = self._save(Api, existing, values)
        item.target = f"API {obj.slug}"
        self.remember(entity, obj)
        item.unresolved = self.sync_unresolved(entity.ref, unresolved)

    def do_integration(self, entity: Entity, item: PlanItem):
        spec = entity.spec
        annotations = entity.meta.get("annotations") or {}
        unresolved: list = []
        owner = self._owner(entity, unresolved)
        systems = {}
        for role in ("source", "target", "middleware"):
            value = annotations.get(f"{ANNOTATION}{role}-system")
            if value:
                found = self.lookup(parse_ref(value, "component"), (System,))
                if found is None:
                    raise ValidationFailed(f"{role} system {value!r} is not in the import or the catalog")
                systems[role] = found[1]
        missing = [r for r in ("source", "target") if r not in systems]
        if missing:
            raise ValidationFailed(
                f"an integration needs annotations {', '.join(f'{ANNOTATION}{r}-system' for r in missing)}"
            )
        api_ids = []
        for api in _as_list(spec.get("consumesApis")):
            found = self.resolve(entity, "consumesApis", api, (Api,), unresolved)
            if found:
                api_ids.append(found[1])
        for dep in _as_list(spec.get("dependsOn")):
            self.resolve(entity, "dependsOn", dep, (System, Integration), unresolved)
        if spec.get("system"):
            self.resolve(entity, "system", spec.get("system"), (System,), unresolved)

        def slugs(key):
            return [s.strip() for s in str(annotations.get(f"{ANNOTATION}{key}", "")).split(",") if s.strip()]

        entity_ids = dict(CanonicalEntity.objects.filter(slug__in=slugs("entities")).values_list("slug", "id"))
        workflow_ids = dict(Workflow.objects.filter(slug__in=slugs("workflows")).values_list("slug", "id"))
        unknown = [s for s in slugs("entities") if s not in entity_ids] + [
            s for s in slugs("workflows") if s not in workflow_ids]
        if unknown:
            raise ValidationFailed(f"unknown canonical entities or workflows: {', '.join(unknown)}")
        lifecycle_raw = spec.get("lifecycle")
        lifecycle = INTEGRATION_LIFECYCLE_IN.get(lifecycle_raw, lifecycle_raw)
        if lifecycle not in IntegrationLifecycle.values:
            lifecycle = IntegrationLifecycle.PLANNED
        pattern = annotations.get(f"{ANNOTATION}pattern") or IntegrationPattern.API_SYNC
        if pattern not in IntegrationPattern.values:
            raise ValidationFailed(f"unknown pattern {pattern!r}: one of {', '.join(IntegrationPattern.values)}")
        try:
            criticality = int(annotations.get(f"{ANNOTATION}criticality") or Criticality.TIER_2)
        except ValueError:
            criticality = 0
        if criticality not in Criticality.values:
            raise ValidationFailed("criticality annotation must be 1, 2 or 3")
        kept = self.kept_metadata(entity, ("owner", "consumesApis"))
        ours = {k for k in annotations if k.startswith(ANNOTATION)}
        if "annotations" in kept["backstage"]:
            kept["backstage"]["annotations"] = {
                k: v for k, v in annotations.items() if k not in ours
            } or None
            if not kept["backstage"]["annotations"]:
                kept["backstage"].pop("annotations")
        values = {
            "name": entity.meta.get("title") or entity.name, "slug": slug_for(entity.namespace, entity.name),
            "description": entity.meta.get("description") or "", "owner_team_id": owner,
            "source_system_id": systems["source"], "target_system_id": systems["target"],
            "middleware_system_id": systems.get("middleware"), "lifecycle": lifecycle, "pattern": pattern,
            "criticality": criticality, "schedule": annotations.get(f"{ANNOTATION}schedule", ""),
            "trigger": annotations.get(f"{ANNOTATION}trigger", ""), "external_ref": entity.ref, "metadata": kept,
        }
        m2m = {"apis": api_ids, "entities": list(entity_ids.values()), "workflows": list(workflow_ids.values())}
        obj, item.action, item.changes = self._save(Integration, self.existing(entity, Integration), values, m2m)
        item.target = f"Integration {obj.slug}"
        self.remember(entity, obj)
        item.unresolved = self.sync_unresolved(entity.ref, unresolved)

    # ---- references left open by earlier imports
    def resolve_earlier_references(self):
        placeholder = Team.objects.filter(slug=PLACEHOLDER_TEAM).values_list("pk", flat=True).first()
        pending = UnresolvedReference.objects.exclude(source_ref__in=self.in_import).exclude(field="memberOf")
        for row in pending:
            models = {
                "owner": (Team,), "parent": (Team,), "memberOf": (Team,), "domain": (Domain,), "children": (Team,),
                "providesApis": (Api,), "consumesApis": (Api,), "system": (System,),
                "dependsOn": (System, Integration),
            }.get(row.field, (Team, Domain, System, Integration, Api))
            target = self.lookup(row.target_ref, models)
            source = self.lookup(row.source_ref, (Team, Domain, System, Integration, Api))
            if target is None:
                continue
            if source is not None:
                try:
                    with transaction.atomic():
                        self._apply_reference(row, source, target, placeholder)
                except DomainError as exc:  # the service refused it: reported, the reference stays open
                    kind, _, name = split_ref(row.source_ref)
                    self.items.append(PlanItem(
                        "", 0, kind, name, row.source_ref, "error",
                        reason=f"{row.field} → {row.target_ref} (from an earlier import) not applied: {exc.message}"))
                    continue
            UnresolvedReference.objects.filter(pk=row.pk).delete()
            self.refs_resolved += 1

    def _apply_reference(self, row, source, target, placeholder):
        """Apply one resolved reference through the services (rules and audit rows)."""
        model, pk = source
        obj = model.objects.get(pk=pk)
        note = f"{self.note + ': ' if self.note else ''}{row.field} → {row.target_ref}"
        changes = {}
        if row.field == "owner" and hasattr(obj, "owner_team_id") and obj.owner_team_id in (placeholder, None):
            changes = {"owner_team_id": target[1]}
        elif row.field == "parent" and model is Team and obj.parent_id is None:
            changes = {"parent_id": target[1]}
        elif row.field == "domain" and hasattr(obj, "domain_id") and obj.domain_id is None:
            changes = {"domain_id": target[1]}
        elif row.field == "providesApis" and model is System:
            api = Api.objects.filter(pk=target[1], provider_system__slug=PLACEHOLDER_SYSTEM).first()
            if api is not None:
                services.update_api(actor=self.actor, api=api, note=note, provider_system=obj)
        elif row.field == "consumesApis" and model is Integration:
            services.update_integration(actor=self.actor, integration=obj, note=note,
                                        apis=[*obj.apis.all(), Api.objects.get(pk=target[1])])
        if changes:
            services.update(obj, actor=self.actor, note=note, **changes)


@dataclass
class ImportResult:
    applied: bool
    items: list
    unresolved_created: int = 0
    unresolved_resolved: int = 0

    def summary(self) -> dict:
        counts: dict[str, int] = {}
        for item in self.items:
            counts[item["action"]] = counts.get(item["action"], 0) + 1
        return counts

    def as_dict(self) -> dict:
        return {
            "applied": self.applied, "summary": self.summary(), "items": self.items,
            "unresolved_references": {"new": self.unresolved_created, "resolved": self.unresolved_resolved},
        }


def _resolve_members(importer: _Importer):
    """Open memberOf references from earlier imports whose team now exists."""
    for row in UnresolvedReference.objects.filter(field="memberOf"):
        if row.source_ref in importer.in_import:
            continue
        target = importer.lookup(row.target_ref, (Team,))
        if target is None:
            continue
        email = row.payload.get("email", "")
        if not TeamMember.objects.filter(team_id=target[1], email=email).exclude(email="").exists():
            services.add_team_member(
                actor=importer.actor, team=Team.objects.get(pk=target[1]),
                name=row.payload.get("name") or split_ref(row.source_ref)[2], email=email,
                external_ref=row.source_ref, note=f"memberOf → {row.target_ref}",
            )
        UnresolvedReference.objects.filter(pk=row.pk).delete()
        importer.refs_resolved += 1


def run_import(files, *, actor, dry_run: bool, note: str = "") -> ImportResult:
    """Import Backstage descriptor files (``[(name, text)]``). With ``dry_run`` every
    write happens and is then rolled back, so the result is exactly what applying does."""
    documents = load_documents(files)
    items: list[PlanItem] = []
    entities: list[Entity] = []
    seen: dict[str, Entity] = {}
    for document in documents:
        if document.error:
            items.append(PlanItem(document.file, document.index, "", "", "", "error", reason=document.error))
            continue
        entity, error, skipped = validate(document)
        meta = document.data.get("metadata") if isinstance(document.data.get("metadata"), dict) else {}
        name = str(meta.get("name") or "")
        kind = str(document.data.get("kind") or "")
        if entity is None:
            items.append(PlanItem(document.file, document.index, kind, name, "", "skipped" if skipped else "error",
                                  reason=skipped or error))
            continue
        if entity.ref in seen:
            first = seen[entity.ref]
            items.append(PlanItem(document.file, document.index, kind, name, entity.ref, "error",
                                  reason=f"duplicate of {first.file} document {first.index}"))
            continue
        seen[entity.ref] = entity
        entities.append(entity)

    result = ImportResult(applied=not dry_run, items=[])
    try:
        with transaction.atomic():
            importer = _Importer(entities, actor, note)
            importer.run()
            _resolve_members(importer)
            items.extend(importer.items)
            result.unresolved_created = importer.refs_created
            result.unresolved_resolved = importer.refs_resolved
            if dry_run:
                raise _Rollback
    except _Rollback:
        pass
    items.sort(key=lambda i: (i.file, i.index))
    result.items = [item.as_dict() for item in items]
    return result


# --- batches (browser upload -> dry run -> Apply) ---------------------------------------


def plan_batch(*, actor, files) -> BackstageImport:
    """Store the uploaded files and their dry run."""
    files = list(files)
    # Files the dry run refuses (too big, not UTF-8) are not kept: Apply skips them, as the plan says.
    stored = []
    for name, content in files:
        if isinstance(content, int):
            continue
        raw = content.encode() if isinstance(content, str) else content
        if len(raw) > max_bytes():
            continue
        try:
            stored.append({"name": name, "text": raw.decode("utf-8")})
        except UnicodeDecodeError:
            continue
    result = run_import(files, actor=actor, dry_run=True)
    with transaction.atomic():
        batch = BackstageImport.objects.create(
            created_by=actor if getattr(actor, "is_authenticated", False) else None, files=stored,
            plan=result.as_dict(),
        )
        audit.record(actor=actor, action="backstageimport.plan", obj=batch,
                     after={"files": [name for name, _ in files], "summary": result.summary()})
    return batch


@transaction.atomic
def apply_batch(*, actor, batch_id: int) -> BackstageImport:
    """Apply a planned batch once; a second Apply (or a concurrent one) gets a 409."""
    batch = BackstageImport.objects.select_for_update().filter(pk=batch_id).first()
    if batch is None:
        raise ValidationFailed("no such import batch")
    if batch.status != BackstageImportStatus.PLANNED:
        raise InvalidTransition(f"import #{batch.pk} is already {batch.get_status_display().lower()}")
    before = audit.snapshot(batch, ["status"])
    result = run_import([(f["name"], f["text"]) for f in batch.files], actor=actor, dry_run=False,
                        note=f"Backstage import #{batch.pk}")
    # Files refused before storing (too big, not UTF-8) keep their error in the result.
    stored = {f["name"] for f in batch.files}
    carried = [item for item in (batch.plan or {}).get("items", []) if item["file"] not in stored]
    result.items = sorted(carried + result.items, key=lambda i: (i["file"], i["document"]))
    updated = BackstageImport.objects.filter(pk=batch.pk, status=BackstageImportStatus.PLANNED).update(
        status=BackstageImportStatus.APPLIED, plan=result.as_dict(), applied_at=timezone.now(),
        applied_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    if not updated:
        raise Conflict("somebody applied this import first")
    batch.refresh_from_db()
    audit.record(actor=actor, action="backstageimport.apply", obj=batch, before=before,
                 after={"status": batch.status, "summary": result.summary()})
    return batch


# --- export -------------------------------------------------------------------------------


def _export_name(obj) -> tuple[str, str]:
    """(namespace, name) for an object: what it was imported as, or its slug made valid."""
    if obj.external_ref:
        kind, namespace, _ = split_ref(obj.external_ref)
        original = (obj.metadata or {}).get("backstage", {})
        # external_ref is lower-cased; the original spelling is the slug source unless the name had dots.
        name = split_ref(obj.external_ref)[2]
        if original.get("name"):
            name = original["name"]
        return namespace, name
    name = re.sub(r"[-_.]{2,}", "-", obj.slug).strip("-_.")[:MAX_NAME].strip("-_.") or f"x{obj.pk}"
    return DEFAULT_NAMESPACE, name


class _Exporter:
    def __init__(self, *, owner: str | None = None, kind: str | None = None):
        self.owner = owner
        self.kind = kind
        self.refs: dict[tuple[type, int], str] = {}
        self.unresolved: dict[tuple[str, str], list[str]] = {}
        for row in UnresolvedReference.objects.all():
            self.unresolved.setdefault((row.source_ref, row.field), []).append(row.target_ref)

    def backstage_kind(self, obj) -> str:
        if isinstance(obj, Team):
            return "Group"
        if isinstance(obj, Domain):
            return "Domain"
        if isinstance(obj, Api):
            return "API"
        if isinstance(obj, Integration):
            return "Component"
        kept = (obj.metadata or {}).get("backstage", {}).get("kind")
        if kept in ("System", "Resource", "Component"):
            return kept
        return "Resource" if obj.category == SystemCategory.DATA_STORE else "Component"

    def ref_of(self, obj) -> str:
        key = (type(obj), obj.pk)
        if key not in self.refs:
            namespace, name = _export_name(obj)
            self.refs[key] = make_ref(self.backstage_kind(obj), namespace, name)
        return self.refs[key]

    def owner_value(self, obj, source_ref) -> str | None:
        team = obj.owner_team
        if team is not None and not (team.metadata or {}).get("placeholder"):
            return compact_ref(self.ref_of(team), "group")
        pending = self.unresolved.get((source_ref, "owner"))
        if pending:
            return compact_ref(pending[0], "group")
        return None

    def base(self, obj, kind: str) -> tuple[dict, dict, str]:
        namespace, name = _export_name(obj)
        kept = (obj.metadata or {}).get("backstage", {}) if obj.external_ref else {}
        metadata = {"name": name}
        if namespace != DEFAULT_NAMESPACE:
            metadata["namespace"] = namespace
        title = obj.name if obj.name != name else None
        if title:
            metadata["title"] = title
        if obj.description:
            metadata["description"] = obj.description
        for key in ("labels", "annotations", "tags", "links"):
            if kept.get(key):
                metadata[key] = kept[key]
        doc = {"apiVersion": kept.get("apiVersion") or "backstage.io/v1alpha1", "kind": kind, "metadata": metadata}
        spec = dict(kept.get("spec") or {})
        return doc, spec, make_ref(kind, namespace, name)

    def merged_refs(self, values: list[str], source_ref: str, field_name: str, default_kind: str) -> list[str]:
        refs = set(values) | {compact_ref(r, default_kind) for r in self.unresolved.get((source_ref, field_name), [])}
        return sorted(refs)

    def team(self, team: Team, children: list) -> dict:
        doc, spec, ref = self.base(team, "Group")
        if doc["metadata"].get("title") and doc["metadata"]["title"] == (spec.get("profile") or {}).get("displayName"):
            doc["metadata"].pop("title")
        spec.setdefault("type", "team")
        if team.parent_id:
            spec["parent"] = compact_ref(self.ref_of(team.parent), "group")
        elif self.unresolved.get((ref, "parent")):
            spec["parent"] = compact_ref(self.unresolved[(ref, "parent")][0], "group")
        kept_children = [compact_ref(parse_ref(c, "group"), "group") for c in (_as_list(spec.get("children")))
                         if parse_ref(c, "group")]
        spec["children"] = sorted(set(kept_children) | {compact_ref(self.ref_of(c), "group") for c in children})
        if team.email:
            spec["profile"] = {**(spec.get("profile") or {}), "email": team.email}
        doc["spec"] = spec
        return doc

    def system(self, system: System, provided: list) -> dict | None:
        kind = self.backstage_kind(system)
        doc, spec, ref = self.base(system, kind)
        owner = self.owner_value(system, ref)
        if owner is None:
            return None
        spec["owner"] = owner
        if system.domain_id and kind == "System":
            spec["domain"] = compact_ref(self.ref_of(system.domain), "domain")
        raw = spec.get("lifecycle")
        if not (raw and SYSTEM_LIFECYCLE_IN.get(raw, raw) == system.lifecycle):
            if kind == "Component" or system.lifecycle != SystemLifecycle.ACTIVE:
                spec["lifecycle"] = SYSTEM_LIFECYCLE_OUT.get(system.lifecycle, system.lifecycle)
        if kind == "Component":
            spec.setdefault("type", "service")
            apis = self.merged_refs([compact_ref(self.ref_of(a), "api") for a in provided], ref, "providesApis", "api")
            if apis:
                spec["providesApis"] = apis
        elif kind == "Resource":
            spec.setdefault("type", "database")
        doc["spec"] = spec
        return doc

    def api(self, api: Api) -> dict | None:
        doc, spec, ref = self.base(api, "API")
        owner = self.owner_value(api, ref)
        if owner is None:
            return None
        spec["owner"] = owner
        kept_type = spec.get("type")
        if not kept_type or (api.definition_format and API_TYPE_FORMAT.get(kept_type, "other") != api.definition_format):
            fmt = api.definition_format
            spec["type"] = fmt if fmt in API_TYPE_FORMAT else STYLE_TYPE.get(api.style, "openapi")
        raw = spec.get("lifecycle")
        if not (raw and API_LIFECYCLE_IN.get(raw, raw) == api.lifecycle):
            spec["lifecycle"] = API_LIFECYCLE_OUT.get(api.lifecycle, api.lifecycle)
        spec["definition"] = api.definition or NO_DEFINITION
        doc["spec"] = spec
        return doc

    def integration(self, integration: Integration) -> dict | None:
        doc, spec, ref = self.base(integration, "Component")
        owner = self.owner_value(integration, ref)
        if owner is None:
            return None
        spec["owner"] = owner
        spec.setdefault("type", "integration")
        raw = spec.get("lifecycle")
        if not (raw and INTEGRATION_LIFECYCLE_IN.get(raw, raw) == integration.lifecycle):
            spec["lifecycle"] = INTEGRATION_LIFECYCLE_OUT.get(integration.lifecycle, integration.lifecycle)
        annotations = dict(doc["metadata"].get("annotations") or {})
        annotations[f"{ANNOTATION}source-system"] = compact_ref(self.ref_of(integration.source_system), "component")
        annotations[f"{ANNOTATION}target-system"] = compact_ref(self.ref_of(integration.target_system), "component")
        if integration.middleware_system_id:
            annotations[f"{ANNOTATION}middleware-system"] = compact_ref(
                self.ref_of(integration.middleware_system), "component")
        entities = sorted(e.slug for e in integration.entities.all())
        workflows = sorted(w.slug for w in integration.workflows.all())
        if entities:
            annotations[f"{ANNOTATION}entities"] = ",".join(entities)
        if workflows:
            annotations[f"{ANNOTATION}workflows"] = ",".join(workflows)
        annotations[f"{ANNOTATION}pattern"] = integration.pattern
        annotations[f"{ANNOTATION}criticality"] = str(integration.criticality)
        if integration.schedule:
            annotations[f"{ANNOTATION}schedule"] = integration.schedule
        if integration.trigger:
            annotations[f"{ANNOTATION}trigger"] = integration.trigger
        doc["metadata"]["annotations"] = dict(sorted(annotations.items()))
        apis = self.merged_refs([compact_ref(self.ref_of(a), "api") for a in integration.apis.all()], ref,
                                "consumesApis", "api")
        if apis:
            spec["consumesApis"] = apis
        doc["spec"] = spec
        return doc

    def domain(self, domain: Domain) -> dict | None:
        doc, spec, ref = self.base(domain, "Domain")
        owner = self.owner_value(domain, ref)
        if owner is None:
            return None
        spec["owner"] = owner
        doc["spec"] = spec
        return doc

    def users(self, members) -> list[dict]:
        people: dict[str, dict] = {}
        for member in members:
            if member.external_ref:
                key = member.external_ref.lower()
                _, namespace, name = split_ref(key)
            else:
                key = f"email:{member.email}" if member.email else f"name:{member.name}"
                namespace = DEFAULT_NAMESPACE
                base = member.email.split("@")[0] if member.email else member.name
                name = re.sub(r"[^A-Za-z0-9]+", ".", base).strip(".").lower()[:MAX_NAME] or f"member{member.pk}"
            person = people.setdefault(key, {"namespace": namespace, "name": name, "member": member, "teams": set()})
            person["teams"].add(compact_ref(self.ref_of(member.team), "group"))
        docs = []
        for person in people.values():
            member = person["member"]
            metadata = {"name": person["name"]}
            if person["namespace"] != DEFAULT_NAMESPACE:
                metadata["namespace"] = person["namespace"]
            profile = {}
            if member.name and member.name != person["name"]:
                profile["displayName"] = member.name
            if member.email:
                profile["email"] = member.email
            spec = {"memberOf": sorted(person["teams"])}
            if profile:
                spec = {"profile": profile, **spec}
            docs.append({"apiVersion": "backstage.io/v1alpha1", "kind": "User", "metadata": metadata, "spec": spec})
        return docs


SPEC_ORDER = (
    "type", "lifecycle", "owner", "system", "domain", "parent", "children", "ancestors", "descendants", "profile",
    "memberOf", "providesApis", "consumesApis", "dependsOn", "definition",
)


def _canonical(doc: dict) -> dict:
    """Spec keys in one fixed order, whatever order the import or the mapping produced,
    so an export of re-imported data is byte-identical to the first export."""
    spec = doc.get("spec") or {}
    known = [k for k in SPEC_ORDER if k in spec]
    doc["spec"] = {k: spec[k] for k in known + sorted(k for k in spec if k not in SPEC_ORDER)}
    return doc


def export_documents(*, owner: str | None = None, kind: str | None = None) -> list[dict]:
    """The catalog (or the part owned by team ``owner``, or one Backstage ``kind``) as
    Backstage entities, in a stable order so two exports of the same catalog are equal."""
    exporter = _Exporter(owner=owner, kind=kind)
    # By slug, not by metadata: a JSON key test is NULL (so "not") for rows without the key.
    not_placeholder = ~Q(slug__in=[PLACEHOLDER_TEAM, PLACEHOLDER_SYSTEM])
    teams = Team.objects.filter(not_placeholder).select_related("parent").order_by("slug")
    systems = System.objects.filter(not_placeholder).select_related("owner_team", "domain").order_by("slug")
    apis = Api.objects.select_related("owner_team").order_by("slug")
    integrations = Integration.objects.select_related(
        "owner_team", "source_system", "target_system", "middleware_system"
    ).prefetch_related("apis", "entities", "workflows").order_by("slug")
    domains = Domain.objects.select_related("owner_team").order_by("slug")
    members = TeamMember.objects.select_related("team").order_by("team__slug", "name", "pk")
    if owner:
        teams = teams.filter(slug=owner)
        systems, apis, integrations, domains = (
            qs.filter(owner_team__slug=owner) for qs in (systems, apis, integrations, domains))
        members = members.filter(team__slug=owner)
    team_list = list(teams)
    children: dict[int, list] = {}
    for team in Team.objects.filter(parent__isnull=False, parent__in=team_list).filter(not_placeholder):
        children.setdefault(team.parent_id, []).append(team)
    provided: dict[int, list] = {}
    for api in Api.objects.order_by("slug"):
        provided.setdefault(api.provider_system_id, []).append(api)
    docs: list[dict] = []
    wanted = (kind or "").lower()

    def want(k):
        return not wanted or wanted == k.lower()

    if want("Group"):
        docs += [exporter.team(t, children.get(t.pk, [])) for t in team_list]
    if want("User"):
        docs += exporter.users(members)
    if want("Domain"):
        docs += [exporter.domain(d) for d in domains]
    for system in systems:
        if want(exporter.backstage_kind(system)):
            docs.append(exporter.system(system, provided.get(system.pk, [])))
    if want("API"):
        docs += [exporter.api(a) for a in apis]
    if want("Component"):
        docs += [exporter.integration(i) for i in integrations]
    return [_canonical(d) for d in docs if d is not None]


class _Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):
    """Multi-line strings (API definitions) as literal blocks, as people write them."""


def _str_representer(dumper, value):
    if "\n" in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_Dumper.add_representer(str, _str_representer)


def export_yaml(**filters) -> str:
    return yaml.dump_all(
        export_documents(**filters), Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=1000
    )
