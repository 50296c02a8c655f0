"""What AccuAuth's Aadhaar OTP answers mean: each answer, or its absence, as a flows event.

AccuAuth answers `{"status": "OK", "result": {...}, "request_id"}` on success and
`{"status": <ERROR CODE>, "reason", "request_id"}` with a 4xx/5xx status otherwise
(shared/provider-docs/accuauth-send-aadhaar-otp.md). `interpret` is the one place an answer
becomes an event; it is pure, and of a validated answer only the `KycData` fields are read.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime
from enum import StrEnum
from typing import Literal, overload

from flows import KycData, KycVerified, OtpNotSent, OtpNotVerified, OtpSent, ProviderFailure
from kyc.base import OtpRequestAnswer, OtpVerifyAnswer
from kyc.wire import Unanswered, WireReply, dig

__all__ = ["Endpoint", "interpret"]

F = ProviderFailure
_ENV = "KYCBOT_PROVIDERS__ACCUAUTH__"
_CHECK_CREDENTIALS = f"check {_ENV}API_ID / API_SECRET"


class Endpoint(StrEnum):
    """The two calls, by the name the per-call log line gives them."""

    SEND_OTP = "send_otp"
    VALIDATE_OTP = "validate_otp"


# Error codes that mean the same on both calls (INVALID_ARGUMENT depends on the call), with
# what an operator has to do about them.
_CODES: dict[str, tuple[ProviderFailure, str]] = {
    "UNAUTHORIZED": (F.MISCONFIGURED, f"credentials rejected, {_CHECK_CREDENTIALS}"),
    "KEY_EXPIRED": (F.MISCONFIGURED, f"API ID expired: renew it, then {_CHECK_CREDENTIALS}"),
    "NO_PERMISSION": (F.MISCONFIGURED, "this API ID may not call Aadhaar OTP: ask AccuAuth"),
    "NOT_FOUND": (F.MISCONFIGURED, f"API not found, check {_ENV}BASE_URL"),
    "OUT_OF_QUOTA": (F.OUT_OF_QUOTA, "API call quota used up: top up with AccuAuth"),
    "RATE_LIMIT_EXCEEDED": (F.RATE_LIMITED, ""),
    "ABNORMAL_BEHAVIOURS_DETECTED": (F.RATE_LIMITED, ""),
    "INTERNAL_ERROR": (F.PROVIDER_DOWN, ""),
    "SOURCE_SERVICE_UNAVAILABLE": (F.PROVIDER_DOWN, ""),
    "SOURCE_SERVICE_TIMEOUT": (F.PROVIDER_DOWN, ""),
    # Image-API codes cannot concern an OTP call: the provider's fault of the moment, not a
    # setting of ours, so the user is told to try again later and nobody is paged.
    "DETECTION_FAILED": (F.PROVIDER_DOWN, "an image-API code on an OTP call"),
    "DOWNLOAD_ERROR": (F.PROVIDER_DOWN, "an image-API code on an OTP call"),
}
_ERROR_CODE = re.compile(r"[A-Z][A-Z_]{0,39}")
_REFERENCE_MAX = 128  # the verification.otp_reference column
_DATE_FORMATS = ("%Y-%m-%d", "%d-%m-%Y", "%d/%m/%Y")
_GENDERS = {"m": "M", "male": "M", "f": "F", "female": "F", "t": "T", "transgender": "T"}
# One-line address order, house to country; care_of is left out: it names another person.
_ADDRESS_PARTS = ("house", "street", "landmark", "loc", "vtc", "po", "subdist", "dist", "state")
_POSTCODE_PARTS = ("pc", "zip", "pincode")


@overload
def interpret(
    endpoint: Literal[Endpoint.SEND_OTP], answer: WireReply | Unanswered
) -> OtpRequestAnswer: ...
@overload
def interpret(
    endpoint: Literal[Endpoint.VALIDATE_OTP], answer: WireReply | Unanswered
) -> OtpVerifyAnswer: ...
@overload
def interpret(
    endpoint: Endpoint, answer: WireReply | Unanswered
) -> OtpRequestAnswer | OtpVerifyAnswer: ...
def interpret(
    endpoint: Endpoint, answer: WireReply | Unanswered
) -> OtpRequestAnswer | OtpVerifyAnswer:
    """The event an AccuAuth answer (or its absence) stands for. Pure; never raises."""
    if isinstance(answer, Unanswered):
        if endpoint is Endpoint.SEND_OTP and answer.may_have_acted:
            # The OTP may be on its way: never retried, the flow waits for the cooldown.
            return OtpNotSent(F.UNCERTAIN, detail=f"no answer: {answer.reason.value}")
        return _failed(endpoint, F.PROVIDER_DOWN, f"no answer: {answer.reason.value}")
    code = dig(answer.body, "status")
    success = 200 <= answer.status < 300
    # A success status we cannot read on a send may be "OTP sent" cut short: an SMS may be on
    # its way, so it is never a free retry that could send a second one.
    unread = F.UNCERTAIN if endpoint is Endpoint.SEND_OTP else F.PROVIDER_DOWN
    if code == "OK" and success:
        result = dig(answer.body, "result")
        if not isinstance(result, Mapping):
            return _failed(endpoint, unread, f"http {answer.status} OK without result")
        if endpoint is Endpoint.SEND_OTP:
            return _otp_sent(result)
        return _verified(result)
    if success and code != "INVALID_ARGUMENT" and not (isinstance(code, str) and code in _CODES):
        return _failed(endpoint, unread, f"http {answer.status} {_label(answer.body, code)}")
    failure, hint = _error(endpoint, answer.status, code, dig(answer.body, "reason"))
    detail = f"http {answer.status} {_label(answer.body, code)}"
    wait = answer.retry_after_seconds if failure is F.RATE_LIMITED else None
    return _failed(endpoint, failure, f"{detail}: {hint}" if hint else detail, wait)


def _label(body: Mapping[str, object] | None, code: object) -> str:
    # Only a well-formed code is repeated: the detail must not carry what a body says.
    if body is None:
        return "not a JSON object"
    if isinstance(code, str) and _ERROR_CODE.fullmatch(code):
        return code
    return "unrecognised status"


def _failed(
    endpoint: Endpoint, failure: ProviderFailure, detail: str, wait: int | None = None
) -> OtpNotSent | OtpNotVerified:
    if endpoint is Endpoint.SEND_OTP:
        return OtpNotSent(failure, wait, detail)
    return OtpNotVerified(failure, wait, detail)


def _error(
    endpoint: Endpoint, status: int, code: object, reason: object
) -> tuple[ProviderFailure, str]:
    """The failure an error answer stands for, and a hint for the log (never the reason)."""
    if code == "INVALID_ARGUMENT":
        if endpoint is Endpoint.SEND_OTP:
            return F.INVALID_AADHAAR, ""  # aadhaar_no is the only argument
        return _invalid_otp_argument(reason)
    if isinstance(code, str) and code in _CODES:
        return _CODES[code]
    if status == 429:
        return F.RATE_LIMITED, ""
    # Without an AccuAuth code these are most likely a wrong base URL or a gateway refusing
    # our credentials: settings the operator has to fix, not an outage to wait out.
    if status == 401:
        return F.MISCONFIGURED, _CHECK_CREDENTIALS
    if status == 404:
        return F.MISCONFIGURED, f"check {_ENV}BASE_URL"
    return F.PROVIDER_DOWN, ""


def _invalid_otp_argument(reason: object) -> tuple[ProviderFailure, str]:
    # The reason is free text that may quote what we sent: it is classified, never logged.
    text = reason.casefold() if isinstance(reason, str) else ""
    if "expire" in text:
        return F.OTP_EXPIRED, "reason names expiry"
    if any(word in text for word in ("client", "already", "session")):
        return F.SESSION_INVALID, "reason names the client_id"
    return F.WRONG_OTP, "reason names neither expiry nor client_id"


def _otp_sent(result: Mapping[str, object]) -> OtpRequestAnswer:
    client_id = result.get("client_id")
    if result.get("otp_sent") is True:
        if isinstance(client_id, str) and 0 < len(client_id) <= _REFERENCE_MAX:
            return OtpSent(client_id)
        # An SMS is on its way but can never be checked: like an unanswered send, the next
        # request waits for the cooldown.
        return OtpNotSent(F.UNCERTAIN, detail="http 200 otp_sent without a usable client_id")
    if result.get("valid_aadhaar") is False:
        return OtpNotSent(F.INVALID_AADHAAR, detail="http 200 valid_aadhaar false")
    if result.get("if_number") is False:
        return OtpNotSent(F.NO_MOBILE_LINKED, detail="http 200 if_number false")
    return OtpNotSent(F.PROVIDER_DOWN, detail="http 200 OK but otp_sent not true")


def _verified(result: Mapping[str, object]) -> OtpVerifyAnswer:
    # Only these fields are read: the Aadhaar number, photo, XML and hashes in `result` are
    # dropped here, with the rest of the body.
    name = _text(result.get("full_name") or result.get("name"), limit=200)
    if name is None:
        return OtpNotVerified(F.PROVIDER_DOWN, detail="http 200 OK without full_name")
    born, year = _birth(result.get("dob") or result.get("date_of_birth"))
    address = result.get("address")
    state = result.get("state") or (address.get("state") if isinstance(address, Mapping) else None)
    return KycVerified(
        KycData(
            name=name,
            date_of_birth=born,
            year_of_birth=year,
            gender=_GENDERS.get((_text(result.get("gender"), limit=16) or "").casefold()),
            address=_address(address, result.get("zip")),
            state=_text(state, limit=100),
        )
    )


def _text(value: object, *, limit: int) -> str | None:
    """A trimmed one-line string, cut to the size of the column it may end up in."""
    if not isinstance(value, str):
        return None
    return " ".join(value.split())[:limit] or None


def _birth(value: object) -> tuple[date | None, int | None]:
    text = _text(value, limit=10)
    if text is None:
        return None, None
    if len(text) == 4 and text.isdigit():  # some records carry the year of birth only
        return None, int(text)
    for pattern in _DATE_FORMATS:
        try:
            born = datetime.strptime(text, pattern).date()
        except ValueError:
            continue
        return born, born.year
    return None, None


def _address(value: object, zip_code: object) -> str | None:
    if not isinstance(value, Mapping):
        return _text(value, limit=500)
    postcodes = [value.get(key) for key in _POSTCODE_PARTS if value.get(key)] or [zip_code]
    parts: list[str] = []
    for part in (*(value.get(key) for key in _ADDRESS_PARTS), postcodes[0], value.get("country")):
        # Postcodes come as numbers too.
        text = _text(str(part) if type(part) is int else part, limit=200)
        # Villages, post offices and districts often share a name: it is said once.
        if text and text.casefold() not in {seen.casefold() for seen in parts}:
            parts.append(text)
    return ", ".join(parts)[:500] or None
