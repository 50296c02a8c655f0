"""The Aadhaar number and the OTP never show up in a text form, a repr or a pickle."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from datetime import UTC, date, datetime

import pytest
from hypothesis import given, settings

from flows import (
    AadhaarNumber,
    KycData,
    KycVerified,
    Otp,
    OtpSent,
    RequestOtp,
    Session,
    State,
    TextSent,
    VerifiedRecord,
    VerifyOtp,
)
from tests.aadhaar_numbers import make_aadhaar, valid_aadhaar_numbers

NUMBER = make_aadhaar("73920418655")
OTP = "482916"
REFERENCE = "otp-session-90f1c27d"


def text_forms(value: object) -> list[str]:
    """Every way a value usually turns into text: logs, f-strings, %-formatting, exceptions."""
    return [repr(value), str(value), f"{value}", f"{value!r}", "%s" % (value,), format(value, "")]  # noqa: UP031


def digits_in(text: str) -> str:
    return "".join(char for char in text if char.isdigit())


@pytest.mark.parametrize("form", range(6))
def test_aadhaar_text_forms_show_only_the_masked_number(form: int) -> None:
    text = text_forms(AadhaarNumber(NUMBER))[form]

    assert NUMBER not in text
    assert NUMBER[:8] not in text
    assert "XXXX XXXX " + NUMBER[8:] in text
    assert digits_in(text) == NUMBER[8:]


@settings(max_examples=200)
@given(valid_aadhaar_numbers())
def test_no_aadhaar_text_form_holds_more_than_the_last_four_digits(number: str) -> None:
    for text in text_forms(AadhaarNumber(number)):
        assert digits_in(text) == number[8:]


@pytest.mark.parametrize("form", range(6))
def test_otp_text_forms_show_no_digit(form: int) -> None:
    text = text_forms(Otp(OTP))[form]

    assert digits_in(text) == ""


@pytest.mark.parametrize(
    ("make", "bad"),
    [
        pytest.param(AadhaarNumber, NUMBER[:11], id="aadhaar-11-digits"),
        pytest.param(AadhaarNumber, NUMBER + "0", id="aadhaar-13-digits"),
        pytest.param(AadhaarNumber, "२" * 12, id="aadhaar-not-ascii"),
        pytest.param(AadhaarNumber, NUMBER[:6] + " " + NUMBER[7:], id="aadhaar-with-space"),
        pytest.param(Otp, OTP[:5], id="otp-5-digits"),
        pytest.param(Otp, OTP + "1", id="otp-7-digits"),
        pytest.param(Otp, "४८२९१६", id="otp-not-ascii"),
    ],
)
def test_construction_errors_do_not_echo_the_input(make: Callable[[str], object], bad: str) -> None:
    with pytest.raises(ValueError, match="digits") as raised:
        make(bad)

    assert bad not in str(raised.value)
    assert bad not in repr(raised.value)


def test_equality_and_hashing_compare_the_digits() -> None:
    other = make_aadhaar("84920418655")

    assert AadhaarNumber(NUMBER) == AadhaarNumber(NUMBER)
    assert AadhaarNumber(NUMBER) != AadhaarNumber(other)
    assert len({AadhaarNumber(NUMBER), AadhaarNumber(NUMBER)}) == 1
    assert Otp(OTP) == Otp(OTP)
    assert Otp(OTP) != Otp("000000")
    assert AadhaarNumber(NUMBER) != NUMBER
    assert Otp(OTP) != OTP


def test_text_sent_repr_hides_what_was_typed() -> None:
    for typed in (NUMBER, OTP, f"my number is {NUMBER}"):
        assert digits_in(repr(TextSent(typed))) == ""
        assert typed not in str(TextSent(typed))


def test_otp_sent_repr_hides_the_reference() -> None:
    text = repr(OtpSent(REFERENCE))

    assert REFERENCE not in text
    assert "90f1c27d" not in text


def test_verify_otp_repr_hides_the_reference_and_the_otp() -> None:
    text = repr(VerifyOtp(REFERENCE, Otp(OTP)))

    assert REFERENCE not in text
    assert digits_in(text) == ""


def test_request_otp_repr_shows_only_the_masked_number() -> None:
    assert digits_in(repr(RequestOtp(AadhaarNumber(NUMBER)))) == NUMBER[8:]


def test_session_repr_hides_the_number_and_the_reference() -> None:
    session = Session(state=State.AWAIT_OTP, aadhaar=AadhaarNumber(NUMBER), otp_reference=REFERENCE)

    text = repr(session)

    assert NUMBER[:8] not in text
    assert REFERENCE not in text


def test_kyc_data_and_record_reprs_hide_personal_fields() -> None:
    data = KycData(
        name="Ravi Kumar",
        date_of_birth=date(1990, 5, 17),
        year_of_birth=1990,
        gender="M",
        address="12 MG Road, Bengaluru",
        state="Karnataka",
    )
    record = VerifiedRecord(
        masked_aadhaar="XXXX XXXX 1234",
        verified_at=datetime(2026, 1, 1, tzinfo=UTC),
        name="R*** K****",
        date_of_birth="1990",
        gender="M",
        address="Karnataka",
    )

    for text in (repr(data), repr(KycVerified(data)), repr(record)):
        for secret in ("Ravi", "R*** K****", "1990", "MG Road", "Karnataka"):
            assert secret not in text


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
@pytest.mark.parametrize(
    "secret",
    [
        pytest.param(AadhaarNumber(NUMBER), id="aadhaar"),
        pytest.param(Otp(OTP), id="otp"),
        pytest.param(RequestOtp(AadhaarNumber(NUMBER)), id="request-otp"),
        pytest.param(VerifyOtp(REFERENCE, Otp(OTP)), id="verify-otp"),
        pytest.param(Session(aadhaar=AadhaarNumber(NUMBER)), id="session"),
    ],
)
def test_pickling_a_secret_is_refused(secret: object, protocol: int) -> None:
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(secret, protocol=protocol)
