"""Reducing provider e-KYC data to the configured field policy before anything is kept."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime

import pytest

from flows import (
    AddressPolicy,
    BirthDatePolicy,
    FieldPolicy,
    GenderPolicy,
    KycData,
    NamePolicy,
    VerifiedRecord,
    reduce_kyc,
)
from flows.record import mask_name

VERIFIED_AT = datetime(2026, 1, 1, 9, 30, tzinfo=UTC)
MASKED = "XXXX XXXX 4821"
DATA = KycData(
    name="Ravi Kumar",
    date_of_birth=date(1990, 5, 17),
    year_of_birth=1990,
    gender="M",
    address="12 MG Road, Bengaluru, Karnataka 560001",
    state="Karnataka",
)

NAMES = {NamePolicy.FULL: "Ravi Kumar", NamePolicy.MASKED: "R*** K****", NamePolicy.DROP: None}
BIRTHS = {
    BirthDatePolicy.FULL: "1990-05-17",
    BirthDatePolicy.YEAR: "1990",
    BirthDatePolicy.DROP: None,
}
GENDERS = {GenderPolicy.KEEP: "M", GenderPolicy.DROP: None}
ADDRESSES = {
    AddressPolicy.FULL: "12 MG Road, Bengaluru, Karnataka 560001",
    AddressPolicy.STATE: "Karnataka",
    AddressPolicy.DROP: None,
}
POLICIES = list(itertools.product(NamePolicy, BirthDatePolicy, GenderPolicy, AddressPolicy))


def test_every_policy_value_has_an_expectation() -> None:
    assert set(NAMES) == set(NamePolicy)
    assert set(BIRTHS) == set(BirthDatePolicy)
    assert set(GENDERS) == set(GenderPolicy)
    assert set(ADDRESSES) == set(AddressPolicy)
    assert len(POLICIES) == 54


@pytest.mark.parametrize(
    ("name", "birth", "gender", "address"),
    POLICIES,
    ids=["-".join(policy.value for policy in combination) for combination in POLICIES],
)
def test_reduce_kyc_applies_each_field_policy(
    name: NamePolicy, birth: BirthDatePolicy, gender: GenderPolicy, address: AddressPolicy
) -> None:
    policy = FieldPolicy(name=name, date_of_birth=birth, gender=gender, address=address)

    record = reduce_kyc(DATA, masked_aadhaar=MASKED, policy=policy, verified_at=VERIFIED_AT)

    assert record == VerifiedRecord(
        masked_aadhaar=MASKED,
        verified_at=VERIFIED_AT,
        name=NAMES[name],
        date_of_birth=BIRTHS[birth],
        gender=GENDERS[gender],
        address=ADDRESSES[address],
    )


def test_default_policy_keeps_initials_year_gender_and_state() -> None:
    record = reduce_kyc(DATA, masked_aadhaar=MASKED, policy=FieldPolicy(), verified_at=VERIFIED_AT)

    assert (record.name, record.date_of_birth, record.gender, record.address) == (
        "R*** K****",
        "1990",
        "M",
        "Karnataka",
    )


FULL = FieldPolicy(
    name=NamePolicy.FULL,
    date_of_birth=BirthDatePolicy.FULL,
    gender=GenderPolicy.KEEP,
    address=AddressPolicy.FULL,
)


@pytest.mark.parametrize(
    ("data", "policy", "expected"),
    [
        pytest.param(
            KycData(year_of_birth=1987),
            FULL,
            (None, "1987", None, None),
            id="full-birth-date-falls-back-to-the-year",
        ),
        pytest.param(
            KycData(year_of_birth=1987),
            FieldPolicy(),
            (None, "1987", None, None),
            id="year-from-year-of-birth",
        ),
        pytest.param(
            KycData(date_of_birth=date(2001, 12, 31), year_of_birth=1999),
            FieldPolicy(),
            (None, "2001", None, None),
            id="year-prefers-the-full-date",
        ),
        pytest.param(
            KycData(state="Kerala"),
            FULL,
            (None, None, None, "Kerala"),
            id="full-address-falls-back-to-state",
        ),
        pytest.param(
            KycData(address="4 Beach Road, Kochi"),
            FieldPolicy(),
            (None, None, None, None),
            id="state-policy-never-keeps-the-street",
        ),
        pytest.param(
            KycData(name="  Anita   Devi "),
            FULL,
            ("Anita   Devi", None, None, None),
            id="full-name-stripped",
        ),
        pytest.param(
            KycData(name="  Anita   Devi "),
            FieldPolicy(),
            ("A**** D***", None, None, None),
            id="masked-name-spaces",
        ),
        pytest.param(KycData(name="   "), FULL, (None, None, None, None), id="blank-name-is-none"),
        pytest.param(
            KycData(name=""), FieldPolicy(), (None, None, None, None), id="empty-name-is-none"
        ),
        pytest.param(KycData(), FULL, (None, None, None, None), id="nothing-returned"),
    ],
)
def test_reduce_kyc_with_partial_data(
    data: KycData, policy: FieldPolicy, expected: tuple[str | None, ...]
) -> None:
    record = reduce_kyc(data, masked_aadhaar=MASKED, policy=policy, verified_at=VERIFIED_AT)

    assert (record.name, record.date_of_birth, record.gender, record.address) == expected
    assert record.masked_aadhaar == MASKED
    assert record.verified_at == VERIFIED_AT


@pytest.mark.parametrize(
    ("name", "masked"),
    [
        ("Ravi Kumar", "R*** K****"),
        ("Ravi", "R***"),
        ("A", "A"),
        ("A B", "A B"),
        ("  Ravi   Kumar  ", "R*** K****"),
        ("Mohammed Abdul Rahman", "M******* A**** R*****"),
        ("रवि कुमार", "र** क****"),
        ("", ""),
    ],
)
def test_mask_name_keeps_the_first_letter_of_each_word(name: str, masked: str) -> None:
    assert mask_name(name) == masked
