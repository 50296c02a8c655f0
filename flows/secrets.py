"""Values that must never leak: an Aadhaar number and an OTP.

Both hide their digits from `repr`, `str` and f-strings; the digits come out only through
`reveal()`, so a stray log line or exception message can show at most the masked form.
"""

from __future__ import annotations

from typing import Final

from stdnum.in_ import aadhaar as stdnum_aadhaar

__all__ = ["AadhaarNumber", "Otp"]


class AadhaarNumber:
    """A checked 12-digit Aadhaar number whose text forms are always masked."""

    __slots__ = ("_digits",)

    def __init__(self, digits: str) -> None:
        if len(digits) != 12 or not digits.isascii() or not digits.isdigit():
            raise ValueError("an Aadhaar number is 12 ASCII digits")
        self._digits: Final = digits

    @property
    def masked(self) -> str:
        """The number as it may be shown: `XXXX XXXX 1234`."""
        return str(stdnum_aadhaar.mask(self._digits))

    @property
    def last4(self) -> str:
        """The last four digits, the only part ever shown."""
        return self._digits[-4:]

    def reveal(self) -> str:
        """The 12 digits, for the provider call and the encryption only."""
        return self._digits

    def __repr__(self) -> str:
        return f"AadhaarNumber({self.masked!r})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AadhaarNumber) and other._digits == self._digits

    def __hash__(self) -> int:
        return hash(("aadhaar", self._digits))

    def __reduce__(self) -> tuple[object, ...]:
        # Pickling would write the digits in clear into whatever stores the pickle.
        raise TypeError("an AadhaarNumber cannot be pickled")


class Otp:
    """A 6-digit one-time password whose text forms never show the digits."""

    __slots__ = ("_digits",)

    def __init__(self, digits: str) -> None:
        if len(digits) != 6 or not digits.isascii() or not digits.isdigit():
            raise ValueError("an OTP is 6 ASCII digits")
        self._digits: Final = digits

    def reveal(self) -> str:
        """The digits, for the provider call only."""
        return self._digits

    def __repr__(self) -> str:
        return "Otp('******')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Otp) and other._digits == self._digits

    def __hash__(self) -> int:
        return hash(("otp", self._digits))

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("an Otp cannot be pickled")
