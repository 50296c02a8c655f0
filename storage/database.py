"""Engines and transactions for SQLite (embedded default) and PostgreSQL (scale-out)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

__all__ = ["STATEMENT_TIMEOUT_SECONDS", "Database"]

T = TypeVar("T")

# asyncpg waits 60 s for a connection and forever for an answer, so a server that vanishes
# without a reset (a network partition) would hold a user's step, and the webhook call carrying
# it, for minutes. The bot's statements take milliseconds (the purge works in batches).
CONNECT_TIMEOUT_SECONDS = 5.0
STATEMENT_TIMEOUT_SECONDS = 5.0


def _tune_sqlite(dbapi_connection: Any, _: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the sweeper read while a handler writes; the busy timeout rides out short locks.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


class Database:
    """One database: an async engine for everything, and `run` for the per-step transactions."""

    def __init__(self, url: str, *, statement_timeout_seconds: float | None = None) -> None:
        """`statement_timeout_seconds` (PostgreSQL): a limit per statement, for the bot, whose
        statements take milliseconds while a user waits (STATEMENT_TIMEOUT_SECONDS). None, the
        default, suits commands that may run long on a big database: migrations, purge, stats.
        """
        self.url = url
        self._statement_timeout = statement_timeout_seconds
        self.engine: AsyncEngine = create_async_engine(url, **self._engine_options())
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._writer: contextlib.AbstractAsyncContextManager[object] = contextlib.nullcontext()
        self._thread: ThreadPoolExecutor | None = None
        self._thread_engine: Engine | None = None
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _tune_sqlite)
            self._writer = asyncio.Lock()
            if not self._in_memory:
                self._open_thread_engine()

    @property
    def is_sqlite(self) -> bool:
        """Whether this is the embedded SQLite store (one process only)."""
        return self.url.startswith("sqlite")

    def _engine_options(self) -> dict[str, Any]:
        if self.is_sqlite:
            return {}
        # pre_ping costs one round trip per checkout (a step is one checkout) and spares the
        # first steps after an outage a dead pooled connection.
        options: dict[str, Any] = {"pool_pre_ping": True}
        if make_url(self.url).get_driver_name() == "asyncpg":
            options["connect_args"] = {
                "timeout": CONNECT_TIMEOUT_SECONDS,
                "command_timeout": self._statement_timeout,
            }
        return options

    @property
    def _in_memory(self) -> bool:
        return make_url(self.url).database in (None, "", ":memory:")

    def _open_thread_engine(self) -> None:
        # Through aiosqlite every statement costs three or four hops between the event loop
        # and aiosqlite's thread (cursor, execute, fetch, close), and SQLAlchemy's async
        # adapter adds a greenlet switch to each: about 1.2 ms of CPU per step against
        # 0.3 ms for the same statements run synchronously in one hop. So a whole step runs
        # in this one thread, on the same file, through the standard sqlite3 driver.
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kycbot-sqlite")
        self._thread_engine = create_engine(make_url(self.url).set(drivername="sqlite"))
        event.listen(self._thread_engine, "connect", _tune_sqlite)

    def session(self) -> AsyncSession:
        """A new session; use `async with db.session() as session, session.begin():`."""
        return self.sessions()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session inside one transaction, committed on success and rolled back on error.

        SQLite takes one writer at a time: waiting for it in threads (busy_timeout) gives long,
        uneven stalls under load, so on SQLite this process's transactions queue here instead.
        """
        async with self._writer, self.sessions() as session, session.begin():
            yield session

    async def run(self, unit: Callable[[Connection], T]) -> T:
        """Run `unit` (synchronous SQLAlchemy Core) in one transaction and return its result.

        Committed when `unit` returns, rolled back when it raises. On SQLite it runs on the
        database's own thread; on PostgreSQL through the async engine (`run_sync`).
        """
        async with self._writer:
            if self._thread is not None and self._thread_engine is not None:
                engine = self._thread_engine
                loop = asyncio.get_running_loop()
                return await loop.run_in_executor(self._thread, _in_transaction, engine, unit)
            async with self.engine.begin() as connection:
                return await connection.run_sync(unit)

    async def dispose(self) -> None:
        """Close every pooled connection (and the SQLite thread)."""
        if self._thread is not None and self._thread_engine is not None:
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(self._thread, self._thread_engine.dispose)
            self._thread.shutdown(wait=True)
            self._thread = None
        await self.engine.dispose()


def _in_transaction(engine: Engine, unit: Callable[[Connection], T]) -> T:
    with engine.begin() as connection:
        return unit(connection)
