"""The language a user is answered in: read it, and store the one they picked with /language."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, insert, select, update

from storage.conversations import UserKey
from storage.kept_limits import kept_limits
from storage.models import Base

__all__ = ["choose_language", "user_language"]

_user = Base.metadata.tables["user"]


def user_language(connection: Connection, *, key: UserKey) -> str | None:
    """The stored language of the user, or None for someone the bot has not met."""
    query = select(_user.c.language).where(
        _user.c.channel == key.channel, _user.c.external_id == key.external_id
    )
    language = connection.execute(query).scalar()
    return None if language is None else str(language)


def choose_language(
    connection: Connection,
    *,
    key: UserKey,
    language: str,
    now: datetime,
    hashed_user: str | None = None,
) -> None:
    """Store `language` as the user's own choice: from now on their app's language is ignored.

    `hashed_user` (storage.kept_limits.user_hmac) lets a user created here come back with the
    limits an erasure kept, exactly as one created by their first message would.
    """
    chosen = {"language": language, "language_chosen_at": now}
    result = connection.execute(
        update(_user)
        .where(_user.c.channel == key.channel, _user.c.external_id == key.external_id)
        .values(**chosen)
    )
    if result.rowcount == 0:
        connection.execute(
            insert(_user).values(
                channel=key.channel,
                external_id=key.external_id,
                created_at=now,
                **{"otp_requests_in_window": 0, "failures_in_window": 0}
                | (kept_limits(connection, hashed_user=hashed_user) if hashed_user else {}),
                **chosen,
            )
        )
