"""DigiLocker end to end below the chat surface: the real runner, the real DigiLockerCalls and the
real IDTO client against FakeIdto on 127.0.0.1, on each database backend.

Each test plays the user: consent, the method question, DigiLocker, the link button, DigiLocker's
page (FakeIdto.consent) and the browser coming back (`DigiLockerCalls.come_back`), and asserts
what the user sees in the chat and what the database keeps.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from bot.digilocker import Return
from bot.render import Message
from flows import DigiLockerChosen, PromptKey, StartRequested
from storage import Database
from storage.models import FlowEvent
from tests.bot.digilocker_chat import TTL_SECONDS, Back, Chat, back_from, results
from tests.fakes.idto_server import INITIATE_PATH, REFERENCE_PATH, FakeIdto, Fault
from tests.scenario_tools import opening, say, sqlite_files

K = PromptKey
# Loggers of the test's side: FakeIdto's server and the browser in FakeIdto.consent, which
# sees the redirect (code and state) as a real browser would.
HARNESS = ("uvicorn", "httpcore")


@pytest.fixture
async def fake() -> AsyncIterator[FakeIdto]:
    async with FakeIdto() as server:
        yield server


@pytest.fixture
async def chat(database: Database, fake: FakeIdto) -> AsyncIterator[Chat]:
    talking = Chat(database, fake)
    try:
        yield talking
    finally:
        await talking.aclose()


def sqlite_file(database: Database) -> Path | None:
    """The SQLite file behind `database`, or None on PostgreSQL."""
    if not database.is_sqlite:
        return None
    name = make_url(database.url).database
    assert name
    return Path(name)


# --- the whole way -------------------------------------------------------------------------------


async def test_digilocker_verifies_the_user_and_keeps_only_a_sealed_reference(
    chat: Chat, fake: FakeIdto, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    question = await chat.to_method_question()
    assert [button.label for button in question.buttons] == [
        say(K.BUTTON_USE_OTP),
        say(K.BUTTON_USE_DIGILOCKER),
    ]
    link = await chat.link()
    # The message under the link still offers the other way.
    assert [button.label for button in chat.channel.messages[-1].buttons] == [say(K.BUTTON_USE_OTP)]

    back = back_from(await fake.consent(link))
    assert back.code
    shown = len(chat.channel.messages)
    assert await chat.come_back(back) == Return.ACCEPTED
    done = chat.channel.messages[-1]
    assert say(K.DIGILOCKER_VERIFIED) in done.text, chat.channel.texts()
    assert opening(K.DIGILOCKER_RECORD) in done.text
    assert done.protect_content
    assert len(chat.channel.messages) == shown + 1

    # The same return again: refused, and nothing changes for the user.
    assert await chat.come_back(back) == Return.UNKNOWN
    assert len(chat.channel.messages) == shown + 1
    assert len(fake.calls_to(REFERENCE_PATH)) == 1

    again = await chat.say(StartRequested())
    assert say(K.ALREADY_VERIFIED) in again.text
    assert opening(K.DIGILOCKER_RECORD) in again.text

    [result] = await results(chat.database)
    [reference_key] = list(fake.references)
    assert result.method == "digilocker"
    assert result.provider == "idto"
    assert (result.aadhaar_masked, result.aadhaar_hmac) == (None, None)
    assert result.reference_sealed is not None
    assert reference_key.encode() not in result.reference_sealed
    assert result.reference_expires_at is not None

    # Nothing a thief could use is kept in clear or logged.
    [initiate] = [call.body for call in fake.calls_to(INITIATE_PATH)]
    [exchange] = [call.body for call in fake.calls_to(REFERENCE_PATH)]
    assert isinstance(initiate, dict)
    assert isinstance(exchange, dict)
    secrets = {
        "code": back.code,
        "state": back.state,
        "verifier": str(exchange["code_verifier"]),
        "reference key": reference_key,
        "api key": fake.api_key,
        "client id": fake.client_id,
    }
    assert initiate["state"] == back.state
    logged = "\n".join(
        record.getMessage() for record in caplog.records if not record.name.startswith(HARNESS)
    )
    assert "get_reference" in logged
    for name, secret in secrets.items():
        assert secret not in logged, f"the {name} is in the log"
    path = sqlite_file(chat.database)
    if path is not None:
        for file in sqlite_files(path):
            if file.exists():
                blob = file.read_bytes()
                for name, secret in secrets.items():
                    assert secret.encode() not in blob, f"the {name} is in {file.name}"


# --- returns that change nothing ------------------------------------------------------------------


async def test_a_link_used_after_its_lifetime_is_refused(chat: Chat, fake: FakeIdto) -> None:
    await chat.to_method_question()
    back = back_from(await fake.consent(await chat.link()))
    shown = len(chat.channel.messages)
    chat.now += timedelta(seconds=TTL_SECONDS + 1)

    assert await chat.come_back(back) == Return.UNKNOWN
    assert len(chat.channel.messages) == shown
    assert fake.calls_to(REFERENCE_PATH) == []
    assert await results(chat.database) == []


@pytest.mark.parametrize("state", ["", "forged-" + "x" * 40])
async def test_a_forged_state_is_refused(chat: Chat, fake: FakeIdto, state: str) -> None:
    await chat.to_method_question()
    back = back_from(await fake.consent(await chat.link()))
    shown = len(chat.channel.messages)

    forged = Back(back.url, state, back.code)
    assert await chat.come_back(forged) == Return.UNKNOWN
    assert len(chat.channel.messages) == shown
    assert fake.calls_to(REFERENCE_PATH) == []

    # The real return still works afterwards.
    assert await chat.come_back(back) == Return.ACCEPTED
    assert say(K.DIGILOCKER_VERIFIED) in chat.channel.last


async def test_a_new_link_retires_the_first(chat: Chat, fake: FakeIdto) -> None:
    await chat.to_method_question()
    first = await chat.link()
    second = await chat.link()
    assert second != first

    first_back = back_from(await fake.consent(first))
    second_back = back_from(await fake.consent(second))
    assert first_back.state != second_back.state
    shown = len(chat.channel.messages)
    assert await chat.come_back(first_back) == Return.UNKNOWN
    assert len(chat.channel.messages) == shown
    assert fake.calls_to(REFERENCE_PATH) == []

    assert await chat.come_back(second_back) == Return.ACCEPTED
    assert say(K.DIGILOCKER_VERIFIED) in chat.channel.last


async def test_a_user_who_does_not_allow_access_is_declined(chat: Chat, fake: FakeIdto) -> None:
    await chat.to_method_question()
    first = await chat.link()
    back = back_from(await fake.consent(first, allow=False))
    assert back.code == ""
    assert parse_qs(urlsplit(back.url).query)["error"] == ["access_denied"]

    assert await chat.come_back(back) == Return.DECLINED
    assert fake.calls_to(REFERENCE_PATH) == []
    assert await results(chat.database) == []

    # The link in the chat still works if they change their mind.
    again = back_from(await fake.consent(first))
    assert again.state == back.state
    assert await chat.come_back(again) == Return.ACCEPTED
    assert say(K.DIGILOCKER_VERIFIED) in chat.channel.last


async def test_after_declining_a_fresh_link_verifies(chat: Chat, fake: FakeIdto) -> None:
    await chat.to_method_question()
    back = back_from(await fake.consent(await chat.link(), allow=False))
    assert await chat.come_back(back) == Return.DECLINED

    # Nothing was counted: a fresh link verifies.
    await chat.say(DigiLockerChosen())
    link = chat.channel.messages[-1].links[0].url
    assert await chat.come_back(back_from(await fake.consent(link))) == Return.ACCEPTED
    assert say(K.DIGILOCKER_VERIFIED) in chat.channel.last


# --- IDTO in trouble ----------------------------------------------------------------------------


async def assert_back_at_the_question(chat: Chat, message: Message) -> None:
    assert say(K.PROVIDER_DOWN) in message.text, message
    assert say(K.METHOD_QUESTION) in message.text, message
    assert [button.label for button in message.buttons] == [
        say(K.BUTTON_USE_OTP),
        say(K.BUTTON_USE_DIGILOCKER),
    ]
    assert message.links == ()
    assert await results(chat.database) == []


async def test_idto_down_when_asked_for_a_link(chat: Chat, fake: FakeIdto) -> None:
    await chat.to_method_question()
    fake.fail_next(Fault(path=INITIATE_PATH, status=503))

    await assert_back_at_the_question(chat, await chat.say(DigiLockerChosen()))

    # Nothing counted: the next try gets a link and verifies.
    back = back_from(await fake.consent(await chat.link()))
    assert await chat.come_back(back) == Return.ACCEPTED
    assert say(K.DIGILOCKER_VERIFIED) in chat.channel.last


async def test_idto_down_when_asked_for_the_reference(chat: Chat, fake: FakeIdto) -> None:
    await chat.to_method_question()
    back = back_from(await fake.consent(await chat.link()))
    fake.fail_next(Fault(path=REFERENCE_PATH, status=503))

    assert await chat.come_back(back) == Return.ACCEPTED
    await assert_back_at_the_question(chat, chat.channel.messages[-1])
    # That return is spent: it cannot be tried again behind the user's back.
    assert await chat.come_back(back) == Return.UNKNOWN

    back = back_from(await fake.consent(await chat.link()))
    assert await chat.come_back(back) == Return.ACCEPTED
    assert say(K.DIGILOCKER_VERIFIED) in chat.channel.last
    async with chat.database.session() as session:
        answered = list(
            await session.scalars(
                select(FlowEvent.provider).where(FlowEvent.latency_ms.is_not(None))
            )
        )
    assert set(answered) == {"idto"}, "the flow events name IDTO as the provider that answered"
