"""The bot's web app: the Telegram webhook and a health check (later: DigiLocker, support pages).

The webhook accepts an update only with the configured X-Telegram-Bot-Api-Secret-Token; anything
else gets 403 and is not processed.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from telegram import Update
from telegram.ext import Application

__all__ = ["SECRET_HEADER", "web_app"]

log = logging.getLogger(__name__)
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 (a header name)
HealthCheck = Callable[[], Awaitable[bool]]


def web_app(
    *,
    application: Application[Any, Any, Any, Any, Any, Any],
    webhook_path: str,
    secret_token: str,
    healthy: HealthCheck,
) -> Starlette:
    """A Starlette app that queues verified Telegram updates and reports health."""

    async def telegram_update(request: Request) -> Response:
        given = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), secret_token.encode()):
            log.warning("webhook call refused: %s secret token", "wrong" if given else "no")
            return PlainTextResponse("forbidden", status_code=403)
        try:
            update = Update.de_json(await request.json(), application.bot)
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
            log.warning("webhook body refused: %s", type(error).__name__)
            return PlainTextResponse("bad request", status_code=400)
        await application.update_queue.put(update)
        return Response(status_code=200)

    async def health(_: Request) -> Response:
        ok = await healthy()
        return JSONResponse({"status": "ok" if ok else "unhealthy"}, status_code=200 if ok else 503)

    return Starlette(
        routes=[
            Route(webhook_path, telegram_update, methods=["POST"]),
            Route("/healthz", health, methods=["GET"]),
        ]
    )
