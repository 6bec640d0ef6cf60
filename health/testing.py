"""A loopback HTTP server for tests and the benchmark (aiohttp, in a background thread).

Routes: ``/ok`` (JSON ``{"status": "UP"}``), ``/status/<code>``, ``/json?status=DOWN``,
``/slow/<ms>``, ``/hang``, ``/reset`` (drops the connection), ``/garbage`` (not HTTP),
``/huge`` (a 5 MB body), ``/redirect?to=<url>``, ``/hook`` (records what is posted;
``server.fail_next`` makes the next N answers 500), ``/bench/<i>`` (latency 50-250 ms by
``i``; every 20th hangs), ``/toggle`` (answers ``server.toggle_status``) and ``/chunked``
(chunked, gzip when accepted).
"""

import asyncio
import threading

from aiohttp import web


def bench_latency_ms(i: int) -> int:
    return 50 + (i * 7919) % 201


def bench_hangs(i: int) -> bool:
    return i % 20 == 7


class LoopbackServer:
    def __init__(self, host="127.0.0.1", port=0):
        self.host, self.port = host, port
        self.received = []
        self.fail_next = 0
        self.toggle_status = 200
        self.hits = 0
        self._loop = None
        self._thread = None
        self._runner = None
        self._started = threading.Event()

    @property
    def url(self):
        return f"http://{self.host}:{self.port}"

    def _app(self):
        app = web.Application()
        r = app.router
        r.add_get("/ok", self.ok)
        r.add_route("*", "/status/{code}", self.status)
        r.add_get("/json", self.json)
        r.add_get("/slow/{ms}", self.slow)
        r.add_get("/hang", self.hang)
        r.add_get("/reset", self.reset)
        r.add_get("/garbage", self.garbage)
        r.add_get("/huge", self.huge)
        r.add_get("/redirect", self.redirect)
        r.add_route("*", "/hook", self.hook)
        r.add_get("/bench/{i}", self.bench)
        r.add_get("/toggle", self.toggle)
        r.add_get("/chunked", self.chunked)
        return app

    async def ok(self, request):
        self.hits += 1
        return web.json_response({"status": "UP"})

    async def status(self, request):
        return web.Response(status=int(request.match_info["code"]), text="status")

    async def json(self, request):
        return web.json_response({"status": request.query.get("status", "UP"), "items": [{"state": "ok"}]})

    async def slow(self, request):
        await asyncio.sleep(int(request.match_info["ms"]) / 1000)
        return web.json_response({"status": "UP"})

    async def hang(self, request):
        await asyncio.sleep(3600)
        return web.Response(text="late")

    async def reset(self, request):
        request.transport.abort()
        await asyncio.sleep(0.05)
        return web.Response(text="never")

    async def garbage(self, request):
        request.transport.write(b"\x00\xffNOT HTTP AT ALL\r\n\r\n\x13\x37")
        request.transport.close()
        await asyncio.sleep(0.05)
        return web.Response(text="never")

    async def huge(self, request):
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        chunk = b"x" * 65536
        for _ in range(80):
            await response.write(chunk)
        return response

    async def redirect(self, request):
        raise web.HTTPFound(request.query["to"])

    async def hook(self, request):
        body = await request.read()
        self.received.append({"method": request.method, "headers": dict(request.headers), "body": body})
        if self.fail_next > 0:
            self.fail_next -= 1
            return web.Response(status=500, text="try later")
        return web.json_response({"ok": True})

    async def bench(self, request):
        i = int(request.match_info["i"])
        if bench_hangs(i):
            await asyncio.sleep(3600)
        await asyncio.sleep(bench_latency_ms(i) / 1000)
        return web.json_response({"status": "UP"})

    async def chunked(self, request):
        """JSON sent in pieces with chunked transfer encoding, gzip-compressed when the
        client accepts it (exercises the probe client's body decoding)."""
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        response.enable_compression()
        await response.prepare(request)
        for piece in (b'{"status": ', b'"UP", "pad": "', b"y" * 5000, b'"}'):
            await response.write(piece)
        await response.write_eof()
        return response

    async def toggle(self, request):
        return web.json_response({"status": "UP"}, status=self.toggle_status)

    def _run(self):
        try:
            import uvloop

            self._loop = uvloop.new_event_loop()
        except ImportError:
            self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)

        async def start():
            self._runner = web.AppRunner(self._app(), access_log=None, handler_cancellation=True)
            await self._runner.setup()
            site = web.TCPSite(self._runner, self.host, self.port, backlog=4096, reuse_address=True)
            await site.start()
            self.port = self._runner.addresses[0][1]

        self._loop.run_until_complete(start())
        self._started.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self._runner.cleanup())
        self._loop.close()

    def start(self):
        self._thread = threading.Thread(target=self._run, daemon=True, name="loopback-http")
        self._thread.start()
        if not self._started.wait(10):
            raise RuntimeError("loopback server did not start")
        return self

    def stop(self):
        if self._loop and self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class _BenchProtocol(asyncio.Protocol):
    """Answers ``GET /bench/<i>`` like ``LoopbackServer.bench`` with a preformatted
    keep-alive response and no framework: the benchmark's server stands for thousands of
    remote targets, so it should cost as little CPU as possible on the shared machine
    (the aiohttp app spent ~170 us per request, this ~30)."""

    RESPONSE = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 16\r\n"
                b"Connection: keep-alive\r\n\r\n{\"status\": \"UP\"}")
    NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"

    def __init__(self):
        self.buffer = b""
        self.transport = None
        self.hung = False

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.buffer += data
        while not self.hung:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head, self.buffer = self.buffer[:end], self.buffer[end + 4:]
            parts = head.split(b" ", 2)
            path = parts[1] if len(parts) > 1 else b""
            if not path.startswith(b"/bench/"):
                self.transport.write(self.NOT_FOUND)
                self.transport.close()
                return
            i = int(path[7:].split(b"?", 1)[0])
            if bench_hangs(i):
                self.hung = True  # never answer; the client's timeout closes the connection
                return
            asyncio.get_running_loop().call_later(bench_latency_ms(i) / 1000, self._answer)

    def _answer(self):
        if not self.transport.is_closing():
            self.transport.write(self.RESPONSE)

    def connection_lost(self, exc):
        self.transport = None


def serve_forever(port: int):
    """Run the benchmark server in this process (the benchmark starts it as a subprocess
    so server and sweep do not share a core, and pins it to one when it can)."""
    try:
        import uvloop

        loop = uvloop.new_event_loop()
    except ImportError:
        loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    server = loop.run_until_complete(loop.create_server(_BenchProtocol, "127.0.0.1", port, backlog=4096, reuse_address=True))
    print(f"listening http://127.0.0.1:{port}", flush=True)
    try:
        loop.run_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()


if __name__ == "__main__":
    import sys

    serve_forever(int(sys.argv[1]) if len(sys.argv) > 1 else 8765)
