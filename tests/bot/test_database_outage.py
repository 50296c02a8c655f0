"""The database disappearing for a while: the real `kycbot run` on PostgreSQL through a proxy.

The machine's PostgreSQL server is shared with other tests, so it is never stopped: the bot's
`database.url` points at `tests.fakes.tcp_proxy.TcpProxy`, whose `cut()` resets every connection
and refuses new ones, which is what the driver sees when the server stops. While it is cut,
`/healthz` says 503, a user's message is answered with "try again shortly" in their language and
nothing else, the sweeper says once that it fails; once restored, everything recovers by itself
and the user carries on where they were. The process never exits. `stall()` (nothing refused,
nothing answered) shows the timeouts at work; a blip between two messages shows the pooled
connections checked before use; the retention schedule retries without a line per try.

(An SQLite variant is left out on purpose: the file is opened by the process itself, so nothing
short of deleting it makes it "disappear", and that is data loss, not an outage.)
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from bot.config_retention import RetentionSettings
from bot.retention_schedule import RetentionSchedule
from flows.catalogue import PromptKey
from flows.prompts.hi import HINDI
from storage import Database
from storage.database import CONNECT_TIMEOUT_SECONDS, STATEMENT_TIMEOUT_SECONDS
from tests.bot.telegram_process import (
    BotProcess,
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
)
from tests.fakes.tcp_proxy import TcpProxy
from tests.postgres_databases import POSTGRES_URL, migrated_database

K = PromptKey
# trust authentication ignores it, so it can be given and then looked for in the logs
PASSWORD = f"outage-{secrets.token_hex(8)}"
NOTICED_WITHIN = 10.0  # seconds: what "within a few seconds" means on a loaded 2-core machine

pytestmark = pytest.mark.skipif(
    not POSTGRES_URL, reason="needs PostgreSQL: set KYCBOT_TEST_POSTGRES_URL to run it"
)


@pytest.fixture
async def direct_url() -> AsyncIterator[str]:
    """A migrated PostgreSQL database of this test's own, reached directly."""
    async with migrated_database("kycbot_outage") as url:
        yield url


@pytest.fixture
async def proxy() -> AsyncIterator[TcpProxy]:
    """A proxy in front of the PostgreSQL server."""
    server = make_url(POSTGRES_URL)
    async with TcpProxy(server.host or "127.0.0.1", server.port or 5432) as running:
        yield running


@pytest.fixture
async def world(tmp_path: Path, direct_url: str, proxy: TcpProxy) -> AsyncIterator[BotWorld]:
    """The fake Telegram and a bot configuration whose database is behind the proxy."""
    proxied = (
        make_url(direct_url)
        .set(host="127.0.0.1", port=proxy.port, password=PASSWORD)
        .render_as_string(hide_password=False)
    )
    async with telegram_world(tmp_path / "kycbot", KYCBOT_DATABASE__URL=proxied) as bots:
        yield bots


async def _health(url: str) -> int | None:
    """The status /healthz answers with; None while nothing answers."""
    try:
        async with httpx.AsyncClient(trust_env=False, timeout=5.0) as client:
            return (await client.get(url)).status_code
    except httpx.HTTPError:
        return None


async def _until_health(url: str, expected: int) -> None:
    """Poll /healthz until it answers `expected`, for at most NOTICED_WITHIN seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + NOTICED_WITHIN
    while (status := await _health(url)) != expected:
        if loop.time() > deadline:
            raise AssertionError(f"/healthz still answers {status}, not {expected}")
        await asyncio.sleep(0.1)


async def _start(world: BotWorld, mode: str) -> tuple[BotProcess, str]:
    """`kycbot run` in `mode`; the process and the address of its /healthz."""
    port = free_port()
    if mode == "webhook":
        bot = await world.start(
            KYCBOT_TELEGRAM__MODE="webhook",
            KYCBOT_TELEGRAM__WEBHOOK__URL=f"http://127.0.0.1:{port}/telegram",
            KYCBOT_TELEGRAM__WEBHOOK__PORT=str(port),
            KYCBOT_TELEGRAM__WEBHOOK__SECRET_TOKEN=secrets.token_urlsafe(24),
        )
    else:
        # Polling serves the web app (and so /healthz) on [web] when something is served there.
        bot = await world.start(KYCBOT_WEB__PORT=str(port), KYCBOT_METRICS__ENABLED="true")
    return bot, f"http://127.0.0.1:{port}/healthz"


async def _rows(url: str, sql: str, **params: object) -> list[tuple[object, ...]]:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            return [tuple(row) for row in (await connection.execute(text(sql), params))]
    finally:
        await engine.dispose()


@pytest.mark.parametrize("mode", ["webhook", "polling"])
async def test_the_bot_rides_out_a_database_outage_and_carries_on_by_itself(
    world: BotWorld, proxy: TcpProxy, direct_url: str, mode: str
) -> None:
    bot, healthz = await _start(world, mode)
    await _until_health(healthz, 200)
    person = Person(world.fake, 6001)
    number = synthetic_number()
    await agree(person)  # mid-flow: the bot waits for the number
    before = len(world.fake.chat(person.user_id).messages)

    await proxy.cut()
    await _until_health(healthz, 503)
    typed = person.says(number)
    await person.sees(say(K.TRY_AGAIN_SHORTLY))
    # The step that deletes a typed number never ran: the apology deletes it instead.
    await world.fake.wait_until(lambda: person.deleted(typed), what="the number to be deleted")
    # Someone whose Telegram app is in Hindi is told in Hindi.
    world.fake.send_text(6002, "/start", language_code="hi")
    await world.fake.wait_for_message(6002, HINDI[K.TRY_AGAIN_SHORTLY], timeout=NOTICED_WITHIN)
    await asyncio.sleep(1.0)  # several failing sweeps (every 0.2 s)

    await proxy.restore()
    await _until_health(healthz, 200)  # by itself: nothing was restarted
    _, confirm = await give_number(person, number)  # the same step again, from where it was
    shown = [message.text for message in world.fake.chat(person.user_id).messages[before:]]
    assert shown == [say(K.TRY_AGAIN_SHORTLY), confirm.text], shown
    person.presses(confirm, say(K.BUTTON_SEND_OTP))
    await person.sees(opening(K.OTP_SENT) + masked(number))
    person.says(await bot.otp(number[-4:]))
    await person.sees(say(K.VERIFIED))
    assert bot.running, bot.describe()
    await bot.stop()

    # Nothing was half-written: the failed step left no event, every stored step is whole.
    events = await _rows(
        direct_url,
        'SELECT e.event FROM flow_event e JOIN "user" u ON u.id = e.user_id '
        "WHERE u.external_id = :user ORDER BY e.id",
        user=str(person.user_id),
    )
    names = [str(name) for (name,) in events]
    # One TextSent for the number: the one typed during the outage stored nothing.
    assert names == [
        "StartRequested",
        "ConsentGiven",
        "TextSent",
        "NumberConfirmed",
        "OtpSent",
        "TextSent",
        "KycVerified",
    ]
    states = await _rows(direct_url, "SELECT state FROM verification")
    assert states == [("verified",)]

    log = bot.log()
    assert "Traceback" not in log, log
    for secret in (PASSWORD, f":{proxy.port}", number, "Connect call failed"):
        assert secret not in log, f"{secret!r} in the log:\n{log}"
    for line in log.splitlines():
        if " ERROR " in line or line.startswith("ERROR"):
            assert re.search(r"[A-Z]\w+(Error|Exception)\w*\b", line), line
    failing = [line for line in log.splitlines() if "sweep failed" in line]
    assert len(failing) == 1, failing  # when it starts failing, not every 0.2 s
    recovered = re.search(r"sweep works again after (\d+) failed tries", log)
    assert recovered is not None, log
    assert int(recovered.group(1)) >= 2, "the outage was too short to show the sweeps quiet"


async def test_a_blip_between_two_messages_goes_unnoticed(world: BotWorld, proxy: TcpProxy) -> None:
    # No sweeps meanwhile: the user's next step is the first to meet the pooled connections.
    bot = await world.start(KYCBOT_FLOW__SWEEP_INTERVAL_SECONDS="3600")
    person = Person(world.fake, 6101)
    number = synthetic_number()
    await agree(person)
    accepted = proxy.accepted

    await proxy.cut()  # every pooled connection dies while nobody needs one
    await proxy.restore()
    await give_number(person, number)
    assert say(K.TRY_AGAIN_SHORTLY) not in "\n".join(person.texts)
    assert proxy.accepted > accepted, "the step did not open a new connection"
    assert bot.running, bot.describe()
    await bot.stop()


async def test_a_hanging_database_is_reported_at_once_and_answered_within_the_timeouts(
    world: BotWorld, proxy: TcpProxy
) -> None:
    bot, healthz = await _start(world, "webhook")
    await _until_health(healthz, 200)
    person = Person(world.fake, 6201)
    number = synthetic_number()
    await agree(person)
    before = len(world.fake.chat(person.user_id).messages)

    proxy.stall()  # a partition: nothing is refused, nothing answers
    await _until_health(healthz, 503)  # the probe gives up on its own short timeout
    person.says(number)
    # A pooled connection's ping waits for the statement timeout, a new one for the connect
    # timeout: then the user hears from the bot, instead of never.
    waits = STATEMENT_TIMEOUT_SECONDS + CONNECT_TIMEOUT_SECONDS
    await person.sees(say(K.TRY_AGAIN_SHORTLY), timeout=waits + NOTICED_WITHIN)

    await proxy.restore()
    await _until_health(healthz, 200)
    _, confirm = await give_number(person, number)
    # Answered before Telegram would give up on the webhook call and send the update again.
    shown = [message.text for message in world.fake.chat(person.user_id).messages[before:]]
    assert shown == [say(K.TRY_AGAIN_SHORTLY), confirm.text], shown
    assert bot.running, bot.describe()
    await bot.stop()
    assert "Traceback" not in bot.log(), bot.log()


async def test_the_retention_schedule_keeps_trying_through_an_outage_and_logs_it_twice(
    direct_url: str, proxy: TcpProxy, caplog: pytest.LogCaptureFixture
) -> None:
    proxied = make_url(direct_url).set(host="127.0.0.1", port=proxy.port)
    database = Database(proxied.render_as_string(hide_password=False))
    schedule = RetentionSchedule(
        database=database, settings=RetentionSettings, check_every_seconds=0.05
    )
    caplog.set_level(logging.INFO, logger="bot.retention_schedule")
    await proxy.cut()
    running = asyncio.create_task(schedule.run())
    try:
        await asyncio.sleep(0.5)  # several checks, each finding the purge still due
        assert not running.done(), "the schedule died"
        await proxy.restore()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + NOTICED_WITHIN
        while not any("removed nothing" in message for message in caplog.messages):
            assert loop.time() < deadline, caplog.messages
            await asyncio.sleep(0.05)
    finally:
        schedule.stop()
        await running
        await database.dispose()
    failed = [message for message in caplog.messages if "purge failed" in message]
    assert failed == [
        "retention purge failed: ConnectionRefusedError (retrying; logged again once it works)"
    ]
    assert any("retention purge works again after" in m for m in caplog.messages)
