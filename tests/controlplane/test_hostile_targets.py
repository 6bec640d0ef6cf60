"""Replay (httpx), probes (the sweep's own client) and webhooks (aiohttp) against targets that hang, reset, trickle bytes or
send gigabytes: each call ends within its timeout plus a little slack and holds a bounded
amount of memory; replays connect to the address the guard checked (no DNS rebinding)."""

import resource
import socket
import time
import tracemalloc

import pytest

from tests.hostile_server import HostileServer

TIMEOUT = 1
SLACK = 1.0
MAX_BYTES = 64 * 1024
MEMORY_LIMIT = 50 * 1024 * 1024

SLOW = ["/hang", "/trickle-head", "/trickle-body"]
BIG = ["/huge", "/huge-unsized", "/huge-lying", "/gzip-bomb"]


@pytest.fixture(scope="module")
def hostile():
    from django.test import override_settings

    server = HostileServer().start()
    # warm both clients (imports, first event loop) so the timings measure the target
    with override_settings(OUTBOUND_URL_ALLOWLIST=["127.0.0.1"]):
        replay_post(server.url("/"))
        sweep_get(server.url("/"))
        webhook_get(server.url("/"))
    yield server
    server.stop()


@pytest.fixture
def limits(settings):
    settings.OUTBOUND_URL_ALLOWLIST = ["127.0.0.1"]
    settings.EXCEPTIONS_REPLAY_TIMEOUT_SECONDS = TIMEOUT
    settings.EXCEPTIONS_REPLAY_MAX_RESPONSE_BYTES = MAX_BYTES
    return settings


def measured(call):
    """(result or exception, seconds, peak traced bytes, max RSS growth in bytes)."""
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    started = time.monotonic()
    try:
        result = call()
    except Exception as exc:  # the outcome under test
        result = exc
    elapsed = time.monotonic() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    rss_growth = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) * 1024
    return result, elapsed, peak, rss_growth


def replay_post(url):
    from exceptions.replay import _post

    return _post(url, b"{}", {"Content-Type": "application/json", "Idempotency-Key": "k"})


def webhook_get(url):
    from health.http import request_sync

    return request_sync("GET", url, timeout_s=TIMEOUT, max_body=MAX_BYTES)


def sweep_get(url):
    from controlplane.aio import run_async
    from health.probe_client import ProbeClient

    async def go():
        async with ProbeClient() as client:
            return await client.request("GET", url, timeout_s=TIMEOUT, max_body=MAX_BYTES)

    return run_async(go())


# Probes go through the sweep's client; notification webhooks through aiohttp.
CLIENTS = pytest.mark.parametrize("client", [sweep_get, webhook_get], ids=["probe", "webhook"])


@pytest.mark.parametrize("path", SLOW)
def test_replay_gives_up_at_the_total_deadline(hostile, limits, path):
    from exceptions.replay import ReplayTimeout

    result, elapsed, _, _ = measured(lambda: replay_post(hostile.url(path)))
    assert isinstance(result, ReplayTimeout), result
    assert TIMEOUT - 0.1 <= elapsed <= TIMEOUT + SLACK


@CLIENTS
@pytest.mark.parametrize("path", SLOW)
def test_probe_gives_up_at_the_total_deadline(hostile, limits, path, client):
    outcome, elapsed, _, _ = measured(lambda: client(hostile.url(path)))
    assert "timeout" in outcome.error, outcome  # a probe failure, even if the headers came
    assert TIMEOUT - 0.1 <= elapsed <= TIMEOUT + SLACK


@CLIENTS
def test_connection_reset_is_an_error_not_a_crash(hostile, limits, client):
    import httpx

    result, elapsed, _, _ = measured(lambda: replay_post(hostile.url("/reset")))
    assert isinstance(result, httpx.HTTPError) and elapsed < SLACK, result
    outcome, elapsed, _, _ = measured(lambda: client(hostile.url("/reset")))
    assert outcome.status is None and outcome.error and elapsed < SLACK


@pytest.mark.parametrize("path", BIG)
def test_replay_reads_a_capped_body_of_a_huge_or_bomb_response(hostile, limits, path):
    result, elapsed, peak, rss = measured(lambda: replay_post(hostile.url(path)))
    assert isinstance(result, tuple), result
    status, body = result
    assert status == 200 and 0 < len(body) <= MAX_BYTES
    if path != "/huge-lying":  # that one stops at its (false) 10 bytes
        assert len(body) == MAX_BYTES
    if path == "/gzip-bomb":
        assert body == b"\0" * MAX_BYTES  # inflated, but only up to the cap
    assert elapsed <= TIMEOUT + SLACK
    assert peak < MEMORY_LIMIT and rss < MEMORY_LIMIT, (peak, rss)


@CLIENTS
@pytest.mark.parametrize("path", BIG)
def test_probe_reads_a_capped_body_of_a_huge_or_bomb_response(hostile, limits, path, client):
    outcome, elapsed, peak, rss = measured(lambda: client(hostile.url(path)))
    assert outcome.status == 200 or outcome.error, outcome
    assert len(outcome.body) <= MAX_BYTES
    assert elapsed <= TIMEOUT + SLACK
    assert peak < MEMORY_LIMIT and rss < MEMORY_LIMIT, (peak, rss)


def test_replay_connects_to_the_checked_address_not_a_fresh_dns_answer(hostile, limits):
    """DNS rebinding: the name first resolves to an allowed address, then to a forbidden
    one. The request must reach the first (checked) address, carrying the name in Host."""
    from exceptions.replay import _post

    answers = []

    def rebinding(host, port, **kwargs):
        answer = "127.0.0.1" if not answers else "169.254.169.254"
        answers.append(answer)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answer, port))]

    before = hostile.hits["/pinned"]
    status, body = _post(f"http://rebind.example:{hostile.port}/pinned", b"{}", {}, resolve=rebinding)
    assert (status, body) == (200, b"ok")
    assert answers == ["127.0.0.1"]  # resolved once, by the guard; httpx never asked DNS
    assert hostile.hits["/pinned"] == before + 1
