"""The page after sign-in: each role's own work, each block linking to the list behind it.

One function per role, each a few aggregate queries (a query-count test keeps it so);
the home view shows the blocks of the roles the user holds (a superuser sees them all).
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from urllib.parse import urlencode

from django.db.models import Count, Exists, OuterRef, Q, Sum
from django.urls import reverse
from django.utils import timezone

from . import roles

LISTED = 5  # rows shown per block; the link goes to all of them


def _my_team_ids(user):
    from catalog.models import TeamMember

    return TeamMember.objects.filter(user=user).values("team_id")


def steward(user) -> dict:
    """Schema versions waiting for my review (not mine, not yet approved by me this round)
    and system-of-record proposals waiting for a decision I may take."""
    from stewardship import selectors

    waiting = selectors.waiting_for_review(user)
    proposals = selectors.pending_sor_proposals(user)
    return {
        "reviews": list(waiting[:LISTED]),
        "reviews_total": waiting.count(),
        "proposals": list(proposals[:LISTED]),
        "proposals_total": proposals.count(),
        "reviews_url": reverse("stewardship:home") + "#waiting-for-review",
        "proposals_url": reverse("stewardship:sor-matrix"),
    }


def finance(user, now=None) -> dict:
    """Open exceptions assigned to me (and how many overdue), and per queue of my teams:
    open, overdue and amount at risk per currency (never summed across currencies)."""
    from exceptions.models import BusinessException, Queue

    now = now or timezone.now()
    visible = BusinessException.objects.visible_to(user).open()
    mine = visible.filter(assignee=user).aggregate(open=Count("id"), overdue=Count("id", filter=Q(due_at__lt=now)))
    # My queues: those my teams own, and any where open work is assigned to me.
    assigned_here = visible.filter(assignee=user).values("queue_id")
    queues = {
        q.pk: q for q in Queue.objects.filter(Q(team_id__in=_my_team_ids(user)) | Q(pk__in=assigned_here))
        .select_related("team")
    }
    rows = (
        visible.filter(queue_id__in=list(queues))
        .values("queue_id", "currency")
        .annotate(open=Count("id"), overdue=Count("id", filter=Q(due_at__lt=now)), amount=Sum("amount_at_risk"))
        .order_by()
    )
    per_queue = {pk: {"queue": q, "open": 0, "overdue": 0, "amounts": defaultdict(Decimal)} for pk, q in queues.items()}
    totals = defaultdict(Decimal)
    for row in rows:
        entry = per_queue[row["queue_id"]]
        entry["open"] += row["open"]
        entry["overdue"] += row["overdue"]
        if row["amount"]:
            entry["amounts"][row["currency"] or "—"] += row["amount"]
            totals[row["currency"] or "—"] += row["amount"]
    listing = reverse("exceptions:list")
    result = []
    for entry in sorted(per_queue.values(), key=lambda e: (-e["overdue"], -e["open"], e["queue"].name)):
        query = {"queue": entry["queue"].pk, "status": "open"}
        entry["amounts"] = sorted(entry["amounts"].items())
        entry["url"] = f"{listing}?{urlencode(query)}"
        entry["overdue_url"] = f"{listing}?{urlencode({**query, 'overdue': 'true'})}"
        result.append(entry)
    return {
        "mine_open": mine["open"], "mine_overdue": mine["overdue"],
        "mine_url": reverse("exceptions:mine"), "mine_overdue_url": f"{reverse('exceptions:mine')}?overdue=true",
        "queues": result, "amounts": sorted(totals.items()),
        "overdue": sum(e["overdue"] for e in result), "open": sum(e["open"] for e in result),
    }


def architect(user) -> dict:
    """Integrations owned by my teams that are down (or late, degraded) or breach an SLA,
    and the scorecard checks my teams' systems, APIs and integrations fail."""
    from catalog import scorecards
    from catalog.models import Integration, Team
    from health.choices import Status
    from health.models import SlaBreach

    teams = list(Team.objects.filter(pk__in=_my_team_ids(user)).order_by("name"))
    team_ids = [t.pk for t in teams]
    bad = [Status.DOWN, Status.LATE, Status.DEGRADED]
    open_breach = SlaBreach.objects.filter(integration=OuterRef("pk"), closed_at__isnull=True)
    troubled = (
        Integration.objects.filter(owner_team_id__in=team_ids)
        .annotate(breaching=Exists(open_breach))
        .filter(Q(health__status__in=bad) | Q(breaching=True))
        .select_related("owner_team", "health")
        .order_by("name")
    )
    # (status, breaching) of each troubled integration: one small query over my teams' rows.
    states = list(troubled.values_list("health__status", "breaching"))
    counts = {"total": len(states), "down": sum(1 for status, _ in states if status == Status.DOWN),
              "breaching": sum(1 for _, breaching in states if breaching)}
    findings = []
    for check in scorecards.checks():
        field = f"{check.team_field}_id" if "__" not in check.team_field else check.team_field
        count = check.failing().filter(**{f"{field}__in": team_ids}).count() if team_ids else 0
        if count:
            findings.append({"name": check.name, "severity": check.severity, "count": count, "fix": check.fix})
    board = reverse("health:home")
    return {
        "teams": teams,
        "troubled": list(troubled[:LISTED * 2]),
        "troubled_total": counts["total"], "down": counts["down"], "breaching": counts["breaching"],
        "board_urls": [(t.name, f"{board}?{urlencode({'team': t.slug})}") for t in teams],
        "sla_url": reverse("health:sla"),
        "findings": findings,
        "scorecards_url": reverse("catalog_intel:scorecards"),
    }


def executive(user) -> dict:
    """The headline KPI cards of the week: value, target, status and trend (read-only)."""
    from .board import headline_kpis

    return {"cards": headline_kpis(), "kpis_url": reverse("kpis:home")}


BLOCKS = [
    (roles.STEWARD, "steward", steward),
    (roles.FINANCE, "finance", finance),
    (roles.ARCHITECT, "architect", architect),
    (roles.EXECUTIVE, "executive", executive),
]


def blocks_for(user) -> dict:
    held = roles.user_roles(user)
    return {key: build(user) for role, key, build in BLOCKS if user.is_superuser or role in held}
