"""Carrying out the provider effects: one timed call each, always answered, never raising.

The runner hands every RequestOtp, VerifyOtp, StartDigiLocker and FetchDigiLockerReference
here. Each becomes exactly one answer event (a failure event on a timeout or a client bug), is
logged once with its latency, and is told to the observers (metrics, alerts).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from bot.channel import Channel
from bot.config import Settings
from bot.digilocker import DigiLockerCalls
from bot.metrics import FlowObserver, answer_outcome
from flows import (
    DigiLockerNotStarted,
    DigiLockerNotVerified,
    Event,
    FetchDigiLockerReference,
    OtpNotSent,
    OtpNotVerified,
    ProviderFailure,
    RequestOtp,
    StartDigiLocker,
    VerifyOtp,
)
from kyc import KycProvider
from storage import Loaded

__all__ = ["PROGRESS_AFTER_SECONDS", "ProviderCalls", "ProviderEffect"]

log = logging.getLogger(__name__)
PROGRESS_AFTER_SECONDS = 0.3
ProviderEffect = RequestOtp | VerifyOtp | StartDigiLocker | FetchDigiLockerReference
# How loudly each provider answer is logged: our faults alarm the operator, the provider's own
# trouble is a warning, and a user's mistake (a wrong OTP) is ordinary business.
_LOG_LEVELS = {
    ProviderFailure.MISCONFIGURED: logging.ERROR,
    ProviderFailure.OUT_OF_QUOTA: logging.ERROR,
    ProviderFailure.PROVIDER_DOWN: logging.WARNING,
    ProviderFailure.RATE_LIMITED: logging.WARNING,
    ProviderFailure.IN_PROGRESS: logging.WARNING,
    ProviderFailure.UNCERTAIN: logging.WARNING,
}


class ProviderCalls:
    """The KYC provider and DigiLocker behind one `carry_out`, with the call timeout."""

    def __init__(
        self,
        *,
        provider: KycProvider,
        digilocker: DigiLockerCalls | None,
        settings: Callable[[], Settings],
        observer: Callable[[], FlowObserver],
    ) -> None:
        # Callables: the settings and the observer may be swapped while the bot runs.
        self._provider = provider
        self._digilocker = digilocker
        self._settings = settings
        self._observer = observer

    async def carry_out(
        self,
        effect: RequestOtp | VerifyOtp | StartDigiLocker | FetchDigiLockerReference,
        loaded: Loaded,
        progress: Channel | None,
    ) -> tuple[Event, int]:
        """The effect's answer event and how long it took in ms; never raises."""
        started = time.perf_counter()
        # A typing indicator for a call that answers at once is one more Bot API call for
        # nothing: it is shown only once the call has taken a noticeable moment.
        indicator = asyncio.create_task(self._progress_later(progress)) if progress else None
        try:
            if isinstance(effect, RequestOtp | VerifyOtp):
                answer = await self._answer(effect)
            else:
                answer = await self._digilocker_answer(effect, loaded)
        finally:
            if indicator is not None:
                indicator.cancel()
        latency_ms = round((time.perf_counter() - started) * 1000)
        self._log_answer(answer, latency_ms)
        outcome = answer_outcome(answer)
        self._observer().provider_answered(self.answered_by(answer), outcome, latency_ms)
        return answer, latency_ms

    async def _digilocker_answer(
        self, effect: StartDigiLocker | FetchDigiLockerReference, loaded: Loaded
    ) -> Event:
        calls = self._digilocker
        if isinstance(effect, StartDigiLocker):
            if calls is None:
                return DigiLockerNotStarted(ProviderFailure.MISCONFIGURED, detail="not configured")
            return await self._guarded(
                lambda: calls.start(loaded),
                lambda detail: DigiLockerNotStarted(ProviderFailure.PROVIDER_DOWN, detail=detail),
            )
        if calls is None:
            return DigiLockerNotVerified(ProviderFailure.MISCONFIGURED, detail="not configured")
        return await self._guarded(
            lambda: calls.fetch(effect.code, loaded),
            lambda detail: DigiLockerNotVerified(ProviderFailure.PROVIDER_DOWN, detail=detail),
        )

    async def _progress_later(self, channel: Channel) -> None:
        await asyncio.sleep(PROGRESS_AFTER_SECONDS)
        try:
            await channel.show_progress()
        except Exception as error:
            log.info("progress not shown: %s", type(error).__name__)

    async def _answer(self, effect: RequestOtp | VerifyOtp) -> Event:
        answer: Event
        if isinstance(effect, RequestOtp):
            answer = await self._guarded(
                lambda: self._provider.request_otp(effect.aadhaar),
                lambda detail: OtpNotSent(ProviderFailure.PROVIDER_DOWN, detail=detail),
                # Cut off mid-request, the provider may have sent the SMS already: an instant
                # retry could send a second one, so the user waits for the cooldown instead.
                on_timeout=lambda detail: OtpNotSent(ProviderFailure.UNCERTAIN, detail=detail),
            )
        else:
            answer = await self._guarded(
                lambda: self._provider.verify_otp(effect.reference, effect.otp),
                lambda detail: OtpNotVerified(ProviderFailure.PROVIDER_DOWN, detail=detail),
            )
        return answer

    async def _guarded(
        self,
        call: Callable[[], Awaitable[Event]],
        on_fault: Callable[[str], Event],
        *,
        on_timeout: Callable[[str], Event] | None = None,
    ) -> Event:
        # Provider clients map every wire answer themselves; this is the last line of defence
        # against a bug or a hang there, so the user always gets an answer.
        try:
            async with asyncio.timeout(self._settings().flow.call_timeout_seconds):
                return await call()
        except TimeoutError:
            return (on_timeout or on_fault)("no answer within the call timeout")
        except Exception as error:
            return on_fault(f"client error {type(error).__name__}")

    def _log_answer(self, answer: Event, latency_ms: int) -> None:
        if isinstance(
            answer, OtpNotSent | OtpNotVerified | DigiLockerNotStarted | DigiLockerNotVerified
        ):
            level = _LOG_LEVELS.get(answer.failure, logging.INFO)
            log.log(
                level,
                "provider %s answered %s in %d ms: %s",
                self.answered_by(answer),
                answer.failure.value,
                latency_ms,
                answer.detail or "-",
            )
        else:
            name = self.answered_by(answer)
            log.info("provider %s answered %s in %d ms", name, answer.name, latency_ms)

    def answered_by(self, answer: Event) -> str:
        """The provider that gave `answer`."""
        # With several providers configured, each answer names the one that gave it.
        named = getattr(answer, "provider", "")
        return named if isinstance(named, str) and named else self._provider.name
