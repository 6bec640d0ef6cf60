"""Every write of the stewardship app: one function per action, each in one transaction
with one audit row (two when an approval also supersedes or publishes)."""

import datetime as dt

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Max
from django.utils import timezone

from controlplane import audit, outbox
from controlplane.errors import Conflict, InvalidTransition, NotAllowed, OutOfScope, ValidationFailed
from controlplane.validation import check_comment

from . import notifications
from .choices import (
    EDITABLE_STATES,
    SOR_TRANSITIONS,
    RegistryMode,
    ReviewDecision,
    SchemaFormat,
    ScopeType,
    SorStatus,
    VersionStatus,
)
from .models import (
    _UNSET,
    FindingAcceptance,
    RegistrySchema,
    Review,
    SchemaSubject,
    SchemaVersion,
    SorAssignment,
    StewardshipSettings,
)
from .selectors import affected_integrations, approved_rows, compatibility_against, requires_two_approvals


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
    allowed = {"name", "description", "compatibility_level", "policy", "registry_mode"}
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
    """Change the global defaults subjects inherit (compatibility level, policy and the
    wire API's mode)."""
    allowed = {"default_level", "default_policy", "registry_mode"}
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


def _check_document(document, fmt):
    if isinstance(document, dict):
        return
    if fmt == SchemaFormat.AVRO and isinstance(document, list | str):
        return  # an Avro union or a bare type name is a whole schema too
    raise ValidationFailed("The schema document must be a JSON object.", fields={"document": ["Expected a JSON object."]})


@transaction.atomic
def create_draft(*, actor, subject, document, change_summary="", references=()) -> SchemaVersion:
    return _new_draft(actor=actor, subject=subject, document=document, change_summary=change_summary,
                      references=references)


def _new_draft(*, actor, subject, document, change_summary="", references=()) -> SchemaVersion:
    """``create_draft`` in the caller's transaction."""
    version = _draft(actor=actor, subject=subject, document=document, change_summary=change_summary,
                     references=references)
    version.save(force_insert=True)
    audit.record(actor=actor, action="schemaversion.create", obj=version, after={"status": version.status})
    return version


def _draft(*, actor, subject, document, change_summary="", references=(), top_number=_UNSET) -> SchemaVersion:
    """A new draft of ``subject``, not yet saved. ``top_number``: the subject's highest
    number, when the caller read it while holding the subject (it names the draft, "Orders
    v7 (draft)", without asking again)."""
    from stewardship.registry import identity

    _check_document(document, subject.format)
    references = identity.normalize_references(references)
    version = SchemaVersion(subject=subject, document=document, author=actor, change_summary=change_summary,
                            references=references,
                            fingerprint=identity.version_fingerprint(subject.format, document, references))
    if top_number is not _UNSET:
        version.subject_top_number = top_number
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
    _check_document(document, version.subject.format)
    locked = _lock_version(version, allowed_from=EDITABLE_STATES)
    if locked.author_id != actor.pk:
        raise NotAllowed("Only the author edits a draft.")
    from stewardship.registry import identity

    locked.document = document
    locked.fingerprint = identity.version_fingerprint(locked.subject.format, document, locked.references)
    fields = ["document", "fingerprint", "updated_at"]
    if change_summary is not None:
        locked.change_summary = change_summary
        fields.append("change_summary")
    locked.save(update_fields=fields)
    audit.record(actor=actor, action="schemaversion.update", obj=locked, note="document edited")
    return locked


def preview(*, subject, document) -> dict:
    """The compatibility report ``document`` would get if it were submitted now, against the
    subject's level and policy, with plain sentences and counterexamples; nothing is stored.
    Invalid documents get their errors."""
    from stewardship import compat

    _check_document(document, subject.format)
    errors = list(compat.validate_schema(document, subject.format))
    level, policy = subject.effective_level(), subject.effective_policy()
    if errors:
        return {"valid": False, "errors": errors, "level": level, "policy": policy, "report": None}
    level, policy, report, latest = compatibility_against(subject, document, explain=True)
    return {"valid": True, "errors": [], "level": level, "policy": policy, "report": report,
            "compared_with": latest.display_name if latest else None}


def submit(*, actor, version) -> SchemaVersion:
    """Send a draft for review: the document must be a valid schema of the subject's
    format (otherwise the errors are stored on the draft and the submission is refused);
    the compatibility report against the approved versions is stored."""
    from stewardship import compat

    if version.author_id != actor.pk:
        raise NotAllowed("Only the author submits a version.")
    bundled = _resolved_or_invalid(version.subject.format, version.document, version.references)
    errors = list(compat.validate_schema(bundled, version.subject.format))
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
    return _submit_now(actor=actor, version=version)


def _submit_now(*, actor, version, checked=None, unsaved=False) -> SchemaVersion:
    """``_submit`` in the caller's transaction. ``checked``: the ``compatibility_against``
    result the caller computed on this very document while holding the subject (the wire
    registration), so the check does not run twice; its newest compared version may be
    given by its id. ``unsaved``: ``version`` is a draft the caller built (``_draft``) in
    this very transaction while holding the subject: nobody else can see it, so it is
    inserted once, already in review with its report (one INSERT, not an INSERT and an
    UPDATE of the report), and its creation's audit row is written with the submission's."""
    from stewardship import compat

    if unsaved:
        locked = version
        draft_name = str(locked)  # what the creation's audit row calls it: "Orders v7 (draft)"
    else:
        locked = _lock_version(version, allowed_from={VersionStatus.DRAFT, VersionStatus.CHANGES_REQUESTED})
    subject = locked.subject
    if checked is None:
        bundled = _resolved_or_invalid(subject.format, locked.document, locked.references)
        errors = compat.validate_schema(bundled, subject.format)
        if errors:  # edited meanwhile into something invalid
            raise ValidationFailed("The document is not valid.", fields={"document": list(errors)})
        checked = compatibility_against(subject, bundled, explain=True)
    level, policy, report, latest = checked
    before = audit.snapshot(locked, ["status", "round"])
    locked.status = VersionStatus.IN_REVIEW
    locked.round += 1
    locked.submitted_at = timezone.now()
    locked.validity_errors = []
    locked.compat_report = report
    if isinstance(latest, int):
        locked.compared_with_id = latest
    else:
        locked.compared_with = latest
    locked.level = level
    locked.policy = policy
    # Read once: the approval rule (tiers) and the event (teams); the emails read their own.
    consumers = list(affected_integrations(subject, systems=False))
    locked.affected_count = len(consumers)  # for the wire answer, which says how many
    locked.required_approvals = 2 if requires_two_approvals(subject, consumers) else 1
    after = {**audit.snapshot(locked, ["status", "round", "required_approvals"]),
             "compatible": report.get("compatible"), "findings": len(report.get("findings", []))}
    if unsaved:
        locked.save(force_insert=True)
        audit.record_all([
            audit.entry(actor=actor, action="schemaversion.create", obj=locked, after={"status": VersionStatus.DRAFT},
                        object_repr=draft_name),
            audit.entry(actor=actor, action="schemaversion.submit", obj=locked, before=before, after=after),
        ])
    else:
        locked.save(update_fields=["status", "round", "submitted_at", "validity_errors", "compat_report",
                                   "compared_with", "level", "policy", "required_approvals", "updated_at"])
        audit.record(actor=actor, action="schemaversion.submit", obj=locked, before=before, after=after)
    if consumers:  # the teams to tell are those of the integrations using it now, as for the event
        _notify_on_commit(locked.pk, "submitted")
    notifications.publish_event(locked, "submitted", consumers)
    return locked


# --- The Schema Registry wire API ---------------------------------------------------------------

# A version a wire registration may be answered with instead of a new submission: the
# same text already waiting for (or refused by) a steward. Drafts are the browser's.
_WIRE_OPEN_STATES = (VersionStatus.IN_REVIEW, VersionStatus.CHANGES_REQUESTED, VersionStatus.REJECTED)


def _check_references(references):
    """Every reference names an approved version of a subject on the wire."""
    from stewardship.registry import identity

    for ref in references:
        target = SchemaSubject.objects.filter(slug=ref["subject"]).first()
        found = target is not None and identity.wire_type(target.format) and target.versions.filter(
            number=ref["version"], status__in=[VersionStatus.APPROVED, VersionStatus.DEPRECATED]).exists()
        if not found:
            raise ValidationFailed(
                f"Invalid schema: reference {ref['name']!r} names version {ref['version']} of subject "
                f"{ref['subject']!r}, which is not an approved version.", code="invalid_schema",
                fields={"references": [ref["name"]]})


def _resolved_or_invalid(fmt, document, references):
    """The document with its references inlined (what is validated and checked); a reference
    that does not resolve makes the schema invalid."""
    from stewardship.registry import references as refs
    from stewardship.registry.selectors import resolved

    try:
        return resolved(fmt, document, references)
    except refs.ReferenceError_ as exc:
        raise ValidationFailed(f"Invalid schema: {exc}.", code="invalid_schema",
                               fields={"references": [str(exc)]}) from None


def _check_wire_scope(scope, subject):
    """A service token scoped to some integrations registers only for subjects one of
    them uses (the producer's own)."""
    if scope is None or scope.all_integrations:
        return
    if not any(scope.speaks_for(pk) for pk in affected_integrations(subject).values_list("pk", flat=True)):
        raise OutOfScope(f"This token may not register schemas of {subject.name}: it speaks for {scope.scope_label()}.")


@transaction.atomic
def register_from_wire(*, actor, subject, document, references=(), scope=None,
                       defaults=None) -> tuple[SchemaVersion, bool]:
    """A schema registered by a Schema Registry client (``POST /subjects/{s}/versions``).

    Returns ``(version, submitted)``: the approved version with that text (the client gets
    its id), or the version of that text already in review or rejected, or a new version
    submitted for review now (``submitted`` True) with its compatibility report. A schema
    incompatible under the subject's level and policy is refused and nothing is written.
    ``defaults``: the ``StewardshipSettings`` row, when the caller has read it.

    The check against every approved version runs before the subject is held
    (``_hold_subject_for_registration``), and is used once it is only if the approved
    versions, the level and the policy it read are still the ones there (approved documents
    never change); otherwise it runs again there.
    """
    from stewardship.registry import identity

    if not actor.has_perm("stewardship.register_schema"):
        raise NotAllowed("This account may read schemas but not register them.")
    schema_type = identity.wire_type(subject.format)
    if schema_type is None:
        raise ValidationFailed(f"{subject.name} holds {subject.get_format_display()} documents, which the Schema "
                               "Registry API does not serve.", code="invalid_schema")
    _check_wire_scope(scope, subject)
    defaults = defaults or StewardshipSettings.get()
    if subject.effective_registry_mode(defaults) == RegistryMode.READONLY:
        raise NotAllowed(f"Subject {subject.slug} is in read-only mode.", code="read_only")
    references = identity.normalize_references(references)
    print_ = identity.fingerprint(schema_type, document, references)
    # Every producer registers its schema at start-up: an approved text is answered
    # without taking the subject's lock.
    # Without the report and the document (the client gets the id): the newest version's
    # report lists a finding per earlier version, and decoding it cost more than the rest.
    same = list(subject.versions.filter(fingerprint=print_, status__in=(VersionStatus.APPROVED, *_WIRE_OPEN_STATES))
                .defer("document", "compat_report").select_related("registry_schema"))
    published = next((v for v in same if v.status == VersionStatus.APPROVED), None)
    if published is not None:
        return published, False
    _check_references(references)
    early = None
    if not same:  # a new text (one already waiting is answered under the lock, unchecked)
        try:
            early = _wire_check(subject, document, references, defaults, approved_rows(subject))
        except ValidationFailed:  # said under the lock, after the texts already known (as before)
            early = None
    subject = _hold_subject_for_registration(subject, print_)
    if subject.effective_registry_mode(defaults) == RegistryMode.READONLY:
        raise NotAllowed(f"Subject {subject.slug} is in read-only mode.", code="read_only")
    # One read under the lock: the versions with this text, the approved ones (what the
    # check compares with) and the highest number given (what names the new version). A
    # plain statement, approved_at as text as in ``approved_rows``.
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id, status, number, CAST(approved_at AS TEXT), fingerprint = %s "
            f"FROM {SchemaVersion._meta.db_table} WHERE subject_id = %s AND (number IS NOT NULL OR fingerprint = %s)",
            [print_, subject.pk, print_])
        rows = cursor.fetchall()
    # The newest first (ids grow with creation), an approved one before any other.
    known = sorted((r for r in rows if r[4] and r[1] in (VersionStatus.APPROVED, *_WIRE_OPEN_STATES)),
                   key=lambda r: r[0], reverse=True)
    known.sort(key=lambda r: r[1] != VersionStatus.APPROVED)
    if known:  # a text already validated when it was submitted
        return SchemaVersion.objects.select_related("registry_schema").get(pk=known[0][0]), False
    approved = sorted(((pk, at, number) for pk, status, number, at, _same in rows
                       if status == VersionStatus.APPROVED and number is not None), key=lambda r: r[2])
    top = max((r[2] for r in rows if r[2] is not None), default=None)
    level, policy = subject.effective_level(defaults), subject.effective_policy(defaults)
    if early is None or early[0] != approved or early[1] != (level, policy):
        early = _wire_check(subject, document, references, defaults, approved)
    _rows, _settings, errors, checked = early
    if errors:
        raise ValidationFailed("Invalid schema: " + "; ".join(errors[:5]), code="invalid_schema",
                               fields={"schema": errors})
    report = checked[2]
    if not report.get("compatible"):
        messages = [f.get("message") or f.get("type") for f in report.get("findings", []) if not f.get("compatible", True)]
        if report.get("timed_out"):
            messages.append("The compatibility check ran out of time.")
        raise ValidationFailed(
            f"Schema being registered is incompatible with an earlier schema for subject {subject.slug!r} "
            f"(level {checked[0]}, policy {checked[1]}): " + "; ".join(messages[:10]),
            code="incompatible", fields={"messages": messages},
        )
    # In this transaction, without savepoints: a failure of either fails the registration.
    version = _draft(actor=actor, subject=subject, document=document, references=references,
                     change_summary="Registered through the Schema Registry API.", top_number=top)
    return _submit_now(actor=actor, version=version, checked=checked, unsaved=True), True


def _hold_subject_for_registration(subject, print_):
    """The subject, read again and held until the transaction ends, for a wire registration
    of the text ``print_``. What a registration decides on stays as it read it: approvals
    (which number versions under the subject's ``FOR UPDATE``), its configuration and a
    registration of the same text (one submission per text) wait for it. Registrations of
    other texts of the subject go on at the same time: a submission changes nothing another
    registration is checked against. PostgreSQL: a ``FOR SHARE`` row lock and a transaction
    advisory lock on (subject, text); elsewhere (SQLite serialises its writers) the row lock."""
    if connection.vendor != "postgresql":
        return SchemaSubject.objects.select_for_update().get(pk=subject.pk)
    held = list(SchemaSubject.objects.raw(
        f"SELECT * FROM {SchemaSubject._meta.db_table} WHERE id = %s FOR SHARE", [subject.pk]))
    if not held:
        raise SchemaSubject.DoesNotExist(f"Subject {subject.pk} was deleted meanwhile.")
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
                       [f"stewardship.register:{subject.pk}:{print_}"])
    return held[0]


def _wire_check(subject, document, references, defaults, rows):
    """What a wire registration of ``document`` is decided on, against the approved versions
    ``rows`` (``approved_rows``): ``(rows, (level, policy), validity errors, the
    compatibility_against result or None when the schema is invalid)``."""
    from stewardship.registry import identity

    level, policy = subject.effective_level(defaults), subject.effective_policy(defaults)
    bundled = _resolved_or_invalid(subject.format, document, references)
    errors = identity.schema_errors(bundled, subject.format)
    checked = None if errors else compatibility_against(subject, bundled, defaults=defaults, rows=rows, latest_id=True)
    return rows, (level, policy), errors, checked


@transaction.atomic
def set_registry_mode(*, actor, mode, subject=None, force=False):
    """The wire API's mode, of ``subject`` or (None) the global default. IMPORT is for the
    account migrating a registry's history (``import_schema``, which no role holds), and
    only on an empty subject (or an empty registry, globally) unless ``force``: imported
    versions would otherwise interleave with governed ones."""
    from stewardship.registry import identity

    if mode == RegistryMode.IMPORT:
        if not actor.has_perm("stewardship.import_schema"):
            raise NotAllowed("IMPORT mode is for the account an admin allowed to import schemas "
                             "(stewardship.import_schema).")
        if subject is not None:
            holds = subject.versions.filter(number__isnull=False).exists()
        else:
            holds = RegistrySchema.objects.exists()
        if holds and not force:
            raise NotAllowed(f"Cannot import since found existing subjects{'' if subject is None else ' versions'}: "
                             f"{'the registry' if subject is None else subject.slug} already holds schemas. Set "
                             "force=true to import next to them.", code="read_only")
        if subject is not None and identity.wire_type(subject.format) is None:
            raise ValidationFailed(f"{subject.name} is not served on the wire.")
    if subject is None:
        return update_settings(actor=actor, registry_mode=mode)
    return update_subject(actor=actor, subject=subject, registry_mode=mode)


def _move_id_sequence_past(schema_id: int):
    """Ids a client imported must never be handed out again by the sequence. SQLite's
    AUTOINCREMENT moves past an explicit id by itself; PostgreSQL's sequence does not."""
    if connection.vendor != "postgresql":
        return
    table = RegistrySchema._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute("SELECT setval(pg_get_serial_sequence(%s, 'id'), "
                       "GREATEST(nextval(pg_get_serial_sequence(%s, 'id')), %s))", [table, table, schema_id])


@transaction.atomic
def import_from_wire(*, actor, subject, document, references=(), schema_id=None, number=None) -> SchemaVersion:
    """A schema registered in IMPORT mode (``POST /subjects/{s}/versions`` with ``id`` and
    ``version``): a migration tool copying another registry's history. The version enters
    **approved** with the id and number it had there, without a review or a compatibility
    check (it is already in production: its messages carry that id), and its audit row names
    the importer. The same import again answers the same version; an id or number already
    holding something else is refused (code ``read_only``), so nothing is overwritten."""
    from stewardship.registry import identity

    if not actor.has_perm("stewardship.import_schema"):
        raise NotAllowed("Only the account an admin allowed to import schemas registers in IMPORT mode.")
    schema_type = identity.wire_type(subject.format)
    if schema_type is None:
        raise ValidationFailed(f"{subject.name} is not served on the wire.", code="invalid_schema")
    subject = SchemaSubject.objects.select_for_update().get(pk=subject.pk)
    if subject.effective_registry_mode() != RegistryMode.IMPORT:
        raise NotAllowed(f"Subject {subject.slug} is not in import mode: ids and versions are given by the control "
                         "plane at approval.", code="read_only")
    references = identity.normalize_references(references)
    _check_references(references)
    errors = identity.schema_errors(_resolved_or_invalid(subject.format, document, references), subject.format)
    if errors:
        raise ValidationFailed("Invalid schema: " + "; ".join(errors[:5]), code="invalid_schema",
                               fields={"schema": errors})
    print_ = identity.fingerprint(schema_type, document, references)
    same = subject.versions.filter(fingerprint=print_, number__isnull=False).exclude(
        status=VersionStatus.DELETED).select_related("registry_schema").first()
    if same is not None and schema_id in (None, same.registry_schema_id) and number in (None, same.number):
        return same  # the migration tool ran again
    if number is None:
        number = (subject.versions.aggregate(top=Max("number"))["top"] or 0) + 1
    elif subject.versions.filter(number=number).exists():
        raise Conflict(f"Version {number} of {subject.slug} already exists with another schema.", code="read_only")
    row = RegistrySchema.objects.filter(fingerprint=print_).first()
    if row is not None and schema_id not in (None, row.pk):
        raise Conflict(f"This schema already has id {row.pk} here (an id names one text); it cannot also be "
                       f"{schema_id}.", code="read_only")
    if row is None:
        if schema_id is not None and RegistrySchema.objects.filter(pk=schema_id).exists():
            raise Conflict(f"Overwrite new schema with id {schema_id} is not permitted: it names another schema.",
                           code="read_only")
        row = RegistrySchema.objects.create(pk=schema_id, fingerprint=print_, schema_type=schema_type,
                                            schema=identity.canonical_text(document), references=references)
        if schema_id is not None:
            _move_id_sequence_past(schema_id)
    version = SchemaVersion.objects.create(
        subject=subject, number=number, document=document, status=VersionStatus.APPROVED, author=actor,
        approved_at=timezone.now(), references=references, fingerprint=print_, registry_schema=row,
        change_summary=f"Imported through the Schema Registry API (IMPORT mode) as id {row.pk}, version {number}.",
    )
    audit.record(actor=actor, action="schemaversion.import", obj=version,
                 after={"status": version.status, "number": number, "schema_id": row.pk},
                 note=f"Imported by {actor} in IMPORT mode.")
    return version


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
    locked.registry_schema = _registry_schema_for(locked)
    locked.save(update_fields=["status", "number", "approved_at", "required_approvals", "registry_schema", "updated_at"])
    audit.record(actor=actor, action="schemaversion.publish", obj=locked, before=before,
                 after={**audit.snapshot(locked, ["status", "number"]), "approvals": approvals,
                        "required": locked.required_approvals, **raised}, note=comment)
    _notify_on_commit(locked.pk, "published")
    notifications.publish_event(locked, "approved")
    return locked


def _registry_schema_for(version):
    """The wire API's global id of a version being published: the same text (and
    references) approved under any subject shares one id, as in Confluent."""
    from stewardship.registry import identity

    schema_type = identity.wire_type(version.subject.format)
    if schema_type is None:
        return None
    row, _ = RegistrySchema.objects.get_or_create(
        fingerprint=version.fingerprint or identity.fingerprint(schema_type, version.document, version.references),
        defaults={"schema_type": schema_type, "schema": identity.canonical_text(version.document),
                  "references": identity.normalize_references(version.references)},
    )
    return row


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
def deprecate_subject(*, actor, subject, comment="") -> list[int]:
    """Deprecate every approved version of a subject at once (the wire API's soft delete
    of a subject); returns their numbers. All or none."""
    numbers = []
    for version in subject.versions.filter(status=VersionStatus.APPROVED).order_by("number"):
        deprecate(actor=actor, version=version, comment=comment)
        numbers.append(version.number)
    return numbers


@transaction.atomic
def purge_version(*, actor, version, comment="") -> SchemaVersion:
    """Permanently delete a soft-deleted (deprecated) version: it leaves the wire for good
    (not even ``deleted=true`` shows it, and its schema id answers "not found" unless another
    served version has the same text). The row stays as a tombstone so its number is never
    given again and its reviews stay in the history; the id is never given to another text.

    Governance: a steward (``delete_schemaversion``) does it; an approved version must be
    soft-deleted first; a version another schema still refers to stays (code ``referenced``)."""
    from .registry.selectors import referencing_versions

    if not actor.has_perm("stewardship.delete_schemaversion"):
        raise NotAllowed("Only stewards permanently delete schema versions.")
    locked = _lock_version(version, allowed_from={VersionStatus.DEPRECATED})
    users = list(referencing_versions(locked.subject, locked.number)[:10])
    if users:
        names = ", ".join(f"{v.subject.slug} v{v.number}" if v.number else f"{v.subject.slug} ({v.get_status_display()})"
                          for v in users)
        raise Conflict(f"Version {locked.number} of {locked.subject.slug} is referenced by {names}; it stays while "
                       "they refer to it.", code="referenced")
    before = audit.snapshot(locked, ["status"])
    locked.status = VersionStatus.DELETED
    locked.save(update_fields=["status", "updated_at"])
    audit.record(actor=actor, action="schemaversion.purge", obj=locked, before=before,
                 after={**audit.snapshot(locked, ["status", "number", "fingerprint"]),
                        "schema_id": locked.registry_schema_id}, note=comment)
    return locked


@transaction.atomic
def purge_subject(*, actor, subject, comment="") -> list[int]:
    """Permanently delete every soft-deleted version of a subject (the wire API's
    ``DELETE /subjects/{s}?permanent=true``); returns their numbers. All or none: one
    version still referenced keeps them all."""
    numbers = []
    for version in subject.versions.filter(status=VersionStatus.DEPRECATED).order_by("number"):
        purge_version(actor=actor, version=version, comment=comment)
        numbers.append(version.number)
    return numbers


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
    "deprecate", "deprecate_subject", "import_from_wire", "preview", "propose_sor", "purge_subject", "purge_version",
    "register_from_wire", "reject", "reject_sor", "set_registry_mode", "request_changes", "submit", "update_draft", "update_subject", "withdraw_version",
]


# --- Observed writers ----------------------------------------------------------------------

OBSERVED_LOOKBACK_DAYS = 90


@transaction.atomic
def refresh_observed_writers(*, actor=None, now=None, lookback_days: int | None = None) -> int:
    """Rebuild ``ObservedWriter`` from what integrations did in the last ``lookback_days``:
    business events they reported, sync runs that processed records, and exceptions they
    raised on an entity. Each is evidence that the integration wrote (or tried to write) the
    entity into its target system. One DELETE and one INSERT … SELECT, whatever the volume:
    ingestion is never slowed by it. One audit row with the counts."""
    from catalog.models import Integration
    from exceptions.models import BusinessException
    from health.models import SyncRun
    from kpis.models import BusinessEvent

    from .models import ObservedWriter

    now = now or timezone.now()
    since = now - dt.timedelta(days=OBSERVED_LOOKBACK_DAYS if lookback_days is None else lookback_days)
    table = ObservedWriter._meta.db_table
    integrations = Integration._meta.db_table
    carries = Integration.entities.through._meta.db_table
    adapt = connection.ops.adapt_datetimefield_value
    # (source rows, their time column, the integration column, the entity join, a business key)
    sources = [
        (BusinessEvent._meta.db_table, "occurred_at", "x.integration_id",
         f"JOIN {carries} c ON c.integration_id = x.integration_id", "c.canonicalentity_id", "MAX(x.correlation_key)",
         "events", "1=1"),
        (SyncRun._meta.db_table, "finished_at", "x.integration_id",
         f"JOIN {carries} c ON c.integration_id = x.integration_id", "c.canonicalentity_id", "NULL",
         "runs", "x.records_processed > 0"),
        (BusinessException._meta.db_table, "last_seen", "x.integration_id", "", "x.entity_id",
         "MAX(CASE WHEN x.correlation_id <> '' THEN x.correlation_id ELSE NULLIF(x.invoice_number, '') END)",
         "exceptions", "x.entity_id IS NOT NULL"),
    ]
    parts, params = [], []
    for source, at, integration, join, entity, sample, kind, where in sources:
        counts = ", ".join(f"COUNT(*) AS {k}" if k == kind else f"0 AS {k}" for k in ("events", "runs", "exceptions"))
        parts.append(
            f"SELECT {entity} AS entity_id, i.target_system_id AS system_id, i.id AS integration_id, {counts}, "
            f"MIN(x.{at}) AS first_seen, MAX(x.{at}) AS last_seen, {sample} AS sample_key "
            f"FROM {source} x JOIN {integrations} i ON i.id = {integration} {join} "
            f"WHERE x.{at} >= %s AND x.{at} <= %s AND {where} GROUP BY {entity}, i.target_system_id, i.id"
        )
        params += [adapt(since), adapt(now)]
    sql = (
        f"INSERT INTO {table} (entity_id, system_id, integration_id, event_count, run_count, exception_count, "
        f"first_seen, last_seen, sample_key, refreshed_at) "
        f"SELECT u.entity_id, u.system_id, u.integration_id, SUM(u.events), SUM(u.runs), SUM(u.exceptions), "
        f"MIN(u.first_seen), MAX(u.last_seen), COALESCE(MAX(u.sample_key), ''), %s "
        f"FROM ({' UNION ALL '.join(parts)}) u GROUP BY u.entity_id, u.system_id, u.integration_id"
    )
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {table}")
        removed = cursor.rowcount
        cursor.execute(sql, [adapt(now), *params])
        written = cursor.rowcount
    audit.record(actor=actor, action="sor.observed_writers_refreshed", obj=None,
                 after={"writers": written, "replaced": removed, "since": since})
    return written
