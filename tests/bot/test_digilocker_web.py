"""DigiLocker's way back through the bot's web app: `GET /digilocker` on the Starlette app, with
the real DigiLockerCalls and runner behind it (FakeIdto on 127.0.0.1), on each database backend.

The page only says what happened to the browser; the result is told in the chat.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from telegram.ext import Application, ApplicationBuilder

from bot.digilocker import RETURN_PATH, Return
from bot.webapp import SECRET_HEADER, web_app
from flows import PromptKey
from storage import Database
from tests.bot.digilocker_chat import PUBLIC_URL, Chat, results
from tests.fakes.idto_server import REFERENCE_PATH, FakeIdto
from tests.scenario_tools import say

K = PromptKey
App = Application[Any, Any, Any, Any, Any, Any]
SECRET = "s3cr3t-Token_1"
RECEIVED = "DigiLocker sign-in received"
CANNOT_BE_USED = "This link cannot be used"
NOT_GIVEN = "DigiLocker access not given"
TRY_AGAIN = "Please try again"


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


@pytest.fixture
def application() -> App:
    return ApplicationBuilder().token("123:abc").updater(None).build()


async def healthy() -> bool:
    return True


def browser(application: App, chat: Chat) -> httpx.AsyncClient:
    """A browser on the web app as polling mode serves it: no webhook, DigiLocker's way back."""

    async def come_back(state: str, code: str) -> Return:
        return await chat.calls.come_back(state=state, code=code, handle=chat.handle)

    app = web_app(
        application=application,
        webhook_path=None,
        secret_token=SECRET,
        healthy=healthy,
        digilocker=come_back,
    )
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=PUBLIC_URL)


def path_of(url: str) -> str:
    """The path and query of DigiLocker's redirect, to GET from the web app."""
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == PUBLIC_URL, url
    return f"{parts.path}?{parts.query}"


def assert_page(response: httpx.Response, status: int, title: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert f"<h1>{title}</h1>" in response.text
    # The URL holds a code and a state: never sent on as a referrer, never cached.
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-store"


async def test_the_return_from_digilocker_is_received_once(
    application: App, chat: Chat, fake: FakeIdto
) -> None:
    await chat.to_method_question()
    back = path_of(await fake.consent(await chat.link()))
    async with browser(application, chat) as http:
        received = await http.get(back)
        assert_page(received, 200, RECEIVED)
        assert say(K.DIGILOCKER_VERIFIED) in chat.channel.last
        shown = len(chat.channel.messages)

        replayed = await http.get(back)
        assert_page(replayed, 400, CANNOT_BE_USED)
    assert len(chat.channel.messages) == shown
    assert len(fake.calls_to(REFERENCE_PATH)) == 1
    assert len(await results(chat.database)) == 1


@pytest.mark.parametrize(
    "query", ["", "?code=abc", "?state=forged-state-xxxxxxxxxxxxxxxx&code=abc", "?state=&code="]
)
async def test_an_unknown_return_is_refused(application: App, chat: Chat, query: str) -> None:
    await chat.to_method_question()
    await chat.link()
    shown = len(chat.channel.messages)
    async with browser(application, chat) as http:
        assert_page(await http.get(RETURN_PATH + query), 400, CANNOT_BE_USED)
    assert len(chat.channel.messages) == shown


async def test_access_not_given_is_said_so(application: App, chat: Chat, fake: FakeIdto) -> None:
    await chat.to_method_question()
    back = path_of(await fake.consent(await chat.link(), allow=False))
    async with browser(application, chat) as http:
        assert_page(await http.get(back), 200, NOT_GIVEN)
    assert await results(chat.database) == []


async def test_a_failing_return_is_a_503_page_and_a_log_line_without_the_query(
    application: App, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(state: str, code: str) -> Return:
        raise RuntimeError(f"database gone while handling {state} {code}")

    app = web_app(
        application=application,
        webhook_path=None,
        secret_token=SECRET,
        healthy=healthy,
        digilocker=broken,
    )
    caplog.set_level(logging.DEBUG)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=PUBLIC_URL) as http:
        response = await http.get(RETURN_PATH, params={"state": "state-7a1f", "code": "code-9c2e"})
    assert_page(response, 503, TRY_AGAIN)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r.getMessage() for r in errors] == ["digilocker return failed: RuntimeError"]
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("bot."))
    assert "state-7a1f" not in ours
    assert "code-9c2e" not in ours


async def test_polling_mode_serves_no_webhook_but_health(application: App, chat: Chat) -> None:
    async with browser(application, chat) as http:
        for path in ("/telegram", "/", "/webhook"):
            response = await http.post(path, json={"update_id": 1}, headers={SECRET_HEADER: SECRET})
            assert response.status_code in (404, 405), path
        health = await http.get("/healthz")
        assert (health.status_code, health.json()) == (200, {"status": "ok"})
        # The way back takes GET only.
        assert (await http.post(RETURN_PATH)).status_code == 405
    assert application.update_queue.empty()
