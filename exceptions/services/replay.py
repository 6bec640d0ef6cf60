"""Replay requests: an (optionally edited) payload queued for delivery to the integration's
replay target through the outbox."""

import hashlib
import json
import logging
import uuid

from django.conf import settings
from django.db import transaction

from controlplane import audit, outbox
from controlplane.errors import InvalidTransition, ValidationFailed

from .. import schema_check
from ..models import (
    BusinessException,
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


@transaction.atomic
def request_replay(*, exception, actor, payload=_UNSET) -> uuid.UUID:
    """Queue a replay of the exception's payload (edited first when ``payload`` is given)
    to the integration's replay target. The task posts it and records every attempt."""
    # of=self: do not lock the integration row every ingest of its exceptions references.
    exc = BusinessException.objects.select_for_update(of=("self",)).select_related("integration").get(pk=_pk(exception))
    if not exc.is_open:
        raise InvalidTransition("Only open exceptions can be replayed; reopen it first.")
    target = ReplayTarget.objects.filter(integration_id=exc.integration_id, enabled=True).first()
    if target is None:
        raise ValidationFailed(f"{exc.integration} declares no replay endpoint.", code="no_replay_target")
    note = "replay requested"
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
    if exc.payload is None:
        raise ValidationFailed("There is no payload to replay.", fields={"payload": ["Enter a JSON value."]})
    replay_id = uuid.uuid4()
    audit.record(actor=actor, action="businessexception.replay_requested", obj=exc,
                 after={"replay_id": str(replay_id), "payload_sha256": hashlib.sha256(
                     json.dumps(exc.payload, sort_keys=True, default=str).encode()).hexdigest()},
                 note=note)
    actor_id = getattr(actor, "pk", None)
    # The outbox: a broker outage neither fails this request nor loses the replay.
    outbox.enqueue(REPLAY_TASK, exc.pk, str(replay_id), 1, actor_id)
    return replay_id
