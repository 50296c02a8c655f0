"""What IDTO's DigiLocker answers mean: the answer types and the one pure mapping.

IDTO publishes no reference for these calls. Known: `url`, `reference_key`, `expires_at` and
`{status, message}` errors (the typings of @idto/digilocker-sdk 0.1.4). Assumed, hence read
tolerantly: a `data.` level, `authorization_url`; error codes 3001 and 3002 in `code`,
`error_code` or `detail.code`; `expires_at` as ISO-8601 (UTC when it names no zone) or epoch
seconds; and a spent code said in words (a 400/401/404 naming the code, the verifier, expiry or
invalid_grant). `interpret` is the one place an answer is read; it is pure, so each answer is
tested without I/O, and no failure detail repeats the body.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Literal, overload
from urllib.parse import urlsplit

from flows import ProviderFailure as F
from kyc.wire import Unanswered, WireReply, dig

__all__ = [
    "DigiLockerFailure",
    "Endpoint",
    "ReferenceAnswer",
    "ReferenceIssued",
    "SessionAnswer",
    "SessionStarted",
    "interpret",
]

_ENV = "KYCBOT_PROVIDERS__IDTO__"


class Endpoint(StrEnum):
    """An IDTO call; the value is the endpoint name in the call log."""

    INITIATE_SESSION = "initiate_session"
    GET_REFERENCE = "get_reference"


@dataclass(frozen=True)
class SessionStarted:
    """IDTO opened a session; `url` is the DigiLocker page the user opens.

    The URL may carry the state or a session token, so it stays out of reprs and logs."""

    url: str = field(repr=False)


@dataclass(frozen=True)
class ReferenceIssued:
    """The user consented on DigiLocker: the key to the documents, and when it lapses."""

    reference_key: str = field(repr=False)
    expires_at: datetime | None


@dataclass(frozen=True)
class DigiLockerFailure:
    """A call that did not do its job, in the shared vocabulary; `detail` is for logs only."""

    failure: F
    detail: str


SessionAnswer = SessionStarted | DigiLockerFailure
ReferenceAnswer = ReferenceIssued | DigiLockerFailure

_PAIR_REJECTED = (
    "IDTO rejected the X-API-KEY / X-Client-ID pair (both headers were sent): check that the "
    "key and the client id belong to the same IDTO app and environment "
    "(dev.idto.ai vs production)"
)
_CODES: dict[int, str] = {
    3001: "documents_for_consent rejected (3001): check providers.idto.documents_for_consent",
    3002: "redirect URL missing or refused (3002): check the public URL the redirect is built "
    "from, and that IDTO allows it for this app",
}


def _paths(dotted: str) -> tuple[tuple[str, ...], ...]:
    return tuple(tuple(path.split(".")) for path in dotted.split())


# Where an answer may hold its error code, and the words that explain it.
_CODE_PATHS = _paths("code error_code detail.code detail.error_code error.code data.code")
_TEXT_PATHS = _paths("code error_code detail.code message detail detail.message error")
_TEXT_PATHS += _paths("error.message error_description")
# Words that say the DigiLocker code (or its verifier) cannot be redeemed, unless the same text
# talks about our credentials: IDTO's own 401 says "valid JWT token, API key + client ID".
_SPENT_CODE = re.compile(r"(?<![a-z])code(?![a-z])|verifier|expired|invalid[ _]grant|already used")
_CREDENTIALS = re.compile(r"api[ _-]?key|client[ _-]?id|jwt|sdk token|authenticat")
_ERROR_STATUSES = frozenset({"error", "failed", "failure", "fail"})
_REFERENCE = re.compile(r"[!-~]{1,512}")
_URL_PATHS = _paths("url data.url authorization_url data.authorization_url")
_LOOPBACK = frozenset({"127.0.0.1", "localhost"})


@overload
def interpret(
    endpoint: Literal[Endpoint.INITIATE_SESSION], answer: WireReply | Unanswered
) -> SessionAnswer: ...
@overload
def interpret(
    endpoint: Literal[Endpoint.GET_REFERENCE], answer: WireReply | Unanswered
) -> ReferenceAnswer: ...
@overload
def interpret(
    endpoint: Endpoint, answer: WireReply | Unanswered
) -> SessionAnswer | ReferenceAnswer: ...
def interpret(
    endpoint: Endpoint, answer: WireReply | Unanswered
) -> SessionAnswer | ReferenceAnswer:
    """What one IDTO answer to `endpoint` means. Pure; never raises."""
    if isinstance(answer, Unanswered):
        # Neither call sends anything to the user, so an unanswered one is simply an outage.
        return DigiLockerFailure(F.PROVIDER_DOWN, f"no answer: {answer.reason.value}")
    status, body = answer.status, answer.body
    where = f"http {status}"
    if status == 429:
        return DigiLockerFailure(F.RATE_LIMITED, f"{where}: too many requests")
    if status >= 500 or status == 408:
        return DigiLockerFailure(F.PROVIDER_DOWN, where + ("" if body else ": not a JSON object"))
    if 200 <= status < 300:
        if body is None:
            return DigiLockerFailure(F.PROVIDER_DOWN, f"{where}: not a JSON object")
        if not _says_error(body):
            read = _session(body) if endpoint is Endpoint.INITIATE_SESSION else _reference(body)
            if not isinstance(read, str):
                return read
            return DigiLockerFailure(F.PROVIDER_DOWN, f"{where}: {read}")
    failure, reason = _refusal(endpoint, status, body)
    return DigiLockerFailure(failure, f"{where}: {reason}")


def _refusal(endpoint: Endpoint, status: int, body: Mapping[str, object] | None) -> tuple[F, str]:
    """The failure an error answer stands for, and what the log says (never the body)."""
    code = _error_code(body)
    if code in _CODES:
        return F.MISCONFIGURED, _CODES[code]
    text = _text(body)
    spent = _SPENT_CODE.search(text) and not _CREDENTIALS.search(text)
    if endpoint is Endpoint.GET_REFERENCE and (status in (400, 401, 404) or status < 300) and spent:
        # The user has to go through DigiLocker again; nothing to fix on our side.
        return F.SESSION_INVALID, "code invalid, expired or already used"
    if status == 401:
        return F.MISCONFIGURED, _PAIR_REJECTED
    if status == 403:
        return F.MISCONFIGURED, "IDTO refused this app: check that its plan includes DigiLocker"
    if status == 404:
        return F.MISCONFIGURED, f"not found: check {_ENV}BASE_URL"
    if 300 <= status < 500:
        # A redirect or a 4xx nobody expects means our request is wrong: retrying will not help.
        return F.MISCONFIGURED, "request refused" + ("" if body else ", not a JSON object")
    return F.PROVIDER_DOWN, "answer says error"


def _says_error(body: Mapping[str, object]) -> bool:
    status = dig(body, "status")
    return dig(body, "success") is False or (
        isinstance(status, str) and status.casefold() in _ERROR_STATUSES
    )


def _error_code(body: Mapping[str, object] | None) -> int | None:
    for path in _CODE_PATHS:
        value = dig(body, *path)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
            return int(value)
    return None


def _text(body: Mapping[str, object] | None) -> str:
    # Only classified, never logged: the words may quote what we sent.
    found = (dig(body, *path) for path in _TEXT_PATHS)
    return " ".join(value.casefold() for value in found if isinstance(value, str))


def _session(body: Mapping[str, object]) -> SessionStarted | str:
    for path in _URL_PATHS:
        value = dig(body, *path)
        if isinstance(value, str) and value.strip():
            url = value.strip()
            return SessionStarted(url) if _openable(url) else "url is not https"
    return "without a url"


def _openable(url: str) -> bool:
    """An https URL a user can be sent to; plain http only on this machine, for tests."""
    if len(url) > 4096 or not url.isascii() or not url.isprintable() or " " in url:
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    if parts.scheme == "https":
        return bool(parts.hostname)
    return parts.scheme == "http" and parts.hostname in _LOOPBACK


def _reference(body: Mapping[str, object]) -> ReferenceIssued | str:
    for level in ((), ("data",)):
        key = dig(body, *level, "reference_key")
        if isinstance(key, str) and _REFERENCE.fullmatch(key):
            return ReferenceIssued(key, _expiry(dig(body, *level, "expires_at")))
    return "without a usable reference_key"


def _expiry(value: object) -> datetime | None:
    """`expires_at` as an aware UTC datetime: ISO-8601 or epoch seconds; None if unreadable."""
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        value = int(value)
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())  # 3.11 reads "Z" too
        except ValueError:
            return None
        return moment.replace(tzinfo=moment.tzinfo or UTC).astimezone(UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    return None
