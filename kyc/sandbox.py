"""The Sandbox.co.in Aadhaar OKYC client: an access token, then OTP generation and verification.

`SandboxProvider` caches the access token, sends the calls and logs each one; what an answer
means is decided in `kyc.sandbox_answers`, never here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import httpx
from pydantic import SecretStr

from flows import AadhaarNumber, KycVerified, Otp, OtpNotSent, OtpNotVerified, OtpSent
from flows import ProviderFailure as F
from kyc.base import OtpRequestAnswer, OtpVerifyAnswer
from kyc.sandbox_answers import AccessToken, Endpoint, Outcome, Refusal, interpret, token_rejected
from kyc.wire import Unanswered, WireReply, dig, log_call, post_json

__all__ = ["SandboxProvider"]

log = logging.getLogger(__name__)

TOKEN_LIFETIME = timedelta(hours=24)
# A token is replaced while it still has this long to live, so no call races its expiry.
TOKEN_REFRESH_MARGIN = timedelta(hours=1)
GENERATE_ENTITY = "in.co.sandbox.kyc.aadhaar.okyc.otp.request"
VERIFY_ENTITY = "in.co.sandbox.kyc.aadhaar.okyc.request"

_PATHS = {
    Endpoint.AUTHENTICATE: "/authenticate",
    Endpoint.GENERATE_OTP: "/kyc/aadhaar/okyc/otp",
    Endpoint.VERIFY_OTP: "/kyc/aadhaar/okyc/otp/verify",
}


def _refused(outcome: Outcome) -> Refusal:
    if isinstance(outcome, Refusal):
        return outcome
    # interpret gives an endpoint only its own kind of success; this is the guard, not a path.
    return Refusal(F.PROVIDER_DOWN, f"unexpected {type(outcome).__name__}")


def _label(outcome: Outcome) -> str:
    if isinstance(outcome, Refusal):
        return outcome.failure.value
    if isinstance(outcome, AccessToken):
        return "token"
    return "otp_sent" if isinstance(outcome, OtpSent) else "verified"


_LOG_LEVELS = {
    F.MISCONFIGURED: logging.ERROR,
    F.OUT_OF_QUOTA: logging.ERROR,
    F.PROVIDER_DOWN: logging.WARNING,
    F.UNCERTAIN: logging.WARNING,
}


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _credential(name: str, value: str | SecretStr) -> SecretStr:
    secret = value if isinstance(value, SecretStr) else SecretStr(value)
    text = secret.get_secret_value()
    # httpx would reject it later with the value in the message: fail here, naming the key.
    if not text or not text.isascii() or not text.isprintable():
        raise ValueError(f"the Sandbox {name} must be non-empty printable ASCII")
    return secret


@dataclass(frozen=True)
class _Cached:
    token: AccessToken
    refresh_at: datetime


class SandboxProvider:
    """The Sandbox.co.in OKYC client behind `KycProvider`: one HTTP client per instance."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str | SecretStr,
        api_secret: str | SecretStr,
        reason: str,
        api_version: str | None = None,
        authorization_scheme: Literal["raw", "bearer"] = "raw",
        timeout_seconds: float = 20.0,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._api_key = _credential("api_key", api_key)
        self._api_secret = _credential("api_secret", api_secret)
        self._version = {"x-api-version": api_version} if api_version else {}
        self._scheme = authorization_scheme
        self._reason = reason
        self._clock = clock
        self._base_url = base_url
        self._client = httpx.AsyncClient(
            base_url=base_url, timeout=timeout_seconds, transport=transport
        )
        self._cached: _Cached | None = None
        # Many users at once need one authenticate call, not one each.
        self._token_lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"SandboxProvider(base_url={self._base_url!r}, scheme={self._scheme!r})"

    @property
    def name(self) -> str:
        """Recorded in flow events and call logs."""
        return "sandbox"

    async def request_otp(self, aadhaar: AadhaarNumber) -> OtpRequestAnswer:
        """Ask Sandbox to send an OTP; a call that may have sent one is never repeated."""
        payload = {
            "@entity": GENERATE_ENTITY,
            "aadhaar_number": aadhaar.reveal(),
            "consent": "Y",
            "reason": self._reason,
        }
        outcome = await self._exchange(Endpoint.GENERATE_OTP, payload)
        if isinstance(outcome, OtpSent):
            return outcome
        refusal = _refused(outcome)
        return OtpNotSent(refusal.failure, refusal.retry_after_seconds, refusal.detail)

    async def verify_otp(self, reference: str, otp: Otp) -> OtpVerifyAnswer:
        """Check `otp` for the OTP session `reference` and read the e-KYC data."""
        payload = {"@entity": VERIFY_ENTITY, "reference_id": reference, "otp": otp.reveal()}
        outcome = await self._exchange(Endpoint.VERIFY_OTP, payload)
        if isinstance(outcome, KycVerified):
            return outcome
        refusal = _refused(outcome)
        return OtpNotVerified(refusal.failure, refusal.retry_after_seconds, refusal.detail)

    async def aclose(self) -> None:
        """Close the HTTP client and forget the token."""
        self._cached = None
        await self._client.aclose()

    async def _exchange(self, endpoint: Endpoint, payload: Mapping[str, object]) -> Outcome:
        token = await self._token()
        if isinstance(token, Refusal):
            return token
        answer = await self._post(endpoint, payload, self._authorised(token))
        if not token_rejected(answer):
            return self._read(endpoint, answer)
        # A rejected call did nothing at Sandbox, so repeating it once is safe even for an OTP.
        self._log(endpoint, answer, "token_rejected", logging.WARNING)
        token = await self._token(stale=token)
        if isinstance(token, Refusal):
            return token
        answer = await self._post(endpoint, payload, self._authorised(token))
        outcome = self._read(endpoint, answer)
        if token_rejected(answer):
            other = "bearer" if self._scheme == "raw" else "raw"
            log.error(
                "sandbox rejected a fresh access token on %s with authorization_scheme=%s: "
                "check the API key and secret, or try authorization_scheme=%s",
                endpoint.value,
                self._scheme,
                other,
            )
        return outcome

    async def _token(self, *, stale: AccessToken | None = None) -> AccessToken | Refusal:
        async with self._token_lock:
            cached = self._cached
            if cached is not None and cached.token != stale and self._clock() < cached.refresh_at:
                return cached.token
            self._cached = None
            headers = {
                "x-api-key": self._api_key.get_secret_value(),
                "x-api-secret": self._api_secret.get_secret_value(),
                **self._version,
            }
            answer = await self._post(Endpoint.AUTHENTICATE, {}, headers)
            outcome = self._read(Endpoint.AUTHENTICATE, answer)
            if not isinstance(outcome, AccessToken):
                return _refused(outcome)
            refresh_at = self._clock() + TOKEN_LIFETIME - TOKEN_REFRESH_MARGIN
            self._cached = _Cached(outcome, refresh_at)
            return outcome

    def _authorised(self, token: AccessToken) -> dict[str, str]:
        # Sandbox's reference says the raw token, its recipe says "Bearer": config picks.
        value = f"Bearer {token.value}" if self._scheme == "bearer" else token.value
        return {
            "x-api-key": self._api_key.get_secret_value(),
            "authorization": value,
            **self._version,
        }

    async def _post(
        self, endpoint: Endpoint, payload: Mapping[str, object], headers: Mapping[str, str]
    ) -> WireReply | Unanswered:
        return await post_json(self._client, _PATHS[endpoint], payload=payload, headers=headers)

    def _read(self, endpoint: Endpoint, answer: WireReply | Unanswered) -> Outcome:
        outcome = interpret(endpoint, answer)
        level = logging.INFO
        if isinstance(outcome, Refusal):
            level = _LOG_LEVELS.get(outcome.failure, logging.INFO)
        self._log(endpoint, answer, _label(outcome), level)
        return outcome

    def _log(
        self, endpoint: Endpoint, answer: WireReply | Unanswered, outcome: str, level: int
    ) -> None:
        transaction = dig(answer.body, "transaction_id") if isinstance(answer, WireReply) else None
        log_call(
            provider=self.name,
            endpoint=endpoint.value,
            answer=answer,
            outcome=outcome,
            request_id=transaction,
            level=level,
        )
