"""Loading a user's conversation for `decide` and storing what it decided, in one transaction."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from flows import (
    TERMINAL_STATES,
    AadhaarNumber,
    Decision,
    RecordConsent,
    SaveResult,
    Session,
    Standing,
    State,
    VerifiedRecord,
    next_deadline,
)
from storage.models import Base, Consent, KycResult, User, Verification
from storage.vault import NumberVault

__all__ = [
    "ConsentFacts",
    "Loaded",
    "StaleConversation",
    "UserKey",
    "load_conversation",
    "save_decision",
]


# Built once: every stored step runs these, and building a statement (and its cache key)
# each time cost more than running it. The SET clause follows the parameters' column names.
_verification_table = Base.metadata.tables["verification"]
_user_table = Base.metadata.tables["user"]
_UPDATE_VERIFICATION = update(_verification_table).where(
    _verification_table.c.id == bindparam("b_id"),
    _verification_table.c.version == bindparam("b_version"),
)
_UPDATE_USER = update(_user_table).where(_user_table.c.id == bindparam("b_id"))
_INSERT_FLOW_EVENT = insert(Base.metadata.tables["flow_event"])
_LOAD_USER_AND_LIVE_VERIFICATION = (
    select(User, Verification)
    .outerjoin(Verification, and_(Verification.user_id == User.id, Verification.ended_at.is_(None)))
    .where(User.channel == bindparam("b_channel"), User.external_id == bindparam("b_external_id"))
)


class StaleConversation(Exception):
    """Someone else changed this verification since it was loaded; load it again."""


@dataclass(frozen=True)
class UserKey:
    """Who is talking: the channel and the user's id there (a Telegram user id, a terminal name)."""

    channel: str
    external_id: str


@dataclass(frozen=True)
class Loaded:
    """A conversation as loaded: the session for `decide` and the row identity to save it back."""

    user_id: int
    language: str
    session: Session
    verification_id: int | None = None
    version: int = 0

    @property
    def step(self) -> str:
        """Names this stored step: a button carries it, so an old press can be told apart."""
        return f"{self.verification_id or 0}.{self.version}"


@dataclass(frozen=True)
class ConsentFacts:
    """What the user was shown when they answered the consent notice."""

    notice_version: str
    notice_hash: str
    purpose: str
    language: str


@dataclass(frozen=True)
class StepRecord:
    """Facts about the step for the flow event."""

    event: str
    provider: str | None = None
    latency_ms: int | None = None
    consent: ConsentFacts | None = field(default=None)


async def _user_and_live_verification(
    session: AsyncSession, key: UserKey, language: str, now: datetime
) -> tuple[User, Verification | None]:
    # One query for both: every update starts here, so a round trip saved counts.
    found = (
        await session.execute(
            _LOAD_USER_AND_LIVE_VERIFICATION,
            {"b_channel": key.channel, "b_external_id": key.external_id},
        )
    ).first()
    if found is not None:
        return found.User, found.Verification
    user = User(channel=key.channel, external_id=key.external_id, language=language, created_at=now)
    session.add(user)
    try:
        await session.flush()
    except IntegrityError as error:
        # Another process created this user first; loading again finds it.
        raise StaleConversation("the user was created concurrently") from error
    return user, None


async def _latest_record(session: AsyncSession, user_id: int) -> VerifiedRecord | None:
    row = await session.scalar(
        select(KycResult)
        .where(KycResult.user_id == user_id)
        .order_by(KycResult.verified_at.desc())
        .limit(1)
    )
    if row is None:
        return None
    return VerifiedRecord(
        masked_aadhaar=row.aadhaar_masked,
        verified_at=row.verified_at,
        name=row.name,
        date_of_birth=row.date_of_birth,
        gender=row.gender,
        address=row.address,
    )


def _standing(user: User, record: VerifiedRecord | None) -> Standing:
    return Standing(
        locked_until=user.locked_until,
        otp_window_started_at=user.otp_window_started_at,
        otp_requests_in_window=user.otp_requests_in_window,
        failure_window_started_at=user.failure_window_started_at,
        failures_in_window=user.failures_in_window,
        record=record,
    )


async def load_conversation(
    *, session: AsyncSession, key: UserKey, language: str, now: datetime, vault: NumberVault
) -> Loaded:
    """The user's live verification (or IDLE), creating the user on first contact."""
    user, row = await _user_and_live_verification(session, key, language, now)
    if row is None:
        # The last record is only looked at outside a verification (/start, /status).
        standing = _standing(user, await _latest_record(session, user.id))
        return Loaded(user_id=user.id, language=user.language, session=Session(standing=standing))
    standing = _standing(user, None)
    aadhaar = (
        vault.open(row.aadhaar_ciphertext, user_id=user.id) if row.aadhaar_ciphertext else None
    )
    conversation = Session(
        state=State(row.state),
        standing=standing,
        aadhaar=aadhaar,
        otp_reference=row.otp_reference,
        otp_sent_at=row.otp_sent_at,
        otp_expires_at=row.otp_expires_at,
        resend_at=row.resend_at,
        idle_expires_at=row.idle_expires_at,
        call_expires_at=row.call_expires_at,
        otp_sends=row.otp_sends,
        otp_attempts_left=row.otp_attempts_left,
        invalid_entries=row.invalid_entries,
    )
    return Loaded(
        user_id=user.id,
        language=user.language,
        session=conversation,
        verification_id=row.id,
        version=row.version,
    )


def _verification_values(
    new: Session, *, user_id: int, now: datetime, vault: NumberVault
) -> dict[str, object]:
    sealed = vault.seal(new.aadhaar, user_id=user_id) if new.aadhaar is not None else None
    return {
        "state": new.state.value,
        "updated_at": now,
        "ended_at": now if new.state in TERMINAL_STATES else None,
        "aadhaar_masked": new.aadhaar.masked if new.aadhaar is not None else None,
        "aadhaar_ciphertext": sealed,
        "otp_reference": new.otp_reference,
        "otp_sent_at": new.otp_sent_at,
        "otp_expires_at": new.otp_expires_at,
        "resend_at": new.resend_at,
        "idle_expires_at": new.idle_expires_at,
        "call_expires_at": new.call_expires_at,
        "due_at": next_deadline(new),
        "otp_sends": new.otp_sends,
        "otp_attempts_left": new.otp_attempts_left,
        "invalid_entries": new.invalid_entries,
    }


async def _store_verification(
    session: AsyncSession,
    loaded: Loaded,
    new: Session,
    *,
    provider: str,
    now: datetime,
    vault: NumberVault,
) -> tuple[int | None, int]:
    values = _verification_values(new, user_id=loaded.user_id, now=now, vault=vault)
    if loaded.verification_id is None:
        if new.state is State.IDLE:
            return None, 0
        row = Verification(
            user_id=loaded.user_id, provider=provider, created_at=now, version=1, **values
        )
        session.add(row)
        try:
            await session.flush()
        except IntegrityError as error:
            # Another process opened a verification for this user first.
            raise StaleConversation("a verification is already in progress") from error
        return row.id, 1
    where = {"b_id": loaded.verification_id, "b_version": loaded.version}
    result = await session.execute(
        _UPDATE_VERIFICATION, {**values, "version": loaded.version + 1, **where}
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise StaleConversation(
            f"verification {loaded.verification_id} changed since it was loaded"
        )
    return loaded.verification_id, loaded.version + 1


async def _store_standing(session: AsyncSession, user_id: int, standing: Standing) -> None:
    await session.execute(
        _UPDATE_USER,
        {
            "b_id": user_id,
            "locked_until": standing.locked_until,
            "otp_window_started_at": standing.otp_window_started_at,
            "otp_requests_in_window": standing.otp_requests_in_window,
            "failure_window_started_at": standing.failure_window_started_at,
            "failures_in_window": standing.failures_in_window,
        },
    )


def _result_row(
    record: VerifiedRecord,
    number: AadhaarNumber,
    *,
    loaded: Loaded,
    verification_id: int,
    provider: str,
    vault: NumberVault,
) -> KycResult:
    return KycResult(
        user_id=loaded.user_id,
        verification_id=verification_id,
        provider=provider,
        aadhaar_masked=record.masked_aadhaar,
        aadhaar_hmac=vault.fingerprint(number),
        name=record.name,
        date_of_birth=record.date_of_birth,
        gender=record.gender,
        address=record.address,
        verified_at=record.verified_at,
    )


async def save_decision(
    *,
    session: AsyncSession,
    loaded: Loaded,
    decision: Decision,
    step: StepRecord,
    provider: str,
    now: datetime,
    vault: NumberVault,
) -> Loaded:
    """Store the decided session, its consent or result and the flow event; return the next load."""
    new = decision.session
    verification_id, version = await _store_verification(
        session, loaded, new, provider=provider, now=now, vault=vault
    )
    if new.standing != loaded.session.standing:
        await _store_standing(session, loaded.user_id, new.standing)
    for effect in decision.effects:
        if isinstance(effect, RecordConsent) and verification_id is not None:
            if step.consent is None:
                raise ValueError("RecordConsent needs the notice facts: pass StepRecord.consent")
            facts = step.consent
            session.add(
                Consent(
                    user_id=loaded.user_id,
                    verification_id=verification_id,
                    notice_version=facts.notice_version,
                    notice_hash=facts.notice_hash,
                    purpose=facts.purpose,
                    language=facts.language,
                    decision=effect.decision.value,
                    decided_at=now,
                )
            )
        elif isinstance(effect, SaveResult) and verification_id is not None:
            if loaded.session.aadhaar is None:
                # decide asks for the number again instead; a result without its HMAC would
                # be a record nobody can match later.
                raise ValueError("SaveResult needs the number the verification was for")
            session.add(
                _result_row(
                    effect.record,
                    loaded.session.aadhaar,
                    loaded=loaded,
                    verification_id=verification_id,
                    provider=provider,
                    vault=vault,
                )
            )
    # A plain INSERT: flow events are written on every step and never read back here, so the
    # ORM's unit of work would only add cost.
    await session.execute(
        _INSERT_FLOW_EVENT,
        {
            "occurred_at": now,
            "user_id": loaded.user_id,
            "verification_id": verification_id,
            "from_state": loaded.session.state.value,
            "event": step.event,
            "to_state": new.state.value,
            "outcome": decision.outcome,
            "provider": step.provider,
            "latency_ms": step.latency_ms,
        },
    )
    if new.state in TERMINAL_STATES:
        return Loaded(
            user_id=loaded.user_id, language=loaded.language, session=Session(standing=new.standing)
        )
    return Loaded(
        user_id=loaded.user_id,
        language=loaded.language,
        session=new,
        verification_id=verification_id,
        version=version,
    )


async def due_users(
    *,
    session: AsyncSession,
    now: datetime,
    channel: str,
    external_id: str | None = None,
    limit: int = 100,
) -> list[UserKey]:
    """Users on `channel` (or just `external_id` there) whose verification has a deadline due."""
    query = (
        select(User.channel, User.external_id)
        .join(Verification, Verification.user_id == User.id)
        .where(
            Verification.ended_at.is_(None),
            Verification.due_at <= now,
            User.channel == channel,
        )
        .order_by(Verification.due_at)
        .limit(limit)
    )
    if external_id is not None:
        query = query.where(User.external_id == external_id)
    rows = await session.execute(query)
    return [UserKey(channel=row.channel, external_id=row.external_id) for row in rows]
