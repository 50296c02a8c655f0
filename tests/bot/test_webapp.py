"""The web app in front of the webhook: only Telegram, proven by the secret, gets in."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from telegram import Update
from telegram.ext import Application, ApplicationBuilder, TypeHandler

from bot.webapp import SECRET_HEADER, web_app
from tests.fakes.telegram import FakeTelegram

SECRET = "s3cr3t-Token_1"
UPDATE = {
    "update_id": 10,
    "message": {
        "message_id": 1,
        "date": 1767225600,
        "chat": {"id": 42, "type": "private", "first_name": "Asha"},
        "from": {"id": 42, "is_bot": False, "first_name": "Asha"},
        "text": "hello",
    },
}
App = Application[Any, Any, Any, Any, Any, Any]


@pytest.fixture
def application() -> App:
    return ApplicationBuilder().token("123:abc").updater(None).build()


def handled_updates(application: App) -> list[Update]:
    """Every update the application's handlers get, from now on."""
    seen: list[Update] = []

    async def record(update: Update, _: object) -> None:
        seen.append(update)

    application.add_handler(TypeHandler(Update, record))
    return seen


def client(application: App, *, healthy: bool = True) -> httpx.AsyncClient:
    async def health() -> bool:
        return healthy

    app = web_app(
        application=application, webhook_path="/telegram", secret_token=SECRET, healthy=health
    )
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bot")


async def test_an_update_with_the_secret_is_handled_before_the_answer() -> None:
    async with FakeTelegram() as fake:
        application = (
            ApplicationBuilder().token(fake.token).base_url(fake.base_url).updater(None).build()
        )
        await _answered_after_handling(application)


async def _answered_after_handling(application: App) -> None:
    handled = handled_updates(application)
    await application.initialize()  # getMe, from the fake Bot API
    try:
        async with client(application) as http:
            response = await http.post("/telegram", json=UPDATE, headers={SECRET_HEADER: SECRET})
        assert response.status_code == 200
        # Handled, not merely queued: the next update of the chat comes after this answer.
        assert [update.update_id for update in handled] == [10]
        assert application.update_queue.empty()
    finally:
        await application.shutdown()


@pytest.mark.parametrize("headers", [{}, {SECRET_HEADER: "wrong"}, {SECRET_HEADER: ""}])
async def test_an_update_without_the_right_secret_is_refused(
    application: App, headers: dict[str, str]
) -> None:
    handled = handled_updates(application)
    async with client(application) as http:
        response = await http.post("/telegram", json=UPDATE, headers=headers)
    assert response.status_code == 403
    assert handled == []
    assert application.update_queue.empty()


async def test_a_body_that_is_not_an_update_is_refused(application: App) -> None:
    handled = handled_updates(application)
    async with client(application) as http:
        response = await http.post(
            "/telegram", content=b"{not json", headers={SECRET_HEADER: SECRET}
        )
    assert response.status_code == 400
    assert handled == []
    assert application.update_queue.empty()


@pytest.mark.parametrize(("healthy", "status"), [(True, 200), (False, 503)])
async def test_health_reflects_the_database(application: App, healthy: bool, status: int) -> None:
    async with client(application, healthy=healthy) as http:
        response = await http.get("/healthz")
    assert response.status_code == status
