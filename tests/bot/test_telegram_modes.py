"""`kycbot run` in webhook mode, and how it starts, fails to start and stops."""

from __future__ import annotations

import asyncio
import secrets
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from flows.catalogue import PromptKey
from tests.bot.telegram_process import (
    BotWorld,
    Person,
    agree,
    free_port,
    give_number,
    masked,
    opening,
    say,
    synthetic_number,
    telegram_world,
    verify_happily,
)
from tests.fakes.telegram import BOT_ID
from tests.fakes.telegram_objects import chat_object, command_entities, now, user_object

K = PromptKey
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[BotWorld]:
    """The fake Telegram, a database and keys; bots started in it are killed afterwards."""
    async with telegram_world(tmp_path / "kycbot") as bots:
        yield bots


def _start_update(update_id: int, user_id: int) -> dict[str, object]:
    """A valid /start update of a private chat, as Telegram would post it."""
    return {
        "update_id": update_id,
        "message": {
            "message_id": 1,
            "from": user_object(user_id, "Mallory", "en"),
            "chat": chat_object(user_id, "private", "Mallory"),
            "date": now(),
            "text": "/start",
            "entities": command_entities("/start"),
        },
    }


async def _get_when_listening(client: httpx.AsyncClient, url: str) -> httpx.Response:
    """GET `url`, retrying while the web app is not listening yet."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while True:
        try:
            return await client.get(url)
        except httpx.ConnectError:
            if loop.time() > deadline:
                raise
            await asyncio.sleep(0.05)


# --- 11. webhook mode -----------------------------------------------------------------------------


async def test_webhook_mode_verifies_and_refuses_updates_without_the_secret(
    world: BotWorld,
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/telegram"
    secret = secrets.token_urlsafe(24)
    bot = await world.start(
        KYCBOT_TELEGRAM__MODE="webhook",
        KYCBOT_TELEGRAM__WEBHOOK__URL=url,
        KYCBOT_TELEGRAM__WEBHOOK__PORT=str(port),
        KYCBOT_TELEGRAM__WEBHOOK__SECRET_TOKEN=secret,
    )
    fake = world.fake
    assert fake.webhook is not None
    assert (fake.webhook.url, fake.webhook.secret_token) == (url, secret)
    assert fake.calls_to("getUpdates") == [], "a webhook bot must not poll"

    async with httpx.AsyncClient(trust_env=False, timeout=5.0) as client:
        health = await _get_when_listening(client, f"http://127.0.0.1:{port}/healthz")
        assert health.status_code == 200
        assert health.json() == {"status": "ok"}

        person = Person(fake, 4001)
        await verify_happily(person, bot, synthetic_number())
        await fake.wait_for_empty_queue()  # the OTP's webhook call is answered once handled
        delivered = [d for d in fake.webhook_deliveries if d.ok]
        assert len(delivered) >= 5  # /start, two presses, the number, the OTP
        assert {(d.url, d.secret_token) for d in fake.webhook_deliveries} == {(url, secret)}

        intruder = 4666
        wrong = await client.post(
            url, json=_start_update(900_001, intruder), headers={SECRET_HEADER: secret + "x"}
        )
        missing = await client.post(url, json=_start_update(900_002, intruder))
        assert (wrong.status_code, missing.status_code) == (403, 403)

    # Anything the bot did with the refused updates would come before the answer to this.
    person.says("/status")
    await person.sees(say(K.ALREADY_VERIFIED))
    await asyncio.sleep(0.3)
    to_intruder = [c for c in fake.calls if str(c.params.get("chat_id")) == str(intruder)]
    assert to_intruder == [], "a refused update was processed"
    assert not world.has_user(intruder)
    log = bot.log()
    assert "webhook call refused: wrong secret token" in log
    assert "webhook call refused: no secret token" in log
    assert secret not in log
    await bot.stop()


# --- 12. starting and stopping --------------------------------------------------------------------


def _one_line(stderr: str) -> str:
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


async def test_a_rejected_token_stops_the_start_with_one_line(world: BotWorld) -> None:
    wrong = f"{BOT_ID}:AAWrongTokenForTestsOnly-0123456789abcdef"
    done = await world.run_to_exit(KYCBOT_TELEGRAM__TOKEN=wrong)
    assert done.returncode != 0
    line = _one_line(done.stderr)
    assert "token" in line
    assert "rejected" in line
    assert wrong not in done.stderr
    assert world.fake.chat(1).messages == ()


async def test_a_missing_token_stops_the_start_naming_the_key(world: BotWorld) -> None:
    done = await world.run_to_exit(unset=("KYCBOT_TELEGRAM__TOKEN",))
    assert done.returncode != 0
    assert "telegram.token" in _one_line(done.stderr)
    assert world.fake.calls == [], "no token, yet the Bot API was called"


async def test_another_instance_polling_stops_the_bot(world: BotWorld) -> None:
    world.fake.conflict = True
    done = await world.run_to_exit()
    assert done.returncode != 0
    assert "another instance is polling" in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert "another instance is polling" in last, done.stderr
    # The reason is the last line, not buried under the traceback of PTB's final getUpdates.
    assert "Traceback" not in done.stderr, done.stderr


async def test_a_webhook_port_in_use_stops_the_start_with_one_line(world: BotWorld) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = int(taken.getsockname()[1])
        done = await world.run_to_exit(
            KYCBOT_TELEGRAM__MODE="webhook",
            KYCBOT_TELEGRAM__WEBHOOK__URL=f"http://127.0.0.1:{port}/telegram",
            KYCBOT_TELEGRAM__WEBHOOK__PORT=str(port),
            KYCBOT_TELEGRAM__WEBHOOK__SECRET_TOKEN=secrets.token_urlsafe(24),
        )
    assert done.returncode == 1, done.stderr  # a start-up failure, like the others
    line = _one_line(done.stderr)
    assert str(port) in line, line
    assert world.fake.webhook is None, "Telegram was told to post to a port the bot cannot serve"


async def test_sigterm_mid_flow_finishes_the_update_in_flight(world: BotWorld) -> None:
    bot = await world.start(KYCBOT_PROVIDERS__SIMULATOR__LATENCY_MS="1000")
    person = Person(world.fake, 4002)
    number = synthetic_number()
    await agree(person)
    _, confirm = await give_number(person, number)
    person.presses(confirm, say(K.BUTTON_SEND_OTP))
    await world.fake.wait_for_call("sendChatAction")  # the provider call has begun
    await bot.stop()
    assert bot.otps_for(number[-4:]) != []
    await person.sees(opening(K.OTP_SENT) + masked(number), timeout=0.1)
    await person.sees(say(K.ASK_OTP, attempts_left=3), timeout=0.1)
    assert world.verification_of(person.user_id)[0] == "await_otp"


async def test_sigterm_while_idle_exits_zero(world: BotWorld) -> None:
    bot = await world.start()
    await asyncio.sleep(0.3)  # in a long getUpdates, waiting
    await bot.stop()
    log = bot.log()
    assert "is running (polling)" in log
    assert "Traceback" not in log
