"""Several providers in order of preference, behind the one `KycProvider` interface.

A new OTP request goes to the first provider; when it cannot serve the request at all (down,
misconfigured, out of quota) the next one is tried. An answer about the number (invalid, no
mobile) is final, and so is an "uncertain" one: that provider may have sent an OTP, and asking
another would send a second SMS. The OTP is checked by the provider that sent it, which the
reference names ("<provider>:<its reference>").
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import replace

from flows import AadhaarNumber, Otp, OtpNotSent, OtpNotVerified, ProviderFailure
from kyc.base import KycProvider, OtpRequestAnswer, OtpVerifyAnswer

__all__ = ["PassedOver", "ProviderChain"]

log = logging.getLogger(__name__)

# The provider could not take the request at all: another one may.
_TRY_NEXT = frozenset(
    {ProviderFailure.PROVIDER_DOWN, ProviderFailure.MISCONFIGURED, ProviderFailure.OUT_OF_QUOTA}
)
_SEPARATOR = ":"
# (provider, why it could not take the request, how long it took to say so in ms)
PassedOver = Callable[[str, ProviderFailure, int], None]


class ProviderChain:
    """Asks providers in order for an OTP; checks each OTP with the provider that sent it."""

    def __init__(self, providers: Sequence[KycProvider]) -> None:
        if not providers:
            raise ValueError("a provider chain needs at least one provider")
        self._providers = tuple(providers)
        self._by_name = {provider.name: provider for provider in self._providers}
        # Told of every provider passed over. Only the answer that reaches the user is seen
        # by the runner, so without this a dead first provider that the next one covers would
        # never show in metrics or raise an alert.
        self.passed_over: PassedOver | None = None

    @property
    def name(self) -> str:
        """The preferred provider's name (each answer names the one that gave it)."""
        return self._providers[0].name

    async def request_otp(self, aadhaar: AadhaarNumber) -> OtpRequestAnswer:
        """The first provider that can take the request; its answer, tagged with its name."""
        answer: OtpRequestAnswer | None = None
        for provider in self._providers:
            started = time.perf_counter()
            answer = await provider.request_otp(aadhaar)
            if isinstance(answer, OtpNotSent) and answer.failure in _TRY_NEXT:
                if self.passed_over is not None:
                    latency_ms = round((time.perf_counter() - started) * 1000)
                    self.passed_over(provider.name, answer.failure, latency_ms)
                log.warning(
                    "provider %s could not take an OTP request (%s): trying the next one",
                    provider.name,
                    answer.failure.value,
                )
                answer = replace(answer, provider=provider.name)
                continue
            if isinstance(answer, OtpNotSent):
                return replace(answer, provider=provider.name)
            reference = f"{provider.name}{_SEPARATOR}{answer.reference}"
            return replace(answer, reference=reference, provider=provider.name)
        assert answer is not None  # the loop ran at least once
        return answer

    async def verify_otp(self, reference: str, otp: Otp) -> OtpVerifyAnswer:
        """Check `otp` with the provider named in `reference`."""
        name, separator, own_reference = reference.partition(_SEPARATOR)
        provider = self._by_name.get(name) if separator else None
        if provider is None:
            # Sent by a provider no longer configured (or before the chain named references):
            # nobody here can check it, so the user is offered a new OTP.
            return OtpNotVerified(
                ProviderFailure.SESSION_INVALID,
                detail="the provider that sent this OTP is not configured",
                provider=self.name,
            )
        answer = await provider.verify_otp(own_reference, otp)
        return replace(answer, provider=provider.name)

    async def aclose(self) -> None:
        """Release every provider's connections."""
        for provider in self._providers:
            try:
                await provider.aclose()
            except Exception as error:
                log.warning("closing provider %s failed: %s", provider.name, type(error).__name__)
