"""The conversation store contract, run against every backend (SQLite, PostgreSQL)."""

from __future__ import annotations

import functools
from dataclasses import fields, replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from flows import (
    TERMINAL_STATES,
    AadhaarNumber,
    CancelRequested,
    ConsentDeclined,
    ConsentGiven,
    DeadlinePassed,
    Decision,
    HelpRequested,
    NumberConfirmed,
    Rules,
    Session,
    StartRequested,
    State,
    TextSent,
    VerifiedRecord,
    decide,
)
from storage import (
    Database,
    Loaded,
    NumberVault,
    StaleConversation,
    StepRecord,
    UserKey,
    due_users,
    save_decision,
)
from storage.models import Consent, FlowEvent, KycResult, User, Verification
from tests.aadhaar_numbers import make_aadhaar
from tests.storage.conftest import CONSENT, STEP, T0, Chat, Step, happy_path

DIGITS = make_aadhaar("23456789012")
NUMBER = AadhaarNumber(DIGITS)
SPACED = f"{DIGITS[:4]} {DIGITS[4:8]} {DIGITS[8:]}"
OTP = "482913"
PATH = happy_path(SPACED, OTP)
VERIFIED_AT = T0 + (len(PATH) - 1) * STEP
IDLE_TIMEOUT = timedelta(seconds=Rules().idle_timeout_seconds)


def _aware_utc_datetimes(session: Session) -> list[datetime]:
    values = [getattr(session, item.name) for item in fields(session)]
    values += [getattr(session.standing, item.name) for item in fields(session.standing)]
    moments = [value for value in values if isinstance(value, datetime)]
    assert all(moment.tzinfo is UTC for moment in moments)
    return moments


async def _verification(database: Database, verification_id: int) -> Verification:
    async with database.session() as session:
        row = await session.get(Verification, verification_id)
    assert row is not None
    return row


async def _user_row(database: Database, user_id: int) -> User:
    async with database.session() as session:
        row = await session.get(User, user_id)
    assert row is not None
    return row


async def _count(database: Database, model: type[object]) -> int:
    async with database.session() as session:
        return await session.scalar(select(func.count()).select_from(model)) or 0


class TestConversationStore:
    """What the runner relies on: load, decide, save, and load again gives the same session."""

    async def test_first_contact_creates_the_user_at_idle(
        self, chat: Chat, database: Database
    ) -> None:
        loaded = await chat.load(T0)
        assert loaded.session == Session()
        assert (loaded.verification_id, loaded.version, loaded.language) == (None, 0, "en")
        user = await _user_row(database, loaded.user_id)
        assert (user.channel, user.external_id, user.language) == ("telegram", "1001", "en")
        assert user.created_at == T0
        again = await chat.load(T0 + timedelta(hours=1))
        assert again == loaded
        assert await _count(database, User) == 1
        assert await _count(database, Verification) == 0

    async def test_the_language_of_first_contact_is_kept(self, chat: Chat) -> None:
        first = await chat.load(T0)
        later = await replace(chat, language="hi").load(T0 + STEP)
        assert (later.user_id, later.language) == (first.user_id, "en")

    async def test_users_are_told_apart_by_channel_and_id(self, chat: Chat) -> None:
        telegram = await chat.load(T0)
        terminal = await replace(chat, key=UserKey("terminal", "1001")).load(T0)
        other = await replace(chat, key=UserKey("telegram", "1002")).load(T0)
        assert len({telegram.user_id, terminal.user_id, other.user_id}) == 3

    async def test_every_step_reloads_as_it_was_saved(self, chat: Chat) -> None:
        states = []
        verification_ids = set()
        for index, step in enumerate(PATH):
            now = T0 + index * STEP
            decision, saved = await chat.step(step.event, now, consent=step.consent)
            reloaded = await chat.load(now + timedelta(seconds=1))
            assert reloaded == saved
            states.append(decision.session.state)
            _aware_utc_datetimes(reloaded.session)
            if decision.session.state in TERMINAL_STATES:
                assert reloaded.session == Session(standing=decision.session.standing)
                assert (reloaded.verification_id, reloaded.version) == (None, 0)
            else:
                assert reloaded.session == decision.session
                assert reloaded.version == index + 1
                verification_ids.add(reloaded.verification_id)
        assert states == [
            State.AWAIT_CONSENT,
            State.AWAIT_AADHAAR,
            State.AWAIT_CONFIRM,
            State.REQUESTING_OTP,
            State.AWAIT_OTP,
            State.VERIFYING_OTP,
            State.VERIFIED,
        ]
        assert len(verification_ids) == 1

    async def test_deadlines_and_counters_come_back_exactly(self, chat: Chat) -> None:
        await chat.walk(PATH[:5])  # up to OtpSent, the step that sets every clock
        sent_at = T0 + 4 * STEP
        session = (await chat.load(sent_at)).session
        rules = Rules()
        assert session.state is State.AWAIT_OTP
        assert session.aadhaar == NUMBER
        assert session.otp_reference == "ref-1"
        assert session.otp_sent_at == sent_at
        assert session.otp_expires_at == sent_at + rules.otp_ttl
        assert session.resend_at == sent_at + rules.resend_cooldown
        assert session.idle_expires_at == sent_at + IDLE_TIMEOUT
        assert session.call_expires_at is None
        assert (session.otp_sends, session.otp_attempts_left, session.invalid_entries) == (
            1,
            rules.otp_attempts,
            0,
        )
        assert len(_aware_utc_datetimes(session)) == 5

    async def test_the_number_is_stored_only_masked_and_sealed(
        self, chat: Chat, database: Database, vault: NumberVault
    ) -> None:
        _, saved = (await chat.walk(PATH[:3]))[-1]
        assert saved.verification_id is not None
        row = await _verification(database, saved.verification_id)
        assert row.aadhaar_masked == f"XXXX XXXX {DIGITS[-4:]}"
        assert row.aadhaar_ciphertext is not None
        assert DIGITS.encode() not in row.aadhaar_ciphertext
        assert vault.open(row.aadhaar_ciphertext, user_id=saved.user_id) == NUMBER
        assert (await chat.load(T0 + 3 * STEP)).session.aadhaar == NUMBER

    async def test_consent_is_recorded_with_the_notice_shown(
        self, chat: Chat, database: Database
    ) -> None:
        _, saved = (await chat.walk(PATH[:2]))[-1]
        async with database.session() as session:
            consents = list(await session.scalars(select(Consent)))
        assert len(consents) == 1
        consent = consents[0]
        assert (consent.user_id, consent.verification_id) == (
            saved.user_id,
            saved.verification_id,
        )
        assert (
            consent.notice_version,
            consent.notice_hash,
            consent.purpose,
            consent.language,
            consent.decision,
        ) == ("2026-01", "ab" * 32, "kyc_onboarding", "en", "agreed")
        assert consent.decided_at == T0 + STEP
        assert consent.withdrawn_at is None

    async def test_a_consent_answer_is_not_saved_without_the_notice_facts(
        self, chat: Chat, database: Database
    ) -> None:
        # A runner that forgets StepRecord.consent must not move on with no consent on record.
        await chat.step(StartRequested(), T0)
        with pytest.raises(ValueError, match="consent"):
            await chat.step(ConsentGiven(), T0 + STEP)
        assert (await chat.load(T0 + STEP)).session.state is State.AWAIT_CONSENT
        assert await _count(database, Consent) == 0

    async def test_a_declined_consent_is_recorded_and_ends_the_verification(
        self, chat: Chat, database: Database
    ) -> None:
        _, started = await chat.step(StartRequested(), T0)
        decision, saved = await chat.step(ConsentDeclined(), T0 + STEP, consent=CONSENT)
        assert decision.session.state is State.DECLINED
        assert saved.verification_id is None
        async with database.session() as session:
            consent = await session.scalar(select(Consent))
        assert consent is not None
        assert (consent.decision, consent.verification_id) == ("declined", started.verification_id)
        assert started.verification_id is not None
        row = await _verification(database, started.verification_id)
        assert (row.state, row.ended_at) == ("declined", T0 + STEP)

    async def test_the_result_row_holds_only_the_reduced_masked_record(
        self, chat: Chat, database: Database, vault: NumberVault
    ) -> None:
        steps = await chat.walk(PATH)
        verification_id = steps[-2][1].verification_id
        async with database.session() as session:
            results = list(await session.scalars(select(KycResult)))
        assert len(results) == 1
        result = results[0]
        assert (result.user_id, result.verification_id, result.provider) == (
            steps[-1][1].user_id,
            verification_id,
            "simulator",
        )
        assert result.aadhaar_masked == f"XXXX XXXX {DIGITS[-4:]}"
        assert result.aadhaar_hmac == vault.fingerprint(NUMBER)
        # The default field policy: masked name, year of birth, gender, state only.
        assert (result.name, result.date_of_birth, result.gender, result.address) == (
            "R*** K****",
            "1990",
            "M",
            "Karnataka",
        )
        assert result.verified_at == VERIFIED_AT

    async def test_a_number_that_no_longer_opens_is_asked_again_not_verified(
        self, chat: Chat, database: Database
    ) -> None:
        # The encryption key changed while the OTP was being checked (a restart with new keys):
        # without the number there is no HMAC to keep, so the user is asked for it again.
        await chat.walk(PATH[:6])
        rotated = replace(chat, vault=NumberVault(encryption_key=b"r" * 32, hmac_key=b"k" * 32))
        decision, saved = await rotated.step(PATH[6].event, VERIFIED_AT)
        assert decision.session.state is State.AWAIT_AADHAAR
        assert await _count(database, KycResult) == 0
        assert await rotated.load(VERIFIED_AT) == saved

    async def test_a_verified_verification_is_ended_and_wiped(
        self, chat: Chat, database: Database
    ) -> None:
        steps = await chat.walk(PATH)
        verification_id = steps[-2][1].verification_id
        assert verification_id is not None
        row = await _verification(database, verification_id)
        assert row.state == "verified"
        assert row.ended_at == VERIFIED_AT
        assert row.aadhaar_ciphertext is None
        assert row.otp_reference is None
        assert row.due_at is None
        assert row.version == len(PATH)

    async def test_one_flow_event_per_save(self, chat: Chat, database: Database) -> None:
        await chat.step(HelpRequested(), T0 - STEP)  # outside a verification: no row, one event
        steps = await chat.walk(PATH)
        async with database.session() as session:
            events = list(await session.scalars(select(FlowEvent).order_by(FlowEvent.id)))
        assert [(e.from_state, e.event, e.to_state, e.outcome) for e in events] == [
            ("idle", "HelpRequested", "idle", "help"),
            ("idle", "StartRequested", "await_consent", "started"),
            ("await_consent", "ConsentGiven", "await_aadhaar", "consent_given"),
            ("await_aadhaar", "TextSent", "await_confirm", "number_accepted"),
            ("await_confirm", "NumberConfirmed", "requesting_otp", "otp_requested"),
            ("requesting_otp", "OtpSent", "await_otp", "otp_sent"),
            ("await_otp", "TextSent", "verifying_otp", "otp_entered"),
            ("verifying_otp", "KycVerified", "verified", "verified"),
        ]
        verification_id = steps[0][1].verification_id
        assert [e.verification_id for e in events] == [None] + [verification_id] * len(PATH)
        assert {e.user_id for e in events} == {steps[0][1].user_id}
        assert {e.provider for e in events} == {"simulator"}
        assert [e.occurred_at for e in events] == [T0 - STEP] + [
            T0 + index * STEP for index in range(len(PATH))
        ]

    async def test_events_outside_a_verification_create_no_row(
        self, chat: Chat, database: Database
    ) -> None:
        decision, saved = await chat.step(TextSent(SPACED), T0)
        assert decision.outcome == "start_hint"
        assert saved.verification_id is None
        assert await _count(database, Verification) == 0
        assert await _count(database, FlowEvent) == 1

    async def test_saving_from_a_stale_load_is_refused(
        self, chat: Chat, database: Database, vault: NumberVault
    ) -> None:
        await chat.walk(PATH[:3])
        now = T0 + 3 * STEP
        first, second = await chat.load(now), await chat.load(now)
        await _save(
            database, vault, first, decide(first.session, NumberConfirmed(), now, Rules()), now
        )
        with pytest.raises(StaleConversation):
            await _save(
                database,
                vault,
                second,
                decide(second.session, NumberConfirmed(), now, Rules()),
                now,
            )
        current = await chat.load(now)
        assert current.version == first.version + 1
        assert current.session.state is State.REQUESTING_OTP
        # The refused save left no trace, not even its flow event.
        assert await _count(database, FlowEvent) == 4

    async def test_two_first_messages_racing_is_a_stale_conversation(
        self, chat: Chat, database: Database, vault: NumberVault
    ) -> None:
        # Two /start handled at once, both loaded at IDLE: the loser must be told to load
        # again, the same as any other stale save, not get a raw database error.
        first, second = await chat.load(T0), await chat.load(T0)
        await _save(
            database, vault, first, decide(first.session, StartRequested(), T0, Rules()), T0
        )
        with pytest.raises(StaleConversation):
            await _save(
                database, vault, second, decide(second.session, StartRequested(), T0, Rules()), T0
            )
        assert await _count(database, Verification) == 1

    async def test_only_one_live_verification_per_user(
        self, chat: Chat, database: Database
    ) -> None:
        user_id = (await chat.load(T0)).user_id
        async with database.session() as session, session.begin():
            session.add_all(_row(user_id, ended_at=T0 + n * STEP) for n in range(3))
            session.add(_row(user_id, ended_at=None))
        with pytest.raises(IntegrityError):
            async with database.session() as session, session.begin():
                session.add(_row(user_id, ended_at=None))
        other = await replace(chat, key=UserKey("telegram", "1002")).load(T0)
        async with database.session() as session, session.begin():
            session.add(_row(other.user_id, ended_at=None))
        assert await _count(database, Verification) == 5

    async def test_due_users_are_live_past_their_deadline_on_the_channel(
        self, chat: Chat, database: Database
    ) -> None:
        alice, bob, dave, erin = (
            replace(chat, key=UserKey("telegram", name)) for name in ("a", "b", "d", "e")
        )
        carol = replace(chat, key=UserKey("terminal", "c"))
        await alice.step(StartRequested(), T0)
        await bob.step(StartRequested(), T0 + timedelta(minutes=1))
        await carol.step(StartRequested(), T0)
        await dave.step(StartRequested(), T0)
        await dave.step(CancelRequested(), T0 + STEP)
        await erin.load(T0)
        due = T0 + IDLE_TIMEOUT

        async def due_at(now: datetime, channel: str = "telegram", limit: int = 100) -> list[str]:
            keys = await database.run(
                functools.partial(due_users, now=now, channel=channel, limit=limit)
            )
            return [key.external_id for key in keys]

        assert await due_at(due - timedelta(seconds=1)) == []
        assert await due_at(due) == ["a"]
        assert await due_at(due + timedelta(hours=1)) == ["a", "b"]
        assert await due_at(due + timedelta(hours=1), limit=1) == ["a"]
        assert await due_at(due, channel="terminal") == ["c"]
        decision, _ = await alice.step(DeadlinePassed(), due)
        assert decision.session.state is State.TIMED_OUT
        assert await due_at(due + timedelta(hours=1)) == ["b"]

    async def test_a_provider_call_is_due_when_it_times_out(
        self, chat: Chat, database: Database
    ) -> None:
        await chat.walk(PATH[:4])  # REQUESTING_OTP: the bot may have died during the call
        asked_at = T0 + 3 * STEP
        call_timeout = timedelta(seconds=Rules().call_timeout_seconds)
        early = await database.run(
            functools.partial(due_users, now=asked_at + call_timeout - STEP, channel="telegram")
        )
        late = await database.run(
            functools.partial(due_users, now=asked_at + call_timeout, channel="telegram")
        )
        assert early == []
        assert late == [chat.key]

    async def test_a_number_sealed_for_another_user_does_not_open(
        self, chat: Chat, database: Database
    ) -> None:
        alice, bob = chat, replace(chat, key=UserKey("telegram", "2002"))
        _, alice_saved = (await alice.walk(PATH[:3]))[-1]
        other = make_aadhaar("34567890123")
        _, bob_saved = (await bob.walk([*PATH[:2], Step(TextSent(other))]))[-1]
        assert bob_saved.session.aadhaar == AadhaarNumber(other)
        alice_row = await _verification(database, alice_saved.verification_id or 0)
        async with database.session() as session, session.begin():
            await session.execute(
                update(Verification)
                .where(Verification.id == bob_saved.verification_id)
                .values(aadhaar_ciphertext=alice_row.aadhaar_ciphertext)
            )
        now = T0 + 3 * STEP
        assert (await bob.load(now)).session.aadhaar is None
        assert (await alice.load(now)).session.aadhaar == NUMBER
        # The runner then asks Bob for his number again instead of using Alice's.
        decision, _ = await bob.step(NumberConfirmed(), now)
        assert (decision.outcome, decision.session.state) == ("number_missing", State.AWAIT_AADHAAR)

    async def test_a_new_encryption_key_loses_the_number_not_the_conversation(
        self, chat: Chat
    ) -> None:
        await chat.walk(PATH[:3])
        rotated = replace(chat, vault=NumberVault(encryption_key=b"r" * 32, hmac_key=b"k" * 32))
        loaded = await rotated.load(T0 + 3 * STEP)
        assert loaded.session.state is State.AWAIT_CONFIRM
        assert loaded.session.aadhaar is None

    async def test_otp_request_counters_are_kept_on_the_user(
        self, chat: Chat, database: Database
    ) -> None:
        _, saved = (await chat.walk(PATH[:5]))[-1]
        sent_at = T0 + 4 * STEP
        user = await _user_row(database, saved.user_id)
        assert (user.otp_window_started_at, user.otp_requests_in_window) == (sent_at, 1)
        standing = (await chat.load(sent_at)).session.standing
        assert standing.otp_window_started_at == sent_at
        assert standing.otp_requests_today(sent_at) == 1

    async def test_a_lockout_outlives_the_verification(
        self, chat: Chat, database: Database
    ) -> None:
        strict = replace(
            chat, rules=Rules(max_invalid_entries=1, max_failed_verifications=1, lockout_seconds=60)
        )
        await strict.walk([Step(StartRequested()), Step(ConsentGiven(), CONSENT)])
        failed_at = T0 + 2 * STEP
        decision, saved = await strict.step(TextSent("not a number"), failed_at)
        assert decision.session.state is State.FAILED
        until = failed_at + timedelta(seconds=60)
        user = await _user_row(database, saved.user_id)
        assert (user.locked_until, user.failure_window_started_at, user.failures_in_window) == (
            until,
            failed_at,
            1,
        )
        standing = (await strict.load(failed_at)).session.standing
        assert (standing.locked_until, standing.failures_in_window) == (until, 1)
        assert standing.locked_until is not None
        assert standing.locked_until.tzinfo is UTC
        refused, _ = await strict.step(StartRequested(), until - timedelta(seconds=1))
        assert (refused.outcome, refused.session.state) == ("locked", State.IDLE)
        allowed, _ = await strict.step(StartRequested(), until)
        assert (allowed.outcome, allowed.session.state) == ("started", State.AWAIT_CONSENT)

    async def test_a_new_verification_after_a_terminal_one_gets_a_new_row(
        self, chat: Chat, database: Database
    ) -> None:
        _, first = await chat.step(StartRequested(), T0)
        await chat.step(CancelRequested(), T0 + STEP)
        _, second = await chat.step(StartRequested(), T0 + 2 * STEP)
        assert first.verification_id is not None
        assert second.verification_id not in (None, first.verification_id)
        assert second.version == 1
        old = await _verification(database, first.verification_id)
        assert (old.state, old.ended_at) == ("cancelled", T0 + STEP)
        assert await _count(database, Verification) == 2

    async def test_a_verified_user_is_shown_the_stored_record(
        self, chat: Chat, database: Database
    ) -> None:
        await chat.walk(PATH)
        record = VerifiedRecord(
            masked_aadhaar=f"XXXX XXXX {DIGITS[-4:]}",
            verified_at=VERIFIED_AT,
            name="R*** K****",
            date_of_birth="1990",
            gender="M",
            address="Karnataka",
        )
        assert (await chat.load(VERIFIED_AT)).session.standing.record == record
        decision, saved = await chat.step(StartRequested(), VERIFIED_AT + STEP)
        assert (decision.outcome, saved.verification_id) == ("already_verified", None)
        assert await _count(database, Verification) == 1

    async def test_the_last_record_comes_back_outside_a_verification_only(
        self, chat: Chat, database: Database, vault: NumberVault
    ) -> None:
        # The record answers /start and /status when no verification runs; during one (a
        # storage-level possibility: the flow answers a verified user's /start with the
        # record) it is not read, which saves a query on every update of a live step.
        await chat.walk(PATH)
        now = VERIFIED_AT + timedelta(days=1)
        loaded = await chat.load(now)
        record = loaded.session.standing.record
        assert record is not None
        restarted = Session(state=State.AWAIT_CONSENT, standing=loaded.session.standing)
        decision = Decision(session=restarted, effects=(), outcome="started")
        await _save(database, vault, loaded, decision, now)
        during = await chat.load(now)
        assert during.session.state is State.AWAIT_CONSENT
        assert during.session.standing.record is None
        ended = Decision(
            session=replace(during.session, state=State.CANCELLED), effects=(), outcome="cancelled"
        )
        await _save(database, vault, during, ended, now)
        assert (await chat.load(now)).session.standing.record == record


def _row(user_id: int, *, ended_at: datetime | None) -> Verification:
    return Verification(
        user_id=user_id,
        state="cancelled" if ended_at else "await_consent",
        provider="simulator",
        created_at=T0,
        updated_at=T0,
        ended_at=ended_at,
    )


async def _save(
    database: Database, vault: NumberVault, loaded: Loaded, decision: Decision, now: datetime
) -> Loaded:
    return await database.run(
        lambda connection: save_decision(
            connection,
            loaded=loaded,
            decision=decision,
            step=StepRecord(event="Test"),
            provider="simulator",
            now=now,
            vault=vault,
        )
    )
