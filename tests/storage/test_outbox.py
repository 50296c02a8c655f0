"""The outbox of deadline notices: held by the process that stored them, taken over once lapsed.

Every test runs on SQLite and, with KYCBOT_TEST_POSTGRES_URL set, on PostgreSQL, where two
Databases on one store stand for two bot replicas.
"""

from __future__ import annotations

import asyncio
import functools
from datetime import datetime, timedelta

from sqlalchemy import Connection, select

from storage import Database, NumberVault, UserKey
from storage.erasure import erase_by_key
from storage.models import Base
from storage.outbox import (
    CLAIM_LEASE,
    MAX_ATTEMPTS,
    ClaimedNotice,
    add_notices,
    claim_leftover_notices,
    mark_delivered,
)
from tests.conftest import OpenDatabase
from tests.storage.conftest import T0, Chat

NOTICE = '{"text": "Your OTP expired."}'
LAPSED = T0 + CLAIM_LEASE


async def _add(chat: Chat, messages: list[str], now: datetime = T0) -> list[int]:
    user_id = (await chat.load(now)).user_id
    return await chat.database.run(
        functools.partial(add_notices, user=chat.key, user_id=user_id, messages=messages, now=now)
    )


async def _claim(
    database: Database, now: datetime, channel: str = "telegram"
) -> list[ClaimedNotice]:
    return await database.run(functools.partial(claim_leftover_notices, channel=channel, now=now))


async def _deliver(database: Database, notice_id: int, now: datetime) -> None:
    await database.run(functools.partial(mark_delivered, notice_id=notice_id, now=now))


def _delivered_at(connection: Connection) -> list[datetime | None]:
    outbox = Base.metadata.tables["outbox_notice"]
    return list(connection.execute(select(outbox.c.delivered_at).order_by(outbox.c.id)).scalars())


async def test_a_stored_notice_belongs_to_its_writer_until_the_claim_lapses(chat: Chat) -> None:
    (notice_id,) = await _add(chat, [NOTICE])
    assert await _claim(chat.database, T0 + CLAIM_LEASE - timedelta(seconds=1)) == []

    claimed = await _claim(chat.database, LAPSED)
    assert claimed == [ClaimedNotice(id=notice_id, user=chat.key, message=NOTICE)]
    # Claimed again just now: nobody else takes it while this sweeper sends it.
    assert await _claim(chat.database, LAPSED) == []


async def test_a_delivered_notice_is_never_claimed_again(chat: Chat) -> None:
    first, second = await _add(chat, ['{"text": "one"}', '{"text": "two"}'])
    assert first < second, "notices keep the order of the replies"
    await _deliver(chat.database, first, T0)

    claimed = await _claim(chat.database, LAPSED + timedelta(hours=1))
    assert [notice.id for notice in claimed] == [second]
    assert await chat.database.run(_delivered_at) == [T0, None]


async def test_only_notices_of_the_sweepers_channel_are_claimed(chat: Chat) -> None:
    await _add(chat, [NOTICE])
    assert await _claim(chat.database, LAPSED, channel="terminal") == []
    assert len(await _claim(chat.database, LAPSED)) == 1


async def test_a_notice_that_keeps_failing_is_given_up(chat: Chat) -> None:
    await _add(chat, [NOTICE])  # the writer's own try is the first attempt
    now = T0
    for _ in range(MAX_ATTEMPTS - 1):
        now += CLAIM_LEASE
        assert len(await _claim(chat.database, now)) == 1
    assert await _claim(chat.database, now + CLAIM_LEASE * 10) == []


async def test_two_replicas_sweeping_at_once_never_take_one_notice_twice(
    open_database: OpenDatabase, database: Database, vault: NumberVault
) -> None:
    users = [
        Chat(database=database, vault=vault, key=UserKey("telegram", str(n))) for n in range(6)
    ]
    stored = [notice for chat in users for notice in await _add(chat, [NOTICE, NOTICE])]
    replicas = [open_database(), open_database()]

    async def sweep(replica: Database) -> list[int]:
        taken: list[int] = []
        for _ in range(3):
            taken += [notice.id for notice in await _claim(replica, LAPSED)]
        return taken

    first, second = await asyncio.gather(*(sweep(replica) for replica in replicas))
    assert sorted(first + second) == sorted(stored), "each notice taken exactly once"


async def test_erasing_the_user_takes_their_notices_with_them(
    chat: Chat, vault: NumberVault
) -> None:
    await _add(chat, [NOTICE])
    erase = functools.partial(erase_by_key, key=chat.key, vault=vault, requested_by="user", now=T0)
    assert await chat.database.run(erase) is not None
    assert await chat.database.run(_delivered_at) == []
