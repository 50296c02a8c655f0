"""Reading what a user typed: an Aadhaar number or an OTP, in any of the spellings people use.

Both parsers are total: any string gives a value or a specific reason, never an exception.
"""

from __future__ import annotations

import unicodedata
from enum import StrEnum

from stdnum import verhoeff
from stdnum.exceptions import ValidationError

from flows.secrets import AadhaarNumber, Otp

__all__ = ["AadhaarProblem", "normalise_digits", "parse_aadhaar", "parse_otp"]

# Spaces (any Unicode space), hyphens and dashes, and dots may stand between digit groups.
_DASHES = frozenset("-‐‑‒–—−")
_DOTS = frozenset(".·")


class AadhaarProblem(StrEnum):
    """Why a text is not an Aadhaar number, each with its own message to the user."""

    NOT_DIGITS = "not_digits"
    WRONG_LENGTH = "wrong_length"
    VIRTUAL_ID = "virtual_id"
    BAD_FIRST_DIGIT = "bad_first_digit"
    BAD_CHECKSUM = "bad_checksum"


def _is_separator(char: str) -> bool:
    return char.isspace() or char in _DASHES or char in _DOTS


def normalise_digits(text: str) -> str | None:
    """Return the ASCII digits of `text` without separators, or None if it holds anything else."""
    digits: list[str] = []
    for char in text:
        if _is_separator(char):
            continue
        value = unicodedata.decimal(char, None)
        if value is None:
            return None
        digits.append(str(value))
    return "".join(digits)


def parse_aadhaar(text: str, *, validate_checksum: bool = True) -> AadhaarNumber | AadhaarProblem:
    """Turn typed text into an Aadhaar number, or say precisely what is wrong with it."""
    digits = normalise_digits(text)
    if not digits:
        return AadhaarProblem.NOT_DIGITS
    if len(digits) == 16:
        return AadhaarProblem.VIRTUAL_ID
    if len(digits) != 12:
        return AadhaarProblem.WRONG_LENGTH
    if digits[0] in "01":
        return AadhaarProblem.BAD_FIRST_DIGIT
    # UIDAI never issues palindromes; stdnum rejects them too, so they count as a bad check digit.
    if validate_checksum and (digits == digits[::-1] or not _verhoeff_ok(digits)):
        return AadhaarProblem.BAD_CHECKSUM
    return AadhaarNumber(digits)


def _verhoeff_ok(digits: str) -> bool:
    try:
        verhoeff.validate(digits)
    except ValidationError:
        return False
    return True


def parse_otp(text: str) -> Otp | None:
    """Turn typed text into a 6-digit OTP, or None when it is not one."""
    digits = normalise_digits(text)
    if digits is None or len(digits) != 6:
        return None
    return Otp(digits)


def looks_sensitive(text: str) -> bool:
    """Whether a message carries enough digits to be (part of) an Aadhaar number or an OTP."""
    return sum(1 for char in text if unicodedata.decimal(char, None) is not None) >= 4
