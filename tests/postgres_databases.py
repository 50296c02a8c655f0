"""A throwaway PostgreSQL database of a test's own, for what takes only a URL (a process).

Schemas (tests/conftest.py) suit code given a `Database`; a `kycbot` process or a proxy in
front of the server needs a whole database, created here and dropped however the test ends.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

__all__ = ["POSTGRES_URL", "throwaway_database"]

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
