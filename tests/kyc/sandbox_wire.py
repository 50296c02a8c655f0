"""The Sandbox wire as a script for httpx.MockTransport, and answers in Sandbox's format."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import httpx
from pydantic import SecretStr

from flows import AadhaarNumber, KycVerified, Otp, OtpNotSent, OtpNotVerified, OtpSent
from kyc.sandbox import SandboxProvider
from tests.scenario_tools import synthetic_number

AUTH, GENERATE, VERIFY = "/authenticate", "/kyc/aadhaar/okyc/otp", "/kyc/aadhaar/okyc/otp/verify"
API_KEY = "key_live_5f0c1e2d3b4a"
API_SECRET = "secret_live_9a8b7c6d5e4f"
NUMBER = synthetic_number()
OTP = "482913"
# A script entry: an answer, or the transport error the "network" raises instead.
Scripted = httpx.Response | type[httpx.TransportError]


def ok(data: object, *, status: int = 200) -> httpx.Response:
    """An answer in Sandbox's envelope, with `data` inside."""
    body = {"code": status, "timestamp": 1765889766000, "transaction_id": "txn-1", "data": data}
    return httpx.Response(status, json=body)


def error(status: int, message: str) -> httpx.Response:
    """An error answer: Sandbox puts the message at the top level."""
    body = {"code": status, "timestamp": 1765889766000, "transaction_id": "txn-2"}
    return httpx.Response(status, json={**body, "message": message})


@dataclass
class Clock:
    """A clock the test moves by hand."""

    now: datetime = field(default_factory=lambda: datetime(2026, 3, 1, 10, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@dataclass
class Wire:
    """Sandbox as a script: answers per path, oldest first, and every request received.

    /authenticate hands out tok-1, tok-2... when its script is empty.
    """

    script: dict[str, list[Scripted]] = field(
        default_factory=lambda: {AUTH: [], GENERATE: [], VERIFY: []}
    )
    requests: list[httpx.Request] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        queue = self.script[request.url.path]
        if not queue and request.url.path == AUTH:
            self.tokens.append(f"tok-{len(self.tokens) + 1}")
            return ok({"access_token": self.tokens[-1]})
        answer = queue.pop(0)
        if isinstance(answer, httpx.Response):
            return answer
        raise answer("scripted", request=request)

    def to(self, path: str) -> list[httpx.Request]:
        """The requests to one path, oldest first."""
        return [request for request in self.requests if request.url.path == path]

    def then(self, path: str, *answers: Scripted) -> Wire:
        """Queue `answers` for `path`."""
        self.script[path].extend(answers)
        return self


def provider_over(
    wire: Callable[[httpx.Request], httpx.Response],
    *,
    scheme: Literal["raw", "bearer"] = "raw",
    version: str | None = "1.0.0",
    clock: Callable[[], datetime] | None = None,
) -> SandboxProvider:
    """A client on the test host whose network is `wire`."""
    return SandboxProvider(
        base_url="https://test-api.sandbox.co.in",
        api_key=API_KEY,
        api_secret=SecretStr(API_SECRET),
        api_version=version,
        authorization_scheme=scheme,
        reason="Onboarding KYC",
        transport=httpx.MockTransport(wire),
        clock=clock or Clock(),
    )


async def generate(wire: Wire, **options: Any) -> OtpSent | OtpNotSent:
    """One OTP request through a fresh client."""
    provider = provider_over(wire, **options)
    try:
        return await provider.request_otp(AadhaarNumber(NUMBER))
    finally:
        await provider.aclose()


async def verify(wire: Wire, **options: Any) -> KycVerified | OtpNotVerified:
    """One OTP check through a fresh client."""
    provider = provider_over(wire, **options)
    try:
        return await provider.verify_otp("1234567", Otp(OTP))
    finally:
        await provider.aclose()


def documented_success() -> httpx.Response:
    """The verify answer of Sandbox's recipe, with every field it documents."""
    address = {
        "@entity": "in.co.sandbox.kyc.aadhaar.okyc.address",
        "country": "India",
        "district": "Bengaluru",
        "house": "Mangal Kanaka Niwas",
        "landmark": "",
        "pincode": "581615",
        "post_office": "Bengaluru",
        "state": "Karnataka",
        "street": "Main Cross 3rd",
        "subdistrict": "",
        "vtc": "Bengaluru",
    }
    return ok(
        {
            "@entity": "in.co.sandbox.kyc.aadhaar.okyc",
            "reference_id": 1234567,
            "status": "VALID",
            "message": "Aadhaar Card Exists",
            "care_of": "S/O: Johnny Doe",
            "full_address": "Mangal Kanaka Niwas, Main Cross 3rd, Bengaluru, India",
            "date_of_birth": "21-04-1985",
            "email_hash": "044917e2c4c62a439d068d9f71bbde10b1d227a914e",
            "gender": "M",
            "name": "John Doe",
            "address": address,
            "year_of_birth": "1985",
            "mobile_hash": "044917e2c4c62a439d068d9f71bbde10b1d227a914e",
            "photo": "data:image/jpeg;base64,/9j/4AAQSkmj/2Q==",
            "share_code": "1234",
        }
    )
