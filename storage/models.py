"""The schema: users, verifications, consents, KYC results and flow events.

No column ever holds a full Aadhaar number or an OTP in clear: the number lives only as
`XXXX XXXX 1234`, a keyed HMAC, and (while a verification is live) AES-GCM ciphertext.

No id is ever handed out twice, on SQLite either (AUTOINCREMENT; PostgreSQL's sequences never
go back): ids outlive their rows in logs, support notes and `kycbot logs --follow`'s cursor,
so the next user must not take over the ids of an erased user's newest rows.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

__all__ = [
    "Base",
    "Consent",
    "DeletionRecord",
    "DigiLockerSession",
    "FlowEvent",
    "KycResult",
    "OutboxNotice",
    "User",
    "UtcDateTime",
    "Verification",
]


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC in Python, whatever the database keeps."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored: pass an aware UTC datetime")
        value = value.astimezone(UTC)
        # SQLite has no time zones: keep naive UTC there so text comparison orders correctly.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# Every table's options: SQLite picks max(id) + 1 without AUTOINCREMENT (see the docstring).
NEVER_REUSE_IDS: dict[str, Any] = {"sqlite_autoincrement": True}


class Base(DeclarativeBase):
    """Declarative base with UTC timestamps."""

    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UtcDateTime()}


class User(Base):
    """A person talking to the bot on one channel, with the limits that span verifications."""

    __tablename__ = "user"
    __table_args__ = (
        UniqueConstraint("channel", "external_id", name="uq_user_channel_external"),
        NEVER_REUSE_IDS,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(16))
    # When the user picked `language` with /language; None while it follows their Telegram
    # client's language, which may then change with it.
    language_chosen_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    locked_until: Mapped[datetime | None]
    otp_window_started_at: Mapped[datetime | None]
    otp_requests_in_window: Mapped[int] = mapped_column(default=0, server_default=text("0"))
    failure_window_started_at: Mapped[datetime | None]
    failures_in_window: Mapped[int] = mapped_column(default=0, server_default=text("0"))


class Verification(Base):
    """One attempt to verify, from /start to a terminal state."""

    __tablename__ = "verification"
    __table_args__ = (
        # At most one verification in progress per user, even with several bot processes.
        Index(
            "uq_verification_live_user",
            "user_id",
            unique=True,
            sqlite_where=text("ended_at IS NULL"),
            postgresql_where=text("ended_at IS NULL"),
        ),
        NEVER_REUSE_IDS,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    state: Mapped[str] = mapped_column(String(32))
    provider: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    aadhaar_masked: Mapped[str | None] = mapped_column(String(14))
    aadhaar_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary)
    otp_reference: Mapped[str | None] = mapped_column(String(128))
    otp_sent_at: Mapped[datetime | None]
    otp_expires_at: Mapped[datetime | None]
    resend_at: Mapped[datetime | None]
    idle_expires_at: Mapped[datetime | None]
    call_expires_at: Mapped[datetime | None]
    # The earliest deadline of the current state, so the sweeper reads one indexed column.
    due_at: Mapped[datetime | None] = mapped_column(index=True)
    otp_sends: Mapped[int] = mapped_column(default=0)
    otp_attempts_left: Mapped[int] = mapped_column(default=0)
    invalid_entries: Mapped[int] = mapped_column(default=0)
    version: Mapped[int] = mapped_column(default=1)
    # DigiLocker: the page the user opens (not personal data) and until when it is valid.
    digilocker_url: Mapped[str | None] = mapped_column(String(1024))
    digilocker_expires_at: Mapped[datetime | None]


class Consent(Base):
    """The user's answer to one consent notice."""

    __tablename__ = "consent"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    verification_id: Mapped[int] = mapped_column(
        ForeignKey("verification.id", ondelete="CASCADE"), index=True
    )
    notice_version: Mapped[str] = mapped_column(String(64))
    notice_hash: Mapped[str] = mapped_column(String(64))
    purpose: Mapped[str] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(16))
    decision: Mapped[str] = mapped_column(String(16))
    decided_at: Mapped[datetime]
    withdrawn_at: Mapped[datetime | None]


class KycResult(Base):
    """The masked e-KYC record of a completed verification, reduced by the field policy."""

    __tablename__ = "kyc_result"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    verification_id: Mapped[int] = mapped_column(
        ForeignKey("verification.id", ondelete="CASCADE"), unique=True
    )
    provider: Mapped[str] = mapped_column(String(32))
    method: Mapped[str] = mapped_column(
        String(16), default="aadhaar_otp", server_default=text("'aadhaar_otp'")
    )
    # An Aadhaar OTP verification knows the number; a DigiLocker one never sees it.
    aadhaar_masked: Mapped[str | None] = mapped_column(String(14))
    aadhaar_hmac: Mapped[str | None] = mapped_column(String(64), index=True)
    # DigiLocker's reference to the shared documents, sealed like the number, and its expiry.
    reference_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    reference_expires_at: Mapped[datetime | None]
    name: Mapped[str | None] = mapped_column(String(200))
    date_of_birth: Mapped[str | None] = mapped_column(String(10))
    gender: Mapped[str | None] = mapped_column(String(16))
    address: Mapped[str | None] = mapped_column(String(500))
    verified_at: Mapped[datetime]


class DigiLockerSession(Base):
    """One DigiLocker sign-in handed to a user: its state token (hashed) and PKCE verifier."""

    __tablename__ = "digilocker_session"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    verification_id: Mapped[int] = mapped_column(
        ForeignKey("verification.id", ondelete="CASCADE"), index=True
    )
    # A keyed hash: the token itself is a bearer credential for the callback.
    state_hash: Mapped[str] = mapped_column(String(64), unique=True)
    verifier_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    # Set once, by the callback that claims it: a replayed state finds it used.
    used_at: Mapped[datetime | None]


class FlowEvent(Base):
    """One transition, for support staff: never any personal data."""

    __tablename__ = "flow_event"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(index=True)
    user_id: Mapped[int] = mapped_column(index=True)
    verification_id: Mapped[int | None] = mapped_column(index=True)
    from_state: Mapped[str] = mapped_column(String(32))
    event: Mapped[str] = mapped_column(String(48))
    to_state: Mapped[str] = mapped_column(String(32))
    outcome: Mapped[str] = mapped_column(String(48))
    provider: Mapped[str | None] = mapped_column(String(32))
    latency_ms: Mapped[int | None]


class DeletionRecord(Base):
    """What is left of a user who had their data erased: when, by whom, and a keyed hash.

    The HMAC of "channel:external_id" lets support answer "was this person's data erased?"
    without keeping who they were.
    """

    __tablename__ = "deletion_record"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    deleted_at: Mapped[datetime]
    user_hmac: Mapped[str] = mapped_column(String(64), index=True)
    # "user" (/delete_my_data) or "support" (kycbot erase)
    requested_by: Mapped[str] = mapped_column(String(16))
    # The limits the user row carried (see storage.kept_limits): erasing must not lift them.
    locked_until: Mapped[datetime | None]
    otp_window_started_at: Mapped[datetime | None]
    otp_requests_in_window: Mapped[int] = mapped_column(default=0, server_default=text("0"))
    failure_window_started_at: Mapped[datetime | None]
    failures_in_window: Mapped[int] = mapped_column(default=0, server_default=text("0"))


class OutboxNotice(Base):
    """A deadline notice to deliver, stored with the step that decided it (see storage.outbox).

    The message is kept rendered (JSON, masked data only), so a process that did not decide
    the step can still deliver it after the one that did was killed.
    """

    __tablename__ = "outbox_notice"
    __table_args__ = (
        # The sweeper looks only at the few rows not delivered yet.
        Index(
            "ix_outbox_notice_undelivered",
            "channel",
            "id",
            sqlite_where=text("delivered_at IS NULL"),
            postgresql_where=text("delivered_at IS NULL"),
        ),
        NEVER_REUSE_IDS,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Cascade: erasing a user takes their undelivered notices with them.
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    # When a process last took the notice to send it, and how often one did.
    claimed_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0)
    delivered_at: Mapped[datetime | None]
