"""UtcDateTime: aware UTC in, aware UTC out, one instant whatever the offset, on every backend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.exc import StatementError

from storage import Database
from storage.models import User

IST = ZoneInfo("Asia/Kolkata")
NOON_UTC = datetime(2026, 1, 5, 12, 0, 0, 123456, tzinfo=UTC)


async def _add_user(database: Database, external_id: str, created_at: datetime) -> None:
    async with database.session() as session, session.begin():
        session.add(
            User(channel="telegram", external_id=external_id, language="en", created_at=created_at)
        )


async def _created_at(database: Database, external_id: str) -> datetime:
    async with database.session() as session:
        value = await session.scalar(select(User.created_at).where(User.external_id == external_id))
    assert value is not None
    return value


async def test_a_naive_datetime_is_refused(database: Database) -> None:
    with pytest.raises(StatementError, match="naive datetimes are not stored") as caught:
        await _add_user(database, "1", datetime(2026, 1, 5, 12, 0))
    assert isinstance(caught.value.orig, ValueError)
    async with database.session() as session:
        assert await session.scalar(select(User.id)) is None


async def test_a_naive_datetime_is_refused_in_a_query(database: Database) -> None:
    async with database.session() as session:
        with pytest.raises(StatementError, match="naive datetimes"):
            await session.scalar(select(User.id).where(User.created_at < datetime(2026, 1, 5)))


async def test_an_aware_utc_datetime_comes_back_equal_and_utc(database: Database) -> None:
    await _add_user(database, "1", NOON_UTC)
    value = await _created_at(database, "1")
    assert value == NOON_UTC
    assert value.tzinfo is UTC
    assert value.microsecond == 123456


async def test_another_offset_is_stored_as_the_same_instant(database: Database) -> None:
    in_india = NOON_UTC.astimezone(IST)
    assert in_india.hour == 17  # 12:00 UTC is 17:30 in India
    await _add_user(database, "1", in_india)
    value = await _created_at(database, "1")
    assert value == NOON_UTC
    assert value.tzinfo is UTC
    assert (value.hour, value.minute) == (12, 0)


async def test_comparisons_in_sql_follow_the_instant_not_the_wall_clock(
    database: Database,
) -> None:
    # 17:00 in India is 11:30 UTC: earlier than noon UTC although its wall clock is later.
    await _add_user(database, "india", datetime(2026, 1, 5, 17, 0, tzinfo=IST))
    await _add_user(database, "utc", NOON_UTC)
    minus_five = ZoneInfo("America/New_York")
    async with database.session() as session:
        earlier = await session.scalars(
            select(User.external_id).where(User.created_at < NOON_UTC).order_by(User.created_at)
        )
        assert list(earlier) == ["india"]
        # 06:45 in New York is 11:45 UTC: between the two.
        later = await session.scalars(
            select(User.external_id).where(
                User.created_at > datetime(2026, 1, 5, 6, 45, tzinfo=minus_five)
            )
        )
        assert list(later) == ["utc"]
        ordered = await session.scalars(select(User.external_id).order_by(User.created_at))
        assert list(ordered) == ["india", "utc"]


async def test_a_null_timestamp_reads_as_none_and_can_be_set(database: Database) -> None:
    await _add_user(database, "1", NOON_UTC)
    async with database.session() as session:
        user = await session.scalar(select(User).where(User.external_id == "1"))
        assert user is not None
        assert user.locked_until is None
        user.locked_until = NOON_UTC + timedelta(days=1)
        await session.commit()
    async with database.session() as session:
        locked = await session.scalar(select(User.locked_until))
    assert locked == NOON_UTC + timedelta(days=1)
    assert locked is not None
    assert locked.tzinfo is UTC
