"""A throwaway PostgreSQL database of a test's own, for what takes only a URL (a process).

Schemas (tests/conftest.py) suit code given a `Database`; a `kycbot` process or a proxy in
front of the server needs a whole database, created here and dropped however the test ends.
`rows_now` reads one from synchronous code (a `wait_until` predicate), as sqlite3 does a file.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from storage import Database
from storage.migrate import upgrade

__all__ = ["POSTGRES_URL", "migrated_database", "rows_now", "throwaway_database"]

POSTGRES_URL = os.environ.get("KYCBOT_TEST_POSTGRES_URL", "")


async def _admin(statement: str) -> None:
    engine = create_async_engine(POSTGRES_URL, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(text(statement))
    finally:
        await engine.dispose()


@asynccontextmanager
async def throwaway_database(prefix: str) -> AsyncIterator[str]:
    """The URL of a new, empty database named `<prefix>_<random>`; dropped on the way out."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    await _admin(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        await _admin(f'DROP DATABASE "{name}" WITH (FORCE)')


@asynccontextmanager
async def migrated_database(prefix: str) -> AsyncIterator[str]:
    """A throwaway database at the newest schema, as `kycbot db upgrade` leaves it."""
    async with throwaway_database(prefix) as url:
        database = Database(url)
        try:
            await upgrade(database)
        finally:
            await database.dispose()
        yield url


_PLACEHOLDER = re.compile(r"\?")
# One thread of its own: the query runs on a loop there while the caller's loop waits for it.
_READER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rows-now")


def rows_now(url: str, sql: str, *params: object) -> list[tuple[Any, ...]]:
    """Run `sql` (sqlite3's `?` placeholders) on the database at `url`, synchronously."""
    numbered = iter(range(len(params)))
    statement = text(_PLACEHOLDER.sub(lambda _: f":p{next(numbered)}", sql))
    values = {f"p{index}": value for index, value in enumerate(params)}

    async def query() -> list[tuple[Any, ...]]:
        engine = create_async_engine(url, poolclass=NullPool)
        try:
            async with engine.connect() as connection:
                return [tuple(row) for row in await connection.execute(statement, values)]
        finally:
            await engine.dispose()

    return _READER.submit(asyncio.run, query()).result()
