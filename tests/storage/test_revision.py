"""Starting on a current schema without Alembic, and migrating SQLite in a child process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

from bot.app import StartupError, _prepare_schema
from storage import Database
from storage.migrate import alembic_config, downgrade
from storage.revision import SCHEMA_HEAD, MigrationFailed, migrate_in_child, stored_revision


def test_the_head_constant_is_alembics_head() -> None:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head == SCHEMA_HEAD, "a new migration was added: set storage.revision.SCHEMA_HEAD"


async def test_a_database_reports_its_revision(database: Database) -> None:
    assert await stored_revision(database) == SCHEMA_HEAD
    await downgrade(database, "base")
    assert await stored_revision(database) is None


async def test_an_empty_sqlite_file_is_migrated_in_a_child(tmp_path: Path) -> None:
    database = Database(f"sqlite+aiosqlite:///{tmp_path}/new.sqlite3")
    try:
        assert await stored_revision(database) is None
        await _prepare_schema(database)
        assert await stored_revision(database) == SCHEMA_HEAD
    finally:
        await database.dispose()


async def test_a_failed_migration_says_so_without_the_url(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/missing-folder/secret-name.sqlite3"
    with pytest.raises(MigrationFailed) as raised:
        await migrate_in_child(url)
    assert "secret-name" not in str(raised.value)
    assert "OperationalError" in str(raised.value)


async def test_postgresql_behind_the_code_refuses_to_start(database: Database) -> None:
    if database.is_sqlite:
        pytest.skip("SQLite is migrated on start instead")
    await downgrade(database, "base")
    with pytest.raises(StartupError, match=r"at revision none .* run `kycbot db upgrade`"):
        await _prepare_schema(database)


def test_the_bot_process_never_imports_alembic(tmp_path: Path) -> None:
    # A fresh file (migrated by the child) and then the same file again (already current).
    script = f"""
import asyncio, base64, sys
from bot.app import wired
from bot.config import load_settings
environ = {{
    "KYCBOT_DATABASE__URL": "sqlite+aiosqlite:///{tmp_path}/bot.sqlite3",
    "KYCBOT_SECURITY__HMAC_KEY": "h" * 40,
    "KYCBOT_SECURITY__ENCRYPTION_KEY": base64.b64encode(b"e" * 32).decode(),
}}
async def main():
    for _ in range(2):
        async with wired(load_settings(None, environ)):
            pass
asyncio.run(main())
print(sorted(name for name in sys.modules if name.split(".")[0] == "alembic"))
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]"
