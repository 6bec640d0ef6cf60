"""Regressions of the outbound guard found in the trust-boundary review (issue #12): each
one reached an internal address before the guard saw the host as the connecting code did."""

import socket
import threading

import pytest

from health.choices import DeliveryStatus
from health.models import Notification, NotificationChannel
from health.notify import deliver
from tests.factories import TeamFactory

pytestmark = pytest.mark.django_db


class ConnectionCounter:
    """A loopback listener that counts accepted connections and bytes received: proof
    that nothing at all reached it, not merely that no valid request did."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(50)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            self.connections += 1
            conn.settimeout(0.5)
            try:
                data = conn.recv(65536)
                self.bytes += len(data)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
            except OSError:
                pass
            finally:
                conn.close()

    def close(self):
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


@pytest.fixture
def counter():
    server = ConnectionCounter()
    yield server
    server.close()


def test_webhook_to_full_width_loopback_never_connects(counter, settings):
    """``http://１２７.０.０.１:PORT/`` (full-width digits): the guard took it for a host
    name, while the HTTP client mapped it to 127.0.0.1 and connected to loopback."""
    settings.OUTBOUND_URL_ALLOWLIST = []
    channel = NotificationChannel.objects.create(
        team=TeamFactory(), name="hook", kind="webhook", target=f"http://１２７.０.０.１:{counter.port}/hook")
    note = Notification.objects.create(channel=channel, subject="s", payload={}, next_attempt_at=None)
    Notification.objects.filter(pk=note.pk).update(next_attempt_at=note.created_at)
    deliver(note.pk)
    note.refresh_from_db()
    assert note.status == DeliveryStatus.RETRYING and note.last_error.startswith("denied"), note.last_error
    assert (counter.connections, counter.bytes) == (0, 0)
