"""Languages end to end: the real `kycbot run` against the fake Bot API, and `kycbot chat`.

A Telegram user is answered in their app's language when it is offered, follows it until they
pick one with /language, and a pick in the middle of a verification leaves the verification
where it was. Hindi texts come from the shipped translation, so the assertions are on what a
Hindi speaker really reads; the English catalogue is the list of texts that must not leak.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from flows.catalogue import CATALOGUE, PromptKey
from flows.prompts import shipped_prompt
from tests.bot.chat_process import ChatWorld
from tests.bot.telegram_process import (
    BotProcess,
    BotWorld,
    Person,
    another_otp,
    masked,
    say,
    spaced,
    synthetic_number,
    telegram_world,
)

K = PromptKey
LANGUAGE_BUTTON = re.compile(r"^lang:")


def hi(key: PromptKey, **params: object) -> str:
    """The shipped Hindi text of a prompt."""
    template = shipped_prompt("hi", key)
    assert template is not None, key
    return template.format(**params)


def english_openings() -> list[str]:
    """Every English text up to its first placeholder: none may show in a Hindi chat."""
    openings = (spec.default.split("{", 1)[0].strip() for spec in CATALOGUE.values())
    return [opening for opening in openings if len(opening) >= 8]


@dataclass
class Speaker(Person):
    """A Telegram user whose app is set to `language_code`."""

    language_code: str = "hi"

    def says(self, text: str) -> int:
        """Type `text` from an app in `language_code`; the message id."""
        self.typed.append(text)
        return self.fake.send_text(
            self.user_id, text, first_name=self.first_name, language_code=self.language_code
        )


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[BotWorld]:
    """The fake Telegram, a database and keys; bots started in it are killed afterwards."""
    async with telegram_world(tmp_path / "kycbot") as bots:
        yield bots


def stored_language(world: BotWorld, user_id: int) -> tuple[str, bool]:
    """The user's stored language, and whether they picked it with /language."""
    [(language, chosen_at)] = world.rows(
        'SELECT language, language_chosen_at FROM "user" WHERE external_id = ?', str(user_id)
    )
    return str(language), chosen_at is not None


async def verify_in_hindi(person: Person, bot: BotProcess, number: str) -> None:
    """From the number prompt on, in Hindi: number, Send OTP, a wrong OTP, the OTP."""
    person.says(spaced(number))
    confirm = await person.sees(hi(K.CONFIRM_NUMBER, masked_aadhaar=masked(number)))
    assert confirm.labels == [hi(K.BUTTON_SEND_OTP), hi(K.BUTTON_CHANGE_NUMBER)]
    person.presses(confirm, hi(K.BUTTON_SEND_OTP))
    sent = await person.sees(hi(K.OTP_SENT, masked_aadhaar=masked(number), minutes=10))
    assert hi(K.BUTTON_RESEND) in sent.labels
    ask = await person.sees(hi(K.ASK_OTP, attempts_left=3))
    assert ask.placeholder == hi(K.INPUT_OTP)
    otp = await bot.otp(number[-4:])
    person.says(another_otp(otp))
    await person.sees(hi(K.OTP_WRONG, attempts_left=2))
    person.says(otp)
    done = await person.sees(hi(K.VERIFIED))
    assert f"आधार: {masked(number)}\nनाम: " in done.text
    assert re.search(r"सत्यापन की तिथि: \d\d [\u0900-\u097f]+ \d{4}", done.text), done.text


async def test_hindi_flow_end_to_end(world: BotWorld) -> None:
    bot = await world.start()
    person = Speaker(world.fake, 3001, language_code="hi")
    person.says("/start")
    notice = await person.sees(hi(K.CONSENT_QUESTION))
    for part in (K.CONSENT_TITLE, K.CONSENT_PURPOSE, K.CONSENT_STORED, K.CONSENT_WITHDRAWAL):
        assert hi(part) in notice.text
    assert notice.labels == [hi(K.BUTTON_AGREE), hi(K.BUTTON_DECLINE)]
    person.presses(notice, hi(K.BUTTON_AGREE))
    ask = await person.sees(hi(K.ASK_AADHAAR))
    assert ask.placeholder == hi(K.INPUT_AADHAAR)
    await verify_in_hindi(person, bot, synthetic_number())
    person.says("/help")
    await person.sees(hi(K.HELP))

    leaked = [
        (opening, message.text)
        for message in world.fake.chat(person.user_id).messages
        for opening in english_openings()
        if opening in message.text
    ]
    assert leaked == [], f"English in a Hindi chat: {leaked}"
    await bot.stop()
    assert stored_language(world, person.user_id) == ("hi", False)
    assert world.rows("SELECT language, decision FROM consent") == [("hi", "agreed")]


async def test_language_switch_mid_flow_keeps_the_step_and_the_choice_stands(
    world: BotWorld,
) -> None:
    bot = await world.start()
    person = Speaker(world.fake, 3002, language_code="en")
    person.says("/start")
    notice = await person.sees(say(K.CONSENT_QUESTION))
    person.presses(notice, say(K.BUTTON_AGREE))
    await person.sees(say(K.ASK_AADHAAR))

    person.says("/language")
    question = await person.sees(say(K.LANGUAGE_QUESTION))
    assert question.labels == ["English", "हिन्दी"]  # each in its own language
    person.presses(question, "हिन्दी")
    chosen = await person.sees(hi(K.LANGUAGE_CHOSEN))
    assert chosen.keyboard == ()
    assert world.fake.chat(person.user_id).message(question.message_id).keyboard == ()
    assert stored_language(world, person.user_id) == ("hi", True)

    # The app still says English; the pick stands, and the verification goes on where it was.
    await verify_in_hindi(person, bot, synthetic_number())
    events = [event for event, _, _ in world.events_of(person.user_id)]
    assert events.count("StartRequested") == 1, events
    await bot.stop()


async def test_app_language_picks_and_is_followed_until_a_choice(world: BotWorld) -> None:
    await world.start()
    regional = Speaker(world.fake, 3003, language_code="hi-IN")
    regional.says("/help")
    await regional.sees(hi(K.HELP))

    unsupported = Speaker(world.fake, 3004, language_code="fr")
    unsupported.says("/help")
    await unsupported.sees(say(K.HELP))
    assert stored_language(world, unsupported.user_id) == ("en", False)

    # Not chosen yet: the user follows their app to Hindi.
    unsupported.language_code = "hi"
    unsupported.says("/help")
    await unsupported.sees(hi(K.HELP))
    assert stored_language(world, unsupported.user_id) == ("hi", False)

    unsupported.says("/language")
    question = await unsupported.sees(hi(K.LANGUAGE_QUESTION))
    unsupported.presses(question, "English")
    await unsupported.sees(say(K.LANGUAGE_CHOSEN))
    unsupported.says("/help")  # the app still says Hindi; the pick wins
    await unsupported.sees(say(K.HELP))
    assert stored_language(world, unsupported.user_id) == ("en", True)


async def test_a_pick_of_a_language_no_longer_offered_changes_nothing(world: BotWorld) -> None:
    bot = await world.start()
    person = Speaker(world.fake, 3005, language_code="hi")
    person.says("/language")
    question = await person.sees(hi(K.LANGUAGE_QUESTION))
    await bot.stop()
    await world.start(KYCBOT_LANGUAGE__OFFERED="en")
    person.presses(question, "हिन्दी")
    await person.sees(say(K.LANGUAGE_NOT_OFFERED))
    assert world.rows('SELECT language_chosen_at FROM "user"') == []  # nothing stored


# --- the terminal ----------------------------------------------------------------------------


@pytest.fixture
def chats(tmp_path: Path) -> Iterator[ChatWorld]:
    """A terminal installation; chats started in it are killed afterwards."""
    world = ChatWorld(tmp_path / "chat")
    try:
        yield world
    finally:
        world.close()


def test_terminal_chat_speaks_the_default_language_and_switches_with_numbers(
    chats: ChatWorld,
) -> None:
    chat = chats.start(user="meera", KYCBOT_LANGUAGE__DEFAULT="hi")
    chat.expect(hi(K.CONSENT_QUESTION))
    chat.choose(hi(K.BUTTON_AGREE))
    chat.expect(hi(K.ASK_AADHAAR))
    number = synthetic_number()
    chat.send(number)
    chat.expect(hi(K.CONFIRM_NUMBER, masked_aadhaar=masked(number)))

    chat.send("/language")
    chat.expect(hi(K.LANGUAGE_QUESTION))
    chat.choose("English")
    chat.expect(say(K.LANGUAGE_CHOSEN))
    # The step's own buttons, shown before /language, still answer to their numbers.
    assert f"[1] {hi(K.BUTTON_SEND_OTP)}" in chat.screen
    chat.send("1")
    chat.expect(say(K.ASK_OTP, attempts_left=3))
    chat.send(chat.otp())
    chat.expect(say(K.VERIFIED))
    assert chat.quit() == 0
