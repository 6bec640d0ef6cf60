"""A TCP proxy in front of PostgreSQL that can be cut and restored: a database restart as
the web processes see it, without restarting the server everyone else on the machine uses.

``cut()`` aborts every proxied connection (the client sees "server closed the connection
unexpectedly", as when PostgreSQL shuts down) and stops listening (new connections are
refused, as while it starts up again). ``restore()`` listens again on the same port.
It runs its own event loop in a thread so the load client's loop cannot slow it down.
"""

import asyncio
import threading


class TcpProxy:
    def __init__(self, target_host: str = "127.0.0.1", target_port: int = 5432, listen_port: int = 0):
        self.target = (target_host, target_port)
        self.port = listen_port
        self.loop = asyncio.new_event_loop()
        self.server = None
        self.transports: set = set()
        self.connections = 0
        self.generation = 0  # bumped by every cut
        self._thread = threading.Thread(target=self.loop.run_forever, name="pg-proxy", daemon=True)

    # --- inside the proxy's loop ----------------------------------------------------------

    async def _pipe(self, reader, writer):
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def _handle(self, client_reader, client_writer):
        if self.server is None:  # accepted just before a cut, handled just after it
            client_writer.transport.abort()
            return
        generation = self.generation
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        except OSError:
            client_writer.transport.abort()
            return
        if generation != self.generation:  # cut while this one was still connecting upstream
            client_writer.transport.abort()
            upstream_writer.transport.abort()
            return
        self.connections += 1
        pair = (client_writer.transport, upstream_writer.transport)
        self.transports.update(pair)
        try:
            await asyncio.gather(self._pipe(client_reader, upstream_writer), self._pipe(upstream_reader, client_writer))
        finally:
            self.transports.difference_update(pair)

    async def _listen(self):
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", self.port, reuse_address=True)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _cut(self):
        self.generation += 1
        if self.server is not None:
            self.server.close()
            self.server = None
        for transport in list(self.transports):
            transport.abort()  # RST: both sides see the connection die at once
        self.transports.clear()

    # --- from any thread --------------------------------------------------------------------

    def _call(self, coro, timeout=10):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def start(self) -> "TcpProxy":
        self._thread.start()
        self._call(self._listen())
        return self

    def cut(self):
        self._call(self._cut())

    def restore(self):
        self._call(self._listen())

    def stop(self):
        try:
            self._call(self._cut())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=5)
