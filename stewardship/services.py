"""Every write of the stewardship app: one function per action, each in one transaction
with one audit row (two when an approval also supersedes or publishes)."""

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from controlplane import audit, outbox
from controlplane.errors import Conflict, InvalidTransition, NotAllowed, ValidationFailed
from controlplane.validation import check_comment

from . import notifications
from .choices import (
    EDITABLE_STATES,
    SOR_TRANSITIONS,
    CompatLevel,
    ReviewDecision,
    ScopeType,
    SorStatus,
    VersionStatus,
)
from .compat import counterexamples
from .models import (
    FindingAcceptance,
    Review,
    SchemaSubject,
    SchemaVersion,
    SorAssignment,
    StewardshipSettings,
)
from .selectors import affected_integrations, approved_versions, requires_two_approvals


def _is_steward(user) -> bool:
    return bool(user) and user.has_perm("stewardship.review_schemaversion")


def _min_justification() -> int:
    return getattr(settings, "STEWARDSHIP_MIN_JUSTIFICATION", 20)


# --- Systems of record -------------------------------------------------------------------


@transaction.atomic
def propose_sor(*, actor, entity, system, scope_type=ScopeType.GLOBAL, scope_value="", attribute_group="all",
                steward=None, effective_from=None, effective_to=None, comments="") -> SorAssignment:
    scope_value = (scope_value or "").strip()
    attribute_group = (attribute_group or "all").strip() or "all"
    fields = {}
    if scope_type == ScopeType.GLOBAL and scope_value:
        fields["scope_value"] = ["A global assignment has no scope value."]
    if scope_type != ScopeType.GLOBAL and not scope_value:
        fields["scope_value"] = ["Name the region, legal entity or business unit."]
    if effective_from and effective_to and effective_to < effective_from:
        fields["effective_to"] = ["Ends before it starts."]
    if fields:
        raise ValidationFailed(next(iter(fields.values()))[0], fields=fields)
    assignment = SorAssignment.objects.create(
        entity=entity, system=system, scope_type=scope_type, scope_value=scope_value,
        attribute_group=attribute_group, steward=steward or actor, effective_from=effective_from,
        effective_to=effective_to, comments=comments, proposed_by=actor, status=SorStatus.PROPOSED,
    )
    audit.record(actor=actor, action="sor.propose", obj=assignment, after=audit.snapshot(assignment))
    return assignment


def _lock_sor(assignment, target):
    locked = SorAssignment.objects.select_for_update().get(pk=assignment.pk)
    if locked.status != assignment.status:
        raise Conflict(f"This proposal was {locked.get_status_display().lower()} by someone else meanwhile.")
    if target not in SOR_TRANSITIONS[SorStatus(locked.status)]:
        raise InvalidTransition(f"A {locked.get_status_display().lower()} assignment cannot be {target}.")
    return locked


def _check_decider(actor, assignment):
    if not actor.has_perm("stewardship.decide_sorassignment"):
        raise NotAllowed("Only stewards decide on system-of-record proposals.")
    if assignment.proposed_by_id == actor.pk:
        raise NotAllowed("A steward other than the proposer must decide on this proposal.")


@transaction.atomic
def approve_sor(*, actor, assignment, comment="") -> SorAssignment:
    """Approve a proposal; the currently approved assignment of the same slice is
    superseded in the same transaction."""
    locked = _lock_sor(assignment, SorStatus.APPROVED)
    _check_decider(actor, locked)
    now = timezone.now()
    current = (
        SorAssignment.objects.select_for_update()
        .filter(entity_id=locked.entity_id, scope_type=locked.scope_type, scope_value=locked.scope_value,
                attribute_group=locked.attribute_group, status=SorStatus.APPROVED)
        .first()
    )
    if current is not None:
        before_current = audit.snapshot(current, ["status", "effective_to"])
        current.status = SorStatus.SUPERSEDED
        if current.effective_to is None:
            current.effective_to = locked.effective_from or now.date()
        current.save(update_fields=["status", "effective_to"])
        audit.record(actor=actor, action="sor.supersede", obj=current, before=before_current,
                     after=audit.snapshot(current, ["status", "effective_to"]), note=f"superseded by #{locked.pk}")
    before = audit.snapshot(locked, ["status", "decided_by", "decided_at", "effective_from"])
    locked.status = SorStatus.APPROVED
    locked.decided_by = actor
    locked.decided_at = now
    if locked.effective_from is None:
        locked.effective_from = now.date()
    if comment:
        locked.comments = (locked.comments + "\n" + comment).strip()
    try:
        with transaction.atomic():
            locked.save(update_fields=["status", "decided_by", "decided_at", "effective_from", "comments"])
    except IntegrityError as exc:  # another approval of the same slice won the race
        raise Conflict("Another assignment of this scope was approved at the same time.") from exc
    audit.record(actor=actor, action="sor.approve", obj=locked, before=before,
                 after=audit.snapshot(locked, ["status", "decided_by", "decided_at", "effective_from"]), note=comment)
    return locked


@transaction.atomic
def reject_sor(*, actor, assignment, comment="") -> SorAssignment:
    locked = _lock_sor(assignment, SorStatus.REJECTED)
    _check_decider(actor, locked)
    before = audit.snapshot(locked, ["status", "decided_by"])
    locked.status = SorStatus.REJECTED
    locked.decided_by = actor
    locked.decided_at = timezone.now()
    if comment:
        locked.comments = (locked.comments + "\n" + comment).strip()
    locked.save(update_fields=["status", "decided_by", "decided_at", "comments"])
    audit.record(actor=actor, action="sor.reject", obj=locked, before=before,
                 after=audit.snapshot(locked, ["status", "decided_by"]), note=comment)
    return locked


# --- Schema subjects -----------------------------------------------------------------------


@transaction.atomic
def create_subject(*, actor, name, slug, format, entity=None, api=None, compatibility_level="", policy="",
                   description="") -> SchemaSubject:
    if (entity is None) == (api is None):
        raise ValidationFailed("A subject is the schema of one entity or one API.", fields={"entity": ["Choose an entity or an API, not both."]})
    if entity is not None and format != "json-schema":
        raise ValidationFailed("An entity's schema is a JSON Schema.", fields={"format": ["Entities use JSON Schema."]})
    if SchemaSubject.objects.filter(slug=slug).exists():
        raise ValidationFailed("That slug is taken.", fields={"slug": ["A subject with this slug exists."]})
    subject = SchemaSubject.objects.create(
        name=name, slug=slug, format=format, entity=entity, api=api, compatibility_level=compatibility_level or "",
        policy=policy or "", description=description, created_by=actor,
    )
    audit.record(actor=actor, action="subject.create", obj=subject, after=audit.snapshot(subject))
    return subject


@transaction.atomic
def update_subject(*, actor, subject, **changes) -> SchemaSubject:
    allowed = {"name", "description", "compatibility_level", "policy"}
    unknown = set(changes) - allowed
    if unknown:
        raise ValidationFailed(f"Cannot change {', '.join(sorted(unknown))}.")
    before = audit.snapshot(subject, list(changes))
    for key, value in changes.items():
        setattr(subject, key, value or "")
    subject.save(update_fields=[*changes, "updated_at"])
    audit.record(actor=actor, action="subject.update", obj=subject, before=before, after=audit.snapshot(subject, list(changes)))
    return subject


@transaction.atomic
def update_settings(*, actor, **changes) -> StewardshipSettings:
    """Change the global defaults subjects inherit (compatibility level and policy)."""
    allowed = {"default_level", "default_policy"}
    unknown = set(changes) - allowed
    if unknown:
        raise ValidationFailed(f"Cannot change {', '.join(sorted(unknown))}.")
    row = StewardshipSettings.get()
    row = StewardshipSettings.objects.select_for_update().get(pk=row.pk)
    before = audit.snapshot(row, list(changes))
    for key, value in changes.items():
        setattr(row, key, value)
    row.full_clean()
    after = audit.snapshot(row, list(changes))
    changed = [key for key in changes if before.get(key) != after.get(key)]
    if changed:
        row.save(update_fields=[*changed, "updated_at"])
        audit.record(actor=actor, action="stewardship_settings.update", obj=row,
                     before={k: before[k] for k in changed}, after={k: after[k] for k in changed})
    return row


# --- Schema versions -----------------------------------------------------------------------


def _check_document(document):
    if not isinstance(document, dict):
        raise ValidationFailed("The schema document must be a JSON object.", fields={"document": ["Expected a JSON object."]})


@transaction.atomic
def create_draft(*, actor, subject, document, change_summary="") -> SchemaVersion:
    _check_document(document)
    version = SchemaVersion.objects.create(subject=subject, document=document, author=actor, change_summary=change_summary)
    audit.record(actor=actor, action="schemaversion.create", obj=version, after={"status": version.status})
    return version


def _lock_version(version, *, allowed_from):
    """Lock the row; a state changed since the caller read it means somebody else acted
    first (Conflict), a state that never allowed the move is InvalidTransition."""
    locked = SchemaVersion.objects.select_for_update().select_related("subject").get(pk=version.pk)
    if locked.status != version.status or locked.round != version.round:
        raise Conflict(
            f"This version changed meanwhile (now {locked.get_status_display().lower()}); reload and try again."
        )
    if locked.status not in allowed_from:
        raise InvalidTransition(f"Not possible while the version is {locked.get_status_display().lower()}.")
    return locked


@transaction.atomic
def update_draft(*, actor, version, document, change_summary=None) -> SchemaVersion:
    _check_document(document)
    locked = _lock_version(version, allowed_from=EDITABLE_STATES)
    if locked.author_id != actor.pk:
        raise NotAllowed("Only the author edits a draft.")
    locked.document = document
    fields = ["document", "updated_at"]
    if change_summary is not None:
        locked.change_summary = change_summary
        fields.append("change_summary")
    locked.save(update_fields=fields)
    audit.record(actor=actor, action="schemaversion.update", obj=locked, note="document edited")
    return locked


def _run_check(subject, document, defaults=None):
    from stewardship import compat

    level = subject.effective_level(defaults)
    policy = subject.effective_policy(defaults)
    approved = list(approved_versions(subject))
    if level == CompatLevel.NONE or not approved:
        report = {"compatible": True, "timed_out": False, "findings": [], "checked_versions": []}
    else:
        report = compat.check(
            new=document, previous=[v.document for v in approved], level=level, policy=policy, fmt=subject.format,
            previous_versions=[v.number for v in approved],
            time_budget=getattr(settings, "STEWARDSHIP_CHECK_TIME_BUDGET", 5.0),
        ).to_dict()
        # Plain sentences and verified counterexamples, stored with the report.
        counterexamples.enrich(report, new=document, previous_by_number={v.number: v.document for v in approved},
                               fmt=subject.format,
                               budget=getattr(settings, "STEWARDSHIP_COUNTEREXAMPLE_BUDGET", 2.0))
    return level, policy, report, (approved[-1] if approved else None)


def preview(*, subject, document) -> dict:
    """The compatibility report ``document`` would get if it were submitted now, against the
    subject's level and policy; nothing is stored. Invalid documents get their errors."""
    from stewardship import compat

    _check_document(document)
    errors = list(compat.validate_schema(document, subject.format))
    level, policy = subject.effective_level(), subject.effective_policy()
    if errors:
        return {"valid": False, "errors": errors, "level": level, "policy": policy, "report": None}
    level, policy, report, latest = _run_check(subject, document)
    return {"valid": True, "errors": [], "level": level, "policy": policy, "report": report,
            "compared_with": latest.display_name if latest else None}


def submit(*, actor, version) -> SchemaVersion:
    """Send a draft for review: the document must be a valid schema of the subject's
    format (otherwise the errors are stored on the draft and the submission is refused);
    the compatibility report against the approved versions is stored."""
    from stewardship import compat

    if version.author_id != actor.pk:
        raise NotAllowed("Only the author submits a version.")
    errors = list(compat.validate_schema(version.document, version.subject.format))
    if errors:
        # Kept on the draft (outside the refused transaction) so the author sees them.
        SchemaVersion.objects.filter(pk=version.pk, status__in=list(EDITABLE_STATES)).update(validity_errors=errors)
        raise ValidationFailed(
            f"The document is not a valid {version.subject.get_format_display()} document.",
            fields={"document": errors},
        )
    return _submit(actor=actor, version=version)


@transaction.atomic
def _submit(*, actor, version) -> SchemaVersion:
    from stewardship import compat

    locked = _lock_version(version, allowed_from={VersionStatus.DRAFT, VersionStatus.CHANGES_REQUESTED})
    subject = locked.subject
    errors = compat.validate_schema(locked.document, subject.format)
    if errors:  # edited meanwhile into something invalid
        raise ValidationFailed("The document is not valid.", fields={"document": list(errors)})
    level, policy, report, latest = _run_check(subject, locked.document)
    before = audit.snapshot(locked, ["status", "round"])
    locked.status = VersionStatus.IN_REVIEW
    locked.round += 1
    locked.submitted_at = timezone.now()
    locked.validity_errors = []
    locked.compat_report = report
    locked.compared_with = latest
    locked.level = level
    locked.policy = policy
    locked.required_approvals = 2 if requires_two_approvals(subject) else 1
    locked.save(update_fields=["status", "round", "submitted_at", "validity_errors", "compat_report", "compared_with",
                               "level", "policy", "required_approvals", "updated_at"])
    audit.record(actor=actor, action="schemaversion.submit", obj=locked, before=before,
                 after={**audit.snapshot(locked, ["status", "round", "required_approvals"]),
                        "compatible": report.get("compatible"), "findings": len(report.get("findings", []))})
    _notify_on_commit(locked.pk, "submitted")
    notifications.publish_event(locked, "submitted")
    return locked


def _notify_on_commit(version_id, event):
    # Through the outbox: sent after commit, or by the relay after a broker outage.
    outbox.enqueue("stewardship.tasks.notify_consumers", version_id, event)


def _check_reviewer(actor, version):
    if not _is_steward(actor):
        raise NotAllowed("Only stewards review schema versions.")
    if version.author_id == actor.pk:
        raise NotAllowed("You cannot review your own submission; another steward must.")


def unaccepted_breaking(version):
    accepted = set(version.acceptances.values_list("finding_type", "path"))
    return [f for f in version.breaking_findings if (f.get("type"), f.get("path")) not in accepted]


@transaction.atomic
def approve(*, actor, version, comment="") -> SchemaVersion:
    """Record an approval; with enough approvals the version is published: it gets the
    next number of its subject."""
    locked = _lock_version(version, allowed_from={VersionStatus.IN_REVIEW})
    _check_reviewer(actor, locked)
    if locked.reviews.filter(reviewer=actor, round=locked.round, decision=ReviewDecision.APPROVE).exists():
        raise Conflict("You have already approved this version; another steward must give the second approval.")
    pending = unaccepted_breaking(locked)
    if pending:
        raise ValidationFailed(
            f"{len(pending)} incompatible finding(s) need a justified acceptance before approval.",
            code="unaccepted_findings",
            fields={"findings": [f"{f.get('type')} {f.get('path')}" for f in pending]},
        )
    check_comment(comment)
    # The stricter of the rule at submission and the rule now: the API may have become
    # finance-sensitive, or a tier-1 integration started to depend on the subject, while the
    # version waited in review. It never drops: a rule relaxed meanwhile does not cancel the
    # second approval the submission asked for.
    at_submission = locked.required_approvals
    locked.required_approvals = max(at_submission, 2 if requires_two_approvals(locked.subject) else 1)
    raised = {"required_at_submission": at_submission} if locked.required_approvals != at_submission else {}
    Review.objects.create(version=locked, reviewer=actor, decision=ReviewDecision.APPROVE, comment=comment, round=locked.round)
    approvals = locked.reviews.filter(round=locked.round, decision=ReviewDecision.APPROVE).count()
    if approvals < locked.required_approvals:
        # Touch the row so a concurrent reader sees the change.
        locked.save(update_fields=["required_approvals", "updated_at"])
        audit.record(actor=actor, action="schemaversion.approve", obj=locked, note=comment,
                     after={"approvals": approvals, "required": locked.required_approvals, **raised})
        return locked
    # Number assignment is serialised per subject by locking the subject row.
    SchemaSubject.objects.select_for_update().filter(pk=locked.subject_id).first()
    top = locked.subject.versions.aggregate(top=Max("number"))["top"] or 0
    before = audit.snapshot(locked, ["status", "number"])
    locked.status = VersionStatus.APPROVED
    locked.number = top + 1
    locked.approved_at = timezone.now()
    locked.save(update_fields=["status", "number", "approved_at", "required_approvals", "updated_at"])
    audit.record(actor=actor, action="schemaversion.publish", obj=locked, before=before,
                 after={**audit.snapshot(locked, ["status", "number"]), "approvals": approvals,
                        "required": locked.required_approvals, **raised}, note=comment)
    _notify_on_commit(locked.pk, "published")
    notifications.publish_event(locked, "approved")
    return locked


def _decide(*, actor, version, decision, target, action, comment):
    if not (comment or "").strip():
        raise ValidationFailed("Say why in a comment.", fields={"comment": ["A comment is required."]})
    check_comment(comment)
    locked = _lock_version(version, allowed_from={VersionStatus.IN_REVIEW})
    _check_reviewer(actor, locked)
    Review.objects.create(version=locked, reviewer=actor, decision=decision, comment=comment, round=locked.round)
    before = audit.snapshot(locked, ["status"])
    locked.status = target
    locked.save(update_fields=["status", "updated_at"])
    audit.record(actor=actor, action=action, obj=locked, before=before, after=audit.snapshot(locked, ["status"]), note=comment)
    return locked


@transaction.atomic
def request_changes(*, actor, version, comment) -> SchemaVersion:
    return _decide(actor=actor, version=version, decision=ReviewDecision.REQUEST_CHANGES,
                   target=VersionStatus.CHANGES_REQUESTED, action="schemaversion.request_changes", comment=comment)


@transaction.atomic
def reject(*, actor, version, comment) -> SchemaVersion:
    locked = _decide(actor=actor, version=version, decision=ReviewDecision.REJECT,
                     target=VersionStatus.REJECTED, action="schemaversion.reject", comment=comment)
    notifications.publish_event(locked, "rejected")
    return locked


@transaction.atomic
def withdraw_version(*, actor, version, comment="") -> SchemaVersion:
    """The author takes a submission back to draft: the reviews of the round are void (a
    later submission starts a new round), the report stays until the next submission."""
    check_comment(comment)
    if version.author_id != actor.pk:
        raise NotAllowed("Only the author withdraws a submission.")
    locked = _lock_version(version, allowed_from={VersionStatus.IN_REVIEW})
    now = timezone.now()
    voided = locked.reviews.filter(round=locked.round, voided_at__isnull=True).update(voided_at=now)
    before = audit.snapshot(locked, ["status"])
    locked.status = VersionStatus.DRAFT
    locked.save(update_fields=["status", "updated_at"])
    audit.record(actor=actor, action="schemaversion.withdraw", obj=locked, before=before,
                 after={**audit.snapshot(locked, ["status"]), "voided_reviews": voided}, note=comment)
    notifications.publish_event(locked, "withdrawn")
    return locked


@transaction.atomic
def deprecate(*, actor, version, comment="") -> SchemaVersion:
    if not _is_steward(actor):
        raise NotAllowed("Only stewards deprecate schema versions.")
    locked = _lock_version(version, allowed_from={VersionStatus.APPROVED})
    before = audit.snapshot(locked, ["status"])
    locked.status = VersionStatus.DEPRECATED
    locked.deprecated_at = timezone.now()
    locked.save(update_fields=["status", "deprecated_at", "updated_at"])
    audit.record(actor=actor, action="schemaversion.deprecate", obj=locked, before=before,
                 after=audit.snapshot(locked, ["status"]), note=comment)
    return locked


@transaction.atomic
def accept_finding(*, actor, version, finding_type, path, justification) -> FindingAcceptance:
    """A steward's explicit, justified acceptance of one incompatible finding."""
    justification = (justification or "").strip()
    minimum = _min_justification()
    if len(justification) < minimum:
        raise ValidationFailed(
            f"Explain the acceptance in at least {minimum} characters.",
            fields={"justification": [f"At least {minimum} characters."]},
        )
    locked = _lock_version(version, allowed_from={VersionStatus.IN_REVIEW})
    _check_reviewer(actor, locked)
    if not any(f.get("type") == finding_type and f.get("path") == path for f in locked.breaking_findings):
        raise ValidationFailed("No incompatible finding of that type at that path.", fields={"path": ["Unknown finding."]})
    if locked.acceptances.filter(finding_type=finding_type, path=path).exists():
        raise Conflict("This finding has already been accepted.")
    acceptance = FindingAcceptance.objects.create(
        version=locked, finding_type=finding_type, path=path, steward=actor, justification=justification
    )
    audit.record(actor=actor, action="schemaversion.accept_finding", obj=locked,
                 after={"type": finding_type, "path": path}, note=justification)
    return acceptance


__all__ = [
    "accept_finding", "affected_integrations", "approve", "approve_sor", "create_draft", "create_subject",
    "deprecate", "preview", "propose_sor", "reject", "reject_sor", "request_changes", "submit", "update_draft",
    "update_subject", "withdraw_version",
]
