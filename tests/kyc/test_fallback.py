"""Providers in order of preference: the next one only when the first cannot take the request."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from flows import AadhaarNumber, KycVerified, Otp, OtpNotSent, OtpNotVerified, OtpSent
from flows import ProviderFailure as F
from kyc import SimulatedSms, SimulatorProvider
from kyc.accuauth import AccuAuthProvider
from kyc.fallback import ProviderChain
from tests.aadhaar_numbers import make_aadhaar

NUMBER = AadhaarNumber(make_aadhaar("34567890123"))
Answer = Callable[[httpx.Request], httpx.Response]


def accuauth(answer: Answer, calls: list[str]) -> AccuAuthProvider:
    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        return answer(request)

    return AccuAuthProvider(
        api_id="id-1", api_secret="secret-1", transport=httpx.MockTransport(handler)
    )


def status(http: int, code: str) -> Answer:
    return lambda request: httpx.Response(http, json={"status": code, "reason": "x"})


def timeout(request: httpx.Request) -> httpx.Response:
    raise httpx.ReadTimeout("simulated", request=request)


class Inbox:
    def __init__(self) -> None:
        self.sms: list[SimulatedSms] = []

    def simulator(self) -> SimulatorProvider:
        return SimulatorProvider(on_sms=self.sms.append)


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        (status(503, "SOURCE_SERVICE_UNAVAILABLE"), F.PROVIDER_DOWN),
        (status(401, "UNAUTHORIZED"), F.MISCONFIGURED),
        (status(403, "OUT_OF_QUOTA"), F.OUT_OF_QUOTA),
    ],
)
async def test_a_provider_that_cannot_take_the_request_hands_it_to_the_next(
    answer: Answer, why: F
) -> None:
    calls: list[str] = []
    inbox = Inbox()
    chain = ProviderChain([accuauth(answer, calls), inbox.simulator()])

    sent = await chain.request_otp(NUMBER)

    assert isinstance(sent, OtpSent)
    assert sent.provider == "simulator"
    assert calls == ["/verify/send_aadhaar_otp"]
    assert sent.reference.startswith("simulator:")
    # The OTP is checked by the provider that sent it, not the first in the order.
    verified = await chain.verify_otp(sent.reference, Otp(inbox.sms[0].otp))
    assert isinstance(verified, KycVerified)
    assert verified.provider == "simulator"
    assert calls == ["/verify/send_aadhaar_otp"]
    await chain.aclose()


@pytest.mark.parametrize(
    ("answer", "failure"),
    [
        (status(400, "INVALID_ARGUMENT"), F.INVALID_AADHAAR),
        (status(403, "RATE_LIMIT_EXCEEDED"), F.RATE_LIMITED),
        # Sent but unanswered: an SMS may be on its way; another provider would send a second.
        (timeout, F.UNCERTAIN),
    ],
)
async def test_an_answer_about_the_number_or_a_possible_sms_is_final(
    answer: Answer, failure: F
) -> None:
    calls: list[str] = []
    inbox = Inbox()
    chain = ProviderChain([accuauth(answer, calls), inbox.simulator()])

    refused = await chain.request_otp(NUMBER)

    assert isinstance(refused, OtpNotSent)
    assert (refused.failure, refused.provider) == (failure, "accuauth")
    assert inbox.sms == []
    await chain.aclose()


async def test_when_every_provider_is_down_the_user_hears_the_last_answer() -> None:
    first: list[str] = []
    second: list[str] = []
    chain = ProviderChain(
        [
            accuauth(status(500, "INTERNAL_ERROR"), first),
            accuauth(status(512, "SOURCE_SERVICE_UNAVAILABLE"), second),
        ]
    )

    refused = await chain.request_otp(NUMBER)

    assert isinstance(refused, OtpNotSent)
    assert refused.failure is F.PROVIDER_DOWN
    assert len(first) == len(second) == 1
    await chain.aclose()


async def test_an_otp_from_a_provider_no_longer_configured_cannot_be_checked() -> None:
    chain = ProviderChain([Inbox().simulator()])

    for reference in ("sandbox:12345", "no-provider-named"):
        answer = await chain.verify_otp(reference, Otp("123456"))
        assert isinstance(answer, OtpNotVerified)
        assert answer.failure is F.SESSION_INVALID


def test_a_chain_needs_a_provider() -> None:
    with pytest.raises(ValueError, match="at least one"):
        ProviderChain([])
