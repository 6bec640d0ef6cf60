"""Every caller of the one outbound client (probe through the sweep, webhook and chat
notifications, replay) against targets that hang, reset, trickle bytes, send gigabytes or
garbage redirects: each call ends within its deadline plus a little slack, holds a bounded
amount of memory and fails with an error kind of the shared vocabulary; connections go to
the address the guard checked (no DNS rebinding), at every redirect hop."""

import resource
import socket
import time
import tracemalloc

import pytest

from controlplane.outbound import Client, ErrorKind, request_sync
from tests.hostile_server import ConnectionCounter, HostileServer
from tests.outbound_callers import CALLERS

TIMEOUT = 1
SLACK = 1.0
MAX_BYTES = 64 * 1024
MEMORY_LIMIT = 50 * 1024 * 1024

SLOW = ["/hang", "/trickle-head", "/trickle-body"]
BIG = ["/huge", "/huge-unsized", "/huge-lying", "/gzip-bomb"]


EVERY_CALLER = pytest.mark.parametrize("caller", list(CALLERS.values()), ids=list(CALLERS))


@pytest.fixture(scope="module")
def hostile():
    from django.test import override_settings

    server = HostileServer().start()
    # warm every path (imports, first event loop) so the timings measure the target
    with override_settings(OUTBOUND_URL_ALLOWLIST=["127.0.0.1"]):
        for caller in CALLERS.values():
            caller(server.url("/"))
    yield server
    server.stop()


@pytest.fixture
def limits(settings):
    settings.OUTBOUND_URL_ALLOWLIST = ["127.0.0.1"]
    settings.EXCEPTIONS_REPLAY_TIMEOUT_SECONDS = TIMEOUT
    settings.EXCEPTIONS_REPLAY_MAX_RESPONSE_BYTES = MAX_BYTES
    settings.HEALTH_WEBHOOK_TIMEOUT_SECONDS = TIMEOUT
    return settings


def measured(call):
    """(result, seconds, peak traced bytes, max RSS growth in bytes)."""
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    started = time.monotonic()
    result = call()
    elapsed = time.monotonic() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    rss_growth = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) * 1024
    return result, elapsed, peak, rss_growth


@EVERY_CALLER
@pytest.mark.parametrize("path", SLOW)
def test_gives_up_at_the_total_deadline(hostile, limits, path, caller):
    result, elapsed, _, _ = measured(lambda: caller(hostile.url(path)))
    assert result.status is None and result.error.startswith(f"{ErrorKind.TIMEOUT}: "), result
    assert TIMEOUT - 0.1 <= elapsed <= TIMEOUT + SLACK


@EVERY_CALLER
def test_connection_reset_is_a_disconnected_error_not_a_crash(hostile, limits, caller):
    result, elapsed, _, _ = measured(lambda: caller(hostile.url("/reset")))
    assert result.status is None and result.error.startswith(f"{ErrorKind.DISCONNECTED}: "), result
    assert elapsed < SLACK


@EVERY_CALLER
@pytest.mark.parametrize("path", BIG)
def test_reads_a_capped_body_of_a_huge_or_bomb_response(hostile, limits, path, caller):
    result, elapsed, peak, rss = measured(lambda: caller(hostile.url(path)))
    assert result.status == 200, result
    if result.body is not None:
        assert 0 < len(result.body) <= MAX_BYTES
        if path != "/huge-lying":  # that one stops at its (false) 10 bytes
            assert len(result.body) == MAX_BYTES
        if path == "/gzip-bomb":
            assert result.body == b"\0" * MAX_BYTES  # inflated, but only up to the cap
    assert elapsed <= TIMEOUT + SLACK
    assert peak < MEMORY_LIMIT and rss < MEMORY_LIMIT, (peak, rss)


def test_inflation_ratio_stops_a_bomb_long_before_a_large_cap(hostile, limits):
    """With a 200 MB cap the size limit alone would inflate 200 MB of zeros from 200 KB on
    the wire; the ratio limit (100:1 past 64 KiB) stops at 100 x the first ~100 KB read."""
    from controlplane.aio import run_async

    async def go():
        async with Client() as client:
            return await client.request("GET", hostile.url("/gzip-bomb"), timeout_s=5, max_body=200 * 1024 * 1024)

    outcome = run_async(go())
    assert outcome.status == 200 and outcome.truncated
    assert 64 * 1024 < len(outcome.body) < 20 * 1024 * 1024, len(outcome.body)


@EVERY_CALLER
def test_redirect_with_non_utf8_location_is_a_bad_response(hostile, limits, caller):
    result = caller(hostile.url("/redirect-binary"))
    assert result.status is None and result.error.startswith(f"{ErrorKind.BAD_RESPONSE}: redirect Location"), result


@EVERY_CALLER
def test_non_utf8_bytes_in_other_headers_do_not_break_a_call(hostile, limits, caller):
    assert caller(hostile.url("/binary-headers")).status == 200


@EVERY_CALLER
def test_redirect_hop_to_a_denied_spelling_is_refused_before_any_byte(hostile, limits, caller):
    """The first hop (127.0.0.1) is allowlisted; the redirect goes to 127.0.0.2 spelled in
    hex, where a listener counts connections: the guard refuses the hop, nothing arrives."""
    counter = ConnectionCounter("127.0.0.2")
    try:
        from urllib.parse import quote

        result = caller(hostile.url("/redirect?to=" + quote(f"http://0x7f000002:{counter.port}/x", safe="")))
        time.sleep(0.1)
    finally:
        counter.close()
    assert result.status is None and result.error.startswith(f"{ErrorKind.DENIED}: "), result
    assert "loopback" in result.error
    assert (counter.connections, counter.bytes) == (0, 0)


def _rebinding():
    """A DNS server that answers an allowed address first, the metadata address after."""
    answers = []

    def resolve(host, port, **kwargs):
        answer = "127.0.0.1" if not answers else "169.254.169.254"
        answers.append(answer)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answer, port))]

    return resolve, answers


def test_connects_to_the_checked_address_not_a_fresh_dns_answer(limits):
    """DNS rebinding: the request reaches the first (checked) address, once, and carries
    the name (normalised: full-width letters, trailing dot) in its Host header."""
    counter = ConnectionCounter()
    resolve, answers = _rebinding()
    try:
        outcome = request_sync("POST", f"http://ＲＥＢＩＮＤ.example.:{counter.port}/pinned", data=b"{}", resolve=resolve,
                               timeout_s=TIMEOUT)
    finally:
        counter.close()
    assert (outcome.status, outcome.body, outcome.error) == (200, b"ok", "")
    assert answers == ["127.0.0.1"]  # resolved once, by the guard; nobody asked DNS again
    assert counter.connections == 1
    assert f"\r\nHost: rebind.example:{counter.port}\r\n".encode() in counter.received[0]


def test_tls_connection_to_the_checked_address_sends_the_name_as_sni(limits, tmp_path):
    """https: the TCP connection goes to the checked address while TLS SNI (and the
    certificate check) use the name. The test certificate is not trusted, so the call
    ends as connect_failed, after the server saw the SNI."""
    import ssl
    import threading

    from tests.tls import self_signed

    cert, key = self_signed(tmp_path, "rebind.example")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    seen = []
    context.sni_callback = lambda sock, name, ctx: seen.append(name)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(5)
    port = listener.getsockname()[1]

    def serve():
        conn, _ = listener.accept()
        try:
            context.wrap_socket(conn, server_side=True)
        except (ssl.SSLError, OSError):
            pass  # the client refuses our untrusted certificate
        finally:
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    resolve, answers = _rebinding()
    try:
        outcome = request_sync("GET", f"https://rebind.example:{port}/", resolve=resolve, timeout_s=3)
    finally:
        thread.join(3)
        listener.close()
    assert answers == ["127.0.0.1"] and seen == ["rebind.example"]
    assert outcome.kind == ErrorKind.CONNECT and "CERTIFICATE_VERIFY_FAILED" in outcome.error, outcome


def test_a_name_with_one_denied_address_among_allowed_ones_is_refused(hostile, limits):
    def mixed(host, port, **kwargs):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in ("127.0.0.1", "10.0.0.7")]

    before = hostile.hits["/mixed"]
    outcome = request_sync("GET", f"http://mixed.example:{hostile.port}/mixed", resolve=mixed, timeout_s=TIMEOUT)
    assert outcome.kind == ErrorKind.DENIED and "10.0.0.7" in outcome.error and "private-use" in outcome.error
    assert hostile.hits["/mixed"] == before
