"""Safety over Telegram, end to end: double presses, old buttons, group chats, messages that
hold secrets, and a privacy scan of the database and the log after whole verifications.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from flows.catalogue import PromptKey
from tests.bot.telegram_process import (
    BotWorld,
    Person,
    agree,
    give_number,
    masked,
    resend_after_cooldown,
    resume_after_sigkill,
    say,
    spaced,
    synthetic_number,
    telegram_world,
    three_wrong_otps,
    verify_happily,
)
from tests.fakes.telegram import BOT_USER
from tests.scenario_tools import leaks, sqlite_files

K = PromptKey
GROUP = -1_001_234_567
DEEP_LINK = f"https://t.me/{BOT_USER['username']}?start=verify"


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[BotWorld]:
    """The fake Telegram, a database and keys; bots started in it are killed afterwards."""
    async with telegram_world(tmp_path / "kycbot") as bots:
        yield bots


# --- 8. a double press ---------------------------------------------------------------------------


async def test_two_send_otp_presses_at_once_send_one_otp(world: BotWorld) -> None:
    bot = await world.start()
    person = Person(world.fake, 2001)
    number = synthetic_number()
    await agree(person)
    _, confirm = await give_number(person, number)

    # Both presses are queued before the bot can poll again: they arrive in one batch.
    first = person.presses(confirm, say(K.BUTTON_SEND_OTP))
    second = person.presses(confirm, say(K.BUTTON_SEND_OTP))
    await person.sees(say(K.ASK_OTP, attempts_left=3))
    await world.fake.wait_until(
        lambda: {first, second} <= {a.callback_query_id for a in world.fake.answered_callbacks},
        what="both presses to be answered",
        chat_id=person.user_id,
    )
    await bot.otp(number[-4:])
    await asyncio.sleep(0.5)  # room for a second SMS, if the bot were to send one

    assert len(bot.otps_for(number[-4:])) == 1
    assert person.count(say(K.OTP_SENT, masked_aadhaar=masked(number), minutes=10)) == 1
    outcomes = [outcome for _, _, outcome in world.events_of(person.user_id)]
    assert outcomes.count("otp_requested") == 1, outcomes
    assert outcomes.count("otp_sent") == 1, outcomes
    # The second press is told that its step is over, or finds its keyboard already gone.
    assert outcomes.count("step_over") == person.count(say(K.STEP_OVER)) <= 1
    assert world.rows("SELECT otp_sends FROM verification") == [(1,)]
    await bot.stop()


# --- 9. an old button ----------------------------------------------------------------------------


async def test_an_old_button_says_its_step_is_over_and_repeats_the_current_prompt(
    world: BotWorld,
) -> None:
    bot = await world.start()
    person = Person(world.fake, 2002)
    person.says("/start")
    notice = await person.sees(say(K.CONSENT_QUESTION))
    person.presses(notice, say(K.BUTTON_AGREE))
    await person.sees(say(K.ASK_AADHAAR))

    # A client that did not redraw the message still shows "I agree" under it.
    person.presses(notice, say(K.BUTTON_AGREE), strict=False)
    over = await person.sees(say(K.STEP_OVER))
    assert say(K.ASK_AADHAAR) in over.text
    assert (over.markup, over.placeholder) == ("force_reply", say(K.INPUT_AADHAAR))
    await world.fake.wait_until(lambda: len(world.fake.answered_callbacks) == 2)

    # So is a button of an earlier step that did not move on by itself: the conversation is
    # still at the number, where "Change number" of a confirmation never shown means nothing.
    number = synthetic_number()
    _, confirm = await give_number(person, number)
    person.presses(confirm, say(K.BUTTON_CHANGE_NUMBER))
    await person.sees(say(K.ASK_AADHAAR))
    person.presses(confirm, say(K.BUTTON_SEND_OTP), strict=False)
    over = await person.sees(say(K.STEP_OVER))
    assert say(K.ASK_AADHAAR) in over.text
    assert bot.sms == []

    assert world.rows("SELECT decision FROM consent") == [("agreed",)]
    assert world.verification_of(person.user_id)[0] == "await_aadhaar"
    await bot.stop()


# --- messages that hold secrets ------------------------------------------------------------------


async def test_a_photo_captioned_with_the_number_is_deleted(world: BotWorld) -> None:
    bot = await world.start()
    person = Person(world.fake, 2003)
    await agree(person)
    photo = world.fake.send_photo(person.user_id, caption=spaced(synthetic_number()))
    hint = await person.sees(say(K.UNSUPPORTED_MESSAGE))
    assert say(K.ASK_AADHAAR) in hint.text
    await bot.stop()
    assert person.deleted(photo), "a photo captioned with an Aadhaar number stayed in the chat"


async def test_a_press_whose_answer_fails_still_loses_its_keyboard(world: BotWorld) -> None:
    bot = await world.start()
    person = Person(world.fake, 2004)
    number = synthetic_number()
    await agree(person)
    _, confirm = await give_number(person, number)
    # After a restart or a slow step, Telegram refuses answers to presses older than ~15 s.
    world.fake.fail_next(
        "answerCallbackQuery",
        400,
        "Bad Request: query is too old and response timeout expired or query ID is invalid",
    )
    person.presses(confirm, say(K.BUTTON_SEND_OTP))
    await person.sees(say(K.ASK_OTP, attempts_left=3))
    await bot.stop()
    shown = world.fake.chat(person.user_id).message(confirm.message_id)
    assert shown.keyboard == (), f"the pressed keyboard stayed: {shown.labels}"


# --- 10. group chats -----------------------------------------------------------------------------


async def test_group_chat_points_to_a_private_chat_and_hides_numbers(world: BotWorld) -> None:
    bot = await world.start()
    fake = world.fake
    member = 2005
    number = synthetic_number()

    def in_group(text: str) -> int:
        return fake.send_text(member, text, chat_id=GROUP, chat_type="group")

    in_group("hello everyone")
    in_group("/start")
    pointer = await fake.wait_for_message(GROUP, say(K.PRIVATE_CHAT_ONLY))
    assert pointer.buttons == [(say(K.BUTTON_OPEN_PRIVATE_CHAT), DEEP_LINK)]
    assert pointer.button(say(K.BUTTON_OPEN_PRIVATE_CHAT)).callback_data is None
    assert len(fake.chat(GROUP).messages) == 1, "ordinary group talk must get no answer"

    leaked = in_group(f"my aadhaar is {spaced(number)}")
    told = await fake.wait_for_message(GROUP, say(K.GROUP_MESSAGE_DELETED))
    assert say(K.PRIVATE_CHAT_ONLY) in told.text
    assert number[-4:] not in told.text
    assert (GROUP, leaked) in fake.deleted_messages

    fake.delete_fails = True  # the bot is not an admin there
    kept = in_group(number)
    told = await fake.wait_for_message(GROUP, say(K.GROUP_MESSAGE_NOT_DELETED))
    assert (GROUP, kept) not in fake.deleted_messages
    assert told.buttons == [(say(K.BUTTON_OPEN_PRIVATE_CHAT), DEEP_LINK)]
    fake.delete_fails = False

    assert not world.has_user(member), "a group message started a verification"
    assert world.rows("SELECT count(*) FROM verification") == [(0,)]

    # The deep link opens the private chat with "/start verify".
    person = Person(fake, member)
    person.says("/start verify")
    await person.sees(say(K.CONSENT_QUESTION))
    await bot.stop()
    assert world.verification_of(member)[0] == "await_consent"


# --- 13. privacy ---------------------------------------------------------------------------------


async def test_no_number_or_otp_reaches_the_database_or_the_debug_log(tmp_path: Path) -> None:
    cooldown = 2
    async with telegram_world(
        tmp_path / "kycbot",
        KYCBOT_LOGGING__LEVEL="DEBUG",
        KYCBOT_FLOW__RESEND_COOLDOWN_SECONDS=str(cooldown),
    ) as world:
        numbers: list[str] = []
        while len(numbers) < 4:  # distinct last four digits: each SMS is told apart by them
            number = synthetic_number()
            if number[-4:] not in {n[-4:] for n in numbers}:
                numbers.append(number)
        bot = await world.start()
        people = [Person(world.fake, 3001 + index) for index in range(4)]
        await asyncio.gather(
            verify_happily(people[0], bot, numbers[0]),
            three_wrong_otps(people[1], bot, numbers[1]),
            resend_after_cooldown(people[2], bot, numbers[2], cooldown=cooldown),
        )
        bot = await resume_after_sigkill(world, people[3], numbers[3])

        otps = set(world.otps)
        otps |= {typed for p in people for typed in p.typed if re.fullmatch(r"\d{6}", typed)}
        assert len(otps) >= 6  # five OTPs sent, and the wrong ones typed

        live = leaks(
            [*sqlite_files(world.database), *world.log_files], numbers, otps
        )  # while the bot still has the WAL open
        await bot.stop()
        assert live + leaks([*sqlite_files(world.database), *world.log_files], numbers, otps) == []

        log = world.log_text()
        assert "-[TextSent]-> verifying_otp" in log, "the log recorded no transitions"
        assert "-[KycVerified]-> verified" in log
        assert log.count("\n") >= 20
