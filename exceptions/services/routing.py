"""Routing: which queue, assignee and severity a new exception gets, and the queue and
routing-rule configuration."""

import datetime
import logging
import threading
import time

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils.text import slugify

from controlplane import audit

from ..choices import (
    SEVERITY_RANK,
)
from ..models import (
    DefaultQueue,
    Queue,
    RoutingRule,
)

log = logging.getLogger(__name__)

INTEGRATION_OPS = "Integration Ops"



# --- routing ---------------------------------------------------------------------------


def integration_ops_queue(integration) -> Queue:
    """The catch-all queue, created on first need and owned by the integration's team."""
    queue = Queue.objects.filter(name=INTEGRATION_OPS).first()
    if queue is None:
        try:
            with transaction.atomic():
                queue = Queue.objects.create(
                    name=INTEGRATION_OPS, slug=slugify(INTEGRATION_OPS), team_id=integration.owner_team_id,
                    description="Exceptions no routing rule claimed.",
                )
        except IntegrityError:  # created concurrently
            queue = Queue.objects.get(name=INTEGRATION_OPS)
    return queue


# Routing rules, default queues and the catch-all queue change rarely and every ingest
# reads them: each web process keeps them for EXCEPTIONS_ROUTING_CACHE_MS (1 s), so a change
# made in another process is honoured within that second. A save or delete of a queue, rule
# or default queue in this process (the services, admin, fixtures; ``exceptions.apps``)
# drops them at once and again when its transaction commits; until that transaction ends,
# the thread that made the change reads them afresh and caches nothing, so neither it nor
# (after a rollback) anyone else routes by rules that never committed.
_routing_lock = threading.Lock()
_routing = {"generation": 0, "loaded_at": 0.0, "value": None}
_local = threading.local()


def forget_routing(**_signal_kwargs) -> None:
    """Drop this process's cached routing configuration (now and again after commit)."""
    _drop_routing()
    connection = transaction.get_connection()
    if connection.in_atomic_block:
        _local.held_by = connection.atomic_blocks[0]
        transaction.on_commit(_drop_routing)


def _drop_routing():
    with _routing_lock:
        _routing["generation"] += 1
        _routing["value"] = None


def _held() -> bool:
    """True while this thread is inside the transaction that changed the configuration."""
    held_by = getattr(_local, "held_by", None)
    if held_by is None:
        return False
    connection = transaction.get_connection()
    if connection.in_atomic_block and connection.atomic_blocks[0] is held_by:
        return True
    _local.held_by = None
    return False


def _routing_config():
    """-> (enabled rules in order, {integration id: default queue}, catch-all queue or None)."""
    ttl = settings.EXCEPTIONS_ROUTING_CACHE_MS / 1000
    held = _held()
    now = time.monotonic()
    with _routing_lock:
        value, generation = _routing["value"], _routing["generation"]
        if value is not None and not held and now - _routing["loaded_at"] < ttl:
            return value
    rules = list(RoutingRule.objects.filter(enabled=True).select_related("queue").order_by("position", "id"))
    defaults = {d.integration_id: d.queue for d in DefaultQueue.objects.select_related("queue")}
    value = (rules, defaults, Queue.objects.filter(name=INTEGRATION_OPS).first())
    if ttl > 0 and not held:
        with _routing_lock:
            if _routing["generation"] == generation:  # nothing changed while we read
                _routing.update(value=value, loaded_at=now)
    return value


class Router:
    """Routing decisions for many exceptions with the rules loaded once.

    ``rules`` may be given (a preview of edited rules); otherwise the enabled rules in
    order, from the per-process cache above. The objects are shared between requests:
    read them, never change them.
    """

    def __init__(self, rules=None):
        cached_rules, self.defaults, self._ops = _routing_config()
        if rules is None:
            rules = cached_rules
        self.rules = [r for r in rules if r.enabled]

    def route(self, *, integration, entity_id, error_code, severity, business_keys):
        """-> (queue, assignee_id, severity, rule or None)."""
        for rule in self.rules:
            if rule.matches(
                integration_id=integration.pk, entity_id=entity_id, error_code=error_code,
                severity=severity, business_keys=business_keys,
            ):
                final = severity
                if rule.raise_severity_to and SEVERITY_RANK[rule.raise_severity_to] < SEVERITY_RANK[severity]:
                    final = rule.raise_severity_to
                return rule.queue, rule.assignee_id, final, rule
        queue = self.defaults.get(integration.pk)
        if queue is None:
            if self._ops is None:
                self._ops = integration_ops_queue(integration)
            queue = self._ops
        return queue, None, severity, None


def due_at(queue: Queue, severity: str, start):
    return start + datetime.timedelta(hours=queue.target_hours(severity))



# --- configuration (queues and routing rules) -----------------------------------------

QUEUE_FIELDS = ("name", "slug", "description", "team", "target_hours_critical", "target_hours_high",
                "target_hours_medium", "target_hours_low", "raise_severity_when_overdue", "restricted")
RULE_FIELDS = ("position", "name", "enabled", "integration", "entity", "error_code", "error_code_match", "severity",
               "business_key", "business_value", "queue", "assignee", "raise_severity_to")


def _save_config(model, fields, *, actor, instance=None, data: dict, action: str):
    creating = instance is None
    obj = instance or model()
    before = None if creating else audit.snapshot(obj)
    for name in fields:
        if name in data:
            setattr(obj, name, data[name])
    if isinstance(obj, Queue) and not obj.slug:
        obj.slug = slugify(obj.name)[:100]
    obj.full_clean()
    if creating:
        obj.save()
    else:
        obj.save(update_fields=[model._meta.get_field(n).attname if model._meta.get_field(n).is_relation else n
                                for n in fields if n in data] + (["updated_at"] if hasattr(obj, "updated_at") else []))
    audit.record(actor=actor, action=f"{action}.{'created' if creating else 'changed'}", obj=obj, before=before,
                 after=audit.snapshot(obj))
    return obj


@transaction.atomic
def save_queue(*, actor, data: dict, queue: Queue | None = None) -> Queue:
    """Create or change a queue. Who sees a restricted queue is its team's business:
    switching ``restricted`` on or off, creating a restricted queue, or moving a restricted
    queue to another team needs a superuser or a lead of the team(s) concerned (both the
    old and the new one when it moves); the teams are told."""
    from catalog.services import announce_access_change, require_access_governor

    if queue is not None:
        queue = Queue.objects.select_for_update().select_related("team").get(pk=queue.pk)
    was_restricted = bool(queue and queue.restricted)
    old_team = queue.team if queue else None
    new_restricted = bool(data.get("restricted", was_restricted))
    new_team = data.get("team", old_team)
    teams = []
    if was_restricted != new_restricted or (new_team != old_team and (was_restricted or new_restricted)):
        teams = list(dict.fromkeys(t for t in (old_team, new_team) if t is not None))
        for team in teams:
            require_access_governor(actor, team, what="change who sees a restricted queue")
    saved = _save_config(Queue, QUEUE_FIELDS, actor=actor, instance=queue, data=data, action="queue")
    if teams:
        if queue is None:
            text = f"created the restricted queue {saved}, owned by {saved.team}."
        elif was_restricted != new_restricted:
            text = f"{'restricted' if new_restricted else 'lifted the restriction on'} the queue {saved}" + (
                "" if new_restricted else ": every role may now see its exceptions") + "."
        else:
            text = f"moved the restricted queue {saved} from {old_team} to {new_team}."
        for team in teams:
            announce_access_change(team, actor=actor, text=text)
    return saved


def _guard_restricted_rule(actor, *queues) -> None:
    """A rule that feeds a restricted queue decides what its team alone sees: redirecting,
    disabling or deleting it would send future items where everyone sees them, so only a
    governor of that team (a lead or a superuser) changes it."""
    from catalog.services import require_access_governor

    for queue in {q.pk: q for q in queues if q is not None and q.restricted}.values():
        require_access_governor(actor, queue.team, what="change a routing rule of a restricted queue")


@transaction.atomic
def save_routing_rule(*, actor, data: dict, rule: RoutingRule | None = None) -> RoutingRule:
    # The stored rule's queue (a bound ModelForm has already written the new one on ``rule``).
    saved = RoutingRule.objects.select_related("queue__team").filter(pk=rule.pk).first() if rule and rule.pk else None
    _guard_restricted_rule(actor, saved.queue if saved else None, data.get("queue"))
    return _save_config(RoutingRule, RULE_FIELDS, actor=actor, instance=rule, data=data, action="routingrule")


@transaction.atomic
def save_default_queue(*, actor, data: dict, default: DefaultQueue | None = None) -> DefaultQueue:
    """Where an integration's exceptions go when no routing rule matches."""
    return _save_config(DefaultQueue, ("integration", "queue"), actor=actor, instance=default, data=data,
                        action="defaultqueue")


@transaction.atomic
def delete_routing_rule(*, actor, rule: RoutingRule) -> None:
    _guard_restricted_rule(actor, RoutingRule.objects.select_related("queue__team").get(pk=rule.pk).queue)
    audit.record(actor=actor, action="routingrule.deleted", obj=rule, before=audit.snapshot(rule))
    rule.delete()
