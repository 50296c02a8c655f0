"""The real runner and the real AccuAuth client against a fake AccuAuth on 127.0.0.1, on each
database backend: a whole verification, faults reaching the user as the right message, and
nothing secret left in the database or the logs."""

from __future__ import annotations

import base64
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, make_url

from bot.config import load_settings
from bot.runner import Runner
from flows import ConsentGiven, Event, NumberConfirmed, PromptKey, StartRequested, TextSent
from kyc.accuauth import AccuAuthProvider
from storage import Database, NumberVault, UserKey
from tests.fakes.accuauth_server import (
    SEND_PATH,
    VALIDATE_PATH,
    FakeAccuAuth,
    Fault,
    closed_port_url,
)
from tests.fakes.channel import RecordingChannel
from tests.scenario_tools import another_otp, leaks, masked, opening, say, sqlite_files
from tests.scenario_tools import synthetic_number as new_number

USER = UserKey(channel="test", external_id="accuauth-1")
NOT_RESPONDING = say(PromptKey.PROVIDER_DOWN)
UNAVAILABLE = say(PromptKey.PROVIDER_UNAVAILABLE)
APOLOGY = say(PromptKey.TRY_AGAIN_SHORTLY)


@pytest.fixture
async def fake() -> AsyncIterator[FakeAccuAuth]:
    async with FakeAccuAuth() as server:
        yield server


def accuauth(
    fake: FakeAccuAuth, *, api_secret: str = "", timeout_seconds: float = 5.0
) -> AccuAuthProvider:
    return AccuAuthProvider(
        api_id=fake.api_id,
        api_secret=api_secret or fake.api_secret,
        base_url=fake.url,
        timeout_seconds=timeout_seconds,
    )


class Chat:
    """One user talking to a runner wired with the real AccuAuth client."""

    def __init__(self, database: Database, provider: AccuAuthProvider) -> None:
        environ = {
            "KYCBOT_SECURITY__HMAC_KEY": "h" * 40,
            "KYCBOT_SECURITY__ENCRYPTION_KEY": base64.b64encode(os.urandom(32)).decode(),
        }
        settings = load_settings(None, environ)
        vault = NumberVault(
            encryption_key=settings.security.encryption_key_bytes(),
            hmac_key=settings.security.hmac_key_bytes(),
        )
        self.provider = provider
        self.database = database
        self.runner = Runner(settings=settings, database=database, provider=provider, vault=vault)
        self.channel = RecordingChannel()
        self.number = new_number()

    async def say(self, *events: Event) -> str:
        for event in events:
            await self.runner.handle(USER, event, self.channel)
        return self.channel.last

    async def ask_for_otp(self) -> str:
        return await self.say(
            StartRequested(), ConsentGiven(), TextSent(self.number), NumberConfirmed()
        )

    async def rows(self, query: str) -> list[tuple[object, ...]]:
        async with self.database.session() as session:
            return [tuple(row) for row in await session.execute(text(query))]

    async def every_value(self) -> str:
        async with self.database.engine.connect() as connection:
            return await connection.run_sync(_every_value)

    async def close(self) -> None:
        await self.provider.aclose()


def _every_value(connection: Connection) -> str:
    values: list[str] = []
    for table in inspect(connection).get_table_names():
        for row in connection.execute(text(f'SELECT * FROM "{table}"')):  # noqa: S608
            values.extend(str(value) for value in row)
    return "\x1f".join(values)


@pytest.fixture
async def chat(database: Database, fake: FakeAccuAuth) -> AsyncIterator[Chat]:
    chat = Chat(database, accuauth(fake))
    yield chat
    await chat.close()


async def test_a_whole_verification_through_accuauth(
    chat: Chat, fake: FakeAccuAuth, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.DEBUG)
    assert "An OTP has been sent" in await chat.ask_for_otp()
    otp = fake.last_otp
    last = await chat.say(TextSent(another_otp(otp)), TextSent(otp))

    assert "That OTP is not correct" in chat.channel.texts()[-2]
    assert "Your identity is verified" in last
    assert masked(chat.number) in last
    for kept in ("A*** V****", "1990", "Karnataka"):
        assert kept in last
    assert APOLOGY not in chat.channel.texts()
    [send] = fake.calls_to(SEND_PATH)
    assert send.body == {"aadhaar_no": chat.number}
    assert (send.headers["x-df-api-id"], send.headers["x-df-api-secret"]) == (
        fake.api_id,
        fake.api_secret,
    )
    client_id = next(iter(fake.sessions))
    assert [call.body for call in fake.calls_to(VALIDATE_PATH)] == [
        {"client_id": client_id, "otp_code": another_otp(otp)},
        {"client_id": client_id, "otp_code": otp},
    ]
    assert await chat.rows("SELECT provider, aadhaar_masked, name, address FROM kyc_result") == [
        ("accuauth", masked(chat.number), "A*** V****", "Karnataka")
    ]

    # The e-KYC answer held the full number, the photo, the name and the street: none stayed.
    stored = await chat.every_value()
    for secret in (chat.number, otp, "Asha Verma", "MG Road", "Ravi", "/9j/", fake.api_secret):
        assert secret not in stored
        assert secret not in caplog.text
    assert fake.api_id not in caplog.text
    files = sqlite_files(Path(make_url(chat.database.url).database or tmp_path / "none"))
    assert leaks(files, [chat.number], [otp, another_otp(otp)]) == []


@pytest.mark.parametrize(
    ("fault", "told"),
    [
        (Fault(SEND_PATH, status=500), NOT_RESPONDING),
        (Fault(SEND_PATH, status=512, code="SOURCE_SERVICE_UNAVAILABLE"), NOT_RESPONDING),
        # A 200 that cannot be read may have sent the SMS: the user waits, no free retry.
        (
            Fault(SEND_PATH, status=200, raw=b'{"status": "OK", "result": {'),
            opening(PromptKey.PROVIDER_UNCERTAIN),
        ),
        (
            Fault(SEND_PATH, status=502, raw=b"<h1>Bad Gateway</h1>", content_type="text/html"),
            NOT_RESPONDING,
        ),
        (Fault(SEND_PATH, status=200, raw=b"[]"), opening(PromptKey.PROVIDER_UNCERTAIN)),
        (
            Fault(SEND_PATH, status=403, code="RATE_LIMIT_EXCEEDED"),
            opening(PromptKey.PROVIDER_RATE_LIMITED),
        ),
        (Fault(SEND_PATH, status=403, code="OUT_OF_QUOTA"), UNAVAILABLE),
    ],
)
async def test_a_failed_send_reaches_the_user_as_its_message(
    chat: Chat, fake: FakeAccuAuth, fault: Fault, told: str
) -> None:
    fake.fail_next(fault)
    assert told in await chat.ask_for_otp()
    assert APOLOGY not in chat.channel.texts()
    assert len(fake.calls_to(SEND_PATH)) == 1
    assert await chat.rows("SELECT state, otp_sends FROM verification") == [("await_confirm", 0)]


async def test_a_send_without_an_answer_is_uncertain_and_sent_once(
    database: Database, fake: FakeAccuAuth
) -> None:
    chat = Chat(database, accuauth(fake, timeout_seconds=0.2))
    fake.fail_next(Fault(SEND_PATH, delay_seconds=30))  # the OTP is issued, the answer stalls
    try:
        assert opening(PromptKey.PROVIDER_UNCERTAIN) in await chat.ask_for_otp()
    finally:
        await chat.close()
    assert len(fake.calls_to(SEND_PATH)) == 1
    assert len(fake.sessions) == 1  # an SMS did go out: that is why nothing is retried
    assert APOLOGY not in chat.channel.texts()


async def test_a_refused_connection_is_the_provider_being_down(database: Database) -> None:
    chat = Chat(database, AccuAuthProvider(api_id="id", api_secret="s", base_url=closed_port_url()))
    try:
        assert NOT_RESPONDING in await chat.ask_for_otp()
    finally:
        await chat.close()


async def test_rejected_credentials_alarm_the_operator(
    database: Database, fake: FakeAccuAuth, caplog: pytest.LogCaptureFixture
) -> None:
    chat = Chat(database, accuauth(fake, api_secret="not-the-secret"))
    try:
        assert UNAVAILABLE in await chat.ask_for_otp()
    finally:
        await chat.close()
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("KYCBOT_PROVIDERS__ACCUAUTH__API_ID / API_SECRET" in line for line in errors)
    assert "not-the-secret" not in caplog.text


async def test_a_number_without_a_mobile(chat: Chat, fake: FakeAccuAuth) -> None:
    fake.no_mobile.add(chat.number)
    assert opening(PromptKey.PROVIDER_NO_MOBILE) in await chat.ask_for_otp()


async def test_an_otp_expired_at_the_provider(chat: Chat, fake: FakeAccuAuth) -> None:
    await chat.ask_for_otp()
    fake.expire_otps()
    assert say(PromptKey.OTP_EXPIRED) in await chat.say(TextSent(fake.last_otp))


async def test_a_validate_without_an_answer_lets_the_user_try_again(
    database: Database, fake: FakeAccuAuth
) -> None:
    chat = Chat(database, accuauth(fake, timeout_seconds=0.2))
    try:
        await chat.ask_for_otp()
        fake.fail_next(Fault(VALIDATE_PATH, delay_seconds=30))
        assert NOT_RESPONDING in await chat.say(TextSent(fake.last_otp))
        assert await chat.rows("SELECT state FROM verification") == [("await_otp",)]
        # This fake acted before it stalled, so the OTP is spent: the user is told so.
        assert say(PromptKey.OTP_SESSION_INVALID) in await chat.say(TextSent(fake.last_otp))
    finally:
        await chat.close()
    assert APOLOGY not in chat.channel.texts()
