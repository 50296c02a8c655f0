"""Parts of the runner state-machine test: a hand-moved clock, a scripted KYC provider, fresh
stores on each backend, and one read of everything the invariants look at."""

from __future__ import annotations

import asyncio
import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from pathlib import Path

from sqlalchemy import Connection, event, select, text

from flows import (
    AadhaarNumber,
    KycData,
    KycVerified,
    Otp,
    OtpNotSent,
    OtpNotVerified,
    OtpSent,
    ProviderFailure,
)
from kyc import OtpRequestAnswer, OtpVerifyAnswer
from storage import Database
from storage.migrate import upgrade
from storage.models import Base
from tests.conftest import POSTGRES_URL, _postgres_schema, _search_path

F = ProviderFailure
START = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
# No run of six digits anywhere: a reply showing the record must never look like an OTP.
PERSON = KycData(
    name="Meera Iyer",
    date_of_birth=date(1991, 7, 9),
    year_of_birth=1991,
    gender="F",
    address="Flat 4, Lake View Road, Kochi, Kerala",
    state="Kerala",
)


@dataclass
class Clock:
    """The runner's and the sweeper's now, moved by the machine."""

    now: datetime = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: int) -> None:
        self.now += timedelta(seconds=seconds)


class RequestAnswer(StrEnum):
    """What the provider does with the next OTP request."""

    SENT = "sent"
    INVALID_NUMBER = "invalid_number"
    NO_MOBILE = "no_mobile"
    RATE_LIMITED = "rate_limited"
    DOWN = "down"
    UNCERTAIN = "uncertain"
    RAISES = "raises"  # a client bug: the runner's guard turns it into "provider down"


class VerifyAnswer(StrEnum):
    """What the provider does with the next OTP check; HONEST compares the OTP it sent."""

    HONEST = "honest"
    WRONG = "wrong"
    EXPIRED = "expired"
    SESSION_INVALID = "session_invalid"
    RATE_LIMITED = "rate_limited"
    DOWN = "down"


_REFUSALS = {
    RequestAnswer.INVALID_NUMBER: OtpNotSent(F.INVALID_AADHAAR, detail="scripted"),
    RequestAnswer.NO_MOBILE: OtpNotSent(F.NO_MOBILE_LINKED, detail="scripted"),
    RequestAnswer.RATE_LIMITED: OtpNotSent(F.RATE_LIMITED, retry_after_seconds=45),
    RequestAnswer.DOWN: OtpNotSent(F.PROVIDER_DOWN, detail="scripted"),
    RequestAnswer.UNCERTAIN: OtpNotSent(F.UNCERTAIN, detail="scripted"),
}
_FAILED_CHECKS = {
    VerifyAnswer.WRONG: OtpNotVerified(F.WRONG_OTP),
    VerifyAnswer.EXPIRED: OtpNotVerified(F.OTP_EXPIRED),
    VerifyAnswer.SESSION_INVALID: OtpNotVerified(F.SESSION_INVALID),
    VerifyAnswer.RATE_LIMITED: OtpNotVerified(F.RATE_LIMITED, retry_after_seconds=30),
    VerifyAnswer.DOWN: OtpNotVerified(F.PROVIDER_DOWN),
}


@dataclass(frozen=True)
class SentOtp:
    """One OTP request the provider answered "sent": for whom, when, and the OTP."""

    caller: str
    at: datetime
    reference: str
    otp: str


def _sent() -> RequestAnswer:
    return RequestAnswer.SENT


def _honest() -> VerifyAnswer:
    return VerifyAnswer.HONEST


@dataclass
class ScriptedProvider:
    """A KycProvider whose answers the machine picks at the moment of each call.

    An OTP check it is allowed to answer honestly is answered like a real provider would:
    the OTP it sent is accepted once within its lifetime, any other is wrong. `caller` is the
    user whose event is being handled.
    """

    clock: Clock
    otp_ttl: timedelta = timedelta(seconds=600)
    choose_request: Callable[[], RequestAnswer] = _sent
    choose_check: Callable[[], VerifyAnswer] = _honest
    caller: str = ""
    requests: list[tuple[str, RequestAnswer]] = field(default_factory=list)
    sent: list[SentOtp] = field(default_factory=list)
    _used: set[str] = field(default_factory=set)

    @property
    def name(self) -> str:
        return "scripted"

    async def request_otp(self, aadhaar: AadhaarNumber) -> OtpRequestAnswer:
        answer = self.choose_request()
        self.requests.append((self.caller, answer))
        if answer is RequestAnswer.RAISES:
            raise ConnectionResetError("scripted client bug")
        if answer is not RequestAnswer.SENT:
            return _REFUSALS[answer]
        reference = f"ref-{len(self.sent)}"
        otp = f"{secrets.randbelow(1_000_000):06d}"
        self.sent.append(SentOtp(self.caller, self.clock(), reference, otp))
        return OtpSent(reference)

    async def verify_otp(self, reference: str, otp: Otp) -> OtpVerifyAnswer:
        answer = self.choose_check()
        if answer is not VerifyAnswer.HONEST:
            return _FAILED_CHECKS[answer]
        issued = next((sent for sent in self.sent if sent.reference == reference), None)
        if issued is None or reference in self._used:
            return OtpNotVerified(F.SESSION_INVALID)
        if self.clock() - issued.at >= self.otp_ttl:
            return OtpNotVerified(F.OTP_EXPIRED)
        if otp.reveal() != issued.otp:
            return OtpNotVerified(F.WRONG_OTP)
        self._used.add(reference)
        return KycVerified(PERSON)

    async def aclose(self) -> None:
        """Nothing to release."""

    def otp_of(self, reference: str | None) -> str | None:
        """The OTP sent under `reference`, if any."""
        return next((sent.otp for sent in self.sent if sent.reference == reference), None)


class Store:
    """Fresh databases for the examples of one test: a copied SQLite file, or PostgreSQL tables
    emptied in a schema of the test's own (migrating per example would cost most of the run)."""

    def __init__(self, backend: str, directory: Path) -> None:
        self.backend = backend
        self._directory = directory
        self._schema = f"t_{secrets.token_hex(6)}"
        self._template = directory / "template.sqlite3"
        self._count = 0
        asyncio.run(self._prepare())
        # The last connection closed checkpointed the WAL: the file alone is the database.
        assert not Path(f"{self._template}-wal").exists()

    async def _prepare(self) -> None:
        if self.backend == "postgresql":
            await _postgres_schema(POSTGRES_URL, f'CREATE SCHEMA "{self._schema}"')
        database = self._connect(self._template)
        try:
            await upgrade(database)
        finally:
            await database.dispose()

    def _connect(self, path: Path) -> Database:
        if self.backend == "sqlite":
            return Database(f"sqlite+aiosqlite:///{path}")
        database = Database(POSTGRES_URL)
        event.listen(database.engine.sync_engine, "checkout", _search_path(self._schema))
        return database

    async def fresh(self) -> Database:
        """A database with the migrated schema and no rows; call in the example's loop."""
        self._count += 1
        path = self._directory / f"run-{self._count}.sqlite3"
        if self.backend == "sqlite":
            shutil.copyfile(self._template, path)
            return self._connect(path)
        database = self._connect(path)
        tables = ", ".join(f'"{table}"' for table in Base.metadata.tables)
        await database.run(lambda c: c.execute(text(f"TRUNCATE {tables} RESTART IDENTITY")))
        return database

    def close(self) -> None:
        """Drop the PostgreSQL schema (SQLite files go with the temporary directory)."""
        if self.backend == "postgresql":
            asyncio.run(_postgres_schema(POSTGRES_URL, f'DROP SCHEMA "{self._schema}" CASCADE'))


Row = dict[str, object]


@dataclass(frozen=True)
class Snapshot:
    """Every row of the tables the invariants read, as plain dicts."""

    users: list[Row]
    verifications: list[Row]
    results: list[Row]
    texts: list[str]  # every text value in every table, hashes left out

    def user_id(self, external_id: str) -> int | None:
        """The row id of the user, if stored."""
        ids = [row["id"] for row in self.users if row["external_id"] == external_id]
        return int(str(ids[0])) if ids else None

    def live(self, external_id: str) -> Row | None:
        """The user's verification in progress, if any."""
        user_id = self.user_id(external_id)
        return next(
            (
                row
                for row in self.verifications
                if row["user_id"] == user_id and row["ended_at"] is None
            ),
            None,
        )


def read_snapshot(connection: Connection) -> Snapshot:
    """One transaction's view of the database."""

    def rows(table: str) -> list[Row]:
        # Through the models' types: timestamps come back as aware datetimes, not text.
        result = connection.execute(select(Base.metadata.tables[table]))
        return [dict(row._mapping) for row in result]

    texts = [
        value
        for table in Base.metadata.tables
        for row in rows(table)
        for column, value in row.items()
        if isinstance(value, str) and not column.endswith(("_hmac", "_hash"))
    ]
    return Snapshot(
        users=rows("user"),
        verifications=rows("verification"),
        results=rows("kyc_result"),
        texts=texts,
    )
