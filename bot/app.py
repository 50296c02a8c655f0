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
from storage.revision import SCHEMA_HEAD, MigrationFailed, migrate_in_child, stored_revision

__all__ = ["StartupError", "Wiring", "build_provider", "wired"]

log = logging.getLogger(__name__)


class StartupError(Exception):
    """The bot cannot start; the message says why in one line, without secrets."""


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
        await _prepare_schema(database)
        vault = NumberVault(
            encryption_key=settings.security.encryption_key_bytes(),
            hmac_key=settings.security.hmac_key_bytes(),
        )
        runner = Runner(settings=settings, database=database, provider=provider, vault=vault)
        yield Wiring(settings=settings, database=database, runner=runner)
    finally:
        await provider.aclose()
        await database.dispose()


async def _prepare_schema(database: Database) -> None:
    # SQLite belongs to this one process, so it is migrated on start; a shared PostgreSQL is
    # migrated deliberately by the operator (`kycbot db upgrade`), never by whichever replica
    # happens to start first.
    try:
        current = await stored_revision(database)
        if current == SCHEMA_HEAD:
            return
        if database.is_sqlite:
            await migrate_in_child(database.url)
            return
    except Exception as error:
        raise StartupError(f"cannot open the database: {_error_summary(error)}") from error
    raise StartupError(
        f"the database schema is at revision {current or 'none'} but this version needs "
        f"{SCHEMA_HEAD}: run `kycbot db upgrade`"
    )


def _error_summary(error: Exception) -> str:
    """A one-line cause without a driver's message (it may quote the URL and its password)."""
    if isinstance(error, MigrationFailed):
        return f"the migration failed ({error})"
    return type(error).__name__
