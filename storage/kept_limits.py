"""The limits that outlive an erasure: a lockout and the 24-hour OTP and failure counts.

They live on the user row, which an erasure deletes. Without this module /delete_my_data would
be a way round a lockout: erase, /start, and every limit begins afresh. The deletion record
keeps them under the user's HMAC (nothing that names the person), and a user created again
with the same HMAC starts with them. Windows that have run out do no harm: the flow's guards
compare each window with the time.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from storage.models import Base
from storage.vault import NumberVault

__all__ = ["LIMIT_COLUMNS", "kept_limits", "limits_of_user", "user_hmac"]

LIMIT_COLUMNS = (
    "locked_until",
    "otp_window_started_at",
    "otp_requests_in_window",
    "failure_window_started_at",
    "failures_in_window",
)
_user = Base.metadata.tables["user"]
_deletion_record = Base.metadata.tables["deletion_record"]


def user_hmac(vault: NumberVault, *, channel: str, external_id: str) -> str:
    """The keyed hash a deletion record keeps of a user: HMAC of "channel:external_id"."""
    return vault.keyed_hash(f"{channel}:{external_id}")


def limits_of_user(connection: Connection, user_id: int) -> dict[str, Any]:
    """The limit columns of user `user_id` (empty if there is no such user)."""
    query = select(*(_user.c[name] for name in LIMIT_COLUMNS)).where(_user.c.id == user_id)
    row = connection.execute(query).one_or_none()
    return {} if row is None else dict(row._mapping)


def kept_limits(connection: Connection, *, hashed_user: str) -> dict[str, Any]:
    """The limits the newest deletion record of this user kept (empty if never erased)."""
    query = (
        select(*(_deletion_record.c[name] for name in LIMIT_COLUMNS))
        .where(_deletion_record.c.user_hmac == hashed_user)
        .order_by(_deletion_record.c.deleted_at.desc(), _deletion_record.c.id.desc())
        .limit(1)
    )
    row = connection.execute(query).one_or_none()
    return {} if row is None else dict(row._mapping)
