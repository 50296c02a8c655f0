"""The deadline sweeper's claim: every replica sweeps, and no due verification is handled twice.

`claim_due_users` picks due verifications with `FOR UPDATE SKIP LOCKED` and, in the same short
transaction, pushes their `due_at` one lease into the future. Another replica's sweeper neither
waits for these rows nor picks them while the lease runs, and the runner's DeadlinePassed step
then writes the real next deadline. If that step fails (or the replica dies), the verification
is due again when the lease ends, which doubles as a back-off.

The lease saves work; it is not what makes a notice go out once. Should a lease run out while
its replica still works through a batch, the second replica's DeadlinePassed waits on the user
lock (storage.user_lock), then finds the deadline handled and says nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection, select, update

from storage.conversations import UserKey, due_verifications
from storage.models import Base

__all__ = ["CLAIM_LEASE", "claim_due_users"]

# Far longer than a DeadlinePassed step takes (it makes no provider call).
CLAIM_LEASE = timedelta(seconds=30)

_user = Base.metadata.tables["user"]
_verification = Base.metadata.tables["verification"]


def claim_due_users(
    connection: Connection,
    *,
    now: datetime,
    channel: str,
    external_id: str | None = None,
    limit: int = 100,
    lease: timedelta = CLAIM_LEASE,
) -> list[UserKey]:
    """Claim the users on `channel` (or just `external_id`) whose live verification is due.

    Run it in a transaction of its own and commit at once: the rows stay locked until then.
    """
    due = (
        due_verifications(now=now, channel=channel, external_id=external_id, limit=limit)
        .with_only_columns(_verification.c.id)
        # PostgreSQL: only the verification rows are locked, and rows another replica holds
        # are skipped rather than waited for. SQLite has no such clause and ignores it.
        .with_for_update(of=_verification, skip_locked=True)
    )
    # One statement, picking and leasing together: on SQLite an UPDATE takes the write lock
    # before it reads, so two processes sharing a file can never both pick a row (a SELECT
    # followed by an UPDATE could: both read before either writes).
    leased = (
        update(_verification)
        .where(_verification.c.id.in_(due.scalar_subquery()))
        .values(due_at=now + lease)
        .returning(_verification.c.user_id)
    )
    user_ids = [row.user_id for row in connection.execute(leased)]
    if not user_ids:
        return []
    users = select(_user.c.channel, _user.c.external_id).where(_user.c.id.in_(user_ids))
    return [
        UserKey(channel=row.channel, external_id=row.external_id)
        for row in connection.execute(users)
    ]
