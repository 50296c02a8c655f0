"""Two bot processes on one database: a user's steps wait for each other; sweeps never overlap.

Each test opens two `Database`s on one store, as two replicas would (separate pools and
connections). The waiting is PostgreSQL's; SQLite is one process only and runs only the claim.
"""

from __future__ import annotations

import asyncio
import functools
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Connection, select

from flows import Rules, StartRequested, State
from storage import Database, Loaded, NumberVault, UserKey, load_conversation
from storage.migrate import upgrade
from storage.models import Verification
from storage.sweep_claim import CLAIM_LEASE, claim_due_users
from tests.conftest import OpenDatabase
from tests.storage.conftest import T0, Chat

IDLE_TIMEOUT = timedelta(seconds=Rules().idle_timeout_seconds)
DUE = T0 + IDLE_TIMEOUT
ALICE = UserKey("telegram", "2001")


@pytest.fixture
async def replicas(open_database: OpenDatabase) -> tuple[Database, Database]:
    """Two Databases on one migrated store."""
    first, second = open_database(), open_database()
    await upgrade(first)
    return first, second


def _load(connection: Connection, *, key: UserKey, vault: NumberVault) -> Loaded:
    return load_conversation(connection, key=key, language="en", now=T0, vault=vault)


async def test_a_users_step_waits_for_the_other_replicas_step_of_that_user(
    replicas: tuple[Database, Database], vault: NumberVault
) -> None:
    first, second = replicas
    if first.is_sqlite:
        pytest.skip("SQLite is one process only: nothing to wait for across replicas")
    bob = UserKey("telegram", "2002")
    await first.run(functools.partial(_load, key=ALICE, vault=vault))  # the user exists
    async with first.engine.begin() as holding:
        await holding.run_sync(functools.partial(_load, key=ALICE, vault=vault))
        waiting = asyncio.create_task(second.run(functools.partial(_load, key=ALICE, vault=vault)))
        # Another user of the other replica is not held up meanwhile.
        other = await asyncio.wait_for(
            second.run(functools.partial(_load, key=bob, vault=vault)), timeout=10
        )
        assert other.user_id
        await asyncio.sleep(0.3)
        assert not waiting.done(), "the second replica loaded while the first held the user"
    loaded = await asyncio.wait_for(waiting, timeout=10)  # released by the first commit
    assert loaded.session.state is State.IDLE


async def _due_users(vault: NumberVault, database: Database, count: int) -> list[UserKey]:
    keys = [UserKey("telegram", str(3000 + n)) for n in range(count)]
    chat = Chat(database=database, vault=vault, key=ALICE)
    for key in keys:
        await replace(chat, key=key).step(StartRequested(), T0)  # idle timeout due at DUE
    return keys


async def _due_at(database: Database) -> set[datetime | None]:
    async with database.session() as session:
        return set((await session.scalars(select(Verification.due_at))).all())


async def test_sweepers_of_two_replicas_never_claim_the_same_user(
    replicas: tuple[Database, Database], vault: NumberVault
) -> None:
    first, second = replicas
    keys = await _due_users(vault, first, 12)

    def claim(database: Database) -> asyncio.Task[list[UserKey]]:
        unit = functools.partial(claim_due_users, now=DUE, channel="telegram", limit=5)
        return asyncio.create_task(database.run(unit))

    rounds = [await asyncio.gather(claim(first), claim(second)) for _ in range(3)]
    claimed = [key for pair in rounds for keys_claimed in pair for key in keys_claimed]
    assert sorted(claimed, key=lambda key: key.external_id) == keys, "claimed twice or missed"
    # Every claimed verification is leased: none is due again until the lease ends.
    assert await _due_at(first) == {DUE + CLAIM_LEASE}
    assert await first.run(functools.partial(claim_due_users, now=DUE, channel="telegram")) == []
    again = await second.run(
        functools.partial(claim_due_users, now=DUE + CLAIM_LEASE, channel="telegram")
    )
    assert len(again) == len(keys), "a claim whose handling never finished is not retried"


async def test_a_claim_in_progress_is_skipped_not_waited_for(
    replicas: tuple[Database, Database], vault: NumberVault
) -> None:
    first, second = replicas
    if first.is_sqlite:
        pytest.skip("SQLite is one process only: no concurrent claims")
    keys = await _due_users(vault, first, 3)
    async with first.engine.begin() as claiming:
        mine = await claiming.run_sync(
            functools.partial(claim_due_users, now=DUE, channel="telegram", limit=2)
        )
        theirs = await asyncio.wait_for(
            second.run(functools.partial(claim_due_users, now=DUE, channel="telegram")),
            timeout=10,
        )
    assert len(mine) == 2
    assert sorted([*mine, *theirs], key=lambda key: key.external_id) == keys
