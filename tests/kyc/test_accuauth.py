"""The AccuAuth client over httpx.MockTransport: what it sends, what it makes of each answer,
and what it never lets out (the number, the OTP, the credentials, the photo)."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import date

import httpx
import pytest

from flows import AadhaarNumber, KycVerified, Otp, OtpNotSent, OtpNotVerified, OtpSent
from flows import ProviderFailure as F
from kyc.accuauth import AccuAuthProvider
from kyc.base import KycProvider
from tests.aadhaar_numbers import make_aadhaar
from tests.scenario_tools import spaced

NUMBER = make_aadhaar("23456789012")
OTP = "482913"
API_ID = "acct-7f3a9c"
SECRET = "sk-live-9d8e7f6a5b4c"
BASE = "https://accuauth.test/base"
PHOTO = "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAgGBgcGBQgHBwcJCQgKDBQNDA"
CLIENT_ID = "aadhaar_v2_TmriSoarBhTCxyz"
Answer = Callable[[httpx.Request], httpx.Response]


def reply(http: int = 200, /, **body: object) -> Answer:
    return lambda request: httpx.Response(http, json=body)


def raw(status: int, content: bytes, content_type: str = "text/html") -> Answer:
    return lambda request: httpx.Response(
        status, content=content, headers={"content-type": content_type}
    )


def fail(error: type[httpx.TransportError]) -> Answer:
    def answer(request: httpx.Request) -> httpx.Response:
        raise error("simulated", request=request)

    return answer


SENT = reply(
    request_id="TID8bf47ab6eda64476973cc5f5b6ebf57e",
    result={"client_id": CLIENT_ID, "otp_sent": True, "if_number": True, "valid_aadhaar": True},
    status="OK",
)
EKYC = {
    "client_id": CLIENT_ID,
    "full_name": "Asha Verma",
    "aadhaar_number": NUMBER,
    "masked_aadhaar": f"XXXXXXXX{NUMBER[-4:]}",
    "dob": "21/04/1990",
    "gender": "F",
    "address": {"house": "12", "street": "MG Road", "dist": "Bengaluru", "state": "Karnataka"},
    "zip": "560001",
    "profile_image": PHOTO,
    "photo": PHOTO,
}
VERIFIED = reply(request_id="TID2", result=EKYC, status="OK")


@dataclass
class Wire:
    """The MockTransport handler: records each request, answers with the next `answers`."""

    answers: list[Answer] = field(default_factory=list)
    requests: list[httpx.Request] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.answers.pop(0)(request)

    def body(self, index: int = -1) -> object:
        return json.loads(self.requests[index].content)


@pytest.fixture
def wire() -> Wire:
    return Wire()


@pytest.fixture
async def provider(wire: Wire) -> AsyncIterator[AccuAuthProvider]:
    client = AccuAuthProvider(
        api_id=API_ID, api_secret=SECRET, base_url=BASE + "/", transport=httpx.MockTransport(wire)
    )
    yield client
    await client.aclose()


async def send(provider: KycProvider, wire: Wire, answer: Answer) -> OtpSent | OtpNotSent:
    wire.answers.append(answer)
    return await provider.request_otp(AadhaarNumber(NUMBER))


async def validate(
    provider: AccuAuthProvider, wire: Wire, answer: Answer, otp: str = OTP
) -> KycVerified | OtpNotVerified:
    wire.answers.append(answer)
    return await provider.verify_otp(CLIENT_ID, Otp(otp))


async def test_send_posts_the_number_with_both_headers(
    provider: AccuAuthProvider, wire: Wire
) -> None:
    assert await send(provider, wire, SENT) == OtpSent(CLIENT_ID)
    [request] = wire.requests
    assert (request.method, str(request.url)) == ("POST", f"{BASE}/verify/send_aadhaar_otp")
    assert request.headers["X-DF-API-ID"] == API_ID
    assert request.headers["X-DF-API-SECRET"] == SECRET
    assert request.headers["Content-Type"] == "application/json"
    assert wire.body() == {"aadhaar_no": NUMBER}


async def test_validate_posts_client_id_and_otp_code(
    provider: AccuAuthProvider, wire: Wire
) -> None:
    event = await validate(provider, wire, VERIFIED)
    assert isinstance(event, KycVerified)
    [request] = wire.requests
    assert str(request.url) == f"{BASE}/verify/validate_aadhaar_otp"
    assert (request.headers["X-DF-API-ID"], request.headers["X-DF-API-SECRET"]) == (API_ID, SECRET)
    assert wire.body() == {"client_id": CLIENT_ID, "otp_code": OTP}
    data = event.data
    assert (data.name, data.date_of_birth, data.year_of_birth) == (
        "Asha Verma",
        date(1990, 4, 21),
        1990,
    )
    assert (data.gender, data.state) == ("F", "Karnataka")
    assert data.address == "12, MG Road, Bengaluru, Karnataka, 560001"


async def test_the_number_and_photo_of_an_ekyc_answer_are_dropped(
    provider: AccuAuthProvider, wire: Wire, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    event = await validate(provider, wire, VERIFIED)
    assert isinstance(event, KycVerified)
    kept = " ".join(str(value) for value in vars(event.data).values())
    for dropped in (NUMBER, PHOTO, PHOTO[:16]):
        assert dropped not in kept
        assert dropped not in repr(event)
        assert dropped not in caplog.text


@pytest.mark.parametrize(
    ("status", "code", "failure"),
    [
        (400, "INVALID_ARGUMENT", F.INVALID_AADHAAR),
        (400, "ABNORMAL_BEHAVIOURS_DETECTED", F.RATE_LIMITED),
        (403, "RATE_LIMIT_EXCEEDED", F.RATE_LIMITED),
        (401, "UNAUTHORIZED", F.MISCONFIGURED),
        (401, "KEY_EXPIRED", F.MISCONFIGURED),
        (403, "NO_PERMISSION", F.MISCONFIGURED),
        (404, "NOT_FOUND", F.MISCONFIGURED),
        (403, "OUT_OF_QUOTA", F.OUT_OF_QUOTA),
        (500, "INTERNAL_ERROR", F.PROVIDER_DOWN),
        (512, "SOURCE_SERVICE_UNAVAILABLE", F.PROVIDER_DOWN),
        (513, "SOURCE_SERVICE_TIMEOUT", F.PROVIDER_DOWN),
        (400, "DETECTION_FAILED", F.PROVIDER_DOWN),
        (429, "TOO_MANY_REQUESTS", F.RATE_LIMITED),
    ],
)
async def test_send_errors(
    provider: AccuAuthProvider, wire: Wire, status: int, code: str, failure: F
) -> None:
    answer = reply(status, status=code, reason=f"invalid aadhaar_no {NUMBER}", request_id="TID3")
    event = await send(provider, wire, answer)
    assert isinstance(event, OtpNotSent)
    assert event.failure is failure
    assert event.detail.startswith(f"http {status} {code}")
    assert len(wire.requests) == 1


@pytest.mark.parametrize(
    ("status", "code", "reason", "failure"),
    [
        (400, "INVALID_ARGUMENT", "Invalid OTP", F.WRONG_OTP),
        (400, "INVALID_ARGUMENT", "OTP expired", F.OTP_EXPIRED),
        (400, "INVALID_ARGUMENT", "client_id already used", F.SESSION_INVALID),
        (400, "INVALID_ARGUMENT", "invalid client_id", F.SESSION_INVALID),
        (403, "RATE_LIMIT_EXCEEDED", "", F.RATE_LIMITED),
        (401, "UNAUTHORIZED", "", F.MISCONFIGURED),
        (403, "OUT_OF_QUOTA", "", F.OUT_OF_QUOTA),
        (512, "SOURCE_SERVICE_UNAVAILABLE", "", F.PROVIDER_DOWN),
        (503, "SERVICE_UNAVAILABLE", "", F.PROVIDER_DOWN),
    ],
)
async def test_validate_errors(
    provider: AccuAuthProvider, wire: Wire, status: int, code: str, reason: str, failure: F
) -> None:
    event = await validate(provider, wire, reply(status, status=code, reason=reason))
    assert isinstance(event, OtpNotVerified)
    assert event.failure is failure


@pytest.mark.parametrize(
    ("answer", "detail"),
    [
        (raw(200, b'{"status": "OK", "result": {', "application/json"), "http 200 not a JSON"),
        (raw(502, b"<html><body><h1>502 Bad Gateway</h1></body></html>"), "http 502 not a JSON"),
        (raw(200, b'[{"status": "OK"}]', "application/json"), "http 200 not a JSON object"),
        (raw(200, b""), "http 200 not a JSON object"),
        (reply(200, status="OK"), "http 200 OK without result"),
        (reply(200, request_id="TID4"), "http 200 unrecognised status"),
    ],
)
async def test_malformed_answers_are_the_provider_being_down(
    provider: AccuAuthProvider, wire: Wire, answer: Answer, detail: str
) -> None:
    sent = await send(provider, wire, answer)
    checked = await validate(provider, wire, answer)
    # A success status that cannot be read may have sent the SMS: never a free retry.
    unread = F.UNCERTAIN if detail.startswith("http 200") else F.PROVIDER_DOWN
    for event, failure in ((sent, unread), (checked, F.PROVIDER_DOWN)):
        assert isinstance(event, OtpNotSent | OtpNotVerified)
        assert event.failure is failure
        assert event.detail.startswith(detail)


async def test_validate_ok_without_the_ekyc_fields(provider: AccuAuthProvider, wire: Wire) -> None:
    event = await validate(provider, wire, reply(result={"client_id": CLIENT_ID}, status="OK"))
    assert event == OtpNotVerified(F.PROVIDER_DOWN, detail="http 200 OK without full_name")


@pytest.mark.parametrize(
    "error", [httpx.ReadTimeout, httpx.WriteTimeout, httpx.RemoteProtocolError]
)
async def test_a_send_without_an_answer_is_uncertain_and_never_retried(
    provider: AccuAuthProvider, wire: Wire, error: type[httpx.TransportError]
) -> None:
    event = await send(provider, wire, fail(error))
    assert isinstance(event, OtpNotSent)
    assert event.failure is F.UNCERTAIN
    assert len(wire.requests) == 1


async def test_a_send_that_never_connected_is_the_provider_being_down(
    provider: AccuAuthProvider, wire: Wire
) -> None:
    event = await send(provider, wire, fail(httpx.ConnectError))
    assert event == OtpNotSent(F.PROVIDER_DOWN, detail="no answer: connect_failed")
    assert len(wire.requests) == 1


@pytest.mark.parametrize("error", [httpx.ReadTimeout, httpx.ConnectError, httpx.ReadError])
async def test_a_validate_without_an_answer_is_the_provider_being_down(
    provider: AccuAuthProvider, wire: Wire, error: type[httpx.TransportError]
) -> None:
    event = await validate(provider, wire, fail(error))
    assert isinstance(event, OtpNotVerified)
    assert event.failure is F.PROVIDER_DOWN
    assert len(wire.requests) == 1


async def test_one_log_line_per_call(
    provider: AccuAuthProvider, wire: Wire, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await send(provider, wire, SENT)
    await validate(provider, wire, reply(400, status="INVALID_ARGUMENT", reason="Invalid OTP"))
    await send(provider, wire, fail(httpx.ReadTimeout))
    ours = [r for r in caplog.records if r.name.startswith("kyc")]
    assert [(r.name, r.levelno) for r in ours] == [
        ("kyc.calls", logging.INFO),
        ("kyc.calls", logging.INFO),
        ("kyc.calls", logging.WARNING),
    ]
    first, second, third = (record.getMessage() for record in ours)
    assert first.startswith(
        "provider=accuauth endpoint=send_otp status=200 outcome=otp_sent "
        "request_id=TID8bf47ab6eda64476973cc5f5b6ebf57e latency_ms="
    )
    assert "endpoint=validate_otp status=400 outcome=wrong_otp request_id=- " in second
    assert "endpoint=send_otp status=timeout outcome=uncertain" in third


async def test_misconfiguration_is_logged_as_an_error_naming_the_setting(
    provider: AccuAuthProvider, wire: Wire, caplog: pytest.LogCaptureFixture
) -> None:
    await send(provider, wire, reply(401, status="UNAUTHORIZED", reason="bad key", request_id="T5"))
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 2
    assert "outcome=misconfigured request_id=T5" in errors[0]
    assert errors[1] == (
        "accuauth send_otp: http 401 UNAUTHORIZED: credentials rejected, "
        "check KYCBOT_PROVIDERS__ACCUAUTH__API_ID / API_SECRET"
    )


async def test_nothing_secret_reaches_a_log_an_event_or_a_repr(
    provider: AccuAuthProvider, wire: Wire, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    echo = f"aadhaar_no {NUMBER} otp_code {OTP} key {SECRET}"
    events: list[object] = [
        await send(provider, wire, SENT),
        await send(provider, wire, reply(400, status="INVALID_ARGUMENT", reason=echo)),
        await send(provider, wire, reply(401, status="UNAUTHORIZED", reason=echo)),
        await send(provider, wire, raw(500, echo.encode())),
        await send(provider, wire, reply(200, status=echo, request_id=echo)),
        await send(provider, wire, fail(httpx.ReadTimeout)),
        await validate(provider, wire, VERIFIED),
        await validate(provider, wire, reply(400, status="INVALID_ARGUMENT", reason=echo)),
        await validate(
            provider, wire, reply(400, status="INVALID_ARGUMENT", reason=echo + " expired")
        ),
        await validate(provider, wire, fail(httpx.ReadTimeout)),
    ]
    seen = "\n".join([caplog.text, repr(provider), *(repr(event) for event in events)])
    seen += "\n".join(getattr(event, "detail", "") for event in events)
    for secret in (NUMBER, spaced(NUMBER), OTP, SECRET, API_ID, PHOTO[:16]):
        assert secret not in seen


async def test_an_injected_client_is_used_and_left_open(wire: Wire) -> None:
    async with httpx.AsyncClient(transport=httpx.MockTransport(wire)) as client:
        provider: KycProvider = AccuAuthProvider(
            api_id=API_ID, api_secret=SECRET, base_url=BASE, client=client
        )
        assert provider.name == "accuauth"
        assert await send(provider, wire, SENT) == OtpSent(CLIENT_ID)
        await provider.aclose()
        assert not client.is_closed
    assert str(wire.requests[0].url) == f"{BASE}/verify/send_aadhaar_otp"


class ClosingTransport(httpx.MockTransport):
    """A MockTransport that notes being closed, as the client's aclose closes its transport."""

    closed = False

    async def aclose(self) -> None:
        self.closed = True


async def test_aclose_closes_the_providers_own_client(wire: Wire) -> None:
    transport = ClosingTransport(wire)
    provider = AccuAuthProvider(api_id=API_ID, api_secret=SECRET, transport=transport)
    await provider.aclose()
    assert transport.closed


async def test_the_default_base_url(wire: Wire) -> None:
    provider = AccuAuthProvider(
        api_id=API_ID, api_secret=SECRET, transport=httpx.MockTransport(wire)
    )
    await send(provider, wire, SENT)
    await provider.aclose()
    assert str(wire.requests[0].url) == "https://cloudapi.accuauth.in/verify/send_aadhaar_otp"


@pytest.mark.parametrize(
    ("api_id", "api_secret"), [("", SECRET), (API_ID, ""), (API_ID, "bad\nsecret"), (API_ID, " sk")]
)
def test_unusable_credentials_are_refused_without_being_echoed(
    api_id: str, api_secret: str
) -> None:
    with pytest.raises(ValueError, match="printable ASCII") as refused:
        AccuAuthProvider(api_id=api_id, api_secret=api_secret)
    assert SECRET not in str(refused.value)
    assert API_ID not in str(refused.value)
