"""Storage fixtures: every test runs on SQLite, and on PostgreSQL when a server is given.

Set KYCBOT_TEST_POSTGRES_URL (e.g. postgresql+asyncpg://postgres@127.0.0.1:5432/test) to add
the PostgreSQL backend. Each PostgreSQL test gets a schema of its own, dropped afterwards.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Connection

from flows import (
    ConsentGiven,
    Decision,
    Event,
    KycData,
    KycVerified,
    NumberConfirmed,
    OtpSent,
    Rules,
    StartRequested,
    TextSent,
    decide,
)
from storage import (
    ConsentFacts,
    Database,
    Loaded,
    NumberVault,
    StepRecord,
    UserKey,
    load_conversation,
    save_decision,
)

POSTGRES_URL = os.environ.get("KYCBOT_TEST_POSTGRES_URL", "")
T0 = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
CONSENT = ConsentFacts(
    notice_version="2026-01", notice_hash="ab" * 32, purpose="kyc_onboarding", language="en"
)

STEP = timedelta(seconds=10)
KYC = KycData(
    name="Ravi Kumar",
    date_of_birth=date(1990, 4, 1),
    gender="M",
    address="12 MG Road, Bengaluru",
    state="Karnataka",
)


@pytest.fixture
def vault() -> NumberVault:
    """A vault with a fresh random encryption key."""
    return NumberVault(encryption_key=os.urandom(32), hmac_key=b"k" * 32)


@dataclass
class Chat:
    """One user talking to the bot the way the runner does: load, decide, save, one transaction."""

    database: Database
    vault: NumberVault
    key: UserKey
    rules: Rules = field(default_factory=Rules)
    provider: str = "simulator"
    language: str = "en"

    async def load(self, now: datetime) -> Loaded:
        """The conversation as the next update would see it."""
        return await self.database.run(
            lambda connection: load_conversation(
                connection, key=self.key, language=self.language, now=now, vault=self.vault
            )
        )

    async def walk(self, steps: list[Step], start: datetime = T0) -> list[tuple[Decision, Loaded]]:
        """Feed `steps` one STEP apart from `start`."""
        return [
            await self.step(step.event, start + index * STEP, consent=step.consent)
            for index, step in enumerate(steps)
        ]

    async def step(
        self, event: Event, now: datetime, *, consent: ConsentFacts | None = None
    ) -> tuple[Decision, Loaded]:
        """Feed `event` at `now`; the decision and what save_decision says comes next."""

        def unit(connection: Connection) -> tuple[Decision, Loaded]:
            loaded = load_conversation(
                connection, key=self.key, language=self.language, now=now, vault=self.vault
            )
            decision = decide(loaded.session, event, now, self.rules)
            saved = save_decision(
                connection,
                loaded=loaded,
                decision=decision,
                step=StepRecord(event=event.name, provider=self.provider, consent=consent),
                provider=self.provider,
                now=now,
                vault=self.vault,
            )
            return decision, saved

        return await self.database.run(unit)


@pytest.fixture
def chat(database: Database, vault: NumberVault) -> Chat:
    """Telegram user 1001 on the migrated database."""
    return Chat(database=database, vault=vault, key=UserKey("telegram", "1001"))


@dataclass(frozen=True)
class Step:
    """One event of a scripted conversation, with the consent facts shown when it applies."""

    event: Event
    consent: ConsentFacts | None = None


def happy_path(number_text: str, otp: str) -> list[Step]:
    """From /start to VERIFIED: consent, the number as typed, Send OTP, the OTP, e-KYC data."""
    return [
        Step(StartRequested()),
        Step(ConsentGiven(), CONSENT),
        Step(TextSent(number_text)),
        Step(NumberConfirmed()),
        Step(OtpSent("ref-1")),
        Step(TextSent(otp)),
        Step(KycVerified(KYC)),
    ]
