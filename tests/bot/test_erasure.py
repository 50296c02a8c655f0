"""Erasure, as users and support do it: /delete_my_data in Telegram and `kycbot erase`.

"Erasure leaves nothing of the user but the deletion record": after the confirmation button,
every table and the bytes of the SQLite file are scanned for the user.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import hmac
import logging
import os
import pty
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Connection, func, select

from bot.config import load_settings
from bot.runner import Runner
from flows import ConsentGiven, NumberConfirmed, StartRequested, TextSent
from flows.catalogue import PromptKey
from storage import Database, NumberVault, UserKey
from storage.erasure import erase_by_key
from storage.models import Consent, FlowEvent, User, Verification
from tests.bot.chat_process import base_environment
from tests.bot.telegram_process import (
    BotWorld,
    Person,
    begin,
    say,
    synthetic_number,
    telegram_world,
    verify_happily,
)
from tests.conftest import OpenDatabase
from tests.fakes.channel import RecordingChannel
from tests.fakes.providers import CountingProvider

K = PromptKey
ROOT = Path(__file__).resolve().parents[2]
ERASED = 7312468950
KEPT = 7312468951
KEYS = {
    "KYCBOT_SECURITY__HMAC_KEY": "h" * 40,
    "KYCBOT_SECURITY__ENCRYPTION_KEY": base64.b64encode(b"k" * 32).decode(),
}


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[BotWorld]:
    """The fake Telegram, a database and keys; bots started in it are killed afterwards."""
    async with telegram_world(tmp_path / "kycbot") as bots:
        yield bots


def user_hmac(world: BotWorld, who: str) -> str:
    """The documented deletion-record hash: HMAC-SHA256 of "channel:id" with the HMAC key."""
    key = world.env["KYCBOT_SECURITY__HMAC_KEY"].encode()
    return hmac.new(key, who.encode(), hashlib.sha256).hexdigest()


def tables(world: BotWorld) -> list[str]:
    """Every table of the schema but Alembic's."""
    rows = world.rows("SELECT name FROM sqlite_master WHERE type = 'table'")
    return [name for (name,) in rows if name != "alembic_version" and not name.startswith("sqlite")]


def rows_mentioning(world: BotWorld, user_id: int, traces: list[str]) -> dict[str, list[object]]:
    """Per table, the rows that belong to `user_id` or hold one of `traces` in any column."""
    found: dict[str, list[object]] = {}
    for table in tables(world):
        columns = [row[1] for row in world.rows(f'PRAGMA table_info("{table}")')]
        # The names come from sqlite_master, not from input.
        for row in world.rows(f'SELECT * FROM "{table}"'):  # noqa: S608
            values = dict(zip(columns, row, strict=True))
            owned = values.get("user_id") == user_id or (
                table == "user" and values["id"] == user_id
            )
            if owned or any(trace in str(value) for value in row for trace in traces):
                found.setdefault(table, []).append(values)
    return found


def file_bytes(world: BotWorld) -> bytes:
    """The SQLite file and whatever journal files sit next to it."""
    files = sorted(world.database.parent.glob(world.database.name + "*"))
    return b"".join(path.read_bytes() for path in files)


async def test_delete_my_data_leaves_only_the_deletion_record(world: BotWorld) -> None:
    bot = await world.start()
    erased, kept = Person(world.fake, ERASED), Person(world.fake, KEPT, first_name="Ravi")
    number = synthetic_number()
    await verify_happily(erased, bot, number)
    await begin(kept)
    (user_id,) = world.rows('SELECT id FROM "user" WHERE external_id = ?', str(ERASED))[0]
    (name, fingerprint) = world.rows(
        "SELECT name, aadhaar_hmac FROM kyc_result WHERE user_id = ?", user_id
    )[0]
    traces = [str(ERASED), number[-4:].join(("XXXX XXXX ", "")), name, fingerprint]
    assert rows_mentioning(world, user_id, traces), "the verified user was not stored"
    kept_before = rows_mentioning(world, KEPT, [str(KEPT)])

    erased.says("/delete_my_data")
    question = await erased.sees(say(K.ERASE_QUESTION))
    assert question.labels == [say(K.BUTTON_ERASE), say(K.BUTTON_KEEP)]
    erased.presses(question, say(K.BUTTON_ERASE))
    await erased.sees(say(K.ERASE_DONE))
    # The keyboard is gone; a client still showing it presses again: nothing left to delete.
    erased.presses(question, say(K.BUTTON_ERASE), strict=False)
    await erased.sees(say(K.ERASE_NOTHING))
    await bot.stop()

    (record,) = world.rows("SELECT user_hmac, requested_by, deleted_at FROM deletion_record")
    assert record[:2] == (user_hmac(world, f"telegram:{ERASED}"), "user")
    left = rows_mentioning(world, user_id, traces)
    assert left == {}, left
    assert rows_mentioning(world, KEPT, [str(KEPT)]) == kept_before, "another user was touched"
    stored = file_bytes(world)
    for trace in traces:
        assert trace.encode() not in stored, f"{trace!r} is still in the database file"
    assert number.encode() not in stored
    assert number.encode() not in world.log_text().encode()

    # Coming back is a new beginning: consent is asked again.
    await world.start()
    await begin(erased)


async def test_keep_deletes_nothing_and_goes_back_to_the_step(world: BotWorld) -> None:
    await world.start()
    person = Person(world.fake, KEPT)
    await begin(person)
    events_before = len(world.rows("SELECT id FROM flow_event"))

    person.says("/delete_my_data")
    question = await person.sees(say(K.ERASE_QUESTION))
    person.presses(question, say(K.BUTTON_KEEP))
    kept = await person.sees(say(K.ERASE_KEPT))

    assert say(K.CONSENT_QUESTION) in kept.text  # the step it was at, with its buttons
    assert kept.labels == [say(K.BUTTON_AGREE), say(K.BUTTON_DECLINE)]
    assert world.rows("SELECT count(*) FROM deletion_record") == [(0,)]
    assert len(world.rows("SELECT id FROM flow_event")) == events_before + 2
    person.presses(kept, say(K.BUTTON_AGREE))
    await person.sees(say(K.ASK_AADHAAR))


async def test_delete_my_data_of_a_stranger_stores_nothing(world: BotWorld) -> None:
    await world.start()
    person = Person(world.fake, KEPT)

    person.says("/delete_my_data")
    await person.sees(say(K.ERASE_NOTHING))

    assert not world.has_user(KEPT)


# --- kycbot erase -----------------------------------------------------------------------------


def kycbot_erase(world: BotWorld, *args: str) -> subprocess.CompletedProcess[str]:
    """`kycbot erase ARGS` on the world's database, stdin not a terminal."""
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "erase", *args],
        cwd=ROOT,
        env=base_environment(world.env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


async def test_kycbot_erase_through_the_cli(world: BotWorld) -> None:
    bot = await world.start()
    erased, kept = Person(world.fake, ERASED), Person(world.fake, KEPT)
    await verify_happily(erased, bot, synthetic_number())
    await begin(kept)
    await bot.stop()
    (user_id,) = world.rows('SELECT id FROM "user" WHERE external_id = ?', str(ERASED))[0]
    stored = rows_mentioning(world, user_id, [str(ERASED)])

    unconfirmed = kycbot_erase(world, str(ERASED))
    assert (unconfirmed.returncode, unconfirmed.stdout) == (2, "")
    assert "--yes" in unconfirmed.stderr
    assert rows_mentioning(world, user_id, [str(ERASED)]) == stored

    done = kycbot_erase(world, f"telegram:{ERASED}", "--yes")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == f"erased telegram:{ERASED}; a deletion record was kept"
    counts = {line.split()[0]: line.split()[-1] for line in done.stdout.splitlines()[1:]}
    assert counts["results"] == "1"
    assert counts["users"] == "1"
    assert int(counts["flow"]) == len(stored["flow_event"])
    assert rows_mentioning(world, user_id, [str(ERASED)]) == {}
    assert world.has_user(KEPT)
    assert world.rows("SELECT user_hmac, requested_by FROM deletion_record") == [
        (user_hmac(world, f"telegram:{ERASED}"), "support")
    ]

    again = kycbot_erase(world, str(ERASED), "--yes")
    assert again.returncode == 1
    lines = again.stderr.splitlines()
    assert lines[0] == f"no user telegram:{ERASED}"
    assert lines[1].startswith("this user's data was erased on ")

    never = kycbot_erase(world, "telegram:555", "--yes")
    assert (never.returncode, never.stderr) == (1, "no user telegram:555\n")


async def test_kycbot_erase_a_verification_and_bad_targets(world: BotWorld) -> None:
    bot = await world.start()
    await begin(Person(world.fake, KEPT))
    await bot.stop()
    (verification_id,) = world.rows("SELECT id FROM verification")[0]

    for bad in ("telegram:", ":123"):
        refused = kycbot_erase(world, bad, "--yes")
        assert refused.returncode == 2, refused
        assert refused.stderr.startswith("bad user"), refused.stderr
    assert world.has_user(KEPT)
    missing = kycbot_erase(world, "v999", "--yes")
    assert (missing.returncode, missing.stderr) == (1, "no verification 999\n")

    declined = erase_in_a_terminal(world, f"v{verification_id}", answer="n")
    assert declined.returncode == 0, declined.stderr
    assert declined.stdout.endswith("[y/N] nothing was erased\n"), declined.stdout
    assert f"telegram:{KEPT} has 1 verifications" in declined.stdout
    assert world.has_user(KEPT)

    done = erase_in_a_terminal(world, f"v{verification_id}", answer="y")
    assert done.returncode == 0, done.stderr
    assert f"erased telegram:{KEPT}; a deletion record was kept" in done.stdout
    assert not world.has_user(KEPT)


def erase_in_a_terminal(
    world: BotWorld, target: str, *, answer: str
) -> subprocess.CompletedProcess[str]:
    """`kycbot erase TARGET` with a terminal as stdin, answering its question with `answer`."""
    controller, terminal = pty.openpty()
    try:
        os.write(controller, f"{answer}\n".encode())
        return subprocess.run(
            [sys.executable, "-m", "bot.cli", "erase", target],
            cwd=ROOT,
            env=base_environment(world.env),
            stdin=terminal,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    finally:
        os.close(controller)
        os.close(terminal)


# --- an erasure from another process while a step of the user runs -----------------------------


def _rows(connection: Connection, *, model: type[object]) -> int:
    return int(connection.execute(select(func.count()).select_from(model)).scalar_one())


async def test_a_step_running_while_support_erases_is_dropped_not_written_back(
    database: Database, open_database: OpenDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.runner")
    settings = load_settings(None, KEYS)
    vault = NumberVault(
        encryption_key=settings.security.encryption_key_bytes(),
        hmac_key=settings.security.hmac_key_bytes(),
    )
    provider = CountingProvider()
    runner = Runner(settings=settings, database=database, provider=provider, vault=vault)
    user, channel = UserKey("telegram", str(ERASED)), RecordingChannel()
    for event in (StartRequested(), ConsentGiven(), TextSent(synthetic_number())):
        await runner.handle(user, event, channel)
    provider.stall = asyncio.Event()
    pressing = asyncio.create_task(runner.handle(user, NumberConfirmed(), channel))
    for _ in range(200):  # until the OTP request is under way
        if provider.requests:
            break
        await asyncio.sleep(0.01)
    shown = len(channel.messages)

    support = open_database()  # as `kycbot erase` in another process
    erased = await support.run(
        functools.partial(
            erase_by_key, key=user, vault=vault, requested_by="support", now=datetime.now(UTC)
        )
    )
    provider.stall.set()
    await pressing

    assert erased is not None
    assert erased.verifications == 1
    for model in (User, Verification, Consent, FlowEvent):
        assert await database.run(functools.partial(_rows, model=model)) == 0, model
    assert channel.messages[shown:] == []  # nothing said about a conversation that is gone
    assert "the user's data was erased meanwhile" in caplog.text
