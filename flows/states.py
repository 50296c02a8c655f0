"""The steps of one verification, and the user's standing that outlives it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from flows.record import VerifiedRecord
from flows.secrets import AadhaarNumber

__all__ = ["LIVE_STATES", "TERMINAL_STATES", "Session", "Standing", "State"]


class State(StrEnum):
    """Where a verification stands. IDLE is the user with no verification in progress."""

    IDLE = "idle"
    AWAIT_CONSENT = "await_consent"
    AWAIT_METHOD = "await_method"
    AWAIT_AADHAAR = "await_aadhaar"
    AWAIT_CONFIRM = "await_confirm"
    REQUESTING_OTP = "requesting_otp"
    AWAIT_OTP = "await_otp"
    VERIFYING_OTP = "verifying_otp"
    AWAIT_RESEND = "await_resend"
    STARTING_DIGILOCKER = "starting_digilocker"
    AWAIT_DIGILOCKER = "await_digilocker"
    FETCHING_DIGILOCKER = "fetching_digilocker"
    VERIFIED = "verified"
    DECLINED = "declined"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"
    FAILED = "failed"
    LOCKED = "locked"


TERMINAL_STATES = frozenset(
    {State.VERIFIED, State.DECLINED, State.CANCELLED, State.TIMED_OUT, State.FAILED, State.LOCKED}
)
# A verification row exists for these; IDLE has none.
LIVE_STATES = frozenset(State) - TERMINAL_STATES - {State.IDLE}
DAY = timedelta(days=1)


@dataclass(frozen=True)
class Standing:
    """What the bot knows about the user across verifications: limits, lock, last result."""

    locked_until: datetime | None = None
    otp_window_started_at: datetime | None = None
    otp_requests_in_window: int = 0
    failure_window_started_at: datetime | None = None
    failures_in_window: int = 0
    record: VerifiedRecord | None = None
    # DigiLocker leaves no masked record to show, only when it verified the user.
    digilocker_verified_at: datetime | None = None
    # The consent notice version the user last agreed to (None: never). Read from the consent
    # rows, not kept on the user: out of equality, so it never makes the standing "changed".
    agreed_notice_version: str | None = field(default=None, compare=False)

    def notice_changed(self, current: str) -> bool:
        """Whether the user agreed to a consent notice that reads differently from `current`."""
        known = self.agreed_notice_version is not None and bool(current)
        return known and self.agreed_notice_version != current

    @property
    def is_verified(self) -> bool:
        """Whether a verification of this user has succeeded, by any method."""
        return self.record is not None or self.digilocker_verified_at is not None

    def is_locked(self, now: datetime) -> bool:
        """Whether the user may not start or continue a verification at `now`."""
        return self.locked_until is not None and now < self.locked_until

    def otp_requests_today(self, now: datetime) -> int:
        """OTP requests counted in the current 24-hour window."""
        if self.otp_window_started_at is None or now - self.otp_window_started_at >= DAY:
            return 0
        return self.otp_requests_in_window

    def failures_today(self, now: datetime) -> int:
        """Failed verifications counted in the current 24-hour window."""
        if self.failure_window_started_at is None or now - self.failure_window_started_at >= DAY:
            return 0
        return self.failures_in_window


@dataclass(frozen=True)
class Session:
    """One user's conversation as `decide` sees it: the live verification plus the standing."""

    state: State = State.IDLE
    standing: Standing = field(default_factory=Standing)
    aadhaar: AadhaarNumber | None = None
    otp_reference: str | None = field(default=None, repr=False)
    otp_sent_at: datetime | None = None
    otp_expires_at: datetime | None = None
    resend_at: datetime | None = None
    idle_expires_at: datetime | None = None
    call_expires_at: datetime | None = None
    otp_sends: int = 0
    otp_attempts_left: int = 0
    invalid_entries: int = 0
    # The link the user opens in AWAIT_DIGILOCKER, kept to show it again. Not personal data,
    # but whoever opens it can verify their own DigiLocker into this chat, so it stays out of
    # reprs and logs.
    digilocker_url: str | None = field(default=None, repr=False)
    digilocker_expires_at: datetime | None = None

    @property
    def is_live(self) -> bool:
        """Whether a verification is in progress."""
        return self.state in LIVE_STATES
