"""Crash survival: the real `kycbot run` is SIGKILLed at random moments while users go on.

Twenty scripted users talk to the bot (polling; a SQLite file, then PostgreSQL) at once: most
verify, some stop after the consent (their verification times out) and some once the OTP was
sent (it expires, then the verification times out). Meanwhile the bot is killed five times (at
random moments, while a deadline passes and just after one passed) and restarted each time. A
user whose message gets no answer sends it again, as a person would. At the end: every
verification is where its script leads, nothing is duplicated, every deadline notice reached
its user exactly once (the outbox), and no full Aadhaar number or OTP is in the database (the
file's bytes, or a pg_dump) or the logs. On PostgreSQL a kill also cuts transactions holding a
user's advisory lock, and may strand the sweeper's claim of a due verification (its lease runs
out 30 s later, and the restarted bot takes it over).
"""

from __future__ import annotations

import asyncio
import json
import random
import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.outbox import message_to_json
from bot.render import Message
from flows.catalogue import PromptKey
from tests.bot.telegram_process import (
    BotWorld,
    Person,
    agree,
    begin,
    give_number,
    masked,
    opening,
    say,
    spaced,
    synthetic_number,
    telegram_world,
)
from tests.fakes.telegram import SentMessage
from tests.postgres_databases import POSTGRES_URL, migrated_database
from tests.privacy_scan import scan_for_secrets

K = PromptKey
OTP_TTL = 6  # seconds: a verifier types the OTP across one restart (or asks for another)
IDLE_TIMEOUT = 10
PATIENCE = 5.0  # how long a user waits for an answer before sending again
SCRIPTS = {"verify": 12, "stop_at_number": 4, "stop_at_otp": 4}
FINAL_STATE = {"verify": "verified", "stop_at_number": "timed_out", "stop_at_otp": "timed_out"}
EXPIRED, TIMED_OUT = say(K.OTP_EXPIRED), opening(K.TIMED_OUT)


@dataclass
class User:
    """One scripted person: what they do, and the bot messages they already answered."""

    person: Person
    number: str
    script: str
    seen: dict[int, SentMessage] = field(default_factory=dict)  # as first shown

    def newest_prompt(self) -> tuple[str, SentMessage] | None:
        """What the bot last asked of this user (or that they are verified), and where."""
        for shown in reversed(self.person.fake.chat(self.person.user_id).messages):
            message = self.seen.setdefault(shown.message_id, shown)
            for kind, matches in _PROMPTS:
                if matches(message):
                    return kind, message
        return None


_PROMPTS: tuple[tuple[str, Callable[[SentMessage], bool]], ...] = (
    ("verified", lambda message: say(K.VERIFIED) in message.text),
    ("otp", lambda message: say(K.ASK_OTP, attempts_left=3) in message.text),
    # The OTP is dead (expired, say, on a slow machine): ask for another. Not the resend button
    # under "OTP sent": the question for the OTP comes right after it.
    (
        "resend",
        lambda message: (
            say(K.BUTTON_RESEND) in message.labels and opening(K.OTP_SENT) not in message.text
        ),
    ),
    ("confirm", lambda message: say(K.BUTTON_SEND_OTP) in message.labels),
    ("number", lambda message: say(K.ASK_AADHAAR) in message.text),
    ("consent", lambda message: say(K.BUTTON_AGREE) in message.labels),
)
_STOPS = {"verify": "verified", "stop_at_number": "number", "stop_at_otp": "otp"}


def latest_otp(world: BotWorld, number: str) -> str | None:
    """The last OTP any bot process texted to the mobile of `number`."""
    sent = [sms.otp for bot in world.processes for sms in bot.sms if sms.masked == masked(number)]
    return sent[-1] if sent else None


async def act(world: BotWorld, user: User, kind: str, message: SentMessage, again: bool) -> None:
    """Answer the prompt `kind` in `message`; `again`: its first answer got no reply."""
    person = user.person
    if kind == "consent":
        person.presses(message, say(K.BUTTON_AGREE), strict=not again)
    elif kind == "confirm":
        person.presses(message, say(K.BUTTON_SEND_OTP), strict=not again)
    elif kind == "resend":
        person.presses(message, say(K.BUTTON_RESEND), strict=not again)
    elif kind == "number":
        person.says(spaced(user.number))
    elif kind == "otp":
        await world.fake.wait_until(
            lambda: latest_otp(world, user.number) is not None, 20, what="the OTP's SMS"
        )
        person.says(latest_otp(world, user.number) or "")


async def play(world: BotWorld, user: User, delay: float) -> None:
    """Follow the script, sending again what got no answer; give up after a few tries."""
    loop = asyncio.get_running_loop()
    await asyncio.sleep(delay)
    user.person.says("/start")
    answered: set[int] = set()
    last_action, retries = loop.time(), 0
    while retries <= 3:
        found = user.newest_prompt()
        if found is not None and found[0] == _STOPS[user.script]:
            return
        if found is not None and found[1].message_id not in answered:
            answered.add(found[1].message_id)
            await act(world, user, *found, again=False)
            last_action = loop.time()
        elif loop.time() - last_action > PATIENCE:
            retries += 1
            if found is None:
                user.person.says("/start")
            else:
                await act(world, user, *found, again=True)
            last_action = loop.time()
        await asyncio.sleep(0.05)


def next_deadline(world: BotWorld, users: list[User]) -> datetime | None:
    """The earliest deadline still ahead of a user who stopped answering (verifiers go on)."""
    quiet = [str(user.person.user_id) for user in users if user.script != "verify"]
    rows = world.rows(
        'SELECT u.external_id, v.due_at FROM verification v JOIN "user" u ON u.id = v.user_id '
        "WHERE v.ended_at IS NULL AND v.due_at IS NOT NULL"
    )
    now = datetime.now(UTC)
    ahead = [_utc(due) for who, due in rows if who in quiet]
    return min((due for due in ahead if due > now), default=None)


def _utc(stored: str | datetime) -> datetime:
    """A stored time: SQLite gives its text (UTC, naive), PostgreSQL an aware datetime."""
    moment = datetime.fromisoformat(stored) if isinstance(stored, str) else stored
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


async def until_deadline(world: BotWorld, users: list[User], offset: float) -> None:
    """Sleep until `offset` seconds after (negative: before) the next deadline, if any is ahead."""
    due = next_deadline(world, users)
    if due is not None:
        await asyncio.sleep(max((due - datetime.now(UTC)).total_seconds() + offset, 0.0))


async def chaos(world: BotWorld, users: list[User], rng: random.Random) -> int:
    """Kill the bot five times, restarting it each time; the kills happen at random moments,
    while a deadline passes (it passes with no bot running) and just after one passed (the
    sweeper may be storing the step or sending its notice)."""
    kills = 0
    for trigger in ("random", "before", "random", "after", "random"):
        down = rng.uniform(0.0, 1.5)
        if trigger == "random":
            await asyncio.sleep(rng.uniform(1.0, 3.0))
        elif trigger == "before":
            await until_deadline(world, users, -0.5)
            down = 2.0
        else:
            await until_deadline(world, users, rng.uniform(0.0, 0.4))
        await world.processes[-1].kill()
        kills += 1
        await asyncio.sleep(down)
        await world.start()
    return kills


def settled(world: BotWorld, users: list[User]) -> bool:
    """Every verification ended and every deadline notice delivered."""
    ended = world.rows("SELECT count(*) FROM verification WHERE ended_at IS NOT NULL")
    pending = world.rows("SELECT count(*) FROM outbox_notice WHERE delivered_at IS NULL")
    return bool(ended[0][0] >= len(users) and pending[0][0] == 0)


def outcomes(world: BotWorld, user: User) -> list[str]:
    """The outcome of every stored step of `user`, in order."""
    return [outcome for _, _, outcome in world.events_of(user.person.user_id)]


def check_user(world: BotWorld, user: User) -> None:
    """The verification ended as scripted, once, and each deadline was told exactly once."""
    uid = str(user.person.user_id)
    states = world.rows(
        'SELECT v.state FROM verification v JOIN "user" u ON u.id = v.user_id '
        "WHERE u.external_id = ?",
        uid,
    )
    story = f"{user.script}: {world.events_of(user.person.user_id)}\n" + world.fake.report(
        user.person.user_id
    )
    assert states == [(FINAL_STATE[user.script],)], story
    results = world.rows(
        'SELECT count(*) FROM kyc_result r JOIN "user" u ON u.id = r.user_id '
        "WHERE u.external_id = ?",
        uid,
    )
    assert results == [(1 if user.script == "verify" else 0,)], (user.script, results)
    steps = outcomes(world, user)
    expired, timed_out = steps.count("otp_expired"), steps.count("idle_timeout")
    # An OTP that expired while the bot was down is told with the timeout that followed it.
    assert expired <= (0 if user.script == "stop_at_number" else 1), (user.script, steps)
    assert timed_out == (0 if user.script == "verify" else 1), (user.script, steps)
    person = user.person
    assert (person.count(EXPIRED), person.count(TIMED_OUT)) == (expired, timed_out), person.texts
    # Each OTP sent answers a stored request: none was sent twice for one press.
    sms = [sms for bot in world.processes for sms in bot.sms if sms.masked == masked(user.number)]
    assert len(sms) <= steps.count("otp_requested"), (sms, steps)


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_env(request: pytest.FixtureRequest) -> AsyncIterator[dict[str, str]]:
    """The world's database: its own SQLite file, or a migrated PostgreSQL database."""
    if request.param == "sqlite":
        yield {}
        return
    if not POSTGRES_URL:
        pytest.skip("KYCBOT_TEST_POSTGRES_URL is not set")
    async with migrated_database("kycbot_chaos") as url:
        yield {"KYCBOT_DATABASE__URL": url}


async def test_sigkills_at_random_moments_lose_and_duplicate_nothing(
    tmp_path: Path, database_env: dict[str, str]
) -> None:
    rng = random.Random(6)
    env = {
        **database_env,
        "KYCBOT_FLOW__OTP_TTL_SECONDS": str(OTP_TTL),
        "KYCBOT_FLOW__IDLE_TIMEOUT_SECONDS": str(IDLE_TIMEOUT),
        # A kill in the middle of an OTP request leaves it to the sweeper: not a minute's wait.
        "KYCBOT_FLOW__CALL_TIMEOUT_SECONDS": "3",
        "KYCBOT_FLOW__RESEND_COOLDOWN_SECONDS": "2",
    }
    async with telegram_world(tmp_path, **env) as world:
        await world.start()
        scripts = [name for name, count in SCRIPTS.items() for _ in range(count)]
        rng.shuffle(scripts)
        users = [
            User(Person(world.fake, 7000 + index), synthetic_number(), script)
            for index, script in enumerate(scripts)
        ]
        playing = [play(world, user, rng.uniform(0.0, 4.0)) for user in users]
        kills, *_ = await asyncio.gather(chaos(world, users, rng), *playing)
        await world.fake.wait_until(
            lambda: settled(world, users), 60, what="every verification to end"
        )
        await world.processes[-1].stop()

        assert kills == 5
        assert [bot.returncode for bot in world.processes].count(-9) == 5
        for user in users:
            check_user(world, user)
        report = scan_for_secrets(
            numbers=[user.number for user in users],
            otps=world.otps,
            sqlite_paths=[world.database] if world.on_sqlite else [],
            postgres_urls=[] if world.on_sqlite else [world.database_url],
            logs={bot.name: bot.log() for bot in world.processes},
        )
        print(report.summary())
        assert report.numbers_checked == len(users)
        assert report.otps_checked >= SCRIPTS["verify"] + SCRIPTS["stop_at_otp"]
        assert report.clean, report.summary()


async def test_a_notice_a_killed_bot_left_unsent_is_delivered_once_after_restart(
    tmp_path: Path,
) -> None:
    async with telegram_world(tmp_path) as world:
        bot = await world.start()
        person = Person(world.fake, 7100)
        await begin(person)
        await bot.kill()
        # As a bot killed between storing a deadline step and sending its notice leaves it:
        # claimed by the dead process a minute ago, never delivered.
        left = (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%d %H:%M:%S.%f")
        with closing(sqlite3.connect(world.database)) as connection, connection:
            (user_id,) = connection.execute(
                'SELECT id FROM "user" WHERE external_id = ?', (str(person.user_id),)
            ).fetchone()
            connection.execute(
                "INSERT INTO outbox_notice (user_id, channel, external_id, message, created_at,"
                " claimed_at, attempts) VALUES (?, 'telegram', ?, ?, ?, ?, 1)",
                (user_id, str(person.user_id), message_to_json(Message(EXPIRED)), left, left),
            )
        await world.start()
        await person.sees(EXPIRED)
        await world.fake.wait_until(
            lambda: world.rows("SELECT delivered_at IS NOT NULL FROM outbox_notice") == [(1,)],
            what="the notice to be marked delivered",
        )
        await world.processes[-1].stop()
        assert person.count(EXPIRED) == 1
        # Taken over exactly once: by the dead bot, then by the one restarted.
        assert world.rows("SELECT attempts FROM outbox_notice") == [(2,)]


async def test_a_deadline_notice_is_kept_with_its_step_and_marked_once_sent(
    tmp_path: Path,
) -> None:
    async with telegram_world(tmp_path, KYCBOT_FLOW__IDLE_TIMEOUT_SECONDS="2") as world:
        await world.start()
        person = Person(world.fake, 7200)
        number = synthetic_number()
        await agree(person)
        await give_number(person, number)
        told = await person.sees(TIMED_OUT, timeout=15)
        await world.fake.wait_until(
            lambda: world.rows("SELECT delivered_at IS NOT NULL FROM outbox_notice") == [(1,)],
            what="the notice to be marked delivered",
        )
        await world.processes[-1].stop()
        ((stored,),) = world.rows("SELECT message FROM outbox_notice")
        assert json.loads(stored)["text"] == told.text
        assert number[-8:] not in stored, "only the masked number may be kept"
        assert person.count(TIMED_OUT) == 1
