"""`kycbot run` replicas in webhook mode for the scale benchmark, and their database.

Each configuration gets a database of its own: a SQLite file in the run's folder, or a
throwaway PostgreSQL database `kycbot_bench_<random>` created on the server of
`KYCBOT_BENCH_POSTGRES_URL` and dropped afterwards. The replicas share it, migrated once by
`kycbot db upgrade` as an operator would, and print their simulated SMS to one inbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from bench.telegram_bench import LAUNCHER, BotProcess, Memory, SmsInbox, bot_environment, migrate
from bench.webhook_api import PUBLIC_WEBHOOK, WebhookBotApi

POSTGRES_URL_VARIABLE = "KYCBOT_BENCH_POSTGRES_URL"
DEFAULT_POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


def postgres_server_url() -> str:
    """The PostgreSQL server the benchmark creates its databases on."""
    return os.environ.get(POSTGRES_URL_VARIABLE) or DEFAULT_POSTGRES_URL


async def _admin(server_url: str, statement: str) -> None:
    engine = create_async_engine(server_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(text(statement))
    finally:
        await engine.dispose()


def server_problem() -> str | None:
    """Why the PostgreSQL server cannot be used (one line, no password), or None."""
    server = postgres_server_url()
    try:
        make_url(server)
        asyncio.run(_admin(server, "SELECT 1"))
    except Exception as error:  # any failure is reported the same way, as one line
        where = server.split("@")[-1]
        return f"cannot use PostgreSQL at {where} ({POSTGRES_URL_VARIABLE}): {type(error).__name__}"
    return None


@contextlib.asynccontextmanager
async def database(backend: str, folder: Path) -> AsyncIterator[str]:
    """The URL of a fresh, empty database of `backend` ("sqlite" or "postgresql")."""
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{folder / f'kyc-{secrets.token_hex(4)}.sqlite3'}"
        return
    server = postgres_server_url()
    name = f"kycbot_bench_{secrets.token_hex(4)}"
    await _admin(server, f'CREATE DATABASE "{name}"')
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        await _admin(server, f'DROP DATABASE "{name}" WITH (FORCE)')


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Replicas:
    """The running replicas, measured together: CPU summed, memory per replica."""

    bots: list[BotProcess]

    def cpu_seconds(self) -> float:
        """User plus system CPU time of every replica so far."""
        return sum(bot.cpu_seconds() for bot in self.bots)

    def check_alive(self) -> None:
        """Fail with a replica's stderr if it has exited."""
        for bot in self.bots:
            bot.check_alive()

    def memory(self) -> list[Memory]:
        """Each replica's VmRSS and VmHWM."""
        return [bot.memory() for bot in self.bots]

    async def stop(self) -> None:
        """SIGTERM every replica and wait for each to finish its updates in flight."""
        for bot in self.bots:
            await bot.stop()


@contextlib.asynccontextmanager
async def replicas(
    fake: WebhookBotApi, count: int, url: str, latency_ms: int, folder: Path, sms: SmsInbox
) -> AsyncIterator[Replicas]:
    """`count` replicas of `kycbot run` (rate limiter off) behind `fake`, registered."""
    ports = [free_port() for _ in range(count)]
    fake.targets[:] = [f"http://127.0.0.1:{port}/telegram" for port in ports]
    env = bot_environment(fake, url)
    env.update(
        KYCBOT_TELEGRAM__MODE="webhook",
        KYCBOT_TELEGRAM__WEBHOOK__URL=PUBLIC_WEBHOOK,
        KYCBOT_TELEGRAM__WEBHOOK__SECRET_TOKEN=fake.secret_token,
        KYCBOT_PROVIDERS__SIMULATOR__LATENCY_MS=str(latency_ms),
    )
    await migrate(env, folder)
    launcher = [sys.executable, "-c", LAUNCHER, "unthrottled"]
    started = Replicas([])
    try:
        for index, port in enumerate(ports, start=1):
            env["KYCBOT_TELEGRAM__WEBHOOK__PORT"] = str(port)
            bot = await BotProcess.start(f"kyc-{index}", launcher, dict(env), folder, sms)
            started.bots.append(bot)
        await _registered(fake, started)
        yield started
    finally:
        await started.stop()


async def _registered(fake: WebhookBotApi, running: Replicas) -> None:
    try:
        async with asyncio.timeout(60):
            await fake.registered()
    except TimeoutError:
        tails = "\n".join(bot.stderr_tail() for bot in running.bots)
        raise RuntimeError(f"the replicas never registered their webhook:\n{tails}") from None
