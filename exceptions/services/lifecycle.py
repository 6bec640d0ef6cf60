"""The lifecycle moves of one exception (acknowledge, assign, resolve, dismiss, reopen),
bulk actions, comments and overdue marking."""

import logging
import re

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from catalog.services import team_emails
from controlplane import audit
from controlplane.errors import Conflict, InvalidTransition, ValidationFailed
from controlplane.links import absolute_url
from controlplane.validation import check_comment

from ..choices import (
    OPEN_STATUSES,
    Resolution,
    Status,
    can_move,
    raised,
)
from ..models import BusinessException, Comment
from ._shared import AUDIT_FIELDS as _AUDIT_FIELDS
from ._shared import _bulk_audit, _pk
from .replay import request_replay
from .routing import due_at

log = logging.getLogger(__name__)




# --- lifecycle -------------------------------------------------------------------------


def _move(exception, *, actor, to, action, expected_status=None, note="", **changes) -> BusinessException:
    # With the relations the API answer and the page show (integration, entity, queue and
    # assignee names), so returning the moved exception costs no lazy query per relation.
    fresh = BusinessException.objects.select_related("queue", "integration", "entity", "assignee").get(pk=_pk(exception))
    if expected_status and fresh.status != expected_status:
        raise Conflict(
            f"Someone else changed this exception first: it is now {fresh.get_status_display().lower()}. "
            "Reload to see the change.", fields={"status": [fresh.status]},
        )
    if not can_move(fresh.status, to):
        raise InvalidTransition(
            f"An exception that is {fresh.get_status_display().lower()} cannot become {Status(to).label.lower()}.",
        )
    before = audit.snapshot(fresh, _AUDIT_FIELDS)
    now = timezone.now()
    changed = BusinessException.objects.filter(pk=fresh.pk, status=fresh.status).update(status=to, updated_at=now, **changes)
    if not changed:
        raise Conflict("Someone else changed this exception at the same moment. Reload and try again.")
    if any(hasattr(value, "resolve_expression") for value in changes.values()):
        fresh.refresh_from_db()
    else:
        # The row now holds exactly what was written, so set it rather than read it back
        # (a changed foreign key id drops the cached related object, which loads on use).
        fresh.status, fresh.updated_at = to, now
        for name, value in changes.items():
            setattr(fresh, name, value)
    audit.record(actor=actor, action=action, obj=fresh, before=before, after=audit.snapshot(fresh, _AUDIT_FIELDS), note=note)
    return fresh


NOT_ELIGIBLE = "Choose someone who may work this exception."


def eligible_assignee(*, exception, assignee, actor=None):
    """``assignee`` (a user or a username) if they may work ``exception`` (``selectors.may_work``),
    else ValidationFailed. An unknown name and an ineligible one get the same answer, so
    the check does not tell which usernames exist. The actor taking it on themselves is
    not re-checked (their permission was, by the view)."""
    from ..selectors import may_work

    if assignee is None:
        return None
    if actor is not None and not isinstance(assignee, str) and assignee.pk == getattr(actor, "pk", None):
        return assignee
    queue = exception.queue if isinstance(exception, BusinessException) else \
        BusinessException.objects.select_related("queue").get(pk=_pk(exception)).queue
    people = may_work(queue)
    found = (people.filter(username=assignee) if isinstance(assignee, str) else people.filter(pk=assignee.pk)).first()
    if found is None:
        raise ValidationFailed(NOT_ELIGIBLE, fields={"assignee": [NOT_ELIGIBLE]})
    return found


@transaction.atomic
def acknowledge(*, exception, actor, assignee=None, expected_status=None) -> BusinessException:
    """Take it on: acknowledged and assigned (to the actor unless someone else is named,
    who must be someone who may work it)."""
    who = eligible_assignee(exception=exception, assignee=assignee, actor=actor) or actor
    return _move(exception, actor=actor, to=Status.ACKNOWLEDGED, action="businessexception.acknowledged",
                 expected_status=expected_status, assignee_id=who.pk)


@transaction.atomic
def assign(*, exception, actor, assignee, expected_status=None) -> BusinessException:
    """Give it to someone who may work it (a user or a username; None unassigns). New and
    reopened exceptions become acknowledged; others keep their state and change hands."""
    fresh = BusinessException.objects.select_related("queue").get(pk=_pk(exception))
    assignee = eligible_assignee(exception=fresh, assignee=assignee, actor=actor)
    if fresh.status in (Status.NEW, Status.REOPENED):
        return _move(fresh, actor=actor, to=Status.ACKNOWLEDGED, action="businessexception.assigned",
                     expected_status=expected_status, assignee_id=assignee.pk if assignee else None)
    if fresh.status not in OPEN_STATUSES:
        raise InvalidTransition("Closed exceptions cannot be assigned; reopen it first.")
    if expected_status and fresh.status != expected_status:
        raise Conflict(f"Someone else changed this exception first: it is now {fresh.get_status_display().lower()}.")
    before = audit.snapshot(fresh, _AUDIT_FIELDS)
    changed = BusinessException.objects.filter(pk=fresh.pk, status=fresh.status, assignee_id=fresh.assignee_id).update(
        assignee_id=assignee.pk if assignee else None, updated_at=timezone.now()
    )
    if not changed:
        raise Conflict("Someone else changed this exception at the same moment. Reload and try again.")
    fresh.refresh_from_db()
    audit.record(actor=actor, action="businessexception.assigned", obj=fresh, before=before,
                 after=audit.snapshot(fresh, _AUDIT_FIELDS))
    return fresh


@transaction.atomic
def start_progress(*, exception, actor, expected_status=None) -> BusinessException:
    fresh = BusinessException.objects.get(pk=_pk(exception))
    extra = {} if fresh.assignee_id else {"assignee_id": actor.pk}
    return _move(fresh, actor=actor, to=Status.IN_PROGRESS, action="businessexception.started",
                 expected_status=expected_status, **extra)


@transaction.atomic
def resolve(*, exception, actor, resolution_code: str, note: str = "", expected_status=None) -> BusinessException:
    if resolution_code not in Resolution.values:
        raise ValidationFailed("Choose a resolution code.", fields={"resolution_code": ["Choose a resolution code."]})
    return _move(exception, actor=actor, to=Status.RESOLVED, action="businessexception.resolved",
                 expected_status=expected_status, note=note, resolution_code=resolution_code,
                 resolution_note=note, resolved_at=timezone.now(), is_overdue=False)


@transaction.atomic
def dismiss(*, exception, actor, resolution_code: str = Resolution.NOT_AN_ERROR, note: str = "",
            expected_status=None) -> BusinessException:
    if resolution_code not in Resolution.values:
        raise ValidationFailed("Choose a resolution code.", fields={"resolution_code": ["Choose a resolution code."]})
    return _move(exception, actor=actor, to=Status.DISMISSED, action="businessexception.dismissed",
                 expected_status=expected_status, note=note, resolution_code=resolution_code,
                 resolution_note=note, resolved_at=timezone.now(), is_overdue=False)


@transaction.atomic
def reopen(*, exception, actor, note: str = "", expected_status=None) -> BusinessException:
    fresh = BusinessException.objects.select_related("queue").get(pk=_pk(exception))
    now = timezone.now()
    return _move(fresh, actor=actor, to=Status.REOPENED, action="businessexception.reopened",
                 expected_status=expected_status, note=note, resolved_at=None,
                 due_at=due_at(fresh.queue, fresh.severity, now), is_overdue=False)


ACTIONS = {
    "acknowledge": acknowledge,
    "start": start_progress,
    "resolve": resolve,
    "dismiss": dismiss,
    "reopen": reopen,
}


def bulk_apply(*, ids, actor, action: str, **kwargs) -> tuple[list[int], dict[int, str]]:
    """Apply one action to many exceptions, each in its own transaction: one that moved
    meanwhile is reported, not allowed to undo the rest. -> (done ids, {id: reason})."""
    from controlplane.errors import DomainError

    done, failed = [], {}
    # One intent per exception: an id listed twice is acted on once (a replay sent once).
    ids = list(dict.fromkeys(ids))
    # Exceptions in restricted queues the actor may not see are "not found", as on the detail page.
    visible = set(BusinessException.objects.visible_to(actor).filter(pk__in=ids).values_list("pk", flat=True))
    for pk in ids:
        if pk not in visible:
            failed[pk] = "Not found."
            continue
        try:
            if action == "assign":
                assign(exception=pk, actor=actor, **kwargs)
            elif action == "replay":
                request_replay(exception=pk, actor=actor)
            else:
                ACTIONS[action](exception=pk, actor=actor, **kwargs)
            done.append(pk)
        except DomainError as exc:
            failed[pk] = exc.message
        except BusinessException.DoesNotExist:
            failed[pk] = "Not found."
    return done, failed


# --- comments --------------------------------------------------------------------------

MENTION_RE = re.compile(r"(?<![\w@])@([\w.+-]+)")


@transaction.atomic
def add_comment(*, exception, actor, body: str) -> Comment:
    """A comment; ``@username`` mentions of people who may work the exception
    (``selectors.may_work``) link them and email them. A mention of anyone else (unknown,
    a service account, an executive, not in a restricted queue's team) stays plain text,
    exactly like a name that does not exist."""
    from ..selectors import may_work

    body = (body or "").strip()
    if not body:
        raise ValidationFailed("Write something first.", fields={"body": ["This field is required."]})
    check_comment(body, field="body")
    exc = BusinessException.objects.select_related("queue").get(pk=_pk(exception))
    names = {m.rstrip(".") for m in MENTION_RE.findall(body)}
    users = list(may_work(exc.queue).filter(username__in=names)) if names else []
    comment = Comment.objects.create(exception=exc, author=actor, body=body)
    if users:
        comment.mentions.set(users)
    audit.record(actor=actor, action="businessexception.commented", obj=exc,
                 note=body[:500] + (f" (mentions: {', '.join(u.username for u in users)})" if users else ""))
    recipients = [u.email for u in users if u.email and u.pk != getattr(actor, "pk", None)]
    if recipients:
        link = absolute_url(exc.get_absolute_url())
        transaction.on_commit(lambda: send_mail(
            f"You were mentioned on {exc}", f"{actor} wrote:\n\n{body}\n\n{link}",
            settings.DEFAULT_FROM_EMAIL, recipients, fail_silently=True,
        ))
    return comment



# --- overdue ---------------------------------------------------------------------------


@transaction.atomic
def mark_overdue(*, now=None, actor=None) -> int:
    """Flag open exceptions past their due time, raise severity where the queue says so,
    and email each queue's team once with what went overdue. Returns how many."""
    now = now or timezone.now()
    newly = list(
        BusinessException.objects.overdue(now).filter(is_overdue=False)
        .select_related("queue", "queue__team").select_for_update(of=("self",))
    )
    if not newly:
        return 0
    plain = [e.pk for e in newly if not e.queue.raise_severity_when_overdue]
    BusinessException.objects.filter(pk__in=plain, is_overdue=False).update(is_overdue=True, updated_at=now)
    for exc in newly:
        if exc.queue.raise_severity_when_overdue:
            new_sev = raised(exc.severity)
            BusinessException.objects.filter(pk=exc.pk).update(is_overdue=True, severity=new_sev, updated_at=now)
            exc.severity = new_sev
        exc.is_overdue = True
    _bulk_audit(actor, "businessexception.overdue", newly, note="past due")
    by_queue: dict[int, list[BusinessException]] = {}
    for exc in newly:
        by_queue.setdefault(exc.queue_id, []).append(exc)
    for items in by_queue.values():
        queue = items[0].queue
        recipients = team_emails(queue.team)
        if not recipients:
            continue
        lines = [f"- {e} {e.message[:80]} (due {e.due_at:%Y-%m-%d %H:%M} UTC, severity {e.severity})" for e in items[:50]]
        more = f"\n... and {len(items) - 50} more" if len(items) > 50 else ""
        link = absolute_url(f"{reverse('exceptions:list')}?queue={queue.pk}&overdue=true")
        body = f"{len(items)} exception(s) in queue {queue} went overdue:\n\n" + "\n".join(lines) + more + f"\n\n{link}"
        subject = f"[{queue}] {len(items)} exception(s) overdue"
        transaction.on_commit(lambda s=subject, b=body, r=recipients: send_mail(
            s, b, settings.DEFAULT_FROM_EMAIL, r, fail_silently=True))
    return len(newly)
