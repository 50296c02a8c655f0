"""A fake IDTO DigiLocker on 127.0.0.1: consent sessions, a DigiLocker page, reference keys.

    async with FakeIdto() as fake:
        idto = IdtoDigiLocker(api_key=fake.api_key, client_id=fake.client_id,
                              consent_purpose="KYC", base_url=fake.url)
        pkce = new_pkce()
        started = await idto.initiate_session(user_id="u1", redirect_url=BACK, state="s1",
                                              pkce=pkce)
        back = await fake.consent(started.url)  # the user taps "Allow" on DigiLocker
        issued = await idto.get_reference(user_id="u1", code=query(back)["code"],
                                          code_verifier=pkce.code_verifier)

initiate_session checks both headers (IDTO's own 401 body otherwise), the document codes
(3001) and the redirect URL (3002) and keeps the PKCE challenge; its `url` is this fake's
DigiLocker page. `consent(url)` plays the user there: the page answers 302 to
redirect_url?code=...&state=... (error=access_denied instead of a code when refused).
get_reference accepts a code once, within `code_ttl_seconds`, for the user_id it was issued to,
and only with the verifier whose SHA-256 is the challenge. Fault switches:
`fail_next(Fault(...))`: slow answers, any status (401 gives IDTO's text, `code` an IDTO error
code such as 3001), raw bodies such as malformed JSON or an HTML page, a connection reset.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import TracebackType
from urllib.parse import urlencode, urlsplit, urlunsplit

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from tests.fakes.accuauth_server import closed_port_url
from tests.fakes.faults import BrokenAnswer
from tests.fakes.telegram_server import LoopbackServer

__all__ = [
    "AUTHENTICATION_REQUIRED",
    "AUTHORIZE_PATH",
    "DOCUMENT_CODES",
    "INITIATE_PATH",
    "REFERENCE_PATH",
    "DigiLockerSession",
    "FakeIdto",
    "Fault",
    "Received",
    "closed_port_url",
]

INITIATE_PATH = "/verify/digilocker/initiate_session"
REFERENCE_PATH = "/verify/digilocker/get_reference"
AUTHORIZE_PATH = "/digilocker/authorize"
DOCUMENT_CODES = frozenset({"ADHAR", "PANCD", "DRVLC"})
# IDTO's answer to a request without (or with a rejected) credential pair, word for word.
AUTHENTICATION_REQUIRED = (
    "Authentication required. Provide either a valid JWT token, API key + client ID, or SDK token."
)


@dataclass(frozen=True)
class Fault:
    """What the next call to `path` (or to either API path) gets instead of its plain answer.

    `delay_seconds` alone delays the real answer; `status` answers that status (401 with IDTO's
    text, otherwise an error body carrying `code` when given, and `retry_after` as a
    Retry-After header); `raw` answers these bytes; `reset` drops the connection halfway
    through the answer.
    """

    path: str | None = None
    delay_seconds: float = 0.0
    status: int | None = None
    code: int | None = None
    raw: bytes | None = None
    content_type: str = "application/json"
    retry_after: int | None = None
    reset: bool = False


@dataclass(frozen=True)
class Received:
    """One API request as the fake saw it."""

    path: str
    headers: dict[str, str]
    body: object = field(repr=False)


@dataclass
class DigiLockerSession:
    """One initiate_session, and the code DigiLocker issued for it once the user allowed."""

    user_id: str
    redirect_url: str
    state: str = field(repr=False)
    code_challenge: str
    documents: tuple[str, ...]
    code: str | None = field(default=None, repr=False)
    code_issued_at: float = 0.0
    used: bool = False


def _error(status: int, message: str, **extra: object) -> JSONResponse:
    return JSONResponse({"status": "error", "message": message, **extra}, status_code=status)


def _coded(code: int, message: str) -> JSONResponse:
    # FastAPI's HTTPException(detail={...}) shape, as IDTO's 401 `detail` suggests.
    return JSONResponse({"detail": {"code": code, "message": message}}, status_code=400)


def _with_query(url: str, **params: str) -> str:
    parts = urlsplit(url)
    query = "&".join(part for part in (parts.query, urlencode(params)) if part)
    return urlunsplit(parts._replace(query=query))


def _s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class FakeIdto:
    """An in-memory IDTO DigiLocker served over HTTP on 127.0.0.1."""

    def __init__(
        self, *, code_ttl_seconds: float = 600, reference_ttl_seconds: float = 3600
    ) -> None:
        self.api_key = "idto-key-" + secrets.token_hex(8)
        self.client_id = "idto-client-" + secrets.token_hex(4)
        self.code_ttl_seconds = code_ttl_seconds
        self.reference_ttl_seconds = reference_ttl_seconds
        self.received: list[Received] = []
        self.sessions: dict[str, DigiLockerSession] = {}
        self.references: dict[str, DigiLockerSession] = {}
        self._faults: list[Fault] = []
        self._released = asyncio.Event()
        self.app = Starlette(
            routes=[
                Route(INITIATE_PATH, self._initiate, methods=["POST"]),
                Route(REFERENCE_PATH, self._reference, methods=["POST"]),
                Route(AUTHORIZE_PATH, self._authorize, methods=["GET"]),
            ]
        )
        self._server = LoopbackServer(self.app)

    @property
    def url(self) -> str:
        """The base URL to give the client."""
        return self._server.url

    def calls_to(self, path: str) -> list[Received]:
        """The API requests received on `path`, oldest first."""
        return [call for call in self.received if call.path == path]

    def fail_next(self, *faults: Fault) -> None:
        """Answer the next matching calls with these faults, one call each, in order."""
        self._faults.extend(faults)

    def expire_codes(self) -> None:
        """Make every code issued so far too old to be exchanged."""
        for session in self.sessions.values():
            session.code_issued_at -= self.code_ttl_seconds

    async def consent(self, url: str, *, allow: bool = True) -> str:
        """Play the user on the DigiLocker page at `url`; where DigiLocker sends them back to."""
        if not url.startswith(self.url + AUTHORIZE_PATH):
            raise ValueError("not this fake's DigiLocker page")
        decision = "allow" if allow else "deny"
        async with httpx.AsyncClient() as browser:
            page = await browser.get(url)
            assert page.status_code == 200, "the DigiLocker page did not open"
            answer = await browser.get(_with_query(url, decision=decision))
        assert answer.status_code == 302, f"DigiLocker answered {answer.status_code}"
        return answer.headers["location"]

    async def __aenter__(self) -> FakeIdto:
        await self._server.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._released.set()  # slow answers end now, so stopping does not wait for them
        await self._server.stop()

    async def _initiate(self, request: Request) -> Response:
        body, fault = await self._receive(request)
        return await self._answer(self._initiate_answer(request, body), fault)

    async def _reference(self, request: Request) -> Response:
        body, fault = await self._receive(request)
        return await self._answer(self._reference_answer(request, body), fault)

    async def _receive(self, request: Request) -> tuple[dict[str, object], Fault | None]:
        try:
            body: object = json.loads(await request.body())
        except ValueError:
            body = None
        headers = {name.lower(): value for name, value in request.headers.items()}
        self.received.append(Received(request.url.path, headers, body))
        fault = next((f for f in self._faults if f.path in (None, request.url.path)), None)
        if fault is not None:
            self._faults.remove(fault)
        return (body if isinstance(body, dict) else {}), fault

    async def _answer(self, answer: Response, fault: Fault | None) -> Response:
        if fault is None:
            return answer
        if fault.delay_seconds:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._released.wait(), fault.delay_seconds)
        if fault.reset:
            return BrokenAnswer()
        if fault.raw is not None:
            return Response(fault.raw, fault.status or 200, media_type=fault.content_type)
        if fault.status == 401:
            return JSONResponse({"detail": AUTHENTICATION_REQUIRED}, status_code=401)
        if fault.status is not None:
            extra = {} if fault.code is None else {"code": fault.code}
            refused = _error(fault.status, "fault injected by the test", **extra)
            if fault.retry_after is not None:
                refused.headers["retry-after"] = str(fault.retry_after)
            return refused
        return answer

    def _refused(self, request: Request) -> Response | None:
        headers = request.headers
        if (headers.get("x-api-key"), headers.get("x-client-id")) != (self.api_key, self.client_id):
            return JSONResponse({"detail": AUTHENTICATION_REQUIRED}, status_code=401)
        return None

    def _initiate_answer(self, request: Request, body: dict[str, object]) -> Response:
        refused = self._refused(request)
        if refused is not None:
            return refused
        documents = body.get("documents_for_consent")
        if not isinstance(documents, list) or not documents or set(documents) - DOCUMENT_CODES:
            return _coded(3001, "Invalid document codes in documents_for_consent")
        redirect_url = body.get("redirect_url")
        if not isinstance(redirect_url, str) or urlsplit(redirect_url).scheme not in {
            "http",
            "https",
        }:
            return _coded(3002, "redirect_url is required")
        user_id, state = body.get("user_id"), body.get("state")
        challenge = body.get("code_challenge")
        if not (isinstance(user_id, str) and user_id and isinstance(state, str) and state):
            return _error(400, "user_id and state are required")
        if body.get("consent") is not True or not body.get("consent_purpose"):
            return _error(400, "consent and consent_purpose are required")
        if body.get("code_challenge_method") != "S256" or not isinstance(challenge, str):
            return _error(400, "code_challenge with code_challenge_method S256 is required")
        session_id = secrets.token_urlsafe(16)
        self.sessions[session_id] = DigiLockerSession(
            user_id, redirect_url, state, challenge, tuple(str(code) for code in documents)
        )
        page = _with_query(self.url + AUTHORIZE_PATH, session=session_id)
        return JSONResponse({"status": "success", "url": page, "request_id": "idto-req-1"})

    async def _authorize(self, request: Request) -> Response:
        session = self.sessions.get(request.query_params.get("session", ""))
        if session is None:
            return HTMLResponse("<h1>This DigiLocker link has expired</h1>", status_code=404)
        decision = request.query_params.get("decision")
        if decision is None:
            return HTMLResponse(f"<h1>Share {', '.join(session.documents)}?</h1> Allow / Deny")
        if decision != "allow":
            target = _with_query(session.redirect_url, error="access_denied", state=session.state)
            return RedirectResponse(target, status_code=302)
        session.code = secrets.token_urlsafe(24)
        session.code_issued_at = time.monotonic()
        target = _with_query(session.redirect_url, code=session.code, state=session.state)
        return RedirectResponse(target, status_code=302)

    def _reference_answer(self, request: Request, body: dict[str, object]) -> Response:
        refused = self._refused(request)
        if refused is not None:
            return refused
        code, verifier = body.get("code"), body.get("code_verifier")
        found = [s for s in self.sessions.values() if code and s.code == code]
        if not found:
            return _error(400, "Invalid authorization code")
        session = found[0]
        if session.used:
            return _error(400, "Authorization code already used")
        if time.monotonic() - session.code_issued_at >= self.code_ttl_seconds:
            return _error(400, "Authorization code expired")
        if body.get("user_id") != session.user_id:
            return _error(400, "This code was not issued for this user_id")
        if not isinstance(verifier, str) or _s256(verifier) != session.code_challenge:
            message = "code_verifier does not match code_challenge"
            return _error(400, message, error="invalid_grant")
        session.used = True
        reference_key = "rk_" + secrets.token_urlsafe(24)
        self.references[reference_key] = session
        expires = datetime.now(UTC) + timedelta(seconds=self.reference_ttl_seconds)
        return JSONResponse(
            {
                "status": "success",
                "reference_key": reference_key,
                "expires_at": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "request_id": "idto-req-2",
            }
        )
