"""End-to-end verifications over Telegram: the real `kycbot run` polling the fake Bot API, a
real SQLite file, the simulator provider. Each test asserts what the user sees in the chat and,
where it matters, what the database holds afterwards.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from flows.catalogue import PromptKey
from tests.aadhaar_numbers import corrupt_check_digit, in_script
from tests.bot.telegram_process import (
    SWEEP_SECONDS,
    BotWorld,
    Person,
    agree,
    another_otp,
    begin,
    callback_data_sent,
    give_number,
    masked,
    opening,
    request_otp,
    resend_after_cooldown,
    resume_after_sigkill,
    say,
    spaced,
    synthetic_number,
    telegram_world,
    three_wrong_otps,
    verify_happily,
)

K = PromptKey
SHORT = 2  # seconds: OTP lifetime, idle timeout and resend cooldown where a test needs one
# A deadline is noticed within a sweep; the rest is slack for a slow machine.
NOTICED_WITHIN = SHORT + 10 * SWEEP_SECONDS + 3


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[BotWorld]:
    """The fake Telegram, a database and keys; bots started in it are killed afterwards."""
    async with telegram_world(tmp_path / "kycbot") as bots:
        yield bots


def assert_presses_retired(person: Person) -> None:
    """Every press was answered, and the keyboard it was pressed on is gone."""
    fake = person.fake
    answered = {answer.callback_query_id: answer for answer in fake.answered_callbacks}
    chat = fake.chat(person.user_id)
    edited = {
        int(call.params["message_id"])
        for call in fake.calls_to("editMessageReplyMarkup")
        if call.ok and str(call.params.get("chat_id")) == str(person.user_id)
    }
    for query_id in person.pressed:
        assert query_id in answered, f"press {query_id} was not answered\n{chat}"
        message_id = answered[query_id].message_id
        assert message_id is not None
        assert chat.message(message_id).keyboard == (), f"#{message_id} keeps its keyboard\n{chat}"
        assert message_id in edited, f"#{message_id}: no editMessageReplyMarkup\n{chat}"


# --- 1. the happy path ---------------------------------------------------------------------------


async def test_happy_path_keeps_secrets_out_of_the_chat_and_stores_a_masked_record(
    world: BotWorld,
) -> None:
    bot = await world.start()
    person = Person(world.fake, 1001)
    number = synthetic_number()
    otp = await verify_happily(person, bot, number)

    person.says("/status")
    status = await person.sees(say(K.ALREADY_VERIFIED))
    assert f"Aadhaar: {masked(number)}" in status.text

    await world.fake.wait_until(lambda: len(world.fake.answered_callbacks) == len(person.pressed))
    assert_presses_retired(person)
    chat = world.fake.chat(person.user_id)
    data = callback_data_sent(world.fake, person.user_id)
    assert data, "the bot sent no buttons"
    for value in data:
        for secret in (number, spaced(number), number[-8:], otp):
            assert secret not in value, f"callback data {value!r} carries a secret"
    shown = [m for m in chat.messages if masked(number) in m.text]
    assert len(shown) >= 4  # the confirmation, "sent", the record and /status
    unprotected = [m.describe() for m in shown if not m.protect_content]
    assert unprotected == [], "a message showing the masked number can be forwarded"
    for message in chat.messages:
        assert number not in message.text.replace(" ", "")
        assert otp not in message.text

    await bot.stop()
    assert world.rows("SELECT aadhaar_masked, length(aadhaar_hmac) FROM kyc_result") == [
        (masked(number), 64)
    ]
    state, ciphertext, ended_at = world.verification_of(person.user_id)
    assert (state, ciphertext) == ("verified", None)
    assert ended_at is not None
    assert world.rows("SELECT decision FROM consent") == [("agreed",)]


# --- 2. invalid numbers --------------------------------------------------------------------------


async def test_each_invalid_number_gets_its_own_message_and_typed_digits_are_deleted(
    world: BotWorld,
) -> None:
    bot = await world.start(KYCBOT_FLOW__MAX_INVALID_ENTRIES="6")
    person = Person(world.fake, 1002)
    number = synthetic_number()
    await agree(person)
    entries = [
        ("abcd efgh ijkl", say(K.AADHAAR_NOT_DIGITS), False),
        (spaced(number)[:-1], say(K.AADHAAR_WRONG_LENGTH, digit_count=11), True),
        (number + number[:4], say(K.AADHAAR_VIRTUAL_ID), True),  # 16 digits
        ("0" + number[1:], say(K.AADHAAR_BAD_FIRST_DIGIT), True),
        ("1" + number[1:], say(K.AADHAAR_BAD_FIRST_DIGIT), True),
    ]
    for tries_left, (typed, problem, has_digits) in zip(range(5, 0, -1), entries, strict=True):
        message_id = person.says(typed)
        answer = await person.sees(problem)
        text = answer.text
        assert say(K.AADHAAR_TRIES_LEFT, tries_left=tries_left) in text
        assert text.index(problem) < text.index(say(K.ASK_AADHAAR)), text
        assert (answer.markup, answer.placeholder) == ("force_reply", say(K.INPUT_AADHAAR))
        # The message is deleted before the answer is sent.
        assert person.deleted(message_id) is has_digits, typed

    last = person.says(corrupt_check_digit(number))  # the sixth: "mistyped"
    answer = await person.sees(say(K.AADHAAR_BAD_CHECKSUM))
    assert say(K.TOO_MANY_INVALID_NUMBERS) in answer.text
    assert say(K.ASK_AADHAAR) not in answer.text
    assert person.deleted(last)
    assert world.verification_of(person.user_id)[0] == "failed"

    await agree(person)  # a new verification
    person.says(in_script(spaced(number), "०"))  # Devanagari digits
    await person.sees(say(K.CONFIRM_NUMBER, masked_aadhaar=masked(number)))
    await bot.stop()


# --- 3. wrong OTPs -------------------------------------------------------------------------------


async def test_three_wrong_otps_use_up_the_otp_and_offer_a_new_one(world: BotWorld) -> None:
    bot = await world.start()
    person = Person(world.fake, 1003)
    await three_wrong_otps(person, bot, synthetic_number())
    await bot.stop()
    assert world.rows("SELECT count(*) FROM kyc_result") == [(0,)]
    assert world.verification_of(person.user_id)[0] == "await_resend"


# --- 4. resend cooldown --------------------------------------------------------------------------


async def test_resend_waits_for_the_cooldown_then_a_new_otp_verifies(world: BotWorld) -> None:
    bot = await world.start(KYCBOT_FLOW__RESEND_COOLDOWN_SECONDS=str(SHORT))
    person = Person(world.fake, 1004)
    number = synthetic_number()
    await resend_after_cooldown(person, bot, number, cooldown=SHORT)
    assert len(bot.otps_for(number[-4:])) == 2
    await bot.stop()
    assert world.verification_of(person.user_id)[0] == "verified"


# --- 5. deadlines --------------------------------------------------------------------------------


async def test_expired_otp_is_announced_by_the_sweeper_once(world: BotWorld) -> None:
    bot = await world.start(KYCBOT_FLOW__OTP_TTL_SECONDS=str(SHORT))
    person = Person(world.fake, 1005)
    number = synthetic_number()
    await agree(person)
    otp, _ = await request_otp(person, bot, number)
    typed_before = len(person.typed)

    expired = await person.sees(say(K.OTP_EXPIRED), timeout=NOTICED_WITHIN)
    assert len(person.typed) == typed_before, "the expiry must come without any input"
    assert expired.labels == [say(K.BUTTON_RESEND)]
    await asyncio.sleep(5 * SWEEP_SECONDS)
    assert person.count(say(K.OTP_EXPIRED)) == 1

    typed = person.says(otp)
    dead = await person.sees(say(K.OTP_DEAD))
    assert say(K.VERIFIED) not in dead.text
    await world.fake.wait_until(lambda: person.deleted(typed), chat_id=person.user_id)
    await bot.stop()
    assert world.rows("SELECT count(*) FROM kyc_result") == [(0,)]


async def test_idle_verification_is_ended_and_told_exactly_once(world: BotWorld) -> None:
    bot = await world.start(KYCBOT_FLOW__IDLE_TIMEOUT_SECONDS=str(SHORT))
    person = Person(world.fake, 1006)
    number = synthetic_number()
    await agree(person)
    await give_number(person, number)
    assert world.verification_of(person.user_id)[1] is not None  # kept, encrypted

    await person.sees(opening(K.TIMED_OUT), timeout=NOTICED_WITHIN)
    await asyncio.sleep(6 * SWEEP_SECONDS)
    assert person.count(opening(K.TIMED_OUT)) == 1
    state, ciphertext, ended_at = world.verification_of(person.user_id)
    assert (state, ciphertext) == ("timed_out", None)
    assert ended_at is not None

    notice = await begin(person)
    assert say(K.IN_PROGRESS) not in notice.text
    await bot.stop()


async def test_deadline_passed_while_the_bot_was_stopped_is_told_once_after_restart(
    world: BotWorld,
) -> None:
    loop = asyncio.get_running_loop()
    ttl = {"KYCBOT_FLOW__OTP_TTL_SECONDS": str(SHORT)}
    first = await world.start(**ttl)
    person = Person(world.fake, 1007)
    await agree(person)
    await request_otp(person, first, synthetic_number())
    sent_at = loop.time()
    await first.stop()
    assert person.count(say(K.OTP_EXPIRED)) == 0, "the first bot saw the deadline pass"

    await asyncio.sleep(max(sent_at + SHORT + 0.5 - loop.time(), 0))
    second = await world.start(**ttl)
    await person.sees(say(K.OTP_EXPIRED), timeout=10 * SWEEP_SECONDS + 3)
    await asyncio.sleep(6 * SWEEP_SECONDS)
    assert person.count(say(K.OTP_EXPIRED)) == 1
    await second.stop()
    outcomes = [outcome for _, _, outcome in world.events_of(person.user_id)]
    assert outcomes.count("otp_expired") == 1, outcomes


# --- 6. cancel, and what is not text -------------------------------------------------------------


async def test_sticker_gets_a_hint_and_the_prompt_and_cancel_erases_the_number(
    world: BotWorld,
) -> None:
    bot = await world.start()
    person = Person(world.fake, 1008)
    await agree(person)

    sticker = person.sends_sticker()
    hint = await person.sees(say(K.UNSUPPORTED_MESSAGE))
    assert say(K.ASK_AADHAAR) in hint.text
    assert (hint.markup, hint.placeholder) == ("force_reply", say(K.INPUT_AADHAAR))
    assert not person.deleted(sticker)

    await request_otp(person, bot, synthetic_number())
    assert world.verification_of(person.user_id)[1] is not None
    person.says("/cancel")
    await person.sees(say(K.CANCELLED))
    state, ciphertext, ended_at = world.verification_of(person.user_id)
    assert (state, ciphertext) == ("cancelled", None)
    assert ended_at is not None

    person.says("/status")
    await person.sees(say(K.STATUS_NOT_VERIFIED))
    await bot.stop()


# --- 7. a crash mid-flow -------------------------------------------------------------------------


async def test_sigkill_after_the_otp_was_sent_and_the_next_bot_verifies_it(
    world: BotWorld,
) -> None:
    await world.start()
    person = Person(world.fake, 1009)
    number = synthetic_number()
    again = await resume_after_sigkill(world, person, number)
    await again.stop()
    assert world.rows("SELECT aadhaar_masked FROM kyc_result") == [(masked(number),)]
    assert world.verification_of(person.user_id)[:2] == ("verified", None)


async def test_wrong_otp_after_restart_is_still_counted(world: BotWorld) -> None:
    # The attempts left live in the database, not in the process that sent the OTP.
    first = await world.start()
    person = Person(world.fake, 1010)
    await agree(person)
    otp, _ = await request_otp(person, first, synthetic_number())
    person.says(another_otp(otp))
    await person.sees(say(K.OTP_WRONG, attempts_left=2))
    await first.stop()

    second = await world.start()
    person.says(another_otp(otp))
    await person.sees(say(K.OTP_WRONG, attempts_left=1))
    person.says(otp)
    await person.sees(say(K.VERIFIED))
    await second.stop()
