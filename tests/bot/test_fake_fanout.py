"""The fake Bot API's webhook fan-out: round-robin over replicas, each chat in order.

Two recording endpoints stand in for two bot replicas; one holds its answers until the test
releases them, so what the fake sends meanwhile shows whether a chat waits for its answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from telegram import Bot

from tests.fakes.telegram import FakeTelegram, LoopbackServer


class Replica:
    """A webhook endpoint that records the chat of each update and answers when released."""

    def __init__(self) -> None:
        self.chats: list[int] = []
        self.released = asyncio.Event()
        self.app = Starlette(routes=[Route("/telegram", self.hook, methods=["POST"])])

    async def hook(self, request: Request) -> Response:
        update = await request.json()
        self.chats.append(int(update["message"]["chat"]["id"]))
        await self.released.wait()
        return Response(status_code=200)


@pytest.fixture
async def fake(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeTelegram]:
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(name, "127.0.0.1,localhost")
    async with FakeTelegram() as telegram:
        yield telegram


async def test_updates_alternate_replicas_and_a_chat_waits_for_its_answer(
    fake: FakeTelegram,
) -> None:
    first, second = Replica(), Replica()
    async with LoopbackServer(first.app) as one, LoopbackServer(second.app) as two:
        fake.webhook_targets = [f"{one.url}/telegram", f"{two.url}/telegram"]
        async with Bot(fake.token, base_url=fake.base_url) as bot:
            await bot.set_webhook("https://kyc.example.com/telegram")
        for text in ("a1", "a2"):
            fake.send_text(501, text)
        fake.send_text(502, "b1")
        fake.unordered_chats.add(503)
        for text in ("c1", "c2"):
            fake.send_text(503, text)
        # Held: 501's first update, 502's and both of 503's (which need not wait) are out;
        # 501's second waits for the answer to its first.
        await fake.wait_until(lambda: len(first.chats) + len(second.chats) == 4, 5)
        # Targets go in queue order; arrivals over two connections may swap.
        assert (sorted(first.chats), sorted(second.chats)) == ([501, 503], [502, 503])
        await asyncio.sleep(0.2)
        assert len(first.chats) + len(second.chats) == 4, "a chat's update overtook its answer"
        first.released.set()
        second.released.set()
        await fake.wait_for_empty_queue(timeout=5)
    # Round-robin over all updates, as a load balancer does: the fifth goes to the first.
    assert (sorted(first.chats), sorted(second.chats)) == ([501, 501, 503], [502, 503])
    assert first.chats[-1] == 501, "501's second update went out before its first was answered"
    assert [d.chat_id for d in fake.webhook_deliveries].count(501) == 2
    assert all(delivery.ok for delivery in fake.webhook_deliveries)
