"""`kyc.sandbox_answers.interpret` alone: the one mapping from Sandbox's answers, without I/O."""

from __future__ import annotations

from datetime import date

import pytest

from flows import KycData, KycVerified, OtpSent
from flows import ProviderFailure as F
from kyc.sandbox_answers import AccessToken, Endpoint, Refusal, interpret
from kyc.wire import NoAnswer, Unanswered, WireReply


def reply(status: int, body: dict[str, object] | None) -> WireReply:
    return WireReply(status=status, body=body, latency_ms=3)


def data(**fields: object) -> dict[str, object]:
    return {"code": 200, "transaction_id": "t", "data": fields}


def person(**fields: object) -> KycData:
    event = interpret(Endpoint.VERIFY_OTP, reply(200, data(status="VALID", **fields)))
    assert isinstance(event, KycVerified)
    return event.data


@pytest.mark.parametrize(
    ("reason", "endpoint", "failure"),
    [
        (NoAnswer.TIMEOUT, Endpoint.GENERATE_OTP, F.UNCERTAIN),
        (NoAnswer.BROKEN, Endpoint.GENERATE_OTP, F.UNCERTAIN),
        (NoAnswer.CONNECT_FAILED, Endpoint.GENERATE_OTP, F.PROVIDER_DOWN),
        (NoAnswer.TIMEOUT, Endpoint.VERIFY_OTP, F.PROVIDER_DOWN),
        (NoAnswer.BROKEN, Endpoint.VERIFY_OTP, F.PROVIDER_DOWN),
        (NoAnswer.TIMEOUT, Endpoint.AUTHENTICATE, F.PROVIDER_DOWN),
    ],
)
def test_no_answer(reason: NoAnswer, endpoint: Endpoint, failure: F) -> None:
    outcome = interpret(endpoint, Unanswered(reason, latency_ms=200))
    assert isinstance(outcome, Refusal)
    assert outcome.failure is failure


def test_a_token_in_either_place_and_never_in_a_repr() -> None:
    nested = interpret(Endpoint.AUTHENTICATE, reply(200, data(access_token="jwt.a.b")))
    top = interpret(Endpoint.AUTHENTICATE, reply(200, {"access_token": "jwt.c.d"}))
    assert (nested, top) == (AccessToken("jwt.a.b"), AccessToken("jwt.c.d"))
    assert "jwt" not in repr(nested)


def test_authenticate_failures_say_they_were_authenticate() -> None:
    assert interpret(Endpoint.AUTHENTICATE, reply(401, {"message": "bad key"})) == Refusal(
        F.MISCONFIGURED, "authenticate http 401: credentials or access token rejected"
    )


def test_the_wait_is_read_in_seconds_or_minutes() -> None:
    def wait(message: str) -> int | None:
        outcome = interpret(Endpoint.GENERATE_OTP, reply(200, data(message=message)))
        assert isinstance(outcome, Refusal)
        return outcome.retry_after_seconds

    assert wait("OTP generated for this aadhaar, please try after 45 seconds") == 45
    assert wait("OTP generated for this aadhaar, please try after 120 seconds") == 120
    assert wait("Please try again after 2 minutes") == 120
    assert wait("Please try after some time") is None


def test_a_rate_limit_status_reads_its_wait_too() -> None:
    outcome = interpret(Endpoint.VERIFY_OTP, reply(429, {"message": "Retry after 10 seconds"}))
    assert outcome == Refusal(F.RATE_LIMITED, "http 429: too many requests", 10)


def test_success_needs_a_success_status() -> None:
    sent = data(reference_id=5, message="OTP sent successfully")
    as_text = data(reference_id="6", message="OTP sent successfully")
    assert interpret(Endpoint.GENERATE_OTP, reply(200, sent)) == OtpSent("5")
    assert interpret(Endpoint.GENERATE_OTP, reply(200, as_text)) == OtpSent("6")
    outcome = interpret(Endpoint.GENERATE_OTP, reply(400, sent))
    assert isinstance(outcome, Refusal)
    assert outcome.failure is F.MISCONFIGURED


def test_an_otp_message_means_nothing_on_generate() -> None:
    # "Invalid OTP" belongs to verify; on generate it is an answer nobody expects.
    outcome = interpret(Endpoint.GENERATE_OTP, reply(200, data(message="Invalid OTP")))
    assert outcome == Refusal(F.PROVIDER_DOWN, "http 200: unexpected message")


def test_a_request_timeout_status_is_the_provider_not_us() -> None:
    outcome = interpret(Endpoint.VERIFY_OTP, reply(408, {"message": "Request Timeout"}))
    assert isinstance(outcome, Refusal)
    assert outcome.failure is F.PROVIDER_DOWN


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("21-04-1985", date(1985, 4, 21)),
        ("1985-04-21", date(1985, 4, 21)),
        ("21/04/1985", date(1985, 4, 21)),
        ("31-02-1985", None),
        ("April 1985", None),
        ("", None),
        (19850421, None),
        (None, None),
    ],
)
def test_the_date_of_birth(written: object, expected: date | None) -> None:
    assert person(date_of_birth=written).date_of_birth == expected


def test_the_year_of_birth_from_its_field_or_from_the_date() -> None:
    assert person(year_of_birth="1985").year_of_birth == 1985
    assert person(year_of_birth=1985).year_of_birth == 1985
    assert person(date_of_birth="21-04-1985").year_of_birth == 1985
    assert person(year_of_birth="unknown").year_of_birth is None


def test_the_address_is_composed_when_there_is_no_full_address() -> None:
    address = {
        "house": "12",
        "street": "MG Road",
        "landmark": "",
        "vtc": "Bengaluru",
        "post_office": "Bengaluru",
        "district": "bengaluru",
        "state": "Karnataka",
        "pincode": "560001",
        "country": "India",
    }
    record = person(address=address)
    assert record.address == "12, MG Road, Bengaluru, Karnataka, 560001, India"
    assert record.state == "Karnataka"
    assert person(full_address="  ", address=address).address == record.address
    assert person(address="not an object").address is None


def test_a_valid_answer_with_nothing_in_it_is_still_verified() -> None:
    assert person() == KycData()
    lower = interpret(Endpoint.VERIFY_OTP, reply(200, data(status=" valid ")))
    assert isinstance(lower, KycVerified)
