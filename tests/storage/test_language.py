"""The stored language: it follows the user's app until they pick one, then the pick stands.

And the consent notice version last agreed to comes back with every load.
"""

from __future__ import annotations

import functools

from sqlalchemy import Connection

from flows import ConsentGiven, StartRequested
from storage import Database, Loaded, load_conversation
from storage.language import choose_language, user_language
from tests.storage.conftest import CONSENT, STEP, T0, Chat


async def load_with_app(chat: Chat, client_language: str | None, step: int) -> Loaded:
    """Load as an update from an app in `client_language` would."""

    def unit(connection: Connection) -> Loaded:
        return load_conversation(
            connection,
            key=chat.key,
            language=chat.language,
            now=T0 + step * STEP,
            vault=chat.vault,
            client_language=client_language,
        )

    return await chat.database.run(unit)


async def test_language_follows_the_app_until_the_user_picks_one(
    chat: Chat, database: Database
) -> None:
    assert (await load_with_app(chat, "hi", 0)).language == "hi"  # first contact
    assert (await load_with_app(chat, None, 1)).language == "hi"  # the sweeper knows no app
    assert (await load_with_app(chat, "en", 2)).language == "en"  # the app changed

    await database.run(
        functools.partial(choose_language, key=chat.key, language="hi", now=T0 + 3 * STEP)
    )
    assert (await load_with_app(chat, "en", 4)).language == "hi"  # the pick stands
    assert await database.run(functools.partial(user_language, key=chat.key)) == "hi"


async def test_a_pick_before_first_contact_creates_the_user(chat: Chat, database: Database) -> None:
    await database.run(functools.partial(choose_language, key=chat.key, language="hi", now=T0))
    assert (await load_with_app(chat, "en", 1)).language == "hi"


async def test_the_last_agreed_notice_version_is_loaded(chat: Chat) -> None:
    assert (await chat.load(T0)).session.standing.agreed_notice_version is None
    await chat.step(StartRequested(), T0 + STEP)
    await chat.step(ConsentGiven(), T0 + 2 * STEP, consent=CONSENT)
    loaded = await chat.load(T0 + 3 * STEP)
    assert loaded.session.standing.agreed_notice_version == CONSENT.notice_version
