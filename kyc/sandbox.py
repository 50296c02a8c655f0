"""Sandbox.co.in Aadhaar OKYC: an access token, then OTP generation and verification.

Every wire answer goes through `interpret`, the one place that reads Sandbox's answers; it
is pure, so each documented answer is tested without I/O. Sandbox reports many failures as
HTTP 200 with a `data.message`, so success is recognised positively (an exact message, a
`VALID` status) and anything else is a failure. Of a successful e-KYC answer only the fields
of `KycData` are read: photo, hashes, share code and the rest are dropped on receipt.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Literal

import httpx
from pydantic import SecretStr

from flows import AadhaarNumber, KycData, KycVerified, Otp, OtpNotSent, OtpNotVerified, OtpSent
from flows import ProviderFailure as F
from kyc.base import OtpRequestAnswer, OtpVerifyAnswer
from kyc.wire import Unanswered, WireReply, dig, log_call, post_json

__all__ = ["AccessToken", "Endpoint", "Outcome", "Refusal", "SandboxProvider", "interpret"]

log = logging.getLogger(__name__)

TOKEN_LIFETIME = timedelta(hours=24)
# A token is replaced while it still has this long to live, so no call races its expiry.
TOKEN_REFRESH_MARGIN = timedelta(hours=1)
GENERATE_ENTITY = "in.co.sandbox.kyc.aadhaar.okyc.otp.request"
VERIFY_ENTITY = "in.co.sandbox.kyc.aadhaar.okyc.request"
_TOKEN_REJECTED = frozenset({401, 403})


class Endpoint(StrEnum):
    """A Sandbox call; the value is the endpoint name in the call log."""

    AUTHENTICATE = "authenticate"
    GENERATE_OTP = "generate_otp"
    VERIFY_OTP = "verify_otp"


_PATHS = {
    Endpoint.AUTHENTICATE: "/authenticate",
    Endpoint.GENERATE_OTP: "/kyc/aadhaar/okyc/otp",
    Endpoint.VERIFY_OTP: "/kyc/aadhaar/okyc/otp/verify",
}


@dataclass(frozen=True)
class AccessToken:
    """A token from /authenticate; it never shows in a repr."""

    value: str = field(repr=False)


@dataclass(frozen=True)
class Refusal:
    """A call that did not do its job, in the shared vocabulary; `detail` is for logs only."""

    failure: F
    detail: str
    retry_after_seconds: int | None = None


Outcome = AccessToken | OtpSent | KycVerified | Refusal


_ANY = frozenset(Endpoint)
_G, _V = frozenset({Endpoint.GENERATE_OTP}), frozenset({Endpoint.VERIFY_OTP})
_QUOTA = re.compile(r"credit|quota|insufficient balance")
_NO_MOBILE = r"^(?=.*\bmobile)(?=.*\b(?:not|no)\b)(?=.*(?:link|regist))"
# Matched against the lower-cased message, first match wins. Sandbox words these loosely, so
# the patterns look for the telling words, not whole sentences. The label is what the log
# detail says instead of the provider's own words.
_RULES: tuple[tuple[frozenset[Endpoint], re.Pattern[str], F, str], ...] = tuple(
    (endpoints, re.compile(pattern), failure, label)
    for endpoints, pattern, failure, label in (
        (_ANY, _QUOTA.pattern, F.OUT_OF_QUOTA, "credits or quota used up"),
        (_G, r"invalid aadhaar", F.INVALID_AADHAAR, "invalid aadhaar"),
        (_G, _NO_MOBILE, F.NO_MOBILE_LINKED, "no mobile linked"),
        (_G | _V, r"under process|in progress", F.IN_PROGRESS, "request under process"),
        (_G | _V, r"try (?:again )?after", F.RATE_LIMITED, "try again later"),
        (_V, r"invalid otp", F.WRONG_OTP, "invalid otp"),
        (_V, r"expired", F.OTP_EXPIRED, "otp expired"),
        (_V, r"invalid reference", F.SESSION_INVALID, "invalid reference id"),
    )
)
_WAITS = frozenset({F.IN_PROGRESS, F.RATE_LIMITED})
_WAIT = re.compile(r"(\d{1,6})\s*(seconds?|secs?|s|minutes?|mins?)\b")
_MAX_WAIT_SECONDS = 86_400


def interpret(endpoint: Endpoint, answer: WireReply | Unanswered) -> Outcome:
    """What one Sandbox answer to `endpoint` means. Pure; never raises."""
    # A failed authenticate is reported as the call it was for: its detail says so.
    prefix = "authenticate " if endpoint is Endpoint.AUTHENTICATE else ""
    if isinstance(answer, Unanswered):
        if endpoint is Endpoint.GENERATE_OTP and answer.may_have_acted:
            # Sent, never answered: an OTP may be on its way. Never retried automatically.
            return Refusal(F.UNCERTAIN, f"{answer.reason.value} after sending")
        return Refusal(F.PROVIDER_DOWN, prefix + answer.reason.value)
    status, body = answer.status, answer.body
    where = f"{prefix}http {status}"
    message = _message(body)
    if status in _TOKEN_REJECTED or status == 402:
        if status == 402 or _QUOTA.search(message):
            return Refusal(F.OUT_OF_QUOTA, f"{where}: credits or quota used up")
        return Refusal(F.MISCONFIGURED, f"{where}: credentials or access token rejected")
    if status == 429:
        return Refusal(F.RATE_LIMITED, f"{where}: too many requests", _wait(message))
    if status >= 500:
        return Refusal(F.PROVIDER_DOWN, where)
    if body is not None and 200 <= status < 300:
        success = _SUCCESS[endpoint](body)
        if success is not None:
            return success
    for endpoints, pattern, failure, label in _RULES:
        if endpoint in endpoints and pattern.search(message):
            wait = _wait(message) if failure in _WAITS else None
            return Refusal(failure, f"{where}: {label}", wait)
    shape = "unexpected message" if message else "unexpected answer shape"
    if body is None:
        shape = "body is not a JSON object"
    # A 3xx or 4xx nobody expects means our request is wrong (a URL, a header, a version): the
    # operator must look, and trying again will not help.
    failure = F.MISCONFIGURED if 300 <= status < 500 and status != 408 else F.PROVIDER_DOWN
    return Refusal(failure, f"{where}: {shape}")


def _message(body: Mapping[str, object] | None) -> str:
    # Answers carry their message in `data.message`; error answers at the top level.
    for text in (dig(body, "data", "message"), dig(body, "message")):
        if isinstance(text, str) and text.strip():
            return " ".join(text.lower().split())
    return ""


def _wait(message: str) -> int | None:
    found = _WAIT.search(message)
    if found is None:
        return None
    seconds = int(found.group(1)) * (60 if found.group(2).startswith("m") else 1)
    return min(seconds, _MAX_WAIT_SECONDS)


def _token_in(body: Mapping[str, object]) -> Outcome | None:
    for token in (dig(body, "data", "access_token"), dig(body, "access_token")):
        if isinstance(token, str) and token.strip():
            return AccessToken(token.strip())
    return None


def _otp_sent(body: Mapping[str, object]) -> Outcome | None:
    if _message(body) != "otp sent successfully":
        return None
    reference = dig(body, "data", "reference_id")
    if isinstance(reference, int) and not isinstance(reference, bool):
        return OtpSent(str(reference))
    if isinstance(reference, str) and reference.isascii() and reference.isdigit():
        return OtpSent(reference)
    # Sandbox says it sent the OTP but gave nothing to verify it with: one is on its way.
    return Refusal(F.UNCERTAIN, "http 200: otp sent without a usable reference_id")


def _verified(body: Mapping[str, object]) -> Outcome | None:
    data = dig(body, "data")
    status = dig(body, "data", "status")
    if not isinstance(data, Mapping) or not isinstance(status, str):
        return None
    return KycVerified(_kyc_data(data)) if status.strip().upper() == "VALID" else None


_SUCCESS: dict[Endpoint, Callable[[Mapping[str, object]], Outcome | None]] = {
    Endpoint.AUTHENTICATE: _token_in,
    Endpoint.GENERATE_OTP: _otp_sent,
    Endpoint.VERIFY_OTP: _verified,
}
_ADDRESS_PARTS = "house street landmark locality vtc subdistrict district state pincode country"
_DATE_FORMATS = ("%d-%m-%Y", "%d/%m/%Y", "%Y-%m-%d")


def _kyc_data(data: Mapping[str, object]) -> KycData:
    # Only these fields are read: everything else in the answer is dropped here.
    born = _date(dig(data, "date_of_birth"))
    year = _text(dig(data, "year_of_birth"))
    return KycData(
        name=_text(dig(data, "name")),
        date_of_birth=born,
        year_of_birth=int(year) if year and year.isascii() and year.isdigit() else _year_of(born),
        gender=_text(dig(data, "gender")),
        address=_text(dig(data, "full_address")) or _address(dig(data, "address")),
        state=_text(dig(data, "address", "state")),
    )


def _text(value: object) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str):
        return value.strip() or None
    return None


def _date(value: object) -> date | None:
    text = _text(value) or ""
    for pattern in _DATE_FORMATS:
        try:
            return datetime.strptime(text, pattern).date()
        except ValueError:
            continue
    return None


def _year_of(born: date | None) -> int | None:
    return born.year if born is not None else None


def _address(value: object) -> str | None:
    if not isinstance(value, Mapping):
        return None
    parts: list[str] = []
    for key in _ADDRESS_PARTS.split():
        part = _text(dig(value, key))
        # vtc, post office and district are often the same town: say it once.
        if part and part.casefold() not in (seen.casefold() for seen in parts):
            parts.append(part)
    return ", ".join(parts) or None


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
        if not _token_rejected(answer):
            return self._read(endpoint, answer)
        # A rejected call did nothing at Sandbox, so repeating it once is safe even for an OTP.
        self._log(endpoint, answer, "token_rejected", logging.WARNING)
        token = await self._token(stale=token)
        if isinstance(token, Refusal):
            return token
        answer = await self._post(endpoint, payload, self._authorised(token))
        outcome = self._read(endpoint, answer)
        if _token_rejected(answer):
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


def _token_rejected(answer: WireReply | Unanswered) -> bool:
    return isinstance(answer, WireReply) and answer.status in _TOKEN_REJECTED
