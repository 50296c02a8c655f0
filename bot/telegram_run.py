"""`kycbot run`: the Telegram bot, in polling or webhook mode, until SIGTERM or SIGINT.

Stopping is graceful: no new updates are taken, updates in flight finish (each stored step is
one transaction, so nothing is half-written), then connections close.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlparse

import uvicorn
from sqlalchemy import text
from starlette.routing import Mount
from telegram.error import Conflict, InvalidToken, TelegramError

from bot.alerts import ProviderAlerts
from bot.app import StartupError, Wiring, wired
from bot.config import Settings
from bot.config_sections import WebhookSettings, WebSettings
from bot.digilocker import Return
from bot.metrics import Metrics, Observers, metrics_endpoint
from bot.reload import config_reloading
from bot.retention_schedule import RetentionSchedule
from bot.sweeper import Sweeper
from bot.telegram_bot import CHANNEL, TelegramApp, build_application
from bot.telegram_channel import TelegramChannel
from bot.webapp import web_app
from flows import Event
from kyc import SimulatedSms
from storage import UserKey

__all__ = ["run_telegram"]

log = logging.getLogger(__name__)
ALLOWED_UPDATES = ["message", "edited_message", "callback_query"]
# SQLAlchemy then gives the abandoned connection up to 2 s to close: /healthz answers within
# 4 s, below the usual 5 s a load balancer's probe waits.
HEALTH_TIMEOUT_SECONDS = 2.0


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


async def run_telegram(settings: Settings, *, config: Path | None = None) -> None:
    """Run the bot until stopped; raise StartupError for a problem the operator must fix.

    `config` is the file the settings came from: its edits and SIGHUP reload them live.
    """
    if not settings.telegram.token.get_secret_value():
        raise StartupError("telegram.token: required to run the bot; set KYCBOT_TELEGRAM__TOKEN")
    async with wired(settings, on_sms=_print_sms) as wiring:
        metrics = Metrics() if settings.metrics.enabled else None
        application = build_application(settings, wiring.runner, metrics=metrics)
        runner = wiring.runner
        # Settings through a callable: they may be swapped while the bot runs.
        alerts = ProviderAlerts(
            settings=lambda: runner.settings.alerts, send=application.bot.send_message
        )
        runner.observer = alerts if metrics is None else Observers(metrics, alerts)
        try:
            await _initialize(application)
        except InvalidToken:
            raise StartupError("Telegram rejected the bot token (telegram.token)") from None
        except TelegramError as error:
            raise StartupError(f"cannot reach the Bot API: {type(error).__name__}") from None
        try:
            await _serve(settings, wiring, application, metrics, config)
        finally:
            await alerts.aclose()  # before the bot's connections close
            await application.shutdown()


async def _initialize(application: TelegramApp) -> None:
    """Initialize the application; if that fails, close the HTTP sessions it opened."""
    try:
        await application.initialize()
    except BaseException:
        # The bot opens its sessions before getMe checks the token, and PTB's shutdown skips
        # an application whose initialize failed: left open, aiohttp reports them at exit.
        await application.bot.shutdown()
        raise


async def _serve(
    settings: Settings,
    wiring: Wiring,
    application: TelegramApp,
    metrics: Metrics | None,
    config: Path | None,
) -> None:
    stop = _Stop()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.request)
    webhook = settings.telegram.mode == "webhook"
    # Bound before anything starts, so a busy port is a one-line start-up error. In polling
    # mode the web app runs only for DigiLocker's way back, on [web]'s address.
    listening = None
    if webhook:
        listening = _listen("telegram.webhook", settings.telegram.webhook)
    elif _web_app_needed(settings, wiring):
        listening = _listen("web", settings.web)

    def channel_for(user: UserKey) -> TelegramChannel:
        return TelegramChannel(application.bot, int(user.external_id))

    sweeper = Sweeper(
        runner=wiring.runner,
        database=wiring.database,
        channel=CHANNEL,
        channel_for=channel_for,
        interval_seconds=settings.flow.sweep_interval_seconds,
        swept=metrics.swept if metrics is not None else None,
    )
    runner = wiring.runner
    retention = RetentionSchedule(
        database=wiring.database, settings=lambda: runner.settings.retention
    )
    await application.start()
    sweeping = asyncio.create_task(sweeper.run(), name="sweeper")
    purging = asyncio.create_task(retention.run(), name="retention")
    server: _WebServer | None = None
    serving: asyncio.Task[None] | None = None
    try:
        if listening is not None:
            server = _web_server(settings, wiring, application, channel_for, metrics)
            serving = asyncio.create_task(server.serve(sockets=[listening]), name="web")
            await _until_started(server, serving)
        if webhook:
            await _register_webhook(settings, application)
        else:
            await _start_polling(application, stop)
        log.info("bot @%s is running (%s)", application.bot.username, settings.telegram.mode)
        # Started last and stopped first: a reload never races start-up or shutdown.
        async with config_reloading(config, wiring.runner):
            await stop.event.wait()
        log.info("stopping: finishing updates in flight")
    finally:
        if application.updater is not None and application.updater.running:
            await application.updater.stop()
        if server is not None and serving is not None:
            server.should_exit = True  # stop taking webhook calls first
            await serving
        await application.stop()  # the updates already taken are finished
        sweeper.stop()
        retention.stop()
        await sweeping
        await purging
    if stop.problem:
        raise StartupError(stop.problem)


def _web_app_needed(settings: Settings, wiring: Wiring) -> bool:
    """Whether polling mode runs the web app on [web]: only when something is served there."""
    return wiring.digilocker is not None or settings.metrics.enabled or settings.console.enabled


def _listen(section: str, where: WebhookSettings | WebSettings) -> socket.socket:
    try:
        family, kind, protocol, _, address = socket.getaddrinfo(
            where.listen, where.port, type=socket.SOCK_STREAM
        )[0]
        listening = socket.socket(family, kind, protocol)
        listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listening.bind(address)
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise StartupError(
            f"{section}: cannot listen on {where.listen}:{where.port}: {reason}"
        ) from None
    return listening


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


def _web_server(
    settings: Settings,
    wiring: Wiring,
    application: TelegramApp,
    channel_for: Callable[[UserKey], TelegramChannel],
    metrics: Metrics | None,
) -> _WebServer:
    webhook = settings.telegram.webhook

    unavailable = False  # logged when it changes, not on every probe of a load balancer

    async def healthy() -> bool:
        nonlocal unavailable
        try:
            # A hanging database (or a pool taken by hanging steps) must not hang the probe.
            async with asyncio.timeout(HEALTH_TIMEOUT_SECONDS), wiring.database.session() as s:
                await s.execute(text("SELECT 1"))
        except Exception as error:
            if not unavailable:
                log.warning("health check: database unavailable (%s)", type(error).__name__)
            unavailable = True
            return False
        if unavailable:
            log.info("health check: database available again")
        unavailable = False
        return True

    digilocker_return = None
    if wiring.digilocker is not None:
        calls = wiring.digilocker

        async def handle(user: UserKey, event: Event) -> None:
            if user.channel != CHANNEL:
                # A terminal user sharing this database: their chat cannot be reached here.
                log.warning("digilocker return for a %s user: not handled here", user.channel)
                return
            await wiring.runner.handle(user, event, channel_for(user))

        async def digilocker_return(state: str, code: str) -> Return:
            return await calls.come_back(state=state, code=code, handle=handle)

    app = web_app(
        application=application,
        webhook_path=(urlparse(webhook.url).path or "/")
        if settings.telegram.mode == "webhook"
        else None,
        secret_token=webhook.secret_token.get_secret_value(),
        healthy=healthy,
        digilocker=digilocker_return,
        metrics=None
        if metrics is None
        else metrics_endpoint(
            metrics, token=lambda: wiring.runner.settings.metrics.token.get_secret_value()
        ),
        console=_console(settings, wiring),
    )
    return _WebServer(uvicorn.Config(app, log_level="warning", lifespan="off"))


def _console(settings: Settings, wiring: Wiring) -> Mount | None:
    if not settings.console.enabled:
        return None
    # Imported only when used: Jinja2 and the templates cost a bot without a console memory.
    from bot.console import console_mount

    return console_mount(
        settings.console,
        database=wiring.database,
        zone=settings.zone(),
        public_url=settings.web.public_url,
    )


async def _until_started(server: _WebServer, serving: asyncio.Task[None]) -> None:
    while not server.started:
        if serving.done():
            raise StartupError("the web server stopped while starting")
        await asyncio.sleep(0.01)


async def _register_webhook(settings: Settings, application: TelegramApp) -> None:
    # Telegram is told about the webhook only once the web app takes calls.
    webhook = settings.telegram.webhook
    await application.bot.set_webhook(
        webhook.url,
        secret_token=webhook.secret_token.get_secret_value(),
        allowed_updates=ALLOWED_UPDATES,
    )
