"""Retention: deleting flow events and ended verifications' records past their cut-off.

Each `purge_batch` is one short transaction removing at most `limit` rows per table, so a large
purge never locks the database for long nor loads much into memory; `purge` repeats batches until
one removes nothing, which also makes a second run a no-op.

What goes, past the results cut-off: KYC results, and the verifications that ended before it
with their consents and DigiLocker sessions. A verification row keeps the masked number and
the consent says what was agreed for that result; once the result is gone neither serves a
purpose, and the consent notice promises the record is kept only for the retention period.
A verification still in progress (`ended_at IS NULL`) is never touched, and nor are user rows:
they carry the 24-hour limits and lock-outs, and `kycbot erase` removes them on request.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from dataclasses import astuple, dataclass, fields
from datetime import datetime

from sqlalchemy import ColumnElement, Connection, Delete, Table, delete, func, select

from storage.database import Database
from storage.erasure import secure_delete
from storage.models import Base

__all__ = ["BATCH_SIZE", "Cutoffs", "PurgeCounts", "count_due", "purge", "purge_batch"]

BATCH_SIZE = 5000
_verification = Base.metadata.tables["verification"]
_consent = Base.metadata.tables["consent"]
_kyc_result = Base.metadata.tables["kyc_result"]
_digilocker_session = Base.metadata.tables["digilocker_session"]
_flow_event = Base.metadata.tables["flow_event"]
_outbox_notice = Base.metadata.tables["outbox_notice"]


@dataclass(frozen=True)
class Cutoffs:
    """Rows from before these moments are past retention."""

    flow_events_before: datetime
    results_before: datetime


@dataclass(frozen=True)
class PurgeCounts:
    """How many rows of each table a purge removed (or, for a dry run, would remove)."""

    flow_events: int = 0
    results: int = 0
    consents: int = 0
    digilocker_sessions: int = 0
    verifications: int = 0
    # Deadline notices (storage.outbox), kept as long as the flow events that record them.
    notices: int = 0

    def __add__(self, other: PurgeCounts) -> PurgeCounts:
        return PurgeCounts(*(a + b for a, b in zip(astuple(self), astuple(other), strict=True)))

    @property
    def total(self) -> int:
        """All rows together."""
        return sum(astuple(self))

    def items(self) -> Iterator[tuple[str, int]]:
        """(table label, count) pairs, in the order they are shown."""
        for spec, count in zip(fields(self), astuple(self), strict=True):
            yield spec.name.replace("_", " "), count


def _old_events(cutoffs: Cutoffs) -> ColumnElement[bool]:
    return _flow_event.c.occurred_at < cutoffs.flow_events_before


def _old_notices(cutoffs: Cutoffs) -> ColumnElement[bool]:
    return _outbox_notice.c.created_at < cutoffs.flow_events_before


def _ended_verifications(cutoffs: Cutoffs) -> ColumnElement[bool]:
    return _verification.c.ended_at.is_not(None) & (
        _verification.c.ended_at < cutoffs.results_before
    )


def _old_results(cutoffs: Cutoffs) -> ColumnElement[bool]:
    # Only results of ended verifications, even if a clock went backwards.
    ended = select(_verification.c.id).where(_verification.c.ended_at.is_not(None))
    return (_kyc_result.c.verified_at < cutoffs.results_before) & _kyc_result.c.verification_id.in_(
        ended
    )


def _delete_some(
    connection: Connection, table: Table, where: ColumnElement[bool], limit: int
) -> int:
    # DELETE ... LIMIT is not portable; the ids of one batch are picked by a subquery.
    batch = select(table.c.id).where(where).order_by(table.c.id).limit(limit)
    statement: Delete = delete(table).where(table.c.id.in_(batch.scalar_subquery()))
    return connection.execute(statement).rowcount


def purge_batch(
    connection: Connection, *, cutoffs: Cutoffs, limit: int = BATCH_SIZE
) -> PurgeCounts:
    """Delete up to `limit` rows per table past retention, in one transaction."""
    with secure_delete(connection):
        return _purge_batch(connection, cutoffs, limit)


def _purge_batch(connection: Connection, cutoffs: Cutoffs, limit: int) -> PurgeCounts:
    events = _delete_some(connection, _flow_event, _old_events(cutoffs), limit)
    notices = _delete_some(connection, _outbox_notice, _old_notices(cutoffs), limit)
    results = _delete_some(connection, _kyc_result, _old_results(cutoffs), limit)
    doomed = [
        row.id
        for row in connection.execute(
            select(_verification.c.id)
            .where(_ended_verifications(cutoffs))
            .order_by(_verification.c.id)
            .limit(limit)
        )
    ]
    if not doomed:
        return PurgeCounts(flow_events=events, results=results, notices=notices)
    # Their dependent rows first: the foreign keys cascade, but counting needs them explicit.
    return PurgeCounts(
        flow_events=events,
        results=results
        + _delete_where(connection, _kyc_result, _kyc_result.c.verification_id.in_(doomed)),
        consents=_delete_where(connection, _consent, _consent.c.verification_id.in_(doomed)),
        digilocker_sessions=_delete_where(
            connection,
            _digilocker_session,
            _digilocker_session.c.verification_id.in_(doomed),
        ),
        verifications=_delete_where(connection, _verification, _verification.c.id.in_(doomed)),
        notices=notices,
    )


def _delete_where(connection: Connection, table: Table, where: ColumnElement[bool]) -> int:
    return connection.execute(delete(table).where(where)).rowcount


def _count(connection: Connection, table: Table, where: ColumnElement[bool]) -> int:
    return int(
        connection.execute(select(func.count()).select_from(table).where(where)).scalar_one()
    )


def count_due(connection: Connection, *, cutoffs: Cutoffs) -> PurgeCounts:
    """What a purge would remove now, without removing anything (for --dry-run)."""
    ended = select(_verification.c.id).where(_ended_verifications(cutoffs))
    return PurgeCounts(
        flow_events=_count(connection, _flow_event, _old_events(cutoffs)),
        results=_count(
            connection,
            _kyc_result,
            _old_results(cutoffs) | _kyc_result.c.verification_id.in_(ended),
        ),
        consents=_count(connection, _consent, _consent.c.verification_id.in_(ended)),
        digilocker_sessions=_count(
            connection, _digilocker_session, _digilocker_session.c.verification_id.in_(ended)
        ),
        verifications=_count(connection, _verification, _ended_verifications(cutoffs)),
        notices=_count(connection, _outbox_notice, _old_notices(cutoffs)),
    )


async def purge(
    database: Database,
    *,
    cutoffs: Cutoffs,
    batch_size: int = BATCH_SIZE,
    on_batch: Callable[[PurgeCounts], None] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> PurgeCounts:
    """Purge in batches until nothing is left past retention; return the totals.

    `on_batch` hears the running totals after every batch that removed something (progress);
    `should_stop` is asked between batches, so a stopping bot need not wait for a long purge.
    """
    total = PurgeCounts()
    unit = functools.partial(purge_batch, cutoffs=cutoffs, limit=batch_size)
    while not should_stop():
        removed = await database.run(unit)
        if removed.total == 0:
            return total
        total += removed
        if on_batch is not None:
            on_batch(total)
    return total
