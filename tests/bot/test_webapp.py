"""The web app in front of the webhook: only Telegram, proven by the secret, gets in."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from telegram import Update
from telegram.ext import Application, ApplicationBuilder

from bot.webapp import SECRET_HEADER, web_app

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


def client(application: App, *, healthy: bool = True) -> httpx.AsyncClient:
    async def health() -> bool:
        return healthy

    app = web_app(
        application=application, webhook_path="/telegram", secret_token=SECRET, healthy=health
    )
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bot")


async def test_an_update_with_the_secret_is_queued(application: App) -> None:
    async with client(application) as http:
        response = await http.post("/telegram", json=UPDATE, headers={SECRET_HEADER: SECRET})
    assert response.status_code == 200
    queued = application.update_queue.get_nowait()
    assert isinstance(queued, Update)
    assert queued.update_id == 10


@pytest.mark.parametrize("headers", [{}, {SECRET_HEADER: "wrong"}, {SECRET_HEADER: ""}])
async def test_an_update_without_the_right_secret_is_refused(
    application: App, headers: dict[str, str]
) -> None:
    async with client(application) as http:
        response = await http.post("/telegram", json=UPDATE, headers=headers)
    assert response.status_code == 403
    assert application.update_queue.empty()


async def test_a_body_that_is_not_an_update_is_refused(application: App) -> None:
    async with client(application) as http:
        response = await http.post(
            "/telegram", content=b"{not json", headers={SECRET_HEADER: SECRET}
        )
    assert response.status_code == 400
    assert application.update_queue.empty()


@pytest.mark.parametrize(("healthy", "status"), [(True, 200), (False, 503)])
async def test_health_reflects_the_database(application: App, healthy: bool, status: int) -> None:
    async with client(application, healthy=healthy) as http:
        response = await http.get("/healthz")
    assert response.status_code == status
