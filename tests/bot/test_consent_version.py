"""A changed consent notice is a new version: the user is told and agrees again.

The real `kycbot run` against the fake Bot API: a user agrees, the operator edits a consent
text (here through the environment, as a config file edit would), and the next verification
opens with the changed-notice line; each consent row records the version it was given to.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from flows.catalogue import PromptKey
from tests.bot.telegram_process import BotWorld, Person, agree, say, telegram_world

K = PromptKey
VERSION = re.compile(r"^2026-11-01\+[0-9a-f]{8}$")
NEW_PURPOSE = {"KYCBOT_PROMPTS__EN__CONSENT_PURPOSE": "Purpose: to open your account."}


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[BotWorld]:
    """The fake Telegram, a database and keys; bots started in it are killed afterwards."""
    async with telegram_world(tmp_path / "kycbot") as bots:
        yield bots


def agreed_versions(world: BotWorld) -> list[str]:
    """The notice version of every agreed consent, oldest first."""
    rows = world.rows("SELECT notice_version FROM consent WHERE decision = 'agreed' ORDER BY id")
    return [str(version) for (version,) in rows]


async def agree_again(person: Person) -> str:
    """/cancel the verification in progress, /start and agree; the notice's text."""
    person.says("/cancel")
    await person.sees(say(K.CANCELLED))
    person.says("/start")
    notice = await person.sees(say(K.CONSENT_QUESTION))
    person.presses(notice, say(K.BUTTON_AGREE))
    await person.sees(say(K.ASK_AADHAAR))
    return notice.text


async def test_changed_notice_text_is_announced_and_recorded_as_a_new_version(
    world: BotWorld,
) -> None:
    bot = await world.start()
    person = Person(world.fake, 4001)
    await agree(person)
    first = person.fake.chat(person.user_id).messages[0].text
    assert say(K.CONSENT_CHANGED) not in first  # nothing was agreed before
    unchanged = await agree_again(person)
    assert say(K.CONSENT_CHANGED) not in unchanged  # same notice, nothing to say
    await bot.stop()

    bot = await world.start(**NEW_PURPOSE)
    changed = await agree_again(person)
    assert changed.startswith(say(K.CONSENT_CHANGED)), changed
    assert "Purpose: to open your account." in changed
    again = await agree_again(person)
    assert say(K.CONSENT_CHANGED) not in again  # agreed to this one already
    await bot.stop()

    versions = agreed_versions(world)
    assert len(versions) == 4
    assert all(VERSION.match(version) for version in versions), versions
    assert versions[0] == versions[1] != versions[2] == versions[3]


async def test_a_hindi_text_change_is_a_new_version_for_everyone(world: BotWorld) -> None:
    bot = await world.start()
    person = Person(world.fake, 4002)  # an English speaker
    await agree(person)
    await bot.stop()

    # Only the Hindi notice changed: the version covers every offered language.
    bot = await world.start(KYCBOT_PROMPTS__HI__CONSENT_AGE="आयु 18 वर्ष या अधिक होनी चाहिए।")
    changed = await agree_again(person)
    assert changed.startswith(say(K.CONSENT_CHANGED)), changed
    await bot.stop()
    first, second = agreed_versions(world)
    assert first != second
