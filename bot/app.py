"""The composition root: settings in, a wired runner (database, vault, provider) out."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta

from pydantic import SecretStr

from bot.config import ProviderName, Settings
from bot.digilocker import DigiLockerCalls
from bot.runner import Runner, utc_now
from kyc import KycProvider, SimulatedSms, SimulatorProvider
from kyc.accuauth import AccuAuthProvider
from kyc.fallback import ProviderChain
from kyc.idto import IdtoDigiLocker
from kyc.sandbox import SandboxProvider
from storage import Database, NumberVault
from storage.database import STATEMENT_TIMEOUT_SECONDS
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
    # Set when flow.methods offers DigiLocker: the web app hands it users coming back.
    digilocker: DigiLockerCalls | None = None


def build_provider(
    settings: Settings, *, on_sms: Callable[[SimulatedSms], None] | None = None
) -> KycProvider:
    """The configured KYC provider: one, or a chain in `provider.order` when there are several."""
    try:
        providers = [_one_provider(name, settings, on_sms) for name in settings.provider.order]
    except ValueError as error:
        # The clients name the setting in their message, never its value.
        raise StartupError(f"cannot set up the providers: {error}") from None
    return providers[0] if len(providers) == 1 else ProviderChain(providers)


def _one_provider(
    name: ProviderName, settings: Settings, on_sms: Callable[[SimulatedSms], None] | None
) -> KycProvider:
    if name == "sandbox":
        sandbox = settings.providers.sandbox
        return SandboxProvider(
            base_url=sandbox.base_url,
            api_key=_credential(sandbox.api_key, "providers.sandbox.api_key"),
            api_secret=_credential(sandbox.api_secret, "providers.sandbox.api_secret"),
            reason=sandbox.reason,
            api_version=sandbox.api_version,
            authorization_scheme=sandbox.authorization_scheme,
            timeout_seconds=sandbox.timeout_seconds,
        )
    if name == "accuauth":
        accuauth = settings.providers.accuauth
        return AccuAuthProvider(
            base_url=accuauth.base_url,
            api_id=_credential(accuauth.api_id, "providers.accuauth.api_id"),
            api_secret=_credential(accuauth.api_secret, "providers.accuauth.api_secret"),
            timeout_seconds=accuauth.timeout_seconds,
        )
    simulator = settings.providers.simulator
    return SimulatorProvider(
        on_sms=on_sms,
        otp_ttl_seconds=simulator.otp_ttl_seconds,
        latency_ms=simulator.latency_ms,
    )


def _credential(value: SecretStr | None, key: str) -> str:
    # Settings refuses a listed provider without its credentials; this only guards the types.
    if value is None:
        raise ValueError(f"{key} is not set")
    return value.get_secret_value()


@asynccontextmanager
async def wired(
    settings: Settings, *, on_sms: Callable[[SimulatedSms], None] | None = None
) -> AsyncIterator[Wiring]:
    """Open the database (migrating SQLite on start), the provider and the runner; close them."""
    # The bot answers users: a database that hangs must fail a step fast, not hold it.
    database = Database(settings.database.url, statement_timeout_seconds=STATEMENT_TIMEOUT_SECONDS)
    provider = build_provider(settings, on_sms=on_sms)
    digilocker: DigiLockerCalls | None = None
    try:
        await _prepare_schema(database)
        vault = NumberVault(
            encryption_key=settings.security.encryption_key_bytes(),
            hmac_key=settings.security.hmac_key_bytes(),
        )
        digilocker = _digilocker(settings, database, vault)
        runner = Runner(
            settings=settings,
            database=database,
            provider=provider,
            vault=vault,
            digilocker=digilocker,
        )
        yield Wiring(settings=settings, database=database, runner=runner, digilocker=digilocker)
    finally:
        if digilocker is not None:
            await digilocker.aclose()
        await provider.aclose()
        await database.dispose()


def _digilocker(
    settings: Settings, database: Database, vault: NumberVault
) -> DigiLockerCalls | None:
    if "digilocker" not in settings.flow.methods:
        return None
    idto = settings.providers.idto
    try:
        client = IdtoDigiLocker(
            base_url=idto.base_url,
            api_key=_credential(idto.api_key, "providers.idto.api_key"),
            client_id=_credential(idto.client_id, "providers.idto.client_id"),
            consent_purpose=idto.consent_purpose,
            documents_for_consent=idto.documents_for_consent,
            redirect_to_signup=idto.redirect_to_signup,
            timeout_seconds=idto.timeout_seconds,
        )
    except ValueError as error:
        raise StartupError(f"cannot set up DigiLocker: {error}") from None
    return DigiLockerCalls(
        client=client,
        database=database,
        vault=vault,
        public_url=settings.web.public_url,
        ttl=timedelta(seconds=settings.flow.digilocker_ttl_seconds),
        clock=utc_now,
    )


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
