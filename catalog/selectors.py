"""Read querysets shared by the API, the HTML pages and the admin, shaped so a list runs a
fixed number of queries whatever its length."""

import copy
import threading
import time

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Prefetch, Q

from .choices import ApiLifecycle, IntegrationLifecycle, SystemLifecycle
from .models import (
    Api,
    CanonicalEntity,
    Domain,
    Integration,
    Sla,
    System,
    Team,
    TeamMember,
    Workflow,
    WorkflowStage,
)


def teams():
    return Team.objects.select_related("parent").prefetch_related(
        Prefetch("memberships", queryset=TeamMember.objects.select_related("user").order_by("name"))
    )


def team_list():
    return Team.objects.select_related("parent").annotate(
        member_count=Count("memberships", distinct=True),
        system_count=Count("systems", distinct=True),
        integration_count=Count("integrations", distinct=True),
    )


def team_members():
    return TeamMember.objects.select_related("team", "user")


def domains():
    return Domain.objects.select_related("owner_team")


def systems():
    return System.objects.select_related("owner_team", "domain")


def system_list():
    return systems().annotate(
        api_count=Count("apis", distinct=True),
    )


def apis():
    return Api.objects.select_related("provider_system", "owner_team")


def api_list():
    return apis().annotate(
        consumer_count=Count("integrations", filter=~Q(integrations__lifecycle=IntegrationLifecycle.RETIRED),
                             distinct=True)
    )


def entities():
    return CanonicalEntity.objects.select_related("domain")


def workflows():
    return Workflow.objects.select_related("domain", "owner_team")


def workflow_stages():
    return WorkflowStage.objects.select_related("workflow", "integration").order_by("workflow__name", "position")


def integrations():
    return Integration.objects.select_related(
        "source_system", "target_system", "middleware_system", "owner_team", "sla"
    ).prefetch_related(
        Prefetch("apis", queryset=Api.objects.only("id", "slug", "name", "lifecycle")),
        Prefetch("entities", queryset=CanonicalEntity.objects.only("id", "slug", "name")),
        Prefetch("workflows", queryset=Workflow.objects.only("id", "slug", "name")),
    )


def slas():
    return Sla.objects.select_related("integration")


def integrations_touching(system):
    return integrations().filter(
        Q(source_system=system) | Q(target_system=system) | Q(middleware_system=system)
    ).distinct()


def overview_counts() -> dict:
    """Counts for the catalog home page, a handful of aggregate queries."""
    return {
        "systems": System.objects.aggregate(
            total=Count("id"), active=Count("id", filter=Q(lifecycle=SystemLifecycle.ACTIVE)),
            retiring=Count("id", filter=Q(lifecycle__in=[SystemLifecycle.RETIRING, SystemLifecycle.LEGACY])),
        ),
        "apis": Api.objects.aggregate(
            total=Count("id"), published=Count("id", filter=Q(lifecycle=ApiLifecycle.PUBLISHED)),
            deprecated=Count("id", filter=Q(lifecycle=ApiLifecycle.DEPRECATED)),
            finance_sensitive=Count("id", filter=Q(finance_sensitive=True)),
        ),
        "integrations": Integration.objects.aggregate(
            total=Count("id"), active=Count("id", filter=Q(lifecycle=IntegrationLifecycle.ACTIVE)),
            tier1=Count("id", filter=Q(criticality=1)),
            without_sla=Count("id", filter=Q(sla__isnull=True) & ~Q(lifecycle=IntegrationLifecycle.RETIRED)),
        ),
        "teams": Team.objects.count(),
        "entities": CanonicalEntity.objects.count(),
        "workflows": Workflow.objects.count(),
        "domains": Domain.objects.count(),
    }


# --- integrations by slug, per process -------------------------------------------------
# Every machine post names its integration by slug, and integrations change rarely: each
# web process keeps what a lookup found for INTEGRATION_LOOKUP_CACHE_MS (1 s), so a change
# made in another process is honoured within that second; a save or delete in this process
# drops the cache at once and again when its transaction commits. Nothing is cached inside
# a transaction (it may see rows that are rolled back), and an unknown slug is not cached.
_by_slug: dict[str, tuple[float, Integration]] = {}
_by_slug_lock = threading.Lock()
_BY_SLUG_MAX = 10_000


def forget_integrations(**_signal_kwargs) -> None:
    """Drop this process's cached integrations (now and again after commit)."""
    _by_slug.clear()
    if connection.in_atomic_block:
        transaction.on_commit(_by_slug.clear)


def integrations_by_slug(slugs) -> dict[str, Integration]:
    """-> {slug: Integration} for the slugs that exist. Each answer is a copy: a caller may
    cache related objects on it without another request seeing them."""
    ttl = settings.INTEGRATION_LOOKUP_CACHE_MS / 1000
    cacheable = ttl > 0 and not connection.in_atomic_block
    now = time.monotonic()
    found, missing = {}, []
    for slug in slugs:
        hit = _by_slug.get(slug) if cacheable else None
        if hit is not None and now - hit[0] < ttl:
            found[slug] = copy.copy(hit[1])
        else:
            missing.append(slug)
    if missing:
        fresh = {i.slug: i for i in Integration.objects.filter(slug__in=missing).order_by()}
        if cacheable:
            with _by_slug_lock:
                if len(_by_slug) + len(fresh) > _BY_SLUG_MAX:
                    _by_slug.clear()
                _by_slug.update((slug, (now, obj)) for slug, obj in fresh.items())
            fresh = {slug: copy.copy(obj) for slug, obj in fresh.items()}
        found.update(fresh)
    return found
