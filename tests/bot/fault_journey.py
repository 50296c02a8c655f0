"""One user of a real runner wired to a fake provider, as the provider-fault tests play it.

`journey` builds the runner the way `kycbot run` does (settings -> providers -> runner) on a
clock the test moves past cooldowns; `Journey.counters` reads everything that could punish the
user, so a test can assert that a provider's fault left it untouched.
"""

from __future__ import annotations

import base64
import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text

from bot.app import build_provider
from bot.config import Settings, load_settings
from bot.runner import Runner
from flows import ConsentGiven, Event, PromptKey, ResendRequested, StartRequested, TextSent
from kyc import KycProvider
from storage import Database, NumberVault, UserKey
from tests.bot.fault_rigs import CALL_TIMEOUT, CLIENT_TIMEOUT, COOLDOWN, Rig
from tests.fakes.channel import RecordingChannel
from tests.scenario_tools import leaks, opening, say, synthetic_number

K = PromptKey


def fresh_key() -> str:
    """A new security.encryption_key."""
    return base64.b64encode(os.urandom(32)).decode()


def settings_for(
    rig: Rig, *, key: str | None = None, base_url: str | None = None, **overrides: str
) -> Settings:
    """`rig`'s provider only, short timeouts, the encryption `key` (a fresh one if None);
    `overrides` as environment values."""
    environ = {
        "KYCBOT_SECURITY__HMAC_KEY": "h" * 40,
        "KYCBOT_SECURITY__ENCRYPTION_KEY": key or fresh_key(),
        "KYCBOT_PROVIDER__ORDER": rig.name,
        "KYCBOT_FLOW__CALL_TIMEOUT_SECONDS": str(CALL_TIMEOUT),
        f"KYCBOT_PROVIDERS__{rig.name.upper()}__TIMEOUT_SECONDS": str(CLIENT_TIMEOUT),
        **rig.env(base_url),
    }
    return load_settings(None, environ | overrides)


@dataclass
class Clock:
    """The runner's clock, moved by the test past a cooldown instead of sleeping through it."""

    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass(frozen=True)
class Counters:
    """Everything that could punish a user: sends, attempts, entries, failures, lock."""

    otp_sends: int
    otp_attempts_left: int
    invalid_entries: int
    otp_requests_in_window: int
    failures_in_window: int
    locked_until: object


@dataclass
class Journey:
    """One user talking to a real runner over a real database, with its provider and clock."""

    runner: Runner
    provider: KycProvider
    database: Database
    rig: Rig
    clock: Clock = field(default_factory=Clock)
    channel: RecordingChannel = field(default_factory=RecordingChannel)
    user: UserKey = field(default_factory=lambda: UserKey("test", "faults-1"))
    number: str = field(default_factory=synthetic_number)

    async def say(self, *events: Event) -> str:
        """Feed `events` to the runner; the last message the user saw."""
        for event in events:
            await self.runner.handle(self.user, event, self.channel)
        return self.channel.last

    async def timed(self, event: Event) -> tuple[str, float]:
        """Feed `event`; what the user saw and how many seconds the answer took."""
        started = time.perf_counter()
        shown = await self.say(event)
        return shown, time.perf_counter() - started

    async def to_confirmation(self) -> None:
        """/start, consent and the number: the "Send OTP" question."""
        await self.say(StartRequested(), ConsentGiven(), TextSent(self.number))

    async def counters(self) -> Counters:
        """The user's counters as stored now."""
        query = text(
            "SELECT v.otp_sends, v.otp_attempts_left, v.invalid_entries, "
            "u.otp_requests_in_window, u.failures_in_window, u.locked_until "
            'FROM verification v JOIN "user" u ON u.id = v.user_id '
            "WHERE u.external_id = :user ORDER BY v.id DESC LIMIT 1"
        )
        async with self.database.session() as session:
            row = (await session.execute(query, {"user": self.user.external_id})).one()
        return Counters(*row)

    async def verify_with_latest_otp(self) -> None:
        """Type the newest OTP; if the provider used it up before its answer was lost, a new
        one is asked for after the cooldown. Ends verified."""
        shown = await self.say(TextSent(self.rig.otps()[-1]))
        if say(K.VERIFIED) not in shown:
            assert say(K.OTP_SESSION_INVALID) in shown, shown
            self.clock.advance(COOLDOWN + 1)
            assert opening(K.OTP_SENT) in await self.say(ResendRequested())
            shown = await self.say(TextSent(self.rig.otps()[-1]))
        assert say(K.VERIFIED) in shown, shown

    async def aclose(self) -> None:
        """Close the provider's HTTP client."""
        await self.provider.aclose()


def journey(rig: Rig, database: Database, settings: Settings) -> Journey:
    """A runner wired as `kycbot run` wires it, on a clock the test moves."""
    provider = build_provider(settings)
    vault = NumberVault(
        encryption_key=settings.security.encryption_key_bytes(),
        hmac_key=settings.security.hmac_key_bytes(),
    )
    clock = Clock()
    runner = Runner(
        settings=settings, database=database, provider=provider, vault=vault, clock=clock
    )
    return Journey(runner, provider, database, rig, clock)


def assert_private(log: str, rig: Rig, number: str, tmp_path: Path) -> None:
    """The log holds no number, no OTP, no credential and no access token."""
    log_file = tmp_path / "captured.log"
    log_file.write_text(log, encoding="utf-8")
    assert leaks([log_file], [number], rig.otps()) == []
    for secret in rig.secrets:
        assert secret not in log
