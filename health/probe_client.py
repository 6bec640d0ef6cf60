"""A lean HTTP/1.1 client for probe sweeps, on asyncio protocols.

Why not aiohttp here: measured on the 2-core machine, aiohttp's client costs ~500 us of
CPU per request (request/response objects, stream readers, timers, connector
bookkeeping), so one worker process running 10,000 probes was CPU-bound at ~5 s of client
CPU before the first byte of latency was waited for. A probe needs a small part of HTTP:
send one request, read the status, headers and a capped body, follow redirects by hand.
This client does that at ~100 us per request. Webhooks (low volume) keep aiohttp.

Same guarantees as ``health.http.request``: every hop passes ``check_url``; host names
are resolved by ``GuardedResolver`` (the guard runs on the answer and the connection is
pinned to the checked addresses); one total timeout covers connect, redirects and the
body; bodies are read up to a cap (gzip/deflate decoded within the cap); anything that
goes wrong is an ``Outcome`` with an error, never an exception.
"""

import asyncio
import ipaddress
import ssl
import time
import zlib
from urllib.parse import quote, urljoin, urlsplit

from controlplane.outbound import OutboundURLDenied

from .http import MAX_REDIRECTS, GuardedResolver, Outcome, check_url

USER_AGENT = "controlplane-health/1.0"
MAX_HEAD = 64 * 1024
_REDIRECTS = (301, 302, 303, 307, 308)
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

    def _reset(self, head_only, max_body):
        self.head_only, self.max_body = head_only, max_body
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
    def send(self, payload, *, head_only, max_body):
        self._reset(head_only, max_body)
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
                if len(self.buffer) > MAX_HEAD:
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

    def _sink(self, data):
        if not data:
            return
        room = self.max_body + 1 - len(self.body)
        if self.decoder is not None:
            data = self.decoder.decompress(bytes(data), room)
        self.body += data[:room]
        if len(self.body) > self.max_body:
            self.truncated = True
            del self.body[self.max_body:]

    def _finish(self, *, reusable):
        self.state = "done"
        self.reusable = reusable
        decoder, self.decoder = self.decoder, None
        if decoder is not None and not self.truncated:
            try:
                self._sink(decoder.flush())  # already decoded: _sink must not decode it again
            except zlib.error:
                pass
        if not reusable:
            self._abort()
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(_Response(self.status, self.headers, bytes(self.body), self.truncated))


def _default_port(scheme):
    return 443 if scheme == "https" else 80


def _is_ip(host):
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


class ProbeClient:
    """Keep-alive connections per (scheme, host, port) for one sweep; ``request`` never
    raises. Concurrency is the caller's (one connection per request in flight)."""

    def __init__(self):
        self._idle = {}
        self._resolver = GuardedResolver()
        self._ssl = None
        self._targets = {}

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

    def _target(self, url):
        """(scheme, host, port, Host header, request target) of a URL, cached: a sweep
        calls the same URLs every interval."""
        target = self._targets.get(url)
        if target is None:
            parts = urlsplit(url)
            scheme, host = parts.scheme.lower(), (parts.hostname or "").rstrip(".")
            port = parts.port or _default_port(scheme)
            try:
                host_ascii = host.encode("idna").decode("ascii") if not _is_ip(host) else host
            except UnicodeError as exc:
                raise ValueError(f"invalid host name: {exc}") from None
            shown = f"[{host_ascii}]" if ":" in host_ascii else host_ascii
            host_header = shown if port == _default_port(scheme) else f"{shown}:{port}"
            path = quote(parts.path or "/", safe=_SAFE_PATH)
            if parts.query:
                path += "?" + quote(parts.query, safe=_SAFE_QUERY)
            target = (scheme, host_ascii, port, host_header, path)
            if len(self._targets) > 50000:
                self._targets.clear()
            self._targets[url] = target
        return target

    async def _connect(self, scheme, host, port):
        loop = asyncio.get_running_loop()
        ssl_context = self._ssl_context() if scheme == "https" else None
        if _is_ip(host):
            addresses = [host]  # check_url ran the guard on the literal
        else:
            addresses = [info["host"] for info in await self._resolver.resolve(host, port)]
        last = None
        for address in addresses:
            try:
                _, connection = await loop.create_connection(
                    _Connection, address, port, ssl=ssl_context, server_hostname=host if ssl_context else None,
                )
                return connection
            except OSError as exc:
                last = exc
        raise last or OSError(f"{host} has no address")

    def _payload(self, method, host_header, path, headers, data):
        lines = [f"{method} {path} HTTP/1.1", f"Host: {host_header}"]
        given = {name.lower() for name in headers or ()}
        for name, value in (headers or {}).items():
            if any(c in str(name) + str(value) for c in "\r\n"):
                raise ValueError(f"newline in header {name!r}")
            lines.append(f"{name}: {value}")
        if "user-agent" not in given:
            lines.append(f"User-Agent: {USER_AGENT}")
        if "accept" not in given:
            lines.append("Accept: */*")
        if "accept-encoding" not in given:
            lines.append("Accept-Encoding: gzip, deflate")
        if data is not None or method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(data or b'')}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (data or b"")

    async def _exchange(self, method, url, headers, data, max_body):
        scheme, host, port, host_header, path = self._target(url)
        payload = self._payload(method, host_header, path, headers, data)
        head_only = method == "HEAD"
        idle = self._idle.get((scheme, host, port))
        while idle:
            connection = idle.pop()
            if connection.closed:
                continue
            try:
                return connection, await connection.send(payload, head_only=head_only, max_body=max_body)
            except ServerDisconnected:
                if connection.got_bytes or method not in _RETRYABLE:
                    raise
                # the server closed an idle connection as we reused it: try a fresh one
                # (idempotent methods only: a POST may have been received)
            except BaseException:
                connection._abort()  # timed out or cancelled mid-response: never reuse
                raise
        connection = await self._connect(scheme, host, port)
        try:
            return connection, await connection.send(payload, head_only=head_only, max_body=max_body)
        except BaseException:
            connection._abort()
            raise

    def _release(self, key, connection):
        if connection.reusable and not connection.closed:
            self._idle.setdefault(key, []).append(connection)
        else:
            connection._abort()

    async def request(self, method, url, *, headers=None, data=None, timeout_s=5.0, max_body=64 * 1024) -> Outcome:
        started = time.perf_counter()
        outcome = Outcome()
        try:
            async with asyncio.timeout(timeout_s):
                for _hop in range(MAX_REDIRECTS + 1):
                    check_url(url)
                    connection, response = await self._exchange(method, url, headers, data, max_body)
                    self._release(self._target(url)[:3], connection)
                    outcome.connected = True
                    location = response.headers.get("location")
                    if response.status in _REDIRECTS and location:
                        url = urljoin(url, location)
                        if response.status == 303 or (response.status in (301, 302) and method == "POST"):
                            method, data = "GET", None
                        continue
                    outcome.status, outcome.body, outcome.truncated = response.status, response.body, response.truncated
                    break
                else:
                    outcome.error = f"more than {MAX_REDIRECTS} redirects"
        except OutboundURLDenied as exc:
            outcome.error = f"denied: {exc}"
        except TimeoutError:
            outcome.error = f"timeout after {timeout_s:g} s"
        except ServerDisconnected as exc:
            outcome.error = f"ServerDisconnectedError: {exc}"
        except ProtocolError as exc:
            outcome.error = f"invalid response: {exc}"
        except OSError as exc:
            outcome.error = f"connect failed: {exc}" if not outcome.connected else f"{type(exc).__name__}: {exc}"
        except Exception as exc:  # a probe never crashes the sweep
            outcome.error = f"{type(exc).__name__}: {exc}"
        outcome.elapsed_ms = int((time.perf_counter() - started) * 1000)
        outcome.error = outcome.error[:200]
        return outcome
