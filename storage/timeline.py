"""One person's history for support: the `kycbot timeline` query and the console's timeline page.

Plain SQLAlchemy Core over a synchronous `Connection`, run through `Database.run`. Every SELECT
names its columns: the ciphertext, HMAC, OTP reference and e-KYC fields never leave the
database from here, so no formatting slip can print them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Row, select

from flows.states import Standing
from storage.flow_log import FlowFilter, FlowLine, latest_events
from storage.models import Base

__all__ = [
    "ConsentLine",
    "ResultLine",
    "Timeline",
    "UserLine",
    "VerificationLine",
    "timeline_of_user",
    "timeline_of_verification",
]

_user = Base.metadata.tables["user"]
_verification = Base.metadata.tables["verification"]
_consent = Base.metadata.tables["consent"]
_kyc_result = Base.metadata.tables["kyc_result"]


@dataclass(frozen=True)
class UserLine:
    """The user's identity and the limits that span verifications."""

    id: int
    channel: str
    external_id: str
    language: str
    created_at: datetime
    locked_until: datetime | None
    otp_window_started_at: datetime | None
    otp_requests_in_window: int
    failure_window_started_at: datetime | None
    failures_in_window: int

    @property
    def standing(self) -> Standing:
        """The 24-hour counters, as the flow reads them (`otp_requests_today(now)`, ...)."""
        return Standing(
            otp_window_started_at=self.otp_window_started_at,
            otp_requests_in_window=self.otp_requests_in_window,
            failure_window_started_at=self.failure_window_started_at,
            failures_in_window=self.failures_in_window,
        )


@dataclass(frozen=True)
class VerificationLine:
    """One verification, with its masked number only."""

    id: int
    state: str
    provider: str
    method: str | None
    created_at: datetime
    updated_at: datetime
    ended_at: datetime | None
    due_at: datetime | None
    # Which deadline `due_at` is: idle, otp, digilocker or call (None when there is none).
    due_kind: str | None
    otp_sends: int
    otp_attempts_left: int
    invalid_entries: int
    aadhaar_masked: str | None


@dataclass(frozen=True)
class ConsentLine:
    """An answer to a consent notice."""

    verification_id: int
    notice_version: str
    decision: str
    decided_at: datetime


@dataclass(frozen=True)
class ResultLine:
    """A stored verification result, without its e-KYC fields."""

    verification_id: int
    method: str
    provider: str
    aadhaar_masked: str | None
    verified_at: datetime


@dataclass(frozen=True)
class Timeline:
    """Everything stored about one person, each list oldest first."""

    user: UserLine
    verifications: list[VerificationLine]
    consents: list[ConsentLine]
    results: list[ResultLine]
    events: list[FlowLine]


def timeline_of_user(connection: Connection, *, channel: str, external_id: str) -> Timeline | None:
    """The timeline of the user `external_id` on `channel`, or None if there is none."""
    query = select(_user.c.id).where(_user.c.channel == channel, _user.c.external_id == external_id)
    user_id = connection.execute(query).scalar()
    return None if user_id is None else _timeline(connection, int(user_id))


def timeline_of_verification(connection: Connection, *, verification_id: int) -> Timeline | None:
    """The timeline of the person verification `verification_id` belongs to, or None."""
    query = select(_verification.c.user_id).where(_verification.c.id == verification_id)
    user_id = connection.execute(query).scalar()
    return None if user_id is None else _timeline(connection, int(user_id))


def _timeline(connection: Connection, user_id: int) -> Timeline:
    user = _user_line(connection.execute(_USER.where(_user.c.id == user_id)).one())
    methods = {
        row.verification_id: row.method
        for row in connection.execute(
            select(_kyc_result.c.verification_id, _kyc_result.c.method).where(
                _kyc_result.c.user_id == user_id
            )
        )
    }
    rows = connection.execute(
        _VERIFICATION.where(_verification.c.user_id == user_id).order_by(_verification.c.id)
    )
    consents = connection.execute(
        select(
            _consent.c.verification_id,
            _consent.c.notice_version,
            _consent.c.decision,
            _consent.c.decided_at,
        )
        .where(_consent.c.user_id == user_id)
        .order_by(_consent.c.id)
    )
    results = connection.execute(
        select(
            _kyc_result.c.verification_id,
            _kyc_result.c.method,
            _kyc_result.c.provider,
            _kyc_result.c.aadhaar_masked,
            _kyc_result.c.verified_at,
        )
        .where(_kyc_result.c.user_id == user_id)
        .order_by(_kyc_result.c.id)
    )
    flow = FlowFilter(user=f"{user.channel}:{user.external_id}")
    events, _ = latest_events(connection, flow=flow, limit=None)
    return Timeline(
        user=user,
        verifications=[_verification_line(row, methods.get(row.id)) for row in rows],
        consents=[ConsentLine(**row._asdict()) for row in consents],
        results=[ResultLine(**row._asdict()) for row in results],
        events=events,
    )


_USER_COLUMNS: tuple[ColumnElement[Any], ...] = (
    _user.c.id,
    _user.c.channel,
    _user.c.external_id,
    _user.c.language,
    _user.c.created_at,
    _user.c.locked_until,
    _user.c.otp_window_started_at,
    _user.c.otp_requests_in_window,
    _user.c.failure_window_started_at,
    _user.c.failures_in_window,
)
# Built from a tuple: a select of many literal columns has a Row type no helper can take.
_USER = select(*_USER_COLUMNS)
_DEADLINES = ("idle_expires_at", "otp_expires_at", "digilocker_expires_at", "call_expires_at")
_VERIFICATION_COLUMNS: tuple[ColumnElement[Any], ...] = (
    _verification.c.id,
    _verification.c.state,
    _verification.c.provider,
    _verification.c.created_at,
    _verification.c.updated_at,
    _verification.c.ended_at,
    _verification.c.due_at,
    *(_verification.c[name] for name in _DEADLINES),
    _verification.c.otp_sends,
    _verification.c.otp_attempts_left,
    _verification.c.invalid_entries,
    _verification.c.aadhaar_masked,
    # Only whether there is a link: the link itself is of no use to support.
    _verification.c.digilocker_url.is_not(None).label("has_digilocker"),
)
_VERIFICATION = select(*_VERIFICATION_COLUMNS)


def _user_line(row: Row[Any]) -> UserLine:
    return UserLine(**row._asdict())


def _verification_line(row: Row[Any], result_method: str | None) -> VerificationLine:
    # due_at is the earliest of these columns (flows.machine.next_deadline): the one equal to
    # it is the deadline that will fire.
    due_kind = next(
        (
            name.split("_")[0]
            for name in _DEADLINES
            if row.due_at and row._mapping[name] == row.due_at
        ),
        None,
    )
    method = result_method
    if method is None:
        # No result yet: the method shows in what the verification holds.
        if row.has_digilocker:
            method = "digilocker"
        elif row.aadhaar_masked is not None or row.otp_sends:
            method = "aadhaar_otp"
    return VerificationLine(
        id=row.id,
        state=row.state,
        provider=row.provider,
        method=method,
        created_at=row.created_at,
        updated_at=row.updated_at,
        ended_at=row.ended_at,
        due_at=row.due_at,
        due_kind=due_kind,
        otp_sends=row.otp_sends,
        otp_attempts_left=row.otp_attempts_left,
        invalid_entries=row.invalid_entries,
        aadhaar_masked=row.aadhaar_masked,
    )
