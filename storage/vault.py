"""Keeping an Aadhaar number without keeping it in clear: AES-GCM while needed, an HMAC forever."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from flows import AadhaarNumber

__all__ = ["NumberVault"]

_NONCE_BYTES = 12


class NumberVault:
    """Seals numbers for the live verification and fingerprints them for the record."""

    def __init__(self, *, encryption_key: bytes, hmac_key: bytes) -> None:
        if len(encryption_key) != 32:
            raise ValueError("the encryption key must be 32 bytes (AES-256)")
        self._aead = AESGCM(encryption_key)
        self._hmac_key = hmac_key

    def __repr__(self) -> str:
        return "NumberVault(<keys hidden>)"

    def seal(self, number: AadhaarNumber, *, user_id: int) -> bytes:
        """Encrypt `number`, bound to its user so a ciphertext cannot be moved to another row."""
        nonce = secrets.token_bytes(_NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, number.reveal().encode(), _bound_to(user_id))

    def open(self, sealed: bytes, *, user_id: int) -> AadhaarNumber | None:
        """Decrypt a sealed number; None when it cannot be (another key, another row)."""
        nonce, ciphertext = sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:]
        try:
            digits = self._aead.decrypt(nonce, ciphertext, _bound_to(user_id)).decode()
            return AadhaarNumber(digits)
        except (InvalidTag, ValueError):
            return None

    def seal_secret(self, value: str, *, user_id: int, purpose: str) -> bytes:
        """Encrypt another secret of this user's (a PKCE verifier, a DigiLocker reference)."""
        nonce = secrets.token_bytes(_NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, value.encode(), _bound_to(user_id, purpose))

    def open_secret(self, sealed: bytes, *, user_id: int, purpose: str) -> str | None:
        """Decrypt what `seal_secret` sealed for the same user and purpose; None otherwise."""
        nonce, ciphertext = sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:]
        try:
            return self._aead.decrypt(nonce, ciphertext, _bound_to(user_id, purpose)).decode()
        except (InvalidTag, ValueError):
            return None

    def keyed_hash(self, value: str) -> str:
        """A keyed HMAC-SHA256 of a token, to find it again without storing it."""
        return hmac.new(self._hmac_key, value.encode(), hashlib.sha256).hexdigest()

    def fingerprint(self, number: AadhaarNumber) -> str:
        """A keyed HMAC-SHA256: the 12-digit space is small, so a plain hash would be reversible."""
        return hmac.new(self._hmac_key, number.reveal().encode(), hashlib.sha256).hexdigest()


def _bound_to(user_id: int, purpose: str = "aadhaar") -> bytes:
    return f"kycbot/{purpose}/v1/user/{user_id}".encode()
