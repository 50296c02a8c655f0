"""Sandbox.co.in's Aadhaar OKYC API on 127.0.0.1, in its documented format, with faults.

It keeps OTP sessions the way Sandbox does: /authenticate hands out tokens, a generate sends
an OTP (kept in `sent`, standing for the SMS) under an integer `reference_id`, a second
generate for the same number within the cooldown is refused, and a verify answers VALID with
the full e-KYC payload (photo, hashes, share code included, so the client has to drop them).
Faults per endpoint (`faults[endpoint] = Fault...`, until removed): slow answers and timeouts,
500/502/503, 429 with or without Retry-After, bodies that are not the documented JSON, and a
connection reset halfway through the answer. `expire_tokens()` makes every access token issued
so far answer 401 "token expired", as a token running out mid-run does.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import secrets
import socket
import time
import uuid
from dataclasses import dataclass, field
from enum import StrEnum
from types import TracebackType
from typing import Any, Literal

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes import faults as broken
from tests.fakes.telegram_server import LoopbackServer

__all__ = ["API_KEY", "API_SECRET", "PERSON", "FakeSandbox", "Fault", "SentOtp", "closed_port_url"]

API_KEY = "key_test_fake"
API_SECRET = "secret_test_fake"
GENERATED = "OTP sent successfully"
# The e-KYC data the fake returns for every verified OTP, in Sandbox's format.
PERSON: dict[str, Any] = {
    "care_of": "D/O: Ravi Verma",
    "full_address": "12, MG Road, Bengaluru, Karnataka, India",
    "date_of_birth": "21-04-1990",
    "email_hash": "9f2c" * 16,
    "gender": "F",
    "name": "Asha Verma",
    "address": {
        "@entity": "in.co.sandbox.kyc.aadhaar.okyc.address",
        "country": "India",
        "district": "Bengaluru",
        "house": "12",
        "landmark": "",
        "pincode": "560001",
        "post_office": "Bengaluru",
        "state": "Karnataka",
        "street": "MG Road",
        "subdistrict": "",
        "vtc": "Bengaluru",
    },
    "year_of_birth": "1990",
    "mobile_hash": "4e1a" * 16,
    "photo": "data:image/jpeg;base64,/9j/4AAQSkZJRgABAQ==",
    "share_code": "4321",
}


class Fault(StrEnum):
    """How an endpoint misbehaves."""

    SLOW = "slow"  # does its work, then answers after `slow_seconds`
    SERVER_ERROR = "server_error"  # 503 with a JSON body
    MALFORMED = "malformed"  # 200 whose body is not JSON
    HTML_BAD_GATEWAY = "html_bad_gateway"  # a proxy's 502 page
    TIMEOUT = "timeout"  # does its work, then answers after `hang_seconds` (past any timeout)
    INTERNAL_ERROR = "internal_error"  # 500 with a JSON body
    RATE_LIMITED = "rate_limited"  # 429 with Retry-After: `retry_after_seconds`
    RATE_LIMITED_BARE = "rate_limited_bare"  # 429 without Retry-After
    EMPTY = "empty"  # does its work, then answers 200 with no body
    WRONG_SHAPE = "wrong_shape"  # does its work, then answers 200 with JSON of another shape
    RESET = "reset"  # does its work, then drops the connection halfway through the answer


@dataclass(frozen=True)
class SentOtp:
    """The SMS Sandbox would have sent: its reference and the OTP."""

    reference_id: int
    otp: str = field(repr=False)
    last4: str
    sent_at: float = field(repr=False)


@dataclass(frozen=True)
class Call:
    """One request the fake received, by endpoint name; the body stays out of reprs."""

    endpoint: str
    headers: dict[str, str] = field(repr=False)
    body: Any = field(repr=False)


def closed_port_url() -> str:
    """The URL of a port on 127.0.0.1 nothing listens on: connecting is refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


class FakeSandbox:
    """An in-memory Sandbox answering over HTTP on a free loopback port."""

    def __init__(
        self,
        *,
        api_key: str = API_KEY,
        api_secret: str = API_SECRET,
        scheme: Literal["raw", "bearer"] = "raw",
        otp_ttl_seconds: float = 600,
        cooldown_seconds: int = 45,
        slow_seconds: float = 2.0,
        hang_seconds: float = 30.0,
        retry_after_seconds: int = 7,
    ) -> None:
        self.api_key = api_key
        self.api_secret = api_secret
        self.scheme = scheme
        self.otp_ttl_seconds = otp_ttl_seconds
        self.cooldown_seconds = cooldown_seconds
        self.slow_seconds = slow_seconds
        self.hang_seconds = hang_seconds
        self.retry_after_seconds = retry_after_seconds
        self.expired_tokens: set[str] = set()
        self.faults: dict[str, Fault] = {}  # endpoint name -> fault
        self.numbers_without_mobile: set[str] = set()
        self.calls: list[Call] = []
        self.sent: list[SentOtp] = []
        self.tokens: list[str] = []
        self._sessions: dict[int, SentOtp] = {}
        self._last_sent: dict[str, float] = {}  # sha256 of a number -> when
        self._next_reference = 1_234_567
        self._released = asyncio.Event()
        self.app = Starlette(
            routes=[
                Route("/authenticate", self._authenticate, methods=["POST"]),
                Route("/kyc/aadhaar/okyc/otp", self._generate, methods=["POST"]),
                Route("/kyc/aadhaar/okyc/otp/verify", self._verify, methods=["POST"]),
            ]
        )
        self._server = LoopbackServer(self.app, graceful_seconds=1)

    @property
    def url(self) -> str:
        """The base URL to give the client."""
        return self._server.url

    def expire_tokens(self) -> None:
        """Every access token issued so far is refused from now on, as an expired one."""
        self.expired_tokens.update(self.tokens)
        self.tokens.clear()

    def calls_to(self, endpoint: str) -> list[Call]:
        """The requests one endpoint received, oldest first."""
        return [call for call in self.calls if call.endpoint == endpoint]

    async def __aenter__(self) -> FakeSandbox:
        await self._server.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._released.set()  # slow answers finish now, so stopping does not wait for them
        await self._server.stop()

    # -- endpoints ------------------------------------------------------------------------

    async def _authenticate(self, request: Request) -> Response:
        await self._record("authenticate", request)
        early = self._instead("authenticate")
        if early is not None:
            return early
        key, secret = request.headers.get("x-api-key"), request.headers.get("x-api-secret")
        if key != self.api_key or secret != self.api_secret:
            return _answer(401, message="Invalid API key or secret")
        token = f"fake-jwt-{secrets.token_hex(12)}"
        self.tokens.append(token)
        return await self._deliver("authenticate", _answer(200, data={"access_token": token}))

    async def _generate(self, request: Request) -> Response:
        body = await self._record("generate_otp", request)
        refused = self._instead("generate_otp") or self._refused(request)
        if refused is not None:
            return refused
        number = body.get("aadhaar_number") if isinstance(body, dict) else None
        if not isinstance(number, str) or len(number) != 12 or not number.isdigit():
            pattern = _answer(422, message="Invalid Aadhaar number pattern")
            return await self._deliver("generate_otp", pattern)
        return await self._deliver("generate_otp", self._send_otp(number))

    async def _verify(self, request: Request) -> Response:
        body = await self._record("verify_otp", request)
        refused = self._instead("verify_otp") or self._refused(request)
        if refused is not None:
            return refused
        reference = body.get("reference_id") if isinstance(body, dict) else None
        otp = body.get("otp") if isinstance(body, dict) else None
        # Sandbox documents the reference as a string here, though it issued an integer.
        sent = None
        if isinstance(reference, str) and reference.isdigit():
            sent = self._sessions.get(int(reference))
        entity = "in.co.sandbox.kyc.aadhaar.okyc"
        if sent is None:
            answer = _answer(200, data={"@entity": entity, "message": "Invalid Reference Id"})
        elif time.monotonic() - sent.sent_at > self.otp_ttl_seconds:
            answer = _answer(200, data={"@entity": entity, "message": "OTP Expired"})
        elif otp != sent.otp:
            answer = _answer(200, data={"@entity": entity, "message": "Invalid OTP"})
        else:
            del self._sessions[sent.reference_id]
            data = {"@entity": entity, "reference_id": sent.reference_id, "status": "VALID"}
            answer = _answer(200, data={**data, "message": "Aadhaar Card Exists", **PERSON})
        return await self._deliver("verify_otp", answer)

    # -- helpers ----------------------------------------------------------------------------

    async def _record(self, endpoint: str, request: Request) -> Any:
        raw = await request.body()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        self.calls.append(Call(endpoint, dict(request.headers), body))
        return body

    def _refused(self, request: Request) -> Response | None:
        if request.headers.get("x-api-key") != self.api_key:
            return _answer(403, message="Invalid API key")
        expected = {f"Bearer {t}" if self.scheme == "bearer" else t for t in self.tokens}
        given = request.headers.get("authorization") or ""
        if given.removeprefix("Bearer ") in self.expired_tokens:
            return _answer(401, message="Access token expired")
        if given not in expected:
            return _answer(401, message="Unauthorized")
        return None

    def _send_otp(self, number: str) -> JSONResponse:
        entity = "in.co.sandbox.kyc.aadhaar.okyc.otp.response"
        if number in self.numbers_without_mobile:
            message = "Aadhaar number does not have mobile number registered with it"
            return _answer(200, data={"@entity": entity, "message": message})
        digest = hashlib.sha256(number.encode()).hexdigest()
        since = time.monotonic() - self._last_sent.get(digest, -1e9)
        if since < self.cooldown_seconds:
            wait = round(self.cooldown_seconds - since) or 1
            message = f"OTP generated for this aadhaar, please try after {wait} seconds"
            return _answer(200, data={"@entity": entity, "message": message})
        self._last_sent[digest] = time.monotonic()
        otp = f"{secrets.randbelow(10**6):06d}"
        sent = SentOtp(self._next_reference, otp, number[-4:], time.monotonic())
        self._next_reference += 1
        self._sessions[sent.reference_id] = sent
        self.sent.append(sent)
        data = {"@entity": entity, "reference_id": sent.reference_id, "message": GENERATED}
        return _answer(200, data=data)

    def _instead(self, endpoint: str) -> Response | None:
        # Faults that stand in front of Sandbox: the request never reaches its logic.
        fault = self.faults.get(endpoint)
        if fault is Fault.SERVER_ERROR:
            return _answer(503, message="Service Unavailable")
        if fault is Fault.HTML_BAD_GATEWAY:
            page = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
            return Response(page, 502, media_type="text/html")
        if fault is Fault.INTERNAL_ERROR:
            return _answer(500, message="Internal Server Error")
        if fault in (Fault.RATE_LIMITED, Fault.RATE_LIMITED_BARE):
            wait = self.retry_after_seconds if fault is Fault.RATE_LIMITED else None
            body = {"code": 429, "message": "Too Many Requests"}
            return broken.too_many_requests(body, wait)
        return None

    async def _deliver(self, endpoint: str, answer: Response) -> Response:
        # Faults after the work is done: an OTP may well have been sent.
        fault = self.faults.get(endpoint)
        if fault is Fault.SLOW:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._released.wait(), self.slow_seconds)
        elif fault is Fault.MALFORMED:
            cut = b'{"code": 200, "data": {"message": "OTP sent'
            return Response(cut, 200, media_type="application/json")
        elif fault is Fault.TIMEOUT:
            await broken.hold(self._released, self.hang_seconds)
        elif fault in (Fault.EMPTY, Fault.WRONG_SHAPE):
            body = broken.EMPTY_BODY if fault is Fault.EMPTY else broken.WRONG_SHAPE
            return Response(body, 200, media_type="application/json")
        elif fault is Fault.RESET:
            return broken.BrokenAnswer()
        return answer


def _answer(status: int, **fields: Any) -> JSONResponse:
    stamp = int(time.time() * 1000)
    body = {"code": status, "timestamp": stamp, "transaction_id": str(uuid.uuid4())}
    return JSONResponse({**body, **fields}, status_code=status)
