"""Provider alerts through the real paths: a Sandbox fake that refuses the bot's key or is down,
support's chat in the fake Bot API, and the log.

The first tests run the real `kycbot run`: a misconfigured provider alerts at once, exactly
once however many users fail, and its recovery is told once. The threshold tests drive the
real runner with a hand-moved clock, so no test sleeps through `down_after_seconds`.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from telegram import Bot

from bot.alerts import Cause, ProviderAlerts, alert_text, recovered_text
from bot.app import build_provider
from bot.config import Settings, load_settings
from bot.runner import Runner
from bot.telegram_request import AiohttpRequest
from flows import ConsentGiven, NumberConfirmed, PromptKey, StartRequested, TextSent
from storage import Database, NumberVault, UserKey
from tests.bot.telegram_process import (
    BotWorld,
    Person,
    agree,
    give_number,
    opening,
    say,
    synthetic_number,
    telegram_world,
)
from tests.fakes.channel import RecordingChannel
from tests.fakes.sandbox_server import API_KEY, API_SECRET, FakeSandbox, Fault
from tests.fakes.telegram import FakeTelegram

K = PromptKey
SUPPORT_CHAT = -100_555
SUPPORT_MEMBER = 7001
WRONG_KEY = "key_test_revoked"
DOWN_AFTER = 60.0
REPEAT_AFTER = 3600.0


def sandbox_env(sandbox: FakeSandbox, *, api_key: str = API_KEY) -> dict[str, str]:
    """Settings that make Sandbox the one provider, at the fake."""
    return {
        "KYCBOT_PROVIDER__ORDER": "sandbox",
        "KYCBOT_PROVIDERS__SANDBOX__BASE_URL": sandbox.url,
        "KYCBOT_PROVIDERS__SANDBOX__API_KEY": api_key,
        "KYCBOT_PROVIDERS__SANDBOX__API_SECRET": API_SECRET,
    }


def open_support_chat(fake: FakeTelegram) -> None:
    """Support's group, with the bot in it (a member's chatter, which the bot ignores)."""
    fake.send_text(SUPPORT_MEMBER, "on duty", chat_id=SUPPORT_CHAT, chat_type="supergroup")


def support_texts(fake: FakeTelegram) -> list[str]:
    """Every message the bot sent to support's chat."""
    return [message.text for message in fake.chat(SUPPORT_CHAT).messages]


def assert_no_numbers_or_secrets(texts: list[str]) -> None:
    """Alert texts name a provider and a cause: no digits (no counts, ids, numbers), no keys."""
    for text in texts:
        assert not re.search(r"\d", text), text
        for secret in (API_KEY, API_SECRET, WRONG_KEY):
            assert secret not in text


# --- the real bot ----------------------------------------------------------------------------


@pytest.fixture
async def sandbox() -> AsyncIterator[FakeSandbox]:
    """The fake Sandbox; it accepts API_KEY."""
    async with FakeSandbox() as fake:
        yield fake


@pytest.fixture
async def world(tmp_path: Path, sandbox: FakeSandbox) -> AsyncIterator[BotWorld]:
    """The fake Telegram and a bot installation that uses Sandbox with a revoked key."""
    env = sandbox_env(sandbox, api_key=WRONG_KEY)
    async with telegram_world(tmp_path / "kycbot", **env) as bots:
        yield bots


async def ask_for_an_otp(person: Person) -> None:
    """Consent, the number, "Send OTP"."""
    await agree(person)
    _, confirm = await give_number(person, synthetic_number())
    person.presses(confirm, say(K.BUTTON_SEND_OTP))


async def refused(person: Person) -> None:
    """Ask for an OTP and be told the service is unavailable."""
    await ask_for_an_otp(person)
    await person.sees(opening(K.PROVIDER_UNAVAILABLE))


async def test_a_misconfigured_provider_alerts_support_once_and_its_recovery_once(
    world: BotWorld, sandbox: FakeSandbox
) -> None:
    open_support_chat(world.fake)
    bot = await world.start(KYCBOT_ALERTS__SUPPORT_CHAT_ID=str(SUPPORT_CHAT))
    people = [Person(world.fake, 6101 + index) for index in range(6)]
    await asyncio.gather(*(refused(person) for person in people))
    await world.fake.wait_for_message(SUPPORT_CHAT, "kycbot alert")

    sandbox.api_key = WRONG_KEY  # the account is fixed: Sandbox accepts the bot's key again
    fine = Person(world.fake, 6201)
    await ask_for_an_otp(fine)
    await fine.sees(opening(K.OTP_SENT))
    await world.fake.wait_for_message(SUPPORT_CHAT, "recovered")
    await bot.stop()  # any alert still being sent is finished first

    texts = support_texts(world.fake)
    assert len(texts) == 2, texts
    assert texts == [alert_text("sandbox", Cause.MISCONFIGURED), recovered_text("sandbox")]
    assert_no_numbers_or_secrets(texts)
    alerts = [line for line in bot.log().splitlines() if "provider alert:" in line]
    assert len(alerts) == 1, alerts
    assert " ERROR bot.alerts: provider alert: sandbox misconfigured" in alerts[0]
    assert WRONG_KEY not in world.log_text()


async def test_an_alert_that_cannot_be_sent_changes_nothing_for_users(world: BotWorld) -> None:
    # support_chat_id names a chat the bot is not in: Telegram refuses the message.
    bot = await world.start(KYCBOT_ALERTS__SUPPORT_CHAT_ID=str(SUPPORT_CHAT))
    people = [Person(world.fake, 6301 + index) for index in range(2)]
    await asyncio.gather(*(refused(person) for person in people))
    await bot.stop()
    log = bot.log()
    assert log.count("provider alert: sandbox misconfigured") == 1, log
    assert "alert not sent to the support chat: BadRequest" in log
    for person in people:
        assert person.count(opening(K.PROVIDER_UNAVAILABLE)) == 1


# --- the runner with a hand-moved clock --------------------------------------------------------


@dataclass
class Clock:
    """A monotonic clock the test moves by hand."""

    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Desk:
    """The runner with Sandbox as its provider and alerts going to support's chat."""

    runner: Runner
    sandbox: FakeSandbox
    fake: FakeTelegram
    alerts: ProviderAlerts
    clock: Clock
    served: int = 0

    async def users_ask_for_an_otp(self, count: int = 1) -> list[str]:
        """`count` new users ask for an OTP at the same time; what each was told."""
        channels = [RecordingChannel() for _ in range(count)]
        await asyncio.gather(*(self._ask(channel) for channel in channels))
        return ["\n".join(channel.texts()) for channel in channels]

    async def _ask(self, channel: RecordingChannel) -> None:
        self.served += 1
        user = UserKey("test", f"alerts-{self.served}")
        number = synthetic_number()
        for event in (StartRequested(), ConsentGiven(), TextSent(number), NumberConfirmed()):
            await self.runner.handle(user, event, channel)

    async def support_texts(self) -> list[str]:
        """What support's chat got, once every alert being sent has been."""
        await self.alerts.aclose()
        return support_texts(self.fake)


def settings_for(sandbox: FakeSandbox) -> Settings:
    environ = {
        "KYCBOT_SECURITY__HMAC_KEY": "h" * 40,
        "KYCBOT_SECURITY__ENCRYPTION_KEY": base64.b64encode(b"k" * 32).decode(),
        "KYCBOT_ALERTS__SUPPORT_CHAT_ID": str(SUPPORT_CHAT),
        "KYCBOT_ALERTS__DOWN_AFTER_SECONDS": str(DOWN_AFTER),
        "KYCBOT_ALERTS__REPEAT_AFTER_SECONDS": str(REPEAT_AFTER),
    }
    return load_settings(None, environ | sandbox_env(sandbox))


@pytest.fixture
async def desk(database: Database, sandbox: FakeSandbox) -> AsyncIterator[Desk]:
    """A runner over a real database and the fake Sandbox, alerting through a real PTB Bot."""
    settings = settings_for(sandbox)
    provider = build_provider(settings)
    vault = NumberVault(
        encryption_key=settings.security.encryption_key_bytes(),
        hmac_key=settings.security.hmac_key_bytes(),
    )
    clock = Clock()
    async with FakeTelegram() as fake:
        open_support_chat(fake)
        async with Bot(fake.token, base_url=fake.base_url, request=AiohttpRequest()) as bot:
            runner = Runner(settings=settings, database=database, provider=provider, vault=vault)
            alerts = ProviderAlerts(
                settings=lambda: runner.settings.alerts, send=bot.send_message, clock=clock
            )
            runner.observer = alerts
            try:
                yield Desk(runner, sandbox, fake, alerts, clock)
            finally:
                await alerts.aclose()
                await provider.aclose()


def down(sandbox: FakeSandbox) -> None:
    """Sandbox answers every call with 503."""
    for endpoint in ("authenticate", "generate_otp", "verify_otp"):
        sandbox.faults[endpoint] = Fault.SERVER_ERROR


def alert_records(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The ERROR lines the alerts logged."""
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == "bot.alerts" and record.levelno == logging.ERROR
    ]


async def test_a_provider_down_longer_than_the_threshold_alerts_once_for_many_users(
    desk: Desk, caplog: pytest.LogCaptureFixture
) -> None:
    down(desk.sandbox)
    told = await desk.users_ask_for_an_otp()
    desk.clock.now += DOWN_AFTER / 2
    told += await desk.users_ask_for_an_otp()
    assert await desk.support_texts() == [], "down, but not for long enough yet"
    assert all(opening(K.PROVIDER_DOWN) in chat for chat in told), told

    desk.clock.now += DOWN_AFTER / 2 + 1
    await desk.users_ask_for_an_otp(25)
    desk.clock.now += REPEAT_AFTER / 2
    await desk.users_ask_for_an_otp(5)
    texts = await desk.support_texts()
    assert len(texts) == 1, texts
    assert "provider sandbox is down" in texts[0]
    assert len(alert_records(caplog)) == 1, alert_records(caplog)
    assert "sandbox down" in alert_records(caplog)[0]

    desk.sandbox.faults.clear()
    (first,) = await desk.users_ask_for_an_otp()
    assert opening(K.OTP_SENT) in first, first
    await desk.users_ask_for_an_otp(3)
    texts = await desk.support_texts()
    assert len(texts) == 2, texts
    assert "sandbox has recovered" in texts[1]
    assert_no_numbers_or_secrets(texts)


async def test_a_good_answer_restarts_the_count_and_a_lasting_outage_is_repeated_later(
    desk: Desk,
) -> None:
    down(desk.sandbox)
    await desk.users_ask_for_an_otp()
    desk.clock.now += DOWN_AFTER - 10
    desk.sandbox.faults.clear()
    await desk.users_ask_for_an_otp()  # the provider works after all
    down(desk.sandbox)
    desk.clock.now += 20
    await desk.users_ask_for_an_otp()
    desk.clock.now += DOWN_AFTER - 10
    await desk.users_ask_for_an_otp()
    assert await desk.support_texts() == [], (
        "failing for less than the threshold since the good answer"
    )

    desk.clock.now += 11
    await desk.users_ask_for_an_otp(3)
    assert len(await desk.support_texts()) == 1
    desk.clock.now += REPEAT_AFTER + 1
    await desk.users_ask_for_an_otp(3)
    texts = await desk.support_texts()
    assert len(texts) == 2, texts
    assert texts[0] == texts[1]  # still down: told again, once, after the quiet time
