"""A slow provider end to end: the real `kycbot run` polling the fake Bot API, using the fake
Sandbox, whose answers take a while. The user sees "typing..." while it works, then the answer;
the process's log holds no number, OTP, credential or token."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from flows.catalogue import PromptKey
from tests.bot.telegram_process import (
    BotWorld,
    Person,
    agree,
    assert_record,
    give_number,
    masked,
    opening,
    say,
    synthetic_number,
    telegram_world,
)
from tests.fakes.sandbox_server import API_KEY, API_SECRET, FakeSandbox, Fault
from tests.scenario_tools import leaks

K = PromptKey
SLOW_SECONDS = 1.0  # well past the 0.3 s after which the typing indicator is shown


@pytest.fixture
async def sandbox() -> AsyncIterator[FakeSandbox]:
    async with FakeSandbox(slow_seconds=SLOW_SECONDS) as fake:
        yield fake


@pytest.fixture
async def world(tmp_path: Path, sandbox: FakeSandbox) -> AsyncIterator[BotWorld]:
    env = {
        "KYCBOT_PROVIDER__ORDER": "sandbox",
        "KYCBOT_PROVIDERS__SANDBOX__BASE_URL": sandbox.url,
        "KYCBOT_PROVIDERS__SANDBOX__API_KEY": API_KEY,
        "KYCBOT_PROVIDERS__SANDBOX__API_SECRET": API_SECRET,
        "KYCBOT_PROVIDERS__SANDBOX__TIMEOUT_SECONDS": "3",
        "KYCBOT_FLOW__CALL_TIMEOUT_SECONDS": "5",
    }
    async with telegram_world(tmp_path / "kycbot", **env) as bots:
        yield bots


async def test_a_slow_provider_shows_typing_then_answers(
    world: BotWorld, sandbox: FakeSandbox
) -> None:
    bot = await world.start()
    person = Person(world.fake, 8101)
    number = synthetic_number()
    sandbox.faults["generate_otp"] = Fault.SLOW
    sandbox.faults["verify_otp"] = Fault.SLOW

    await agree(person)
    _, confirm = await give_number(person, number)
    person.presses(confirm, say(K.BUTTON_SEND_OTP))
    await person.sees(opening(K.OTP_SENT) + masked(number))
    assert world.fake.chat(person.user_id).actions[-1:] == ("typing",)

    person.says(sandbox.sent[-1].otp)
    done = await person.sees(say(K.VERIFIED))
    assert_record(done.text, number)
    # Once while Sandbox sent the OTP, once while it checked it.
    assert world.fake.chat(person.user_id).actions == ("typing", "typing")
    assert len(sandbox.sent) == 1
    await bot.stop()

    output = world.log_text() + "\n".join(bot.stdout_lines)
    log_file = world.directory / "everything.log"
    log_file.write_text(output, encoding="utf-8")
    assert leaks([log_file, world.database], [number], [sandbox.sent[-1].otp]) == []
    for secret in (API_KEY, API_SECRET, *sandbox.tokens):
        assert secret not in output
    assert "provider=sandbox endpoint=generate_otp status=200 outcome=otp_sent" in output
