"""Reading flow events for support staff: the `kycbot logs` queries.

Plain SQLAlchemy Core over a synchronous `Connection`, run through `Database.run`. The SELECT
names its columns one by one: a flow event holds no personal data, and nothing else from the
database (least of all the user's verification or result rows) may reach a terminal from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, Select, func, select

from storage.models import Base

__all__ = ["FlowFilter", "FlowLine", "events_after", "latest_events"]

_user = Base.metadata.tables["user"]
_flow_event = Base.metadata.tables["flow_event"]

_COLUMNS = (
    _flow_event.c.id,
    _flow_event.c.occurred_at,
    _user.c.channel,
    _user.c.external_id,
    _flow_event.c.verification_id,
    _flow_event.c.from_state,
    _flow_event.c.to_state,
    _flow_event.c.event,
    _flow_event.c.outcome,
    _flow_event.c.provider,
    _flow_event.c.latency_ms,
)


@dataclass(frozen=True)
class FlowFilter:
    """Which events to show; every given field must match (AND)."""

    since: datetime | None = None
    # "channel:external_id", or a bare external id matched on every channel.
    user: str | None = None
    verification_id: int | None = None
    outcome: str | None = None
    provider: str | None = None


@dataclass(frozen=True)
class FlowLine:
    """One flow event with the user's channel and external id, and nothing more."""

    id: int
    occurred_at: datetime
    channel: str | None
    external_id: str | None
    verification_id: int | None
    from_state: str
    to_state: str
    event: str
    outcome: str
    provider: str | None
    latency_ms: int | None

    @property
    def user(self) -> str:
        """`channel:external_id`, or `?` when the user row is gone."""
        if self.channel is None or self.external_id is None:
            return "?"
        return f"{self.channel}:{self.external_id}"


def _filtered(flow: FlowFilter) -> Select[Any]:
    # An outer join: flow_event.user_id has no foreign key, and an event outlives its user.
    query = select(*_COLUMNS).outerjoin(_user, _user.c.id == _flow_event.c.user_id)
    if flow.since is not None:
        query = query.where(_flow_event.c.occurred_at >= flow.since)
    if flow.user is not None:
        channel, colon, external_id = flow.user.partition(":")
        if colon:
            query = query.where(_user.c.channel == channel, _user.c.external_id == external_id)
        else:
            query = query.where(_user.c.external_id == flow.user)
    if flow.verification_id is not None:
        query = query.where(_flow_event.c.verification_id == flow.verification_id)
    if flow.outcome is not None:
        query = query.where(_flow_event.c.outcome == flow.outcome)
    if flow.provider is not None:
        query = query.where(_flow_event.c.provider == flow.provider)
    return query


def _line(row: Row[Any]) -> FlowLine:
    return FlowLine(
        id=row.id,
        occurred_at=row.occurred_at,
        channel=row.channel,
        external_id=row.external_id,
        verification_id=row.verification_id,
        from_state=row.from_state,
        to_state=row.to_state,
        event=row.event,
        outcome=row.outcome,
        provider=row.provider,
        latency_ms=row.latency_ms,
    )


def latest_events(
    connection: Connection, *, flow: FlowFilter, limit: int | None
) -> tuple[list[FlowLine], int]:
    """The matching events, oldest first (the last `limit` if given), and the highest event id.

    The highest id over all events, read in the same transaction, is where following starts:
    whatever is written after this query has a greater id.
    """
    query = _filtered(flow).order_by(_flow_event.c.id.desc())
    if limit is not None:
        query = query.limit(limit)
    lines = [_line(row) for row in connection.execute(query)]
    lines.reverse()
    high_water = connection.execute(select(func.max(_flow_event.c.id))).scalar()
    return lines, int(high_water or 0)


def events_after(connection: Connection, *, flow: FlowFilter, after_id: int) -> list[FlowLine]:
    """The matching events with an id above `after_id`, oldest first."""
    query = _filtered(flow).where(_flow_event.c.id > after_id).order_by(_flow_event.c.id)
    return [_line(row) for row in connection.execute(query)]
