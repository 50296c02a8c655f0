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

MODEL_TABLES = {
    "user",
    "verification",
    "consent",
    "kyc_result",
    "digilocker_session",
    "flow_event",
    "deletion_record",
    "outbox_notice",
}


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


_OTP_RESULT = (
    "INSERT INTO kyc_result (user_id, verification_id, provider, aadhaar_masked, aadhaar_hmac,"
    " verified_at) VALUES (1, 1, 'simulator', 'XXXX XXXX 1234', :hmac, :at)"
)


def _one_user_and_verification(connection: Connection) -> None:
    at = datetime(2026, 1, 5, tzinfo=UTC)
    connection.execute(
        text(
            'INSERT INTO "user" (id, channel, external_id, language, created_at,'
            " otp_requests_in_window, failures_in_window)"
            " VALUES (1, 'telegram', '1', 'en', :at, 0, 0)"
        ),
        {"at": at},
    )
    connection.execute(
        text(
            "INSERT INTO verification (id, user_id, state, provider, created_at, updated_at,"
            " ended_at, otp_sends, otp_attempts_left, invalid_entries, version)"
            " VALUES (1, 1, 'verified', 'simulator', :at, :at, :at, 1, 0, 0, 3)"
        ),
        {"at": at},
    )
    connection.execute(text(_OTP_RESULT), {"hmac": "ab" * 32, "at": at})


def _methods(connection: Connection) -> list[tuple[str, str | None]]:
    rows = connection.execute(text("SELECT method, aadhaar_hmac FROM kyc_result ORDER BY id"))
    return [(row.method, row.aadhaar_hmac) for row in rows]


async def test_results_from_before_digilocker_are_aadhaar_otp_results(database: Database) -> None:
    await downgrade(database, "0001")
    async with database.engine.begin() as connection:
        await connection.run_sync(_one_user_and_verification)
    await upgrade(database)
    assert await _run(database, _methods) == [("aadhaar_otp", "ab" * 32)]

    async with database.engine.begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO verification (id, user_id, state, provider, created_at, updated_at,"
                " otp_sends, otp_attempts_left, invalid_entries, version)"
                " VALUES (2, 1, 'verified', 'idto', :at, :at, 0, 0, 0, 2)"
            ),
            {"at": datetime(2026, 1, 6, tzinfo=UTC)},
        )
        await connection.execute(
            text(
                "INSERT INTO kyc_result (user_id, verification_id, provider, method, verified_at)"
                " VALUES (1, 2, 'idto', 'digilocker', :at)"
            ),
            {"at": datetime(2026, 1, 6, tzinfo=UTC)},
        )
    # Going back down drops only what the older schema cannot hold: results without a number.
    await downgrade(database, "0001")
    async with database.engine.connect() as connection:
        count = await connection.scalar(text("SELECT count(*) FROM kyc_result"))
    assert count == 1


def _new_user_and_verification(connection: Connection, external_id: str) -> tuple[int, int]:
    at = datetime(2026, 1, 5, tzinfo=UTC)
    user_id = connection.scalar(
        text(
            'INSERT INTO "user" (channel, external_id, language, created_at,'
            " otp_requests_in_window, failures_in_window)"
            " VALUES ('telegram', :external_id, 'en', :at, 0, 0) RETURNING id"
        ),
        {"external_id": external_id, "at": at},
    )
    verification_id = connection.scalar(
        text(
            "INSERT INTO verification (user_id, state, provider, created_at, updated_at,"
            " otp_sends, otp_attempts_left, invalid_entries, version)"
            " VALUES (:user_id, 'consent', 'simulator', :at, :at, 0, 0, 0, 1) RETURNING id"
        ),
        {"user_id": user_id, "at": at},
    )
    return int(user_id), int(verification_id)


async def test_the_ids_of_an_erased_newest_user_are_never_handed_out_again(
    database: Database,
) -> None:
    # Rows written before revision 0006 keep their ids through it (SQLite rebuilds every table).
    await downgrade(database, "0005")
    async with database.engine.begin() as connection:
        kept = await connection.run_sync(_new_user_and_verification, "1")
        erased = await connection.run_sync(_new_user_and_verification, "2")
    await upgrade(database)
    async with database.engine.begin() as connection:
        stored = await connection.execute(text("SELECT user_id, id FROM verification ORDER BY id"))
        assert [tuple(row) for row in stored] == [kept, erased]
        await connection.execute(text('DELETE FROM "user" WHERE id = :id'), {"id": erased[0]})
        left = await connection.scalar(text("SELECT count(*) FROM verification"))
        assert left == 1, "deleting the user cascades to their verification"
        after = await connection.run_sync(_new_user_and_verification, "3")
    assert after[0] > erased[0], "the user id was handed out again"
    assert after[1] > erased[1], "the verification id was handed out again"
