"""Governance scorecards: checks that tell each team what is missing, in the spirit of
Backstage's Tech Insights.

A check is registered once with ``register_check``; it names the model it applies to
and a function returning the queryset of *failing* objects. Counting per team is a
``GROUP BY`` on the check's team field, one query per check, never a loop over rows.

Other apps plug their checks in by adding a ``<app>/scorecard_checks.py`` module that
calls ``register_check`` at import time; ``autodiscover()`` imports every installed app's
module the first time checks are read. The health app is expected to register
"integration without health check" and stewardship "entity without a system of record"
this way (see docs/catalog-intel.md).
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from django.apps import apps
from django.db.models import Count, Exists, OuterRef, Q
from django.utils import timezone

from .choices import ApiLifecycle, Criticality, IntegrationLifecycle, SystemLifecycle
from .impact import object_url
from .models import Api, Integration, System, Team, TeamMember

SEVERITIES = {"high": 3, "medium": 2, "low": 1}


@dataclass(frozen=True)
class Check:
    key: str
    name: str
    severity: str
    fix: str
    applies_to: type
    failing_queryset_fn: Callable
    team_field: str = "owner_team"
    applicable_queryset_fn: Callable | None = field(default=None)
    kind: str = ""

    def failing(self):
        return self.failing_queryset_fn()

    def applicable(self):
        if self.applicable_queryset_fn is not None:
            return self.applicable_queryset_fn()
        return self.applies_to._default_manager.all()

    @property
    def weight(self) -> int:
        return SEVERITIES[self.severity]


_registry: dict[str, Check] = {}
_discovered = False
_lock = threading.Lock()


def register_check(key, name, severity, fix, applies_to, failing_queryset_fn, *, team_field="owner_team",
                   applicable_queryset_fn=None):
    """Add (or replace) a check. ``failing_queryset_fn()`` returns a queryset of
    ``applies_to`` objects that fail it; ``team_field`` is the path to the owning team."""
    if severity not in SEVERITIES:
        raise ValueError(f"severity must be one of {sorted(SEVERITIES)}")
    kind = getattr(applies_to, "url_name", None) or applies_to._meta.model_name
    _registry[key] = Check(key, name, severity, fix, applies_to, failing_queryset_fn, team_field,
                           applicable_queryset_fn, kind)
    return _registry[key]


def unregister_check(key):
    _registry.pop(key, None)


def autodiscover():
    global _discovered
    if _discovered:
        return
    with _lock:
        if _discovered:
            return
        for config in apps.get_app_configs():
            module = f"{config.name}.scorecard_checks"
            try:
                found = importlib.import_module(module)
            except ModuleNotFoundError as exc:
                if exc.name != module:
                    raise
                continue
            for spec in getattr(found, "CHECKS", ()):  # declared as data rather than registered
                _register_spec(spec)
        _discovered = True


def _register_spec(spec: dict) -> Check:
    """A check an app declares in its ``CHECKS`` list: ``applies_to`` names a catalog kind
    ("entity", "integration"...); an entity belongs to its domain's team."""
    from .impact import KINDS

    spec = dict(spec)
    model = KINDS[spec.pop("applies_to")]
    failing = spec.pop("failing")
    spec.setdefault("team_field", "domain__owner_team" if model is KINDS["entity"] else "owner_team")
    return register_check(applies_to=model, failing_queryset_fn=failing, **spec)


def checks() -> list[Check]:
    autodiscover()
    return sorted(_registry.values(), key=lambda c: (-c.weight, c.name))


# --- built-in checks ---------------------------------------------------------------------


def _live_integrations():
    return Integration.objects.exclude(lifecycle=IntegrationLifecycle.RETIRED)


def _integrations_without_sla():
    return _live_integrations().filter(sla__isnull=True)


def _integrations_without_reachable_owner():
    members = TeamMember.objects.filter(team=OuterRef("owner_team"))
    return _live_integrations().filter(owner_team__email="").exclude(Exists(members))


def _critical_integrations_on_deprecated_api():
    bad_api = Api.objects.filter(
        integrations=OuterRef("pk"), lifecycle__in=[ApiLifecycle.DEPRECATED, ApiLifecycle.RETIRED]
    )
    return _live_integrations().filter(criticality=Criticality.TIER_1).filter(Exists(bad_api))


def _live_apis():
    return Api.objects.exclude(lifecycle=ApiLifecycle.RETIRED)


def _apis_without_definition():
    return _live_apis().filter(definition="")


def _systems_past_retirement_in_use():
    live = _live_integrations()
    in_use = Exists(live.filter(
        Q(source_system=OuterRef("pk")) | Q(target_system=OuterRef("pk")) | Q(middleware_system=OuterRef("pk"))
    )) | Exists(live.filter(apis__provider_system=OuterRef("pk")))
    past = Q(lifecycle=SystemLifecycle.RETIRED) | Q(retirement_date__lt=timezone.localdate())
    return System.objects.filter(past).filter(in_use)


register_check(
    "integration-without-sla", "Integration without SLA", "high",
    "Agree an SLA (availability, latency, sync lag) with the business owner and record it on the integration.",
    Integration, _integrations_without_sla, applicable_queryset_fn=_live_integrations,
)
register_check(
    "integration-without-owner", "Integration without a reachable owner", "high",
    "Give the owning team an email address or at least one member, or move the integration to a team that has them.",
    Integration, _integrations_without_reachable_owner, applicable_queryset_fn=_live_integrations,
)
register_check(
    "critical-integration-deprecated-api", "Tier-1 integration using a deprecated API", "high",
    "Migrate the integration to the API's successor before the deprecated version is retired.",
    Integration, _critical_integrations_on_deprecated_api, applicable_queryset_fn=_live_integrations,
)
register_check(
    "api-without-definition", "API without definition", "medium",
    "Attach the OpenAPI / AsyncAPI document so consumers and the schema review can use it.",
    Api, _apis_without_definition, applicable_queryset_fn=_live_apis,
)
register_check(
    "system-past-retirement-in-use", "System past retirement still in use", "high",
    "Move the integrations that still read from, write to or go through this system, or correct its retirement date.",
    System, _systems_past_retirement_in_use,
)


# --- reads -------------------------------------------------------------------------------


def _counts_by_team(queryset, team_field) -> dict[int, int]:
    rows = queryset.order_by().values(team_field).annotate(n=Count("pk", distinct=True))
    return {row[team_field]: row["n"] for row in rows if row[team_field] is not None}


OBJECTS_PER_CHECK = 50


def summary(*, with_objects=False) -> dict:
    """Per-check and per-team counts: two grouped queries per check plus one for teams.
    Teams are ranked by score (share of owned object/check pairs passing, weighted by
    severity), best first."""
    registered = checks()
    teams = {row["id"]: row for row in Team.objects.values("id", "slug", "name")}
    per_team: dict[int, dict] = {
        tid: {"slug": t["slug"], "name": t["name"], "failing": 0, "checked": 0, "weighted_failing": 0,
              "weighted_checked": 0, "by_check": {}, "objects": {}}
        for tid, t in teams.items()
    }
    check_rows = []
    for check in registered:
        team_field = f"{check.team_field}_id" if "__" not in check.team_field else check.team_field
        failing = _counts_by_team(check.failing(), team_field)
        applicable = _counts_by_team(check.applicable(), team_field)
        for tid, n in applicable.items():
            if tid in per_team:
                per_team[tid]["checked"] += n
                per_team[tid]["weighted_checked"] += n * check.weight
        total = 0
        for tid, n in failing.items():
            total += n
            if tid in per_team:
                per_team[tid]["failing"] += n
                per_team[tid]["weighted_failing"] += n * check.weight
                per_team[tid]["by_check"][check.key] = n
        if with_objects:
            for row in check.failing().order_by("name").values("slug", "name", team_field):
                if row[team_field] in per_team:
                    listed = per_team[row[team_field]]["objects"].setdefault(check.key, [])
                    # A page, not a dump: a team failing a check 5,000 times sees the first
                    # OBJECTS_PER_CHECK by name and how many more there are.
                    if len(listed) < OBJECTS_PER_CHECK:
                        listed.append({"slug": row["slug"], "name": row["name"],
                                       "url": object_url(check.kind, row["slug"])})
        check_rows.append({
            "key": check.key, "name": check.name, "severity": check.severity, "fix": check.fix,
            "applies_to": check.kind, "failing": total,
        })
    team_rows = []
    for team in per_team.values():
        if team["weighted_checked"]:
            team["score"] = round(100 * (1 - team["weighted_failing"] / team["weighted_checked"]), 1)
        else:
            team["score"] = None
        team.pop("weighted_checked")
        team.pop("weighted_failing")
        if not with_objects:
            team.pop("objects")
        team_rows.append(team)
    team_rows.sort(key=lambda t: (t["score"] is None, -(t["score"] or 0), t["failing"], t["name"]))
    for rank, team in enumerate(team_rows, start=1):
        team["rank"] = rank
    return {"checks": check_rows, "teams": team_rows}


def failing_checks_for(obj) -> list[dict]:
    """The checks ``obj`` fails (one EXISTS query per check that applies to its model)."""
    result = []
    for check in checks():
        if isinstance(obj, check.applies_to) and check.failing().filter(pk=obj.pk).exists():
            result.append({"key": check.key, "name": check.name, "severity": check.severity, "fix": check.fix})
    return result
