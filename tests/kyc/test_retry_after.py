"""A 429's Retry-After header reaches the user as the wait, through both OTP clients."""

from __future__ import annotations

import httpx
import pytest

from flows import OtpNotSent, OtpNotVerified
from flows import ProviderFailure as F
from kyc import accuauth_answers, sandbox_answers
from kyc.wire import WireReply, post_json


async def _reply(headers: dict[str, str]) -> WireReply:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, json={"message": "Too Many Requests"}, headers=headers)

    transport = httpx.MockTransport(answer)
    async with httpx.AsyncClient(base_url="https://provider.test", transport=transport) as client:
        reply = await post_json(client, "/x", payload={}, headers={})
    assert isinstance(reply, WireReply)
    return reply


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("7", 7),
        (" 30 ", 30),
        ("999999999", 86_400),  # a broken header is capped at a day
        ("Wed, 21 Oct 2026 07:28:00 GMT", None),  # a date would tie us to their clock
        ("-5", None),
        ("", None),
    ],
)
async def test_retry_after_is_read_as_seconds(header: str, seconds: int | None) -> None:
    reply = await _reply({"retry-after": header})
    assert reply.retry_after_seconds == seconds


async def test_no_retry_after_header_gives_no_wait() -> None:
    assert (await _reply({})).retry_after_seconds is None


def test_sandbox_passes_the_wait_on() -> None:
    reply = WireReply(429, {"message": "Too Many Requests"}, 3, retry_after_seconds=7)
    for endpoint in (sandbox_answers.Endpoint.GENERATE_OTP, sandbox_answers.Endpoint.VERIFY_OTP):
        outcome = sandbox_answers.interpret(endpoint, reply)
        assert outcome == sandbox_answers.Refusal(F.RATE_LIMITED, "http 429: too many requests", 7)


def test_sandbox_prefers_the_wait_its_message_names() -> None:
    body = {"message": "Too many requests, please try after 20 seconds"}
    reply = WireReply(429, body, 3, retry_after_seconds=7)
    outcome = sandbox_answers.interpret(sandbox_answers.Endpoint.GENERATE_OTP, reply)
    assert isinstance(outcome, sandbox_answers.Refusal)
    assert outcome.retry_after_seconds == 20


@pytest.mark.parametrize("code", ["RATE_LIMIT_EXCEEDED", None])
def test_accuauth_passes_the_wait_on(code: str | None) -> None:
    body = {"status": code, "reason": "slow down"} if code else {}
    reply = WireReply(429, body, 3, retry_after_seconds=7)
    sent = accuauth_answers.interpret(accuauth_answers.Endpoint.SEND_OTP, reply)
    checked = accuauth_answers.interpret(accuauth_answers.Endpoint.VALIDATE_OTP, reply)
    for event in (sent, checked):
        assert isinstance(event, OtpNotSent | OtpNotVerified)
        assert (event.failure, event.retry_after_seconds) == (F.RATE_LIMITED, 7)


def test_a_wait_on_another_failure_is_not_passed_on() -> None:
    reply = WireReply(503, {"status": "SOURCE_SERVICE_UNAVAILABLE"}, 3, retry_after_seconds=7)
    event = accuauth_answers.interpret(accuauth_answers.Endpoint.SEND_OTP, reply)
    assert isinstance(event, OtpNotSent)
    assert (event.failure, event.retry_after_seconds) == (F.PROVIDER_DOWN, None)
