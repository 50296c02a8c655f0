"""A fake Telegram: a real Bot API server on 127.0.0.1 that records what a bot does.

The bot under test (a `kycbot run` process or an in-test PTB `Application`) talks HTTP to
`fake.base_url`; the test plays the users:

    async with FakeTelegram() as fake:
        bot = start_bot(token=fake.token, base_url=fake.base_url)
        fake.send_text(1001, "/start")
        welcome = await fake.wait_for_message(1001, "consent")
        fake.press(1001, welcome.message_id, welcome.data_for("I agree"))
        await fake.wait_for_message(1001, "Aadhaar number")
        assert fake.chat(1001).last.protect_content
        await bot.stop()  # before the fake: PTB's updater.stop makes one last getUpdates

Every wait raises AssertionError on timeout with the chats and the last calls in it. Updates
are queued until a getUpdates with a higher offset confirms them, or the webhook (after
setWebhook) answers 2xx; `webhook_targets` spreads them over several replicas
(telegram_fanout.py). Fault switches: `conflict`, `delete_fails`, `blocked`, `flood()`,
`fail_next()`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import replace
from http import HTTPStatus
from types import TracebackType
from typing import TypeVar

import httpx

from tests.fakes.telegram_fanout import deliver_round_robin
from tests.fakes.telegram_objects import (
    BOT_ID,
    BOT_USER,
    DEFAULT_TOKEN,
    Button,
    JsonDict,
    now,
)
from tests.fakes.telegram_records import (
    AnsweredCallback,
    Call,
    ChatView,
    SentMessage,
    UserMessage,
    WebhookDelivery,
)
from tests.fakes.telegram_server import LoopbackServer
from tests.fakes.telegram_state import Webhook
from tests.fakes.telegram_users import TelegramUsers

__all__ = [
    "BOT_ID",
    "BOT_USER",
    "DEFAULT_TOKEN",
    "AnsweredCallback",
    "Button",
    "Call",
    "ChatView",
    "FakeTelegram",
    "LoopbackServer",
    "SentMessage",
    "UserMessage",
    "WebhookDelivery",
]

T = TypeVar("T")
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


class FakeTelegram(TelegramUsers):
    """The Bot API on a loopback port, with users a test can type and press buttons as."""

    def __init__(self, *, token: str = DEFAULT_TOKEN) -> None:
        super().__init__(token=token)
        self.webhook_retry_delay = 0.1
        self.webhook_max_attempts = 5  # then Telegram gives up on the update
        # Several replicas behind a load balancer: see telegram_fanout.py.
        self.webhook_targets: list[str] = []
        self.unordered_chats: set[int] = set()
        self._server = LoopbackServer(self.app)
        self._delivery: asyncio.Task[None] | None = None
        self._calls_read: dict[str, int] = {}

    # -- lifecycle --------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """What PTB's `base_url` takes: http://127.0.0.1:PORT/bot (PTB appends the token)."""
        return f"{self._server.url}/bot"

    @property
    def port(self) -> int:
        """The port the fake listens on."""
        return self._server.port

    async def start(self) -> None:
        """Serve on a free port; returns once connections are accepted."""
        await self._server.start()
        self._delivery = asyncio.create_task(self._deliver_forever(), name="fake-webhook")

    async def stop(self) -> None:
        """End waiting getUpdates, stop the webhook and the server; fail on bugs of the fake."""
        await self._shut_down()
        if self.internal_errors:
            raise AssertionError(f"the fake Bot API failed: {self.internal_errors!r}")

    async def _shut_down(self) -> None:
        self._closing = True
        self._notify()
        if self._delivery is not None:
            self._delivery.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._delivery
        await self._server.stop()

    async def __aenter__(self) -> FakeTelegram:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc is None:
            await self.stop()
        else:  # the test's own failure says more than a bug of the fake would
            await self._shut_down()

    # -- waiting ----------------------------------------------------------------------------

    async def _wait_for(
        self, find: Callable[[], T | None], seconds: float, what: str, chat_id: int | None
    ) -> T:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while (found := find()) is None:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(
                    f"timed out after {seconds:g}s waiting for {what}\n{self.report(chat_id)}"
                )
            # Changes of the fake wake us at once; a predicate on other state needs polling.
            await self._wait_changed(min(remaining, 0.05))
        return found

    async def wait_for_message(
        self,
        chat_id: int,
        containing: str | None = None,
        *,
        timeout: float = 10.0,  # noqa: ASYNC109
    ) -> SentMessage:
        """The bot's next message in the chat that no earlier wait returned, as it is now.

        With `containing`, the first such message whose text (as sent or edited since)
        contains it; the messages skipped over count as read too.
        """

        def find() -> SentMessage | None:
            chat = self._chats.get(chat_id)
            if chat is None:
                return None
            messages = list(chat.bot.values())
            for index in range(chat.messages_read, len(messages)):
                message = messages[index]
                if containing is None or any(containing in v.text for v in message.versions):
                    chat.messages_read = index + 1
                    return message.current
            return None

        what = "a bot message" + (f" containing {containing!r}" if containing else "")
        return await self._wait_for(find, timeout, f"{what} in chat {chat_id}", chat_id)

    async def wait_for_edit(
        self,
        chat_id: int,
        message_id: int,
        containing: str | None = None,
        *,
        timeout: float = 10.0,  # noqa: ASYNC109
    ) -> SentMessage:
        """The next edit of the bot's message that no earlier wait returned.

        With `containing`, the first such edit whose text contains it.
        """

        def find() -> SentMessage | None:
            chat = self._chats.get(chat_id)
            message = None if chat is None else chat.bot.get(message_id)
            if message is None:
                return None
            edits = message.versions[1:]
            for index in range(message.edits_read, len(edits)):
                if containing is None or containing in edits[index].text:
                    message.edits_read = index + 1
                    return replace(edits[index], deleted=message.deleted)
            return None

        what = f"an edit of #{message_id}" + (f" containing {containing!r}" if containing else "")
        return await self._wait_for(find, timeout, f"{what} in chat {chat_id}", chat_id)

    async def wait_for_call(self, method: str, *, timeout: float = 10.0) -> Call:  # noqa: ASYNC109
        """The next call of `method` (any case) not returned by an earlier wait."""
        key = method.lower()

        def find() -> Call | None:
            for index in range(self._calls_read.get(key, 0), len(self.calls)):
                if self.calls[index].method.lower() == key:
                    self._calls_read[key] = index + 1
                    return self.calls[index]
            return None

        return await self._wait_for(find, timeout, f"a call of {method}", None)

    async def wait_until(
        self,
        predicate: Callable[[], bool],
        timeout: float = 10.0,  # noqa: ASYNC109
        *,
        what: str = "the condition",
        chat_id: int | None = None,
    ) -> None:
        """Return once `predicate()` holds; it is rechecked after every change of the fake."""
        await self._wait_for(lambda: True if predicate() else None, timeout, what, chat_id)

    async def wait_for_empty_queue(self, *, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Return once every queued update was confirmed or delivered (not: handled)."""
        await self.wait_until(lambda: not self._updates, timeout, what="the updates to be fetched")

    # -- webhook ----------------------------------------------------------------------------

    async def _deliver_forever(self) -> None:
        """POST queued updates to the webhook one at a time, in order, as Telegram does."""
        async with httpx.AsyncClient(trust_env=False, timeout=10.0) as client:
            retried: JsonDict | None = None  # the update the attempts count for
            attempts = 0
            while not self._closing:
                if self.webhook_targets:
                    await deliver_round_robin(self, client)
                    continue
                hook = self.webhook
                if hook is None or not self._updates:
                    await self._wait_changed(None)
                    continue
                update = self._updates[0]
                if update is not retried:
                    retried, attempts = update, 0
                delivery = await self._post_update(client, hook, update)
                self.webhook_deliveries.append(delivery)
                attempts += 1
                if not delivery.ok:
                    hook.last_error_date = now()
                    hook.last_error_message = delivery.error
                if (delivery.ok or attempts >= self.webhook_max_attempts) and (
                    self._updates and self._updates[0] is update
                ):
                    self._updates.pop(0)
                self._notify()
                if not delivery.ok:
                    await asyncio.sleep(self.webhook_retry_delay)

    async def _post_update(
        self, client: httpx.AsyncClient, hook: Webhook, update: JsonDict
    ) -> WebhookDelivery:
        headers = {SECRET_HEADER: hook.secret_token} if hook.secret_token else {}
        secret, update_id = hook.secret_token, int(update["update_id"])
        try:
            response = await client.post(hook.url, json=update, headers=headers)
        except httpx.HTTPError as error:
            reason = f"{type(error).__name__}: {error}"
            return WebhookDelivery(update_id, hook.url, secret, None, reason)
        status = response.status_code
        if 200 <= status <= 299:
            return WebhookDelivery(update_id, hook.url, secret, status)
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "Unknown"
        reason = f"Wrong response from the webhook: {status} {phrase}"
        return WebhookDelivery(update_id, hook.url, secret, status, reason)
