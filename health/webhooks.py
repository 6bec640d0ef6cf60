"""The one sender of every outbound webhook (team notifications, and any other event the
control plane emits to a receiver's URL): a JSON body signed per Standard Webhooks
(https://www.standardwebhooks.com/, the ``standardwebhooks`` library) and sent through the
outbound client (controlplane.outbound: the SSRF guard, limits and errors).

Headers: ``webhook-id`` (stable per message, the same on every retry, so a receiver can
deduplicate), ``webhook-timestamp`` (Unix seconds of this attempt) and ``webhook-signature``
(``v1,<base64 HMAC-SHA256 of "id.timestamp.body">``). A receiver verifies with
``standardwebhooks.Webhook(secret).verify(body, headers)``.

The secret: a ``whsec_<base64>`` value is used as the spec defines (``new_secret()`` makes
one); any other stored secret (channels created before this) is used as raw key bytes,
which the receiver passes as ``Webhook(secret.encode())``. While such legacy secrets exist the
older ``X-ControlPlane-Signature`` header is sent beside, so no receiver breaks on upgrade.
"""

import base64
import datetime as dt
import hashlib
import hmac
import json
import secrets as random
from dataclasses import dataclass

from django.conf import settings
from standardwebhooks import Webhook

from controlplane import outbound

MAX_RESPONSE_BYTES = 16 * 1024
PREFIX = "whsec_"


def new_secret() -> str:
    """A fresh Standard Webhooks secret (32 random bytes)."""
    return PREFIX + base64.b64encode(random.token_bytes(32)).decode()


def _signer(secret: str) -> Webhook:
    return Webhook(secret) if secret.startswith(PREFIX) else Webhook(secret.encode())


def legacy_signature(secret: str, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def signed_headers(*, secret: str, message_id: str, event: str, body: bytes, now: dt.datetime | None = None) -> dict:
    now = now or dt.datetime.now(dt.UTC)
    timestamp = str(int(now.timestamp()))
    headers = {"Content-Type": "application/json", "webhook-id": message_id, "webhook-timestamp": timestamp,
               "X-ControlPlane-Event": event}
    if secret:
        headers["webhook-signature"] = _signer(secret).sign(msg_id=message_id, timestamp=now, data=body.decode())
        if not secret.startswith(PREFIX):
            headers["X-ControlPlane-Timestamp"] = timestamp
            headers["X-ControlPlane-Signature"] = legacy_signature(secret, timestamp, body)
    return headers


@dataclass(frozen=True)
class Delivery:
    """How one send ended: ``ok`` (a 2xx), the answer's status code, the error in the
    outbound client's vocabulary ("" when ok) and the time it took."""

    ok: bool
    response_code: int | None
    error: str
    latency_ms: int | None


def post_json(url: str, payload, *, headers: dict | None = None) -> Delivery:
    """POST ``payload`` as JSON (chat webhooks: Slack, Teams); never raises."""
    body = json.dumps(payload, sort_keys=True).encode()
    return _post(url, body, {"Content-Type": "application/json", **(headers or {})})


def send(*, url: str, secret: str, message_id: str, event: str, payload, headers: dict | None = None) -> Delivery:
    """Sign and POST one webhook message (``headers``: extra ones, never the signed ones);
    never raises."""
    body = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    return _post(url, body, {**(headers or {}),
                             **signed_headers(secret=secret, message_id=message_id, event=event, body=body)})


def _post(url, body, headers) -> Delivery:
    outcome = outbound.request_sync("POST", url, headers=headers, data=body,
                                    timeout_s=getattr(settings, "HEALTH_WEBHOOK_TIMEOUT_SECONDS", 10),
                                    max_body=MAX_RESPONSE_BYTES)
    return Delivery(ok=outcome.succeeded, response_code=outcome.status, error=outcome.failure(),
                    latency_ms=outcome.elapsed_ms)
