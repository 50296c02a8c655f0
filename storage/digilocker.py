"""DigiLocker sign-in sessions: the state token handed to IDTO and claimed back exactly once.

The state is the only thing that ties a browser coming back from DigiLocker to a Telegram
user, so it is unguessable (made by the runner), stored only as a keyed hash, bound to one
verification, expiring, and claimed by one atomic UPDATE: a replayed, expired or forged state
finds nothing. The PKCE verifier is sealed for the user like the Aadhaar number.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, and_, bindparam, insert, select, update

from storage.conversations import UserKey
from storage.models import Base
from storage.vault import NumberVault

__all__ = [
    "ClaimedState",
    "claim_digilocker_state",
    "claimed_verifier",
    "open_digilocker_session",
]

_PURPOSE = "pkce-verifier"
_session = Base.metadata.tables["digilocker_session"]
_user = Base.metadata.tables["user"]
_INSERT = insert(_session)
_CLAIM = (
    update(_session)
    .where(
        _session.c.state_hash == bindparam("b_state_hash"),
        _session.c.used_at.is_(None),
        _session.c.expires_at > bindparam("b_now"),
    )
    .values(used_at=bindparam("b_now"))
    .returning(_session.c.user_id, _session.c.verification_id, _session.c.verifier_sealed)
)
# A new link retires the older ones of the same verification: their return would be
# exchanged with the wrong verifier.
_RETIRE = (
    update(_session)
    .where(
        _session.c.verification_id == bindparam("b_verification_id"),
        _session.c.used_at.is_(None),
    )
    .values(used_at=bindparam("b_now"))
)
_LAST_CLAIMED = (
    select(_session.c.user_id, _session.c.verifier_sealed)
    .where(
        _session.c.verification_id == bindparam("b_verification_id"),
        _session.c.used_at.is_not(None),
    )
    .order_by(_session.c.used_at.desc(), _session.c.id.desc())
    .limit(1)
)
_USER_KEY = select(_user.c.channel, _user.c.external_id).where(
    and_(_user.c.id == bindparam("b_user_id"))
)


@dataclass(frozen=True)
class ClaimedState:
    """A state claimed by the callback: whose it is and the verifier for get_reference."""

    user: UserKey
    user_id: int
    verification_id: int
    code_verifier: str = field(repr=False)


def open_digilocker_session(
    connection: Connection,
    *,
    user_id: int,
    verification_id: int,
    state: str,
    code_verifier: str,
    now: datetime,
    expires_at: datetime,
    vault: NumberVault,
) -> None:
    """Remember a state handed to IDTO for this user's verification until `expires_at`."""
    connection.execute(_RETIRE, {"b_verification_id": verification_id, "b_now": now})
    connection.execute(
        _INSERT,
        {
            "user_id": user_id,
            "verification_id": verification_id,
            "state_hash": vault.keyed_hash(state),
            "verifier_sealed": vault.seal_secret(code_verifier, user_id=user_id, purpose=_PURPOSE),
            "created_at": now,
            "expires_at": expires_at,
        },
    )


def claim_digilocker_state(
    connection: Connection, *, state: str, now: datetime, vault: NumberVault
) -> ClaimedState | None:
    """The session `state` names, marked used; None when unknown, used or expired."""
    row = connection.execute(
        _CLAIM, {"b_state_hash": vault.keyed_hash(state), "b_now": now}
    ).first()
    if row is None:
        return None
    verifier = vault.open_secret(row.verifier_sealed, user_id=row.user_id, purpose=_PURPOSE)
    key = connection.execute(_USER_KEY, {"b_user_id": row.user_id}).first()
    if verifier is None or key is None:
        # Sealed under another key (rotated) or the user was erased: nothing can be done.
        return None
    return ClaimedState(
        user=UserKey(channel=key.channel, external_id=key.external_id),
        user_id=row.user_id,
        verification_id=row.verification_id,
        code_verifier=verifier,
    )


def claimed_verifier(
    connection: Connection, *, verification_id: int, vault: NumberVault
) -> str | None:
    """The PKCE verifier of the session last claimed for `verification_id`, if any."""
    row = connection.execute(_LAST_CLAIMED, {"b_verification_id": verification_id}).first()
    if row is None:
        return None
    return vault.open_secret(row.verifier_sealed, user_id=row.user_id, purpose=_PURPOSE)
