"""`kycbot logs` through the real CLI, over flows run by the real Runner on an SQLite file."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.config import load_settings
from bot.runner import Runner
from flows import ConsentGiven, Event, NumberConfirmed, StartRequested, TextSent
from kyc import SimulatedSms, SimulatorProvider
from storage import Database, NumberVault, UserKey
from storage.migrate import upgrade
from tests.fakes.channel import RecordingChannel
from tests.scenario_tools import spaced, synthetic_number

ROOT = Path(__file__).resolve().parents[2]
KEYS = {
    "KYCBOT_SECURITY__HMAC_KEY": "h" * 40,
    "KYCBOT_SECURITY__ENCRYPTION_KEY": base64.b64encode(b"k" * 32).decode(),
}
VERIFIED = UserKey("telegram", "1001")
STARTED = UserKey("telegram", "1002")
# Two days ago: outside `--since 24h`, inside `--since 7d`.
OLD = UserKey("chat", "old")
FOLLOWED = UserKey("telegram", "1003")
ERASED, AFTER_ERASED = UserKey("telegram", "1004"), UserKey("telegram", "1005")


@dataclass
class Store:
    """The SQLite file the flows ran on, and every secret a flow used."""

    path: Path
    numbers: list[str]
    otps: list[str]

    @property
    def url(self) -> str:
        return f"sqlite+aiosqlite:///{self.path}"


def _runner(database: Database, sms: list[SimulatedSms], clock: Callable[[], datetime]) -> Runner:
    settings = load_settings(None, KEYS)
    vault = NumberVault(
        encryption_key=settings.security.encryption_key_bytes(),
        hmac_key=settings.security.hmac_key_bytes(),
    )
    provider = SimulatorProvider(on_sms=sms.append, clock=clock)
    return Runner(settings=settings, database=database, provider=provider, vault=vault, clock=clock)


async def _play(runner: Runner, user: UserKey, events: list[Event]) -> None:
    channel = RecordingChannel()
    for event in events:
        await runner.handle(user, event, channel)


async def _fill(store: Store) -> None:
    database = Database(store.url)
    try:
        await upgrade(database)
        sms: list[SimulatedSms] = []
        now = _runner(database, sms, lambda: datetime.now(UTC))
        number = synthetic_number()
        store.numbers.append(number)
        await _play(
            now, VERIFIED, [StartRequested(), ConsentGiven(), TextSent(number), NumberConfirmed()]
        )
        store.otps.append(sms[-1].otp)
        await _play(now, VERIFIED, [TextSent(sms[-1].otp)])
        await _play(now, STARTED, [StartRequested(), ConsentGiven()])
        old = _runner(database, sms, lambda: datetime.now(UTC) - timedelta(days=2))
        await _play(old, OLD, [StartRequested()])
    finally:
        await database.dispose()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    filled = Store(tmp_path_factory.mktemp("logs") / "kyc.sqlite3", [], [])
    asyncio.run(_fill(filled))
    return filled


def _environ(store: Store) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("KYCBOT_")}
    return environ | KEYS | {"KYCBOT_DATABASE__URL": store.url}


def _assert_private(store: Store, *outputs: str) -> None:
    for output in outputs:
        for number in store.numbers:
            assert number not in output
            assert spaced(number) not in output
        for otp in store.otps:
            assert otp not in output


def kycbot(store: Store, *args: str) -> subprocess.CompletedProcess[str]:
    completed = subprocess.run(
        [sys.executable, "-m", "bot.cli", "logs", *args],
        cwd=ROOT,
        env=_environ(store),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    _assert_private(store, completed.stdout, completed.stderr)
    return completed


def records(store: Store, *args: str) -> list[dict[str, Any]]:
    completed = kycbot(store, "--json", *args)
    assert completed.returncode == 0, completed.stderr
    return [json.loads(line) for line in completed.stdout.splitlines()]


def test_text_lines_show_the_event_in_the_configured_zone(store: Store) -> None:
    completed = kycbot(store, "--user", "telegram:1001")
    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    assert len(lines) == 7  # /start, consent, number, confirm + answer, OTP + answer
    assert all(" IST  telegram:1001  v" in line for line in lines)
    assert "idle -> await_consent" in lines[0]
    assert lines[-1].split("  ")[-3:-1] == ["verified", "simulator"]
    assert lines[-1].endswith(" ms")


def test_json_lines_carry_every_field_with_utc_times(store: Store) -> None:
    everything = records(store)
    assert {record["user"] for record in everything} == {
        "telegram:1001",
        "telegram:1002",
        "chat:old",
    }
    for record in everything:
        assert set(record) == {
            "id",
            "time",
            "user",
            "verification_id",
            "from_state",
            "to_state",
            "event",
            "outcome",
            "provider",
            "latency_ms",
        }
        assert datetime.fromisoformat(record["time"]).utcoffset() == timedelta(0)
    ids = [record["id"] for record in everything]
    assert ids == sorted(ids)


def test_filters_combine(store: Store) -> None:
    verified = records(store, "--user", "1001")
    verification = verified[-1]["verification_id"]
    assert {r["verification_id"] for r in records(store, "--verification", str(verification))} == {
        verification
    }
    answered = records(store, "--provider", "simulator")
    assert answered
    assert {(r["user"], r["provider"]) for r in answered} == {("telegram:1001", "simulator")}
    outcome = verified[0]["outcome"]
    both = records(store, "--outcome", outcome, "--user", "telegram:1002")
    assert both
    assert {(r["user"], r["outcome"]) for r in both} == {("telegram:1002", outcome)}
    assert records(store, "--user", "telegram:1001", "--provider", "nobody") == []


def test_since_limits_by_age(store: Store) -> None:
    assert "chat:old" not in {r["user"] for r in records(store, "--since", "24h")}
    assert "chat:old" in {r["user"] for r in records(store, "--since", "7d")}


def test_a_bad_since_names_the_forms(store: Store) -> None:
    completed = kycbot(store, "--since", "yesterday")
    assert completed.returncode == 2
    assert completed.stdout == ""
    assert completed.stderr.strip() == "bad --since 'yesterday': use 30m, 24h or 7d"


def test_a_reader_that_stops_early_ends_the_command_quietly(store: Store) -> None:
    # `kycbot logs | head`: the reader is gone before the first line. Closing our end before
    # the command has even started makes its first write fail every time.
    command = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "logs", "--since", "7d"],
        cwd=ROOT,
        env=_environ(store),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert command.stdout is not None
    assert command.stderr is not None
    command.stdout.close()
    with command.stderr:
        errors = command.stderr.read()
    assert command.wait(timeout=30) == 0
    assert errors == ""


def test_nothing_found_is_said_outside_the_json_lines(store: Store) -> None:
    text = kycbot(store, "--user", "telegram:0")
    assert (text.returncode, text.stdout) == (0, "no flow events\n")
    as_json = kycbot(store, "--json", "--user", "telegram:0")
    assert (as_json.returncode, as_json.stdout, as_json.stderr) == (0, "", "no flow events\n")


@contextlib.asynccontextmanager
async def following(store: Store, *args: str) -> AsyncIterator[asyncio.StreamReader]:
    """`kycbot logs --follow --json *args`, ready; stopped by SIGTERM, and checked, afterwards."""
    follower = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "bot.cli", "logs", "--follow", "--json", "--interval", "0.1", *args),
        cwd=ROOT,
        env=_environ(store),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert follower.stdout is not None
    assert follower.stderr is not None
    try:
        ready = await asyncio.wait_for(follower.stderr.readline(), timeout=20)
        assert ready.startswith(b"following flow events")
        yield follower.stdout
    finally:
        if follower.returncode is None:
            follower.send_signal(signal.SIGTERM)
        stdout, stderr = await asyncio.wait_for(follower.communicate(), timeout=10)
    assert follower.returncode == 0
    assert stdout == b""
    assert b"Traceback" not in stderr
    _assert_private(store, stdout.decode(), stderr.decode())


async def _play_now(store: Store, user: UserKey, events: list[Event]) -> None:
    database = Database(store.url)
    try:
        await _play(_runner(database, [], lambda: datetime.now(UTC)), user, events)
    finally:
        await database.dispose()


async def _next_record(lines: asyncio.StreamReader) -> dict[str, Any]:
    record: dict[str, Any] = json.loads(await asyncio.wait_for(lines.readline(), timeout=5))
    return record


async def test_follow_prints_new_events_and_stops_on_sigterm(store: Store) -> None:
    user = f"{FOLLOWED.channel}:{FOLLOWED.external_id}"
    async with following(store, "--user", user) as lines:
        await _play_now(store, FOLLOWED, [StartRequested()])
        record = await _next_record(lines)
        assert (record["user"], record["from_state"]) == ("telegram:1003", "idle")


async def test_follow_goes_on_after_the_newest_events_were_erased(store: Store) -> None:
    # The erased user's events are the newest ones; the next user's events come after them
    # even so (on SQLite only AUTOINCREMENT keeps their ids from being handed out again, below
    # the follower's cursor).
    async with following(store) as lines:
        await _play_now(store, ERASED, [StartRequested(), ConsentGiven()])
        # The follower starts with the latest events already stored: read on to the new ones.
        while (await _next_record(lines))["user"] != "telegram:1004":
            pass
        assert (await _next_record(lines))["user"] == "telegram:1004"
        erase = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "bot.cli", "erase", "telegram:1004", "--yes"),
            cwd=ROOT,
            env=_environ(store),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        said, _ = await asyncio.wait_for(erase.communicate(), timeout=30)
        assert erase.returncode == 0, said.decode()
        await _play_now(store, AFTER_ERASED, [StartRequested(), ConsentGiven()])
        after = [await _next_record(lines) for _ in range(2)]
        assert [record["user"] for record in after] == ["telegram:1005"] * 2
