"""Retention and erasure in storage, on SQLite and (when given) PostgreSQL."""

from __future__ import annotations

import functools
from datetime import timedelta

from sqlalchemy import func, select

from flows import ConsentGiven, StartRequested
from storage import Database, NumberVault, UserKey
from storage.erasure import erase_by_key, erase_user, erased_at, find_user, user_hmac
from storage.models import (
    Consent,
    DeletionRecord,
    FlowEvent,
    KycResult,
    OutboxNotice,
    User,
    Verification,
)
from storage.outbox import add_notices
from storage.retention import Cutoffs, PurgeCounts, count_due, purge
from tests.aadhaar_numbers import make_aadhaar
from tests.storage.conftest import CONSENT, T0, Chat, Step, happy_path

LATER = T0 + timedelta(days=100)


async def _count(database: Database, model: type[object]) -> int:
    table = model.__table__  # type: ignore[attr-defined]
    return await database.run(
        lambda connection: connection.execute(select(func.count()).select_from(table)).scalar_one()
    )


async def _verified(chat: Chat) -> None:
    number = make_aadhaar("23456789012")
    await chat.walk(happy_path(number, "123456"))


class TestPurge:
    async def test_old_events_and_results_go_and_a_running_verification_stays(
        self, chat: Chat, database: Database, vault: NumberVault
    ) -> None:
        await _verified(chat)
        running = Chat(database=database, vault=vault, key=UserKey("telegram", "2002"))
        await running.walk([Step(StartRequested()), Step(ConsentGiven(), CONSENT)])
        events_before = await _count(database, FlowEvent)
        cutoffs = Cutoffs(flow_events_before=LATER, results_before=LATER)

        due = await database.run(functools.partial(count_due, cutoffs=cutoffs))
        heard: list[PurgeCounts] = []
        removed = await purge(database, cutoffs=cutoffs, batch_size=3, on_batch=heard.append)

        assert removed == due
        assert removed == PurgeCounts(
            flow_events=events_before, results=1, consents=1, verifications=1
        )
        assert len(heard) > 1  # three rows a batch: several batches, each reported
        assert heard[-1] == removed
        assert await _count(database, KycResult) == 0
        assert await _count(database, Verification) == 1  # the one still in progress
        assert await _count(database, Consent) == 1  # its consent, kept with it
        assert await _count(database, User) == 2

    async def test_a_second_purge_removes_nothing(self, chat: Chat, database: Database) -> None:
        await _verified(chat)
        cutoffs = Cutoffs(flow_events_before=LATER, results_before=LATER)
        await purge(database, cutoffs=cutoffs)

        assert await purge(database, cutoffs=cutoffs) == PurgeCounts()

    async def test_nothing_newer_than_the_cutoff_is_touched(
        self, chat: Chat, database: Database
    ) -> None:
        await _verified(chat)
        events = await _count(database, FlowEvent)
        cutoffs = Cutoffs(flow_events_before=T0, results_before=T0)

        assert await purge(database, cutoffs=cutoffs) == PurgeCounts()
        assert await _count(database, FlowEvent) == events
        assert await _count(database, KycResult) == 1

    async def test_old_deadline_notices_go_with_the_events(
        self, chat: Chat, database: Database
    ) -> None:
        await _verified(chat)
        user_id = await database.run(
            functools.partial(find_user, channel=chat.key.channel, external_id=chat.key.external_id)
        )
        assert user_id is not None
        for when in (T0, LATER):
            notice = functools.partial(
                add_notices, user=chat.key, user_id=user_id, messages=['{"text": "-"}'], now=when
            )
            await database.run(notice)
        cutoffs = Cutoffs(flow_events_before=LATER, results_before=T0)

        assert (await database.run(functools.partial(count_due, cutoffs=cutoffs))).notices == 1
        assert (await purge(database, cutoffs=cutoffs)).notices == 1
        assert await _count(database, OutboxNotice) == 1  # the newer one stays

    async def test_events_and_results_have_their_own_cutoffs(
        self, chat: Chat, database: Database
    ) -> None:
        await _verified(chat)
        cutoffs = Cutoffs(flow_events_before=LATER, results_before=T0)

        removed = await purge(database, cutoffs=cutoffs)

        assert removed.flow_events > 0
        assert removed.results == removed.verifications == 0
        assert await _count(database, KycResult) == 1


class TestErasure:
    async def test_erasure_leaves_only_the_deletion_record(
        self, chat: Chat, database: Database, vault: NumberVault
    ) -> None:
        await _verified(chat)
        other = Chat(database=database, vault=vault, key=UserKey("telegram", "2002"))
        await other.walk([Step(StartRequested()), Step(ConsentGiven(), CONSENT)])
        others_events = await _count(database, FlowEvent) - 7

        counts = await database.run(
            functools.partial(
                erase_by_key, key=chat.key, vault=vault, requested_by="support", now=LATER
            )
        )

        assert counts is not None
        assert dict(counts.items()) == {
            "results": 1,
            "consents": 1,
            "digilocker sessions": 0,
            "verifications": 1,
            "flow events": 7,
            "users": 1,
        }
        assert await _count(database, User) == 1
        assert await _count(database, FlowEvent) == others_events
        assert await _count(database, KycResult) == 0
        hashed = user_hmac(vault, channel="telegram", external_id="1001")
        records = await database.run(
            lambda connection: connection.execute(select(DeletionRecord.__table__)).all()
        )
        assert [(r.user_hmac, r.requested_by, r.deleted_at) for r in records] == [
            (hashed, "support", LATER)
        ]
        assert hashed != "1001"
        assert len(hashed) == 64

    async def test_erasing_twice_erases_once(
        self, chat: Chat, database: Database, vault: NumberVault
    ) -> None:
        await _verified(chat)
        user_id = await database.run(
            functools.partial(find_user, channel="telegram", external_id="1001")
        )
        assert user_id is not None
        erase = functools.partial(
            erase_user, user_id=user_id, user_hmac="h", requested_by="user", now=LATER
        )

        assert await database.run(erase) is not None
        assert await database.run(erase) is None
        assert await _count(database, DeletionRecord) == 1
        assert await database.run(functools.partial(erased_at, user_hmac="h")) == LATER
        assert await database.run(functools.partial(erased_at, user_hmac="other")) is None
