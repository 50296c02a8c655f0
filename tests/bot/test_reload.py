"""Config hot reload: real config files in tmp_path, a real runner over SQLite, real file events
and a real SIGHUP; and the real `kycbot run` picking up edits while a user is mid-flow.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import signal
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.config import Settings, load_settings
from bot.reload import ConfigReloader, config_reloading
from bot.runner import Runner
from flows import (
    ButtonAction,
    ConsentGiven,
    NumberConfirmed,
    PromptKey,
    StartRequested,
    TextSent,
    event_for_button,
)
from kyc import SimulatedSms, SimulatorProvider
from storage import Database, NumberVault, UserKey
from storage.migrate import upgrade
from tests.aadhaar_numbers import make_aadhaar
from tests.bot.chat_process import ChatWorld, fresh_keys
from tests.bot.telegram_process import (
    BotWorld,
    Person,
    agree,
    another_otp,
    masked,
    opening,
    request_otp,
    say,
    synthetic_number,
    telegram_world,
)
from tests.fakes.channel import RecordingChannel

K = PromptKey
USER = UserKey(channel="test", external_id="7")
NUMBER = make_aadhaar("34567890123")
WAIT_SECONDS = 15.0
COOLDOWN_SECONDS = 1
NEW_WRONG = "Not that one. {attempts_left} tries left on this code."
V1 = """
[flow]
otp_attempts = 3
"""
V2 = f"""
[flow]
otp_attempts = 5

[prompts.en]
otp_wrong = "{NEW_WRONG}"
"""
# An unknown placeholder: the whole file is refused, the good edit above stays.
BAD = """
[flow]
otp_attempts = 7

[prompts.en]
otp_wrong = "Wrong: {tries}"
"""


def save(path: Path, content: str) -> None:
    """Save as editors do: write a new file next to it, then rename it over the old one."""
    temporary = path.with_name(f".{path.name}.swp")
    temporary.write_text(content, encoding="utf-8")
    os.replace(temporary, path)


@dataclass
class Clock:
    """A clock the test moves by hand."""

    now: datetime = field(default_factory=lambda: datetime(2026, 3, 1, 10, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Installed:
    """A config file, the environment beside it and a runner started from both."""

    path: Path
    environ: dict[str, str]
    runner: Runner
    database: Database
    clock: Clock
    sms: list[SimulatedSms]

    def reloader(self) -> ConfigReloader:
        return ConfigReloader(path=self.path, target=self.runner, environ=self.environ)


def install(directory: Path, content: str, **environ: str) -> tuple[Path, dict[str, str]]:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "config.toml"
    path.write_text(content, encoding="utf-8")
    database = directory / "kycbot.sqlite3"
    return path, {
        **fresh_keys(),
        "KYCBOT_DATABASE__URL": f"sqlite+aiosqlite:///{database}",
        **environ,
    }


@pytest.fixture
async def installed(tmp_path: Path) -> AsyncIterator[Installed]:
    path, environ = install(tmp_path / "bot", V1)
    settings = load_settings(path, environ)
    database = Database(settings.database.url)
    await upgrade(database)
    clock = Clock()
    sms: list[SimulatedSms] = []
    runner = Runner(
        settings=settings,
        database=database,
        provider=SimulatorProvider(on_sms=sms.append, clock=clock),
        vault=NumberVault(
            encryption_key=settings.security.encryption_key_bytes(),
            hmac_key=settings.security.hmac_key_bytes(),
        ),
        clock=clock,
    )
    try:
        yield Installed(path, environ, runner, database, clock, sms)
    finally:
        await database.dispose()


@pytest.fixture(autouse=True)
def reload_log(caplog: pytest.LogCaptureFixture) -> None:
    """Capture everything the reloader logs, DEBUG included."""
    caplog.set_level(logging.DEBUG, logger="bot.reload")


def records(caplog: pytest.LogCaptureFixture, level: int) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "bot.reload" and r.levelno >= level]


def otp_wrong(settings: Settings) -> str:
    return settings.prompt("en", K.OTP_WRONG)


# --- what one reload does ----------------------------------------------------------------------


def test_a_good_edit_is_applied_and_logged_by_key_names_only(
    installed: Installed, caplog: pytest.LogCaptureFixture
) -> None:
    reloader = installed.reloader()
    heard: list[frozenset[str]] = []
    reloader.on_reload(lambda settings, changed: heard.append(changed))
    save(installed.path, V2)
    reloader.reload("file changed")

    settings = installed.runner.settings
    assert otp_wrong(settings) == NEW_WRONG
    assert settings.flow.otp_attempts == 5
    [line] = records(caplog, logging.INFO)
    assert line.levelno == logging.INFO
    assert line.getMessage() == (
        "config reloaded (file changed): flow.otp_attempts, prompts.en.otp_wrong"
    )
    assert heard == [frozenset({"flow.otp_attempts", "prompts.en.otp_wrong"})]


@pytest.mark.parametrize(
    ("content", "named"),
    [
        (BAD, "prompts.en.otp_wrong"),
        ("[flow]\notp_attempts = 0\n", "flow.otp_attempts"),
        ("[flow\notp_attempts = 4\n", "invalid TOML"),
        ("[flow]\nattempts = 4\n", "flow.attempts"),
    ],
)
def test_a_bad_edit_is_refused_with_one_error_and_the_last_good_settings_stay(
    installed: Installed, caplog: pytest.LogCaptureFixture, content: str, named: str
) -> None:
    reloader = installed.reloader()
    save(installed.path, V2)
    reloader.reload("file changed")
    good = installed.runner.settings
    caplog.clear()

    save(installed.path, content)
    reloader.reload("file changed")
    save(installed.path, content)  # saved again, still bad: nothing more to say
    reloader.reload("file changed")

    assert installed.runner.settings is good
    assert otp_wrong(installed.runner.settings) == NEW_WRONG
    [error] = records(caplog, logging.INFO)
    assert error.levelno == logging.ERROR
    assert named in error.getMessage()
    assert "keeping the running settings" in error.getMessage()
    assert error.exc_info is None
    assert "\n" not in error.getMessage()

    caplog.clear()
    save(installed.path, V2)  # mended: back to the running settings, and the log says so
    reloader.reload("file changed")
    assert installed.runner.settings is good
    assert [r.getMessage() for r in records(caplog, logging.INFO)] == [
        "config reloaded (file changed): nothing changed"
    ]


def test_restart_only_keys_are_warned_about_once_and_keep_their_running_values(
    installed: Installed, caplog: pytest.LogCaptureFixture
) -> None:
    reloader = installed.reloader()
    started = installed.runner.settings
    edited = V2 + '\n[web]\nport = 9999\n\n[telegram]\nbase_url = "http://127.0.0.1:1/bot"\n'
    save(
        installed.path,
        edited.replace("otp_attempts = 5", "otp_attempts = 5\nsweep_interval_seconds = 9"),
    )
    reloader.reload("file changed")

    settings = installed.runner.settings
    assert (settings.web, settings.telegram) == (started.web, started.telegram)
    assert settings.flow.sweep_interval_seconds == started.flow.sweep_interval_seconds
    assert (settings.flow.otp_attempts, otp_wrong(settings)) == (5, NEW_WRONG)
    [applied, warned] = records(caplog, logging.INFO)
    assert applied.getMessage().endswith(": flow.otp_attempts, prompts.en.otp_wrong")
    assert warned.levelno == logging.WARNING
    assert warned.getMessage() == (
        "config (file changed): changed, but applied only by a restart (running with the old "
        "values until then): flow.sweep_interval_seconds, telegram.base_url, web.port"
    )

    caplog.clear()
    save(installed.path, edited.replace("tries left", "attempts left"))
    reloader.reload("file changed")
    [applied] = records(caplog, logging.INFO)
    assert applied.getMessage() == "config reloaded (file changed): prompts.en.otp_wrong"


def test_the_same_content_again_is_silent(
    installed: Installed, caplog: pytest.LogCaptureFixture
) -> None:
    reloader = installed.reloader()
    before = installed.runner.settings
    installed.path.touch()
    reloader.reload("file changed")
    save(installed.path, V1)  # the same bytes, saved again
    reloader.reload("file changed")
    save(installed.path, "# only a comment more\n" + V1)  # other bytes, the same settings
    reloader.reload("file changed")

    assert installed.runner.settings is before
    assert records(caplog, logging.INFO) == []


def test_the_environment_still_wins_over_the_file(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path, environ = install(tmp_path, V1, KYCBOT_FLOW__OTP_ATTEMPTS="4")
    holder = _Holder(load_settings(path, environ))
    reloader = ConfigReloader(path=path, target=holder, environ=environ)
    save(path, V2)
    reloader.reload("file changed")

    assert holder.settings.flow.otp_attempts == 4
    [line] = records(caplog, logging.INFO)
    assert line.getMessage() == "config reloaded (file changed): prompts.en.otp_wrong"


@dataclass
class _Holder:
    """Something that reads settings live (the runner in the bot) for tests without one."""

    settings: Settings


def test_the_logging_level_follows_the_file(tmp_path: Path) -> None:
    path, environ = install(tmp_path, V1)
    holder = _Holder(load_settings(path, environ))
    root = logging.getLogger()
    level = root.level
    following = logging.NullHandler(level=level)  # set from the level, as bot.logs does
    chosen = logging.NullHandler(level=logging.CRITICAL)  # set on purpose
    root.addHandler(following)
    root.addHandler(chosen)
    reloader = ConfigReloader(path=path, target=holder, environ=environ)
    try:
        save(path, V1 + '\n[logging]\nlevel = "error"\n')
        reloader.reload("file changed")
        assert (root.level, following.level, chosen.level) == (
            logging.ERROR,
            logging.ERROR,
            logging.CRITICAL,
        )
    finally:
        root.removeHandler(following)
        root.removeHandler(chosen)
        root.setLevel(level)


# --- flow limits apply to new steps ------------------------------------------------------------


async def test_limits_apply_to_the_next_otp_while_the_waiting_one_keeps_its_own(
    installed: Installed,
) -> None:
    runner, clock, channel = installed.runner, installed.clock, RecordingChannel()
    for event in (StartRequested(), ConsentGiven(), TextSent(NUMBER), NumberConfirmed()):
        await runner.handle(USER, event, channel)
    assert say(K.ASK_OTP, attempts_left=3) in channel.last
    first = installed.sms[-1].otp
    sent_at = clock.now

    save(installed.path, V2.replace("otp_attempts = 5", "otp_attempts = 5\notp_ttl_seconds = 60"))
    installed.reloader().reload("file changed")
    clock.now += timedelta(seconds=90)  # past the new lifetime, within the old one

    await runner.handle(USER, TextSent(another_otp(first)), channel)
    assert NEW_WRONG.format(attempts_left=2) in channel.last  # new text, the OTP's own count
    [(expires_at,)] = await _rows(installed, "SELECT otp_expires_at FROM verification")
    assert _utc(expires_at) == sent_at + timedelta(seconds=600)

    await runner.handle(USER, event_for_button(ButtonAction.RESEND), channel)
    assert say(K.ASK_OTP, attempts_left=5) in channel.last
    [(expires_at,)] = await _rows(installed, "SELECT otp_expires_at FROM verification")
    assert _utc(expires_at) == clock.now + timedelta(seconds=60)


async def _rows(installed: Installed, query: str) -> list[tuple[object, ...]]:
    async with installed.database.session() as session:
        return [tuple(row) for row in await session.execute(text(query))]


def _utc(value: object) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# --- the file watch and SIGHUP ---------------------------------------------------------------


async def until(condition: Callable[[], bool], what: str, *, seconds: float = WAIT_SECONDS) -> None:
    """Poll `condition` until it holds, or raise TimeoutError after `seconds`."""
    async with asyncio.timeout(seconds):
        # Settings and log records announce no change, so they are polled.
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    assert condition(), what


async def test_an_editor_save_is_picked_up_by_the_watch(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path, environ = install(tmp_path, V1)
    holder = _Holder(load_settings(path, environ))
    async with config_reloading(path, holder, on_sighup=False, environ=environ) as reloader:
        assert reloader is not None
        # The watch starts in the background: save until it has seen one (the same bytes
        # again are no change, so the repeats are silent).
        async with asyncio.timeout(WAIT_SECONDS):
            while holder.settings.flow.otp_attempts != 5:
                save(path, V2)
                with contextlib.suppress(TimeoutError):
                    await until(lambda: holder.settings.flow.otp_attempts == 5, "", seconds=0.5)
        assert otp_wrong(holder.settings) == NEW_WRONG

        with path.open("w", encoding="utf-8") as file:  # written in place, in pieces
            file.write(V2.replace("tries left", "attempts left")[:20])
            file.flush()
            file.write(V2.replace("tries left", "attempts left")[20:])
        await until(lambda: "attempts left" in otp_wrong(holder.settings), "the write to apply")
    applied = [r.getMessage() for r in records(caplog, logging.INFO)]
    assert applied == [
        "config reloaded (file changed): flow.otp_attempts, prompts.en.otp_wrong",
        "config reloaded (file changed): prompts.en.otp_wrong",
    ]


async def test_sighup_reloads_a_file_the_watch_cannot_see(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # The watch sees the directory of the path it was given; a symlink's target changing
    # elsewhere is invisible to it, and that is what SIGHUP is for.
    target, environ = install(tmp_path / "real", V1)
    (tmp_path / "etc").mkdir()
    link = tmp_path / "etc" / "config.toml"
    link.symlink_to(target)
    holder = _Holder(load_settings(link, environ))
    async with config_reloading(link, holder, environ=environ):
        save(target, V2)
        os.kill(os.getpid(), signal.SIGHUP)
        await until(lambda: holder.settings.flow.otp_attempts == 5, "SIGHUP to apply the edit")
        os.kill(os.getpid(), signal.SIGHUP)  # nothing new: still answered
        await until(lambda: len(records(caplog, logging.INFO)) == 2, "the second answer")
    assert [r.getMessage() for r in records(caplog, logging.INFO)] == [
        "config reloaded (SIGHUP): flow.otp_attempts, prompts.en.otp_wrong",
        "config reloaded (SIGHUP): nothing changed",
    ]


async def test_a_kubernetes_configmap_update_is_picked_up_by_the_watch(tmp_path: Path) -> None:
    # A mounted ConfigMap: config.toml -> ..data/config.toml, ..data -> a timestamped directory;
    # an update writes a new directory and renames a new ..data link over the old one.
    mount = tmp_path / "mount"
    first, environ = install(mount / "..2026_01", V1)
    second, _ = install(mount / "..2026_02", V2)
    (mount / "..data").symlink_to(first.parent.name)
    (mount / "config.toml").symlink_to(Path("..data") / "config.toml")
    holder = _Holder(load_settings(mount / "config.toml", environ))
    async with config_reloading(mount / "config.toml", holder, on_sighup=False, environ=environ):
        async with asyncio.timeout(WAIT_SECONDS):
            # Swapped until the watch, started in the background, has seen one swap.
            while holder.settings.flow.otp_attempts != 5:
                link = mount / "..data_tmp"
                link.unlink(missing_ok=True)
                link.symlink_to(second.parent.name)
                os.replace(link, mount / "..data")
                with contextlib.suppress(TimeoutError):
                    await until(lambda: holder.settings.flow.otp_attempts == 5, "", seconds=0.5)
    assert otp_wrong(holder.settings) == NEW_WRONG


async def test_without_a_config_file_reload_is_off(caplog: pytest.LogCaptureFixture) -> None:
    holder = _Holder(load_settings(None, fresh_keys()))
    async with config_reloading(None, holder) as reloader:
        assert reloader is None
    assert [r.getMessage() for r in records(caplog, logging.INFO)] == [
        "config reload is off: the bot was started without a config file"
    ]


# --- the real bot --------------------------------------------------------------------------------


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[BotWorld]:
    async with telegram_world(tmp_path / "kycbot") as bots:
        yield bots


def log_lines(world: BotWorld, pattern: str) -> list[str]:
    return [line for line in world.log_text().splitlines() if re.search(pattern, line)]


async def test_the_running_bot_takes_a_good_edit_refuses_a_bad_one_and_reloads_on_sighup(
    world: BotWorld,
) -> None:
    config = world.directory / "config.toml"  # ./config.toml of the bot's working directory
    config.write_text(f"[flow]\nresend_cooldown_seconds = {COOLDOWN_SECONDS}\n", encoding="utf-8")
    bot = await world.start()
    person = Person(world.fake, 2001)
    number = synthetic_number()
    await agree(person)
    otp, _ = await request_otp(person, bot, number)  # waiting for the OTP: 3 attempts
    resend_from = asyncio.get_running_loop().time() + COOLDOWN_SECONDS

    wrong = another_otp(otp)
    cooldown = f"[flow]\nresend_cooldown_seconds = {COOLDOWN_SECONDS}\n"
    save(config, V2.replace("[flow]\n", cooldown))
    await world.fake.wait_until(
        lambda: bool(log_lines(world, r"INFO bot\.reload: config reloaded \(file changed\): f")),
        WAIT_SECONDS,
        what="the edit to be reloaded",
    )
    person.says(wrong)
    await person.sees(NEW_WRONG.format(attempts_left=2))  # new text; this OTP's own count

    save(config, BAD.replace("[flow]\n", cooldown))
    await world.fake.wait_until(
        lambda: bool(log_lines(world, r" ERROR ")), WAIT_SECONDS, what="the bad edit refused"
    )
    person.says(wrong)
    last = await person.sees(NEW_WRONG.format(attempts_left=1))  # the last good text

    sighup_text = "Still not it, {attempts_left} left."
    save(config, V2.replace("[flow]\n", cooldown).replace(NEW_WRONG, sighup_text))
    os.kill(bot.pid, signal.SIGHUP)
    await world.fake.wait_until(
        lambda: bool(log_lines(world, r"config reloaded \(SIGHUP\)")),
        WAIT_SECONDS,
        what="the SIGHUP to be answered",
    )
    await world.fake.wait_until(
        lambda: bool(log_lines(world, r"config reloaded .*: prompts\.en\.otp_wrong$")),
        WAIT_SECONDS,
        what="the last edit to be applied",
    )
    await asyncio.sleep(max(resend_from + 0.3 - asyncio.get_running_loop().time(), 0))
    person.presses(last, say(K.BUTTON_RESEND))
    await person.sees(opening(K.OTP_SENT) + masked(number))
    await person.sees(say(K.ASK_OTP, attempts_left=5))  # a new OTP: the new limit
    second = await bot.otp(number[-4:])
    person.says(another_otp(second))
    await person.sees(sighup_text.format(attempts_left=4))
    person.says(second)
    await person.sees(say(K.VERIFIED))

    assert bot.running
    errors = log_lines(world, r" ERROR ")
    assert len(errors) == 1, errors
    assert "config not reloaded (file changed), keeping the running settings: " in errors[0]
    assert "prompts.en.otp_wrong" in errors[0]
    await bot.stop()


# --- the terminal chat ---------------------------------------------------------------------------


def test_the_terminal_chat_takes_an_edit_without_a_restart(tmp_path: Path) -> None:
    world = ChatWorld(tmp_path / "chat")
    config = world.directory / "config.toml"
    config.write_text(V1, encoding="utf-8")
    chat = world.start(config=config)
    try:
        chat.expect(say(K.CONSENT_QUESTION))
        chat.choose(say(K.BUTTON_AGREE))
        chat.expect(say(K.ASK_AADHAAR))

        save(config, '[prompts.en]\naadhaar_not_digits = "Digits only, please."\n')
        deadline = time.monotonic() + WAIT_SECONDS
        applied = "config reloaded (file changed): prompts.en.aadhaar_not_digits"
        while applied not in world.log_file.read_text(encoding="utf-8"):
            assert time.monotonic() < deadline, "the edit was not reloaded"
            time.sleep(0.05)
        chat.send("abcd efgh ijkl")
        chat.expect("Digits only, please.")
        chat.quit()
    finally:
        world.close()
