"""Reading typed text as an Aadhaar number or an OTP."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flows import AadhaarNumber, AadhaarProblem, Otp, looks_sensitive, parse_aadhaar, parse_otp
from tests.aadhaar_numbers import (
    DEVANAGARI_DIGITS,
    aadhaar_spellings,
    corrupt_check_digit,
    make_aadhaar,
    make_palindrome,
    spellings,
    valid_aadhaar_numbers,
)

NUMBER = make_aadhaar("52839104766")
PALINDROME = make_palindrome()
P = AadhaarProblem


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        pytest.param("", P.NOT_DIGITS, id="empty"),
        pytest.param("   \n", P.NOT_DIGITS, id="only-whitespace"),
        pytest.param(" - . ", P.NOT_DIGITS, id="only-separators"),
        pytest.param("my aadhaar number", P.NOT_DIGITS, id="words"),
        pytest.param(NUMBER[:11] + "O", P.NOT_DIGITS, id="letter-O-for-zero"),
        pytest.param(f"{NUMBER[:4]}/{NUMBER[4:8]}/{NUMBER[8:]}", P.NOT_DIGITS, id="slashes"),
        pytest.param("+91 " + NUMBER, P.NOT_DIGITS, id="plus-sign"),
        pytest.param(NUMBER[:11] + "²", P.NOT_DIGITS, id="superscript-is-not-a-decimal-digit"),
        pytest.param(NUMBER[:11], P.WRONG_LENGTH, id="11-digits"),
        pytest.param(NUMBER + "7", P.WRONG_LENGTH, id="13-digits"),
        pytest.param(NUMBER[:4], P.WRONG_LENGTH, id="4-digits"),
        pytest.param(NUMBER + "123", P.WRONG_LENGTH, id="15-digits"),
        pytest.param(NUMBER + "12345", P.WRONG_LENGTH, id="17-digits"),
        pytest.param(NUMBER + "1234", P.VIRTUAL_ID, id="16-digit-virtual-id"),
        pytest.param(
            f"{NUMBER[:4]} {NUMBER[4:8]} {NUMBER[8:]} 1234", P.VIRTUAL_ID, id="virtual-id-grouped"
        ),
        pytest.param(make_aadhaar("0" + NUMBER[1:11]), P.BAD_FIRST_DIGIT, id="starts-with-0"),
        pytest.param(make_aadhaar("1" + NUMBER[1:11]), P.BAD_FIRST_DIGIT, id="starts-with-1"),
        pytest.param(corrupt_check_digit(NUMBER), P.BAD_CHECKSUM, id="bad-check-digit"),
        pytest.param(
            NUMBER[:5] + NUMBER[6] + NUMBER[5] + NUMBER[7:], P.BAD_CHECKSUM, id="swapped-digits"
        ),
        pytest.param(PALINDROME, P.BAD_CHECKSUM, id="checksum-valid-palindrome"),
    ],
)
def test_parse_aadhaar_names_the_problem(text: str, problem: AadhaarProblem) -> None:
    assert parse_aadhaar(text) is problem


def test_generated_palindrome_has_a_valid_check_digit() -> None:
    # Otherwise the palindrome case above would pass for the wrong reason.
    assert make_aadhaar(PALINDROME[:11]) == PALINDROME
    assert PALINDROME[::-1] == PALINDROME


def test_without_checksum_validation_a_bad_check_digit_is_accepted() -> None:
    bad = corrupt_check_digit(NUMBER)
    assert parse_aadhaar(bad) is P.BAD_CHECKSUM

    result = parse_aadhaar(bad, validate_checksum=False)

    assert isinstance(result, AadhaarNumber)
    assert result.reveal() == bad


def test_without_checksum_validation_other_rules_still_apply() -> None:
    assert parse_aadhaar("1" + NUMBER[1:], validate_checksum=False) is P.BAD_FIRST_DIGIT
    assert parse_aadhaar(NUMBER[:11], validate_checksum=False) is P.WRONG_LENGTH
    assert parse_aadhaar(NUMBER + "1234", validate_checksum=False) is P.VIRTUAL_ID
    assert parse_aadhaar("twelve digits", validate_checksum=False) is P.NOT_DIGITS


@pytest.mark.parametrize("spelling", spellings(NUMBER))
def test_parse_aadhaar_reads_every_listed_spelling(spelling: str) -> None:
    result = parse_aadhaar(spelling)

    assert isinstance(result, AadhaarNumber)
    assert result.reveal() == NUMBER


def test_parsed_number_is_masked_to_its_last_four_digits() -> None:
    result = parse_aadhaar(" ".join((NUMBER[:4], NUMBER[4:8], NUMBER[8:])))

    assert isinstance(result, AadhaarNumber)
    assert result.masked == f"XXXX XXXX {NUMBER[8:]}"
    assert result.last4 == NUMBER[8:]


@pytest.mark.parametrize(
    "text",
    [
        "482916",
        " 482916 ",
        "482 916",
        "48 29 16",
        "482-916",
        "४८२९१६",
        "٤٨٢٩١٦",
        "４８２９１６",
        "४८२ 916",
    ],
)
def test_parse_otp_accepts_six_digits_in_any_spelling(text: str) -> None:
    assert parse_otp(text) == Otp("482916")


def test_parse_otp_keeps_leading_zeros() -> None:
    otp = parse_otp(DEVANAGARI_DIGITS[0] * 2 + "7341")

    assert otp is not None
    assert otp.reveal() == "007341"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "48291",
        "4829167",
        "48291a",
        "abcdef",
        "482 91",
        "482916.5",
        "OTP 482916",
        "¹²³⁴⁵⁶",
    ],
)
def test_parse_otp_rejects_anything_but_six_digits(text: str) -> None:
    assert parse_otp(text) is None


@pytest.mark.parametrize(
    ("text", "sensitive"),
    [
        ("hello", False),
        ("123", False),
        ("1 2 3", False),
        ("1234", True),
        ("my otp is 48 29", True),
        ("४८२९", True),
        (NUMBER, True),
    ],
)
def test_looks_sensitive_counts_decimal_digits(text: str, sensitive: bool) -> None:
    assert looks_sensitive(text) is sensitive


@settings(max_examples=200)
@given(st.text())
def test_parse_aadhaar_never_raises(text: str) -> None:
    assert isinstance(parse_aadhaar(text), AadhaarNumber | AadhaarProblem)
    assert isinstance(parse_aadhaar(text, validate_checksum=False), AadhaarNumber | AadhaarProblem)


@settings(max_examples=200)
@given(st.text(alphabet=st.sampled_from("0123456789 -.०٣５")))
def test_parse_aadhaar_never_raises_on_digit_soup(text: str) -> None:
    result = parse_aadhaar(text)

    if isinstance(result, AadhaarNumber):
        assert len(result.reveal()) == 12


@settings(max_examples=200)
@given(st.text())
def test_parse_otp_never_raises(text: str) -> None:
    result = parse_otp(text)

    assert result is None or len(result.reveal()) == 6


@settings(max_examples=200)
@given(aadhaar_spellings())
def test_every_valid_number_is_accepted_in_any_allowed_spelling(pair: tuple[str, str]) -> None:
    number, spelling = pair

    result = parse_aadhaar(spelling)

    assert isinstance(result, AadhaarNumber)
    assert result.reveal() == number


@settings(max_examples=200)
@given(valid_aadhaar_numbers(), st.integers(0, 11), st.integers(1, 9))
def test_every_single_digit_change_is_rejected(number: str, position: int, shift: int) -> None:
    changed = str((int(number[position]) + shift) % 10)
    corrupted = number[:position] + changed + number[position + 1 :]

    assert isinstance(parse_aadhaar(corrupted), AadhaarProblem)
