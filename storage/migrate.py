"""Applying the Alembic migrations from inside the application (no alembic.ini needed)."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

import migrations
from storage.database import Database

__all__ = ["alembic_config", "downgrade", "schema_revisions", "upgrade"]


def alembic_config(url: str | None = None) -> Config:
    """An Alembic config pointing at the packaged migrations."""
    config = Config()
    config.set_main_option("script_location", str(Path(migrations.__file__).parent))
    if url is not None:
        # Kept out of the ini options: configparser would choke on '%' in passwords.
        config.attributes["url"] = url
    return config


def _upgrade(connection: Connection, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


def _downgrade(connection: Connection, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.downgrade(config, revision)


async def _migrate(
    database: Database, run: Callable[[Connection, str], None], revision: str
) -> None:
    async with database.engine.connect() as connection:
        await connection.run_sync(run, revision)
        await connection.commit()
        if database.is_sqlite:
            # migrations/env.py turns foreign keys off for the batch rebuilds, and on again at
            # the end: inside the migration's transaction, where SQLite ignores the pragma. Out
            # of it, it takes, so this pooled connection cascades deletes again.
            await connection.exec_driver_sql("PRAGMA foreign_keys=ON")


async def upgrade(database: Database, revision: str = "head") -> None:
    """Bring the schema up to `revision`."""
    await _migrate(database, _upgrade, revision)


async def downgrade(database: Database, revision: str) -> None:
    """Take the schema down to `revision` ("base" drops everything)."""
    await _migrate(database, _downgrade, revision)


def _pending(connection: Connection) -> tuple[str | None, str | None]:
    script = ScriptDirectory.from_config(alembic_config())
    current = MigrationContext.configure(connection).get_current_revision()
    return current, script.get_current_head()


async def schema_revisions(database: Database) -> tuple[str | None, str | None]:
    """The revision the database is at and the one this code needs (equal when up to date)."""
    async with database.engine.connect() as connection:
        return await connection.run_sync(_pending)


def _main() -> int:
    """Upgrade the database named by KYCBOT_MIGRATE_URL (see storage.revision)."""
    url = os.environ.get("KYCBOT_MIGRATE_URL")
    if not url:
        print("KYCBOT_MIGRATE_URL is not set", file=sys.stderr)
        return 2

    async def run() -> None:
        database = Database(url)
        try:
            await upgrade(database)
        finally:
            await database.dispose()

    try:
        asyncio.run(run())
    except Exception as error:
        # The class only: a driver's message may quote the URL with its password.
        print(f"migration failed: {type(error).__name__}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(_main())
