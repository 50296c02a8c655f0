"""The interface every KYC provider client implements.

A client never raises for anything the provider or the network does: every answer, timeout and
malformed response becomes one of the flows events below, so the conversation always has a next
step. Only programming errors escape.
"""

from __future__ import annotations

from typing import Protocol

from flows import AadhaarNumber, KycVerified, Otp, OtpNotSent, OtpNotVerified, OtpSent

__all__ = ["KycProvider", "OtpRequestAnswer", "OtpVerifyAnswer"]

OtpRequestAnswer = OtpSent | OtpNotSent
OtpVerifyAnswer = KycVerified | OtpNotVerified


class KycProvider(Protocol):
    """Sends an OTP to the mobile linked with an Aadhaar number, then checks it."""

    @property
    def name(self) -> str:
        """The provider's config name, recorded in flow events."""
        ...

    async def request_otp(self, aadhaar: AadhaarNumber) -> OtpRequestAnswer:
        """Ask for an OTP. Never retried automatically: a retry could send a second SMS."""
        ...

    async def verify_otp(self, reference: str, otp: Otp) -> OtpVerifyAnswer:
        """Check `otp` within the OTP session `reference` and fetch the e-KYC data."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...
