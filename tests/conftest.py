"""Fixtures shared by every suite: a real database on each backend.

Every test using `database` runs on SQLite, and on PostgreSQL when KYCBOT_TEST_POSTGRES_URL is
set (e.g. postgresql+asyncpg://postgres@127.0.0.1:5432/test); each PostgreSQL test gets a schema
of its own, dropped afterwards.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from storage import Database
from storage.migrate import upgrade

# Hypothesis fails an example that takes over 200 ms: a timing assertion, which on a loaded
# 2-core machine fails for reasons that have nothing to do with the code. Speed is measured by
# bench/, never by a test.
settings.register_profile("kycbot", deadline=None)
settings.load_profile("kycbot")

POSTGRES_URL = os.environ.get("KYCBOT_TEST_POSTGRES_URL", "")
OpenDatabase = Callable[[], Database]

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param(
        "postgresql",
        id="postgresql",
        marks=pytest.mark.skipif(
            not POSTGRES_URL,
            reason="PostgreSQL backend: set KYCBOT_TEST_POSTGRES_URL to run it",
        ),
    ),
]


async def _postgres_schema(url: str, statement: str) -> None:
    admin = create_async_engine(url, poolclass=NullPool)
    try:
        async with admin.begin() as connection:
            await connection.execute(text(statement))
    finally:
        await admin.dispose()


def _search_path(schema: str) -> Callable[..., None]:
    def on_checkout(dbapi_connection: Any, *_: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute(f'SET search_path TO "{schema}"')
        cursor.close()

    return on_checkout


@pytest.fixture(params=BACKENDS)
async def open_database(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[OpenDatabase]:
    """Opens Databases on one fresh store (an SQLite file or a PostgreSQL schema), as separate
    processes would; all of them are disposed of afterwards."""
    opened: list[Database] = []
    schema = f"t_{secrets.token_hex(6)}"
    if request.param == "postgresql":
        await _postgres_schema(POSTGRES_URL, f'CREATE SCHEMA "{schema}"')

    def open_one() -> Database:
        if request.param == "sqlite":
            database = Database(f"sqlite+aiosqlite:///{tmp_path}/t.sqlite3")
        else:
            # storage.Database takes only a URL, so the schema is chosen on every checkout: a
            # connection back in the pool is reset (RESET ALL), search_path included, and the
            # next user of it would otherwise work in the shared database's public schema.
            database = Database(POSTGRES_URL)
            event.listen(database.engine.sync_engine, "checkout", _search_path(schema))
        opened.append(database)
        return database

    try:
        yield open_one
    finally:
        for database in opened:
            await database.dispose()
        if request.param == "postgresql":
            await _postgres_schema(POSTGRES_URL, f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def empty_database(open_database: OpenDatabase) -> Database:
    """A Database with nothing in it yet."""
    return open_database()


@pytest.fixture
async def database(empty_database: Database) -> Database:
    """A Database whose schema was built by the real migrations."""
    await upgrade(empty_database)
    return empty_database
