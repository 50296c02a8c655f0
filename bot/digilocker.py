"""DigiLocker's two calls for the runner, and the user's return from DigiLocker.

`StartDigiLocker`: a fresh state token and PKCE verifier are stored for the verification (the
state as a keyed hash, the verifier sealed), then IDTO is asked for the page to send the user
to. The user comes back to `<web.public_url>/digilocker` with `code` and `state`: `come_back`
claims the state once and hands `DigiLockerReturned(code)` to the runner, which then asks for
the reference with the stored verifier (`FetchDigiLockerReference`).
"""

from __future__ import annotations

import functools
import logging
import secrets
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from enum import StrEnum

from flows import (
    DigiLockerNotStarted,
    DigiLockerNotVerified,
    DigiLockerReturned,
    DigiLockerStarted,
    DigiLockerVerified,
    Event,
    ProviderFailure,
)
from kyc.idto import DigiLockerFailure, IdtoDigiLocker, SessionStarted, new_pkce
from storage import Database, Loaded, NumberVault, UserKey
from storage.digilocker import claim_digilocker_state, claimed_verifier, open_digilocker_session

__all__ = ["RETURN_PATH", "DigiLockerCalls", "Return"]

log = logging.getLogger(__name__)
RETURN_PATH = "/digilocker"
_STATE_BYTES = 32


class Return(StrEnum):
    """What became of a browser coming back from DigiLocker."""

    ACCEPTED = "accepted"  # the runner has the code: the chat tells the user the result
    UNKNOWN = "unknown"  # a replayed, expired or forged state: nothing changed
    DECLINED = "declined"  # the user did not allow access (or DigiLocker sent no code)


class DigiLockerCalls:
    """Carries out StartDigiLocker and FetchDigiLockerReference against IDTO."""

    def __init__(
        self,
        *,
        client: IdtoDigiLocker,
        database: Database,
        vault: NumberVault,
        public_url: str,
        ttl: timedelta,
        clock: Callable[[], datetime],
    ) -> None:
        self._client = client
        self._database = database
        self._vault = vault
        self._redirect_url = public_url.rstrip("/") + RETURN_PATH
        self._ttl = ttl
        self._clock = clock

    @property
    def name(self) -> str:
        """The provider's name, recorded in flow events."""
        return self._client.name

    async def start(self, loaded: Loaded) -> Event:
        """Store a fresh state and verifier for this verification, then ask IDTO for the page."""
        if loaded.verification_id is None:
            raise ValueError("StartDigiLocker needs a stored verification")
        state, pkce, now = secrets.token_urlsafe(_STATE_BYTES), new_pkce(), self._clock()
        await self._database.run(
            functools.partial(
                open_digilocker_session,
                user_id=loaded.user_id,
                verification_id=loaded.verification_id,
                state=state,
                code_verifier=pkce.code_verifier,
                now=now,
                expires_at=now + self._ttl,
                vault=self._vault,
            )
        )
        answer = await self._client.initiate_session(
            user_id=_opaque(loaded), redirect_url=self._redirect_url, state=state, pkce=pkce
        )
        if isinstance(answer, SessionStarted):
            return DigiLockerStarted(answer.url, provider=self.name)
        return DigiLockerNotStarted(answer.failure, detail=answer.detail, provider=self.name)

    async def fetch(self, code: str, loaded: Loaded) -> Event:
        """Trade the code for a reference key with the verifier of the claimed state."""
        verifier = None
        if loaded.verification_id is not None:
            verifier = await self._database.run(
                functools.partial(
                    claimed_verifier, verification_id=loaded.verification_id, vault=self._vault
                )
            )
        if verifier is None:
            # Sealed under a key since rotated: this sign-in cannot be completed.
            return DigiLockerNotVerified(
                ProviderFailure.SESSION_INVALID, detail="no verifier for this sign-in"
            )
        answer = await self._client.get_reference(
            user_id=_opaque(loaded), code=code, code_verifier=verifier
        )
        if isinstance(answer, DigiLockerFailure):
            return DigiLockerNotVerified(answer.failure, detail=answer.detail, provider=self.name)
        return DigiLockerVerified(answer.reference_key, answer.expires_at, provider=self.name)

    async def come_back(
        self,
        *,
        state: str,
        code: str,
        handle: Callable[[UserKey, Event], Awaitable[None]],
    ) -> Return:
        """Claim `state` once; with a code, hand it to `handle` (the runner for that user)."""
        if not state:
            return Return.UNKNOWN
        if not code:
            # Declined at DigiLocker: the state is left as it is, so the link in the chat still
            # works if the user changes their mind before it expires.
            log.info("digilocker return without a code: declined")
            return Return.DECLINED
        claimed = await self._database.run(
            functools.partial(
                claim_digilocker_state, state=state, now=self._clock(), vault=self._vault
            )
        )
        if claimed is None:
            log.info("digilocker return refused: unknown, used or expired state")
            return Return.UNKNOWN
        await handle(claimed.user, DigiLockerReturned(code))
        return Return.ACCEPTED

    async def aclose(self) -> None:
        """Release IDTO's connections."""
        await self._client.aclose()


def _opaque(loaded: Loaded) -> str:
    # IDTO's `user_id` only has to be stable per person: our row id, nothing personal.
    return f"kycbot-{loaded.user_id}"
