"""A fake AccuAuth on 127.0.0.1 speaking the documented Aadhaar OTP format.

    async with FakeAccuAuth() as fake:
        provider = AccuAuthProvider(api_id=fake.api_id, api_secret=fake.api_secret,
                                    base_url=fake.url, timeout_seconds=0.2)
        sent = await provider.request_otp(AadhaarNumber(number))
        await provider.verify_otp(sent.reference, Otp(fake.last_otp))

It issues a client_id per send, keeps that OTP, validates it once and lets it expire after
`otp_ttl_seconds`; a validate answer carries the full number and a photo, as real e-KYC does.
Fault switches: `fail_next(Fault(...))` (slow answers, 5xx codes, 429 with or without
Retry-After, raw bodies such as malformed JSON or an HTML page, a connection reset halfway
through the answer), `no_mobile` numbers, `expire_otps()`; `closed_port_url()` refuses
connections.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import secrets
import socket
import time
from dataclasses import dataclass, field
from types import TracebackType

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from stdnum.in_ import aadhaar as stdnum_aadhaar

from tests.fakes.faults import BrokenAnswer
from tests.fakes.telegram_server import LoopbackServer

__all__ = [
    "PERSON",
    "SEND_PATH",
    "VALIDATE_PATH",
    "FakeAccuAuth",
    "Fault",
    "Received",
    "closed_port_url",
]

SEND_PATH = "/verify/send_aadhaar_otp"
VALIDATE_PATH = "/verify/validate_aadhaar_otp"
# The e-KYC fields of every synthetic person; the number and the photo are added per answer.
PERSON: dict[str, object] = {
    "full_name": "Asha Verma",
    "dob": "21-04-1990",
    "gender": "F",
    "care_of": "W/O Ravi Verma",
    "address": {
        "house": "12",
        "street": "MG Road",
        "loc": "Shanthala Nagar",
        "vtc": "Bengaluru",
        "dist": "Bengaluru",
        "state": "Karnataka",
        "country": "India",
    },
    "zip": "560001",
    "raw_xml": "https://storage.example/aadhaar.xml",
    "share_code": "1234",
}


@dataclass(frozen=True)
class Fault:
    """What the next call to `path` (or to either path) gets instead of its plain answer.

    `delay_seconds` alone delays the real answer (a send still issues its OTP first, as a
    provider that acts and then stalls); `status` answers that HTTP status with the AccuAuth
    error body `code` (and `retry_after` as a Retry-After header); `raw` answers these bytes
    as they are; `reset` drops the connection halfway through the answer.
    """

    path: str | None = None
    delay_seconds: float = 0.0
    status: int | None = None
    code: str = "INTERNAL_ERROR"
    raw: bytes | None = None
    content_type: str = "application/json"
    retry_after: int | None = None
    reset: bool = False


@dataclass(frozen=True)
class Received:
    """One request as the fake saw it."""

    path: str
    headers: dict[str, str]
    body: object = field(repr=False)


@dataclass
class _OtpSession:
    aadhaar_no: str = field(repr=False)
    otp: str = field(repr=False)
    issued_at: float
    used: bool = False


def closed_port_url() -> str:
    """The URL of a loopback port nothing listens on: connecting is refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def _error(status: int, code: str, reason: str) -> JSONResponse:
    return JSONResponse(
        {"status": code, "reason": reason, "request_id": _request_id()}, status_code=status
    )


def _ok(result: dict[str, object]) -> JSONResponse:
    return JSONResponse({"request_id": _request_id(), "result": result, "status": "OK"})


def _request_id() -> str:
    return "TID" + secrets.token_hex(16)


class FakeAccuAuth:
    """An in-memory AccuAuth served over HTTP on 127.0.0.1."""

    def __init__(self, *, otp_ttl_seconds: float = 600) -> None:
        self.api_id = "fake-api-id"
        self.api_secret = "fake-api-secret-" + secrets.token_hex(8)
        self.otp_ttl_seconds = otp_ttl_seconds
        self.no_mobile: set[str] = set()  # numbers with no linked mobile
        self.received: list[Received] = []
        self.sessions: dict[str, _OtpSession] = {}
        self._faults: list[Fault] = []
        self._released = asyncio.Event()
        self.app = Starlette(
            routes=[
                Route(SEND_PATH, self._send, methods=["POST"]),
                Route(VALIDATE_PATH, self._validate, methods=["POST"]),
            ]
        )
        self._server = LoopbackServer(self.app)

    @property
    def url(self) -> str:
        """The base URL to give the client."""
        return self._server.url

    @property
    def last_otp(self) -> str:
        """The OTP of the latest session: what the user's phone would show."""
        return list(self.sessions.values())[-1].otp

    def calls_to(self, path: str) -> list[Received]:
        """The requests received on `path`, oldest first."""
        return [call for call in self.received if call.path == path]

    def fail_next(self, *faults: Fault) -> None:
        """Answer the next matching calls with these faults, one call each, in order."""
        self._faults.extend(faults)

    def expire_otps(self) -> None:
        """Make every OTP issued so far too old to be validated."""
        for session in self.sessions.values():
            session.issued_at -= self.otp_ttl_seconds

    async def __aenter__(self) -> FakeAccuAuth:
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

    async def _receive(self, request: Request) -> tuple[object, Fault | None]:
        raw = await request.body()
        try:
            body: object = json.loads(raw)
        except ValueError:
            body = None
        headers = {name.lower(): value for name, value in request.headers.items()}
        self.received.append(Received(request.url.path, headers, body))
        fault = next((f for f in self._faults if f.path in (None, request.url.path)), None)
        if fault is not None:
            self._faults.remove(fault)
        return body, fault

    async def _answer(self, answer: Response, fault: Fault | None) -> Response:
        if fault is None:
            return answer
        if fault.delay_seconds:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._released.wait(), fault.delay_seconds)
        if fault.reset:
            return BrokenAnswer()
        if fault.raw is not None:
            return Response(
                fault.raw, status_code=fault.status or 200, media_type=fault.content_type
            )
        if fault.status is not None:
            answer = _error(fault.status, fault.code, "fault injected by the test")
            if fault.retry_after is not None:
                answer.headers["retry-after"] = str(fault.retry_after)
        return answer

    def _authorised(self, request: Request) -> bool:
        return (
            request.headers.get("x-df-api-id") == self.api_id
            and request.headers.get("x-df-api-secret") == self.api_secret
        )

    async def _send(self, request: Request) -> Response:
        body, fault = await self._receive(request)
        return await self._answer(self._send_answer(request, body), fault)

    def _send_answer(self, request: Request, body: object) -> Response:
        if not self._authorised(request):
            return _error(401, "UNAUTHORIZED", "Unauthorized or access is denied")
        number = body.get("aadhaar_no") if isinstance(body, dict) else None
        if not isinstance(number, str) or not stdnum_aadhaar.is_valid(number):
            return _error(400, "INVALID_ARGUMENT", "invalid aadhaar_no")
        if number in self.no_mobile:
            result = {"otp_sent": False, "if_number": False, "valid_aadhaar": True}
            return _ok({**result, "status": "generate_otp_failed"})
        client_id = "aadhaar_v2_" + secrets.token_urlsafe(15)
        otp = f"{secrets.randbelow(1_000_000):06d}"
        self.sessions[client_id] = _OtpSession(number, otp, time.monotonic())
        return _ok(
            {
                "client_id": client_id,
                "otp_sent": True,
                "if_number": True,
                "valid_aadhaar": True,
                "status": "generate_otp_success",
            }
        )

    async def _validate(self, request: Request) -> Response:
        body, fault = await self._receive(request)
        return await self._answer(self._validate_answer(request, body), fault)

    def _validate_answer(self, request: Request, body: object) -> Response:
        if not self._authorised(request):
            return _error(401, "UNAUTHORIZED", "Unauthorized or access is denied")
        fields = body if isinstance(body, dict) else {}
        session = self.sessions.get(str(fields.get("client_id")))
        if session is None:
            return _error(400, "INVALID_ARGUMENT", "invalid client_id")
        if session.used:
            return _error(400, "INVALID_ARGUMENT", "client_id already used")
        if time.monotonic() - session.issued_at >= self.otp_ttl_seconds:
            return _error(400, "INVALID_ARGUMENT", "OTP has expired, generate a new one")
        if fields.get("otp_code") != session.otp:
            return _error(400, "INVALID_ARGUMENT", "Invalid OTP")
        session.used = True
        photo = base64.b64encode(b"\xff\xd8\xff\xe0 synthetic jpeg " + secrets.token_bytes(8))
        return _ok(
            {
                **PERSON,
                "client_id": str(fields.get("client_id")),
                "aadhaar_number": session.aadhaar_no,
                "masked_aadhaar": "XXXXXXXX" + session.aadhaar_no[-4:],
                "profile_image": photo.decode(),
                "has_image": True,
                "status": "success_aadhaar",
            }
        )
