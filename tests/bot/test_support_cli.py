"""`kycbot timeline` and `kycbot stats` through the real CLI, over flows run by the real Runner."""

from __future__ import annotations

import asyncio
import base64
import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.config import load_settings
from bot.runner import Runner
from bot.support_cli import parse_target, percentile
from flows import (
    ConsentGiven,
    Event,
    NumberConfirmed,
    ProviderFailure,
    StartRequested,
    TextSent,
)
from flows.table import TABLE
from kyc import SIMULATOR_NUMBERS, SimulatedSms, SimulatorProvider
from storage import Database, NumberVault, UserKey
from storage.funnel import FAILURE_OUTCOMES, FUNNEL_STEPS, PROVIDER_ERRORS
from storage.migrate import upgrade
from tests.fakes.channel import RecordingChannel
from tests.scenario_tools import another_otp, masked, spaced, synthetic_number

ROOT = Path(__file__).resolve().parents[2]
KEYS = {
    "KYCBOT_SECURITY__HMAC_KEY": "h" * 40,
    "KYCBOT_SECURITY__ENCRYPTION_KEY": base64.b64encode(b"k" * 32).decode(),
}
VERIFIED = ("2001", "2002")
WRONG_OTP = "2003"
ABANDONED = "2004"
PROVIDER_DOWN = "2005"
# Two days ago: outside the default `--since 24h`, inside `--since 7d`.
OLD = "2009"


@dataclass
class Store:
    """The SQLite files (one filled, one empty) and every secret a flow used."""

    path: Path
    empty: Path
    numbers: list[str]
    otps: list[str]


def _url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


def _runner(database: Database, sms: list[SimulatedSms], clock: Callable[[], datetime]) -> Runner:
    settings = load_settings(None, KEYS)
    vault = NumberVault(
        encryption_key=settings.security.encryption_key_bytes(),
        hmac_key=settings.security.hmac_key_bytes(),
    )
    provider = SimulatorProvider(on_sms=sms.append, clock=clock)
    return Runner(settings=settings, database=database, provider=provider, vault=vault, clock=clock)


async def _play(runner: Runner, external_id: str, events: list[Event]) -> None:
    channel = RecordingChannel()
    for event in events:
        await runner.handle(UserKey("telegram", external_id), event, channel)


async def _up_to_otp(runner: Runner, external_id: str, store: Store) -> None:
    number = synthetic_number()
    store.numbers.append(number)
    await _play(
        runner, external_id, [StartRequested(), ConsentGiven(), TextSent(number), NumberConfirmed()]
    )


async def _fill(store: Store) -> None:
    database = Database(_url(store.path))
    empty = Database(_url(store.empty))
    try:
        await upgrade(empty)
        await upgrade(database)
        sms: list[SimulatedSms] = []
        now = _runner(database, sms, lambda: datetime.now(UTC))
        for external_id in VERIFIED:
            await _up_to_otp(now, external_id, store)
            store.otps.append(sms[-1].otp)
            await _play(now, external_id, [TextSent(sms[-1].otp)])
        await _up_to_otp(now, WRONG_OTP, store)
        store.otps.append(sms[-1].otp)
        wrong = another_otp(sms[-1].otp)
        await _play(now, WRONG_OTP, [TextSent(wrong), TextSent(wrong)])
        await _play(now, ABANDONED, [StartRequested(), ConsentGiven()])
        down = SIMULATOR_NUMBERS[ProviderFailure.PROVIDER_DOWN]
        await _play(
            now,
            PROVIDER_DOWN,
            [StartRequested(), ConsentGiven(), TextSent(down), NumberConfirmed()],
        )
        store.numbers.append(down)
        old = _runner(database, sms, lambda: datetime.now(UTC) - timedelta(days=2))
        await _up_to_otp(old, OLD, store)
        store.otps.append(sms[-1].otp)
        await _play(old, OLD, [TextSent(sms[-1].otp)])
    finally:
        await database.dispose()
        await empty.dispose()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    folder = tmp_path_factory.mktemp("support")
    filled = Store(folder / "kyc.sqlite3", folder / "empty.sqlite3", [], [])
    asyncio.run(_fill(filled))
    return filled


def kycbot(
    store: Store, *args: str, database: Path | None = None
) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("KYCBOT_")}
    environ |= KEYS | {"KYCBOT_DATABASE__URL": _url(database or store.path)}
    completed = subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    for output in (completed.stdout, completed.stderr):
        for number in store.numbers:
            assert number not in output
            assert spaced(number) not in output
        for otp in store.otps:
            assert re.search(rf"(?<!\d){otp}(?!\d)", output) is None
    return completed


def _row(lines: list[str], title: str) -> list[str]:
    """The words of the first line starting with `title` (after its indentation)."""
    return next(line.split() for line in lines if line.strip().startswith(title))


def test_stats_counts_the_funnel_failures_and_provider_calls(store: Store) -> None:
    completed = kycbot(store, "stats")
    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    assert lines[0].startswith("verifications since ")
    # started, consented, number accepted, OTP sent, verified; OLD is two days ago.
    assert _row(lines, "started")[1:3] == ["5", "100%"]
    assert _row(lines, "consented")[1:3] == ["5", "100%"]
    assert _row(lines, "number accepted")[2:] == ["4", "80%", "█" * 24, "-1", "(20%)"]
    assert _row(lines, "OTP sent")[2:] == ["3", "60%", "█" * 18, "-1", "(25%)"]
    assert _row(lines, "verified")[1:] == ["2", "40%", "█" * 12, "-1", "(33%)"]
    assert _row(lines, "wrong_otp")[:2] == ["wrong_otp", "2"]
    assert _row(lines, "provider_down")[:2] == ["provider_down", "1"]
    # Two calls per verified user, three for the wrong OTPs, one that failed: 1 error in 8.
    assert _row(lines, "simulator")[1] == "8"
    assert _row(lines, "simulator")[-1] == "12%"


def test_stats_since_reaches_back(store: Store) -> None:
    completed = kycbot(store, "stats", "--since", "7d")
    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    assert _row(lines, "started")[1] == "6"
    assert _row(lines, "verified")[1] == "3"


def test_stats_over_nothing_says_so(store: Store) -> None:
    completed = kycbot(store, "stats", "--since", "30m", database=store.empty)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.startswith("no verifications since ")
    assert len(completed.stdout.splitlines()) == 1


def test_a_bad_since_names_the_forms(store: Store) -> None:
    completed = kycbot(store, "stats", "--since", "3w")
    assert completed.returncode == 2
    assert completed.stdout == ""
    assert completed.stderr.strip() == "bad --since '3w': use 30m, 24h or 7d"


def test_timeline_shows_everything_in_order(store: Store) -> None:
    completed = kycbot(store, "timeline", VERIFIED[0])
    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    assert lines[0].startswith(f"user telegram:{VERIFIED[0]}  language en")
    assert "OTP requests in 24 h 1" in lines[1]
    # A finished verification forgets even the masked number: the result keeps it.
    assert lines[3].endswith(" verified  aadhaar_otp via simulator  number -")
    assert any(" agreed  notice " in line for line in lines)
    assert any(line.endswith(f"number {masked(store.numbers[0])}") for line in lines)
    events = lines[lines.index("events (7)") + 1 :]
    outcomes = [line.split("  ")[5] for line in events]
    assert outcomes == [
        "started",
        "consent_given",
        "number_accepted",
        "otp_requested",
        "otp_sent",
        "otp_entered",
        "verified",
    ]
    assert "idle -> await_consent" in events[0]
    assert events[-1].endswith(" ms")
    assert all(" IST " in line for line in events)


def test_timeline_by_verification_names_its_person_and_live_deadline(store: Store) -> None:
    by_user = kycbot(store, "timeline", WRONG_OTP)
    assert by_user.returncode == 0, by_user.stderr
    lines = by_user.stdout.splitlines()
    verification = lines[lines.index("verifications (1)") + 1].split()[0]
    for spelling in (verification, f"verification:{verification[1:]}"):
        completed = kycbot(store, "timeline", spelling)
        assert completed.returncode == 0, completed.stderr
        assert completed.stdout == by_user.stdout
    assert _row(lines, verification)[1] == "await_otp"
    assert "(otp)" in _row(lines, "due")
    assert "attempts left 1" in " ".join(_row(lines, "due"))
    assert [line.split("  ")[5] for line in lines if "wrong_otp" in line] == ["wrong_otp"] * 2


def test_unknown_targets_are_one_line_and_exit_1(store: Store) -> None:
    for target, message in (
        (["timeline", "424242"], "no user '424242' on telegram"),
        (["timeline", VERIFIED[0], "--channel", "chat"], f"no user '{VERIFIED[0]}' on chat"),
        (["timeline", "v999999"], "no verification 999999"),
    ):
        completed = kycbot(store, *target)
        assert (completed.returncode, completed.stdout) == (1, "")
        assert completed.stderr == message + "\n"


def test_parse_target_and_percentile() -> None:
    assert parse_target("v12") == 12
    assert parse_target("verification:7") == 7
    assert parse_target("12345") is None
    assert parse_target("vx") is None
    assert percentile([10, 20, 30, 40], 0.5) == 20
    assert percentile(list(range(1, 101)), 0.95) == 95
    assert percentile([5], 0.95) == 5


def test_every_outcome_counted_is_one_the_table_records() -> None:
    recorded = {transition.outcome for transition in TABLE}
    assert {outcome for _, outcome in FUNNEL_STEPS} <= recorded
    assert recorded >= FAILURE_OUTCOMES >= PROVIDER_ERRORS
