"""Notifications against a local HTTP receiver: one per flip, HMAC signature, chat format,
email, retries with backoff, delivery log; webhook URLs go through the outbound guard."""

import datetime as dt
import hashlib
import hmac
import json

import pytest
from django.core import mail
from django.utils import timezone

from health.choices import DeliveryStatus, Status
from health.models import Flip, HealthConfig, Notification, NotificationChannel
from health.notify import deliver, due_retries
from health.services import apply_status_changes, save_channel
from tests.factories import IntegrationFactory

pytestmark = pytest.mark.django_db(transaction=True)


def flip_to(integration, status, reason="probe failing"):
    config, _ = HealthConfig.objects.get_or_create(integration=integration)
    apply_status_changes([(config, status, reason)])
    return Flip.objects.filter(integration=integration).latest("pk")


@pytest.fixture
def receiver(loopback):
    loopback.received.clear()
    loopback.fail_next = 0
    return loopback


def test_webhook_is_signed_and_sent_once_per_flip(receiver, allow_loopback, architect):
    integration = IntegrationFactory()
    save_channel(actor=architect, team=integration.owner_team, name="hook", kind="webhook",
                 target=receiver.url + "/hook", secret="s3cret")
    channel = NotificationChannel.objects.get()
    assert channel.secret.startswith("enc:") and "s3cret" not in channel.secret
    flip_to(integration, Status.DOWN)
    assert len(receiver.received) == 1
    hit = receiver.received[0]
    body = json.loads(hit["body"])
    assert body["to"] == "down" and body["integration"] == integration.slug and body["reason"] == "probe failing"
    timestamp = hit["headers"]["X-ControlPlane-Timestamp"]
    expected = "sha256=" + hmac.new(b"s3cret", timestamp.encode() + b"." + hit["body"], hashlib.sha256).hexdigest()
    assert hit["headers"]["X-ControlPlane-Signature"] == expected
    note = Notification.objects.get()
    assert note.status == DeliveryStatus.SENT and note.response_code == 200 and note.attempts == 1
    # the same flip never sends twice
    assert deliver(note.pk) is None
    assert len(receiver.received) == 1


def test_chat_webhook_gets_text(receiver, allow_loopback):
    integration = IntegrationFactory()
    NotificationChannel.objects.create(team=integration.owner_team, name="slack", kind="chat", target=receiver.url + "/hook")
    flip_to(integration, Status.LATE, "no run since 10:00")
    payload = json.loads(receiver.received[0]["body"])
    assert set(payload) == {"text"} and "[LATE]" in payload["text"] and "no run since 10:00" in payload["text"]


def test_email_channel():
    integration = IntegrationFactory()
    NotificationChannel.objects.create(team=integration.owner_team, name="mail", kind="email", target="ops@example.com")
    flip_to(integration, Status.DOWN)
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["ops@example.com"] and "[DOWN]" in mail.outbox[0].subject


def test_failed_delivery_retries_with_backoff_then_gives_up(receiver, allow_loopback, settings):
    settings.HEALTH_NOTIFY_MAX_ATTEMPTS = 3
    settings.HEALTH_NOTIFY_BACKOFF_SECONDS = 30
    integration = IntegrationFactory()
    NotificationChannel.objects.create(team=integration.owner_team, name="hook", kind="webhook", target=receiver.url + "/hook")
    receiver.fail_next = 10
    before = timezone.now()
    flip_to(integration, Status.DOWN)
    note = Notification.objects.get()
    assert note.status == DeliveryStatus.RETRYING and note.attempts == 1 and note.response_code == 500
    assert note.next_attempt_at >= before + dt.timedelta(seconds=29)
    assert due_retries() == []  # not yet due
    later = note.next_attempt_at + dt.timedelta(seconds=1)
    assert due_retries(later) == [note.pk]
    assert deliver(note.pk, now=later) == DeliveryStatus.RETRYING
    note.refresh_from_db()
    assert note.next_attempt_at >= later + dt.timedelta(seconds=59)  # doubled
    assert deliver(note.pk, now=note.next_attempt_at) == DeliveryStatus.FAILED
    assert len(receiver.received) == 3


def test_recovery_after_retry_is_sent(receiver, allow_loopback):
    integration = IntegrationFactory()
    NotificationChannel.objects.create(team=integration.owner_team, name="hook", kind="webhook", target=receiver.url + "/hook")
    receiver.fail_next = 1
    flip_to(integration, Status.DOWN)
    note = Notification.objects.get()
    assert deliver(note.pk, now=note.next_attempt_at) == DeliveryStatus.SENT


def test_no_message_for_quiet_flips_and_first_up():
    integration = IntegrationFactory()
    NotificationChannel.objects.create(team=integration.owner_team, name="mail", kind="email", target="ops@example.com")
    flip_to(integration, Status.UP)
    flip_to(integration, Status.MAINTENANCE)
    flip_to(integration, Status.UP)
    flip_to(integration, Status.PAUSED)
    assert Notification.objects.count() == 0
    flip_to(integration, Status.DOWN)
    flip_to(integration, Status.UP)
    assert list(Notification.objects.order_by("pk").values_list("subject", flat=True)) == [
        f"[DOWN] {integration.name}", f"[UP] {integration.name}"]


def test_webhook_to_a_denied_address_fails_delivery(settings):
    settings.OUTBOUND_URL_ALLOWLIST = []
    integration = IntegrationFactory()
    NotificationChannel.objects.create(team=integration.owner_team, name="hook", kind="webhook",
                                       target="http://169.254.169.254/hook")
    flip_to(integration, Status.DOWN)
    note = Notification.objects.get()
    assert note.status == DeliveryStatus.RETRYING and "denied" in note.last_error


def test_channel_with_metadata_url_is_refused(architect, settings):
    from controlplane.errors import ValidationFailed

    settings.OUTBOUND_URL_ALLOWLIST = []
    integration = IntegrationFactory()
    with pytest.raises(ValidationFailed):
        save_channel(actor=architect, team=integration.owner_team, name="x", kind="webhook",
                     target="http://metadata.google.internal/x")
