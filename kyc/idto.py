"""The IDTO DigiLocker client: open a consent session, then trade DigiLocker's code for a key.

Not an OTP provider: the user leaves the chat for a DigiLocker page and comes back to our
redirect URL with `code` and `state`, so this has an interface of its own:

    pkce = new_pkce()  # the verifier is kept with the verification until the user is back
    started = await idto.initiate_session(user_id=..., redirect_url=..., state=..., pkce=pkce)
    # the user approves on started.url; DigiLocker sends them to redirect_url?code=..&state=..
    issued = await idto.get_reference(user_id=..., code=..., code_verifier=pkce.code_verifier)

IDTO publishes no reference for these calls. Known: the path, the `X-API-KEY`/`X-Client-ID`
headers and the initiate body (shared/provider-docs/idto-digilocker-401-report.md). Assumed:
the PKCE fields `code_challenge` and `code_challenge_method` on initiate. `IdtoDigiLocker` only
sends, times and logs; what an answer means is decided by `interpret` in `kyc.idto_answers`.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import httpx
from pydantic import SecretStr

from flows import ProviderFailure as F
from kyc.idto_answers import (
    DigiLockerFailure,
    Endpoint,
    ReferenceAnswer,
    ReferenceIssued,
    SessionAnswer,
    SessionStarted,
    interpret,
)
from kyc.wire import Unanswered, WireReply, dig, log_call, post_json

# The answer types are re-exported: they are what the client's methods return.
__all__ = [
    "DEFAULT_BASE_URL",
    "DigiLockerFailure",
    "IdtoDigiLocker",
    "Pkce",
    "ReferenceIssued",
    "SessionStarted",
    "new_pkce",
]

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://dev.idto.ai"
_ENV = "KYCBOT_PROVIDERS__IDTO__"
# RFC 7636 section 4.1: 43 to 128 characters of ALPHA / DIGIT / "-" / "." / "_" / "~".
_VERIFIER = re.compile(r"[A-Za-z0-9._~-]{43,128}")
_PATHS = {endpoint: f"/verify/digilocker/{endpoint.value}" for endpoint in Endpoint}


@dataclass(frozen=True)
class Pkce:
    """A PKCE pair (RFC 7636, S256); the verifier never shows in a repr."""

    code_verifier: str = field(repr=False)
    code_challenge: str = field(init=False)
    method: Literal["S256"] = field(default="S256", init=False)

    def __post_init__(self) -> None:
        if not _VERIFIER.fullmatch(self.code_verifier):
            raise ValueError("a PKCE code_verifier is 43-128 characters of A-Z a-z 0-9 - . _ ~")
        digest = hashlib.sha256(self.code_verifier.encode("ascii")).digest()
        challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
        object.__setattr__(self, "code_challenge", challenge)  # derived once; frozen after


def new_pkce() -> Pkce:
    """A fresh PKCE pair: an 86-character verifier of 512 random bits."""
    return Pkce(secrets.token_urlsafe(64))


def _credential(name: str, value: str | SecretStr) -> SecretStr:
    secret = value if isinstance(value, SecretStr) else SecretStr(value)
    text = secret.get_secret_value()
    # Named, never echoed; a stray newline from a paste would otherwise be a runtime 401.
    if not text:
        raise ValueError(f"IDTO DigiLocker needs {_ENV}{name}: it is empty")
    if not re.fullmatch(r"[!-~]+", text):
        raise ValueError(f"{_ENV}{name} must be printable ASCII without spaces or newlines")
    return secret


def _echoes(request_id: object, hidden: set[str]) -> bool:
    """Whether a provider's id repeats a code, a key or the state: logging it would leak it."""
    if not isinstance(request_id, str):
        return False
    # Short values (a user id such as "7") would match any id by chance: only equal ones count.
    return any(h == request_id or (len(h) >= 8 and h in request_id) for h in hidden if h)


_LEVELS = {
    F.MISCONFIGURED: logging.ERROR,
    F.PROVIDER_DOWN: logging.WARNING,
    F.RATE_LIMITED: logging.WARNING,
}


class IdtoDigiLocker:
    """IDTO's DigiLocker API on one persistent HTTP client: a session URL, then a reference key.

    Both calls are safe to repeat: neither sends the user anything. `transport` is for tests.
    """

    def __init__(
        self,
        *,
        api_key: str | SecretStr,
        client_id: str | SecretStr,
        consent_purpose: str,
        base_url: str = DEFAULT_BASE_URL,
        documents_for_consent: tuple[str, ...] = ("ADHAR",),
        redirect_to_signup: bool = False,
        timeout_seconds: float = 20.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._api_key = _credential("API_KEY", api_key)
        self._client_id = _credential("CLIENT_ID", client_id)
        if not consent_purpose.strip():
            raise ValueError("the IDTO consent_purpose is empty: DigiLocker shows it to the user")
        if not documents_for_consent or not all(code.strip() for code in documents_for_consent):
            raise ValueError("documents_for_consent must name IDTO document codes, such as ADHAR")
        self._base_url = base_url.rstrip("/")
        self._consent: dict[str, object] = {
            "consent": True,
            "consent_purpose": consent_purpose,
            "redirect_to_signup": redirect_to_signup,
            "documents_for_consent": list(documents_for_consent),
        }
        self._client = httpx.AsyncClient(
            base_url=self._base_url, timeout=timeout_seconds, transport=transport
        )

    def __repr__(self) -> str:
        return f"IdtoDigiLocker(base_url={self._base_url!r})"

    @property
    def name(self) -> str:
        """Recorded in flow events and call logs."""
        return "idto"

    async def initiate_session(
        self, *, user_id: str, redirect_url: str, state: str, pkce: Pkce
    ) -> SessionStarted | DigiLockerFailure:
        """Open a DigiLocker consent session; its `url` is the page to send the user to.

        `user_id` is IDTO's name for our opaque id of this person (no personal data); `state`
        comes back on the redirect and must match before `get_reference` is called."""
        if not state:
            raise ValueError("state must not be empty: it ties the redirect to this session")
        payload = {
            "user_id": user_id,
            **self._consent,
            "redirect_url": redirect_url,
            "state": state,
            "code_challenge": pkce.code_challenge,
            "code_challenge_method": pkce.method,
        }
        answer = await self._post(Endpoint.INITIATE_SESSION, payload)
        outcome = interpret(Endpoint.INITIATE_SESSION, answer)
        secrets_sent = (user_id, state, pkce.code_verifier)
        self._log(Endpoint.INITIATE_SESSION, answer, outcome, "session_started", secrets_sent)
        return outcome

    async def get_reference(
        self, *, user_id: str, code: str, code_verifier: str
    ) -> ReferenceIssued | DigiLockerFailure:
        """Trade the `code` DigiLocker redirected with for a reference key to the documents."""
        payload = {"user_id": user_id, "code": code, "code_verifier": code_verifier}
        answer = await self._post(Endpoint.GET_REFERENCE, payload)
        outcome = interpret(Endpoint.GET_REFERENCE, answer)
        secrets_sent: tuple[str, ...] = (user_id, code, code_verifier)
        if isinstance(outcome, ReferenceIssued):
            secrets_sent += (outcome.reference_key,)
        self._log(Endpoint.GET_REFERENCE, answer, outcome, "reference_issued", secrets_sent)
        return outcome

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._client.aclose()

    async def _post(
        self, endpoint: Endpoint, payload: Mapping[str, object]
    ) -> WireReply | Unanswered:
        headers = {
            "X-API-KEY": self._api_key.get_secret_value(),
            "X-Client-ID": self._client_id.get_secret_value(),
        }
        return await post_json(self._client, _PATHS[endpoint], payload=payload, headers=headers)

    def _log(
        self,
        endpoint: Endpoint,
        answer: WireReply | Unanswered,
        outcome: SessionAnswer | ReferenceAnswer,
        success: str,
        secrets_sent: tuple[str, ...],
    ) -> None:
        failure = outcome.failure if isinstance(outcome, DigiLockerFailure) else None
        body = answer.body if isinstance(answer, WireReply) else None
        ids = (dig(body, *path) for path in (("request_id",), ("transaction_id",)))
        hidden = {*secrets_sent, *(s.get_secret_value() for s in (self._api_key, self._client_id))}
        ids = (found for found in ids if not _echoes(found, hidden))
        log_call(
            provider=self.name,
            endpoint=endpoint.value,
            answer=answer,
            outcome=failure or success,
            request_id=next((found for found in ids if found is not None), None),
            level=_LEVELS.get(failure, logging.INFO) if failure else logging.INFO,
        )
        if isinstance(outcome, DigiLockerFailure) and failure is F.MISCONFIGURED:
            # The operator has to act: say what, on a line of its own.
            log.error("idto %s: %s", endpoint.value, outcome.detail)
