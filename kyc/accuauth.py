"""The AccuAuth Aadhaar OTP client: send an OTP, validate it, log each call.

`AccuAuthProvider` only sends, times and logs; what an answer means is decided by `interpret`
in `kyc.accuauth_answers`.
"""

from __future__ import annotations

import logging
import re

import httpx

from flows import AadhaarNumber, Otp, OtpNotSent, OtpNotVerified, OtpSent
from flows import ProviderFailure as F
from kyc.accuauth_answers import Endpoint, interpret
from kyc.base import OtpRequestAnswer, OtpVerifyAnswer
from kyc.wire import Unanswered, WireReply, dig, log_call, post_json

__all__ = ["DEFAULT_BASE_URL", "AccuAuthProvider"]

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://cloudapi.accuauth.in"

_PATHS = {
    Endpoint.SEND_OTP: "/verify/send_aadhaar_otp",
    Endpoint.VALIDATE_OTP: "/verify/validate_aadhaar_otp",
}

_HEADER_VALUE = re.compile(r"[!-~]+")
_LEVELS = {
    F.MISCONFIGURED: logging.ERROR,
    F.OUT_OF_QUOTA: logging.ERROR,
    F.PROVIDER_DOWN: logging.WARNING,
    F.RATE_LIMITED: logging.WARNING,
    F.UNCERTAIN: logging.WARNING,
}


class AccuAuthProvider:
    """AccuAuth's Aadhaar OTP API behind the KycProvider protocol, on one persistent client.

    `client` (used as given, closed by its owner) or `transport` are for tests; otherwise the
    provider opens its own client with `timeout_seconds`, and `aclose` closes it.
    """

    def __init__(
        self,
        *,
        api_id: str,
        api_secret: str,
        base_url: str = DEFAULT_BASE_URL,
        timeout_seconds: float = 20.0,
        client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        for label, value in (("api_id", api_id), ("api_secret", api_secret)):
            # A header httpx cannot encode would raise on every call; the value is not echoed.
            if not _HEADER_VALUE.fullmatch(value):
                raise ValueError(f"the AccuAuth {label} must be printable ASCII without spaces")
        if client is not None and transport is not None:
            raise ValueError("pass an httpx client or a transport, not both")
        self._base_url = base_url.rstrip("/")
        self._headers = {"X-DF-API-ID": api_id, "X-DF-API-SECRET": api_secret}
        self._owns_client = client is None
        self._client = client or httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_seconds), transport=transport
        )

    def __repr__(self) -> str:
        return f"AccuAuthProvider(base_url={self._base_url!r})"

    @property
    def name(self) -> str:
        """Recorded in flow events and log lines."""
        return "accuauth"

    async def request_otp(self, aadhaar: AadhaarNumber) -> OtpRequestAnswer:
        """Ask AccuAuth to send an OTP. Never retried: a retry could send a second SMS."""
        answer = await self._post(Endpoint.SEND_OTP, {"aadhaar_no": aadhaar.reveal()})
        event = interpret(Endpoint.SEND_OTP, answer)
        self._log(Endpoint.SEND_OTP, answer, event)
        return event

    async def verify_otp(self, reference: str, otp: Otp) -> OtpVerifyAnswer:
        """Validate `otp` for the client_id `reference` and read the e-KYC fields kept."""
        payload = {"client_id": reference, "otp_code": otp.reveal()}
        answer = await self._post(Endpoint.VALIDATE_OTP, payload)
        event = interpret(Endpoint.VALIDATE_OTP, answer)
        self._log(Endpoint.VALIDATE_OTP, answer, event)
        return event

    async def aclose(self) -> None:
        """Close the connections of the client this provider opened."""
        if self._owns_client:
            await self._client.aclose()

    async def _post(self, endpoint: Endpoint, payload: dict[str, str]) -> WireReply | Unanswered:
        # An absolute URL, so an injected client needs no base URL of its own.
        url = self._base_url + _PATHS[endpoint]
        return await post_json(self._client, url, payload=payload, headers=self._headers)

    def _log(
        self,
        endpoint: Endpoint,
        answer: WireReply | Unanswered,
        event: OtpRequestAnswer | OtpVerifyAnswer,
    ) -> None:
        failure = event.failure if isinstance(event, OtpNotSent | OtpNotVerified) else None
        log_call(
            provider=self.name,
            endpoint=endpoint.value,
            answer=answer,
            outcome=failure or ("otp_sent" if isinstance(event, OtpSent) else "verified"),
            request_id=dig(answer.body, "request_id") if isinstance(answer, WireReply) else None,
            level=_LEVELS.get(failure, logging.INFO) if failure else logging.INFO,
        )
        if isinstance(event, OtpNotSent | OtpNotVerified) and failure is F.MISCONFIGURED:
            # The operator has to act: say which setting, on a line of its own.
            log.error("accuauth %s: %s", endpoint.value, event.detail)
