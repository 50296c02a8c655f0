"""The bot's web app: the Telegram webhook, a health check, and DigiLocker's way back.

The webhook accepts an update only with the configured X-Telegram-Bot-Api-Secret-Token; anything
else gets 403 and is not processed. `GET /digilocker` is where DigiLocker sends the user back
with `code` and `state`: the page only says what happened; the result comes in the chat.
"""

from __future__ import annotations

import hmac
import html
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from telegram import Update
from telegram.ext import Application

from bot.digilocker import RETURN_PATH, Return

__all__ = ["SECRET_HEADER", "DigiLockerReturn", "web_app"]

log = logging.getLogger(__name__)
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 (a header name)
HealthCheck = Callable[[], Awaitable[bool]]
# (state, code) -> what became of it; see bot.digilocker.DigiLockerCalls.come_back
DigiLockerReturn = Callable[[str, str], Awaitable[Return]]
Endpoint = Callable[[Request], Awaitable[Response]]
_PAGES: dict[Return, tuple[int, str, str]] = {
    Return.ACCEPTED: (
        200,
        "DigiLocker sign-in received",
        "Thank you. Go back to the chat: the bot tells you there whether the verification "
        "is complete.",
    ),
    Return.DECLINED: (
        200,
        "DigiLocker access not given",
        "Nothing was shared. Go back to the chat and choose how to verify again.",
    ),
    Return.UNKNOWN: (
        400,
        "This link cannot be used",
        "It has expired or has already been used. Go back to the chat and ask for a new "
        "DigiLocker link.",
    ),
}


def web_app(
    *,
    application: Application[Any, Any, Any, Any, Any, Any],
    webhook_path: str | None,
    secret_token: str,
    healthy: HealthCheck,
    digilocker: DigiLockerReturn | None = None,
    metrics: Endpoint | None = None,
    console: Mount | None = None,
) -> Starlette:
    """The webhook (unless `webhook_path` is None), health, DigiLocker's way back, metrics."""

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
        # Answered only once handled, not merely queued: Telegram sends a chat's next update
        # after the answer to the previous one, so with several replicas behind a load
        # balancer a user's updates are still handled in order. Through the update processor:
        # the same bound and per-user order as polling. Handler errors go to the error handler.
        processor = application.update_processor
        await processor.process_update(update, application.process_update(update))
        return Response(status_code=200)

    async def health(_: Request) -> Response:
        ok = await healthy()
        return JSONResponse({"status": "ok" if ok else "unhealthy"}, status_code=200 if ok else 503)

    async def digilocker_return(request: Request) -> Response:
        assert digilocker is not None
        query = request.query_params
        try:
            outcome = await digilocker(query.get("state", ""), query.get("code", ""))
        except Exception as error:
            # Never the query in the log: the code and the state are credentials.
            log.error("digilocker return failed: %s", type(error).__name__)
            return _page(
                503,
                "Please try again",
                "Something went wrong on our side. Go back "
                "to the chat and ask for a new DigiLocker link.",
            )
        return _page(*_PAGES[outcome])

    routes: list[BaseRoute] = [Route("/healthz", health, methods=["GET"])]
    if webhook_path is not None:
        routes.append(Route(webhook_path, telegram_update, methods=["POST"]))
    if digilocker is not None:
        routes.append(Route(RETURN_PATH, digilocker_return, methods=["GET"]))
    if metrics is not None:
        routes.append(Route("/metrics", metrics, methods=["GET"]))  # see bot.metrics
    if console is not None:
        routes.append(console)  # see bot.console: the support console, behind its sign-in
    return Starlette(routes=routes)


def _page(status: int, title: str, text: str) -> HTMLResponse:
    body = (
        "<!doctype html><html lang=en><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title>"
        f"<h1>{html.escape(title)}</h1><p>{html.escape(text)}</p></html>"
    )
    # The URL holds a code and a state: no referrer, no caching.
    headers = {"Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}
    return HTMLResponse(body, status_code=status, headers=headers)
