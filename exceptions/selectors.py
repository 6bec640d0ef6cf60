"""Reads that are more than one line: the queue overview, the timeline, routing previews."""

from collections import defaultdict
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db.models import Avg, Count, DurationField, Exists, ExpressionWrapper, F, OuterRef, Q, Sum
from django.utils import timezone

from controlplane import roles
from controlplane.audit import action_label, display_name, history, readable_changes

from .choices import SEVERITY_ORDER, Status
from .models import BusinessException, Queue, RoutingRule


def queue_overview(now=None, user=None):
    """Per queue: open and overdue counts and amount at risk, split by severity. The
    numbers come from one GROUP BY; Python only pivots the (small) result."""
    now = now or timezone.now()
    visible = BusinessException.objects.all() if user is None else BusinessException.objects.visible_to(user)
    rows = (
        visible.open()
        .values("queue_id", "severity", "currency")
        .annotate(open=Count("id"), overdue=Count("id", filter=Q(due_at__lt=now)), amount=Sum("amount_at_risk"))
        .order_by()
    )
    queues = {q.pk: q for q in Queue.objects.select_related("team")}
    table = {}
    for pk, queue in queues.items():
        table[pk] = {
            "queue": queue, "open": 0, "overdue": 0, "amounts": defaultdict(Decimal),
            "by_severity": {s.value: {"open": 0, "overdue": 0, "amounts": defaultdict(Decimal)} for s in SEVERITY_ORDER},
        }
    for row in rows:
        entry = table.get(row["queue_id"])
        if entry is None:
            continue
        cell = entry["by_severity"][row["severity"]]
        for target in (entry, cell):
            target["open"] += row["open"]
            target["overdue"] += row["overdue"]
            target["amounts"][row["currency"] or "—"] += row["amount"] or Decimal("0")
    result = []
    for entry in table.values():
        entry["amounts"] = _at_risk(entry["amounts"])
        entry["severities"] = [
            (sev.value, sev.label, c["open"], c["overdue"], _at_risk(c["amounts"]))
            for sev in SEVERITY_ORDER for c in [entry["by_severity"][sev.value]]
        ]
        result.append(entry)
    result.sort(key=lambda e: (-e["overdue"], -e["open"], e["queue"].name))
    return result


def _at_risk(amounts):
    """(currency, sum) lines worth showing: items with nothing at stake (amount 0, often
    no currency) are counted as open but add no "GBP 0.00" or "— 0.00" line."""
    return sorted((currency, total) for currency, total in amounts.items() if total)


WORK_PERMISSION = ("exceptions", "change_businessexception")


def may_work(queue: Queue):
    """The people who may work ``queue``'s exceptions: the one list that the assignee
    choice, assignment (page, API, bulk) and ``@mentions`` use.

    Active people holding the permission to work exceptions (Finance, or a superuser), never
    a service account (an account with an API token, or in the Integration role) nor an
    Executive, and for a restricted queue only members of its team (and superusers)."""
    User = get_user_model()
    perm = Permission.objects.filter(content_type__app_label=WORK_PERMISSION[0], codename=WORK_PERMISSION[1])
    holds = Q(groups__permissions__in=perm) | Q(user_permissions__in=perm)
    from controlplane.models import ServiceToken

    people = (
        User.objects.filter(is_active=True)
        .filter(Q(is_superuser=True) | Q(pk__in=User.objects.filter(holds).values("pk")))
        .exclude(Exists(ServiceToken.objects.filter(user=OuterRef("pk"))))
        .exclude(groups__name__in=[roles.EXECUTIVE, roles.INTEGRATION])
    )
    if queue.restricted:
        from catalog.models import TeamMember

        members = TeamMember.objects.filter(team_id=queue.team_id, user__isnull=False).values("user_id")
        people = people.filter(Q(is_superuser=True) | Q(pk__in=members))
    return people.order_by("username")


def timeline(exc: BusinessException):
    """Occurrences, moves, comments and replay attempts in time order (newest first)."""
    events = [{"at": exc.first_seen, "kind": "occurrence", "title": "First seen", "text": exc.message[:300]}]
    if exc.occurrences > 1:
        events.append({"at": exc.last_seen, "kind": "occurrence", "title": f"Last seen ({exc.occurrences} occurrences)", "text": ""})
    for entry in readable_changes(history(exc, limit=200)):
        events.append({"at": entry.created_at, "kind": "move", "title": action_label(entry.action),
                       "who": display_name(entry.actor) if entry.actor else entry.actor_repr or "system", "text": entry.note, "changes": entry.readable})
    for comment in exc.comments.select_related("author"):
        events.append({"at": comment.created_at, "kind": "comment", "title": "Comment",
                       "who": display_name(comment.author) if comment.author else "—", "text": comment.body})
    for attempt in exc.replay_attempts.all():
        outcome = ("succeeded" if attempt.succeeded else (attempt.error or "failed")) if attempt.finished_at \
            else "queued, not sent yet"
        events.append({"at": attempt.started_at, "kind": "replay",
                       "title": f"Replay attempt {attempt.attempt}: {outcome}",
                       "text": attempt.response_excerpt[:300], "status_code": attempt.status_code})
    events.sort(key=lambda e: e["at"], reverse=True)
    return events


def routing_preview(edited: RoutingRule, *, user, delete: bool = False, limit: int = 300):
    """Which of the most recent open exceptions ``user`` may see would route to a
    different queue if ``edited`` (unsaved) replaced its saved version (or was added, or
    ``delete``d): routing under the saved rules compared with routing under the edited set.
    Exceptions of restricted queues the user is not a member of are neither listed nor
    counted (the same ``visible_to`` rule as the list)."""
    from .services.routing import Router

    saved = list(RoutingRule.objects.filter(enabled=True).select_related("queue").order_by("position", "id"))
    rules = [r for r in saved if r.pk != edited.pk]
    if not delete and edited.enabled:
        rules.append(edited)
        rules.sort(key=lambda r: (r.position, r.pk or 10**12))
    before, after = Router(rules=saved), Router(rules=rules)
    recent = (
        BusinessException.objects.visible_to(user).open().select_related("integration", "queue")
        .order_by("-last_seen", "-id")[:limit]
    )
    changes = []
    for exc in recent:
        args = {"integration": exc.integration, "entity_id": exc.entity_id, "error_code": exc.error_code,
                "severity": exc.reported_severity, "business_keys": exc.business_keys}
        old_queue = before.route(**args)[0]
        new_queue, _assignee, _severity, rule = after.route(**args)
        if new_queue.pk != old_queue.pk:
            changes.append({"exception": exc, "current": exc.queue, "was": old_queue, "proposed": new_queue, "rule": rule})
    return changes


def resolution_hours_by_integration(*, integration_ids, since, until=None) -> dict[int, float]:
    """Mean hours from first seen to resolved, per integration, for exceptions resolved in
    [since, until). One aggregate query; ``integration_ids=None`` means every integration."""
    until = until or timezone.now()
    rows = BusinessException.objects.filter(status=Status.RESOLVED, resolved_at__gte=since, resolved_at__lt=until)
    if integration_ids is not None:
        rows = rows.filter(integration_id__in=list(integration_ids))
    rows = (
        rows.values("integration_id")
        .annotate(mean=Avg(ExpressionWrapper(F("resolved_at") - F("first_seen"), output_field=DurationField())))
    )
    return {row["integration_id"]: row["mean"].total_seconds() / 3600.0 for row in rows if row["mean"] is not None}


# --- finding exceptions by key (the header's global search) --------------------------------


def by_key(user, term: str):
    """Visible exceptions whose business key or correlation id is exactly ``term`` (or
    ``EXC-<id>``): the list filter's indexed lookup, so it stays fast at any size."""
    from .filtersets import BusinessExceptionFilterSet

    visible = BusinessException.objects.visible_to(user).select_related("integration", "queue")
    return BusinessExceptionFilterSet(queryset=visible).filter_q(visible, "q", term).order_by("-last_seen", "-id")


def key_contains_is_cheap() -> bool:
    """A ``contains`` search scans the table (no index serves ``LIKE '%x%'``), so it is
    offered only while the table is small enough for a scan to be quick. The bounded
    count stops at the limit, so asking costs at most that many index entries."""
    from django.conf import settings

    limit = settings.EXCEPTIONS_CONTAINS_SEARCH_MAX_ROWS
    return BusinessException.objects.order_by()[: limit + 1].count() <= limit


def by_key_contains(user, term: str):
    """Visible exceptions with ``term`` inside a business key or the correlation id."""
    from .choices import INDEXED_BUSINESS_KEYS

    cond = Q(correlation_id__icontains=term)
    for key in INDEXED_BUSINESS_KEYS:
        cond |= Q(**{f"{key}__icontains": term})
    return (
        BusinessException.objects.visible_to(user).filter(cond).select_related("integration", "queue")
        .order_by("-last_seen", "-id")
    )


def _refusal_detail(excerpt: str) -> str:
    """The target's own words for a refusal: the ``detail`` of a problem-details body
    (NetSuite's ``o:errorDetails``), else the start of the body."""
    import json

    try:
        body = json.loads(excerpt)
    except (ValueError, TypeError):
        return (excerpt or "")[:200]
    if isinstance(body, dict):
        details = body.get("o:errorDetails")
        if isinstance(details, list) and details and isinstance(details[0], dict) and details[0].get("detail"):
            return str(details[0]["detail"])[:200]
        for key in ("detail", "message", "error", "title"):
            if isinstance(body.get(key), str):
                return body[key][:200]
    return (excerpt or "")[:200]


def replay_state(exc: BusinessException, target=None):
    """Where the latest replay of ``exc`` stands, or None if it was never replayed:
    ``{"kind": queued | running | retrying | failed | succeeded, "attempt", "max_attempts",
    "status_code", "error", "detail", "at"}``. "failed" means no retry is coming (the last
    attempt was refused for good, or the attempts are used up): the page offers a retry."""
    from controlplane.models import AuditEntry

    from .models import ReplayAttempt

    last = ReplayAttempt.objects.filter(exception=exc).order_by("-started_at", "-id").first()
    requested = (AuditEntry.objects.for_object(exc).filter(action="businessexception.replay_requested")
                 .order_by("-created_at").values_list("created_at", flat=True).first())
    if last is None and requested is None:
        return None
    if last is None or (requested is not None and requested > last.started_at and last.finished_at is not None):
        return {"kind": "queued", "at": requested}
    max_attempts = target.max_attempts if target is not None else last.attempt
    state = {"attempt": last.attempt, "max_attempts": max_attempts, "status_code": last.status_code,
             "error": last.error, "detail": _refusal_detail(last.response_excerpt) or last.error, "at": last.started_at}
    if last.finished_at is None:
        return {**state, "kind": "running"}
    if last.succeeded:
        return {**state, "kind": "succeeded"}
    code = last.status_code
    # As exceptions.replay decides: refused by the guard or a request we cannot send is final.
    retryable = not last.error.startswith(("denied", "invalid_request")) and (
        code is None or code >= 500 or code in (408, 425, 429))
    if retryable and last.attempt < max_attempts and exc.is_open:
        return {**state, "kind": "retrying"}
    return {**state, "kind": "failed"}
