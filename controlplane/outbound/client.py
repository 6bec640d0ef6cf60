"""The one outbound HTTP client: probes, webhooks, chat notifications and replays.

A lean HTTP/1.1 client on asyncio protocols. Why not aiohttp or httpx: measured on the
2-core machine, aiohttp's client costs ~500 us of CPU per request and httpx ~28x that, so
one worker running 10,000 probes was CPU-bound in the client before the first byte of
latency was waited for. Every caller needs the same small part of HTTP: send one request,
read the status, headers and a capped body, follow redirects by hand. This client does
that at ~100 us per request, and being the only one it is where the guard, the limits
and the error vocabulary live once.

Per call: every hop's URL is normalised and checked by the guard (``guard.parse`` /
``check_host``); host names are resolved here and EVERY address is checked before the
connection goes to one of them (pinned: the Host header and TLS SNI keep the name, DNS is
not asked again by anyone), so a check and a connection cannot see different hosts. One
total deadline covers resolving, connecting, redirects and the body; bodies are read up
to a cap (gzip/deflate inflated within the cap and a ratio); redirects follow
``policy.next_hop``. Anything that goes wrong is an ``Outcome`` whose error starts with an
``ErrorKind``, never an exception.
"""

import asyncio
import socket
import ssl
import time
import zlib
from urllib.parse import quote

from controlplane.aio import run_async

from .guard import OutboundURLDenied, allowlist, check_addresses, check_host, parse
from .policy import ErrorKind, Limits, OutboundError, Outcome, next_hop

USER_AGENT = "controlplane/1.0"
MAX_HEAD = 64 * 1024
DNS_TTL_SECONDS = 30
_RETRYABLE = ("GET", "HEAD", "OPTIONS", "PUT")
_SAFE_PATH = "/%:@!$&'()*+,;=-._~"
_SAFE_QUERY = _SAFE_PATH + "?"


class ProtocolError(Exception):
    """The peer did not speak HTTP/1.x as expected."""


class ServerDisconnected(ConnectionError):
    """The connection closed before a whole response arrived."""


class _Response:
    __slots__ = ("status", "headers", "body", "truncated")

    def __init__(self, status, headers, body, truncated):
        self.status, self.headers, self.body, self.truncated = status, headers, body, truncated


class _Connection(asyncio.Protocol):
    """One keep-alive connection; parses one response at a time into ``waiter``."""

    def __init__(self):
        self.transport = None
        self.closed = False
        self.waiter = None
        self.buffer = bytearray()
        self.reusable = False
        self._reset(False, 0)

    def _reset(self, head_only, max_body, max_ratio=100, max_head=MAX_HEAD):
        self.head_only, self.max_body, self.max_ratio, self.max_head = head_only, max_body, max_ratio, max_head
        self.max_wire, self.wire = 4 * max_body + 65536, 0
        self.state = "head"  # head -> body -> done
        self.status, self.headers, self.keep_alive = None, {}, False
        self.mode, self.remaining, self.chunk_left = None, 0, 0
        self.chunk_crlf = self.chunk_trailers = False
        self.body, self.truncated, self.decoder = bytearray(), False, None
        self.got_bytes = False

    # -- asyncio.Protocol
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.got_bytes = True
        if self.waiter is None or self.waiter.done():
            self._abort()  # bytes nobody asked for: this connection is not reusable
            return
        self.buffer += data
        try:
            self._parse()
        except (ProtocolError, ValueError, zlib.error) as exc:
            self._fail(exc if isinstance(exc, ProtocolError) else ProtocolError(str(exc)))

    def eof_received(self):
        if self.waiter is not None and not self.waiter.done() and self.state == "body" and self.mode == "close":
            self._finish(reusable=False)
        return False

    def connection_lost(self, exc):
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            if self.state == "body" and self.mode == "close":
                self._finish(reusable=False)
            else:
                self.waiter.set_exception(ServerDisconnected(str(exc) if exc else "Server disconnected"))

    # -- request/response
    def send(self, payload, *, head_only, max_body, max_ratio=100, max_head=MAX_HEAD):
        self._reset(head_only, max_body, max_ratio, max_head)
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(payload)
        return self.waiter

    def _abort(self):
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    def _fail(self, exc):
        self._abort()
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc)

    def _parse(self):
        while self.state == "head":
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buffer) > self.max_head:
                    raise ProtocolError("response headers too large")
                if self.buffer and not self.buffer.startswith(b"HTTP/"[:len(self.buffer)]):
                    raise ProtocolError("invalid HTTP response")
                return
            head = bytes(self.buffer[:end]).decode("latin-1")
            del self.buffer[:end + 4]
            lines = head.split("\r\n")
            parts = lines[0].split(" ", 2)
            if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or len(parts[1]) != 3 or not parts[1].isdigit():
                raise ProtocolError(f"invalid HTTP status line {lines[0][:40]!r}")
            status = int(parts[1])
            headers = {}
            for line in lines[1:]:
                name, sep, value = line.partition(":")
                if not sep:
                    raise ProtocolError("invalid HTTP header line")
                headers[name.strip().lower()] = value.strip()
            if 100 <= status < 200:
                continue  # interim response (100 Continue): the real one follows
            self.status, self.headers = status, headers
            connection = headers.get("connection", "").lower()
            self.keep_alive = parts[0] == "HTTP/1.1" and "close" not in connection
            encoding = headers.get("content-encoding", "").lower()
            if encoding in ("gzip", "x-gzip"):
                self.decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
            elif encoding == "deflate":
                self.decoder = zlib.decompressobj(zlib.MAX_WBITS)
            if self.head_only or status in (204, 304):
                self.mode = "none"
            elif "chunked" in headers.get("transfer-encoding", "").lower():
                self.mode = "chunked"
            elif "content-length" in headers:
                self.mode, self.remaining = "length", int(headers["content-length"])
                if self.remaining < 0:
                    raise ProtocolError("negative Content-Length")
            else:
                self.mode, self.keep_alive = "close", False
            self.state = "body"
        if self.state != "body":
            return
        if self.mode == "none":
            self._finish(reusable=self.keep_alive and not self.buffer)
        elif self.mode == "length":
            take = min(self.remaining, len(self.buffer))
            self._sink(self.buffer[:take])
            del self.buffer[:take]
            self.remaining -= take
            if self.remaining == 0:
                self._finish(reusable=self.keep_alive and not self.buffer)
        elif self.mode == "close":
            self._sink(self.buffer)
            self.buffer.clear()
        else:
            self._chunked()
        if self.state == "body" and self.truncated:
            self._finish(reusable=False)  # cap reached: stop reading, drop the connection

    def _chunked(self):
        while self.state == "body" and not self.truncated:
            if self.chunk_left:
                take = min(self.chunk_left, len(self.buffer))
                if not take:
                    return
                self._sink(self.buffer[:take])
                del self.buffer[:take]
                self.chunk_left -= take
                self.chunk_crlf = not self.chunk_left
                continue
            if self.chunk_crlf:
                if len(self.buffer) < 2:
                    return
                if self.buffer[:2] != b"\r\n":
                    raise ProtocolError("invalid chunked encoding")
                del self.buffer[:2]
                self.chunk_crlf = False
                continue
            end = self.buffer.find(b"\r\n")
            if end < 0:
                if len(self.buffer) > MAX_HEAD:
                    raise ProtocolError("invalid chunked encoding")
                return
            line = bytes(self.buffer[:end])
            del self.buffer[:end + 2]
            if self.chunk_trailers:
                if not line:
                    self._finish(reusable=self.keep_alive and not self.buffer)
                continue
            size = int(line.split(b";", 1)[0].strip(), 16)
            if size == 0:
                self.chunk_trailers = True
            else:
                self.chunk_left = size

    def _sink(self, data, *, decoded=False):
        if not data:
            return
        room = self.max_body + 1 - len(self.body)
        bomb = False
        if not decoded:
            self.wire += len(data)
            if self.decoder is not None:
                # Inflate no further than the cap and than max_ratio x the compressed bytes
                # so far (past 64 KiB): a bomb stops after a few steps, whatever the cap.
                allowed = max(65536, self.max_ratio * self.wire)
                limit = max(1, min(room, allowed + 1 - len(self.body)))
                data = self.decoder.decompress(bytes(data), limit)
                bomb = len(self.body) + len(data) > allowed
        self.body += data[:room]
        if len(self.body) > self.max_body:
            self.truncated = True
            del self.body[self.max_body:]
        elif bomb or self.wire > self.max_wire:
            self.truncated = True  # a decompression bomb, or raw bytes that inflate to almost nothing

    def _finish(self, *, reusable):
        self.state = "done"
        self.reusable = reusable
        decoder, self.decoder = self.decoder, None
        if decoder is not None and not self.truncated:
            try:
                self._sink(decoder.flush(), decoded=True)
            except zlib.error:
                pass
        if not reusable:
            self._abort()
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(_Response(self.status, self.headers, bytes(self.body), self.truncated))


class _Target:
    """A URL ready to send: the guard's view of it, the Host header, the request target;
    or the guard's refusal. Cached per client: a sweep calls the same URLs every interval."""

    __slots__ = ("parsed", "key", "host_header", "path", "denied")

    def __init__(self, url, allow):
        self.denied = None
        try:
            parsed = parse(url)
            check_host(parsed, allow)
        except OutboundURLDenied as exc:
            self.denied = str(exc)
            return
        self.parsed = parsed
        self.key = (parsed.scheme, parsed.host, parsed.port)
        shown = f"[{parsed.host}]" if ":" in parsed.host else parsed.host
        default = 443 if parsed.scheme == "https" else 80
        self.host_header = shown if parsed.port == default else f"{shown}:{parsed.port}"
        path = quote(parsed.path or "/", safe=_SAFE_PATH)
        if parsed.query:
            path += "?" + quote(parsed.query, safe=_SAFE_QUERY)
        self.path = path


class Client:
    """Keep-alive connections per (scheme, host, port), checked DNS answers and checked
    URLs for one batch of calls (a sweep, one delivery); ``request`` never raises.
    Concurrency is the caller's (one connection per request in flight).

    ``resolve`` replaces ``getaddrinfo`` (same signature, synchronous; tests use it to
    play a rebinding DNS server)."""

    def __init__(self, *, limits=None, resolve=None):
        self.limits = limits or Limits.from_settings()
        self._allow = allowlist()
        self._resolve = resolve
        self._idle = {}
        self._ssl = None
        self._targets = {}
        self._dns = {}

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        self.close()

    def close(self):
        for connections in self._idle.values():
            for connection in connections:
                connection._abort()
        self._idle.clear()

    def _ssl_context(self):
        if self._ssl is None:
            self._ssl = ssl.create_default_context()
        return self._ssl

    def _target(self, url) -> _Target:
        target = self._targets.get(url)
        if target is None:
            target = _Target(url, self._allow)
            if len(self._targets) > 50000:
                self._targets.clear()
            self._targets[url] = target
        if target.denied is not None:
            raise OutboundURLDenied(target.denied)
        return target

    async def _addresses(self, parsed):
        """The checked addresses of the host: the literal, or every address the name
        resolves to, all of them allowed (one denied address denies the name)."""
        if parsed.literal is not None:
            return (parsed.literal,)
        key = (parsed.host, parsed.port)
        cached = self._dns.get(key)
        if cached is None or cached[0] < time.monotonic():
            loop = asyncio.get_running_loop()
            try:
                if self._resolve is None:
                    infos = await loop.getaddrinfo(parsed.host, parsed.port, type=socket.SOCK_STREAM)
                else:
                    infos = await loop.run_in_executor(
                        None, lambda: self._resolve(parsed.host, parsed.port, type=socket.SOCK_STREAM))
            except (OSError, UnicodeError) as exc:
                raise OutboundError(ErrorKind.CONNECT, f"cannot resolve {parsed.host}: {exc}") from None
            addresses = tuple(dict.fromkeys(info[4][0] for info in infos))
            try:
                check_addresses(parsed, addresses, self._allow)
                denied = None
            except OutboundURLDenied as exc:
                denied = str(exc)
            cached = (time.monotonic() + DNS_TTL_SECONDS, addresses, denied)
            self._dns[key] = cached
        if cached[2] is not None:
            raise OutboundURLDenied(cached[2])
        return cached[1]

    async def _connect(self, target):
        parsed = target.parsed
        loop = asyncio.get_running_loop()
        ssl_context = self._ssl_context() if parsed.scheme == "https" else None
        last = None
        for address in await self._addresses(parsed):
            try:
                async with asyncio.timeout(self.limits.connect_s):
                    _, connection = await loop.create_connection(
                        _Connection, address, parsed.port, ssl=ssl_context,
                        server_hostname=parsed.host if ssl_context else None,
                    )
                return connection
            except TimeoutError:
                last = f"connect to {address} timed out after {self.limits.connect_s:g} s"
            except OSError as exc:
                last = f"{address}: {exc}"
        raise OutboundError(ErrorKind.CONNECT, last or f"{parsed.host} has no address")

    def _payload(self, method, target, headers, data):
        lines = [f"{method} {target.path} HTTP/1.1", f"Host: {target.host_header}"]
        given = {name.lower() for name in headers or ()}
        for name, value in (headers or {}).items():
            if any(c in str(name) + str(value) for c in "\r\n"):
                raise OutboundError(ErrorKind.INVALID_REQUEST, f"newline in header {name!r}")
            lines.append(f"{name}: {value}")
        if "user-agent" not in given:
            lines.append(f"User-Agent: {USER_AGENT}")
        if "accept" not in given:
            lines.append("Accept: */*")
        if "accept-encoding" not in given:
            lines.append("Accept-Encoding: gzip, deflate")
        if data is not None or method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(data or b'')}")
        try:
            return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (data or b"")
        except UnicodeEncodeError as exc:
            raise OutboundError(ErrorKind.INVALID_REQUEST, f"header not encodable: {exc}") from None

    async def _exchange(self, method, target, headers, data, max_body):
        payload = self._payload(method, target, headers, data)
        options = {"head_only": method == "HEAD", "max_body": max_body,
                   "max_ratio": self.limits.max_inflate_ratio, "max_head": self.limits.max_head}
        idle = self._idle.get(target.key)
        while idle:
            connection = idle.pop()
            if connection.closed:
                continue
            try:
                return connection, await connection.send(payload, **options)
            except ServerDisconnected:
                if connection.got_bytes or method not in _RETRYABLE:
                    raise
                # the server closed an idle connection as we reused it: try a fresh one
                # (idempotent methods only: a POST may have been received)
            except BaseException:
                connection._abort()  # timed out or cancelled mid-response: never reuse
                raise
        connection = await self._connect(target)
        try:
            return connection, await connection.send(payload, **options)
        except BaseException:
            connection._abort()
            raise

    def _release(self, key, connection):
        if connection.reusable and not connection.closed:
            self._idle.setdefault(key, []).append(connection)
        else:
            connection._abort()

    async def request(self, method, url, *, headers=None, data=None, timeout_s=None, max_body=None) -> Outcome:
        timeout_s = timeout_s or self.limits.total_s
        max_body = max_body or self.limits.max_body
        started = time.perf_counter()
        outcome = Outcome()
        kind, detail = None, ""
        try:
            async with asyncio.timeout(timeout_s):
                for _hop in range(self.limits.max_redirects + 1):
                    target = self._target(url)
                    connection, response = await self._exchange(method, target, headers, data, max_body)
                    self._release(target.key, connection)
                    outcome.connected = True
                    hop = next_hop(method, url, data, headers, response.status, response.headers.get("location"))
                    if hop is None:
                        outcome.status, outcome.body, outcome.truncated = response.status, response.body, response.truncated
                        break
                    method, url, data, headers = hop
                else:
                    kind, detail = ErrorKind.REDIRECTS, f"more than {self.limits.max_redirects} redirects"
        except OutboundURLDenied as exc:
            kind, detail = ErrorKind.DENIED, str(exc)
        except OutboundError as exc:
            kind, detail = exc.kind, str(exc)
        except TimeoutError:
            kind, detail = ErrorKind.TIMEOUT, f"no complete answer within {timeout_s:g} s"
        except ServerDisconnected as exc:
            kind, detail = ErrorKind.DISCONNECTED, str(exc) or "server disconnected"
        except ProtocolError as exc:
            kind, detail = ErrorKind.BAD_RESPONSE, str(exc)
        except OSError as exc:
            kind, detail = ErrorKind.DISCONNECTED, f"{type(exc).__name__}: {exc}"
        except Exception as exc:  # a call never crashes the sweep or the task
            kind, detail = ErrorKind.INTERNAL, f"{type(exc).__name__}: {exc}"
        if kind is not None:
            outcome.kind, outcome.error = kind, f"{kind}: {detail}"[:200]
        outcome.elapsed_ms = int((time.perf_counter() - started) * 1000)
        return outcome


def request_sync(method, url, *, headers=None, data=None, timeout_s=None, max_body=None, resolve=None) -> Outcome:
    """One call from synchronous code (a Celery task, a view): its own client and loop."""

    async def run():
        async with Client(resolve=resolve) as client:
            return await client.request(method, url, headers=headers, data=data, timeout_s=timeout_s, max_body=max_body)

    return run_async(run())
