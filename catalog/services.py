"""Writes to the catalog. Every action is one function here: keyword-only arguments, an
``actor``, one transaction, one audit row. The API, the HTML pages, the admin and the demo
loader all call these, so the catalog's rules live in one place:

- every system, API and integration has an owning team (the model makes it required);
- an integration cannot be active while it uses a retired API or a retired system;
- an API with consumers (integrations not retired) cannot be retired;
- a system that still provides non-retired APIs or is used by non-retired integrations
  cannot be retired;
- lifecycle moves follow the transition tables in ``choices.py``;
- a row still referenced elsewhere cannot be deleted (409 with the referencing rows);
- the membership of a team that owns a restricted exception queue is changed only by a
  superuser or one of that team's leads, and the team is told (``require_access_governor``).
"""

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, ProtectedError, Q
from django.urls import reverse
from django.utils import timezone

from controlplane import audit
from controlplane.errors import Conflict, InvalidTransition, NotAllowed, NotFound, ValidationFailed

from .choices import (
    API_TRANSITIONS,
    INTEGRATION_TRANSITIONS,
    SYSTEM_TRANSITIONS,
    ApiLifecycle,
    IntegrationLifecycle,
    SystemLifecycle,
)
from .models import (
    Api,
    CanonicalEntity,
    Domain,
    EntityDerivation,
    Integration,
    Sla,
    StuckNotice,
    System,
    Team,
    TeamMember,
    Workflow,
    WorkflowStage,
)

TRANSITIONS = {System: SYSTEM_TRANSITIONS, Api: API_TRANSITIONS, Integration: INTEGRATION_TRANSITIONS}

# Many-to-many fields per model: set after the row is saved.
M2M_FIELDS = {Integration: ("apis", "entities", "workflows")}


# --- generic plumbing ------------------------------------------------------------------


def _label(model) -> str:
    return {CanonicalEntity: "entity", EntityDerivation: "derivation", WorkflowStage: "workflow_stage"}.get(
        model, model._meta.model_name)


def _clean(obj, exclude=None):
    """Model validation (max lengths, choices, unique slug...) as a 400, not a 500."""
    try:
        obj.full_clean(exclude=exclude, validate_constraints=True)
    except DjangoValidationError as exc:
        fields = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        first_field, messages = next(iter(fields.items()))
        prefix = "" if first_field in ("__all__", "non_field_errors") else f"{first_field}: "
        raise ValidationFailed(f"{prefix}{messages[0]}", fields=fields) from None


def _save(obj, **kwargs):
    """Save, turning a lost race on a unique column into a 409 rather than a 500."""
    try:
        with transaction.atomic():
            obj.save(**kwargs)
    except IntegrityError as exc:
        raise Conflict(
            f"{obj._meta.verbose_name.capitalize()} conflicts with existing data (duplicate slug?): {exc}"
        ) from None


def _split_m2m(model, data: dict):
    data = dict(data)
    m2m = {name: data.pop(name) for name in M2M_FIELDS.get(model, ()) if name in data}
    return data, m2m


def _field_name(model, key: str) -> str:
    """``owner_team_id`` (the importer knows ids) -> ``owner_team``; other keys unchanged."""
    for field in model._meta.concrete_fields:
        if field.attname == key:
            return field.name
    return key


def _create(model, *, actor, data: dict, check=None, note: str = ""):
    fields, m2m = _split_m2m(model, data)
    obj = model(**fields)
    _clean(obj)
    if check:
        check(obj, m2m)
    _save(obj)
    for name, values in m2m.items():
        getattr(obj, name).set(values)
    audit.record(actor=actor, action=f"{_label(model)}.created", obj=obj, after=audit.snapshot(obj), note=note)
    return obj


def _update(obj, *, actor, data: dict, check=None, note: str = ""):
    model = type(obj)
    fields, m2m = _split_m2m(model, data)
    names = {_field_name(model, key) for key in fields}
    before = audit.snapshot(obj)
    for name, value in fields.items():
        setattr(obj, name, value)
    _clean(obj)
    if check:
        check(obj, m2m)
    now = audit.snapshot(obj, names)
    changed = [
        f.name for f in model._meta.concrete_fields
        if f.name in names and before.get(f.attname if f.is_relation else f.name) != now.get(f.attname if f.is_relation else f.name)
    ]
    if changed:
        _save(obj, update_fields=[*changed, "updated_at"] if hasattr(obj, "updated_at") else changed)
    for name, values in m2m.items():
        getattr(obj, name).set(values)
    after = audit.snapshot(obj)
    diff_keys = [k for k in after if k not in ("updated_at", "created_at") and before.get(k) != after.get(k)]
    if diff_keys:
        audit.record(
            actor=actor,
            action=f"{_label(model)}.updated",
            obj=obj,
            before={k: before.get(k) for k in diff_keys},
            after={k: after[k] for k in diff_keys},
            note=note,
        )
    return obj


def _describe_protected(exc: ProtectedError) -> tuple[str, dict]:
    by_kind: dict[str, list[str]] = {}
    for related in exc.protected_objects:
        by_kind.setdefault(str(related._meta.verbose_name_plural), []).append(
            getattr(related, "slug", None) or str(related)
        )
    listing = "; ".join(f"{kind}: {', '.join(sorted(names)[:10])}" for kind, names in by_kind.items())
    return listing, {kind: sorted(names) for kind, names in by_kind.items()}


def _delete(obj, *, actor, note: str = ""):
    model = type(obj)
    snap, text = audit.snapshot(obj), str(obj)
    entry = audit.record(actor=actor, action=f"{_label(model)}.deleted", obj=obj, before=snap, note=note)
    try:
        with transaction.atomic():
            obj.delete()
    except ProtectedError as exc:
        listing, fields = _describe_protected(exc)
        raise Conflict(
            f"{model._meta.verbose_name.capitalize()} “{text}” is still referenced and cannot be deleted ({listing}). "
            "Reassign or delete those first, or retire it instead.",
            code="in_use",
            fields=fields,
        ) from None
    return entry


def _ensure_state(obj, new_state):
    transitions = TRANSITIONS[type(obj)]
    current = obj.lifecycle
    allowed = transitions.get(current, set())
    if new_state not in allowed:
        choices = ", ".join(sorted(str(s) for s in allowed)) or "none (final state)"
        raise InvalidTransition(
            f"{obj._meta.verbose_name.capitalize()} “{obj}” cannot move from {current} to {new_state}; "
            f"allowed next states: {choices}.",
            fields={"lifecycle": [f"Allowed next states: {choices}."]},
        )


# --- rules -----------------------------------------------------------------------------


def _check_integration_usable(integration: Integration, m2m: dict, state=None):
    """An active integration may not use a retired API or a retired system."""
    if (state or integration.lifecycle) != IntegrationLifecycle.ACTIVE:
        return
    problems = {}
    systems = [
        (role, system)
        for role, system in (
            ("source_system", integration.source_system),
            ("target_system", integration.target_system),
            ("middleware_system", integration.middleware_system),
        )
        if system is not None
    ]
    for role, system in systems:
        if system.lifecycle == SystemLifecycle.RETIRED:
            problems[role] = [f"System “{system.slug}” is retired."]
    if "apis" in m2m:
        apis = list(m2m["apis"])
    elif integration.pk:
        apis = list(integration.apis.all())
    else:
        apis = []
    retired = sorted(api.slug for api in apis if api.lifecycle == ApiLifecycle.RETIRED)
    if retired:
        problems["apis"] = [f"API “{slug}” is retired." for slug in retired]
    if problems:
        names = [msg for messages in problems.values() for msg in messages]
        raise ValidationFailed(
            f"Integration “{integration.slug}” cannot be active while it uses retired parts: {' '.join(names)}",
            code="uses_retired",
            fields=problems,
        )


def _check_integration(integration: Integration, m2m: dict):
    if integration.source_system_id and integration.source_system_id == integration.target_system_id:
        raise ValidationFailed(
            "Source and target must be different systems.", fields={"target_system": ["Same as the source system."]}
        )
    _check_integration_usable(integration, m2m)


def _api_consumers(api: Api) -> list[str]:
    return sorted(api.integrations.exclude(lifecycle=IntegrationLifecycle.RETIRED).values_list("slug", flat=True))


def _check_api_retirable(api: Api):
    consumers = _api_consumers(api)
    if consumers:
        raise ValidationFailed(
            f"API “{api.slug}” still has {len(consumers)} active consumer(s): {', '.join(consumers)}. "
            "Retire or move those integrations first.",
            code="has_consumers",
            fields={"consumers": consumers},
        )


def _check_system_retirable(system: System):
    apis = sorted(system.apis.exclude(lifecycle=ApiLifecycle.RETIRED).values_list("slug", flat=True))
    integrations = sorted(
        Integration.objects.filter(
            Q(source_system=system) | Q(target_system=system) | Q(middleware_system=system)
        )
        .exclude(lifecycle=IntegrationLifecycle.RETIRED)
        .values_list("slug", flat=True)
        .distinct()
    )
    if apis or integrations:
        parts = []
        if apis:
            parts.append(f"APIs {', '.join(apis)}")
        if integrations:
            parts.append(f"integrations {', '.join(integrations)}")
        raise ValidationFailed(
            f"System “{system.slug}” is still in use by {' and '.join(parts)}. Retire those first.",
            code="in_use",
            fields={"apis": apis, "integrations": integrations},
        )


def _check_lifecycle_rules(obj, new_state):
    if isinstance(obj, Api) and new_state == ApiLifecycle.RETIRED:
        _check_api_retirable(obj)
    elif isinstance(obj, System) and new_state == SystemLifecycle.RETIRED:
        _check_system_retirable(obj)
    elif isinstance(obj, Integration) and new_state == IntegrationLifecycle.ACTIVE:
        _check_integration_usable(obj, {}, state=new_state)


def _lifecycle_in_update(obj, data: dict):
    """Updates may carry a lifecycle; it then follows the same table and rules as
    ``change_lifecycle``."""
    new_state = data.get("lifecycle")
    if new_state is not None and new_state != obj.lifecycle:
        _ensure_state(obj, new_state)
        if not isinstance(obj, Integration):  # integrations are checked on their new values
            _check_lifecycle_rules(obj, new_state)


# --- lifecycle -------------------------------------------------------------------------


@transaction.atomic
def change_lifecycle(*, actor, obj, lifecycle: str, note: str = ""):
    """Move a system, API or integration to ``lifecycle`` following its transition table."""
    model = type(obj)
    if model not in TRANSITIONS:
        raise ValidationFailed(f"{model.__name__} has no lifecycle.")
    current = model.objects.select_for_update().filter(pk=obj.pk).first()
    if current is None:
        raise NotFound(f"{model._meta.verbose_name.capitalize()} no longer exists.")
    valid = {value for value, _ in model._meta.get_field("lifecycle").choices}
    if lifecycle not in valid:
        raise ValidationFailed(
            f"Unknown lifecycle “{lifecycle}”; expected one of {', '.join(sorted(valid))}.",
            fields={"lifecycle": [f"Not a valid choice: {lifecycle}."]},
        )
    _ensure_state(current, lifecycle)
    _check_lifecycle_rules(current, lifecycle)
    old = current.lifecycle
    updated = model.objects.filter(pk=obj.pk, lifecycle=old).update(lifecycle=lifecycle, updated_at=timezone.now())
    if updated != 1:
        raise Conflict(f"{model._meta.verbose_name.capitalize()} “{obj}” was changed by someone else; reload.")
    obj.lifecycle = lifecycle
    audit.record(
        actor=actor,
        action=f"{_label(model)}.lifecycle_changed",
        obj=obj,
        before={"lifecycle": old},
        after={"lifecycle": lifecycle},
        note=note,
    )
    return obj


# --- teams -----------------------------------------------------------------------------


def restricted_queue_names(team) -> list[str]:
    """The restricted exception queues ``team`` owns (what makes its membership sensitive:
    members see and are emailed about those queues' exceptions)."""
    if team is None or team.pk is None:
        return []
    return list(team.exception_queues.filter(restricted=True).order_by("name").values_list("name", flat=True))


def may_govern_access(actor, team) -> bool:
    """Superusers, and the leads of ``team``."""
    if getattr(actor, "is_superuser", False):
        return True
    if not getattr(actor, "is_authenticated", False) or team is None or team.pk is None:
        return False
    return TeamMember.objects.filter(team=team, user=actor, is_lead=True).exists()


def require_access_governor(actor, team, *, what: str) -> None:
    """NotAllowed (403) unless ``actor`` may decide who sees ``team``'s restricted data."""
    if not may_govern_access(actor, team):
        raise NotAllowed(f"Only a lead of {team} or an administrator may {what}.")


def team_emails(team) -> list[str]:
    """The team's address and its members' (their own, else their login's), once each."""
    emails = [team.email] if team.email else []
    for member in team.memberships.select_related("user"):
        email = member.email or (member.user.email if member.user else "")
        if email and email not in emails:
            emails.append(email)
    return emails


def announce_access_change(team, *, actor, text: str, extra_recipients=()) -> None:
    """Tell ``team`` (its address, every member, its notification channels) that who can
    see its restricted data changed, after the change commits."""
    subject = f"[{team}] Access to restricted queues changed"
    body = f"{actor or 'The system'} {text}\n\nRestricted queues of {team}: {', '.join(restricted_queue_names(team)) or 'none now'}."
    recipients = list(dict.fromkeys([*team_emails(team), *(e for e in extra_recipients if e)]))
    if recipients:
        transaction.on_commit(lambda: send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, recipients, fail_silently=True))
    from health.notify import notify_team  # the team's channels (email, chat, webhook) live in health

    notify_team(team, event="access_changed", subject=subject, payload={"event": "access_changed", "team": team.slug,
                                                                        "reason": body})


def _guard_membership(actor, team, change: str) -> bool:
    """Membership changes of a team owning a restricted queue: only its governors. Returns
    whether the team is restricted (then the change is announced)."""
    if not restricted_queue_names(team):
        return False
    require_access_governor(actor, team, what=f"{change} of a team that owns a restricted queue")
    return True


def _member_state(member: TeamMember) -> dict:
    snap = {"member": member.name, "email": member.email, "role": member.role, "user": member.user_id,
            "is_lead": member.is_lead}
    if member.external_ref:
        snap["external_ref"] = member.external_ref
    return snap


def _check_team(team: Team, m2m):
    parent = team.parent
    seen = set()
    while parent is not None:
        if (team.pk is not None and parent.pk == team.pk) or parent.pk in seen:
            raise ValidationFailed(
                "A team cannot be its own parent (directly or through other teams).",
                fields={"parent": ["Creates a cycle."]},
            )
        seen.add(parent.pk)
        parent = parent.parent


@transaction.atomic
def create_team(*, actor, note: str = "", **data) -> Team:
    return _create(Team, actor=actor, data=data, check=_check_team, note=note)


@transaction.atomic
def update_team(*, actor, team: Team, note: str = "", **data) -> Team:
    return _update(team, actor=actor, data=data, check=_check_team, note=note)


@transaction.atomic
def delete_team(*, actor, team: Team):
    return _delete(team, actor=actor)


@transaction.atomic
def add_team_member(*, actor, team: Team, user=None, name: str = "", email: str = "", role: str = "",
                    is_lead: bool = False, external_ref: str = "", note: str = "") -> TeamMember:
    if user is not None:
        name = name or user.get_full_name() or user.get_username()
        email = email or user.email
    member = TeamMember(team=team, user=user, name=name, email=email, role=role, is_lead=is_lead,
                        external_ref=external_ref)
    _clean(member)
    restricted = _guard_membership(actor, team, "add members")
    if user is not None and TeamMember.objects.filter(team=team, user=user).exists():
        raise ValidationFailed(f"{user} is already a member of {team}.", fields={"user": ["Already a member."]})
    _save(member)
    audit.record(actor=actor, action="team.member_added", obj=team, after=_member_state(member), note=note)
    if restricted:
        announce_access_change(team, actor=actor, text=f"added {member.name} to {team}" + (" as a lead" if is_lead else "") + ".")
    return member


@transaction.atomic
def update_team_member(*, actor, member: TeamMember, note: str = "", **data) -> TeamMember:
    before = _member_state(member)
    previous_email = member.email or (member.user.email if member.user else "")
    for name in data:
        if name not in ("user", "name", "email", "role", "is_lead", "external_ref"):
            raise ValidationFailed(f"Unknown member field: {name}.")
        setattr(member, name, data[name])
    _clean(member)
    after = _member_state(member)
    if after != before:
        restricted = _guard_membership(actor, member.team, "change members")
        _save(member, update_fields=list(data))
        audit.record(actor=actor, action="team.member_updated", obj=member.team, before=before, after=after, note=note)
        if restricted:
            changed = ", ".join(k for k in after if after[k] != before.get(k))
            announce_access_change(member.team, actor=actor, text=f"changed {member.name} in {member.team} ({changed}).",
                                   extra_recipients=[previous_email])
    return member


@transaction.atomic
def remove_team_member(*, actor, member: TeamMember, note: str = ""):
    team = member.team
    before = _member_state(member)
    restricted = _guard_membership(actor, team, "remove members")
    gone_email = member.email or (member.user.email if member.user else "")
    member.delete()
    audit.record(actor=actor, action="team.member_removed", obj=team, before=before, note=note)
    if restricted:
        announce_access_change(team, actor=actor, text=f"removed {before['member']} from {team}.",
                               extra_recipients=[gone_email])


# --- domains, entities, workflows ------------------------------------------------------


@transaction.atomic
def create_domain(*, actor, note: str = "", **data) -> Domain:
    return _create(Domain, actor=actor, data=data, note=note)


@transaction.atomic
def update_domain(*, actor, domain: Domain, note: str = "", **data) -> Domain:
    return _update(domain, actor=actor, data=data, note=note)


@transaction.atomic
def delete_domain(*, actor, domain: Domain):
    return _delete(domain, actor=actor)


@transaction.atomic
def create_entity(*, actor, note: str = "", **data) -> CanonicalEntity:
    return _create(CanonicalEntity, actor=actor, data=data, note=note)


@transaction.atomic
def update_entity(*, actor, entity: CanonicalEntity, note: str = "", **data) -> CanonicalEntity:
    return _update(entity, actor=actor, data=data, note=note)


@transaction.atomic
def delete_entity(*, actor, entity: CanonicalEntity):
    return _delete(entity, actor=actor)


@transaction.atomic
def create_workflow(*, actor, note: str = "", **data) -> Workflow:
    return _create(Workflow, actor=actor, data=data, note=note)


@transaction.atomic
def update_workflow(*, actor, workflow: Workflow, note: str = "", **data) -> Workflow:
    return _update(workflow, actor=actor, data=data, note=note)


@transaction.atomic
def delete_workflow(*, actor, workflow: Workflow):
    return _delete(workflow, actor=actor)


@transaction.atomic
def create_derivation(*, actor, source_entity: CanonicalEntity, derived_entity: CanonicalEntity, system=None,
                      description: str = "") -> EntityDerivation:
    """Declare that ``derived_entity`` is produced from ``source_entity`` (in ``system``,
    or wherever the source entity lands); impact analysis then follows it."""
    return _create(EntityDerivation, actor=actor, data={
        "source_entity": source_entity, "derived_entity": derived_entity, "system": system,
        "description": description,
    })


@transaction.atomic
def update_derivation(*, actor, derivation: EntityDerivation, **data) -> EntityDerivation:
    return _update(derivation, actor=actor, data=data)


@transaction.atomic
def delete_derivation(*, actor, derivation: EntityDerivation):
    return _delete(derivation, actor=actor)


# --- workflow stages and stuck items ----------------------------------------------------


@transaction.atomic
def create_stage(*, actor, note: str = "", **data) -> WorkflowStage:
    """Declare a step of a workflow (its event type, expected integration, max latency)."""
    return _create(WorkflowStage, actor=actor, data=data, note=note)


@transaction.atomic
def update_stage(*, actor, stage: WorkflowStage, note: str = "", **data) -> WorkflowStage:
    return _update(stage, actor=actor, data=data, note=note)


@transaction.atomic
def delete_stage(*, actor, stage: WorkflowStage):
    return _delete(stage, actor=actor)


STUCK_LINES_PER_MESSAGE = 20


def notify_stuck_items(*, now=None) -> int:
    """Tell each workflow's owning team, through its health notification channels, about
    the items that became late since the last check: one message per workflow and run
    listing them, and each item in one message only (a ``StuckNotice`` row per item and
    step). Returns how many items were announced."""
    now = now or timezone.now()
    total = 0
    from health.models import NotificationChannel

    # A team with no channel yet is not "told": its items are announced once it has one.
    reachable = NotificationChannel.objects.filter(team_id=OuterRef("owner_team_id"), enabled=True)
    for workflow_id in (Workflow.objects.filter(Exists(reachable), stages__isnull=False)
                        .values_list("pk", flat=True).distinct()):
        total += _notify_stuck_in(workflow_id, now)
    return total


@transaction.atomic
def _notify_stuck_in(workflow_id, now) -> int:
    from health.notify import notify_team  # the team's channels (email, chat, webhook) live in health

    from .stages import late_items, ordered_stages, trace_url

    # Locks the workflow: two workers checking at once announce each item once.
    workflow = Workflow.objects.select_for_update(of=("self",)).select_related("owner_team").get(pk=workflow_id)
    stages = ordered_stages(workflow)
    told = StuckNotice.objects.filter(stage_id=OuterRef("stage_id"), event_id=OuterRef("pk"))
    fresh = list(late_items(workflow, as_of=now, stages=stages).exclude(Exists(told)).order_by("occurred_at", "pk"))
    if not fresh:
        return 0
    StuckNotice.objects.bulk_create([StuckNotice(stage_id=e.stage_id, event_id=e.pk, notified_at=now) for e in fresh])
    names = {s.pk: s.name for s in stages}
    lines = [f"{e.correlation_key}: waiting for “{names[e.stage_id]}” since {e.occurred_at:%Y-%m-%d %H:%M} UTC"
             + (f" ({e.amount} {e.currency})" if e.amount is not None else "") for e in fresh]
    more = len(lines) - STUCK_LINES_PER_MESSAGE
    reason = "\n".join(lines[:STUCK_LINES_PER_MESSAGE]) + (f"\n… and {more} more" if more > 0 else "")
    site = getattr(settings, "HEALTH_SITE_URL", "http://127.0.0.1:8000").rstrip("/")
    url = site + reverse("catalog:workflow-stuck", kwargs={"slug": workflow.slug})
    subject = f"[Stuck] {workflow.name}: {len(fresh)} item{'s' if len(fresh) != 1 else ''} past the step's deadline"
    notify_team(workflow.owner_team, event="items_stuck", subject=subject, payload={
        "event": "items_stuck", "workflow": workflow.slug, "reason": reason, "url": url,
        "items": [{"key": e.correlation_key, "waiting_for": names[e.stage_id], "since": e.occurred_at.isoformat(),
                   "amount": None if e.amount is None else str(e.amount), "currency": e.currency,
                   "trace": site + trace_url(e.correlation_key)} for e in fresh[:200]],
    })
    audit.record(actor=None, action="workflow.items_stuck", obj=workflow,
                 after={"items": len(fresh), "keys": [e.correlation_key for e in fresh[:50]]})
    return len(fresh)


# --- systems and APIs ------------------------------------------------------------------


@transaction.atomic
def create_system(*, actor, note: str = "", **data) -> System:
    return _create(System, actor=actor, data=data, note=note)


@transaction.atomic
def update_system(*, actor, system: System, note: str = "", **data) -> System:
    system = System.objects.select_for_update().get(pk=system.pk) if system.pk else system
    _lifecycle_in_update(system, data)
    return _update(system, actor=actor, data=data, note=note)


@transaction.atomic
def delete_system(*, actor, system: System):
    return _delete(system, actor=actor)


@transaction.atomic
def create_api(*, actor, note: str = "", **data) -> Api:
    return _create(Api, actor=actor, data=data, note=note)


@transaction.atomic
def update_api(*, actor, api: Api, note: str = "", **data) -> Api:
    api = Api.objects.select_for_update().get(pk=api.pk)
    _lifecycle_in_update(api, data)
    return _update(api, actor=actor, data=data, note=note)


@transaction.atomic
def delete_api(*, actor, api: Api):
    return _delete(api, actor=actor)


# --- integrations and SLAs -------------------------------------------------------------

SLA_FIELDS = ("availability_target", "p95_latency_ms", "max_sync_lag_minutes", "exception_resolution_hours",
              "measurement_window")


@transaction.atomic
def create_integration(*, actor, sla: dict | None = None, note: str = "", **data) -> Integration:
    integration = _create(Integration, actor=actor, data=data, check=_check_integration, note=note)
    if sla:
        upsert_sla(actor=actor, integration=integration, **sla)
    return integration


@transaction.atomic
def update_integration(*, actor, integration: Integration, sla: dict | None = None, note: str = "",
                       **data) -> Integration:
    integration = Integration.objects.select_for_update().get(pk=integration.pk)
    _lifecycle_in_update(integration, data)
    integration = _update(integration, actor=actor, data=data, check=_check_integration, note=note)
    if sla is not None:
        upsert_sla(actor=actor, integration=integration, **sla)
    return integration


@transaction.atomic
def delete_integration(*, actor, integration: Integration):
    return _delete(integration, actor=actor)


@transaction.atomic
def upsert_sla(*, actor, integration: Integration, **data) -> Sla:
    """Create or change the SLA of ``integration``; the audit row goes on the integration
    so its page shows SLA changes in its history."""
    unknown = set(data) - set(SLA_FIELDS)
    if unknown:
        raise ValidationFailed(f"Unknown SLA field(s): {', '.join(sorted(unknown))}.")
    sla = Sla.objects.select_for_update().filter(integration=integration).first()
    created = sla is None
    if created:
        sla = Sla(integration=integration)
    before = {} if created else audit.snapshot(sla, SLA_FIELDS)
    for name, value in data.items():
        setattr(sla, name, value)
    _clean(sla, exclude=["integration"])
    after = audit.snapshot(sla, SLA_FIELDS)
    if not created and before == after:
        return sla
    _save(sla)
    audit.record(
        actor=actor,
        action="integration.sla_created" if created else "integration.sla_updated",
        obj=integration,
        before={f"sla.{k}": v for k, v in before.items() if after.get(k) != v} if before else None,
        after={f"sla.{k}": v for k, v in after.items() if created or before.get(k) != v},
    )
    return sla


@transaction.atomic
def delete_sla(*, actor, sla: Sla):
    integration = sla.integration
    before = {f"sla.{k}": v for k, v in audit.snapshot(sla, SLA_FIELDS).items()}
    sla.delete()
    audit.record(actor=actor, action="integration.sla_deleted", obj=integration, before=before)


# Dispatch tables so generic views (API, HTML, admin) find the one function per action.
CREATE = {
    Team: create_team, Domain: create_domain, System: create_system, Api: create_api,
    CanonicalEntity: create_entity, Workflow: create_workflow, Integration: create_integration,
    EntityDerivation: create_derivation, WorkflowStage: create_stage,
}
UPDATE = {
    Team: ("team", update_team), Domain: ("domain", update_domain), System: ("system", update_system),
    Api: ("api", update_api), CanonicalEntity: ("entity", update_entity), Workflow: ("workflow", update_workflow),
    Integration: ("integration", update_integration), EntityDerivation: ("derivation", update_derivation),
    WorkflowStage: ("stage", update_stage),
}
DELETE = {
    Team: ("team", delete_team), Domain: ("domain", delete_domain), System: ("system", delete_system),
    Api: ("api", delete_api), CanonicalEntity: ("entity", delete_entity), Workflow: ("workflow", delete_workflow),
    Integration: ("integration", delete_integration), EntityDerivation: ("derivation", delete_derivation),
    WorkflowStage: ("stage", delete_stage),
}


def create(model, *, actor, note: str = "", **data):
    return CREATE[model](actor=actor, note=note, **data)


def update(obj, *, actor, note: str = "", **data):
    kwarg, func = UPDATE[type(obj)]
    return func(actor=actor, **{kwarg: obj}, note=note, **data)


def delete(obj, *, actor):
    kwarg, func = DELETE[type(obj)]
    return func(actor=actor, **{kwarg: obj})
