"""Erasing one user: every row about them goes, and one deletion record stays.

`erase_user` is one transaction (run it with `Database.run`). The deletion record keeps only
when it happened, who asked, and a keyed HMAC of "channel:external_id", so support can later
answer "was this person's data erased?" without keeping who they were.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import astuple, dataclass, fields
from datetime import datetime

from sqlalchemy import Connection, Delete, Table, delete, func, insert, select

from storage.conversations import UserKey
from storage.kept_limits import limits_of_user, user_hmac
from storage.models import Base
from storage.vault import NumberVault

__all__ = [
    "ErasureCounts",
    "count_user_rows",
    "erase_by_key",
    "erase_user",
    "erased_at",
    "find_user",
    "secure_delete",
    "user_hmac",
    "user_of_verification",
]

_user = Base.metadata.tables["user"]
_verification = Base.metadata.tables["verification"]
_consent = Base.metadata.tables["consent"]
_kyc_result = Base.metadata.tables["kyc_result"]
_digilocker_session = Base.metadata.tables["digilocker_session"]
_flow_event = Base.metadata.tables["flow_event"]
_deletion_record = Base.metadata.tables["deletion_record"]


@dataclass(frozen=True)
class ErasureCounts:
    """How many rows of each table an erasure removed."""

    results: int = 0
    consents: int = 0
    digilocker_sessions: int = 0
    verifications: int = 0
    flow_events: int = 0
    users: int = 0

    def items(self) -> Iterator[tuple[str, int]]:
        """(table label, count) pairs, in the order they are shown."""
        for spec, count in zip(fields(self), astuple(self), strict=True):
            yield spec.name.replace("_", " "), count


@contextmanager
def secure_delete(connection: Connection) -> Iterator[None]:
    """On SQLite, deleted rows are overwritten with zeros meanwhile, not left in the file.

    The setting is per connection and the bot's connection is pooled: it is put back after,
    so ordinary steps do not pay for zeroing what they update.
    """
    if connection.dialect.name != "sqlite":
        yield
        return
    before = connection.exec_driver_sql("PRAGMA secure_delete").scalar()
    connection.exec_driver_sql("PRAGMA secure_delete=ON")
    try:
        yield
    finally:
        connection.exec_driver_sql(f"PRAGMA secure_delete={int(before or 0)}")


def find_user(connection: Connection, *, channel: str, external_id: str) -> int | None:
    """The id of the user with this channel and external id, or None."""
    query = select(_user.c.id).where(_user.c.channel == channel, _user.c.external_id == external_id)
    return connection.execute(query).scalar_one_or_none()


def erased_at(connection: Connection, *, user_hmac: str) -> datetime | None:
    """When the user with this HMAC was last erased, or None if never."""
    query = select(_deletion_record.c.deleted_at).where(_deletion_record.c.user_hmac == user_hmac)
    return connection.execute(query.order_by(_deletion_record.c.deleted_at.desc())).scalar()


def _count(connection: Connection, statement: Delete) -> int:
    return connection.execute(statement).rowcount


def erase_user(
    connection: Connection, *, user_id: int, user_hmac: str, requested_by: str, now: datetime
) -> ErasureCounts | None:
    """Delete everything of user `user_id` and record the deletion; None if the user is gone.

    On PostgreSQL the user row and their verifications are locked first (FOR UPDATE): a step
    of this user running in another process either finishes before the erasure reads anything,
    or finds its verification gone (the version check fails) instead of writing it back.
    """
    locked = connection.execute(
        select(_user.c.id).where(_user.c.id == user_id).with_for_update()
    ).scalar_one_or_none()
    if locked is None:
        return None  # erased meanwhile by someone else: nothing to do, nothing to record
    connection.execute(
        select(_verification.c.id).where(_verification.c.user_id == user_id).with_for_update()
    ).all()
    # Read before the row goes: the deletion record carries them on (storage.kept_limits).
    limits = limits_of_user(connection, user_id)
    with secure_delete(connection):
        counts = ErasureCounts(
            results=_count(connection, delete(_kyc_result).where(_kyc_result.c.user_id == user_id)),
            consents=_count(connection, delete(_consent).where(_consent.c.user_id == user_id)),
            digilocker_sessions=_count(
                connection,
                delete(_digilocker_session).where(_digilocker_session.c.user_id == user_id),
            ),
            verifications=_count(
                connection, delete(_verification).where(_verification.c.user_id == user_id)
            ),
            flow_events=_count(
                connection, delete(_flow_event).where(_flow_event.c.user_id == user_id)
            ),
            users=_count(connection, delete(_user).where(_user.c.id == user_id)),
        )
    connection.execute(
        insert(_deletion_record).values(
            deleted_at=now, user_hmac=user_hmac, requested_by=requested_by, **limits
        )
    )
    return counts


def erase_by_key(
    connection: Connection,
    *,
    key: UserKey,
    vault: NumberVault,
    requested_by: str,
    now: datetime,
) -> ErasureCounts | None:
    """Erase the user with this channel and external id; None if there is no such user."""
    user_id = find_user(connection, channel=key.channel, external_id=key.external_id)
    if user_id is None:
        return None
    hashed = user_hmac(vault, channel=key.channel, external_id=key.external_id)
    return erase_user(
        connection, user_id=user_id, user_hmac=hashed, requested_by=requested_by, now=now
    )


def count_user_rows(connection: Connection, *, user_id: int) -> ErasureCounts:
    """What erasing user `user_id` would remove, for a confirmation question."""

    def rows(table: Table, column: str = "user_id") -> int:
        query = select(func.count()).select_from(table).where(table.c[column] == user_id)
        return int(connection.execute(query).scalar_one())

    return ErasureCounts(
        results=rows(_kyc_result),
        consents=rows(_consent),
        digilocker_sessions=rows(_digilocker_session),
        verifications=rows(_verification),
        flow_events=rows(_flow_event),
        users=rows(_user, "id"),
    )


def user_of_verification(connection: Connection, *, verification_id: int) -> UserKey | None:
    """Whose verification `verification_id` is, or None if there is no such verification."""
    query = (
        select(_user.c.channel, _user.c.external_id)
        .join(_verification, _verification.c.user_id == _user.c.id)
        .where(_verification.c.id == verification_id)
    )
    row = connection.execute(query).first()
    return None if row is None else UserKey(channel=row.channel, external_id=row.external_id)
