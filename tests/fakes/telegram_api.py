"""The Bot API over HTTP, answered from an in-memory Telegram: updates, polling, webhook.

`BotApi` is the core of `FakeTelegram` (telegram.py): `BotMessages` (telegram_messages.py)
adds the message methods, `TelegramUsers` (telegram_users.py) the users. It answers with
Telegram's status codes and descriptions, because PTB maps the status to an exception (400
BadRequest, 401/404 InvalidToken, 409 Conflict, any `retry_after` RetryAfter).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.telegram_objects import (
    BOT_USER,
    CONFLICT_POLLING,
    CONFLICT_WEBHOOK,
    DEFAULT_TOKEN,
    ApiError,
    JsonDict,
)
from tests.fakes.telegram_records import AnsweredCallback, Call, ChatView, WebhookDelivery
from tests.fakes.telegram_state import (
    CallbackQuery,
    ChatState,
    Fault,
    Webhook,
    number_param,
    read_params,
    str_param,
)

Handler = Callable[[JsonDict], Awaitable[Any]]


class BotApi:
    """An in-memory Telegram answering the Bot API over Starlette."""

    def __init__(self, *, token: str = DEFAULT_TOKEN) -> None:
        self.token = token
        self.calls: list[Call] = []
        self.answered_callbacks: list[AnsweredCallback] = []
        self.deleted_messages: list[tuple[int, int]] = []  # (chat_id, message_id)
        self.webhook_deliveries: list[WebhookDelivery] = []
        self.internal_errors: list[BaseException] = []
        self.conflict = False
        self.delete_fails = False
        self.blocked: set[int] = set()  # users who blocked the bot: sends answer 403
        self.webhook: Webhook | None = None
        self.faults: list[Fault] = []
        self._updates: list[JsonDict] = []  # not yet confirmed by an offset or a delivery
        self._next_update_id = 1
        self._chats: dict[int, ChatState] = {}
        self._callbacks: dict[str, CallbackQuery] = {}
        self._poll_generation = 0
        self._closing = False
        self._changed = asyncio.Event()
        self._methods: dict[str, Handler] = {
            "getme": self._get_me,
            "getupdates": self._get_updates,
            "setwebhook": self._set_webhook,
            "deletewebhook": self._delete_webhook,
            "getwebhookinfo": self._get_webhook_info,
        }
        self.app = Starlette(
            routes=[
                Route("/bot{token}/{method}", self._endpoint, methods=["GET", "POST"]),
                Route("/{path:path}", self._not_found, methods=["GET", "POST"]),
            ]
        )

    # -- waiting ----------------------------------------------------------------------------

    def _notify(self) -> None:
        """Wake everything waiting for a change (pollers, the webhook, test waits)."""
        self._changed.set()
        self._changed = asyncio.Event()

    async def _wait_changed(self, seconds: float | None) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), seconds)

    # -- HTTP -------------------------------------------------------------------------------

    async def _not_found(self, request: Request) -> Response:
        return JSONResponse(ApiError(404, "Not Found").body(), status_code=404)

    async def _endpoint(self, request: Request) -> Response:
        method: str = request.path_params["method"]
        params: JsonDict = {}
        try:
            params = await read_params(request)
            if request.path_params["token"] != self.token:
                raise ApiError(401, "Unauthorized")
            handler = self._methods.get(method.lower())
            if handler is None:
                raise ApiError(404, "Not Found")
            self._raise_fault(method)
            result = await handler(params)
        except ApiError as error:
            self._record(Call(method, params, error.status, error.description))
            return JSONResponse(error.body(), status_code=error.status)
        except Exception as error:  # a bug of the fake: stop() fails the test with it
            self.internal_errors.append(error)
            self._record(Call(method, params, 500, repr(error)))
            body = ApiError(500, f"Internal Server Error: {error!r}").body()
            return JSONResponse(body, status_code=500)
        self._record(Call(method, params))
        return JSONResponse({"ok": True, "result": result})

    def _record(self, call: Call) -> None:
        self.calls.append(replace(call, at=asyncio.get_running_loop().time()))
        self._notify()

    def _raise_fault(self, method: str) -> None:
        for fault in self.faults:
            if fault.method == method.lower():
                fault.times -= 1
                if fault.times <= 0:
                    self.faults.remove(fault)
                raise fault.error

    # -- updates ----------------------------------------------------------------------------

    def _confirm(self, offset: int) -> None:
        if offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        elif offset < 0:
            self._updates = self._updates[offset:]

    async def _get_me(self, params: JsonDict) -> JsonDict:
        return BOT_USER

    async def _get_updates(self, params: JsonDict) -> list[JsonDict]:
        if self.conflict:
            raise ApiError(409, CONFLICT_POLLING)
        if self.webhook is not None:
            raise ApiError(409, CONFLICT_WEBHOOK)
        self._confirm(int(number_param(params, "offset", 0)))
        limit = min(max(int(number_param(params, "limit", 100)), 1), 100)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + number_param(params, "timeout", 0)
        # As in Telegram, a newer getUpdates ends a waiting one with 409.
        self._poll_generation += 1
        generation = self._poll_generation
        self._notify()
        while True:
            if generation != self._poll_generation or self.conflict:
                raise ApiError(409, CONFLICT_POLLING)
            batch = self._updates[:limit]
            remaining = deadline - loop.time()
            if batch or self._closing or remaining <= 0:
                return batch
            await self._wait_changed(remaining)

    async def _set_webhook(self, params: JsonDict) -> bool:
        url = str_param(params, "url") or ""
        if not url:
            return await self._delete_webhook(params)
        if params.get("drop_pending_updates") is True:
            self._updates.clear()
        self.webhook = Webhook(
            url=url,
            secret_token=str_param(params, "secret_token"),
            max_connections=int(number_param(params, "max_connections", 40)),
            allowed_updates=params.get("allowed_updates"),
        )
        self._notify()
        return True

    async def _delete_webhook(self, params: JsonDict) -> bool:
        if params.get("drop_pending_updates") is True:
            self._updates.clear()
        self.webhook = None
        self._notify()
        return True

    async def _get_webhook_info(self, params: JsonDict) -> JsonDict:
        info: JsonDict = {
            "url": "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }
        hook = self.webhook
        if hook is not None:
            info.update(url=hook.url, max_connections=hook.max_connections)
            if hook.allowed_updates is not None:
                info["allowed_updates"] = hook.allowed_updates
            if hook.last_error_date is not None:
                info["last_error_date"] = hook.last_error_date
                info["last_error_message"] = hook.last_error_message
        return info

    # -- what a test reads ------------------------------------------------------------------

    def chat(self, chat_id: int) -> ChatView:
        """The chat as the user sees it (a snapshot); an empty one if nothing happened yet."""
        chat = self._chats.get(chat_id)
        if chat is None:
            return ChatView(chat_id, (), (), (), ())
        return chat.view()

    def calls_to(self, method: str) -> list[Call]:
        """The calls of `method` (any case), oldest first."""
        return [call for call in self.calls if call.method.lower() == method.lower()]

    @property
    def pending_updates(self) -> int:
        """Updates not yet confirmed by getUpdates' offset nor delivered to the webhook."""
        return len(self._updates)

    def report(self, chat_id: int | None = None) -> str:
        """What the fake saw: the chat (or every chat), the last calls, the update queue."""
        chats = (
            [self.chat(chat_id)]
            if chat_id is not None
            else [c.view() for c in self._chats.values()]
        )
        lines = [str(chat) for chat in chats] or ["(no chats)"]
        calls = [c for c in self.calls if not (c.ok and c.method.lower() == "getupdates")]
        lines.append(f"last calls ({len(calls)} besides successful getUpdates):")
        lines += [f"  {call.describe()}" for call in calls[-12:]] or ["  (none)"]
        hook = f"webhook {self.webhook.url}" if self.webhook else "no webhook"
        lines.append(f"{len(self._updates)} pending update(s); {hook}")
        return "\n".join(lines)
