"""The schema revision this code needs, and the one a database is at, without Alembic.

Alembic costs the bot about 10 MiB of memory for the life of the process once imported. A
bot that starts on an up-to-date schema only needs to compare two strings, so Alembic is
loaded only by `kycbot db upgrade` and by the child process that migrates SQLite on start.
"""

from __future__ import annotations

import asyncio
import os
import sys

from sqlalchemy import Connection, inspect, text

from storage.database import Database

__all__ = ["SCHEMA_HEAD", "MigrationFailed", "migrate_in_child", "stored_revision"]

# The newest migration in migrations/versions (a test checks it against Alembic's head).
SCHEMA_HEAD = "0006"
_URL_VARIABLE = "KYCBOT_MIGRATE_URL"


class MigrationFailed(Exception):
    """The child process that applies the migrations did not succeed."""


def _revision(connection: Connection) -> str | None:
    if not inspect(connection).has_table("alembic_version"):
        return None
    return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


async def stored_revision(database: Database) -> str | None:
    """The revision the database's schema is at (None for an empty database)."""
    return await database.run(_revision)


async def migrate_in_child(url: str) -> None:
    """Apply the migrations to `url` in a child process, so this one never imports Alembic."""
    # The URL goes through the environment: a password in argv would show in `ps`.
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "storage.migrate",
        env={**os.environ, _URL_VARIABLE: url},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, errors = await child.communicate()
    if child.returncode != 0:
        last = errors.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        raise MigrationFailed(f"exit code {child.returncode}: {last[0][:200]}")
