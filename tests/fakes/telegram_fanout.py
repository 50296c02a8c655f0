"""Webhook delivery to several bot replicas, as Telegram does it in front of a load balancer.

With `fake.webhook_targets` set, the fake posts each update to the next of those URLs in turn
(round-robin, as a load balancer would) instead of the registered webhook URL, and it uses up
to the webhook's `max_connections` connections at once, like Telegram: updates of different
chats go out in parallel, while a chat's next update waits for the answer to its previous one.
A chat in `fake.unordered_chats` gets no such wait: its updates may be in flight together, as
nothing in the Bot API promises otherwise; tests use it to race one user's updates.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import httpx

from tests.fakes.telegram_objects import JsonDict, now

if TYPE_CHECKING:
    from tests.fakes.telegram import FakeTelegram  # which imports this module

__all__ = ["chat_of", "deliver_round_robin"]


def chat_of(update: JsonDict) -> int | None:
    """The chat an update belongs to (None for a kind the fake does not know)."""
    for kind in ("message", "edited_message"):
        if isinstance(update.get(kind), dict):
            return int(update[kind]["chat"]["id"])
    query = update.get("callback_query")
    if isinstance(query, dict):
        message = query.get("message")
        return int(message["chat"]["id"] if message else query["from"]["id"])
    return None


@dataclass
class _InFlight:
    """The deliveries under way, and how often each update was tried."""

    tasks: dict[int, asyncio.Task[None]]
    chats: set[int]
    attempts: dict[int, int]


async def deliver_round_robin(fake: FakeTelegram, client: httpx.AsyncClient) -> None:
    """Deliver queued updates to `fake.webhook_targets` until the fake closes or they are unset."""
    flight = _InFlight(tasks={}, chats=set(), attempts={})
    targets = itertools.count()
    try:
        while not fake._closing and fake.webhook_targets:
            hook = fake.webhook
            if hook is not None:
                for update in _ready(fake, flight, hook.max_connections):
                    target = fake.webhook_targets[next(targets) % len(fake.webhook_targets)]
                    update_id = int(update["update_id"])
                    chat = chat_of(update)
                    if chat is not None and chat not in fake.unordered_chats:
                        flight.chats.add(chat)
                    flight.tasks[update_id] = asyncio.create_task(
                        _deliver(fake, client, flight, update, target),
                        name=f"fake-webhook-{update_id}",
                    )
            await fake._wait_changed(None)
    finally:
        for task in flight.tasks.values():
            task.cancel()
        for task in list(flight.tasks.values()):
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _ready(fake: FakeTelegram, flight: _InFlight, limit: int) -> list[JsonDict]:
    """The queued updates that may go out now, oldest first."""
    ready: list[JsonDict] = []
    waiting: set[int] = set(flight.chats)  # a chat with an update in flight or held back
    for update in fake._updates:
        if len(flight.tasks) + len(ready) >= limit:
            break
        if int(update["update_id"]) in flight.tasks:
            continue
        chat = chat_of(update)
        ordered = chat is not None and chat not in fake.unordered_chats
        if ordered and chat in waiting:
            continue
        if ordered and chat is not None:
            waiting.add(chat)
        ready.append(update)
    return ready


async def _deliver(
    fake: FakeTelegram,
    client: httpx.AsyncClient,
    flight: _InFlight,
    update: JsonDict,
    target: str,
) -> None:
    update_id = int(update["update_id"])
    hook = fake.webhook
    try:
        if hook is None:
            return
        delivery = await fake._post_update(client, replace(hook, url=target), update)
        fake.webhook_deliveries.append(replace(delivery, chat_id=chat_of(update)))
        attempts = flight.attempts.get(update_id, 0) + 1
        flight.attempts[update_id] = attempts
        if not delivery.ok:
            hook.last_error_date = now()
            hook.last_error_message = delivery.error
            await asyncio.sleep(fake.webhook_retry_delay)  # the chat waits meanwhile
        if (delivery.ok or attempts >= fake.webhook_max_attempts) and update in fake._updates:
            fake._updates.remove(update)
    finally:
        del flight.tasks[update_id]
        chat = chat_of(update)
        flight.chats.discard(chat if chat is not None else 0)
        fake._notify()
