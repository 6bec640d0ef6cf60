"""Replay requests: an (optionally edited) payload queued for delivery to the integration's
replay target through the outbox.

Sent once per intent: the row of a replay's next attempt is reserved (``ReplayAttempt``
with no ``finished_at``) in the transaction that queues it, and a replay request made while
one is in flight (a second click, a concurrent request, an id listed twice in a bulk post)
joins it — same replay id, so the same ``Idempotency-Key`` — instead of sending again. A
different payload while one is in flight is a 409."""

import hashlib
import json
import logging
import uuid

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from controlplane import audit, outbox
from controlplane.errors import Conflict, InvalidTransition, ValidationFailed

from .. import schema_check
from ..models import (
    BusinessException,
    ReplayAttempt,
    ReplayTarget,
)
from ._shared import _pk

log = logging.getLogger(__name__)

# Queued by name: the task module imports the services, never the other way round.
REPLAY_TASK = "exceptions.tasks.replay_exception"




# --- replay ----------------------------------------------------------------------------

REPLAY_TARGET_FIELDS = ("integration", "url", "secret", "enabled", "max_attempts")
# The signing secret never goes into the audit log; that it changed does.
_TARGET_AUDIT = ("integration", "url", "enabled", "max_attempts")


@transaction.atomic
def save_replay_target(*, actor, data: dict, target: ReplayTarget | None = None) -> ReplayTarget:
    """Create or change the endpoint an integration accepts corrected payloads on."""
    creating = target is None
    target = target or ReplayTarget()
    before = None if creating else audit.snapshot(target, _TARGET_AUDIT)
    old_secret = target.secret
    for name in REPLAY_TARGET_FIELDS:
        if name in data:
            setattr(target, name, data[name])
    target.full_clean()
    target.save()
    after = audit.snapshot(target, _TARGET_AUDIT)
    if target.secret != old_secret:
        after["secret"] = "changed"
    audit.record(actor=actor, action=f"replaytarget.{'created' if creating else 'changed'}", obj=target,
                 before=before, after=after)
    return target


_UNSET = object()


def payload_size(payload) -> int:
    return len(json.dumps(payload, separators=(",", ":"), default=str).encode())


def reserve_attempt(*, exception, replay_id, attempt: int, url: str, requested_by_id=None) -> None:
    """Reserve the row of a replay's next attempt, in the transaction that queues it: while
    it is unfinished the replay is in flight and a new request joins it."""
    ReplayAttempt.objects.get_or_create(replay_id=replay_id, attempt=attempt, defaults={
        "exception_id": _pk(exception), "url": url, "requested_by_id": requested_by_id, "started_at": timezone.now()})


def close_unsent_attempt(*, replay_id, attempt: int, reason: str) -> int:
    """An attempt the task decided not to send (the exception closed meanwhile, the target
    went away): finish its reserved row so the replay is no longer in flight. Waits for a
    worker that holds the row and then leaves a finished row alone."""
    return ReplayAttempt.objects.filter(replay_id=replay_id, attempt=attempt, finished_at__isnull=True).update(
        finished_at=timezone.now(), error=reason[:500])


def in_flight(exception) -> ReplayAttempt | None:
    return (ReplayAttempt.objects.filter(exception_id=_pk(exception), finished_at__isnull=True)
            .order_by("-started_at", "-id").first())


@transaction.atomic
def request_replay(*, exception, actor, payload=_UNSET) -> uuid.UUID:
    """Queue a replay of the exception's payload (edited first when ``payload`` is given)
    to the integration's replay target. The task posts it and records every attempt.

    While a replay of this exception is in flight the request joins it (returns its id,
    nothing new is sent) when it asks for the same payload, and is a Conflict otherwise."""
    # of=self: do not lock the integration row every ingest of its exceptions references.
    exc = BusinessException.objects.select_for_update(of=("self",)).select_related("integration").get(pk=_pk(exception))
    if not exc.is_open:
        raise InvalidTransition("Only open exceptions can be replayed; reopen it first.")
    target = ReplayTarget.objects.filter(integration_id=exc.integration_id, enabled=True).first()
    if target is None:
        raise ValidationFailed(f"{exc.integration} declares no replay endpoint.", code="no_replay_target")
    if exc.payload is None and exc.original_payload is None:
        # Replay resends what the middleware posted, corrected: an SLA breach or a failure
        # reported without its record has nothing to resend (fix it at the source).
        raise ValidationFailed("There is nothing to replay: no payload was posted with this exception. "
                               "Fix it at the source and resolve it.", code="no_payload")
    note = "replay requested"
    pending = in_flight(exc)
    if pending is not None:
        if payload is _UNSET or payload == exc.payload:
            return pending.replay_id  # the same intent, already on its way
        raise Conflict("A replay of this exception is still in flight; wait for its outcome before replaying "
                       "another payload.", fields={"replay_id": [str(pending.replay_id)]})
    if payload is not _UNSET:
        if payload is None:
            raise ValidationFailed("The payload is empty.", fields={"payload": ["Enter a JSON value."]})
        limit = settings.EXCEPTIONS_MAX_PAYLOAD_BYTES
        if payload_size(payload) > limit:
            raise ValidationFailed(f"The payload is over the {limit // 1024} KB limit.", fields={"payload": ["Too large."]})
        if exc.entity_id:
            errors = schema_check.validate_against_entity_schema(exc.entity, payload)
            if errors:
                raise ValidationFailed("The payload does not match the entity's approved schema.",
                                       fields={"payload": errors})
        if payload != exc.payload:
            fields = ["payload"]
            if exc.original_payload is None:
                exc.original_payload = exc.payload
                fields.append("original_payload")
            exc.payload = payload
            exc.save(update_fields=[*fields, "updated_at"])
            note = "payload edited; replay requested"
    replay_id = uuid.uuid4()
    audit.record(actor=actor, action="businessexception.replay_requested", obj=exc,
                 after={"replay_id": str(replay_id), "payload_sha256": hashlib.sha256(
                     json.dumps(exc.payload, sort_keys=True, default=str).encode()).hexdigest()},
                 note=note)
    actor_id = getattr(actor, "pk", None)
    reserve_attempt(exception=exc, replay_id=replay_id, attempt=1, url=target.url, requested_by_id=actor_id)
    # The outbox: a broker outage neither fails this request nor loses the replay.
    outbox.enqueue(REPLAY_TASK, exc.pk, str(replay_id), 1, actor_id)
    return replay_id
