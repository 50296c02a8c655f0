"""A TCP proxy on 127.0.0.1 that can make the server behind it vanish and come back.

Put it between the bot and PostgreSQL and point `database.url` at it: `cut()` closes every
connection and refuses new ones (the listening socket is closed, so a connect gets "connection
refused", as when the server is stopped), `restore()` listens again on the same port. `stall()`
is the nastier network partition: connections stay open and new ones are taken, but no byte gets
through either way, so only the client's own timeouts end a wait. The driver sees exactly what it
sees when the real server goes away, while the server itself, which other tests share, keeps
running.

    async with TcpProxy("127.0.0.1", 5432) as proxy:
        url = f"postgresql+asyncpg://postgres@127.0.0.1:{proxy.port}/test"
        await proxy.cut()
        await proxy.restore()
"""

from __future__ import annotations

import asyncio
import contextlib
from types import TracebackType

__all__ = ["TcpProxy"]

_CHUNK = 65536


class TcpProxy:
    """Forwards every connection to 127.0.0.1:`port` to `target_host`:`target_port`."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()  # one per connection taken
        self._writers: set[asyncio.StreamWriter] = set()
        self._flowing = asyncio.Event()  # cleared by stall()
        self._flowing.set()
        self.port = 0  # chosen on the first start, kept across cut() and restore()
        self.accepted = 0  # connections taken since the start, for a test to see reconnects

    @property
    def serving(self) -> bool:
        """Whether connections are taken (not cut)."""
        return self._server is not None

    async def start(self) -> None:
        """Listen (on a free port the first time, on the same port after a cut)."""
        self._server = await asyncio.start_server(
            self._connected, "127.0.0.1", self.port, reuse_address=True
        )
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def cut(self) -> None:
        """Close every connection and refuse new ones, as a stopped server would."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for writer in list(self._writers):
            writer.transport.abort()  # a reset, not a polite end: the server is gone
        handlers = list(self._handlers)
        for handler in handlers:
            handler.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)
        if server is not None:
            await server.wait_closed()

    def stall(self) -> None:
        """Let no byte through, on open connections or on new ones, until `restore()`."""
        self._flowing.clear()

    async def restore(self) -> None:
        """Take connections again, on the same port (after a stall: on new connections only)."""
        if not self._flowing.is_set():
            # A partition long enough to notice ends the connections it held.
            await self.cut()
            self._flowing.set()
        if self._server is None:
            await self.start()

    async def close(self) -> None:
        """Stop for good."""
        await self.cut()

    async def __aenter__(self) -> TcpProxy:
        await self.start()
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def _connected(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        handler = asyncio.current_task()
        assert handler is not None
        self._handlers.add(handler)
        ends = [writer]
        self._writers.add(writer)
        try:
            await self._flowing.wait()
            upstream_reader, upstream_writer = await asyncio.open_connection(*self._target)
            ends.append(upstream_writer)
            self._writers.add(upstream_writer)
            pipes = [
                asyncio.create_task(self._pipe(reader, upstream_writer)),
                asyncio.create_task(self._pipe(upstream_reader, writer)),
            ]
            try:
                await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for pipe in pipes:
                    pipe.cancel()
                await asyncio.gather(*pipes, return_exceptions=True)
        except OSError:
            pass  # the server behind refused: so does the proxy, by closing
        except asyncio.CancelledError:
            # Only cut() cancels a handler; asyncio's stream server logs a handler task that
            # ends cancelled as an error, so it ends normally instead.
            pass
        finally:
            self._handlers.discard(handler)
            for end in ends:
                self._writers.discard(end)
                end.transport.abort()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, ConnectionError):
            while data := await reader.read(_CHUNK):
                await self._flowing.wait()
                writer.write(data)
                await writer.drain()
