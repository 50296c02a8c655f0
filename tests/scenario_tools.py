"""What the end-to-end suites (terminal and Telegram) share: texts, numbers, the privacy scan."""

from __future__ import annotations

import random
import re
from collections.abc import Iterable
from pathlib import Path

from flows import CATALOGUE, PromptKey
from tests.aadhaar_numbers import make_aadhaar

# The consent notice shows this as an example of a masked number.
_EXAMPLE_LAST_FOUR = "1234"
_RANDOM = random.Random()


def say(key: PromptKey, **params: object) -> str:
    """The English text of a prompt, as the catalogue defines it."""
    return CATALOGUE[key].default.format(**params)


def opening(key: PromptKey) -> str:
    """The text of a prompt up to its first placeholder."""
    return CATALOGUE[key].default.split("{", 1)[0]


def masked(number: str) -> str:
    """How the bot shows an Aadhaar number."""
    return f"XXXX XXXX {number[-4:]}"


def spaced(number: str) -> str:
    """`number` in groups of four, as printed on an Aadhaar letter."""
    return " ".join((number[:4], number[4:8], number[8:]))


def synthetic_number() -> str:
    """A new checksum-valid number outside the simulator's 9999 range.

    Never a palindrome (UIDAI issues none), and never ending in the consent notice's example
    digits, so "XXXX XXXX <last four>" in a message always means this number.
    """
    while True:
        number = make_aadhaar(str(_RANDOM.randint(2, 8)) + f"{_RANDOM.randrange(10**10):010d}")
        if number != number[::-1] and not number.endswith(_EXAMPLE_LAST_FOUR):
            return number


def another_otp(otp: str) -> str:
    """A 6-digit OTP that is not `otp`."""
    return f"{(int(otp) + 1) % 1_000_000:06d}"


def sqlite_files(database: Path) -> list[Path]:
    """An SQLite database and its write-ahead log and shared-memory files."""
    return [database, *(Path(f"{database}{end}") for end in ("-wal", "-shm"))]


def _occurrences(blob: bytes, secret: str, *, digits_only: bool) -> int:
    pattern = re.escape(secret.encode())
    if digits_only:
        # A 6-digit OTP must stand alone; SQLite keeps datetimes with 6 fractional digits
        # ("09:30:12.123456"), which may equal an OTP by chance and are not a leak.
        pattern = rb"(?<!\d\d:\d\d:\d\d\.)(?<!\d)" + pattern + rb"(?!\d)"
    return len(re.findall(pattern, blob))


def leaks(files: Iterable[Path], numbers: Iterable[str], otps: Iterable[str]) -> list[str]:
    """Every place in `files` where a full number (plain or spaced) or an OTP appears."""
    found = []
    numbers, otps = list(numbers), list(otps)
    for path in files:
        if not path.exists():
            continue
        blob = path.read_bytes()
        for number in numbers:
            for spelling in (number, spaced(number)):
                if _occurrences(blob, spelling, digits_only=False):
                    found.append(f"{path.name}: Aadhaar number {masked(number)} ({spelling!r})")
        for otp in otps:
            if _occurrences(blob, otp, digits_only=True):
                found.append(f"{path.name}: OTP {otp}")
    return found
