"""Two `kycbot run` replicas in webhook mode share one PostgreSQL database.

The fake Bot API stands in for Telegram and the load balancer: it posts each update to the two
replicas in turn, over parallel connections, a chat's next update only after the answer to its
previous one, as Telegram does (observed; the Bot API does not promise it). A replica answers
once the update was handled, so one user's updates are handled in order although they land on
both replicas: a burst of four commands is answered in the order sent. For a few chats the fake
drops that wait: a double-tapped "Send OTP" then reaches both replicas at once, and the
per-user database lock plus the version check still send one OTP. A short OTP lifetime lets a
few OTPs expire with both replicas' sweepers running.

Afterwards every verification is in its expected state, no chat got the same message twice,
the simulator sent exactly one OTP per request, each expiry was told once, and a pg_dump of
the database and the replicas' logs hold no Aadhaar number and no OTP.
"""

from __future__ import annotations

import asyncio
import collections
import secrets
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from flows import State
from flows.catalogue import PromptKey
from tests.bot.chat_process import base_environment, fresh_keys
from tests.bot.telegram_process import (
    BotProcess,
    BotWorld,
    Person,
    free_port,
    give_number,
    masked,
    opening,
    say,
    synthetic_number,
    telegram_world,
)
from tests.fakes.telegram import FakeTelegram
from tests.postgres_databases import POSTGRES_URL, throwaway_database
from tests.privacy_scan import scan_for_secrets
from tests.scenario_tools import another_otp

K = PromptKey
pytestmark = pytest.mark.skipif(
    not POSTGRES_URL, reason="replicas share PostgreSQL: set KYCBOT_TEST_POSTGRES_URL to run them"
)
OTP_TTL_SECONDS = 8  # short, so the expiring users' OTPs run out during the test
PUBLIC_WEBHOOK = "https://kyc.example.com/telegram"  # the load balancer's address
CONFIG = f"""\
[flow]
otp_ttl_seconds = {OTP_TTL_SECONDS}
sweep_interval_seconds = 0.2

[telegram]
mode = "webhook"

[telegram.webhook]
url = "{PUBLIC_WEBHOOK}"
"""


# --- one throwaway database ---------------------------------------------------------------------


@pytest.fixture
async def database_url(tmp_path: Path) -> AsyncIterator[str]:
    """A new PostgreSQL database, migrated by `kycbot db upgrade` as an operator would."""
    async with throwaway_database("kycbot_replicas") as url:
        upgrade = await asyncio.create_subprocess_exec(
            sys.executable,
            *("-m", "bot.cli", "db", "upgrade"),
            env=base_environment({**fresh_keys(), "KYCBOT_DATABASE__URL": url}),
            cwd=tmp_path,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await upgrade.communicate()
        assert upgrade.returncode == 0, output.decode()
        yield url


async def _rows(url: str, sql: str, **params: object) -> list[tuple[object, ...]]:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            return [tuple(row) for row in await connection.execute(text(sql), params)]
    finally:
        await engine.dispose()


# --- the two replicas -----------------------------------------------------------------------------


@dataclass
class Replicas:
    """The running replicas: the OTPs they texted are read from whichever printed them."""

    fake: FakeTelegram
    bots: list[BotProcess]

    def otps_for(self, last4: str) -> list[str]:
        """Every OTP any replica sent to the mobile of XXXX XXXX `last4`."""
        return [otp for bot in self.bots for otp in bot.otps_for(last4)]

    async def otp(self, last4: str) -> str:
        """The OTP for XXXX XXXX `last4`, once a replica printed it."""
        await self.fake.wait_until(
            lambda: bool(self.otps_for(last4)), 15, what=f"an SMS to XXXX XXXX {last4}"
        )
        return self.otps_for(last4)[-1]


async def _start_replicas(world: BotWorld, config: Path) -> Replicas:
    ports = [free_port(), free_port()]
    # The fake plays the load balancer too: the URL Telegram knows is not either replica's.
    world.fake.webhook_targets = [f"http://127.0.0.1:{port}/telegram" for port in ports]
    bots = [
        await world.start("--config", str(config), KYCBOT_TELEGRAM__WEBHOOK__PORT=str(port))
        for port in ports
    ]
    return Replicas(world.fake, bots)


# --- what the users do ----------------------------------------------------------------------------


async def _consent(person: Person) -> None:
    person.says("/start")
    notice = await person.sees(say(K.CONSENT_QUESTION))
    person.presses(notice, say(K.BUTTON_AGREE))
    await person.sees(say(K.ASK_AADHAAR))


async def _request_otp(person: Person, number: str, *, double_tap: bool = False) -> None:
    _, confirm = await give_number(person, number)
    person.presses(confirm, say(K.BUTTON_SEND_OTP))
    if double_tap:
        person.presses(confirm, say(K.BUTTON_SEND_OTP), strict=False)
    await person.sees(opening(K.OTP_SENT) + masked(number))


async def _enter_otp(person: Person, replicas: Replicas, number: str, *, wrong_first: bool) -> None:
    otp = await replicas.otp(number[-4:])
    if wrong_first:
        person.says(another_otp(otp))
        await person.sees(say(K.OTP_WRONG, attempts_left=2))
    person.says(otp)
    await person.sees(say(K.VERIFIED))


Script = Callable[[Person, Replicas, str], Awaitable[None]]


async def verifies(person: Person, replicas: Replicas, number: str) -> None:
    """Consent, number, Send OTP, the OTP."""
    await _consent(person)
    await _request_otp(person, number)
    await _enter_otp(person, replicas, number, wrong_first=False)


async def mistypes_the_otp(person: Person, replicas: Replicas, number: str) -> None:
    """A wrong OTP first (one attempt used), then the right one."""
    await _consent(person)
    await _request_otp(person, number)
    await _enter_otp(person, replicas, number, wrong_first=True)


async def double_taps(person: Person, replicas: Replicas, number: str) -> None:
    """Presses "Send OTP" twice in a row: one OTP, and "that step is over" for the second."""
    await _consent(person)
    await _request_otp(person, number, double_tap=True)
    await _enter_otp(person, replicas, number, wrong_first=False)
    await person.fake.wait_until(lambda: person.count(say(K.STEP_OVER)) >= 1)


async def lets_it_expire(person: Person, replicas: Replicas, number: str) -> None:
    """Requests an OTP and never types it: a sweeper says it expired."""
    await _consent(person)
    await _request_otp(person, number)
    await person.sees(say(K.OTP_EXPIRED), timeout=OTP_TTL_SECONDS + 15)


async def sends_a_burst(person: Person, replicas: Replicas, number: str) -> None:
    """Four commands at once, answered in the order sent; then verifies."""
    for command in ("/help", "/status", "/cancel", "/start"):
        person.says(command)
    notice = await person.sees(say(K.CONSENT_QUESTION))
    answers = person.texts
    assert len(answers) == 4, answers
    assert opening(K.HELP) in answers[0], answers
    assert say(K.STATUS_NOT_VERIFIED) in answers[1], answers
    assert say(K.NOTHING_TO_CANCEL) in answers[2], answers
    person.presses(notice, say(K.BUTTON_AGREE))
    await person.sees(say(K.ASK_AADHAAR))
    await _request_otp(person, number)
    await _enter_otp(person, replicas, number, wrong_first=False)


# (script, how many users, the state their verification ends in, chats without per-chat order)
CAST: list[tuple[Script, int, State, bool]] = [
    (verifies, 6, State.VERIFIED, False),
    (mistypes_the_otp, 6, State.VERIFIED, False),
    (double_taps, 3, State.VERIFIED, False),
    (double_taps, 4, State.VERIFIED, True),
    (lets_it_expire, 3, State.AWAIT_RESEND, False),
    (sends_a_burst, 8, State.VERIFIED, False),
]


def _numbers(count: int) -> list[str]:
    """Synthetic numbers whose last four digits differ: the SMS names only those."""
    numbers: dict[str, str] = {}
    while len(numbers) < count:
        number = synthetic_number()
        numbers.setdefault(number[-4:], number)
    return list(numbers.values())


# --- the test -------------------------------------------------------------------------------------


async def test_two_replicas_share_the_work_without_doubles_or_leaks(
    tmp_path: Path, database_url: str
) -> None:
    config = tmp_path / "replicas.toml"
    config.write_text(CONFIG, encoding="utf-8")
    env = {
        "KYCBOT_DATABASE__URL": database_url,
        "KYCBOT_TELEGRAM__MODE": "webhook",
        "KYCBOT_TELEGRAM__WEBHOOK__SECRET_TOKEN": secrets.token_urlsafe(24),
    }
    async with telegram_world(tmp_path / "kycbot", **env) as world:
        fake = world.fake
        replicas = await _start_replicas(world, config)
        cast = [
            (script, state, unordered) for script, n, state, unordered in CAST for _ in range(n)
        ]
        numbers = _numbers(len(cast))
        people = [Person(fake, 7001 + index) for index in range(len(cast))]
        for person, (_, _, unordered) in zip(people, cast, strict=True):
            if unordered:
                fake.unordered_chats.add(person.user_id)
        await asyncio.gather(
            *(
                script(person, replicas, number)
                for person, (script, _, _), number in zip(people, cast, numbers, strict=True)
            )
        )
        await asyncio.sleep(1.0)  # five more sweeps by each replica: a late double would show
        for bot in replicas.bots:
            await bot.stop()

        _assert_spread_over_both(world, replicas, people)
        for person, (script, state, _), number in zip(people, cast, numbers, strict=True):
            await _assert_user(database_url, world, replicas, person, number, state, script)

        otps = [otp for number in numbers for otp in replicas.otps_for(number[-4:])]
        typed = [text for person in people for text in person.typed]
        report = await asyncio.to_thread(
            scan_for_secrets,
            numbers=numbers,
            otps=[*otps, *(text for text in typed if text.isdigit() and len(text) == 6)],
            postgres_urls=[database_url],
            logs={bot.log_file.name: bot.log() for bot in replicas.bots},
        )
        print(report.summary())
        assert report.values_checked >= len(numbers) + len(otps)
        assert report.clean, report.summary()


def _assert_spread_over_both(world: BotWorld, replicas: Replicas, people: list[Person]) -> None:
    deliveries = world.fake.webhook_deliveries
    assert all(delivery.ok for delivery in deliveries), [d for d in deliveries if not d.ok]
    reached: dict[int | None, set[str]] = collections.defaultdict(set)
    for delivery in deliveries:
        reached[delivery.chat_id].add(delivery.url)
    targets = set(world.fake.webhook_targets)
    assert set().union(*reached.values()) == targets, "a replica got no update"
    # Round-robin over ~6 updates a user: a user served by one replica only is rare.
    both = [person for person in people if reached[person.user_id] == targets]
    assert len(both) >= len(people) * 2 // 3, f"{len(both)} of {len(people)} reached both"
    for bot in replicas.bots:
        assert " -[" in bot.log(), f"{bot.name} decided no step\n{bot.describe()}"


async def _assert_user(
    url: str,
    world: BotWorld,
    replicas: Replicas,
    person: Person,
    number: str,
    state: State,
    script: Script,
) -> None:
    who = f"user {person.user_id} ({script.__name__})"
    verifications = await _rows(
        url,
        'SELECT v.state FROM verification v JOIN "user" u ON u.id = v.user_id '
        "WHERE u.channel = 'telegram' AND u.external_id = :who ORDER BY v.id",
        who=str(person.user_id),
    )
    assert verifications == [(state.value,)], f"{who}: {verifications}"
    events = await _rows(
        url,
        'SELECT e.outcome FROM flow_event e JOIN "user" u ON u.id = e.user_id '
        "WHERE u.channel = 'telegram' AND u.external_id = :who",
        who=str(person.user_id),
    )
    outcomes = collections.Counter(str(outcome) for (outcome,) in events)
    assert outcomes["otp_sent"] == 1, f"{who}: {outcomes}"
    texted = replicas.otps_for(number[-4:])
    assert len(texted) == 1, f"{who}: the simulator was asked for {len(texted)} OTPs"
    expired = 1 if script is lets_it_expire else 0
    assert outcomes["otp_expired"] == expired, f"{who}: {outcomes}"
    assert person.count(say(K.OTP_EXPIRED)) == expired, f"{who}: {person.texts}"
    if script is double_taps:
        assert person.count(say(K.STEP_OVER)) == 1, f"{who}: {person.texts}"
    sent = [
        str(call.params.get("text"))
        for call in world.fake.calls_to("sendMessage")
        if call.ok and str(call.params.get("chat_id")) == str(person.user_id)
    ]
    # The one repeat that is right: a stale "Send OTP" press is told the step is over and
    # asked for the OTP again, once per press.
    allowed = {say(K.ASK_OTP, attempts_left=3): 2} if script is double_taps else {}
    doubles = [
        text for text, times in collections.Counter(sent).items() if times > allowed.get(text, 1)
    ]
    assert doubles == [], f"{who} got a message twice: {doubles}"
