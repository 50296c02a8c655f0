"""Provider stand-ins for faults the simulator does not produce: exceptions and hangs."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from flows import AadhaarNumber, Otp
from kyc import OtpRequestAnswer, OtpVerifyAnswer, SimulatorProvider


@dataclass
class CountingProvider:
    """The simulator, counting calls and optionally failing or stalling them."""

    inner: SimulatorProvider = field(default_factory=SimulatorProvider)
    requests: int = 0
    verifications: int = 0
    raise_on_request: BaseException | None = None
    stall: asyncio.Event | None = None

    @property
    def name(self) -> str:
        return "simulator"

    async def request_otp(self, aadhaar: AadhaarNumber) -> OtpRequestAnswer:
        self.requests += 1
        if self.stall is not None:
            await self.stall.wait()
        if self.raise_on_request is not None:
            raise self.raise_on_request
        return await self.inner.request_otp(aadhaar)

    async def verify_otp(self, reference: str, otp: Otp) -> OtpVerifyAnswer:
        self.verifications += 1
        return await self.inner.verify_otp(reference, otp)

    async def aclose(self) -> None:
        await self.inner.aclose()
