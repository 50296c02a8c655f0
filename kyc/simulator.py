"""A deterministic provider for the demo and the tests: no network, no credentials.

The OTP is derived from the reference, and the reference carries the moment it was issued, so a
restarted bot verifies an OTP sent before the restart. Synthetic numbers in SIMULATOR_NUMBERS
make the simulator answer the way a real provider fails.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from stdnum import verhoeff

from flows import (
    AadhaarNumber,
    KycData,
    KycVerified,
    Otp,
    OtpNotSent,
    OtpNotVerified,
    OtpSent,
    ProviderFailure,
)
from kyc.base import OtpRequestAnswer, OtpVerifyAnswer

__all__ = ["SIMULATOR_NUMBERS", "SimulatedSms", "SimulatorProvider"]


def _synthetic(prefix: str) -> str:
    return prefix + str(verhoeff.calc_check_digit(prefix))


# UIDAI's test numbers start with 9999; the eleventh digit picks the behaviour.
SIMULATOR_NUMBERS: dict[ProviderFailure, str] = {
    ProviderFailure.NO_MOBILE_LINKED: _synthetic("99999999901"),
    ProviderFailure.RATE_LIMITED: _synthetic("99999999902"),
    ProviderFailure.PROVIDER_DOWN: _synthetic("99999999903"),
    ProviderFailure.INVALID_AADHAAR: _synthetic("99999999904"),
}
RATE_LIMIT_SECONDS = 45
_REFERENCE_PREFIX = "sim"


@dataclass(frozen=True)
class SimulatedSms:
    """The SMS a real provider would have sent to the Aadhaar-linked mobile."""

    masked_aadhaar: str
    otp: str

    def __repr__(self) -> str:
        return f"SimulatedSms({self.masked_aadhaar!r}, otp='******')"

    def text(self) -> str:
        """How the terminal shows it."""
        return f"[simulated SMS to the mobile linked with {self.masked_aadhaar}] OTP {self.otp}"


def _utcnow() -> datetime:
    return datetime.now(UTC)


class SimulatorProvider:
    """Behaves like a KYC provider, deterministically, in memory."""

    def __init__(
        self,
        *,
        on_sms: Callable[[SimulatedSms], None] | None = None,
        otp_ttl_seconds: int = 600,
        latency_ms: int = 0,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._on_sms = on_sms
        self._otp_ttl = timedelta(seconds=otp_ttl_seconds)
        self._latency = latency_ms / 1000
        self._clock = clock
        self._used: set[str] = set()

    @property
    def name(self) -> str:
        """Recorded in flow events."""
        return "simulator"

    async def request_otp(self, aadhaar: AadhaarNumber) -> OtpRequestAnswer:
        """Send a simulated OTP, or fail the way the synthetic number asks for."""
        await self._wait()
        digits = aadhaar.reveal()
        if digits == SIMULATOR_NUMBERS[ProviderFailure.NO_MOBILE_LINKED]:
            return OtpNotSent(ProviderFailure.NO_MOBILE_LINKED, detail="simulated: no mobile")
        if digits == SIMULATOR_NUMBERS[ProviderFailure.RATE_LIMITED]:
            return OtpNotSent(
                ProviderFailure.RATE_LIMITED,
                retry_after_seconds=RATE_LIMIT_SECONDS,
                detail="simulated: try after 45 seconds",
            )
        if digits == SIMULATOR_NUMBERS[ProviderFailure.PROVIDER_DOWN]:
            return OtpNotSent(ProviderFailure.PROVIDER_DOWN, detail="simulated: 503")
        if digits == SIMULATOR_NUMBERS[ProviderFailure.INVALID_AADHAAR]:
            return OtpNotSent(ProviderFailure.INVALID_AADHAAR, detail="simulated: invalid")
        issued = int(self._clock().timestamp())
        reference = f"{_REFERENCE_PREFIX}-{issued}-{secrets.token_hex(6)}"
        if self._on_sms is not None:
            self._on_sms(SimulatedSms(aadhaar.masked, self.otp_for(reference)))
        return OtpSent(reference)

    async def verify_otp(self, reference: str, otp: Otp) -> OtpVerifyAnswer:
        """Accept the OTP derived from `reference` once, within its lifetime."""
        await self._wait()
        issued = _issued_at(reference)
        if issued is None or reference in self._used:
            return OtpNotVerified(ProviderFailure.SESSION_INVALID, detail="simulated: reference")
        if self._clock() - issued >= self._otp_ttl:
            return OtpNotVerified(ProviderFailure.OTP_EXPIRED, detail="simulated: expired")
        if otp.reveal() != self.otp_for(reference):
            return OtpNotVerified(ProviderFailure.WRONG_OTP, detail="simulated: wrong otp")
        self._used.add(reference)
        return KycVerified(_synthetic_person(reference))

    async def aclose(self) -> None:
        """Nothing to release."""

    @staticmethod
    def otp_for(reference: str) -> str:
        """The OTP the simulator sends for `reference`."""
        digest = hashlib.sha256(f"kycbot-simulator:{reference}".encode()).digest()
        return f"{int.from_bytes(digest[:8], 'big') % 1_000_000:06d}"

    async def _wait(self) -> None:
        if self._latency:
            await asyncio.sleep(self._latency)


def _issued_at(reference: str) -> datetime | None:
    prefix, _, rest = reference.partition("-")
    seconds, _, _ = rest.partition("-")
    if prefix != _REFERENCE_PREFIX or not seconds.isdigit():
        return None
    return datetime.fromtimestamp(int(seconds), UTC)


def _synthetic_person(reference: str) -> KycData:
    return KycData(
        name="Asha Verma",
        date_of_birth=date(1990, 4, 21),
        year_of_birth=1990,
        gender="F",
        address="12 MG Road, Bengaluru, Karnataka 560001",
        state="Karnataka",
    )
