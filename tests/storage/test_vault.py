"""NumberVault: AES-GCM sealing bound to a user, and a keyed fingerprint."""

from __future__ import annotations

import os

import pytest

from flows import AadhaarNumber
from storage import NumberVault
from tests.aadhaar_numbers import make_aadhaar

NUMBER = AadhaarNumber(make_aadhaar("23456789012"))
OTHER = AadhaarNumber(make_aadhaar("98765432101"))


def _vault(encryption_key: bytes | None = None, hmac_key: bytes = b"k" * 32) -> NumberVault:
    return NumberVault(encryption_key=encryption_key or os.urandom(32), hmac_key=hmac_key)


def test_seal_then_open_gives_the_number_back() -> None:
    vault = _vault()
    assert vault.open(vault.seal(NUMBER, user_id=7), user_id=7) == NUMBER


def test_the_sealed_bytes_do_not_hold_the_digits() -> None:
    sealed = _vault().seal(NUMBER, user_id=7)
    assert NUMBER.reveal().encode() not in sealed


def test_two_seals_of_one_number_use_different_nonces() -> None:
    vault = _vault()
    first, second = vault.seal(NUMBER, user_id=7), vault.seal(NUMBER, user_id=7)
    assert first[:12] != second[:12]
    assert first != second


def test_tampered_ciphertext_does_not_open() -> None:
    vault = _vault()
    sealed = bytearray(vault.seal(NUMBER, user_id=7))
    sealed[-1] ^= 0x01
    assert vault.open(bytes(sealed), user_id=7) is None


@pytest.mark.parametrize("sealed", [b"", b"short", b"\x00" * 12, b"\x00" * 40])
def test_garbage_does_not_open(sealed: bytes) -> None:
    assert _vault().open(sealed, user_id=7) is None


def test_another_encryption_key_does_not_open() -> None:
    sealed = _vault().seal(NUMBER, user_id=7)
    assert _vault().open(sealed, user_id=7) is None


def test_a_ciphertext_is_bound_to_its_user() -> None:
    vault = _vault()
    assert vault.open(vault.seal(NUMBER, user_id=7), user_id=8) is None


def test_fingerprint_is_stable_and_keyed() -> None:
    key = os.urandom(32)
    one, same_keys = _vault(key), _vault(key)
    assert one.fingerprint(NUMBER) == same_keys.fingerprint(NUMBER)
    # The HMAC key alone decides the fingerprint: a new encryption key keeps it.
    assert _vault().fingerprint(NUMBER) == one.fingerprint(NUMBER)
    assert _vault(hmac_key=b"j" * 32).fingerprint(NUMBER) != one.fingerprint(NUMBER)
    assert one.fingerprint(OTHER) != one.fingerprint(NUMBER)


def test_fingerprint_is_hex_sha256_without_the_digits() -> None:
    fingerprint = _vault().fingerprint(NUMBER)
    assert len(fingerprint) == 64
    assert int(fingerprint, 16) >= 0
    assert NUMBER.reveal() not in fingerprint


def test_repr_hides_the_keys() -> None:
    encryption_key, hmac_key = b"E" * 32, b"H" * 32
    text = repr(_vault(encryption_key, hmac_key))
    assert "EEEE" not in text
    assert "HHHH" not in text
    assert str(encryption_key) not in text
    assert encryption_key.hex() not in text


@pytest.mark.parametrize("length", [0, 16, 31, 33])
def test_an_encryption_key_of_the_wrong_length_is_refused(length: int) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        NumberVault(encryption_key=b"x" * length, hmac_key=b"k" * 32)
