"""The outbox of deadline notices: written with the step, sent after it, claimed if left over.

A deadline step (DeadlinePassed, fed by the sweeper) is the one step whose replies nobody asks
for again: if the process dies between committing it and sending, the user is never told. So
its replies are stored here in the same transaction as the step, already claimed by the
process that decided it, and marked delivered right after each send returns. A notice still
undelivered once its claim is older than `CLAIM_LEASE` was left by a process that died (or a
send that failed): any sweeper may claim it again and send it.

A claim is one UPDATE ... RETURNING whose candidate rows are locked with SKIP LOCKED on
PostgreSQL, so two replicas sweeping at once never take the same notice.
The one window left: a process killed after Telegram accepted a message but before the row
was marked delivered. That notice is sent once more by the next sweeper.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, insert, or_, select, update

from storage.conversations import UserKey
from storage.models import Base

__all__ = [
    "CLAIM_LEASE",
    "MAX_ATTEMPTS",
    "ClaimedNotice",
    "add_notices",
    "claim_leftover_notices",
    "mark_delivered",
]

# Longer than any send takes (a Telegram call times out well before), so a notice is claimed
# again only when the process that holds it is gone or its send failed.
CLAIM_LEASE = timedelta(seconds=10)
# A notice that failed this often (the user blocked the bot, the chat is gone) is given up.
MAX_ATTEMPTS = 5

_outbox = Base.metadata.tables["outbox_notice"]
_INSERT_NOTICE = insert(_outbox)


@dataclass(frozen=True)
class ClaimedNotice:
    """A notice this process now holds: its row, whom it is for and the message as JSON."""

    id: int
    user: UserKey
    message: str


def add_notices(
    connection: Connection,
    *,
    user: UserKey,
    user_id: int,
    messages: list[str],
    now: datetime,
) -> list[int]:
    """Store `messages` (JSON, masked data only) for `user`, claimed now; their ids in order."""
    ids: list[int] = []
    for message in messages:
        # One INSERT each: the ids must come back in order (a deadline step has one or two).
        row = {
            "user_id": user_id,
            "channel": user.channel,
            "external_id": user.external_id,
            "message": message,
            "created_at": now,
            "claimed_at": now,
            "attempts": 1,
        }
        key = connection.execute(_INSERT_NOTICE, row).inserted_primary_key
        if key is None:
            raise RuntimeError("the database returned no primary key for an INSERT")
        ids.append(int(key[0]))
    return ids


def mark_delivered(connection: Connection, *, notice_id: int, now: datetime) -> None:
    """Record that notice `notice_id` was sent."""
    connection.execute(update(_outbox).where(_outbox.c.id == notice_id).values(delivered_at=now))


def claim_leftover_notices(
    connection: Connection, *, channel: str, now: datetime, limit: int = 100
) -> list[ClaimedNotice]:
    """Claim the undelivered notices of `channel` whose last claim lapsed, oldest first."""
    lapsed = now - CLAIM_LEASE
    candidates = (
        select(_outbox.c.id)
        .where(
            _outbox.c.delivered_at.is_(None),
            _outbox.c.channel == channel,
            _outbox.c.attempts < MAX_ATTEMPTS,
            or_(_outbox.c.claimed_at.is_(None), _outbox.c.claimed_at <= lapsed),
        )
        .order_by(_outbox.c.id)
        .limit(limit)
        # Rows another replica is claiming right now are skipped, not waited for (PostgreSQL;
        # SQLite renders nothing here: its single UPDATE below is atomic by itself).
        .with_for_update(skip_locked=True)
    )
    # One UPDATE ... RETURNING: on SQLite a SELECT and a separate UPDATE would let two
    # processes read the same rows before either writes.
    claim = (
        update(_outbox)
        .where(_outbox.c.id.in_(candidates.scalar_subquery()))
        .values(claimed_at=now, attempts=_outbox.c.attempts + 1)
        .returning(_outbox.c.id, _outbox.c.channel, _outbox.c.external_id, _outbox.c.message)
    )
    rows = sorted(connection.execute(claim), key=lambda row: int(row.id))
    return [
        ClaimedNotice(
            id=row.id,
            user=UserKey(channel=row.channel, external_id=row.external_id),
            message=row.message,
        )
        for row in rows
    ]
