"""The one outbound client (the sweep's) against a raw server sending exact bytes: the framings a
probe target may use are read right, bodies are capped, and a connection the server
closed while idle is replaced instead of failing the probe."""

import asyncio
import gzip
import zlib

import pytest

from controlplane.aio import run_async
from controlplane.outbound import Client as ProbeClient

JSON = b'{"status": "UP", "items": [1, 2, 3]}'


def _answers():
    gz = gzip.compress(JSON)
    return {
        b"/length": b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(JSON), JSON),
        b"/gzip": b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n%s" % (len(gz), gz),
        b"/deflate": (lambda d: b"HTTP/1.1 200 OK\r\nContent-Encoding: deflate\r\nContent-Length: %d\r\n\r\n%s" % (len(d), d))(
            zlib.compress(JSON)),
        b"/chunked": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"sta\r\n"
                     + b"%x\r\n%s\r\n0\r\n\r\n" % (len(JSON) - 5, JSON[5:]),
        b"/continue": b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok",
        b"/http10": b"HTTP/1.0 200 OK\r\n\r\n" + JSON,  # close-delimited
        b"/bomb": b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n%s" % (
            len(gzip.compress(b"a" * 1_000_000)), gzip.compress(b"a" * 1_000_000)),
        b"/notfound": b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
    }


class _Server(asyncio.Protocol):
    """Answers each request with the canned bytes for its path; closes after HTTP/1.0
    answers, and after every answer when ``close_after`` (an idle connection dropped)."""

    answers = _answers()
    close_after = False

    def connection_made(self, transport):
        self.transport, self.buffer = transport, b""

    def data_received(self, data):
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:
            head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
            path = head.split(b" ")[1]
            self.transport.write(self.answers[path])
            if path == b"/http10" or type(self).close_after:
                self.transport.close()
                return


async def _fetch(paths, *, close_after=False, max_body=64 * 1024, method="GET"):
    _Server.close_after = close_after
    server = await asyncio.get_running_loop().create_server(_Server, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with ProbeClient() as client:
            outcomes = []
            for path in paths:  # one after another, so connections are reused
                outcomes.append(await client.request(method, f"http://127.0.0.1:{port}{path}", timeout_s=2, max_body=max_body))
                await asyncio.sleep(0.01)  # lets a closing server's FIN arrive first
            return outcomes
    finally:
        server.close()


@pytest.fixture
def allow(settings):
    settings.OUTBOUND_URL_ALLOWLIST = ["127.0.0.0/8"]


def test_framings_and_encodings_give_the_same_body(allow):
    outcomes = run_async(_fetch(["/length", "/gzip", "/deflate", "/chunked", "/http10", "/length"]))
    assert [(o.status, o.body, o.error) for o in outcomes] == [(200, JSON, "")] * 6


def test_interim_response_is_skipped_and_statuses_are_kept(allow):
    created, missing = run_async(_fetch(["/continue", "/notfound"]))
    assert (created.status, created.body) == (201, b"ok")
    assert (missing.status, missing.body, missing.error) == (404, b"", "")


def test_decompressed_body_is_capped(allow):
    (outcome,) = run_async(_fetch(["/bomb"], max_body=1000))
    assert outcome.status == 200 and outcome.truncated and outcome.body == b"a" * 1000


def test_a_connection_closed_while_idle_is_replaced(allow):
    outcomes = run_async(_fetch(["/length"] * 3, close_after=True))
    assert [(o.status, o.error) for o in outcomes] == [(200, "")] * 3


def test_head_reads_no_body(allow):
    (outcome,) = run_async(_fetch(["/length"], method="HEAD"))
    assert (outcome.status, outcome.body, outcome.error) == (200, b"", "")
