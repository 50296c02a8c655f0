"""The Sandbox client over httpx.MockTransport: the requests it sends and every documented
answer, including the ones that are not answers at all."""

from __future__ import annotations

import json
from datetime import date
from typing import Literal

import httpx
import pytest

from flows import AadhaarNumber, KycData, KycVerified, OtpNotSent, OtpNotVerified, OtpSent
from flows import ProviderFailure as F
from kyc.sandbox import SandboxProvider
from tests.kyc.sandbox_wire import (
    API_KEY,
    API_SECRET,
    GENERATE,
    NUMBER,
    OTP,
    VERIFY,
    Wire,
    documented_success,
    error,
    generate,
    ok,
    verify,
)

# --- the requests ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scheme", "authorization"), [("raw", "tok-1"), ("bearer", "Bearer tok-1")]
)
async def test_generate_sends_the_documented_request(
    scheme: Literal["raw", "bearer"], authorization: str
) -> None:
    wire = Wire().then(GENERATE, ok({"reference_id": 1234567, "message": "OTP sent successfully"}))
    assert await generate(wire, scheme=scheme) == OtpSent("1234567")

    [login, call] = wire.requests
    assert (login.method, str(login.url)) == ("POST", "https://test-api.sandbox.co.in/authenticate")
    assert login.headers["x-api-key"] == API_KEY
    assert login.headers["x-api-secret"] == API_SECRET
    assert login.headers["x-api-version"] == "1.0.0"
    assert "authorization" not in login.headers
    assert (call.method, call.url.path) == ("POST", GENERATE)
    assert call.headers["authorization"] == authorization
    assert call.headers["x-api-key"] == API_KEY
    assert call.headers["x-api-version"] == "1.0.0"
    assert call.headers["content-type"] == "application/json"
    assert "x-api-secret" not in call.headers
    assert json.loads(call.content) == {
        "@entity": "in.co.sandbox.kyc.aadhaar.okyc.otp.request",
        "aadhaar_number": NUMBER,
        "consent": "Y",
        "reason": "Onboarding KYC",
    }


@pytest.mark.parametrize(
    ("scheme", "authorization"), [("raw", "tok-1"), ("bearer", "Bearer tok-1")]
)
async def test_verify_sends_the_documented_request(
    scheme: Literal["raw", "bearer"], authorization: str
) -> None:
    wire = Wire().then(VERIFY, documented_success())
    assert isinstance(await verify(wire, scheme=scheme), KycVerified)

    [_, call] = wire.requests
    assert (call.method, call.url.path) == ("POST", VERIFY)
    assert call.headers["authorization"] == authorization
    assert call.headers["x-api-key"] == API_KEY
    assert json.loads(call.content) == {
        "@entity": "in.co.sandbox.kyc.aadhaar.okyc.request",
        "reference_id": "1234567",
        "otp": OTP,
    }


async def test_no_version_header_when_none_is_set() -> None:
    wire = Wire().then(GENERATE, ok({"reference_id": 7, "message": "OTP sent successfully"}))
    await generate(wire, version=None)
    assert all("x-api-version" not in request.headers for request in wire.requests)


async def test_the_production_host_is_only_a_base_url() -> None:
    wire = Wire().then(GENERATE, ok({"reference_id": 7, "message": "OTP sent successfully"}))
    provider = SandboxProvider(
        base_url="https://api.sandbox.co.in",
        api_key=API_KEY,
        api_secret=API_SECRET,
        api_version=None,
        reason="Onboarding KYC",
        transport=httpx.MockTransport(wire),
    )
    assert provider.name == "sandbox"
    assert await provider.request_otp(AadhaarNumber(NUMBER)) == OtpSent("7")
    await provider.aclose()
    assert {request.url.host for request in wire.requests} == {"api.sandbox.co.in"}


# --- every documented answer ------------------------------------------------------------------

GENERATE_ANSWERS = [
    pytest.param(
        ok({"reference_id": 1, "message": " otp SENT successfully "}), None, None, id="ok"
    ),
    pytest.param(
        ok({"reference_id": 1234567, "message": "Invalid Aadhaar Card"}),
        F.INVALID_AADHAAR,
        None,
        id="invalid-card-with-reference",
    ),
    pytest.param(
        ok({"message": "Aadhaar number does not have mobile number registered with it"}),
        F.NO_MOBILE_LINKED,
        None,
        id="no-mobile-registered",
    ),
    pytest.param(
        ok({"message": "Mobile number not linked with this Aadhaar"}),
        F.NO_MOBILE_LINKED,
        None,
        id="mobile-not-linked",
    ),
    pytest.param(
        ok({"message": "No mobile linked to Aadhaar"}), F.NO_MOBILE_LINKED, None, id="no-mobile"
    ),
    pytest.param(
        ok({"message": "OTP generated for this aadhaar, please try after 45 seconds"}),
        F.RATE_LIMITED,
        45,
        id="cooldown-45",
    ),
    pytest.param(
        ok({"message": "OTP generated for this aadhaar, please try after 7 seconds"}),
        F.RATE_LIMITED,
        7,
        id="cooldown-7",
    ),
    pytest.param(
        error(422, "Invalid Aadhaar number pattern"), F.INVALID_AADHAAR, None, id="422-pattern"
    ),
    pytest.param(error(429, "Too Many Requests"), F.RATE_LIMITED, None, id="429"),
    pytest.param(error(500, "Internal Server Error"), F.PROVIDER_DOWN, None, id="500"),
    pytest.param(error(502, "Bad Gateway"), F.PROVIDER_DOWN, None, id="502"),
    pytest.param(error(503, "Service Unavailable"), F.PROVIDER_DOWN, None, id="503"),
    pytest.param(error(504, "Gateway Timeout"), F.PROVIDER_DOWN, None, id="504"),
    pytest.param(error(402, "Payment required"), F.OUT_OF_QUOTA, None, id="402"),
    pytest.param(error(404, "Not Found"), F.MISCONFIGURED, None, id="404-wrong-base-url"),
    pytest.param(
        httpx.Response(404, content=b"<html>Not Found</html>"),
        F.MISCONFIGURED,
        None,
        id="404-html-page",
    ),
]


@pytest.mark.parametrize(("answer", "failure", "wait"), GENERATE_ANSWERS)
async def test_generate_answers(
    answer: httpx.Response, failure: F | None, wait: int | None
) -> None:
    event = await generate(Wire().then(GENERATE, answer))
    if failure is None:
        assert event == OtpSent("1")
    else:
        assert isinstance(event, OtpNotSent)
        assert (event.failure, event.retry_after_seconds) == (failure, wait)
        assert event.detail.startswith(f"http {answer.status_code}")


VERIFY_ANSWERS = [
    pytest.param(ok({"message": "Invalid OTP"}), F.WRONG_OTP, None, id="invalid-otp"),
    pytest.param(ok({"message": "OTP Expired"}), F.OTP_EXPIRED, None, id="expired"),
    pytest.param(ok({"message": "otp expired"}), F.OTP_EXPIRED, None, id="expired-lower"),
    pytest.param(
        ok({"message": "Invalid Reference Id"}), F.SESSION_INVALID, None, id="bad-reference"
    ),
    pytest.param(
        ok({"message": "Request under process, please try after 30 seconds"}),
        F.IN_PROGRESS,
        30,
        id="under-process",
    ),
    pytest.param(error(429, "Too Many Requests"), F.RATE_LIMITED, None, id="429"),
    pytest.param(error(500, "Internal Server Error"), F.PROVIDER_DOWN, None, id="500"),
    pytest.param(error(503, "Service Unavailable"), F.PROVIDER_DOWN, None, id="503"),
    pytest.param(error(504, "Gateway Timeout"), F.PROVIDER_DOWN, None, id="504"),
    pytest.param(ok({"status": "INVALID"}), F.PROVIDER_DOWN, None, id="unknown-status"),
]


@pytest.mark.parametrize(("answer", "failure", "wait"), VERIFY_ANSWERS)
async def test_verify_answers(answer: httpx.Response, failure: F, wait: int | None) -> None:
    event = await verify(Wire().then(VERIFY, answer))
    assert isinstance(event, OtpNotVerified)
    assert (event.failure, event.retry_after_seconds) == (failure, wait)


async def test_a_valid_answer_keeps_only_the_record_fields() -> None:
    event = await verify(Wire().then(VERIFY, documented_success()))
    assert event == KycVerified(
        KycData(
            name="John Doe",
            date_of_birth=date(1985, 4, 21),
            year_of_birth=1985,
            gender="M",
            address="Mangal Kanaka Niwas, Main Cross 3rd, Bengaluru, India",
            state="Karnataka",
        )
    )
    kept = json.dumps([str(value) for value in vars(event.data).values()])
    for dropped in ("S/O", "044917e2", "base64", "share_code", "1234567"):
        assert dropped not in kept


async def test_the_details_name_the_answer_not_the_body() -> None:
    event = await generate(Wire().then(GENERATE, ok({"message": "Invalid Aadhaar Card"})))
    assert isinstance(event, OtpNotSent)
    assert event.detail == "http 200: invalid aadhaar"


# --- what is not an answer ---------------------------------------------------------------------

BROKEN = [
    pytest.param(httpx.Response(200, content=b'{"code": 200, "data": {'), id="malformed-json"),
    pytest.param(
        httpx.Response(502, content=b"<html><h1>502 Bad Gateway</h1></html>"), id="html-502"
    ),
    pytest.param(httpx.Response(200, json=[{"message": "OTP sent successfully"}]), id="list"),
    pytest.param(httpx.Response(200, json={"code": 200}), id="no-data"),
    pytest.param(httpx.Response(200, json={"data": "OTP sent successfully"}), id="data-text"),
    pytest.param(ok({"reference_id": 5, "message": 200}), id="message-not-text"),
    pytest.param(httpx.Response(200, content=b""), id="empty"),
]


@pytest.mark.parametrize("answer", BROKEN)
async def test_a_broken_generate_answer_is_provider_down(answer: httpx.Response) -> None:
    event = await generate(Wire().then(GENERATE, answer))
    assert isinstance(event, OtpNotSent)
    # A 200 that cannot be read may be "OTP sent" cut short: never a free retry.
    unread = answer.status_code == 200
    assert event.failure is (F.UNCERTAIN if unread else F.PROVIDER_DOWN)
    assert event.detail.startswith(f"http {answer.status_code}")
    if answer.status_code == 200:
        assert "JSON object" in event.detail or "unexpected answer shape" in event.detail


@pytest.mark.parametrize("answer", BROKEN)
async def test_a_broken_verify_answer_is_provider_down(answer: httpx.Response) -> None:
    event = await verify(Wire().then(VERIFY, answer))
    assert isinstance(event, OtpNotVerified)
    assert event.failure is F.PROVIDER_DOWN


@pytest.mark.parametrize("reference", [None, "abc", 12.5, True, {"id": 1}])
async def test_sent_without_a_usable_reference_is_uncertain(reference: object) -> None:
    # Sandbox says the SMS went out, so an OTP is on its way even though it cannot be verified.
    answer = ok({"reference_id": reference, "message": "OTP sent successfully"})
    event = await generate(Wire().then(GENERATE, answer))
    assert isinstance(event, OtpNotSent)
    assert event.failure is F.UNCERTAIN


@pytest.mark.parametrize(
    "fault", [httpx.ReadTimeout, httpx.WriteTimeout, httpx.RemoteProtocolError]
)
async def test_a_generate_without_an_answer_is_uncertain_and_not_repeated(
    fault: type[httpx.TransportError],
) -> None:
    wire = Wire().then(GENERATE, fault)
    event = await generate(wire)
    assert isinstance(event, OtpNotSent)
    assert event.failure is F.UNCERTAIN
    assert len(wire.to(GENERATE)) == 1


@pytest.mark.parametrize("fault", [httpx.ConnectError, httpx.ConnectTimeout])
async def test_a_generate_that_never_connected_is_provider_down(
    fault: type[httpx.TransportError],
) -> None:
    event = await generate(Wire().then(GENERATE, fault))
    assert isinstance(event, OtpNotSent)
    assert event.failure is F.PROVIDER_DOWN


@pytest.mark.parametrize("fault", [httpx.ReadTimeout, httpx.ConnectError, httpx.ReadError])
async def test_a_verify_without_an_answer_is_provider_down(
    fault: type[httpx.TransportError],
) -> None:
    wire = Wire().then(VERIFY, fault)
    event = await verify(wire)
    assert isinstance(event, OtpNotVerified)
    assert event.failure is F.PROVIDER_DOWN
    assert len(wire.to(VERIFY)) == 1
