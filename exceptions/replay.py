"""Delivery of a corrected payload to an integration's replay target.

Request: ``POST <url>`` with the payload as compact JSON (sorted keys) and headers

- ``Idempotency-Key: exc-<exception id>-<replay id>`` (the same for every retry of one
  replay, and for a re-run after a worker died mid-attempt: targets dedupe on it)
- ``X-Controlplane-Timestamp: <unix seconds>``
- ``X-Controlplane-Signature: sha256=<hex>`` where hex is HMAC-SHA256 with the target's
  secret over ``<timestamp>.<idempotency key>.<body bytes>``.

The request goes through the one outbound client (``controlplane.outbound``): the guard
on every hop (the host normalised as the client connects to it, every resolved address
checked, the connection pinned to a checked one; Host header and TLS SNI keep the name),
its redirect policy (307/308 repeat the POST; 301/302/303 end the attempt rather than
turn it into a GET), a TOTAL deadline (``EXCEPTIONS_REPLAY_TIMEOUT_SECONDS``, covering
connect, headers and body) and a body cap (``EXCEPTIONS_REPLAY_MAX_RESPONSE_BYTES``,
gzip bombs inflated no further). A failure is recorded in its vocabulary
(``denied: ...``, ``timeout: ...``, ``http_status: HTTP 503``); a refusal by the guard is
final, other failures are retried. 2xx resolves the exception as "data corrected and
replayed".

Exactly-once bookkeeping: one ``ReplayAttempt`` row per (replay id, attempt), unique; the
attempt runs while holding that row's lock (``SKIP LOCKED``: a concurrent duplicate skips)
and its result, the resolution and the next retry (through the outbox) commit together.
A worker killed mid-attempt rolls all of it back and releases the lock, so the redelivered
task runs the attempt again with the same Idempotency-Key and one row is recorded.
"""

import hashlib
import hmac
import json
import time

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from controlplane import outbox
from controlplane.errors import DomainError
from controlplane.outbound import ErrorKind, Outcome, request_sync

from .choices import Resolution
from .models import BusinessException, ReplayAttempt, ReplayTarget

SIGNATURE_HEADER = "X-Controlplane-Signature"
TIMESTAMP_HEADER = "X-Controlplane-Timestamp"
# Failures a retry cannot cure: the guard's refusal (the URL or its addresses are not
# allowed) and our own malformed request. Everything else (timeouts, resets, 5xx, a broken
# redirect) may be the target's passing trouble and is retried with the same key.
_FINAL_KINDS = {ErrorKind.DENIED, ErrorKind.INVALID_REQUEST}


def sign(secret: str, timestamp: str, idempotency_key: str, body: bytes) -> str:
    message = timestamp.encode() + b"." + idempotency_key.encode() + b"." + body
    return "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def post(url: str, body: bytes, headers: dict, *, resolve=None) -> Outcome:
    """The HTTP part of one attempt, through the one outbound client (guard, pinning,
    redirect policy, total deadline and body cap of ``controlplane.outbound``)."""
    return request_sync("POST", url, headers=headers, data=body, timeout_s=settings.EXCEPTIONS_REPLAY_TIMEOUT_SECONDS,
                        max_body=settings.EXCEPTIONS_REPLAY_MAX_RESPONSE_BYTES, resolve=resolve)


def perform_attempt(*, exception_id: int, replay_id: str, attempt: int, requested_by_id=None) -> str:
    """One delivery attempt. -> "succeeded", "retry", "failed" or "skipped"."""
    from django.contrib.auth import get_user_model

    from . import services, tasks

    exc = BusinessException.objects.select_related("integration").get(pk=exception_id)
    if ReplayAttempt.objects.filter(replay_id=replay_id, attempt=attempt, finished_at__isnull=False).exists():
        return "skipped"  # redelivered task: this attempt already ran
    if not exc.is_open:
        return "skipped"
    target = ReplayTarget.objects.filter(integration_id=exc.integration_id, enabled=True).first()
    if target is None:
        return "failed"
    try:  # the attempt's row exists once, whoever gets here first
        with transaction.atomic():
            ReplayAttempt.objects.get_or_create(replay_id=replay_id, attempt=attempt, defaults={
                "exception": exc, "url": target.url, "requested_by_id": requested_by_id, "started_at": timezone.now()})
    except IntegrityError:
        pass
    with transaction.atomic():
        record = (ReplayAttempt.objects.select_for_update(skip_locked=True)
                  .filter(replay_id=replay_id, attempt=attempt, finished_at__isnull=True).first())
        if record is None:
            return "skipped"  # finished meanwhile, or another worker holds it right now
        body = json.dumps(exc.payload, separators=(",", ":"), sort_keys=True, default=str).encode()
        key = f"exc-{exc.pk}-{replay_id}"
        stamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json", "Idempotency-Key": key, TIMESTAMP_HEADER: stamp,
            SIGNATURE_HEADER: sign(target.secret, stamp, key, body), "User-Agent": "controlplane-replay/1",
            "Accept-Encoding": "gzip, deflate",
        }
        record.url, record.started_at = target.url, timezone.now()
        started = time.perf_counter()
        outcome = post(target.url, body, headers)
        record.status_code = outcome.status
        record.response_excerpt = outcome.body[:2000].decode("utf-8", "replace")
        record.succeeded = outcome.succeeded
        record.error = outcome.failure()[:500]
        if outcome.status is not None:
            retryable = outcome.status >= 500 or outcome.status in (408, 425, 429)
        else:
            retryable = outcome.kind not in _FINAL_KINDS
        record.finished_at = timezone.now()
        record.duration_ms = int((time.perf_counter() - started) * 1000)
        record.save()
        if record.succeeded:
            actor = get_user_model().objects.filter(pk=requested_by_id).first() if requested_by_id else None
            try:
                with transaction.atomic():
                    services.resolve(exception=exc.pk, actor=actor, resolution_code=Resolution.REPLAYED,
                                     note=f"Replay {replay_id} accepted (HTTP {record.status_code}, attempt {attempt}).")
            except DomainError:
                pass  # somebody closed it meanwhile; the attempt is recorded either way
            return "succeeded"
        if retryable and attempt < target.max_attempts:
            # Queued with the attempt's record: a crash cannot record the failure and lose the retry.
            countdown = settings.EXCEPTIONS_REPLAY_BACKOFF_SECONDS * (2 ** (attempt - 1))
            outbox.enqueue(tasks.replay_exception, exc.pk, str(replay_id), attempt + 1, requested_by_id,
                           countdown=countdown)
            return "retry"
        return "failed"
