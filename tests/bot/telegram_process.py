"""Drive the real `kycbot run` process against the fake Telegram Bot API, as users would.

`BotWorld` is one installation: a directory with an SQLite file, fresh keys, the fake's token
and address, and a short sweep interval. `await world.start()` spawns one `kycbot run` and
returns a `BotProcess` once it serves (polling: it called deleteWebhook; webhook: setWebhook).
Stopping one and starting another in the same world keeps the database and the keys, as a
restart of the real bot does.

`BotProcess` reads the process's stdout in a background task, where the simulator prints each
SMS ("[simulated SMS to the mobile linked with XXXX XXXX 1234] OTP 482915"), so
`await bot.otp("1234")` returns the OTP a user would have received. Its stderr (the log) goes
to a file of its own, which `BotWorld.log_text()` reads back for the privacy scan.
`stop()` sends SIGTERM and asserts exit 0; `kill()` sends SIGKILL.

`Person` is one Telegram user in their private chat with the bot: what they type, the buttons
they press (every press is remembered, to check each was answered) and what they see.

Texts come from the prompt catalogue (`say`, `opening`), so a reworded prompt does not break
the tests, while a wrong prompt, a missing one or one in the wrong place does.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import socket
import sqlite3
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flows.catalogue import PromptKey
from tests.bot.chat_process import base_environment, fresh_keys
from tests.fakes.telegram import FakeTelegram, SentMessage, UserMessage
from tests.postgres_databases import rows_now
from tests.scenario_tools import another_otp, masked, opening, say, spaced, synthetic_number

__all__ = [
    "SMS_LINE",
    "SWEEP_SECONDS",
    "TIMEOUT_SECONDS",
    "BotProcess",
    "BotWorld",
    "Finished",
    "Person",
    "Sms",
    "agree",
    "another_otp",
    "assert_record",
    "begin",
    "callback_data_sent",
    "free_port",
    "give_number",
    "masked",
    "opening",
    "request_otp",
    "resend_after_cooldown",
    "resume_after_sigkill",
    "say",
    "spaced",
    "synthetic_number",
    "telegram_world",
    "three_wrong_otps",
    "verify_happily",
]

K = PromptKey
TIMEOUT_SECONDS = 15.0
SWEEP_SECONDS = 0.2
SMS_LINE = re.compile(
    r"\[simulated SMS to the mobile linked with (XXXX XXXX (\d{4}))\] OTP (\d{6})"
)


# --- texts and numbers -----------------------------------------------------------------------


def _inline_data(markup: object) -> Iterator[str]:
    if not isinstance(markup, dict):
        return
    for row in markup.get("inline_keyboard") or []:
        for button in row:
            if isinstance(button, dict) and button.get("callback_data") is not None:
                yield str(button["callback_data"])


def callback_data_sent(fake: FakeTelegram, chat_id: int) -> list[str]:
    """Every callback_data the bot ever put on a button in `chat_id` (sent or edited in)."""
    found: list[str] = []
    for call in fake.calls:
        if call.method.lower() not in ("sendmessage", "editmessagetext", "editmessagereplymarkup"):
            continue
        if str(call.params.get("chat_id")) != str(chat_id):
            continue
        found.extend(_inline_data(call.params.get("reply_markup")))
    return found


# --- one person in a private chat -------------------------------------------------------------


@dataclass
class Person:
    """A Telegram user in their private chat with the bot."""

    fake: FakeTelegram
    user_id: int
    first_name: str = "Asha"
    pressed: list[str] = field(default_factory=list)  # callback query ids, in order
    typed: list[str] = field(default_factory=list)

    def says(self, text: str) -> int:
        """Type `text` (a "/command" gets its entity); the message id."""
        self.typed.append(text)
        return self.fake.send_text(self.user_id, text, first_name=self.first_name)

    def sends_sticker(self) -> int:
        """Send a sticker; the message id."""
        return self.fake.send_sticker(self.user_id, first_name=self.first_name)

    def presses(self, message: SentMessage, label: str, *, strict: bool = True) -> str:
        """Press the button `label` under `message` (as it was when read); the query id.

        `strict=False` presses a button the message no longer shows, as a stale client does.
        """
        query_id = self.fake.press(
            self.user_id, message.message_id, message.data_for(label), strict=strict
        )
        self.pressed.append(query_id)
        return query_id

    async def sees(
        self,
        text: str | None = None,
        *,
        timeout: float = TIMEOUT_SECONDS,  # noqa: ASYNC109
    ) -> SentMessage:
        """The bot's next unread message (containing `text`); the ones skipped count as read."""
        return await self.fake.wait_for_message(self.user_id, text, timeout=timeout)

    @property
    def texts(self) -> list[str]:
        """Every text the bot sent in this chat, deleted or not, as last shown."""
        return [message.text for message in self.fake.chat(self.user_id).messages]

    def count(self, text: str) -> int:
        """How many of the bot's messages in this chat contain `text`."""
        return sum(text in shown for shown in self.texts)

    def user_message(self, message_id: int) -> UserMessage:
        """The user's message `message_id` as the chat holds it now."""
        for message in self.fake.chat(self.user_id).user_messages:
            if message.message_id == message_id:
                return message
        raise AssertionError(f"no user message #{message_id}\n{self.fake.chat(self.user_id)}")

    def deleted(self, message_id: int) -> bool:
        """Whether the bot deleted the user's message `message_id`."""
        return self.user_message(message_id).deleted


# --- one bot process ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Sms:
    """One simulated SMS the bot printed."""

    masked: str
    otp: str


@dataclass(frozen=True)
class Finished:
    """A `kycbot run` that ended by itself: its exit status and what it printed."""

    returncode: int
    stdout: str
    stderr: str


class BotProcess:
    """One running `kycbot run`."""

    def __init__(
        self,
        process: asyncio.subprocess.Process,
        *,
        name: str,
        log_file: Path,
        timeout: float,
    ) -> None:
        self._process = process
        self.name = name
        self.log_file = log_file
        self._timeout = timeout
        self.stdout_lines: list[str] = []
        self.sms: list[Sms] = []
        self._returned: dict[str, int] = {}  # last four digits -> SMS already returned by otp()
        self._changed = asyncio.Event()
        self._reader = asyncio.create_task(self._read_stdout(), name=f"{name}-stdout")

    @property
    def pid(self) -> int:
        """The process id."""
        return self._process.pid

    @property
    def returncode(self) -> int | None:
        """The exit status once it ended (negative: the signal that ended it), else None."""
        return self._process.returncode

    @property
    def running(self) -> bool:
        """Whether the process has not ended yet."""
        return self._process.returncode is None

    def log(self) -> str:
        """What the process wrote to stderr so far."""
        if not self.log_file.exists():
            return ""
        return self.log_file.read_text(encoding="utf-8", errors="replace")

    def describe(self) -> str:
        """The state and the end of the log, for a failure message."""
        state = "running" if self.running else f"exited with {self.returncode}"
        tail = "\n".join(self.log().splitlines()[-25:]) or "(empty)"
        return f"{self.name} is {state}; its log ends with:\n{tail}"

    async def _read_stdout(self) -> None:
        stream = self._process.stdout
        assert stream is not None
        while line := await stream.readline():
            text = line.decode("utf-8", errors="replace").rstrip("\n")
            self.stdout_lines.append(text)
            found = SMS_LINE.search(text)
            if found is not None:
                self.sms.append(Sms(found.group(1), found.group(3)))
            self._notify()
        self._notify()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def otps_for(self, last4: str) -> list[str]:
        """Every OTP this process sent to the mobile of XXXX XXXX `last4`, oldest first."""
        return [sms.otp for sms in self.sms if sms.masked == f"XXXX XXXX {last4}"]

    async def otp(self, last4: str, *, timeout: float | None = None) -> str:  # noqa: ASYNC109
        """The latest OTP sent for XXXX XXXX `last4` that no earlier call returned (waits)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self._timeout if timeout is None else timeout)
        while len(self.otps_for(last4)) <= self._returned.get(last4, 0):
            remaining = deadline - loop.time()
            if remaining <= 0 or (self._reader.done() and not self.running):
                raise AssertionError(
                    f"no new simulated SMS for XXXX XXXX {last4}; stdout: {self.stdout_lines}\n"
                    f"{self.describe()}"
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.2))
        sent = self.otps_for(last4)
        self._returned[last4] = len(sent)
        return sent[-1]

    async def wait_for_exit(self, *, timeout: float | None = None) -> int:  # noqa: ASYNC109
        """Wait until the process ends and its stdout is read; its exit status."""
        try:
            async with asyncio.timeout(self._timeout if timeout is None else timeout):
                returncode = await self._process.wait()
                await self._reader
        except TimeoutError:
            raise AssertionError(f"{self.name} did not exit\n{self.describe()}") from None
        return returncode

    async def stop(self, *, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """SIGTERM, as an operator or a supervisor stops the bot; it must exit 0 in time."""
        if self.running:
            self._process.send_signal(signal.SIGTERM)
        returncode = await self.wait_for_exit(timeout=timeout)
        assert returncode == 0, f"SIGTERM: {self.describe()}"

    async def kill(self) -> None:
        """SIGKILL: the bot dies mid-whatever, as in a crash or an OOM kill."""
        if self.running:
            self._process.kill()
        await self.wait_for_exit()

    async def close(self) -> None:
        """Clean-up: kill the process if it still runs and finish reading its output."""
        if self.running:
            with contextlib.suppress(ProcessLookupError):
                self._process.kill()
        await self._process.wait()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader


# --- one installation --------------------------------------------------------------------------


@dataclass
class BotWorld:
    """A database, keys and the fake's address shared by every `kycbot run` started in it."""

    directory: Path
    fake: FakeTelegram
    env: dict[str, str] = field(default_factory=dict)
    processes: list[BotProcess] = field(default_factory=list)
    timeout: float = TIMEOUT_SECONDS

    def __post_init__(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        defaults = {
            **fresh_keys(),
            "KYCBOT_DATABASE__URL": f"sqlite+aiosqlite:///{self.database}",
            "KYCBOT_FLOW__SWEEP_INTERVAL_SECONDS": str(SWEEP_SECONDS),
            "KYCBOT_TELEGRAM__TOKEN": self.fake.token,
            "KYCBOT_TELEGRAM__BASE_URL": self.fake.base_url,
            # Polling serves the web app (/metrics) on [web]: a port of its own per world.
            "KYCBOT_WEB__PORT": str(free_port()),
        }
        self.env = {**defaults, **self.env}

    @property
    def database(self) -> Path:
        """The SQLite file (unused when `database_url` names PostgreSQL)."""
        return self.directory / "kycbot.sqlite3"

    @property
    def database_url(self) -> str:
        """The database every process started here uses."""
        return self.env["KYCBOT_DATABASE__URL"]

    @property
    def on_sqlite(self) -> bool:
        """Whether that database is the SQLite file."""
        return self.database_url.startswith("sqlite")

    @property
    def log_files(self) -> list[Path]:
        """The stderr file of every process started here."""
        return [process.log_file for process in self.processes]

    def log_text(self) -> str:
        """Everything every process started here wrote to stderr."""
        return "".join(process.log() for process in self.processes)

    @property
    def otps(self) -> list[str]:
        """Every OTP any process started here sent."""
        return [sms.otp for process in self.processes for sms in process.sms]

    def environment(self, *, unset: tuple[str, ...] = (), **overrides: str) -> dict[str, str]:
        """The environment of a process: this world's settings, then `overrides`."""
        env = base_environment({**self.env, **overrides})
        # A proxy from the environment would swallow the calls to the fake on 127.0.0.1.
        for name in ("NO_PROXY", "no_proxy"):
            env[name] = "127.0.0.1,localhost"
        for name in unset:
            env.pop(name, None)
        return env

    async def spawn(
        self, overrides: dict[str, str], unset: tuple[str, ...] = (), args: tuple[str, ...] = ()
    ) -> BotProcess:
        """Start `kycbot run *args` with `overrides` and without `unset`; do not wait for it."""
        name = f"kycbot-run-{len(self.processes) + 1}"
        log_file = self.directory / f"{name}.stderr.log"
        with log_file.open("wb") as stderr:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot.cli",
                "run",
                *args,
                env=self.environment(unset=unset, **overrides),
                cwd=self.directory,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=stderr,
            )
        bot = BotProcess(process, name=name, log_file=log_file, timeout=self.timeout)
        self.processes.append(bot)
        return bot

    async def start(self, *args: str, **env: str) -> BotProcess:
        """Start `kycbot run *args` and return once it serves (its signal handlers are in place)."""
        webhook = env.get("KYCBOT_TELEGRAM__MODE", self.env.get("KYCBOT_TELEGRAM__MODE")) == (
            "webhook"
        )
        ready_call = "setwebhook" if webhook else "deletewebhook"
        seen = len(self.fake.calls)
        bot = await self.spawn(env, args=args)

        def ready() -> bool:
            calls = self.fake.calls[seen:]
            return not bot.running or any(
                call.ok and call.method.lower() == ready_call for call in calls
            )

        await self.fake.wait_until(ready, self.timeout, what=f"{bot.name} to call {ready_call}")
        if not bot.running:
            await bot.wait_for_exit()
            raise AssertionError(f"{bot.name} did not start\n{bot.describe()}")
        return bot

    async def run_to_exit(self, *, unset: tuple[str, ...] = (), **env: str) -> Finished:
        """Start `kycbot run` and wait for it to end by itself (a start-up failure)."""
        bot = await self.spawn(env, unset)
        returncode = await bot.wait_for_exit()
        return Finished(returncode, "\n".join(bot.stdout_lines), bot.log())

    async def close(self) -> None:
        """Kill every process started here that still runs."""
        for process in self.processes:
            await process.close()

    # --- the database ----------------------------------------------------------------------

    def rows(self, sql: str, *params: object) -> list[tuple[Any, ...]]:
        """Run a query (`?` placeholders) on the bot's database, SQLite or PostgreSQL."""
        if not self.on_sqlite:
            return rows_now(self.database_url, sql, *params)
        with closing(sqlite3.connect(self.database)) as connection:
            return list(connection.execute(sql, params).fetchall())

    def verification_of(self, user_id: int) -> tuple[Any, ...]:
        """The newest verification of Telegram user `user_id`: (state, ciphertext, ended_at)."""
        found = self.rows(
            "SELECT v.state, v.aadhaar_ciphertext, v.ended_at FROM verification v "
            'JOIN "user" u ON u.id = v.user_id '
            "WHERE u.channel = 'telegram' AND u.external_id = ? ORDER BY v.id DESC LIMIT 1",
            str(user_id),
        )
        assert found, f"no verification stored for Telegram user {user_id}"
        return found[0]

    def events_of(self, user_id: int) -> list[tuple[str, str, str]]:
        """The flow events of Telegram user `user_id`: (event, to_state, outcome), in order."""
        return [
            (str(event), str(to_state), str(outcome))
            for event, to_state, outcome in self.rows(
                "SELECT e.event, e.to_state, e.outcome FROM flow_event e "
                'JOIN "user" u ON u.id = e.user_id '
                "WHERE u.channel = 'telegram' AND u.external_id = ? ORDER BY e.id",
                str(user_id),
            )
        ]

    def has_user(self, user_id: int) -> bool:
        """Whether Telegram user `user_id` has a row (the bot handled something of theirs)."""
        if self.on_sqlite and not self.database.exists():
            return False
        found = self.rows(
            "SELECT count(*) FROM \"user\" WHERE channel = 'telegram' AND external_id = ?",
            str(user_id),
        )
        return bool(found[0][0])


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.asynccontextmanager
async def telegram_world(directory: Path, **env: str) -> AsyncIterator[BotWorld]:
    """A fake Telegram and a world around it; every bot started in it is killed afterwards.

    The bots go first: PTB's last getUpdates on stopping needs the fake still serving.
    """
    async with FakeTelegram() as fake:
        world = BotWorld(directory, fake, env=env)
        try:
            yield world
        finally:
            await world.close()


# --- conversations several tests walk through --------------------------------------------------


def assert_record(text: str, number: str) -> None:
    """The masked record: the number's last four digits, initials, a year, a state."""
    assert f"Aadhaar: {masked(number)}\n" in text, text
    assert re.search(r"\nName: [A-Z]\*+ [A-Z]\*+\n", text), text
    assert re.search(r"\nDate of birth: (19|20)\d\d\n", text), text
    assert re.search(r"\nAddress: [A-Za-z][A-Za-z ]*\n", text), text
    assert number[:8] not in text, text


async def begin(person: Person) -> SentMessage:
    """/start; the consent notice."""
    person.says("/start")
    return await person.sees(say(K.CONSENT_QUESTION))


async def agree(person: Person) -> SentMessage:
    """/start and "I agree"; the question for the number."""
    notice = await begin(person)
    person.presses(notice, say(K.BUTTON_AGREE))
    return await person.sees(say(K.ASK_AADHAAR))


async def give_number(person: Person, number: str) -> tuple[int, SentMessage]:
    """Type the number in groups of four; its message id and the confirmation question."""
    typed = person.says(spaced(number))
    confirm = await person.sees(say(K.CONFIRM_NUMBER, masked_aadhaar=masked(number)))
    return typed, confirm


async def request_otp(person: Person, bot: BotProcess, number: str) -> tuple[str, SentMessage]:
    """At the number prompt: type the number, press Send OTP; the OTP and the "sent" message."""
    _, confirm = await give_number(person, number)
    person.presses(confirm, say(K.BUTTON_SEND_OTP))
    sent = await person.sees(opening(K.OTP_SENT) + masked(number))
    await person.sees(say(K.ASK_OTP, attempts_left=3))
    return await bot.otp(number[-4:]), sent


async def verify_happily(person: Person, bot: BotProcess, number: str) -> str:
    """Consent, number with spaces, Send OTP, the OTP: verified, masked record. The OTP."""
    fake = person.fake
    notice = await begin(person)
    assert notice.labels == [say(K.BUTTON_AGREE), say(K.BUTTON_DECLINE)]
    for part in (K.CONSENT_TITLE, K.CONSENT_PURPOSE, K.CONSENT_STORED, K.CONSENT_WITHDRAWAL):
        assert say(part) in notice.text
    person.presses(notice, say(K.BUTTON_AGREE))

    ask = await person.sees(say(K.ASK_AADHAAR))
    assert (ask.markup, ask.placeholder) == ("force_reply", say(K.INPUT_AADHAAR)), ask
    number_typed, confirm = await give_number(person, number)
    assert confirm.labels == [say(K.BUTTON_SEND_OTP), say(K.BUTTON_CHANGE_NUMBER)]
    person.presses(confirm, say(K.BUTTON_SEND_OTP))

    sent = await person.sees(opening(K.OTP_SENT) + masked(number))
    assert say(K.BUTTON_RESEND) in sent.labels
    ask = await person.sees(say(K.ASK_OTP, attempts_left=3))
    assert (ask.markup, ask.placeholder) == ("force_reply", say(K.INPUT_OTP)), ask
    otp = await bot.otp(number[-4:])
    otp_typed = person.says(otp)

    done = await person.sees(say(K.VERIFIED))
    assert_record(done.text, number)
    await fake.wait_until(
        lambda: person.deleted(number_typed) and person.deleted(otp_typed),
        what="the number and the OTP to be deleted",
        chat_id=person.user_id,
    )
    return otp


async def three_wrong_otps(person: Person, bot: BotProcess, number: str) -> str:
    """A malformed OTP is asked again for free; three wrong ones use up the OTP. The OTP."""
    await agree(person)
    otp, _ = await request_otp(person, bot, number)
    wrong = another_otp(otp)

    malformed = person.says("12ab")
    await person.sees(say(K.OTP_NOT_SIX_DIGITS))
    assert not person.deleted(malformed), "a message without 4 digits is no secret"

    typed = [person.says(wrong)]
    await person.sees(say(K.OTP_WRONG, attempts_left=2))  # "12ab" used no attempt
    typed.append(person.says(wrong))
    await person.sees(say(K.OTP_WRONG, attempts_left=1))
    typed.append(person.says(wrong))
    used = await person.sees(say(K.OTP_ATTEMPTS_USED))
    # The resend offer, or how long until one may be asked for, and the button for it.
    offer = re.escape(opening(K.RESEND_OFFER)) + r"\d+ left\)|" + re.escape(opening(K.RESEND_WAIT))
    assert re.search(offer, used.text), used.text
    assert used.labels == [say(K.BUTTON_RESEND)]
    await person.fake.wait_until(
        lambda: all(person.deleted(message_id) for message_id in typed),
        what="the wrong OTPs to be deleted",
        chat_id=person.user_id,
    )

    # The right OTP is no use any more either.
    person.says(otp)
    dead = await person.sees(say(K.OTP_DEAD))
    assert say(K.VERIFIED) not in dead.text
    return otp


async def resend_after_cooldown(
    person: Person, bot: BotProcess, number: str, *, cooldown: int
) -> tuple[str, str]:
    """A resend too early says how long to wait; afterwards a new OTP replaces the old one."""
    loop = asyncio.get_running_loop()
    await agree(person)
    first, sent = await request_otp(person, bot, number)
    sent_at = loop.time()

    person.presses(sent, say(K.BUTTON_RESEND))
    wait = await person.sees(opening(K.RESEND_WAIT))
    seconds = re.search(re.escape(opening(K.RESEND_WAIT)) + r"(\d+) seconds", wait.text)
    assert seconds is not None, wait.text
    assert 1 <= int(seconds.group(1)) <= cooldown
    assert wait.labels == [say(K.BUTTON_RESEND)]
    assert bot.otps_for(number[-4:]) == [first], "a resend pressed too early sent an OTP"

    await asyncio.sleep(max(sent_at + cooldown + 0.3 - loop.time(), 0))
    person.presses(wait, say(K.BUTTON_RESEND))
    await person.sees(opening(K.OTP_SENT) + masked(number))
    await person.sees(say(K.ASK_OTP, attempts_left=3))
    second = await bot.otp(number[-4:])
    assert second != first

    person.says(first)
    answer = await person.sees()
    assert say(K.VERIFIED) not in answer.text
    assert (
        say(K.OTP_WRONG, attempts_left=2) in answer.text
        or say(K.OTP_SESSION_INVALID) in answer.text
    ), answer.text

    person.says(second)
    done = await person.sees(say(K.VERIFIED))
    assert_record(done.text, number)
    return first, second


async def resume_after_sigkill(world: BotWorld, person: Person, number: str) -> BotProcess:
    """The bot is SIGKILLed once the OTP was sent; a new one takes the OTP from before."""
    bot = world.processes[-1]
    await agree(person)
    otp, _ = await request_otp(person, bot, number)
    # Every update was fetched (and so confirmed by the next getUpdates) before the crash.
    await world.fake.wait_for_empty_queue()
    await bot.kill()
    assert bot.returncode == -signal.SIGKILL

    again = await world.start()
    person.says(otp)
    done = await person.sees(say(K.VERIFIED))
    assert_record(done.text, number)
    assert again.sms == [], "resuming must not send another OTP"
    return again
