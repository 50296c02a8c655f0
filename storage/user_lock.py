"""Several bot replicas on one PostgreSQL: one user's steps never run at the same time.

Two `kycbot run` processes behind a load balancer may each receive an update of the same user.
An in-process lock (bot.locks) cannot see the other process, so each stored step first takes a
PostgreSQL advisory lock on the user, scoped to the step's transaction: a second replica's step
for that user waits until the first one committed, then loads what it stored. The version check
on the verification row (StaleConversation) stays as the safety net for the steps that reuse
what the previous step of the same update stored instead of loading again.

SQLite is one process by design (bot.locks and Database's writer lock serialise it), so nothing
is taken there: the lock costs PostgreSQL one extra statement per step and SQLite nothing.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from sqlalchemy import BigInteger, Connection, bindparam, func, select

if TYPE_CHECKING:
    from storage.conversations import UserKey  # which imports this module

__all__ = ["lock_user", "user_lock_key"]

_LOCK_USER = select(func.pg_advisory_xact_lock(bindparam("b_key", type_=BigInteger)))


def user_lock_key(channel: str, external_id: str) -> int:
    """The signed 64-bit advisory-lock key of a user (what `pg_advisory_xact_lock` takes)."""
    # Personalised: advisory locks another feature may take never collide with these.
    digest = hashlib.blake2b(
        f"{channel}:{external_id}".encode(), digest_size=8, person=b"kycbot-user"
    ).digest()
    return int.from_bytes(digest, "big", signed=True)


def lock_user(connection: Connection, key: UserKey) -> None:
    """Hold `key`'s user until this transaction ends (PostgreSQL; nothing on SQLite)."""
    if connection.dialect.name == "postgresql":
        connection.execute(_LOCK_USER, {"b_key": user_lock_key(key.channel, key.external_id)})
