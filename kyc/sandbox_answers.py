"""What Sandbox.co.in's OKYC answers mean: the outcome types and the one pure mapping.

Every wire answer goes through `interpret`, the one place that reads Sandbox's answers; it
is pure, so each documented answer is tested without I/O. Sandbox reports many failures as
HTTP 200 with a `data.message`, so success is recognised positively (an exact message, a
`VALID` status) and anything else is a failure. Of a successful e-KYC answer only the fields
of `KycData` are read: photo, hashes, share code and the rest are dropped on receipt.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

from flows import KycData, KycVerified, OtpSent
from flows import ProviderFailure as F
from kyc.wire import Unanswered, WireReply, dig

__all__ = ["AccessToken", "Endpoint", "Outcome", "Refusal", "interpret", "token_rejected"]

_TOKEN_REJECTED = frozenset({401, 403})


class Endpoint(StrEnum):
    """A Sandbox call; the value is the endpoint name in the call log."""

    AUTHENTICATE = "authenticate"
    GENERATE_OTP = "generate_otp"
    VERIFY_OTP = "verify_otp"


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
        wait = _wait(message) or answer.retry_after_seconds
        return Refusal(F.RATE_LIMITED, f"{where}: too many requests", wait)
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
    if endpoint is Endpoint.GENERATE_OTP and 200 <= status < 300 and not message:
        # A success status we cannot read may well be "OTP sent" cut short: an SMS may be on
        # its way, so this is never a free retry that could send a second one.
        return Refusal(F.UNCERTAIN, f"{where}: {shape}")
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


def token_rejected(answer: WireReply | Unanswered) -> bool:
    """Whether Sandbox refused the access token (or the credentials) sent with the call."""
    return isinstance(answer, WireReply) and answer.status in _TOKEN_REJECTED
