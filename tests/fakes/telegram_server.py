"""Serve an ASGI app with uvicorn on 127.0.0.1 inside the test's own event loop."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Generator
from types import TracebackType

import uvicorn
from starlette.types import ASGIApp

__all__ = ["LoopbackServer"]


class _InLoopServer(uvicorn.Server):
    """uvicorn without its signal handlers: Ctrl-C belongs to pytest, not to a fixture."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class LoopbackServer:
    """`app` on a free port of 127.0.0.1, as a background task of the running loop."""

    def __init__(self, app: ASGIApp, *, graceful_seconds: float = 2.0) -> None:
        self._app = app
        self._graceful_seconds = graceful_seconds
        self._socket: socket.socket | None = None
        self._server: _InLoopServer | None = None
        self._task: asyncio.Task[None] | None = None
        self.port = 0

    @property
    def url(self) -> str:
        """http://127.0.0.1:PORT, without a trailing slash."""
        if not self.port:
            raise RuntimeError("the server is not started")
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        """Bind a free port and return once the server accepts connections."""
        if self._task is not None:
            raise RuntimeError("the server was already started")
        # Binding first gives the port before uvicorn runs, and no race for a "free" port.
        # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY only on sockets that say so, and
        # without it every keep-alive response waits ~40 ms for a delayed ACK.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.bind(("127.0.0.1", 0))
        self._socket = sock
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self._app,
            log_config=None,
            access_log=False,
            lifespan="off",
            ws="none",
            timeout_graceful_shutdown=int(self._graceful_seconds) or 1,
        )
        self._server = _InLoopServer(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]), name="uvicorn")
        while not self._server.started:
            if self._task.done():
                sock.close()
                await self._task  # raises what stopped uvicorn
                raise RuntimeError("uvicorn stopped while starting")
            await asyncio.sleep(0.005)

    async def stop(self) -> None:
        """Stop accepting, let running requests finish, and close every socket."""
        if self._server is None or self._task is None:
            return
        self._server.should_exit = True
        try:
            await self._task
        finally:
            if self._socket is not None:
                self._socket.close()

    async def __aenter__(self) -> LoopbackServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()
