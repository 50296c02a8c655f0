"""Alembic builds the schema from empty, matches the models exactly, and goes back down to base."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

import migrations
from storage import Database, NumberVault, UserKey, load_conversation
from storage.migrate import alembic_config, downgrade, upgrade
from storage.models import Base

MODEL_TABLES = {"user", "verification", "consent", "kyc_result", "flow_event"}


def _script() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def _drift(connection: Connection) -> list[Any]:
    diff: list[Any] = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    return diff


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


def _current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def _run(database: Database, check: Any) -> Any:
    async with database.engine.connect() as connection:
        return await connection.run_sync(check)


def test_the_revision_chain_has_exactly_one_head() -> None:
    assert len(_script().get_heads()) == 1


def test_every_revision_file_is_on_the_chain_from_head_to_base() -> None:
    script = _script()
    chain = [revision.revision for revision in script.walk_revisions("base", "heads")]
    versions = Path(migrations.__file__).parent / "versions"
    files = [path for path in versions.glob("*.py") if path.name != "__init__.py"]
    assert len(chain) == len(files)
    assert chain[-1] == "0001"
    assert script.get_revision(chain[-1]).down_revision is None


def test_the_models_are_the_tables_the_migrations_build() -> None:
    assert set(Base.metadata.tables) == MODEL_TABLES


async def test_upgrade_from_empty_builds_every_table_at_head(empty_database: Database) -> None:
    assert await _run(empty_database, _tables) == set()
    await upgrade(empty_database)
    assert await _run(empty_database, _tables) == MODEL_TABLES | {"alembic_version"}
    assert await _run(empty_database, _current_revision) == _script().get_current_head()


async def test_the_migrated_schema_matches_the_models(database: Database) -> None:
    assert await _run(database, _drift) == []


async def test_the_drift_check_notices_a_missing_index(database: Database) -> None:
    # Proof that an empty diff above means something: a schema change is reported.
    async with database.engine.begin() as connection:
        await connection.execute(text("DROP INDEX ix_flow_event_user_id"))
    diff = await _run(database, _drift)
    assert [(entry[0], entry[1].name) for entry in diff] == [("add_index", "ix_flow_event_user_id")]


async def test_downgrade_to_base_leaves_nothing_but_the_version_table(database: Database) -> None:
    await downgrade(database, "base")
    assert await _run(database, _tables) <= {"alembic_version"}
    assert await _run(database, _current_revision) is None


async def test_upgrade_after_downgrade_gives_a_working_schema(database: Database) -> None:
    await downgrade(database, "base")
    await upgrade(database)
    assert await _run(database, _drift) == []
    vault = NumberVault(encryption_key=b"e" * 32, hmac_key=b"k" * 32)
    loaded = await database.run(
        lambda connection: load_conversation(
            connection,
            key=UserKey("telegram", "1"),
            language="en",
            now=datetime(2026, 1, 5, tzinfo=UTC),
            vault=vault,
        )
    )
    assert loaded.verification_id is None


async def test_upgrading_twice_is_a_no_op(database: Database) -> None:
    await upgrade(database)
    assert await _run(database, _drift) == []
    assert await _run(database, _current_revision) == _script().get_current_head()
