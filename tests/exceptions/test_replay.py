import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from controlplane.errors import InvalidTransition, ValidationFailed
from exceptions import services
from exceptions.models import ReplayAttempt
from exceptions.replay import SIGNATURE_HEADER, TIMESTAMP_HEADER

from .factories import BusinessExceptionFactory, ReplayTargetFactory


class ReplayServer:
    """A local HTTP server that answers with the queued statuses and keeps every request."""

    def __init__(self):
        self.responses = []  # (status, body, headers)
        self.requests = []
        self.delay = 0.0  # seconds before answering (a slow target)
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                length = int(self.headers.get("Content-Length", 0))
                server.requests.append({"headers": dict(self.headers), "body": self.rfile.read(length), "path": self.path})
                time.sleep(server.delay)
                status, body, headers = server.responses.pop(0) if server.responses else (200, b'{"ok": true}', {})
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/replay"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def exc_with_target(server, db):
    exc = BusinessExceptionFactory()
    ReplayTargetFactory(integration=exc.integration, url=server.url, secret="s3cret", max_attempts=3)
    return exc


def replay(exc, actor, capture, **kwargs):
    with capture(execute=True):
        return services.request_replay(exception=exc, actor=actor, **kwargs)


def test_edited_payload_replayed_signed_and_resolved(server, exc_with_target, finance, django_capture_on_commit_callbacks):
    exc = exc_with_target
    original = exc.payload
    replay_id = replay(exc, finance, django_capture_on_commit_callbacks, payload={"invoice": exc.invoice_number, "tax_code": "S1"})
    assert len(server.requests) == 1
    req = server.requests[0]
    assert json.loads(req["body"]) == {"invoice": exc.invoice_number, "tax_code": "S1"}
    key = req["headers"]["Idempotency-Key"]
    assert key == f"exc-{exc.pk}-{replay_id}"
    stamp = req["headers"][TIMESTAMP_HEADER]
    expected = hmac.new(b"s3cret", stamp.encode() + b"." + key.encode() + b"." + req["body"], hashlib.sha256).hexdigest()
    assert hmac.compare_digest(req["headers"][SIGNATURE_HEADER], f"sha256={expected}")
    exc.refresh_from_db()
    assert exc.status == "resolved" and exc.resolution_code == "replayed"
    assert exc.original_payload == original and exc.payload["tax_code"] == "S1"
    attempt = ReplayAttempt.objects.get(exception=exc)
    assert attempt.succeeded and attempt.status_code == 200 and '"ok"' in attempt.response_excerpt


def test_client_error_is_not_retried_and_leaves_it_open(server, exc_with_target, finance, django_capture_on_commit_callbacks):
    server.responses = [(422, b'{"error": "tax code S9 unknown"}', {})]
    replay(exc_with_target, finance, django_capture_on_commit_callbacks)
    exc_with_target.refresh_from_db()
    assert exc_with_target.status == "new"
    attempt = ReplayAttempt.objects.get(exception=exc_with_target)
    assert attempt.status_code == 422 and not attempt.succeeded and "S9 unknown" in attempt.response_excerpt


def test_server_errors_retried_with_same_key_until_success(server, exc_with_target, finance, django_capture_on_commit_callbacks):
    server.responses = [(503, b"busy", {}), (500, b"oops", {})]
    replay(exc_with_target, finance, django_capture_on_commit_callbacks)
    attempts = list(ReplayAttempt.objects.filter(exception=exc_with_target).order_by("attempt"))
    assert [(a.attempt, a.status_code, a.succeeded) for a in attempts] == [(1, 503, False), (2, 500, False), (3, 200, True)]
    assert len({r["headers"]["Idempotency-Key"] for r in server.requests}) == 1
    exc_with_target.refresh_from_db()
    assert exc_with_target.status == "resolved"


def test_gives_up_after_max_attempts(server, exc_with_target, finance, django_capture_on_commit_callbacks):
    server.responses = [(500, b"x", {})] * 5
    replay(exc_with_target, finance, django_capture_on_commit_callbacks)
    assert ReplayAttempt.objects.filter(exception=exc_with_target).count() == 3
    exc_with_target.refresh_from_db()
    assert exc_with_target.is_open


def test_backoff_is_exponential_and_the_retry_waits_in_the_outbox(server, exc_with_target, settings):
    from django.utils import timezone

    from controlplane.models import OutboxMessage
    from exceptions.replay import perform_attempt

    settings.EXCEPTIONS_REPLAY_BACKOFF_SECONDS = 30
    server.responses = [(503, b"busy", {})]
    before = timezone.now()
    assert perform_attempt(exception_id=exc_with_target.pk, replay_id="5b7f2a6e-0000-4000-8000-000000000001",
                           attempt=2, requested_by_id=None) == "retry"
    message = OutboxMessage.objects.get(task="exceptions.tasks.replay_exception")
    assert message.args == [exc_with_target.pk, "5b7f2a6e-0000-4000-8000-000000000001", 3, None]
    assert 59 <= (message.eta - before).total_seconds() <= 65 and message.sent_at is None


def test_redirect_into_metadata_address_refused(server, exc_with_target, finance, django_capture_on_commit_callbacks):
    server.responses = [(307, b"", {"Location": "http://169.254.169.254/latest/meta-data/"})]
    replay(exc_with_target, finance, django_capture_on_commit_callbacks)
    attempt = ReplayAttempt.objects.get(exception=exc_with_target)
    assert attempt.error.startswith("denied: ") and "link-local" in attempt.error and not attempt.succeeded
    assert len(server.requests) == 1


def test_target_outside_allowlist_refused(server, db, finance, django_capture_on_commit_callbacks, settings):
    settings.OUTBOUND_URL_ALLOWLIST = []
    exc = BusinessExceptionFactory()
    ReplayTargetFactory(integration=exc.integration, url=server.url)
    replay(exc, finance, django_capture_on_commit_callbacks)
    assert server.requests == []
    assert "loopback" in ReplayAttempt.objects.get(exception=exc).error


def test_large_response_is_capped(server, exc_with_target, finance, django_capture_on_commit_callbacks):
    server.responses = [(500, b"e" * 200_000, {})] * 3
    replay(exc_with_target, finance, django_capture_on_commit_callbacks)
    assert all(len(a.response_excerpt) <= 2000 for a in ReplayAttempt.objects.all())


def test_replay_refused_without_target_or_when_closed(db, finance):
    exc = BusinessExceptionFactory()
    with pytest.raises(ValidationFailed):
        services.request_replay(exception=exc, actor=finance)
    ReplayTargetFactory(integration=exc.integration)
    services.resolve(exception=exc, actor=finance, resolution_code="duplicate")
    with pytest.raises(InvalidTransition):
        services.request_replay(exception=exc, actor=finance)


def test_schema_errors_block_replay(db, finance):
    from tests.factories import EntityFactory
    from tests.stewardship.factories import SubjectFactory, VersionFactory

    entity = EntityFactory()
    VersionFactory(subject=SubjectFactory(entity=entity), status="approved", number=1)
    exc = BusinessExceptionFactory(entity=entity)
    ReplayTargetFactory(integration=exc.integration)
    with pytest.raises(ValidationFailed) as err:
        services.request_replay(exception=exc, actor=finance, payload={"name": "no id"})
    assert any("id" in message for message in err.value.fields["payload"])
    exc.refresh_from_db()
    assert exc.payload != {"name": "no id"}
    # A payload that satisfies the approved schema is accepted.
    services.request_replay(exception=exc, actor=finance, payload={"id": "INV-1", "name": "ok"})


def test_schema_check_is_skipped_without_an_approved_schema(db):
    from exceptions.schema_check import validate_against_entity_schema
    from tests.factories import EntityFactory
    from tests.stewardship.factories import SubjectFactory, VersionFactory

    assert validate_against_entity_schema(None, {"a": 1}) is None
    entity = EntityFactory()
    VersionFactory(subject=SubjectFactory(entity=entity), status="draft")
    assert validate_against_entity_schema(entity, {"a": 1}) is None


@pytest.mark.parametrize("who, code", [("finance", 202), ("executive", 403), ("service", 403), ("outsider", 403)])
def test_replay_api_permissions(api_as, server, exc_with_target, who, code):
    resp = api_as(who).post(f"/api/v1/exceptions/items/{exc_with_target.pk}/replay/", {"payload": {"a": 1}}, format="json")
    assert resp.status_code == code


def test_an_exception_posted_without_a_payload_has_nothing_to_replay(client, db, finance):
    """An SLA breach (or a failure reported without its record) is fixed at the source: no
    editor to type a record from scratch, and the service refuses one, nothing changed."""
    from django.urls import reverse

    exc = BusinessExceptionFactory(payload=None, error_code="SLA_FRESHNESS")
    ReplayTargetFactory(integration=exc.integration)
    with pytest.raises(ValidationFailed) as err:
        services.request_replay(exception=exc, actor=finance, payload={"invoice": "INV-1"})
    assert err.value.code == "no_payload" and "nothing to replay" in str(err.value)
    exc.refresh_from_db()
    assert exc.payload is None and not ReplayAttempt.objects.filter(exception=exc).exists()
    client.force_login(finance)
    html = client.get(reverse("exceptions:detail", args=[exc.pk])).content.decode()
    assert 'id="nothing-to-replay"' in html and 'id="edit-replay"' not in html
