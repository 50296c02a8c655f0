"""Synthetic Aadhaar numbers for tests: every one is generated with a Verhoeff check digit.

No test writes a real-looking number by hand; they come from `make_aadhaar` or the strategies
here, so a leaked test log can never hold someone's actual number.
"""

from __future__ import annotations

import unicodedata

from hypothesis import strategies as st
from stdnum import verhoeff

__all__ = [
    "DEVANAGARI_DIGITS",
    "aadhaar_spellings",
    "corrupt_check_digit",
    "digit_zeros",
    "in_script",
    "make_aadhaar",
    "make_palindrome",
    "spellings",
    "spellings_of",
    "valid_aadhaar_numbers",
]

DEVANAGARI_DIGITS = "०१२३४५६७८९"
ARABIC_INDIC_ZERO = "٠"
FULLWIDTH_ZERO = "０"
# Characters the parser lets stand between digit groups, alone or in runs.
SEPARATORS = ("", " ", "  ", "-", ".", " - ", "\u00a0", "\u2013", "\u2011", "\u00b7", "\u2009")
SURROUNDINGS = ("", " ", "\t", "\n", " \u3000 ")


def make_aadhaar(prefix11: str) -> str:
    """`prefix11` followed by its Verhoeff check digit: a checksum-valid 12-digit number."""
    if len(prefix11) != 11 or not prefix11.isascii() or not prefix11.isdigit():
        raise ValueError("make_aadhaar takes the first 11 ASCII digits")
    return prefix11 + str(verhoeff.calc_check_digit(prefix11))


def corrupt_check_digit(number: str) -> str:
    """`number` with a wrong check digit (any other last digit fails Verhoeff)."""
    return number[:-1] + str((int(number[-1]) + 1) % 10)


def make_palindrome() -> str:
    """A 12-digit palindrome starting with 2-9 whose Verhoeff check digit is valid."""
    for half in range(200_000, 1_000_000):
        candidate = f"{half}{str(half)[::-1]}"
        if make_aadhaar(candidate[:11]) == candidate:
            return candidate
    raise AssertionError("no checksum-valid palindrome found")  # pragma: no cover


def in_script(number: str, zero: str) -> str:
    """`number` written with the decimal digits whose zero is `zero` (e.g. "०"); others kept."""
    return "".join(chr(ord(zero) + int(char)) if char.isdigit() else char for char in number)


def spellings(number: str) -> list[str]:
    """Ways people type `number` that must all be read as the same 12 digits."""
    groups = (number[:4], number[4:8], number[8:])
    return [
        number,
        " ".join(groups),
        "-".join(groups),
        ".".join(groups),
        f"{groups[0]}-{groups[1]} {groups[2]}",
        f"{groups[0]} . {groups[1]}\u2013{groups[2]}",
        f"  {' '.join(groups)} \n",
        "\t" + number + "\u00a0",
        in_script(" ".join(groups), "०"),
        in_script(number, ARABIC_INDIC_ZERO),
        in_script("-".join(groups), FULLWIDTH_ZERO),
        in_script(groups[0], "०") + " " + groups[1] + " " + in_script(groups[2], FULLWIDTH_ZERO),
    ]


def _is_palindrome(number: str) -> bool:
    return number == number[::-1]


def _from_parts(first: str, rest: str) -> str:
    return make_aadhaar(first + rest)


def valid_aadhaar_numbers() -> st.SearchStrategy[str]:
    """Checksum-valid numbers UIDAI could issue: first digit 2-9, not a palindrome."""
    return st.builds(
        _from_parts,
        st.sampled_from("23456789"),
        st.text(alphabet="0123456789", min_size=10, max_size=10),
    ).filter(lambda number: not _is_palindrome(number))


def _zero_of(char: str) -> str:
    # Unicode keeps the ten decimal digits of a script contiguous, zero first.
    return chr(ord(char) - unicodedata.decimal(char))


def digit_zeros() -> st.SearchStrategy[str]:
    """The zero of any Unicode script's decimal digits (ASCII, Devanagari, fullwidth...)."""
    return st.one_of(
        st.sampled_from(("0", "०", ARABIC_INDIC_ZERO, FULLWIDTH_ZERO)),
        st.characters(categories=["Nd"]).map(_zero_of),
    )


@st.composite
def _spelled(draw: st.DrawFn, number: str) -> str:
    if draw(st.booleans()):
        zeros = [draw(digit_zeros())] * len(number)
    else:
        zeros = [draw(digit_zeros()) for _ in number]
    digits = "".join(in_script(digit, zero) for digit, zero in zip(number, zeros, strict=True))
    first = draw(st.sampled_from(SEPARATORS))
    second = draw(st.sampled_from(SEPARATORS))
    lead = draw(st.sampled_from(SURROUNDINGS))
    trail = draw(st.sampled_from(SURROUNDINGS))
    return f"{lead}{digits[:4]}{first}{digits[4:8]}{second}{digits[8:]}{trail}"


def spellings_of(number: str) -> st.SearchStrategy[str]:
    """Any allowed spelling of `number`: groups of four, separators, scripts, whitespace."""
    return _spelled(number)


def aadhaar_spellings() -> st.SearchStrategy[tuple[str, str]]:
    """A valid number and one allowed spelling of it."""
    return valid_aadhaar_numbers().flatmap(
        lambda number: spellings_of(number).map(lambda spelling: (number, spelling))
    )
