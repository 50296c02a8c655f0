"""The limits and policies `decide` applies, as configured by the operator."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum

from flows.record import FieldPolicy

__all__ = ["Method", "Rules"]


class Method(StrEnum):
    """A way to verify; the value is its name in config (`[flow] methods`)."""

    AADHAAR_OTP = "aadhaar_otp"
    DIGILOCKER = "digilocker"


@dataclass(frozen=True)
class Rules:
    """Flow limits; every one of them is a config key under `[flow]`."""

    validate_checksum: bool = True
    max_invalid_entries: int = 5
    otp_attempts: int = 3
    max_otp_sends: int = 3
    resend_cooldown_seconds: int = 60
    otp_ttl_seconds: int = 600
    idle_timeout_seconds: int = 900
    max_otp_requests_per_day: int = 5
    max_failed_verifications: int = 3
    lockout_seconds: int = 86_400
    # A provider call still "in flight" after this long was cut off by a crash: release the step.
    call_timeout_seconds: int = 60
    field_policy: FieldPolicy = field(default_factory=FieldPolicy)
    # Offered in this order; with more than one, the user chooses after the consent.
    methods: tuple[Method, ...] = (Method.AADHAAR_OTP,)
    digilocker_ttl_seconds: int = 600
    # The consent notice as it reads now (version label plus a hash of its texts); a user who
    # last agreed to another one is told that it changed. Empty: not tracked.
    notice_version: str = ""

    @property
    def otp_ttl(self) -> timedelta:
        """How long an OTP may be used after it was sent."""
        return timedelta(seconds=self.otp_ttl_seconds)

    @property
    def digilocker_ttl(self) -> timedelta:
        """How long a DigiLocker link may be used after it was made."""
        return timedelta(seconds=self.digilocker_ttl_seconds)

    @property
    def idle_timeout(self) -> timedelta:
        """How long a verification may sit without activity."""
        return timedelta(seconds=self.idle_timeout_seconds)

    @property
    def resend_cooldown(self) -> timedelta:
        """The least time between two OTP sends."""
        return timedelta(seconds=self.resend_cooldown_seconds)
