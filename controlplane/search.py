"""Finding things by the names people use: the header's global search and the type-ahead
pickers of the filter forms read the same registry of searchable kinds.

A kind says which model, which column is the value a filter takes (the slug the API
uses), how a row is shown (its name and a hint) and who may see it. Searching is a
case-insensitive ``contains`` over a few short name columns, ordered by name and cut at
a page, so a type-ahead costs one small query.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from django.apps import apps
from django.conf import settings
from django.db.models import Q, QuerySet

MAX_QUERY_LENGTH = 100
SUGGESTIONS = 20
EXCEPTION_KEY = re.compile(r"^EXC-(\d{1,18})$", re.IGNORECASE)


@dataclass(frozen=True)
class SearchKind:
    key: str
    label: str  # plural heading, e.g. "Integrations"
    model: str  # "app_label.ModelName"
    permission: str
    value_field: str = "slug"
    search_fields: tuple[str, ...] = ("name", "slug")
    order_by: tuple[str, ...] = ("name",)
    select_related: tuple[str, ...] = ()
    hint: callable = field(default=lambda obj: "")
    in_global_search: bool = True
    only: tuple = ()  # extra filter, e.g. (("is_active", True),)

    @property
    def model_class(self):
        return apps.get_model(self.model)

    def queryset(self) -> QuerySet:
        qs = self.model_class._default_manager.select_related(*self.select_related).order_by(*self.order_by)
        return qs.filter(**dict(self.only)) if self.only else qs

    def search(self, term: str) -> QuerySet:
        condition = Q()
        for word in term.split()[:5]:
            word_q = Q()
            for name in self.search_fields:
                word_q |= Q(**{f"{name}__icontains": word})
            condition &= word_q
        return self.queryset().filter(condition)

    def value(self, obj) -> str:
        return str(getattr(obj, self.value_field))

    def name(self, obj) -> str:
        from .audit import display_name

        return display_name(obj)

    def url(self, obj) -> str:
        get = getattr(obj, "get_absolute_url", None)
        return get() if callable(get) else ""

    def allowed(self, user) -> bool:
        return user.has_perm(self.permission)

    def as_json(self, obj) -> dict:
        return {"value": self.value(obj), "label": self.name(obj), "hint": self.hint(obj), "url": self.url(obj)}

    def label_for(self, value) -> str | None:
        """The name behind a filter value (a slug, a username), or None if there is none."""
        if value in (None, ""):
            return None
        obj = self.queryset().filter(**{self.value_field: value}).first()
        return self.name(obj) if obj is not None else None


def _integration_hint(obj):
    return f"{obj.source_system.name} → {obj.target_system.name}"


KINDS: dict[str, SearchKind] = {
    kind.key: kind
    for kind in [
        SearchKind("system", "Systems", "catalog.System", "catalog.view_system",
                   search_fields=("name", "slug", "vendor", "product"), hint=lambda o: o.vendor),
        SearchKind("api", "APIs", "catalog.Api", "catalog.view_api", select_related=("provider_system",),
                   hint=lambda o: f"{o.provider_system.name} · {o.version}" if o.version else o.provider_system.name),
        SearchKind("integration", "Integrations", "catalog.Integration", "catalog.view_integration",
                   select_related=("source_system", "target_system"), hint=_integration_hint),
        SearchKind("team", "Teams", "catalog.Team", "catalog.view_team"),
        SearchKind("entity", "Entities", "catalog.CanonicalEntity", "catalog.view_canonicalentity",
                   in_global_search=False),
        SearchKind("workflow", "Workflows", "catalog.Workflow", "catalog.view_workflow", in_global_search=False),
        SearchKind("domain", "Domains", "catalog.Domain", "catalog.view_domain", in_global_search=False),
        SearchKind("subject", "Schema subjects", "stewardship.SchemaSubject", "stewardship.view_schemasubject",
                   in_global_search=False),
        # Active accounts only: a person picked as an assignee must be able to sign in.
        SearchKind("user", "People", settings.AUTH_USER_MODEL, "exceptions.view_businessexception",
                   value_field="username", search_fields=("username", "first_name", "last_name"),
                   order_by=("first_name", "last_name", "username"), hint=lambda o: o.username,
                   in_global_search=False, only=(("is_active", True),)),
    ]
}


def suggest(kind: SearchKind, term: str, limit: int = SUGGESTIONS) -> list[dict]:
    qs = kind.search(term) if term else kind.queryset()
    return [kind.as_json(obj) for obj in qs[:limit]]


def global_kinds(user) -> list[SearchKind]:
    return [kind for kind in KINDS.values() if kind.in_global_search and kind.allowed(user)]
