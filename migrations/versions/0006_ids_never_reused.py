"""On SQLite, ids are never handed out twice (AUTOINCREMENT on every table).

Without it SQLite gives a new row max(id) + 1, so the user after an erasure took over the
erased user's newest ids: a log line or a support note about `v123` then named someone else,
and `kycbot logs --follow`, which reads on from the last id it printed, skipped the events
that reused ids below it. Each table is rebuilt with AUTOINCREMENT, rows and ids unchanged;
SQLite starts its counter at the largest id copied. PostgreSQL's sequences never go back, so
there is nothing to do there.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 22:40:00
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from alembic import op
from sqlalchemy.engine import Connection

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = (
    "user",
    "verification",
    "consent",
    "kyc_result",
    "digilocker_session",
    "flow_event",
    "deletion_record",
    "outbox_notice",
)
_HEADER = re.compile(r'^CREATE TABLE\s+"?\w+"?')
# As the earlier revisions wrote every table: the id first, the key as a clause of its own.
_ID_COLUMN = "id INTEGER NOT NULL"
_KEY_CLAUSE = re.compile(r",\s*PRIMARY KEY \(id\)")
_KEYED_ID_COLUMN = f"{_ID_COLUMN} PRIMARY KEY"
_AUTOINCREMENT = f"{_KEYED_ID_COLUMN} AUTOINCREMENT"


def _with_autoincrement(create: str) -> str:
    if _KEYED_ID_COLUMN in create:  # as this revision's downgrade leaves it
        return create.replace(_KEYED_ID_COLUMN, _AUTOINCREMENT, 1)
    if _ID_COLUMN not in create or not _KEY_CLAUSE.search(create):
        raise RuntimeError(f"unexpected table definition, not changed: {create[:60]}...")
    return _KEY_CLAUSE.sub("", create).replace(_ID_COLUMN, _AUTOINCREMENT, 1)


def _without_autoincrement(create: str) -> str:
    return create.replace(_AUTOINCREMENT, _KEYED_ID_COLUMN, 1)


def _rebuild(connection: Connection, table: str, autoincrement: bool) -> None:
    """SQLite's own recipe for a table change: build the new table, copy, swap, re-index.

    Plain SQL rather than Alembic's batch mode, which reflects every table first: this runs
    on every new SQLite file, and takes 0.04 s for the eight tables instead of 0.2 s.
    """
    create = connection.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
    ).scalar_one()
    if ("AUTOINCREMENT" in create) == autoincrement:
        return
    indexes = (
        connection.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL",
            (table,),
        )
        .scalars()
        .all()
    )
    changed = _with_autoincrement(create) if autoincrement else _without_autoincrement(create)
    building = f"_rebuilding_{table}"
    connection.exec_driver_sql(_HEADER.sub(f'CREATE TABLE "{building}"', changed, count=1))
    # The names come from TABLES above, never from input.
    connection.exec_driver_sql(f'INSERT INTO "{building}" SELECT * FROM "{table}"')  # noqa: S608
    # env.py turned foreign keys off: dropping `user` must not cascade into the rows that
    # point at it, which point at the rebuilt table once it takes the name.
    connection.exec_driver_sql(f'DROP TABLE "{table}"')
    connection.exec_driver_sql(f'ALTER TABLE "{building}" RENAME TO "{table}"')
    for index in indexes:
        connection.exec_driver_sql(index)


def _rebuild_all(autoincrement: bool) -> None:
    connection = op.get_bind()
    if connection.dialect.name != "sqlite":
        return
    for table in TABLES:
        _rebuild(connection, table, autoincrement)


def upgrade() -> None:
    _rebuild_all(autoincrement=True)


def downgrade() -> None:
    _rebuild_all(autoincrement=False)
