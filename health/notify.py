"""Notifications: one message per flip (or breach event) per team channel, a log with
delivery status, and retries with exponential backoff driven by the table (a periodic task
picks up due retries), so a worker restart loses nothing."""

import datetime as dt
import logging

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from controlplane import outbox
from exceptions.at_risk import open_amount_at_risk_by_integration

from . import chat, secrets, webhooks
from .choices import ChannelKind, DeliveryStatus, Status
from .models import DeliveryAttempt, Flip, Notification, NotificationChannel

logger = logging.getLogger(__name__)

ALERTING = {Status.DOWN, Status.LATE, Status.DEGRADED}
QUIET = {Status.MAINTENANCE, Status.PAUSED}


def _site():
    return getattr(settings, "HEALTH_SITE_URL", "http://127.0.0.1:8000").rstrip("/")


def should_notify(flip) -> bool:
    """Alerts for going bad (also when a maintenance window ends on a broken integration)
    and for recovering from bad; nothing for entering maintenance or a pause, nothing for
    "maintenance -> up" or the first "unknown -> up"."""
    if flip.to_status in QUIET:
        return False
    return flip.to_status in ALERTING or (flip.to_status == Status.UP and flip.from_status in ALERTING)


def _create(channels, **kwargs):
    created = []
    for channel in channels:
        try:
            with transaction.atomic():
                created.append(Notification.objects.create(channel=channel, next_attempt_at=timezone.now(), **kwargs))
        except IntegrityError:  # already queued for this flip/breach: one message each
            continue
    for notification in created:
        # Through the outbox: queued with the notification row, published after commit
        # or by the relay when the broker is down (retry_notifications is the backstop).
        outbox.enqueue("health.tasks.deliver_notification", notification.pk)
    return created


def notify_flip(flip_id):
    return notify_flips([flip_id])


def notify_flips(flip_ids):
    """Queue one notification per (enabled channel of the owning team, flip). Loads the
    flips and the teams' channels in two queries whatever the count: a sweep that takes
    500 integrations down used to spend two queries and a savepoint per flip here."""
    ids = sorted(flip_ids)
    flips = [f for start in range(0, len(ids), 2000)
             for f in Flip.objects.select_related("integration", "integration__owner_team")
             .filter(pk__in=ids[start:start + 2000]).order_by("pk")
             if should_notify(f)]
    if not flips:
        return []
    channels = {}
    for channel in NotificationChannel.objects.filter(
        team_id__in={f.integration.owner_team_id for f in flips}, enabled=True
    ).order_by("pk"):
        channels.setdefault(channel.team_id, []).append(channel)
    at_risk = open_amount_at_risk_by_integration(
        {f.integration_id for f in flips if f.integration.owner_team_id in channels})
    created = []
    for flip in flips:
        integration = flip.integration
        team_channels = channels.get(integration.owner_team_id)
        if not team_channels:
            continue
        url = _site() + reverse("health:integration", kwargs={"slug": integration.slug})
        subject = f"[{flip.to_status.upper()}] {integration.name}"
        payload = {
            "event": "flip", "integration": integration.slug, "integration_name": integration.name,
            "from": flip.from_status, "to": flip.to_status, "reason": flip.reason, "at": flip.at.isoformat(), "url": url,
            "team": integration.owner_team.name, "amount_at_risk": at_risk.get(integration.pk, {}),
        }
        with transaction.atomic():
            created.extend(_create(team_channels, flip=flip, event="flip", subject=subject, payload=payload))
    return created


def notify_breach(breach, event):
    integration = breach.integration
    url = _site() + reverse("health:integration", kwargs={"slug": integration.slug})
    verb = "missed" if event == "breach_opened" else "met again"
    subject = f"[SLA] {integration.name}: {breach.get_metric_display()} target {verb}"
    payload = {"event": event, "integration": integration.slug, "integration_name": integration.name,
               "team": integration.owner_team.name, "metric": breach.metric, "metric_name": breach.get_metric_display(),
               "value": breach.value, "target": breach.target, "window": breach.window, "url": url,
               "at": timezone.now().isoformat(),
               "amount_at_risk": open_amount_at_risk_by_integration([integration.pk]).get(integration.pk, {})}
    channels = NotificationChannel.objects.filter(team_id=integration.owner_team_id, enabled=True)
    return _create(channels, breach=breach, event=event, subject=subject, payload=payload)


def notify_team(team, *, event: str, subject: str, payload: dict, kinds=None):
    """A message to every enabled channel of ``team`` (of the given ``kinds`` when named)
    that is about neither a flip nor a breach (e.g. a change of who may see its restricted
    queues, a schema version approved)."""
    channels = NotificationChannel.objects.filter(team_id=team.pk, enabled=True)
    if kinds is not None:
        channels = channels.filter(kind__in=list(kinds))
    return _create(channels, event=event, subject=subject[:300], payload=payload)


def _text(notification):
    p = notification.payload
    lines = [notification.subject]
    if p.get("reason"):
        lines.append(p["reason"])
    lines.extend(str(line) for line in (p.get("summary") or [])[:20])
    if p.get("url"):
        lines.append(p["url"])
    return "\n".join(lines)


def _send(notification) -> webhooks.Delivery:
    """Send once; never raises. Webhooks and chat go through the one webhook sender (and
    so the one outbound client): their error is in its vocabulary (``denied: ...``,
    ``timeout: ...``, ``http_status: HTTP 500``)."""
    channel = notification.channel
    if channel.kind == ChannelKind.EMAIL:
        started = timezone.now()
        try:
            send_mail(notification.subject, _text(notification), None, [channel.target])
        except Exception as exc:  # SMTP errors vary by backend
            return webhooks.Delivery(False, None, f"{type(exc).__name__}: {exc}", None)
        return webhooks.Delivery(True, None, "", int((timezone.now() - started).total_seconds() * 1000))
    if channel.kind == ChannelKind.SLACK:
        return webhooks.post_json(channel.target, chat.slack_message(notification))
    if channel.kind == ChannelKind.TEAMS:
        return webhooks.post_json(channel.target, chat.teams_message(notification))
    if channel.kind == ChannelKind.CHAT:
        return webhooks.post_json(channel.target, {"text": _text(notification)})
    secret = secrets.reveal(channel.secret) if channel.secret else ""
    # The id is the notification's: the same on every retry, so receivers deduplicate.
    return webhooks.send(url=channel.target, secret=secret, message_id=f"msg_cp_notification_{notification.pk}",
                         event=notification.event, payload=notification.payload,
                         headers={"X-ControlPlane-Delivery": str(notification.pk)})


def deliver(notification_id, now=None):
    """Try one delivery if it is due. The claim is a conditional update so two workers
    never send the same message twice."""
    now = now or timezone.now()
    max_attempts = getattr(settings, "HEALTH_NOTIFY_MAX_ATTEMPTS", 5)
    base = getattr(settings, "HEALTH_NOTIFY_BACKOFF_SECONDS", 30)
    notification = Notification.objects.select_related("channel").filter(pk=notification_id).first()
    if notification is None or notification.status not in (DeliveryStatus.PENDING, DeliveryStatus.RETRYING):
        return None
    attempts = notification.attempts
    lease = now + dt.timedelta(seconds=120)
    claimed = Notification.objects.filter(
        pk=notification.pk, attempts=attempts, status=notification.status, next_attempt_at__lte=now
    ).update(attempts=attempts + 1, next_attempt_at=lease)
    if not claimed:
        return None
    attempted_at = timezone.now()
    result = _send(notification)
    ok, code, error = result.ok, result.response_code, result.error
    DeliveryAttempt.objects.create(notification=notification, number=attempts + 1, at=attempted_at, ok=ok,
                                   response_code=code, latency_ms=result.latency_ms, error=error[:300])
    fields = {"response_code": code, "last_error": error[:300]}
    if ok:
        fields.update(status=DeliveryStatus.SENT, sent_at=timezone.now(), next_attempt_at=None)
    elif attempts + 1 >= max_attempts:
        fields.update(status=DeliveryStatus.FAILED, next_attempt_at=None)
    else:
        fields.update(status=DeliveryStatus.RETRYING, next_attempt_at=now + dt.timedelta(seconds=base * 2 ** attempts))
    Notification.objects.filter(pk=notification.pk).update(**fields)
    if not ok:
        logger.warning("notification %s to %s failed (attempt %s): %s", notification.pk, notification.channel, attempts + 1, error)
    return fields["status"]


def due_retries(now=None, limit=500):
    now = now or timezone.now()
    return list(
        Notification.objects.filter(status__in=[DeliveryStatus.PENDING, DeliveryStatus.RETRYING], next_attempt_at__lte=now)
        .order_by("next_attempt_at").values_list("pk", flat=True)[:limit]
    )
