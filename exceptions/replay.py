"""Delivery of a corrected payload to an integration's replay target.

Request: ``POST <url>`` with the payload as compact JSON (sorted keys) and headers

- ``Idempotency-Key: exc-<exception id>-<replay id>`` (the same for every retry of one replay)
- ``X-Controlplane-Timestamp: <unix seconds>``
- ``X-Controlplane-Signature: sha256=<hex>`` where hex is HMAC-SHA256 with the target's
  secret over ``<timestamp>.<idempotency key>.<body bytes>``.

Redirects are followed by hand (at most 3), each hop through the outbound-URL guard; the
response is read up to 64 KB. 2xx resolves the exception as "data corrected and replayed".
"""

import hashlib
import hmac
import json
import time

import httpx
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from controlplane.errors import DomainError
from controlplane.outbound import OutboundURLDenied, guard_url

from .choices import Resolution
from .models import BusinessException, ReplayAttempt, ReplayTarget

MAX_RESPONSE_BYTES = 64 * 1024
MAX_REDIRECTS = 3
SIGNATURE_HEADER = "X-Controlplane-Signature"
TIMESTAMP_HEADER = "X-Controlplane-Timestamp"


def sign(secret: str, timestamp: str, idempotency_key: str, body: bytes) -> str:
    message = timestamp.encode() + b"." + idempotency_key.encode() + b"." + body
    return "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def _post(url: str, body: bytes, headers: dict) -> tuple[int, bytes]:
    timeout = httpx.Timeout(settings.EXCEPTIONS_REPLAY_TIMEOUT_SECONDS)
    with httpx.Client(timeout=timeout, follow_redirects=False) as client:
        for _hop in range(MAX_REDIRECTS + 1):
            guard_url(url)
            with client.stream("POST", url, content=body, headers=headers) as response:
                if response.is_redirect and response.headers.get("location"):
                    url = str(response.url.join(response.headers["location"]))
                    continue
                data = b""
                for chunk in response.iter_bytes():
                    data += chunk
                    if len(data) >= MAX_RESPONSE_BYTES:
                        data = data[:MAX_RESPONSE_BYTES]
                        break
                return response.status_code, data
    raise httpx.TooManyRedirects(f"More than {MAX_REDIRECTS} redirects.")


def perform_attempt(*, exception_id: int, replay_id: str, attempt: int, requested_by_id=None) -> str:
    """One delivery attempt. -> "succeeded", "retry", "failed" or "skipped"."""
    from django.contrib.auth import get_user_model

    from . import services

    exc = BusinessException.objects.select_related("integration").get(pk=exception_id)
    if ReplayAttempt.objects.filter(replay_id=replay_id, attempt=attempt).exists():
        return "skipped"  # redelivered task: this attempt already ran
    if not exc.is_open:
        return "skipped"
    target = ReplayTarget.objects.filter(integration_id=exc.integration_id, enabled=True).first()
    if target is None:
        return "failed"
    body = json.dumps(exc.payload, separators=(",", ":"), sort_keys=True, default=str).encode()
    key = f"exc-{exc.pk}-{replay_id}"
    stamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json", "Idempotency-Key": key, TIMESTAMP_HEADER: stamp,
        SIGNATURE_HEADER: sign(target.secret, stamp, key, body), "User-Agent": "controlplane-replay/1",
    }
    record = ReplayAttempt(exception=exc, replay_id=replay_id, attempt=attempt, url=target.url,
                           requested_by_id=requested_by_id, started_at=timezone.now())
    started = time.perf_counter()
    retryable = True
    try:
        status, data = _post(target.url, body, headers)
        record.status_code = status
        record.response_excerpt = data[:2000].decode("utf-8", "replace")
        record.succeeded = 200 <= status < 300
        retryable = status >= 500 or status in (408, 425, 429)
        if not record.succeeded:
            record.error = f"HTTP {status}"
    except OutboundURLDenied as denied:
        record.error = f"Refused by the outbound-URL guard: {denied}"[:500]
        retryable = False
    except httpx.HTTPError as error:
        record.error = f"{type(error).__name__}: {error}"[:500]
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
        return "retry"
    return "failed"
