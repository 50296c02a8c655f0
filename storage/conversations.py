"""Loading a user's conversation for `decide` and storing what it decided, in one transaction.

These are plain SQLAlchemy Core functions over a synchronous `Connection`: `Database.run` runs
one of them (or a unit that calls several) as one transaction, on SQLite in the database's own
thread and on PostgreSQL through the async engine's `run_sync`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    CursorResult,
    Row,
    Select,
    and_,
    bindparam,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from flows import (
    TERMINAL_STATES,
    AadhaarNumber,
    ConsentDecision,
    Decision,
    RecordConsent,
    SaveDigiLockerResult,
    SaveResult,
    Session,
    Standing,
    State,
    VerifiedRecord,
    next_deadline,
)
from storage.kept_limits import kept_limits, user_hmac
from storage.models import Base
from storage.user_lock import lock_user
from storage.vault import NumberVault

__all__ = [
    "ConsentFacts",
    "Loaded",
    "StaleConversation",
    "StepRecord",
    "UserKey",
    "due_users",
    "due_verifications",
    "load_conversation",
    "save_decision",
]


# Built once: every stored step runs these, and building a statement (and its cache key)
# each time cost more than running it. The SET clause follows the parameters' column names.
_user = Base.metadata.tables["user"]
_verification = Base.metadata.tables["verification"]
_consent = Base.metadata.tables["consent"]
_kyc_result = Base.metadata.tables["kyc_result"]
_flow_event = Base.metadata.tables["flow_event"]

_LIVE_COLUMNS = (
    "state",
    "aadhaar_ciphertext",
    "otp_reference",
    "otp_sent_at",
    "otp_expires_at",
    "resend_at",
    "idle_expires_at",
    "call_expires_at",
    "otp_sends",
    "otp_attempts_left",
    "invalid_entries",
    "version",
    "digilocker_url",
    "digilocker_expires_at",
)
# The consent notice version the user last agreed to, for the changed-notice line.
_LAST_AGREED_NOTICE = (
    select(_consent.c.notice_version)
    .where(
        _consent.c.user_id == _user.c.id,
        _consent.c.decision == ConsentDecision.AGREED.value,
    )
    .order_by(_consent.c.decided_at.desc(), _consent.c.id.desc())
    .limit(1)
    .correlate(_user)
    .scalar_subquery()
)
# One query for the user and the live verification: every update starts here.
_LOAD_USER_AND_LIVE_VERIFICATION = (
    select(
        _user.c.id,
        _LAST_AGREED_NOTICE.label("agreed_notice_version"),
        _user.c.language,
        _user.c.language_chosen_at,
        _user.c.locked_until,
        _user.c.otp_window_started_at,
        _user.c.otp_requests_in_window,
        _user.c.failure_window_started_at,
        _user.c.failures_in_window,
        _verification.c.id.label("verification_id"),
        *(_verification.c[name] for name in _LIVE_COLUMNS),
    )
    .outerjoin(
        _verification,
        and_(_verification.c.user_id == _user.c.id, _verification.c.ended_at.is_(None)),
    )
    .where(
        _user.c.channel == bindparam("b_channel"),
        _user.c.external_id == bindparam("b_external_id"),
    )
)
_INSERT_USER = insert(_user)
_LATEST_RECORD = (
    select(_kyc_result)
    .where(_kyc_result.c.user_id == bindparam("b_user_id"))
    .order_by(_kyc_result.c.verified_at.desc())
    .limit(1)
)
_REFERENCE_PURPOSE = "digilocker-reference"
_INSERT_VERIFICATION = insert(_verification)
_UPDATE_VERIFICATION = update(_verification).where(
    _verification.c.id == bindparam("b_id"),
    _verification.c.version == bindparam("b_version"),
)
_UPDATE_USER = update(_user).where(_user.c.id == bindparam("b_id"))
_INSERT_CONSENT = insert(_consent)
_INSERT_KYC_RESULT = insert(_kyc_result)
_INSERT_FLOW_EVENT = insert(_flow_event)


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


def _new_user(
    connection: Connection, key: UserKey, language: str, now: datetime, vault: NumberVault
) -> tuple[int, Standing]:
    # A user who erased their data comes back with the limits they had (storage.kept_limits).
    hashed = user_hmac(vault, channel=key.channel, external_id=key.external_id)
    limits = kept_limits(connection, hashed_user=hashed)
    try:
        result = connection.execute(
            _INSERT_USER,
            {
                "channel": key.channel,
                "external_id": key.external_id,
                "language": language,
                "created_at": now,
                "otp_requests_in_window": 0,
                "failures_in_window": 0,
                **limits,
            },
        )
    except IntegrityError as error:
        # Another process created this user first; loading again finds it.
        raise StaleConversation("the user was created concurrently") from error
    return _new_id(result), Standing(**limits)


def _new_id(result: CursorResult[Any]) -> int:
    key = result.inserted_primary_key
    if key is None:
        raise RuntimeError("the database returned no primary key for an INSERT")
    return int(key[0])


def _latest_record(connection: Connection, user_id: int, standing: Standing) -> Standing:
    """The standing with the user's last verification: an Aadhaar OTP record or DigiLocker."""
    row = connection.execute(_LATEST_RECORD, {"b_user_id": user_id}).first()
    if row is None:
        return standing
    if row.aadhaar_masked is None:
        # DigiLocker never shows the bot the number: only when it verified is known here.
        return replace(standing, digilocker_verified_at=row.verified_at)
    return replace(standing, record=_record(row))


def _record(row: Row[Any]) -> VerifiedRecord:
    return VerifiedRecord(
        masked_aadhaar=row.aadhaar_masked,
        verified_at=row.verified_at,
        name=row.name,
        date_of_birth=row.date_of_birth,
        gender=row.gender,
        address=row.address,
    )


def load_conversation(
    connection: Connection,
    *,
    key: UserKey,
    language: str,
    now: datetime,
    vault: NumberVault,
    client_language: str | None = None,
) -> Loaded:
    """The user's live verification (or IDLE), creating the user on first contact.

    `client_language` is the (supported) language of the user's app, if known: a new user gets
    it instead of `language`, and so does a user who never picked one with /language.
    """
    lock_user(connection, key)  # first: another replica's step of this user waits (PostgreSQL)
    row = connection.execute(
        _LOAD_USER_AND_LIVE_VERIFICATION,
        {"b_channel": key.channel, "b_external_id": key.external_id},
    ).first()
    if row is None:
        language = client_language or language
        user_id, standing = _new_user(connection, key, language, now, vault)
        return Loaded(user_id=user_id, language=language, session=Session(standing=standing))
    language = row.language
    if client_language and row.language_chosen_at is None and client_language != language:
        connection.execute(_UPDATE_USER, {"b_id": row.id, "language": client_language})
        language = client_language
    standing = Standing(
        locked_until=row.locked_until,
        otp_window_started_at=row.otp_window_started_at,
        otp_requests_in_window=row.otp_requests_in_window,
        failure_window_started_at=row.failure_window_started_at,
        failures_in_window=row.failures_in_window,
        agreed_notice_version=row.agreed_notice_version,
    )
    if row.verification_id is None:
        # The last record is only looked at outside a verification (/start, /status).
        return Loaded(
            user_id=row.id,
            language=language,
            session=Session(standing=_latest_record(connection, row.id, standing)),
        )
    sealed = row.aadhaar_ciphertext
    conversation = Session(
        state=State(row.state),
        standing=standing,
        aadhaar=vault.open(sealed, user_id=row.id) if sealed else None,
        otp_reference=row.otp_reference,
        otp_sent_at=row.otp_sent_at,
        otp_expires_at=row.otp_expires_at,
        resend_at=row.resend_at,
        idle_expires_at=row.idle_expires_at,
        call_expires_at=row.call_expires_at,
        otp_sends=row.otp_sends,
        otp_attempts_left=row.otp_attempts_left,
        invalid_entries=row.invalid_entries,
        digilocker_url=row.digilocker_url,
        digilocker_expires_at=row.digilocker_expires_at,
    )
    return Loaded(
        user_id=row.id,
        language=language,
        session=conversation,
        verification_id=row.verification_id,
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
        "digilocker_url": new.digilocker_url,
        "digilocker_expires_at": new.digilocker_expires_at,
    }


def _store_verification(
    connection: Connection,
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
        row = {"user_id": loaded.user_id, "provider": provider, "created_at": now, "version": 1}
        try:
            result = connection.execute(_INSERT_VERIFICATION, {**row, **values})
        except IntegrityError as error:
            # Another process opened a verification for this user first.
            raise StaleConversation("a verification is already in progress") from error
        return _new_id(result), 1
    where = {"b_id": loaded.verification_id, "b_version": loaded.version}
    result = connection.execute(
        _UPDATE_VERIFICATION, {**values, "version": loaded.version + 1, **where}
    )
    if result.rowcount != 1:
        raise StaleConversation(
            f"verification {loaded.verification_id} changed since it was loaded"
        )
    return loaded.verification_id, loaded.version + 1


def _store_standing(connection: Connection, user_id: int, standing: Standing) -> None:
    connection.execute(
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


def _consent_row(
    facts: ConsentFacts,
    effect: RecordConsent,
    *,
    loaded: Loaded,
    verification_id: int,
    now: datetime,
) -> dict[str, object]:
    return {
        "user_id": loaded.user_id,
        "verification_id": verification_id,
        "notice_version": facts.notice_version,
        "notice_hash": facts.notice_hash,
        "purpose": facts.purpose,
        "language": facts.language,
        "decision": effect.decision.value,
        "decided_at": now,
    }


def _result_row(
    record: VerifiedRecord,
    number: AadhaarNumber,
    *,
    loaded: Loaded,
    verification_id: int,
    provider: str,
    vault: NumberVault,
) -> dict[str, object]:
    return {
        "user_id": loaded.user_id,
        "verification_id": verification_id,
        "provider": provider,
        "aadhaar_masked": record.masked_aadhaar,
        "aadhaar_hmac": vault.fingerprint(number),
        "name": record.name,
        "date_of_birth": record.date_of_birth,
        "gender": record.gender,
        "address": record.address,
        "verified_at": record.verified_at,
    }


def save_decision(
    connection: Connection,
    *,
    loaded: Loaded,
    decision: Decision,
    step: StepRecord,
    provider: str,
    now: datetime,
    vault: NumberVault,
) -> Loaded:
    """Store the decided session, its consent or result and the flow event; return the next load."""
    new = decision.session
    verification_id, version = _store_verification(
        connection, loaded, new, provider=provider, now=now, vault=vault
    )
    if new.standing != loaded.session.standing:
        _store_standing(connection, loaded.user_id, new.standing)
    for effect in decision.effects:
        if isinstance(effect, RecordConsent) and verification_id is not None:
            if step.consent is None:
                raise ValueError("RecordConsent needs the notice facts: pass StepRecord.consent")
            connection.execute(
                _INSERT_CONSENT,
                _consent_row(
                    step.consent, effect, loaded=loaded, verification_id=verification_id, now=now
                ),
            )
        elif isinstance(effect, SaveDigiLockerResult) and verification_id is not None:
            sealed = vault.seal_secret(
                effect.reference_key, user_id=loaded.user_id, purpose=_REFERENCE_PURPOSE
            )
            connection.execute(
                _INSERT_KYC_RESULT,
                {
                    "user_id": loaded.user_id,
                    "verification_id": verification_id,
                    "provider": step.provider or provider,
                    "method": "digilocker",
                    "reference_sealed": sealed,
                    "reference_expires_at": effect.expires_at,
                    "verified_at": effect.verified_at,
                },
            )
        elif isinstance(effect, SaveResult) and verification_id is not None:
            if loaded.session.aadhaar is None:
                # decide asks for the number again instead; a result without its HMAC would
                # be a record nobody can match later.
                raise ValueError("SaveResult needs the number the verification was for")
            connection.execute(
                _INSERT_KYC_RESULT,
                _result_row(
                    effect.record,
                    loaded.session.aadhaar,
                    loaded=loaded,
                    verification_id=verification_id,
                    provider=provider,
                    vault=vault,
                ),
            )
    connection.execute(
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


def due_verifications(
    *, now: datetime, channel: str, external_id: str | None = None, limit: int = 100
) -> Select[Any]:
    """The live verifications on `channel` (or of `external_id` there) whose deadline is due,
    earliest first: the verification's id and its user's channel and external id."""
    query = (
        select(_verification.c.id, _user.c.channel, _user.c.external_id)
        .join(_user, _verification.c.user_id == _user.c.id)
        .where(
            _verification.c.ended_at.is_(None),
            _verification.c.due_at <= now,
            _user.c.channel == channel,
        )
        .order_by(_verification.c.due_at)
        .limit(limit)
    )
    if external_id is not None:
        query = query.where(_user.c.external_id == external_id)
    return query


def due_users(
    connection: Connection,
    *,
    now: datetime,
    channel: str,
    external_id: str | None = None,
    limit: int = 100,
) -> list[UserKey]:
    """Users on `channel` (or just `external_id` there) whose verification has a deadline due."""
    query = due_verifications(now=now, channel=channel, external_id=external_id, limit=limit)
    rows = connection.execute(query)
    return [UserKey(channel=row.channel, external_id=row.external_id) for row in rows]
