"""Guarded async HTTP for probes and webhooks (aiohttp).

Every connection goes through ``GuardedResolver``: it resolves the host, runs
``controlplane.outbound.guard_url`` on the answer and hands aiohttp only the checked
addresses, so the connection is pinned to what was checked (no DNS rebinding). Redirects
are followed by hand, each hop checked again (IP-literal hosts skip aiohttp's resolver, so
they are checked before the request). Bodies are read up to a cap; anything that goes
wrong is an ``Outcome`` with an error, never an exception.
"""

import asyncio
import ipaddress
import socket
import time
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver

from controlplane.aio import run_async
from controlplane.outbound import OutboundURLDenied, guard_url

MAX_REDIRECTS = 5


class GuardedResolver(AbstractResolver):
    """Resolve, then let the outbound guard decide; return only the allowed addresses."""

    def __init__(self):
        self._cache = {}

    async def resolve(self, host, port=0, family=socket.AF_INET):
        key = (host, port)
        cached = self._cache.get(key)
        if cached is None or cached[0] < time.monotonic():
            loop = asyncio.get_running_loop()
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            # guard_url raises OutboundURLDenied; aiohttp wraps it as a connection error.
            target = guard_url(f"http://{host}:{port}/", resolve=lambda *a, **k: infos)
            cached = (time.monotonic() + 30, target.addresses)
            self._cache[key] = cached
        results = []
        for address in cached[1]:
            ip = ipaddress.ip_address(address)
            results.append({
                "hostname": host, "host": address, "port": port,
                "family": socket.AF_INET6 if ip.version == 6 else socket.AF_INET,
                "proto": 0, "flags": socket.AI_NUMERICHOST,
            })
        return results

    async def close(self):
        self._cache.clear()


def _is_ip_literal(host):
    try:
        ipaddress.ip_address((host or "").strip("[]"))
        return True
    except ValueError:
        return False


_VERDICTS: dict = {}


def check_url(url):
    """Scheme/credential/metadata checks for any URL, and the full address check for
    IP-literal hosts (which aiohttp connects to without asking the resolver).

    The verdict depends only on scheme, netloc and the allowlist, so it is cached: a
    sweep of 10,000 probes on a few hosts parses each host once, not 10,000 times."""
    from django.conf import settings

    parts = urlsplit(url)
    key = (parts.scheme, parts.netloc, tuple(getattr(settings, "OUTBOUND_URL_ALLOWLIST", []) or []))
    verdict = _VERDICTS.get(key)
    if verdict is None:
        try:
            host = parts.hostname or ""
            if _is_ip_literal(host):
                guard_url(url)
            else:
                # Host names: no DNS here; the resolver checks the addresses at connect time.
                guard_url(url, resolve=lambda *a, **k: [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("8.8.8.8", 0))])
            verdict = ""
        except (OutboundURLDenied, ValueError) as exc:
            verdict = str(exc) or "denied"
        if len(_VERDICTS) > 50000:
            _VERDICTS.clear()
        _VERDICTS[key] = verdict
    if verdict:
        raise OutboundURLDenied(verdict)
    return True


@dataclass
class Outcome:
    status: int | None = None
    body: bytes = b""
    truncated: bool = False
    elapsed_ms: int | None = None
    error: str = ""
    connected: bool = False


def make_session(*, limit=100, max_body=64 * 1024):
    connector = aiohttp.TCPConnector(
        resolver=GuardedResolver(), limit=limit, limit_per_host=0, ttl_dns_cache=30, enable_cleanup_closed=True
    )
    return aiohttp.ClientSession(connector=connector, auto_decompress=True, trust_env=False,
                                 headers={"User-Agent": "controlplane-health/1.0"})


async def request(session, method, url, *, headers=None, data=None, timeout_s=5.0, max_body=64 * 1024) -> Outcome:
    """One guarded request with manual redirects; total time bounded by ``timeout_s``."""
    started = time.perf_counter()
    outcome = Outcome()
    try:
        async with asyncio.timeout(timeout_s):
            for _hop in range(MAX_REDIRECTS + 1):
                check_url(url)
                async with session.request(
                    method, url, headers=headers, data=data, allow_redirects=False,
                    timeout=aiohttp.ClientTimeout(total=None),
                ) as response:
                    outcome.connected = True
                    if response.status in (301, 302, 303, 307, 308) and "Location" in response.headers:
                        url = urljoin(url, response.headers["Location"])
                        if response.status == 303 or (response.status in (301, 302) and method == "POST"):
                            method, data = "GET", None
                        continue
                    outcome.status = response.status
                    # read() returns what has arrived, maybe one byte of a trickle: loop to
                    # the cap or the end, so a slow body meets the total deadline instead of
                    # passing as a truncated answer.
                    chunks, size = [], 0
                    while size <= max_body:
                        chunk = await response.content.read(max_body + 1 - size)
                        if not chunk:
                            break
                        chunks.append(chunk)
                        size += len(chunk)
                    body = b"".join(chunks)
                    if len(body) > max_body:
                        outcome.truncated = True
                        body = body[:max_body]
                    outcome.body = body
                    break
            else:
                outcome.error = f"more than {MAX_REDIRECTS} redirects"
    except OutboundURLDenied as exc:
        outcome.error = f"denied: {exc}"
    except TimeoutError:
        outcome.error = f"timeout after {timeout_s:g} s"
    except aiohttp.ClientConnectorError as exc:
        cause = exc.os_error
        outcome.error = f"denied: {cause}" if isinstance(cause, OutboundURLDenied) else f"connect failed: {cause}"
    except (aiohttp.ClientError, OSError, ValueError) as exc:
        outcome.error = f"{type(exc).__name__}: {exc}"
    except Exception as exc:  # a probe never crashes the sweep
        outcome.error = f"{type(exc).__name__}: {exc}"
    outcome.elapsed_ms = int((time.perf_counter() - started) * 1000)
    outcome.error = outcome.error[:200]
    return outcome


def request_sync(method, url, *, headers=None, data=None, timeout_s=10.0, max_body=16 * 1024) -> Outcome:
    """For notifications sent from sync code (a Celery task)."""

    async def run():
        async with make_session(limit=1) as session:
            return await request(session, method, url, headers=headers, data=data, timeout_s=timeout_s, max_body=max_body)

    return run_async(run())
