"""A local HTTP server that misbehaves on purpose (asyncio, raw sockets), for the fault
tests of the outbound client's callers (probe, webhook, chat, replay) and
scripts/chaos/hostile_targets.py; and ``ConnectionCounter``, a listener proving that not
one byte reached it.

Paths:
  /hang            reads the request, then sends nothing, ever
  /reset           reads the request, then resets the connection (RST)
  /trickle-head    sends the status line and headers one byte every 0.3 s, never ending
  /trickle-body    complete headers, then a body of one byte every 0.3 s (slowloris)
  /huge            Content-Length 1.5 GB and that many bytes, as fast as the client reads
  /huge-unsized    no Content-Length, connection-close framing, 1.5 GB
  /huge-lying      Content-Length: 10, then 1.5 GB
  /gzip-bomb       Content-Encoding: gzip; 1 MB on the wire that inflates to 1 GB of zeros
  /slow            200 "ok" after 2 s (a target a worker can be killed in the middle of)
  /redirect-binary 302 whose Location and another header hold raw non-UTF-8 bytes
  /binary-headers  200 "ok" with non-UTF-8 bytes in a header value and the reason phrase
  /redirect?to=URL 307 to URL (percent-decoded), for redirect-hop checks
  anything else    200 "ok"
Every request is counted in ``hits[path]``.
"""

import asyncio
import socket
import struct
import threading
import zlib
from collections import Counter
from urllib.parse import unquote

GIGA = 1 << 30
HUGE = GIGA + GIGA // 2
CHUNK = b"x" * 65536


def gzip_bomb(megabytes=1024) -> bytes:
    """A gzip body inflating to ``megabytes`` MB of zeros, built in milliseconds: after a
    full flush the compressor's output for the same input repeats byte for byte. (The
    trailer's checksum is wrong; a client that reads to the end says so, which is fine.)"""
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = b"\0" * (1 << 20)
    first = c.compress(zeros) + c.flush(zlib.Z_FULL_FLUSH)
    again = c.compress(zeros) + c.flush(zlib.Z_FULL_FLUSH)
    return first + again * (megabytes - 1) + c.flush()


class HostileServer:
    def __init__(self, host="127.0.0.1"):
        self.host = host
        self.hits = Counter()
        self.bomb = gzip_bomb()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self._thread.start()
        self._ready.wait(10)
        return self

    def url(self, path):
        return f"http://{self.host}:{self.port}{path}"

    def _run(self):
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        self.server = self.loop.run_until_complete(asyncio.start_server(self._handle, self.host, 0))
        self.port = self.server.sockets[0].getsockname()[1]
        self._ready.set()
        self.loop.run_forever()

    def stop(self):
        async def shutdown():
            self.server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.loop.stop()

        asyncio.run_coroutine_threadsafe(shutdown(), self.loop)
        self._thread.join(5)

    async def _read_request(self, reader):
        head = await reader.readuntil(b"\r\n\r\n")
        line = head.split(b"\r\n", 1)[0].decode()
        path = line.split(" ")[1] if " " in line else "/"
        length = 0
        for header in head.split(b"\r\n")[1:]:
            if header.lower().startswith(b"content-length:"):
                length = int(header.split(b":", 1)[1])
        if length:
            await reader.readexactly(length)
        return path

    async def _handle(self, reader, writer):
        try:
            path = await self._read_request(reader)
            self.hits[path] += 1
            if path.startswith("/redirect?to="):
                location = unquote(path.split("=", 1)[1]).encode()
                writer.write(b"HTTP/1.1 307 Temporary Redirect\r\nLocation: " + location
                             + b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                await writer.drain()
                return
            await getattr(self, "_" + path.strip("/").replace("-", "_"), self._ok)(writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            try:
                writer.close()
            except Exception:  # noqa: S110 - the peer is gone already
                pass

    async def _ok(self, writer):
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        await writer.drain()

    async def _redirect_binary(self, writer):
        writer.write(b"HTTP/1.1 302 Found\r\nLocation: http://\xff\xfe\xc3\x28.example/\x80\xa0\r\n"
                     b"X-Junk: \xc3\x28\xa0\xa1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        await writer.drain()

    async def _binary_headers(self, writer):
        writer.write(b"HTTP/1.1 200 \xff\xfeOK\r\nX-Junk: \xc3\x28\xa0\xa1\r\nContent-Length: 2\r\n"
                     b"Connection: close\r\n\r\nok")
        await writer.drain()

    async def _slow(self, writer):
        await asyncio.sleep(2)
        await self._ok(writer)

    async def _hang(self, writer):
        await asyncio.sleep(3600)

    async def _reset(self, writer):
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()

    async def _trickle(self, writer, data):
        for byte in data:
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(0.3)

    async def _trickle_head(self, writer):
        await self._trickle(writer, b"HTTP/1.1 200 OK\r\n" + b"X-Slow: " + b"a" * 100000)

    async def _trickle_body(self, writer):
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
        await self._trickle(writer, b"a" * 100000)

    async def _stream(self, writer, head, total=HUGE):
        writer.write(head)
        sent = 0
        while sent < total:
            writer.write(CHUNK)
            sent += len(CHUNK)
            await writer.drain()

    async def _huge(self, writer):
        await self._stream(writer, f"HTTP/1.1 200 OK\r\nContent-Length: {HUGE}\r\n\r\n".encode())

    async def _huge_unsized(self, writer):
        await self._stream(writer, b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")

    async def _huge_lying(self, writer):
        await self._stream(writer, b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n")

    async def _gzip_bomb(self, writer):
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Type: application/json\r\n"
                     + f"Content-Length: {len(self.bomb)}\r\n\r\n".encode())
        for start in range(0, len(self.bomb), 65536):
            writer.write(self.bomb[start:start + 65536])
            await writer.drain()


class ConnectionCounter:
    """A listener that counts accepted connections and bytes received (and answers 200 to
    whatever arrives): proof that nothing at all reached it, not merely no valid request."""

    def __init__(self, host="127.0.0.1"):
        self.sock = socket.socket()
        self.sock.bind((host, 0))
        self.sock.listen(50)
        self.sock.settimeout(0.2)
        self.host, self.port = host, self.sock.getsockname()[1]
        self.connections = 0
        self.bytes = 0
        self.received = []  # the first bytes of each connection (a request head, say)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:  # the accept timeout, or the socket closed by close()
                continue
            self.connections += 1
            conn.settimeout(0.5)
            try:
                data = conn.recv(65536)
                self.bytes += len(data)
                self.received.append(data)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
            except OSError:
                pass
            finally:
                conn.close()

    def close(self):
        self._stop.set()
        self._thread.join(2)
        self.sock.close()
