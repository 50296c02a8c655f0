"""The Sandbox client's access token (cached, refreshed, replaced once when rejected), its call
log, and what never reaches a log line, a repr or an event."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Literal

import httpx
import pytest

from flows import AadhaarNumber, KycVerified, Otp, OtpNotSent, OtpNotVerified, OtpSent
from flows import ProviderFailure as F
from kyc.sandbox import SandboxProvider
from tests.kyc.sandbox_wire import (
    API_KEY,
    API_SECRET,
    AUTH,
    GENERATE,
    NUMBER,
    OTP,
    VERIFY,
    Clock,
    Scripted,
    Wire,
    documented_success,
    error,
    generate,
    ok,
    provider_over,
    verify,
)

# --- the access token ----------------------------------------------------------------------------


async def test_one_token_serves_many_calls() -> None:
    sent = ok({"reference_id": 9, "message": "OTP sent successfully"})
    wire = Wire().then(GENERATE, sent, sent).then(VERIFY, documented_success())
    provider = provider_over(wire)
    await provider.request_otp(AadhaarNumber(NUMBER))
    await provider.request_otp(AadhaarNumber(NUMBER))
    await provider.verify_otp("9", Otp(OTP))
    await provider.aclose()
    assert len(wire.to(AUTH)) == 1
    assert [r.headers["authorization"] for r in wire.requests[1:]] == ["tok-1"] * 3


async def test_calls_at_once_wait_for_one_authenticate() -> None:
    wire = Wire().then(
        GENERATE, *[ok({"reference_id": n, "message": "OTP sent successfully"}) for n in range(5)]
    )
    provider = provider_over(wire)
    events = await asyncio.gather(*(provider.request_otp(AadhaarNumber(NUMBER)) for _ in range(5)))
    await provider.aclose()
    assert all(isinstance(event, OtpSent) for event in events)
    assert len(wire.to(AUTH)) == 1


async def test_a_top_level_access_token_is_accepted() -> None:
    token = httpx.Response(200, json={"code": 200, "access_token": "tok-top"})
    wire = Wire().then(AUTH, token).then(VERIFY, documented_success())
    await verify(wire)
    assert wire.to(VERIFY)[0].headers["authorization"] == "tok-top"


async def test_the_token_is_replaced_an_hour_before_it_expires() -> None:
    clock = Clock()
    sent = ok({"reference_id": 9, "message": "OTP sent successfully"})
    wire = Wire().then(GENERATE, sent, sent, sent)
    provider = provider_over(wire, clock=clock)
    await provider.request_otp(AadhaarNumber(NUMBER))
    clock.advance(timedelta(hours=22, minutes=59))
    await provider.request_otp(AadhaarNumber(NUMBER))
    assert len(wire.to(AUTH)) == 1
    clock.advance(timedelta(minutes=2))  # 23 h 01 min old: less than an hour left
    await provider.request_otp(AadhaarNumber(NUMBER))
    await provider.aclose()
    assert len(wire.to(AUTH)) == 2
    assert wire.to(GENERATE)[-1].headers["authorization"] == "tok-2"


async def test_a_rejected_token_is_replaced_and_the_call_made_once_more() -> None:
    sent = ok({"reference_id": 42, "message": "OTP sent successfully"})
    wire = Wire().then(GENERATE, error(401, "Unauthorized"), sent)
    assert await generate(wire) == OtpSent("42")
    assert [r.url.path for r in wire.requests] == [AUTH, GENERATE, AUTH, GENERATE]
    assert [r.headers["authorization"] for r in wire.to(GENERATE)] == ["tok-1", "tok-2"]


async def test_calls_rejected_at_once_share_one_new_token() -> None:
    wire = Wire()

    def expired_first_token(request: httpx.Request) -> httpx.Response:
        if request.url.path != VERIFY:
            return wire(request)
        wire.requests.append(request)
        if request.headers["authorization"] == "tok-1":
            return error(401, "Unauthorized")
        return documented_success()

    provider = provider_over(expired_first_token)
    events = await asyncio.gather(*(provider.verify_otp("1", Otp(OTP)) for _ in range(3)))
    await provider.aclose()
    assert all(isinstance(event, KycVerified) for event in events)
    assert len(wire.to(AUTH)) == 2
    assert 3 < len(wire.to(VERIFY)) <= 6  # how many met the old token depends on timing


@pytest.mark.parametrize(("scheme", "other"), [("raw", "bearer"), ("bearer", "raw")])
@pytest.mark.parametrize("status", [401, 403])
async def test_a_token_rejected_twice_is_misconfigured_and_names_the_scheme(
    scheme: Literal["raw", "bearer"], other: str, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    wire = Wire().then(VERIFY, error(status, "Unauthorized"), error(status, "Unauthorized"))
    event = await verify(wire, scheme=scheme)
    assert isinstance(event, OtpNotVerified)
    assert event.failure is F.MISCONFIGURED
    assert [r.url.path for r in wire.requests] == [AUTH, VERIFY, AUTH, VERIFY]
    [hint] = [record for record in caplog.records if record.name == "kyc.sandbox"]
    assert hint.levelno == logging.ERROR
    assert f"authorization_scheme={scheme}" in hint.getMessage()
    assert f"try authorization_scheme={other}" in hint.getMessage()


@pytest.mark.parametrize("message", ["Insufficient credits", "API quota exceeded for this month"])
async def test_a_quota_message_is_out_of_quota(message: str) -> None:
    wire = Wire().then(GENERATE, error(403, message), error(403, message))
    event = await generate(wire)
    assert isinstance(event, OtpNotSent)
    assert event.failure is F.OUT_OF_QUOTA


@pytest.mark.parametrize(
    ("answer", "failure"),
    [
        (error(401, "Invalid API key or secret"), F.MISCONFIGURED),
        (error(403, "Forbidden"), F.MISCONFIGURED),
        (error(403, "Insufficient credits"), F.OUT_OF_QUOTA),
        (error(503, "Service Unavailable"), F.PROVIDER_DOWN),
        (httpx.Response(502, content=b"<html>502</html>"), F.PROVIDER_DOWN),
        (ok({"note": "no token here"}), F.PROVIDER_DOWN),
        (httpx.ReadTimeout, F.PROVIDER_DOWN),
        (httpx.ConnectError, F.PROVIDER_DOWN),
    ],
)
async def test_a_failed_authenticate_stops_before_the_call(answer: Scripted, failure: F) -> None:
    wire = Wire().then(AUTH, answer)
    event = await generate(wire)
    assert isinstance(event, OtpNotSent)
    assert event.failure is failure
    assert event.detail.startswith("authenticate ")
    assert wire.to(GENERATE) == []


async def test_a_failed_authenticate_is_tried_again_on_the_next_call() -> None:
    wire = Wire().then(AUTH, error(503, "down")).then(VERIFY, documented_success())
    provider = provider_over(wire)
    first = await provider.verify_otp("1", Otp(OTP))
    second = await provider.verify_otp("1", Otp(OTP))
    await provider.aclose()
    assert isinstance(first, OtpNotVerified)
    assert isinstance(second, KycVerified)
    assert len(wire.to(AUTH)) == 2


# --- logs and privacy --------------------------------------------------------------------------


async def test_each_call_is_logged_with_its_endpoint_status_outcome_and_transaction(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    await generate(Wire().then(GENERATE, ok({"message": "Invalid Aadhaar Card"})))
    lines = [record.getMessage() for record in caplog.records if record.name == "kyc.calls"]
    assert lines[0].startswith("provider=sandbox endpoint=authenticate status=200 outcome=token")
    assert lines[1].startswith(
        "provider=sandbox endpoint=generate_otp status=200 outcome=invalid_aadhaar request_id=txn-1"
    )
    assert "latency_ms=" in lines[1]


async def test_no_secret_reaches_a_log_a_repr_or_an_event(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    sent = ok({"reference_id": 77, "message": "OTP sent successfully"})
    wire = (
        Wire()
        .then(GENERATE, error(401, "Unauthorized"), sent, httpx.ReadTimeout)
        .then(VERIFY, ok({"message": "Invalid OTP"}), error(401, "no"), error(401, "no"))
        .then(VERIFY, documented_success())
    )
    provider = provider_over(wire)
    events: list[object] = [
        await provider.request_otp(AadhaarNumber(NUMBER)),
        await provider.request_otp(AadhaarNumber(NUMBER)),
        await provider.verify_otp("77", Otp(OTP)),
        await provider.verify_otp("77", Otp(OTP)),
        await provider.verify_otp("77", Otp(OTP)),
    ]
    await provider.aclose()
    exposed = caplog.text + repr(provider) + "".join(repr(event) for event in events)
    exposed += "".join(getattr(event, "detail", "") for event in events)
    assert "endpoint=verify_otp" in caplog.text
    for secret in (NUMBER, OTP, API_KEY, API_SECRET, *wire.tokens, "John Doe", "Karnataka"):
        assert secret not in exposed


def test_a_credential_that_cannot_be_a_header_is_refused_without_showing_it() -> None:
    with pytest.raises(ValueError, match="api_secret") as raised:
        SandboxProvider(
            base_url="https://test-api.sandbox.co.in",
            api_key=API_KEY,
            api_secret="s3cr3t\nInjected: header",
            reason="Onboarding KYC",
        )
    assert "s3cr3t" not in str(raised.value)
