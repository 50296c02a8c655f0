"""The composition root: settings in, a wired runner (database, vault, provider) out."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from bot.config import Settings
from bot.runner import Runner
from kyc import KycProvider, SimulatedSms, SimulatorProvider
from storage import Database, NumberVault
from storage.migrate import upgrade

__all__ = ["Wiring", "build_provider", "wired"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Wiring:
    """What a front end (terminal or Telegram) needs."""

    settings: Settings
    database: Database
    runner: Runner


def build_provider(
    settings: Settings, *, on_sms: Callable[[SimulatedSms], None] | None = None
) -> KycProvider:
    """The configured KYC provider."""
    simulator = settings.providers.simulator
    return SimulatorProvider(
        on_sms=on_sms,
        otp_ttl_seconds=simulator.otp_ttl_seconds,
        latency_ms=simulator.latency_ms,
    )


@asynccontextmanager
async def wired(
    settings: Settings, *, on_sms: Callable[[SimulatedSms], None] | None = None
) -> AsyncIterator[Wiring]:
    """Open the database (migrating SQLite on start), the provider and the runner; close them."""
    database = Database(settings.database.url)
    provider = build_provider(settings, on_sms=on_sms)
    try:
        if database.is_sqlite:
            await upgrade(database)
        vault = NumberVault(
            encryption_key=settings.security.encryption_key_bytes(),
            hmac_key=settings.security.hmac_key_bytes(),
        )
        runner = Runner(settings=settings, database=database, provider=provider, vault=vault)
        yield Wiring(settings=settings, database=database, runner=runner)
    finally:
        await provider.aclose()
        await database.dispose()
