"""`kycbot run`: the Telegram bot, in polling or webhook mode, until SIGTERM or SIGINT.

Stopping is graceful: no new updates are taken, updates in flight finish (each stored step is
one transaction, so nothing is half-written), then connections close.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Iterator
from urllib.parse import urlparse

import uvicorn
from sqlalchemy import text
from telegram.error import Conflict, InvalidToken, TelegramError

from bot.app import StartupError, Wiring, wired
from bot.config import Settings
from bot.sweeper import Sweeper
from bot.telegram_bot import CHANNEL, TelegramApp, build_application
from bot.telegram_channel import TelegramChannel
from bot.webapp import web_app
from kyc import SimulatedSms

__all__ = ["run_telegram"]

log = logging.getLogger(__name__)
ALLOWED_UPDATES = ["message", "callback_query"]


def _print_sms(sms: SimulatedSms) -> None:
    # The simulator's SMS goes where an SMS would: out of band, here the operator's console.
    print(sms.text(), flush=True)


class _WebServer(uvicorn.Server):
    """uvicorn without its own signal handling: SIGTERM and SIGINT belong to the bot's loop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class _Stop:
    """Why the bot stops: a signal (exit 0) or a fatal problem (exit 1, with a reason)."""

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.problem: str | None = None

    def request(self, problem: str | None = None) -> None:
        if problem and self.problem is None:
            self.problem = problem
        self.event.set()


async def run_telegram(settings: Settings) -> None:
    """Run the bot until stopped; raise StartupError for a problem the operator must fix."""
    if not settings.telegram.token.get_secret_value():
        raise StartupError("telegram.token: required to run the bot; set KYCBOT_TELEGRAM__TOKEN")
    async with wired(settings, on_sms=_print_sms) as wiring:
        application = build_application(settings, wiring.runner)
        try:
            await application.initialize()
        except InvalidToken:
            raise StartupError("Telegram rejected the bot token (telegram.token)") from None
        except TelegramError as error:
            raise StartupError(f"cannot reach the Bot API: {type(error).__name__}") from None
        try:
            await _serve(settings, wiring, application)
        finally:
            await application.shutdown()


async def _serve(settings: Settings, wiring: Wiring, application: TelegramApp) -> None:
    stop = _Stop()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.request)
    sweeper = Sweeper(
        runner=wiring.runner,
        database=wiring.database,
        channel=CHANNEL,
        channel_for=lambda user: TelegramChannel(application.bot, int(user.external_id)),
        interval_seconds=settings.flow.sweep_interval_seconds,
    )
    await application.start()
    tasks = [asyncio.create_task(sweeper.run(), name="sweeper")]
    server: uvicorn.Server | None = None
    try:
        if settings.telegram.mode == "webhook":
            server = await _start_webhook(settings, wiring, application, tasks)
        else:
            await _start_polling(application, stop)
        log.info("bot @%s is running (%s)", application.bot.username, settings.telegram.mode)
        await stop.event.wait()
        log.info("stopping: finishing updates in flight")
    finally:
        if server is not None:
            server.should_exit = True
        if application.updater is not None and application.updater.running:
            await application.updater.stop()
        await application.stop()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
    if stop.problem:
        raise StartupError(stop.problem)


async def _start_polling(application: TelegramApp, stop: _Stop) -> None:
    def on_polling_error(error: TelegramError) -> None:
        if isinstance(error, Conflict):
            stop.request(
                "another instance is polling with this bot token (409 Conflict from getUpdates); "
                "stop it, or run only one"
            )
        else:
            log.warning("polling: %s, retrying", type(error).__name__)

    assert application.updater is not None
    await application.updater.start_polling(
        allowed_updates=ALLOWED_UPDATES, error_callback=on_polling_error
    )


async def _start_webhook(
    settings: Settings, wiring: Wiring, application: TelegramApp, tasks: list[asyncio.Task[None]]
) -> uvicorn.Server:
    webhook = settings.telegram.webhook
    secret = webhook.secret_token.get_secret_value()

    async def healthy() -> bool:
        try:
            async with wiring.database.session() as session:
                await session.execute(text("SELECT 1"))
        except Exception as error:
            log.warning("health check: database unavailable (%s)", type(error).__name__)
            return False
        return True

    app = web_app(
        application=application,
        webhook_path=urlparse(webhook.url).path or "/",
        secret_token=secret,
        healthy=healthy,
    )
    config = uvicorn.Config(
        app, host=webhook.listen, port=webhook.port, log_level="warning", lifespan="off"
    )
    server = _WebServer(config)
    tasks.append(asyncio.create_task(server.serve(), name="web"))
    await application.bot.set_webhook(
        webhook.url, secret_token=secret, allowed_updates=ALLOWED_UPDATES
    )
    return server
