"""The privacy scanner finds what it should, and not a timestamp that looks like an OTP."""

from __future__ import annotations

import os
import secrets
import sqlite3
from collections.abc import AsyncIterator
from contextlib import closing
from pathlib import Path

import pytest
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from tests.aadhaar_numbers import make_aadhaar
from tests.privacy_scan import scan_for_secrets

NUMBER = make_aadhaar("23456789012")
OTHER = make_aadhaar("34567890123")
OTP = "482915"
POSTGRES_URL = os.environ.get("KYCBOT_TEST_POSTGRES_URL", "")


def _sqlite_with(path: Path, value: str) -> Path:
    with closing(sqlite3.connect(path)) as connection:
        connection.execute("CREATE TABLE t (v TEXT, at TEXT)")
        connection.execute("INSERT INTO t VALUES (?, ?)", (value, f"2026-01-05 09:30:12.{OTP}"))
        connection.commit()
    return path


def test_a_spaced_number_in_sqlite_and_an_otp_in_a_log_are_found(tmp_path: Path) -> None:
    spaced = f"{NUMBER[:4]} {NUMBER[4:8]} {NUMBER[8:]}"
    database = _sqlite_with(tmp_path / "bot.sqlite3", f"typed {spaced}")
    report = scan_for_secrets(
        numbers=[NUMBER, OTHER, NUMBER],
        otps=[OTP],
        sqlite_paths=[database],
        logs={"bot.log": f"12:00:01 INFO user typed otp={OTP}\n"},
    )
    assert report.values_checked == 3
    assert [str(hit) for hit in report.hits] == [
        f"bot.sqlite3: Aadhaar XXXX XXXX {NUMBER[-4:]} (spaced)",
        f"bot.sqlite3 rows: Aadhaar XXXX XXXX {NUMBER[-4:]} (spaced)",
        "bot.log: an OTP (plain)",
    ]
    assert NUMBER not in report.summary()
    assert OTP not in report.summary()


def test_masked_numbers_and_timestamp_fractions_are_no_hits(tmp_path: Path) -> None:
    database = _sqlite_with(tmp_path / "bot.sqlite3", f"XXXX XXXX {NUMBER[-4:]}")
    report = scan_for_secrets(
        numbers=[NUMBER],
        otps=[OTP],
        sqlite_paths=[database],
        logs={"bot.log": f"at 09:30:12.{OTP} ref 1{OTP}9 hmac a{OTP}f"},
    )
    assert report.clean, report.summary()
    assert report.sources == ("bot.sqlite3", "bot.sqlite3 rows", "bot.log")


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    """A throwaway PostgreSQL database."""
    if not POSTGRES_URL:
        pytest.skip("KYCBOT_TEST_POSTGRES_URL is not set")
    name = f"kycbot_scan_{secrets.token_hex(4)}"
    admin = create_async_engine(POSTGRES_URL, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


async def test_a_number_in_clear_in_a_bytea_column_is_found_in_the_dump(postgres_url: str) -> None:
    engine = create_async_engine(postgres_url, poolclass=NullPool)
    try:
        async with engine.begin() as connection:
            await connection.execute(text("CREATE TABLE t (sealed bytea)"))
            await connection.execute(
                text("INSERT INTO t VALUES (:value)"), {"value": NUMBER.encode()}
            )
    finally:
        await engine.dispose()
    report = scan_for_secrets(numbers=[NUMBER, OTHER], otps=[OTP], postgres_urls=[postgres_url])
    assert [hit.what for hit in report.hits] == [f"Aadhaar XXXX XXXX {NUMBER[-4:]} (hex)"]
