"""Retention: `kycbot purge` through the real CLI, and the bot's automatic schedule.

The data is made by the real Runner (simulator provider) with clocks set in the past, on an
SQLite file, and on a PostgreSQL database of its own when KYCBOT_TEST_POSTGRES_URL is set.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.config import load_settings
from bot.config_retention import RetentionSettings
from bot.retention_schedule import RetentionSchedule
from bot.runner import Runner
from flows import ConsentGiven, Event, NumberConfirmed, StartRequested, TextSent
from kyc import SimulatedSms, SimulatorProvider
from storage import Database, NumberVault, UserKey
from storage.migrate import upgrade
from storage.models import Consent, FlowEvent, KycResult, User, Verification
from tests.fakes.channel import RecordingChannel
from tests.postgres_databases import POSTGRES_URL, throwaway_database
from tests.scenario_tools import synthetic_number

ROOT = Path(__file__).resolve().parents[2]
KEYS = {
    "KYCBOT_SECURITY__HMAC_KEY": "h" * 40,
    "KYCBOT_SECURITY__ENCRYPTION_KEY": base64.b64encode(b"k" * 32).decode(),
}
OLD_VERIFIED = UserKey("telegram", "3001")
OLD_RUNNING = UserKey("telegram", "3002")
NEW_VERIFIED = UserKey("telegram", "3003")
OLD = (OLD_VERIFIED, OLD_RUNNING)
AGE = timedelta(days=100)


def _runner(database: Database, clock: Callable[[], datetime]) -> tuple[Runner, list[SimulatedSms]]:
    settings = load_settings(None, KEYS)
    vault = NumberVault(
        encryption_key=settings.security.encryption_key_bytes(),
        hmac_key=settings.security.hmac_key_bytes(),
    )
    sms: list[SimulatedSms] = []
    provider = SimulatorProvider(on_sms=sms.append, clock=clock)
    runner = Runner(
        settings=settings, database=database, provider=provider, vault=vault, clock=clock
    )
    return runner, sms


async def _play(runner: Runner, user: UserKey, events: list[Event]) -> None:
    channel = RecordingChannel()
    for event in events:
        await runner.handle(user, event, channel)


async def _verify(runner: Runner, sms: list[SimulatedSms], user: UserKey) -> None:
    steps: list[Event] = [StartRequested(), ConsentGiven()]
    await _play(runner, user, [*steps, TextSent(synthetic_number()), NumberConfirmed()])
    await _play(runner, user, [TextSent(sms[-1].otp)])


async def fill(database: Database, *, now: datetime) -> None:
    """Verified 100 days ago, started 100 days ago and never finished, verified today."""
    old, old_sms = _runner(database, lambda: now - AGE)
    await _verify(old, old_sms, OLD_VERIFIED)
    await _play(old, OLD_RUNNING, [StartRequested(), ConsentGiven()])
    new, new_sms = _runner(database, lambda: now)
    await _verify(new, new_sms, NEW_VERIFIED)


async def count(database: Database, model: type[object], *users: UserKey) -> int:
    """Rows of `model`, only those of `users` when given."""
    table = model.__table__  # type: ignore[attr-defined]
    query = select(func.count()).select_from(table)
    if users:
        ids = select(User.id).where(User.external_id.in_([user.external_id for user in users]))
        query = query.where((table.c.id if model is User else table.c.user_id).in_(ids))
    return await database.run(lambda connection: int(connection.execute(query).scalar_one()))


# --- the stores: an SQLite file, and PostgreSQL when given ---------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
async def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A migrated, filled, empty-of-anything-else database's URL."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path}/kyc.sqlite3"
        await _prepare(url)
        yield url
        return
    if not POSTGRES_URL:
        pytest.skip("KYCBOT_TEST_POSTGRES_URL is not set")
    # The CLI takes only a URL, so the test gets a database of its own rather than a schema.
    async with throwaway_database("kycbot_purge") as url:
        await _prepare(url)
        yield url


async def _prepare(url: str) -> None:
    database = Database(url)
    try:
        await upgrade(database)
        await fill(database, now=datetime.now(UTC))
    finally:
        await database.dispose()


async def counts_in(url: str, *users: UserKey) -> dict[str, int]:
    """Rows per table (of `users` only, when given)."""
    database = Database(url)
    try:
        return {
            "flow events": await count(database, FlowEvent, *users),
            "results": await count(database, KycResult, *users),
            "consents": await count(database, Consent, *users),
            "verifications": await count(database, Verification, *users),
            "users": await count(database, User, *users),
        }
    finally:
        await database.dispose()


def kycbot_purge(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`kycbot purge ARGS` on `url`, its stderr not a terminal."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("KYCBOT_")}
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "purge", *args],
        cwd=ROOT,
        env=environ | KEYS | {"KYCBOT_DATABASE__URL": url},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def removed(stdout: str) -> dict[str, int]:
    """The per-table counts `kycbot purge` printed."""
    rows = [line.rsplit(maxsplit=1) for line in stdout.splitlines() if line.startswith("  ")]
    return {label.strip(): int(number) for label, number in rows}


# --- kycbot purge -------------------------------------------------------------------------------


async def test_purge_removes_what_is_past_retention_and_is_safe_to_run_twice(
    store_url: str,
) -> None:
    old = await counts_in(store_url, *OLD)
    new_before = await counts_in(store_url, NEW_VERIFIED)

    dry = kycbot_purge(store_url, "--older-than", "90d", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.startswith("would remove older than ")
    assert await counts_in(store_url, *OLD) == old

    first = kycbot_purge(store_url, "--older-than", "90d")
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("removed older than ")
    expected = {
        "flow events": old["flow events"],
        "results": 1,
        "consents": 1,  # the verified one's; the running one's stays with it
        "digilocker sessions": 0,
        "verifications": 1,
        "notices": 0,
    }
    assert removed(first.stdout) == expected
    assert removed(dry.stdout) == expected
    assert first.stderr == ""  # no progress: stderr is not a terminal
    assert await counts_in(store_url, *OLD) == {
        "flow events": 0,
        "results": 0,
        "consents": 1,
        "verifications": 1,  # still in progress: never touched
        "users": 2,
    }
    assert await counts_in(store_url, NEW_VERIFIED) == new_before

    second = kycbot_purge(store_url, "--older-than", "90d")
    assert second.returncode == 0, second.stderr
    assert second.stdout.startswith("nothing to remove older than ")
    assert removed(second.stdout) == {}


async def test_purge_shows_progress_when_asked(store_url: str) -> None:
    purged = kycbot_purge(store_url, "--older-than", "1m", "--progress")

    assert purged.returncode == 0, purged.stderr
    assert purged.stderr.startswith("purging: ")
    assert (
        purged.stderr.splitlines()[-1]
        == f"purging: {sum(removed(purged.stdout).values())} rows removed so far"
    )


@pytest.mark.parametrize("value", ["90", "ninety", "0d", "-5d", "5w", "90 days", ""])
async def test_a_nonsense_older_than_is_refused_and_changes_nothing(
    store_url: str, value: str
) -> None:
    before = await counts_in(store_url)

    refused = kycbot_purge(store_url, f"--older-than={value}")

    assert refused.returncode == 2
    assert refused.stdout == ""
    assert refused.stderr.startswith("bad --older-than"), refused.stderr
    assert len(refused.stderr.splitlines()) == 1
    assert await counts_in(store_url) == before


# --- the schedule in the running bot --------------------------------------------------------------


class Clock:
    """A clock the test moves."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def test_the_schedule_purges_on_its_period_with_the_current_settings(
    database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    now = datetime.now(UTC)
    await fill(database, now=now)
    clock = Clock(now)
    settings = RetentionSettings(flow_events_days=90, results_days=90, purge_every_hours=24)
    schedule = RetentionSchedule(database=database, settings=lambda: settings, clock=clock)
    caplog.set_level(logging.INFO, logger="bot.retention_schedule")

    assert schedule.due()  # at start-up
    first = await schedule.purge_once()
    assert (first.results, first.verifications) == (1, 1)
    assert caplog.messages[-1].startswith("retention purge (events over 90 days, results over")
    assert "1 results" in caplog.messages[-1]

    clock.now += timedelta(hours=23)
    assert not schedule.due()
    clock.now += timedelta(hours=1)
    assert schedule.due()
    assert (await schedule.purge_once()).total == 0
    assert caplog.messages[-1].endswith("removed nothing")

    # A reload that shortens the periods is used at the next run; 0 hours turns it off.
    clock.now += AGE
    settings = RetentionSettings(flow_events_days=1, results_days=1, purge_every_hours=0)
    assert not schedule.due()
    settings = RetentionSettings(flow_events_days=1, results_days=1, purge_every_hours=1)
    assert schedule.due()
    task = asyncio.create_task(schedule.run())
    try:
        for _ in range(200):  # the first check runs at once; ten seconds for a slow machine
            if not await count(database, KycResult):
                break
            await asyncio.sleep(0.05)
    finally:
        schedule.stop()
        await task
    assert await count(database, KycResult) == 0
    assert await count(database, Verification) == 1  # the one in progress
