"""Scale benchmark (issue 6): backends, replicas, user counts and provider latency, in one run.

    python -m bench.scale_bench                   # the whole matrix (long: 10,000-user rows)
    python -m bench.scale_bench --quick           # 200 / 1,000 users, fewer rows: ~3 minutes
    python -m bench.scale_bench --only 'postgresql-*-1000u-0ms' sqlite-1x-1000u-500ms
    python -m bench.scale_bench --quick --rate 100  # every row paced at 100 updates/s

Each configuration (`<backend>-<replicas>x-<users>u-<latency>ms`: SQLite with one replica,
PostgreSQL with one or two; the simulator provider's latency 0 or 500 ms) gets a fresh
database and fresh `kycbot run` replicas in webhook mode (PTB's overall rate limiter off, as
in bench/telegram_bench.py), behind bench/webhook_api.py's fake Bot API, which plays the load
balancer. `--concurrency` users at a time go through the whole verification (/start, I agree,
the number, Send OTP, the OTP: 5 updates) until all have, after a short unmeasured warm-up.
With `--rate`, updates are offered at that fixed rate instead (telegram_bench's Pacer: a new
user starts whenever none is ready). The replica target is judged that way: after the matrix,
each PostgreSQL one/two-replica pair of the fewest users runs again paced at `--replica-rate`
(default 100 updates/s), so both do the same work per second and the CPU per update compares
the bot's cost, not the cost of a machine oversubscribed by two replicas, PostgreSQL and the
load generator together.
The bare echo bot (bench/echo_bot.py, polling) runs the same number of users x 5 texts, once
per user count, for the CPU ratio. Bot CPU is summed over the replicas, peak RSS is each
replica's VmHWM; a single 2-core machine bounds total throughput, hence the CPU-cores column.
PostgreSQL databases are created on `KYCBOT_BENCH_POSTGRES_URL` (default
postgresql+asyncpg://postgres@127.0.0.1:5432/test) and dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import fnmatch
import itertools
import os
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

from stdnum import verhoeff

from bench.lock_waits import LockWaits, sampling
from bench.replicas import database, postgres_server_url, replicas, server_problem
from bench.scale_report import Config, Outcome, replica_verdict, table, users_verdict
from bench.telegram_bench import (
    UPDATES_PER_FLOW,
    BotProcess,
    EchoUsers,
    KycUsers,
    LeanBotApi,
    Pacer,
    Round,
    Sink,
    SmsInbox,
    Users,
    Work,
    bot_environment,
    measure,
    user_id_base,
)
from bench.webhook_api import WebhookBotApi

FULL_USERS = (1_000, 10_000)
QUICK_USERS = (200, 1_000)
LATENCIES_MS = (0, 500)
QUICK_ONLY = ("postgresql-*-0ms", "sqlite-1x-200u-*", "postgresql-1x-200u-500ms")
WARMUP_USERS = 5
DEFAULT_CONCURRENCY = 20  # below saturation, so latency is mostly handling, not queueing
DEFAULT_REPLICA_RATE = 100.0  # updates/s: one replica at about 0.65-0.75 of a core on PostgreSQL
MAX_CONNECTIONS = 64  # the fake Bot API's webhook connections, over all replicas
RECENT_LAST4 = 5_000  # far more than users in flight: the SMS inbox tells them apart by last 4


def matrix(user_counts: tuple[int, ...]) -> list[Config]:
    """Every configuration: SQLite is one process; PostgreSQL one or two replicas."""
    shapes = [("sqlite", 1), ("postgresql", 1), ("postgresql", 2)]
    return [
        Config(backend, count, users, latency)
        for users in user_counts
        for latency in LATENCIES_MS
        for backend, count in shapes
    ]


def numbers() -> Iterator[str]:
    """Checksum-valid synthetic Aadhaar numbers, never repeated, no last 4 digits in use twice.

    Unlike telegram_bench's (at most 10,000), this runs on: a last-4 comes back once the
    RECENT_LAST4 numbers after it were handed out, long after its user finished.
    """
    recent: collections.deque[str] = collections.deque()
    for k in itertools.count():
        prefix = f"{2 + k % 7}{k:010d}"
        number = prefix + str(verhoeff.calc_check_digit(prefix))
        if number[-4:] in recent:
            continue
        recent.append(number[-4:])
        if len(recent) > RECENT_LAST4:
            recent.popleft()
        yield number


async def _go() -> None:
    """Every user's turn comes at once: the pool, not a pacer, bounds the load."""


def pool(users: Users, count: int, concurrency: int) -> Work:
    """`count` users through the whole flow, `concurrency` at a time."""

    async def work(sink: Sink) -> None:
        todo = iter(range(count))

        async def worker() -> None:
            for _ in todo:
                await users.whole(_go, sink)

        await asyncio.gather(*(worker() for _ in range(min(concurrency, count))))

    return work


@dataclass(frozen=True)
class Load:
    """How users arrive: a pool of `concurrency` at a time, or paced at `rate` updates/s."""

    concurrency: int
    rate: float | None = None

    def work(self, users: Users, count: int) -> Work:
        """`count` users through the whole flow under this load."""
        if self.rate is None:
            return pool(users, count, self.concurrency)
        return Pacer(users, self.rate, count * UPDATES_PER_FLOW)

    def describe(self) -> str:
        """One line for the report."""
        if self.rate is None:
            return f"{self.concurrency} users at a time"
        return f"paced at {self.rate:g} updates/s offered"


async def run_config(config: Config, echo: Round, load: Load, folder: Path) -> Outcome:
    """Fresh database and replicas; a warm-up, then `config.users` measured verifications."""
    fake = WebhookBotApi([], max_connections=MAX_CONNECTIONS)
    async with database(config.backend, folder) as url, fake:
        sms = SmsInbox()
        async with replicas(fake, config.replicas, url, config.latency_ms, folder, sms) as bots:
            users = KycUsers(fake, sms, user_id_base(), numbers())
            await measure(bots, pool(users, WARMUP_USERS, WARMUP_USERS))
            async with _lock_waits(config, url) as waits:
                measured = await measure(bots, load.work(users, config.users))
            peaks = [memory.peak for memory in bots.memory()]
        if fake.errors:
            print(f"  fake Bot API errors: {fake.errors[:3]}", file=sys.stderr)
    verifications = measured.updates // UPDATES_PER_FLOW
    return Outcome(config, measured, verifications, peaks, echo, waits)


@contextlib.asynccontextmanager
async def _lock_waits(config: Config, url: str) -> AsyncIterator[LockWaits | None]:
    """Lock waits sampled on PostgreSQL; SQLite has no pg_locks (and one writer anyway)."""
    if config.backend != "postgresql":
        yield None
        return
    async with sampling(url) as waits:
        yield waits


async def run_echo(count: int, load: Load, folder: Path) -> Round:
    """The bare echo bot: `count` users x 5 texts, under the same load."""
    async with LeanBotApi() as fake:
        env = bot_environment(fake, "sqlite+aiosqlite://")  # the echo bot has no database
        argv = [sys.executable, "-m", "bench.echo_bot"]
        bot = await BotProcess.start(f"echo-{count}", argv, env, folder, None)
        try:
            async with asyncio.timeout(60):
                await fake.polled()
            users = EchoUsers(fake, user_id_base())
            await measure(bot, pool(users, WARMUP_USERS, WARMUP_USERS))
            return await measure(bot, load.work(users, count))
        finally:
            await bot.stop()


def _progress(name: str, measured: Round) -> None:
    print(
        f"  {name}: {measured.updates} updates in {measured.wall_s:.1f} s, "
        f"CPU {measured.cpu_ms:.2f} ms/update ({measured.cores:.2f} cores; this process "
        f"{measured.bench_cpu_s / measured.wall_s:.2f}), p95 {measured.latency_ms(0.95):.1f} ms",
        file=sys.stderr,
        flush=True,
    )


async def run(configs: list[Config], load: Load, folder: Path) -> list[Outcome]:
    """The echo bot once per user count, each just before its configurations."""
    outcomes: list[Outcome] = []
    echoes: dict[int, Round] = {}
    for config in configs:
        if config.users not in echoes:
            echoes[config.users] = await run_echo(config.users, load, folder)
            _progress(f"echo bot, {config.users}u", echoes[config.users])
        outcome = await run_config(config, echoes[config.users], load, folder)
        _progress(config.name, outcome.measured)
        if outcome.lock_waits is not None:
            print(f"    {outcome.lock_waits.describe()}", file=sys.stderr, flush=True)
        outcomes.append(outcome)
    return outcomes


def replica_pairs(configs: list[Config]) -> list[Config]:
    """The PostgreSQL one- and two-replica configurations selected, at the fewest users."""
    postgres = [c for c in configs if c.backend == "postgresql"]
    if not postgres:
        return []
    fewest = min(c.users for c in postgres)
    chosen = [c for c in postgres if c.users == fewest]
    latencies = {c.latency_ms for c in chosen if c.replicas == 1} & {
        c.latency_ms for c in chosen if c.replicas == 2
    }
    return [c for c in chosen if c.latency_ms in latencies]


def _selected(parser: argparse.ArgumentParser, args: argparse.Namespace) -> list[Config]:
    configs = matrix(QUICK_USERS if args.quick else FULL_USERS)
    patterns = args.only or (QUICK_ONLY if args.quick else ["*"])
    for pattern in patterns:
        if not any(fnmatch.fnmatchcase(c.name, pattern) for c in configs):
            names = ", ".join(c.name for c in configs[:3])
            parser.error(f"--only {pattern!r} matches no configuration (names like {names})")
    return [c for c in configs if any(fnmatch.fnmatchcase(c.name, p) for p in patterns)]


def main() -> None:
    """Parse the options, run the configurations, print the table and the verdicts."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="200 / 1,000 users, fewer rows")
    parser.add_argument("--only", nargs="+", metavar="PATTERN", help="configurations (globs)")
    parser.add_argument(
        "--concurrency", type=int, default=DEFAULT_CONCURRENCY, help="users in flight at once"
    )
    parser.add_argument(
        "--rate", type=float, metavar="UPDATES_PER_S", help="pace every row instead of a pool"
    )
    parser.add_argument(
        "--replica-rate",
        type=float,
        default=DEFAULT_REPLICA_RATE,
        metavar="UPDATES_PER_S",
        help=f"the paced replica pairs' rate; 0 skips them (default {DEFAULT_REPLICA_RATE:g})",
    )
    args = parser.parse_args()
    if args.concurrency < 1:
        parser.error("--concurrency must be at least 1")
    if args.rate is not None and args.rate <= 0:
        parser.error("--rate must be above 0")
    if args.replica_rate < 0:
        parser.error("--replica-rate must be 0 or more")
    load = Load(args.concurrency, args.rate)
    configs = _selected(parser, args)
    if any(c.backend == "postgresql" for c in configs) and (problem := server_problem()):
        parser.exit(2, f"{parser.prog}: {problem}\n")
    started = time.perf_counter()
    pairs = [] if load.rate is not None or not args.replica_rate else replica_pairs(configs)
    paced_load = Load(args.concurrency, args.replica_rate)
    with tempfile.TemporaryDirectory(prefix="kycbot-scale-") as folder:
        outcomes = asyncio.run(run(configs, load, Path(folder)))
        paced = asyncio.run(run(pairs, paced_load, Path(folder))) if pairs else []
    server = postgres_server_url().split("@")[-1]  # no password in the output
    print(
        f"{load.describe()}, each user through the whole verification (5 updates); "
        f"webhook replicas, rate limiter off; PostgreSQL at {server}"
    )
    lines = table(outcomes)
    if paced:
        lines += ["", f"The replica pairs again, {paced_load.describe()}:", *table(paced)]
    verdicts = replica_verdict(paced, outcomes) if paced else replica_verdict(outcomes, [])
    print("\n".join([*lines, "", *verdicts, *users_verdict(outcomes)]))
    print(f"took {time.perf_counter() - started:.0f} s; machine: {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
