"""The four callers of the one outbound client, each driven the way the product drives it,
for tests that must hold for every client path: a probe as the sweep runs it, a webhook
and a chat notification as ``deliver`` sends them, and a replay attempt's HTTP part. Each
returns what that caller records: ``Result(status, body or None, error)``."""

import datetime as dt
from dataclasses import dataclass


@dataclass
class Result:
    status: int | None
    body: bytes | None  # None: the caller keeps no body (notifications)
    error: str


def probe(url, *, timeout_s=1, max_body=None):
    from health.sweep import Claimed, run_probes

    claimed = Claimed(id=1, integration_id=1, url=url, method="GET", headers={}, body="", timeout_ms=int(timeout_s * 1000),
                      interval_seconds=60, conditions="[STATUS] == 200", state="unknown", consecutive_failures=0,
                      consecutive_successes=0, next_due_at=dt.datetime.now(dt.UTC), failure_threshold=3,
                      success_threshold=2)
    outcome = run_probes([claimed], max_body=max_body)[0]
    return Result(outcome.status, outcome.body, outcome.error)


def _notify(kind, url):
    from health.models import Notification, NotificationChannel
    from health.notify import _send

    channel = NotificationChannel(name=kind, kind=kind, target=url)
    sent = _send(Notification(channel=channel, event="flip", subject="[DOWN] Invoices", payload={"to": "down"}))
    assert sent.ok == (not sent.error)
    return Result(sent.response_code, None, sent.error)


def webhook(url):
    return _notify("webhook", url)


def chat(url):
    return _notify("chat", url)


def replay(url):
    from exceptions.replay import post

    outcome = post(url, b"{}", {"Content-Type": "application/json", "Idempotency-Key": "k"})
    return Result(outcome.status, outcome.body, outcome.failure())


CALLERS = {"probe": probe, "webhook": webhook, "chat": chat, "replay": replay}
