"""e-KYC data as a provider returns it, the field policy, and the reduced record that is kept."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

__all__ = [
    "AddressPolicy",
    "BirthDatePolicy",
    "FieldPolicy",
    "GenderPolicy",
    "KycData",
    "NamePolicy",
    "VerifiedRecord",
    "reduce_kyc",
]


class NamePolicy(StrEnum):
    """How much of the name is kept."""

    FULL = "full"
    MASKED = "masked"
    DROP = "drop"


class BirthDatePolicy(StrEnum):
    """How much of the date of birth is kept."""

    FULL = "full"
    YEAR = "year"
    DROP = "drop"


class GenderPolicy(StrEnum):
    """Whether the gender is kept."""

    KEEP = "keep"
    DROP = "drop"


class AddressPolicy(StrEnum):
    """How much of the address is kept."""

    FULL = "full"
    STATE = "state"
    DROP = "drop"


@dataclass(frozen=True)
class FieldPolicy:
    """Per-field reduction applied to e-KYC data the moment it arrives."""

    name: NamePolicy = NamePolicy.MASKED
    date_of_birth: BirthDatePolicy = BirthDatePolicy.YEAR
    gender: GenderPolicy = GenderPolicy.KEEP
    address: AddressPolicy = AddressPolicy.STATE


@dataclass(frozen=True)
class KycData:
    """The e-KYC fields a provider returned, already stripped of photo, links and hashes.

    Every field is personal data, so none of them appears in the repr.
    """

    name: str | None = field(default=None, repr=False)
    date_of_birth: date | None = field(default=None, repr=False)
    year_of_birth: int | None = field(default=None, repr=False)
    gender: str | None = field(default=None, repr=False)
    address: str | None = field(default=None, repr=False)
    state: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class VerifiedRecord:
    """The masked record that is stored and shown back to the user."""

    masked_aadhaar: str
    verified_at: datetime
    name: str | None = field(default=None, repr=False)
    date_of_birth: str | None = field(default=None, repr=False)
    gender: str | None = field(default=None, repr=False)
    address: str | None = field(default=None, repr=False)


def mask_name(name: str) -> str:
    """Keep the first letter of each word: `Ravi Kumar` becomes `R*** K****`."""
    return " ".join(word[0] + "*" * (len(word) - 1) for word in name.split())


def reduce_kyc(
    data: KycData, *, masked_aadhaar: str, policy: FieldPolicy, verified_at: datetime
) -> VerifiedRecord:
    """Apply the field policy: what is not kept is gone before anything is stored."""
    return VerifiedRecord(
        masked_aadhaar=masked_aadhaar,
        verified_at=verified_at,
        name=_reduce_name(data.name, policy.name),
        date_of_birth=_reduce_birth(data, policy.date_of_birth),
        gender=data.gender if policy.gender is GenderPolicy.KEEP else None,
        address=_reduce_address(data, policy.address),
    )


def _reduce_name(name: str | None, policy: NamePolicy) -> str | None:
    if not name or not name.strip() or policy is NamePolicy.DROP:
        return None
    return name.strip() if policy is NamePolicy.FULL else mask_name(name)


def _reduce_birth(data: KycData, policy: BirthDatePolicy) -> str | None:
    if policy is BirthDatePolicy.DROP:
        return None
    if policy is BirthDatePolicy.FULL and data.date_of_birth is not None:
        return data.date_of_birth.isoformat()
    year = data.date_of_birth.year if data.date_of_birth is not None else data.year_of_birth
    return str(year) if year is not None else None


def _reduce_address(data: KycData, policy: AddressPolicy) -> str | None:
    if policy is AddressPolicy.DROP:
        return None
    if policy is AddressPolicy.FULL:
        return data.address or data.state
    return data.state
