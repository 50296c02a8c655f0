"""No Aadhaar number and no OTP reaches the database in clear: no column, no page, no WAL."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, make_url

from flows import OtpNotVerified, ProviderFailure, TextSent
from storage import Database, UserKey
from tests.aadhaar_numbers import make_aadhaar
from tests.storage.conftest import T0, Chat, Step, happy_path

NUMBER = make_aadhaar("23456789012")
SECOND_NUMBER = make_aadhaar("87654321098")
OTP, WRONG_OTP = "482913", "739164"


def _forms(number: str) -> list[str]:
    groups = (number[:4], number[4:8], number[8:])
    return [number, " ".join(groups), "-".join(groups)]


SECRETS = [*_forms(NUMBER), *_forms(SECOND_NUMBER), OTP, WRONG_OTP]


def _every_value(connection: Connection) -> bytes:
    """Every value of every row of every table, text as UTF-8 and binary as it is."""
    chunks: list[bytes] = []
    for table in inspect(connection).get_table_names():
        for row in connection.execute(text(f'SELECT * FROM "{table}"')):  # noqa: S608
            for value in row:
                chunks.append(value if isinstance(value, bytes) else str(value).encode())
    return b"\x1f".join(chunks)


def _database_files(database: Database) -> bytes:
    path = Path(make_url(database.url).database or "")
    files = sorted(path.parent.glob(path.name + "*"))  # the file, its -wal and -shm
    assert path in files
    return b"".join(file.read_bytes() for file in files)


async def _leave_traces(chat: Chat) -> None:
    """One user verifies (after a wrong OTP), another stops with an OTP on its way."""
    path = happy_path(NUMBER, OTP)
    await chat.step(TextSent(" ".join(_forms(NUMBER)[1:])), T0 - timedelta(minutes=1))
    wrong = [
        Step(TextSent(WRONG_OTP)),
        Step(OtpNotVerified(ProviderFailure.WRONG_OTP)),
    ]
    steps = await chat.walk([*path[:5], *wrong, *path[5:]])
    assert steps[-1][0].outcome == "verified"
    other = replace(chat, key=UserKey("telegram", "2002"))
    live = await other.walk(happy_path(_forms(SECOND_NUMBER)[1], OTP)[:5])
    assert live[-1][1].session.otp_reference == "ref-1"


async def test_no_column_holds_a_number_or_an_otp(chat: Chat, database: Database) -> None:
    await _leave_traces(chat)
    async with database.engine.connect() as connection:
        dump = await connection.run_sync(_every_value)
    # The dump does see the data: the masked forms of both numbers are there.
    assert f"XXXX XXXX {NUMBER[-4:]}".encode() in dump
    assert f"XXXX XXXX {SECOND_NUMBER[-4:]}".encode() in dump
    assert b"ref-1" in dump  # the live OTP session's reference is not a secret
    for secret in SECRETS:
        assert secret.encode() not in dump, f"a secret of length {len(secret)} is stored"


async def test_no_byte_of_the_sqlite_files_holds_a_number_or_an_otp(
    chat: Chat, database: Database
) -> None:
    if not database.is_sqlite:
        pytest.skip("a file scan needs SQLite; the column scan covers PostgreSQL")
    await _leave_traces(chat)
    # Read the WAL before it is checkpointed: it holds every page version ever written.
    raw = _database_files(database)
    assert f"XXXX XXXX {NUMBER[-4:]}".encode() in raw
    assert b"ref-1" in raw
    for secret in SECRETS:
        assert secret.encode() not in raw, f"a secret of length {len(secret)} is on disk"
    await database.dispose()
    checkpointed = _database_files(database)
    for secret in SECRETS:
        assert secret.encode() not in checkpointed
