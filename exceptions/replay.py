"""Delivery of a corrected payload to an integration's replay target.

Request: ``POST <url>`` with the payload as compact JSON (sorted keys) and headers

- ``Idempotency-Key: exc-<exception id>-<replay id>`` (the same for every retry of one
  replay, and for a re-run after a worker died mid-attempt: targets dedupe on it)
- ``X-Controlplane-Timestamp: <unix seconds>``
- ``X-Controlplane-Signature: sha256=<hex>`` where hex is HMAC-SHA256 with the target's
  secret over ``<timestamp>.<idempotency key>.<body bytes>``.

Hostile targets cannot hold a worker or its memory: each attempt has a TOTAL deadline
(``EXCEPTIONS_REPLAY_TIMEOUT_SECONDS``, covering connect, headers and body, so a target
trickling a byte a second does not reset it), at most ``EXCEPTIONS_REPLAY_MAX_RESPONSE_BYTES``
of the response are read, and compressed bodies are inflated by us with the same cap (a
gzip bomb inflates no further than the cap). The connection goes to the address
``guard_url`` checked (Host header and TLS SNI keep the name), so a DNS answer that changes
between check and connect cannot reach an internal address. Redirects are followed by hand
(at most 3), each hop guarded and pinned again. 2xx resolves the exception as "data
corrected and replayed".

Exactly-once bookkeeping: one ``ReplayAttempt`` row per (replay id, attempt), unique; the
attempt runs while holding that row's lock (``SKIP LOCKED``: a concurrent duplicate skips)
and its result, the resolution and the next retry (through the outbox) commit together.
A worker killed mid-attempt rolls all of it back and releases the lock, so the redelivered
task runs the attempt again with the same Idempotency-Key and one row is recorded.
"""

import asyncio
import hashlib
import hmac
import json
import time
import zlib
from urllib.parse import urljoin

import httpx
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from controlplane import outbox
from controlplane.aio import run_async
from controlplane.errors import DomainError
from controlplane.outbound import OutboundURLDenied, guard_url

from .choices import Resolution
from .models import BusinessException, ReplayAttempt, ReplayTarget

MAX_REDIRECTS = 3
SIGNATURE_HEADER = "X-Controlplane-Signature"
TIMESTAMP_HEADER = "X-Controlplane-Timestamp"


class ReplayTimeout(Exception):
    """The attempt's total deadline passed."""


def sign(secret: str, timestamp: str, idempotency_key: str, body: bytes) -> str:
    message = timestamp.encode() + b"." + idempotency_key.encode() + b"." + body
    return "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def _pinned(url: str, *, resolve=None):
    """(url to connect to, Host header, request extensions): the host replaced by the
    address the guard checked."""
    target = guard_url(url, resolve=resolve) if resolve else guard_url(url)
    parsed = httpx.URL(url)
    default_port = 443 if target.scheme == "https" else 80
    host_header = target.host if target.port == default_port else f"{target.host}:{target.port}"
    if ":" in target.host and not target.host.startswith("["):
        host_header = f"[{target.host}]" if target.port == default_port else f"[{target.host}]:{target.port}"
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    return parsed.copy_with(host=target.addresses[0]), host_header, extensions


def _decoder(encoding: str):
    encoding = (encoding or "").strip().lower()
    if encoding in ("gzip", "x-gzip"):
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if encoding == "deflate":
        return zlib.decompressobj()
    return None


async def _read_capped(response, limit: int) -> bytes:
    """At most ``limit`` bytes of the (inflated) body; compressed input is inflated with
    ``max_length`` so a bomb never expands past the cap, and raw bytes are capped too."""
    decoder = _decoder(response.headers.get("content-encoding", ""))
    data = bytearray()
    raw_seen = 0
    async for chunk in response.aiter_raw():
        raw_seen += len(chunk)
        if decoder is not None:
            try:
                chunk = decoder.decompress(decoder.unconsumed_tail + chunk, limit - len(data) + 1)
            except zlib.error:
                break  # not what it claims to be: keep what we have
        data += chunk
        if len(data) > limit or raw_seen > 4 * limit + 65536:
            break
    return bytes(data[:limit])


async def _apost(url: str, body: bytes, headers: dict, *, timeout: float, limit: int, resolve=None) -> tuple[int, bytes]:
    async with asyncio.timeout(timeout):
        async with httpx.AsyncClient(timeout=httpx.Timeout(timeout), follow_redirects=False, trust_env=False) as client:
            for _hop in range(MAX_REDIRECTS + 1):
                pinned, host_header, extensions = _pinned(url, resolve=resolve)
                request = client.build_request("POST", pinned, content=body, headers={**headers, "Host": host_header},
                                               extensions=extensions)
                response = await client.send(request, stream=True)
                try:
                    location = response.headers.get("location")
                    if response.is_redirect and location:
                        url = urljoin(url, location)
                        continue
                    return response.status_code, await _read_capped(response, limit)
                finally:
                    await response.aclose()
    raise httpx.TooManyRedirects(f"More than {MAX_REDIRECTS} redirects.")


def _post(url: str, body: bytes, headers: dict, *, resolve=None) -> tuple[int, bytes]:
    timeout = settings.EXCEPTIONS_REPLAY_TIMEOUT_SECONDS
    try:
        return run_async(_apost(url, body, headers, timeout=timeout, limit=settings.EXCEPTIONS_REPLAY_MAX_RESPONSE_BYTES,
                           resolve=resolve))
    except TimeoutError:
        raise ReplayTimeout(f"no complete answer within the {timeout} s deadline") from None


def perform_attempt(*, exception_id: int, replay_id: str, attempt: int, requested_by_id=None) -> str:
    """One delivery attempt. -> "succeeded", "retry", "failed" or "skipped"."""
    from django.contrib.auth import get_user_model

    from . import services, tasks

    exc = BusinessException.objects.select_related("integration").get(pk=exception_id)
    if ReplayAttempt.objects.filter(replay_id=replay_id, attempt=attempt, finished_at__isnull=False).exists():
        return "skipped"  # redelivered task: this attempt already ran
    if not exc.is_open:
        services.close_unsent_attempt(replay_id=replay_id, attempt=attempt, reason="Not sent: the exception was closed first.")
        return "skipped"
    target = ReplayTarget.objects.filter(integration_id=exc.integration_id, enabled=True).first()
    if target is None:
        services.close_unsent_attempt(replay_id=replay_id, attempt=attempt, reason="Not sent: no enabled replay target.")
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
        except (httpx.HTTPError, ReplayTimeout, OSError) as error:
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
            # Queued with the attempt's record: a crash cannot record the failure and lose the retry.
            countdown = settings.EXCEPTIONS_REPLAY_BACKOFF_SECONDS * (2 ** (attempt - 1))
            services.reserve_attempt(exception=exc, replay_id=replay_id, attempt=attempt + 1, url=target.url,
                                     requested_by_id=requested_by_id)
            outbox.enqueue(tasks.replay_exception, exc.pk, str(replay_id), attempt + 1, requested_by_id,
                           countdown=countdown)
            return "retry"
        return "failed"
