"""Who may read the console: the token check, signed session cookies, and a brake on guessing.

A session is a cookie `<expires>.<nonce>.<signature>`, signed with HMAC-SHA256 under a key
derived from the console token: changing the token signs everyone out, and nothing about a
session is stored, so several replicas accept each other's sessions. Signing out revokes the
nonce in this process only (other replicas honour it until it expires).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["SessionSigner", "SignInBrake"]

_KEY_PURPOSE = b"kycbot console session v1"


def _signature(key: bytes, payload: str) -> str:
    digest = hmac.new(key, payload.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


class SessionSigner:
    """Checks the token, and issues and verifies the session cookies it stands behind."""

    def __init__(
        self, token: str, *, lifetime_seconds: int, clock: Callable[[], float] = time.time
    ) -> None:
        self._token = token.encode()
        # A key of its own: the cookie never carries anything computed from the token directly.
        self._key = hmac.new(self._token, _KEY_PURPOSE, hashlib.sha256).digest()
        self.lifetime_seconds = lifetime_seconds
        self._clock = clock
        self._revoked: dict[str, float] = {}

    def __repr__(self) -> str:
        return f"SessionSigner(lifetime_seconds={self.lifetime_seconds})"

    def token_matches(self, given: str) -> bool:
        """Whether `given` is the console token, compared in constant time."""
        return hmac.compare_digest(given.encode(), self._token)

    def issue(self) -> str:
        """A new session cookie value, valid for `lifetime_seconds`."""
        payload = f"{int(self._clock()) + self.lifetime_seconds}.{secrets.token_urlsafe(16)}"
        return f"{payload}.{_signature(self._key, payload)}"

    def valid(self, cookie: str | None) -> bool:
        """Whether `cookie` is a session this signer issued, not expired and not revoked."""
        parsed = self._parse(cookie)
        return parsed is not None and parsed[1] not in self._revoked

    def revoke(self, cookie: str | None) -> None:
        """End the session `cookie` (if it is one) before it expires."""
        parsed = self._parse(cookie)
        now = self._clock()
        # Expired nonces need no remembering; dropping them keeps the set small.
        self._revoked = {nonce: ends for nonce, ends in self._revoked.items() if ends > now}
        if parsed is not None:
            self._revoked[parsed[1]] = parsed[0]

    def _parse(self, cookie: str | None) -> tuple[float, str] | None:
        """(expires, nonce) of a well-signed, unexpired cookie, else None."""
        if not cookie or cookie.count(".") != 2:
            return None
        expires, nonce, signature = cookie.split(".")
        if not hmac.compare_digest(signature, _signature(self._key, f"{expires}.{nonce}")):
            return None
        if not expires.isdigit() or int(expires) <= self._clock():
            return None
        return float(expires), nonce


@dataclass
class SignInBrake:
    """Refuses sign-ins from a client after `limit` failures within `window_seconds`."""

    limit: int = 5
    window_seconds: float = 300.0
    clock: Callable[[], float] = time.monotonic
    _failures: dict[str, deque[float]] = field(default_factory=dict)

    def retry_after(self, client: str) -> int:
        """Seconds until `client` may try again; 0 when it may try now."""
        horizon = self._forget_old()
        recent = [moment for moment in self._failures.get(client, ()) if moment > horizon]
        if len(recent) < self.limit:
            return 0
        return max(1, math.ceil(recent[0] - horizon))

    def failed(self, client: str) -> None:
        """Count a failed sign-in by `client`."""
        self._forget_old()
        # Only the last `limit` failures matter: the oldest of them says when the wait ends.
        self._failures.setdefault(client, deque(maxlen=self.limit)).append(self.clock())

    def succeeded(self, client: str) -> None:
        """Forget `client`'s failures."""
        self._failures.pop(client, None)

    def _forget_old(self) -> float:
        """Drop clients whose failures all left the window (so the table stays small)."""
        horizon = self.clock() - self.window_seconds
        for client in [c for c, moments in self._failures.items() if moments[-1] <= horizon]:
            del self._failures[client]
        return horizon
