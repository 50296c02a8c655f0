"""Rate limiting of outgoing calls: Telegram's flood limits count messages, not every call."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from telegram.ext import AIORateLimiter

__all__ = ["MessageRateLimiter"]

ApiResult = bool | dict[str, Any] | list[dict[str, Any]]

# Calls that put nothing new in a chat: holding them in the 30-per-second message budget made
# the bot serve a third of the users it can (each update answers a press, deletes a number,
# shows a typing indicator besides its one message).
UNCOUNTED = frozenset(
    {
        "answerCallbackQuery",
        "deleteMessage",
        "sendChatAction",
        "getUpdates",
        "getMe",
        "setWebhook",
        "deleteWebhook",
        "getWebhookInfo",
    }
)


class MessageRateLimiter(AIORateLimiter):
    """PTB's AIORateLimiter (limits and `retry_after`) for messages sent and edited only."""

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, ApiResult]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> ApiResult:
        """Send uncounted calls straight away; queue the rest under the message limits."""
        if endpoint in UNCOUNTED:
            return await callback(*args, **kwargs)
        return await super().process_request(
            callback, args, kwargs, endpoint, data, rate_limit_args
        )
