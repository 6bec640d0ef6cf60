"""Chat messages and signed webhooks people receive: Slack Block Kit within Slack's
documented limits, Teams Adaptive Cards valid against the published Adaptive Card schema,
and generic webhooks verified by a real receiving server with ``standardwebhooks``, with
every attempt (and retry) on the channel page."""

import json
import threading
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import jsonschema
import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from health.choices import DeliveryStatus, Status
from health.models import DeliveryAttempt, Notification, NotificationChannel
from health.notify import deliver
from health.services import save_channel
from health.webhooks import new_secret
from tests.exceptions.factories import BusinessExceptionFactory
from tests.factories import IntegrationFactory, TeamFactory
from tests.health import test_notify

# Plain test transactions (fast): the outbox publishes on commit, so each flip runs its
# on-commit callbacks (the delivery) before the test reads what the receiver got.
pytestmark = pytest.mark.django_db


@pytest.fixture
def flip_to(django_capture_on_commit_callbacks):
    def flip(*args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return test_notify.flip_to(*args, **kwargs)

    return flip

ADAPTIVE_CARD_SCHEMA = json.loads((Path(__file__).parent / "schemas" / "adaptive-card.json").read_text())


@pytest.fixture
def receiver(loopback):
    loopback.received.clear()
    loopback.fail_next = 0
    return loopback


def _estate():
    team = TeamFactory(name="Finance Systems")
    integration = IntegrationFactory(name="PSA to ERP invoices", owner_team=team)
    BusinessExceptionFactory(integration=integration, amount_at_risk=Decimal("1200.10"), currency="GBP")
    BusinessExceptionFactory(integration=integration, amount_at_risk=Decimal("0.20"), currency="GBP")
    BusinessExceptionFactory(integration=integration, amount_at_risk=Decimal("5000"), currency="EUR")
    return integration


def assert_within_slack_limits(message):
    """Slack's documented Block Kit limits (api.slack.com/reference/block-kit/blocks)."""
    assert isinstance(message["text"], str) and 0 < len(message["text"]) <= 40000
    blocks = message["blocks"]
    assert 0 < len(blocks) <= 50
    for block in blocks:
        assert block["type"] in {"header", "section", "actions", "context", "divider"}
        if block["type"] == "header":
            assert block["text"]["type"] == "plain_text" and len(block["text"]["text"]) <= 150
        if block["type"] == "section":
            assert "text" in block or "fields" in block
            if "text" in block:
                assert 0 < len(block["text"]["text"]) <= 3000
            assert len(block.get("fields", [])) <= 10
            assert all(0 < len(f["text"]) <= 2000 for f in block.get("fields", []))
        if block["type"] == "actions":
            assert len(block["elements"]) <= 25
            for button in block["elements"]:
                assert len(button["text"]["text"]) <= 75 and len(button["url"]) <= 3000 and len(button["action_id"]) <= 255
        if block["type"] == "context":
            assert 0 < len(block["elements"]) <= 10


def test_slack_gets_block_kit_with_the_business_context(flip_to, receiver, allow_loopback):
    integration = _estate()
    NotificationChannel.objects.create(team=integration.owner_team, name="slack", kind="slack", target=receiver.url + "/hook")
    flip_to(integration, Status.DOWN, "tax code V7 unknown in ERP")
    message = json.loads(receiver.received[0]["body"])
    assert_within_slack_limits(message)
    assert message["blocks"][0]["text"]["text"].endswith(f"[DOWN] {integration.name}")
    fields = " ".join(f["text"] for f in message["blocks"][1]["fields"])
    assert "PSA to ERP invoices" in fields and "Finance Systems" in fields and "unknown → down" in fields
    # per currency, never added across: 1,200.30 GBP and 5,000.00 EUR
    assert "5,000.00 EUR, 1,200.30 GBP" in fields
    assert message["blocks"][2]["text"]["text"] == "tax code V7 unknown in ERP"
    [button] = message["blocks"][3]["elements"]
    assert button["url"].endswith(f"/health/integrations/{integration.slug}/")
    assert "Amount at risk: 5,000.00 EUR, 1,200.30 GBP" in message["text"]
    assert Notification.objects.get().status == DeliveryStatus.SENT


def test_slack_limits_hold_for_any_payload():
    """A message from another sender (notify_team) may carry any text: it is cut to fit."""
    from health.chat import slack_message

    note = Notification(subject="S" * 300, event="team_access", payload={
        "event": "team_access", "integration_name": "I" * 5000, "team": "T" * 5000, "reason": "why " * 2000,
        "url": "https://cp.example.com/" + "x" * 4000, "amount_at_risk": {f"C{i:02d}": "1" for i in range(40)}})
    message = slack_message(note)
    assert_within_slack_limits(message)
    assert message["blocks"][2]["text"]["text"].endswith("…") and len(message["blocks"][2]["text"]["text"]) == 3000
    assert not any(b["type"] == "actions" for b in message["blocks"])  # a URL past 3,000 gets no button


def test_teams_gets_an_adaptive_card_valid_against_the_published_schema(flip_to, receiver, allow_loopback):
    integration = _estate()
    NotificationChannel.objects.create(team=integration.owner_team, name="teams", kind="teams", target=receiver.url + "/hook")
    flip_to(integration, Status.LATE, "no run since 10:00")
    message = json.loads(receiver.received[0]["body"])
    assert message["type"] == "message"
    [attachment] = message["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    jsonschema.Draft6Validator(ADAPTIVE_CARD_SCHEMA).validate(card)
    facts = {f["title"]: f["value"] for f in card["body"][1]["facts"]}
    assert facts["Integration"] == "PSA to ERP invoices" and facts["Owning team"] == "Finance Systems"
    assert facts["Amount at risk"] == "5,000.00 EUR, 1,200.30 GBP" and facts["Why"] == "no run since 10:00"
    assert card["actions"][0]["type"] == "Action.OpenUrl" and card["actions"][0]["url"].endswith(f"/{integration.slug}/")
    # the schema is not a rubber stamp: a card without a version, or an unknown element, is refused
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft6Validator(ADAPTIVE_CARD_SCHEMA).validate({k: v for k, v in card.items() if k != "version"})
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft6Validator(ADAPTIVE_CARD_SCHEMA).validate({**card, "body": [{"type": "TextBlock"}]})


class StandardWebhooksReceiver:
    """A real HTTP server that accepts a message only when
    ``standardwebhooks.Webhook(secret).verify`` passes (204), else 401."""

    def __init__(self, secret):
        self.verifier = Webhook(secret)
        self.accepted, self.refused = [], []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                headers = {k: v for k, v in self.headers.items()}
                try:
                    payload = outer.verifier.verify(body, headers)
                except WebhookVerificationError as exc:
                    outer.refused.append((headers, str(exc)))
                    self.send_response(401)
                else:
                    outer.accepted.append((headers, payload))
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/controlplane"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_generic_webhook_is_verified_by_standardwebhooks(flip_to, allow_loopback, architect):
    integration = _estate()
    secret = new_secret()
    server = StandardWebhooksReceiver(secret)
    try:
        save_channel(actor=architect, team=integration.owner_team, name="ops hook", kind="webhook",
                     target=server.url, secret=secret)
        flip_to(integration, Status.DOWN)
        [(headers, payload)] = server.accepted
        assert payload["to"] == "down" and payload["integration_name"] == "PSA to ERP invoices"
        assert payload["amount_at_risk"] == {"EUR": "5000.00", "GBP": "1200.30"}
        note = Notification.objects.get()
        assert headers["webhook-id"] == f"msg_cp_notification_{note.pk}" and headers["webhook-signature"].startswith("v1,")
        assert "X-ControlPlane-Signature" not in headers  # only legacy secrets get the old header
        [attempt] = DeliveryAttempt.objects.filter(notification=note)
        assert attempt.ok and attempt.response_code == 204 and attempt.latency_ms is not None
    finally:
        server.close()


def test_a_refused_signature_is_retried_and_every_attempt_is_on_the_channel_page(flip_to, allow_loopback, architect,
                                                                                   client_as):
    integration = _estate()
    server = StandardWebhooksReceiver(new_secret())  # the receiver knows another secret
    try:
        channel = save_channel(actor=architect, team=integration.owner_team, name="ops hook", kind="webhook",
                               target=server.url, secret=new_secret())
        flip_to(integration, Status.DOWN)
        note = Notification.objects.get()
        assert note.status == DeliveryStatus.RETRYING and note.response_code == 401
        assert server.refused and not server.accepted
        page = client_as("architect").get(f"/health/channels/{channel.pk}/").content.decode()
        assert "Retrying" in page and "attempt 1" in page and "HTTP 401" in page and "http_status: HTTP 401" in page
        # the receiver is given the right key; the retry carries the same webhook-id and goes through
        server.verifier = Webhook(channel_secret(channel))
        assert deliver(note.pk, now=note.next_attempt_at) == DeliveryStatus.SENT
        assert server.accepted[0][0]["webhook-id"] == server.refused[0][0]["webhook-id"]
        page = client_as("architect").get(f"/health/channels/{channel.pk}/").content.decode()
        assert "Sent" in page and "attempt 2" in page and "HTTP 204" in page
        assert client_as("outsider").get(f"/health/channels/{channel.pk}/").status_code == 403
    finally:
        server.close()


def channel_secret(channel):
    from health import secrets

    return secrets.reveal(NotificationChannel.objects.get(pk=channel.pk).secret)


def test_a_legacy_secret_still_verifies_as_raw_key_bytes(flip_to, allow_loopback, architect):
    integration = _estate()
    server = StandardWebhooksReceiver(b"s3cret-from-before")
    try:
        save_channel(actor=architect, team=integration.owner_team, name="old hook", kind="webhook",
                     target=server.url, secret="s3cret-from-before")
        flip_to(integration, Status.DOWN)
        [(headers, _payload)] = server.accepted
        assert headers["X-ControlPlane-Signature"].startswith("sha256=")  # the old header kept beside
    finally:
        server.close()


def test_a_new_webhook_channel_without_a_secret_gets_one_shown_once(client_as, allow_loopback, architect):
    team = TeamFactory(name="Ops")
    response = client_as("architect").post("/health/channels/add/", {
        "team": team.pk, "name": "ops hook", "kind": "webhook", "target": "http://127.0.0.1:9/hook", "enabled": "on",
    }, follow=True)
    assert response.status_code == 200
    channel = NotificationChannel.objects.get(name="ops hook")
    secret = channel_secret(channel)
    assert secret.startswith("whsec_") and secret in response.content.decode()
    Webhook(secret)  # a valid Standard Webhooks secret
