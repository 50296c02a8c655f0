"""Benchmark of the conversation core: `decide` alone, and the runner over a real database.

    python -m bench.flow_bench [--users 300] [--concurrency 16] [--database-url URL]

Each simulated user runs a whole verification through the runner (5 updates: /start, I agree,
the number, Send OTP, the OTP; 7 stored steps with the provider answers) against the simulator
with no latency. In the same run, interleaved, the storage floor is measured: the same number of
load-and-save transactions with a trivial decision, so the ratio says what the runner adds over
the database round trips it cannot avoid. Figures vary about 2x between runs on a noisy
2-core machine: compare ratios from one run, not absolute numbers across runs.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import resource
import secrets
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Connection
from stdnum import verhoeff

from bot.config import load_settings
from bot.render import Message
from bot.runner import Runner
from flows import (
    ConsentGiven,
    Event,
    HelpRequested,
    KycData,
    KycVerified,
    NumberConfirmed,
    OtpSent,
    Rules,
    Session,
    StartRequested,
    TextSent,
    decide,
)
from kyc import SimulatedSms, SimulatorProvider
from storage import Database, NumberVault, StepRecord, UserKey, load_conversation, save_decision
from storage.migrate import upgrade

UPDATES_PER_VERIFICATION = 5


class NullChannel:
    """Discards replies; only the runner's own work is measured."""

    async def send(self, message: Message) -> None:
        """Drop the message."""

    async def delete_user_message(self) -> None:
        """Nothing to delete."""

    async def show_progress(self) -> None:
        """Nothing to show."""


@dataclass(frozen=True)
class Figures:
    """Latencies of one kind of operation, in milliseconds, and the CPU it took."""

    name: str
    latencies_ms: list[float]
    wall_s: float
    cpu_s: float

    def row(self) -> str:
        """One table row."""
        ordered = sorted(self.latencies_ms)
        p95 = ordered[int(0.95 * (len(ordered) - 1))]
        p99 = ordered[int(0.99 * (len(ordered) - 1))]
        per_second = len(ordered) / self.wall_s
        cpu_ms = 1000 * self.cpu_s / len(ordered)
        return (
            f"| {self.name:<34} | {len(ordered):>6} | {per_second:>8.0f} | "
            f"{statistics.median(ordered):>6.2f} | {p95:>6.2f} | {p99:>6.2f} | {cpu_ms:>6.2f} |"
        )


def synthetic_number(index: int) -> str:
    """A checksum-valid synthetic Aadhaar number for user `index`."""
    prefix = f"{2 + index % 8}{index:010d}"
    return prefix + str(verhoeff.calc_check_digit(prefix))


def bench_decide(rounds: int) -> Figures:
    """`decide` over a whole happy path, without any I/O."""
    rules, now = Rules(), datetime(2026, 1, 1, tzinfo=UTC)
    script: list[Event] = [
        StartRequested(),
        ConsentGiven(),
        TextSent(synthetic_number(7)),
        NumberConfirmed(),
        OtpSent("ref"),
        TextSent("123456"),
        KycVerified(KycData(name="Asha Verma", year_of_birth=1990, state="Goa")),
    ]
    latencies: list[float] = []
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(rounds):
        session = Session()
        for event in script:
            started = time.perf_counter()
            session = decide(session, event, now, rules).session
            latencies.append((time.perf_counter() - started) * 1000)
    return Figures(
        "decide() per event", latencies, time.perf_counter() - wall, time.process_time() - cpu
    )


async def timed(
    calls: list[Callable[[], Awaitable[None]]], concurrency: int
) -> tuple[list[float], float, float]:
    """Run `calls` with at most `concurrency` at once; per-call latency, wall and CPU time."""
    latencies: list[float] = []
    queue = list(reversed(calls))

    async def worker() -> None:
        while queue:
            call = queue.pop()
            started = time.perf_counter()
            await call()
            latencies.append((time.perf_counter() - started) * 1000)

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, time.perf_counter() - wall, time.process_time() - cpu


async def bench_runner(url: str, users: int, concurrency: int) -> list[Figures]:
    """Whole verifications through the runner, and the storage floor beside them."""
    environ = {
        "KYCBOT_SECURITY__HMAC_KEY": "b" * 40,
        "KYCBOT_SECURITY__ENCRYPTION_KEY": base64.b64encode(os.urandom(32)).decode(),
        "KYCBOT_DATABASE__URL": url,
    }
    settings = load_settings(None, environ)
    database = Database(url)
    await upgrade(database)
    sms: dict[str, str] = {}
    provider = SimulatorProvider(on_sms=lambda message: _remember(sms, message))
    vault = NumberVault(
        encryption_key=settings.security.encryption_key_bytes(),
        hmac_key=settings.security.hmac_key_bytes(),
    )
    runner = Runner(settings=settings, database=database, provider=provider, vault=vault)
    channel = NullChannel()
    run = secrets.token_hex(4)  # users of an earlier run in the same database stay apart

    async def verify(index: int) -> None:
        user = UserKey("bench", f"{run}-{index}")
        number = synthetic_number(index)
        for event in (StartRequested(), ConsentGiven(), TextSent(number), NumberConfirmed()):
            await runner.handle(user, event, channel)
        await runner.handle(user, TextSent(sms[number[-4:]]), channel)

    async def floor(index: int) -> None:
        user = UserKey("floor", f"{run}-{index}")
        for _ in range(UPDATES_PER_VERIFICATION):
            now = datetime.now(UTC)

            def help_step(connection: Connection, now: datetime = now) -> None:
                loaded = load_conversation(
                    connection, key=user, language="en", now=now, vault=vault
                )
                decision = decide(loaded.session, HelpRequested(), now, settings.rules())
                save_decision(
                    connection,
                    loaded=loaded,
                    decision=decision,
                    step=StepRecord(event="HelpRequested"),
                    provider="bench",
                    now=now,
                    vault=vault,
                )

            await database.run(help_step)

    def bound(
        function: Callable[[int], Awaitable[None]], index: int
    ) -> Callable[[], Awaitable[None]]:
        return lambda: function(index)

    runs: dict[str, list[tuple[list[float], float, float]]] = {"verify": [], "floor": []}
    # Interleaved halves, so both kinds see the same machine noise.
    for half in (0, 1):
        indices = range(half * users // 2, (half + 1) * users // 2)
        runs["verify"].append(await timed([bound(verify, i) for i in indices], concurrency))
        runs["floor"].append(await timed([bound(floor, i) for i in indices], concurrency))
    await database.dispose()
    verify_figures = _merge("runner: one whole verification", runs["verify"])
    floor_figures = _merge("storage floor: 5 load+save", runs["floor"])
    return [verify_figures, floor_figures]


def _remember(sms: dict[str, str], message: SimulatedSms) -> None:
    sms[message.masked_aadhaar[-4:]] = message.otp


def _merge(name: str, parts: list[tuple[list[float], float, float]]) -> Figures:
    return Figures(
        name,
        [latency for latencies, _, _ in parts for latency in latencies],
        sum(wall for _, wall, _ in parts),
        sum(cpu for _, _, cpu in parts),
    )


def main() -> None:
    """Run every measurement and print one table."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--database-url", help="default: a fresh SQLite file in a temporary folder")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        url = args.database_url or f"sqlite+aiosqlite:///{Path(folder) / 'bench.sqlite3'}"
        figures = [
            bench_decide(2000),
            *asyncio.run(bench_runner(url, args.users, args.concurrency)),
        ]
    backend = url.split(":", 1)[0]
    print(f"backend {backend}, {args.users} users, {args.concurrency} at once, no provider latency")
    print(f"| {'operation':<34} |  count |      /s | p50 ms | p95 ms | p99 ms | CPU ms |")
    print(
        "|------------------------------------|-------:|--------:|-------:|-------:|-------:|-------:|"
    )
    for figure in figures:
        print(figure.row())
    runner, floor = figures[1], figures[2]
    ratio = (runner.cpu_s / len(runner.latencies_ms)) / (floor.cpu_s / len(floor.latencies_ms))
    print(f"runner CPU per verification / storage floor CPU for as many updates: {ratio:.2f}x")
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS: {peak_mib:.0f} MiB")


if __name__ == "__main__":
    main()
