"""The runner and the sweeper in-process on each database backend, with the simulator and a
recording chat surface."""

from __future__ import annotations

import asyncio
import base64
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from bot.config import Settings, load_settings
from bot.runner import Runner
from bot.sweeper import Sweeper
from flows import (
    ButtonAction,
    CancelRequested,
    ConsentGiven,
    NumberConfirmed,
    StartRequested,
    TextSent,
    event_for_button,
)
from kyc import SimulatedSms, SimulatorProvider
from storage import Database, NumberVault, UserKey
from storage.migrate import upgrade
from tests.aadhaar_numbers import make_aadhaar
from tests.conftest import OpenDatabase
from tests.fakes.channel import RecordingChannel
from tests.fakes.providers import CountingProvider

USER = UserKey(channel="test", external_id="42")
NUMBER = make_aadhaar("23456789012")


@dataclass
class Clock:
    """A clock the test moves by hand."""

    now: datetime = field(default_factory=lambda: datetime(2026, 3, 1, 10, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Bot:
    """One wired runner over a real SQLite file."""

    runner: Runner
    database: Database
    vault: NumberVault
    provider: CountingProvider
    clock: Clock
    sms: list[SimulatedSms]

    def sweeper(self, channel: RecordingChannel) -> Sweeper:
        return Sweeper(
            runner=self.runner,
            database=self.database,
            channel=USER.channel,
            channel_for=lambda _: channel,
            interval_seconds=0.01,
            clock=self.clock,
        )

    async def rows(self, query: str) -> list[tuple[object, ...]]:
        async with self.database.session() as session:
            return [tuple(row) for row in await session.execute(text(query))]


def settings_for(**flow: str) -> Settings:
    environ = {
        "KYCBOT_SECURITY__HMAC_KEY": "h" * 40,
        "KYCBOT_SECURITY__ENCRYPTION_KEY": base64.b64encode(os.urandom(32)).decode(),
    }
    environ.update({f"KYCBOT_FLOW__{key.upper()}": value for key, value in flow.items()})
    return load_settings(None, environ)


async def make_bot(database: Database, settings: Settings, clock: Clock) -> Bot:
    await upgrade(database)
    sms: list[SimulatedSms] = []
    provider = CountingProvider(inner=SimulatorProvider(on_sms=sms.append, clock=clock))
    vault = NumberVault(
        encryption_key=settings.security.encryption_key_bytes(),
        hmac_key=settings.security.hmac_key_bytes(),
    )
    runner = Runner(
        settings=settings, database=database, provider=provider, vault=vault, clock=clock
    )
    return Bot(runner, database, vault, provider, clock, sms)


@pytest.fixture
async def bot(open_database: OpenDatabase) -> Bot:
    return await make_bot(open_database(), settings_for(call_timeout_seconds="1"), Clock())


async def reach_confirmation(bot: Bot, channel: RecordingChannel) -> None:
    for event in (StartRequested(), ConsentGiven(), TextSent(NUMBER)):
        await bot.runner.handle(USER, event, channel)
    assert "Send the OTP to the mobile linked with XXXX XXXX" in channel.last


async def test_a_whole_verification_is_stored_masked(bot: Bot) -> None:
    channel = RecordingChannel()
    await reach_confirmation(bot, channel)
    await bot.runner.handle(USER, NumberConfirmed(), channel)
    await bot.runner.handle(USER, TextSent(bot.sms[-1].otp), channel)

    assert "Your identity is verified" in channel.last
    assert f"XXXX XXXX {NUMBER[-4:]}" in channel.last
    assert channel.deleted == 2  # the number and the OTP
    [(state, ciphertext)] = await bot.rows("SELECT state, aadhaar_ciphertext FROM verification")
    assert (state, ciphertext) == ("verified", None)
    [(masked, name)] = await bot.rows("SELECT aadhaar_masked, name FROM kyc_result")
    assert masked == f"XXXX XXXX {NUMBER[-4:]}"
    assert name == "A*** V****"


async def test_two_presses_at_once_request_one_otp(bot: Bot) -> None:
    channel = RecordingChannel()
    await reach_confirmation(bot, channel)
    await asyncio.gather(
        bot.runner.handle(USER, NumberConfirmed(), channel),
        bot.runner.handle(USER, NumberConfirmed(), channel),
    )
    assert bot.provider.requests == 1
    assert len(bot.sms) == 1
    assert "That step is over" in channel.last


async def test_two_bot_processes_on_one_database_request_one_otp(
    bot: Bot, open_database: OpenDatabase
) -> None:
    # A second runner stands for a second process: no shared lock, only the version column.
    other = Runner(
        settings=bot.runner.settings,
        database=open_database(),
        provider=bot.provider,
        vault=bot.vault,
        clock=bot.clock,
    )
    channel = RecordingChannel()
    await reach_confirmation(bot, channel)
    await asyncio.gather(
        bot.runner.handle(USER, NumberConfirmed(), channel),
        other.handle(USER, NumberConfirmed(), channel),
    )
    assert bot.provider.requests == 1


async def test_a_provider_that_raises_counts_nothing_against_the_user(bot: Bot) -> None:
    channel = RecordingChannel()
    await reach_confirmation(bot, channel)
    bot.provider.raise_on_request = ConnectionResetError("peer said 999988887777")
    await bot.runner.handle(USER, NumberConfirmed(), channel)

    assert "not responding right now. Nothing was counted against you" in channel.last
    assert channel.messages[-1].buttons[0].action is ButtonAction.SEND_OTP
    assert await bot.rows("SELECT state, otp_sends FROM verification") == [("await_confirm", 0)]
    assert await bot.rows('SELECT otp_requests_in_window FROM "user"') == [(0,)]


async def test_a_provider_that_hangs_is_cut_off_at_the_call_timeout(bot: Bot) -> None:
    channel = RecordingChannel()
    await reach_confirmation(bot, channel)
    bot.provider.stall = asyncio.Event()  # never set
    await asyncio.wait_for(bot.runner.handle(USER, NumberConfirmed(), channel), timeout=5)
    # Cut off mid-request, an SMS may be on its way: a new one only after the cooldown.
    assert "did not confirm that it sent an OTP" in channel.last
    assert "ask for a new OTP in 60 seconds" in channel.last
    assert await bot.rows("SELECT state FROM verification") == [("await_confirm",)]


async def test_a_call_cut_off_by_a_crash_is_released_by_the_sweeper(bot: Bot) -> None:
    channel = RecordingChannel()
    await reach_confirmation(bot, channel)
    bot.provider.stall = asyncio.Event()
    crashed = asyncio.create_task(bot.runner.handle(USER, NumberConfirmed(), channel))
    await asyncio.sleep(0.2)
    crashed.cancel()  # the process dies while the provider call runs
    with pytest.raises(asyncio.CancelledError):
        await crashed
    assert await bot.rows("SELECT state FROM verification") == [("requesting_otp",)]

    bot.clock.advance(2)
    after_restart = RecordingChannel()
    assert await bot.sweeper(after_restart).sweep_once() == 1
    assert await bot.sweeper(after_restart).sweep_once() == 0
    assert len(after_restart.messages) == 1
    assert "did not answer in time. Nothing was counted against you" in after_restart.last
    assert await bot.rows("SELECT state FROM verification") == [("await_confirm",)]


async def test_an_expiry_that_passed_while_stopped_is_told_exactly_once(bot: Bot) -> None:
    channel = RecordingChannel()
    await reach_confirmation(bot, channel)
    await bot.runner.handle(USER, NumberConfirmed(), channel)
    bot.clock.advance(601)

    notices = RecordingChannel()
    sweeper = bot.sweeper(notices)
    assert await sweeper.sweep_once() == 1
    assert await sweeper.sweep_once() == 0
    assert notices.texts() == [notices.last]
    assert "This OTP has expired" in notices.last
    assert notices.messages[0].buttons[0].action is ButtonAction.RESEND


async def test_idle_timeout_ends_the_verification_once_and_wipes_the_number(bot: Bot) -> None:
    channel = RecordingChannel()
    await reach_confirmation(bot, channel)
    bot.clock.advance(901)
    notices = RecordingChannel()
    await bot.sweeper(notices).sweep_once()
    await bot.sweeper(notices).sweep_once()
    assert len(notices.messages) == 1
    assert "nothing happened for 15 min" in notices.last
    assert await bot.rows("SELECT state, aadhaar_ciphertext, aadhaar_masked FROM verification") == [
        ("timed_out", None, None)
    ]


async def test_cancel_wipes_the_number(bot: Bot) -> None:
    channel = RecordingChannel()
    await reach_confirmation(bot, channel)
    await bot.runner.handle(USER, CancelRequested(), channel)
    assert "Verification cancelled" in channel.last
    assert await bot.rows("SELECT state, aadhaar_ciphertext FROM verification") == [
        ("cancelled", None)
    ]


async def test_start_over_ends_this_verification_and_shows_the_notice(bot: Bot) -> None:
    channel = RecordingChannel()
    await reach_confirmation(bot, channel)
    await bot.runner.handle(USER, event_for_button(ButtonAction.START_OVER), channel)
    assert "your consent" in channel.last
    assert await bot.rows("SELECT state FROM verification ORDER BY id") == [
        ("cancelled",),
        ("await_consent",),
    ]


async def test_a_broken_database_gets_an_apology_not_an_exception(bot: Bot) -> None:
    async with bot.database.session() as session, session.begin():
        await session.execute(text("DROP TABLE flow_event"))
    channel = RecordingChannel()
    await bot.runner.handle(USER, StartRequested(), channel)
    assert "Something went wrong on our side" in channel.last
    # The failed step was rolled back whole: no half-written verification.
    assert await bot.rows("SELECT count(*) FROM verification") == [(0,)]


async def test_logs_carry_no_number_and_no_otp(bot: Bot, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    channel = RecordingChannel()
    await reach_confirmation(bot, channel)
    await bot.runner.handle(USER, NumberConfirmed(), channel)
    await bot.runner.handle(USER, TextSent("135791"), channel)
    await bot.runner.handle(USER, TextSent(bot.sms[-1].otp), channel)
    assert "verified" in caplog.text
    for secret in (NUMBER, bot.sms[-1].otp, "135791"):
        assert secret not in caplog.text


async def test_many_users_at_once_all_finish_without_an_error(bot: Bot) -> None:
    channels = {index: RecordingChannel() for index in range(20)}

    async def verify(index: int) -> None:
        user = UserKey(channel="test", external_id=f"crowd-{index}")
        number = make_aadhaar(f"{2 + index % 8}{index:010d}")
        for event in (StartRequested(), ConsentGiven(), TextSent(number), NumberConfirmed()):
            await bot.runner.handle(user, event, channels[index])
        otp = next(sms.otp for sms in bot.sms if sms.masked_aadhaar.endswith(number[-4:]))
        await bot.runner.handle(user, TextSent(otp), channels[index])

    await asyncio.gather(*(verify(index) for index in channels))
    for channel in channels.values():
        assert "Your identity is verified" in channel.last
        assert not any("Something went wrong" in text for text in channel.texts())
    assert await bot.rows("SELECT count(*) FROM kyc_result") == [(20,)]


async def test_a_button_of_an_earlier_step_is_told_the_step_is_over(bot: Bot) -> None:
    channel = RecordingChannel()
    await bot.runner.handle(USER, StartRequested(), channel)
    consent = channel.messages[-1]
    await bot.runner.handle(USER, ConsentGiven(), channel, pressed_at=consent.step)
    assert "12-digit Aadhaar number" in channel.last

    # The same "I agree" pressed again: its step has moved on.
    await bot.runner.handle(USER, ConsentGiven(), channel, pressed_at=consent.step)
    assert channel.last.startswith("That step is over.")
    assert "12-digit Aadhaar number" in channel.last
    assert await bot.rows("SELECT count(*) FROM consent") == [(1,)]


async def test_a_typing_indicator_only_for_a_slow_provider(bot: Bot) -> None:
    quick = RecordingChannel()
    await reach_confirmation(bot, quick)
    await bot.runner.handle(USER, NumberConfirmed(), quick)
    assert quick.progress == 0  # the simulator answers at once

    slow = RecordingChannel()
    other = UserKey(channel="test", external_id="slow")
    for event in (StartRequested(), ConsentGiven(), TextSent(make_aadhaar("34567890123"))):
        await bot.runner.handle(other, event, slow)
    bot.provider.stall = asyncio.Event()
    asyncio.get_running_loop().call_later(0.6, bot.provider.stall.set)
    await bot.runner.handle(other, NumberConfirmed(), slow)
    assert slow.progress == 1
    assert "An OTP has been sent" in slow.last
