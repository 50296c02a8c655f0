"""Verifications for support, newest first, filtered and paged: the console's list page.

Plain SQLAlchemy Core over a synchronous `Connection`, run through `Database.run`. The SELECT
names its columns: the ciphertext, HMAC, OTP reference and DigiLocker link never leave the
database from here, so no template slip can show them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, and_, case, func, literal, or_, select

from storage.models import Base

__all__ = ["VerificationFilter", "VerificationPage", "VerificationRow", "list_verifications"]

_user = Base.metadata.tables["user"]
_verification = Base.metadata.tables["verification"]
_kyc_result = Base.metadata.tables["kyc_result"]

# The method as storage/timeline.py infers it: the result's, else what the verification holds
# (a DigiLocker link, or a number or an OTP sent); None before the user chose.
_method: ColumnElement[Any] = case(
    (_kyc_result.c.method.is_not(None), _kyc_result.c.method),
    (_verification.c.digilocker_url.is_not(None), literal("digilocker")),
    (
        or_(_verification.c.aadhaar_masked.is_not(None), _verification.c.otp_sends > 0),
        literal("aadhaar_otp"),
    ),
    else_=None,
)
_COLUMNS: tuple[ColumnElement[Any], ...] = (
    _verification.c.id,
    _user.c.channel,
    _user.c.external_id,
    _verification.c.state,
    _verification.c.provider,
    _method.label("method"),
    _verification.c.aadhaar_masked,
    _verification.c.created_at,
    _verification.c.updated_at,
    _verification.c.ended_at,
)


@dataclass(frozen=True)
class VerificationFilter:
    """Which verifications to list; every given field must match (AND)."""

    state: str | None = None
    provider: str | None = None
    method: str | None = None
    # Created at or after this moment.
    since: datetime | None = None
    # "channel:external_id", or a bare external id matched on every channel.
    user: str | None = None


@dataclass(frozen=True)
class VerificationRow:
    """One verification as the list shows it, with its masked number only."""

    id: int
    channel: str
    external_id: str
    state: str
    provider: str
    method: str | None
    aadhaar_masked: str | None
    created_at: datetime
    updated_at: datetime
    ended_at: datetime | None

    @property
    def user(self) -> str:
        """`channel:external_id`."""
        return f"{self.channel}:{self.external_id}"


@dataclass(frozen=True)
class VerificationPage:
    """One page of matching verifications, newest first, and how many match in all."""

    rows: list[VerificationRow]
    total: int
    offset: int
    limit: int

    @property
    def has_next(self) -> bool:
        """Whether matching verifications follow this page."""
        return self.offset + len(self.rows) < self.total


def _filtered(wanted: VerificationFilter, *columns: ColumnElement[Any]) -> Select[Any]:
    query = select(*columns).select_from(
        _verification.join(_user, _user.c.id == _verification.c.user_id).outerjoin(
            _kyc_result, _kyc_result.c.verification_id == _verification.c.id
        )
    )
    conditions: list[ColumnElement[bool]] = []
    if wanted.state is not None:
        conditions.append(_verification.c.state == wanted.state)
    if wanted.provider is not None:
        conditions.append(_verification.c.provider == wanted.provider)
    if wanted.method is not None:
        conditions.append(_method == wanted.method)
    if wanted.since is not None:
        conditions.append(_verification.c.created_at >= wanted.since)
    if wanted.user is not None:
        channel, colon, external_id = wanted.user.partition(":")
        if colon:
            conditions.append(and_(_user.c.channel == channel, _user.c.external_id == external_id))
        else:
            conditions.append(_user.c.external_id == wanted.user)
    return query.where(*conditions)


def list_verifications(
    connection: Connection, *, wanted: VerificationFilter, offset: int, limit: int
) -> VerificationPage:
    """The matching verifications from `offset`, at most `limit`, newest first, and the total."""
    total = connection.execute(_filtered(wanted, func.count().label("n"))).scalar_one()
    query = (
        _filtered(wanted, *_COLUMNS).order_by(_verification.c.id.desc()).offset(offset).limit(limit)
    )
    rows = [VerificationRow(**row._asdict()) for row in connection.execute(query)]
    return VerificationPage(rows=rows, total=int(total), offset=offset, limit=limit)
