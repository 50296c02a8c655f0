"""The python-telegram-bot Application: thin handlers that turn updates into flow events.

No conversation state lives here or in PTB: each handler maps the update to an event and hands
it to the runner, which reads and writes the database row. Updates of one user are processed
one after another (`PerUserUpdateProcessor`); different users in parallel, up to a bound.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    BaseUpdateProcessor,
    CallbackQueryHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot.commands import command_event, command_name
from bot.config import Settings
from bot.language import LANGUAGE_COMMAND, LanguageMenu, client_language, parse_language_callback
from bot.language_telegram import answer_language_press, ask_language
from bot.locks import KeyedLocks
from bot.metrics import Metrics
from bot.rate_limit import MessageRateLimiter
from bot.render import PARAGRAPH
from bot.runner import Runner
from bot.telegram_channel import TelegramChannel, parse_callback_data
from bot.telegram_request import AiohttpRequest
from flows import (
    ButtonExpired,
    Event,
    Line,
    PromptKey,
    TextSent,
    UnsupportedMessageSent,
    event_for_button,
    looks_sensitive,
)
from storage import UserKey

__all__ = ["CHANNEL", "PerUserUpdateProcessor", "build_application", "user_key"]

log = logging.getLogger(__name__)
CHANNEL = "telegram"
TelegramApp = Application[Any, Any, Any, Any, Any, Any]


def user_key(user_id: int) -> UserKey:
    """The storage key of a Telegram user."""
    return UserKey(channel=CHANNEL, external_id=str(user_id))


class PerUserUpdateProcessor(BaseUpdateProcessor):
    """Runs updates of different users concurrently and each user's updates in arrival order."""

    def __init__(self, max_concurrent_updates: int) -> None:
        super().__init__(max_concurrent_updates)
        self._locks = KeyedLocks()

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        """Wait for this user's earlier updates, then process this one."""
        key = _ordering_key(update)
        async with self._locks.hold(key):
            await coroutine

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to tear down."""


def _ordering_key(update: object) -> object:
    if isinstance(update, Update):
        if update.effective_user is not None:
            return ("user", update.effective_user.id)
        if update.effective_chat is not None:
            return ("chat", update.effective_chat.id)
    return ("other", id(update))


class Handlers:
    """The handlers, bound to one runner."""

    def __init__(self, runner: Runner) -> None:
        self._runner = runner
        self._languages = LanguageMenu(
            settings=lambda: runner.settings, database=runner.database, vault=runner.vault
        )

    async def message(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A private message: a command, text, or anything else."""
        message, user = update.effective_message, update.effective_user
        if message is None or user is None:
            return
        if message.text is not None and command_name(message.text) == LANGUAGE_COMMAND:
            await ask_language(
                self._languages, context.bot, message.chat_id, user_key(user.id), user
            )
            return
        event: Event
        if message.text is not None:
            event = command_event(message.text) or TextSent(message.text)
        else:
            event = UnsupportedMessageSent(caption=message.caption or "")
        channel = TelegramChannel(context.bot, message.chat_id, user_message_id=message.message_id)
        language = client_language(self._runner.settings, user.language_code)
        await self._runner.handle(user_key(user.id), event, channel, client_language=language)

    async def button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A button press on one of the bot's messages."""
        query, user = update.callback_query, update.effective_user
        if query is None or user is None:
            return
        picked = parse_language_callback(query.data)
        if picked is not None:
            await answer_language_press(
                self._languages, context.bot, query, user_key(user.id), picked
            )
            return
        chat_id = query.message.chat.id if query.message is not None else user.id
        channel = TelegramChannel(context.bot, chat_id, pressed=query)
        parsed = parse_callback_data(query.data)
        language = client_language(self._runner.settings, user.language_code)
        if parsed is None:
            await self._runner.handle(
                user_key(user.id), ButtonExpired(), channel, client_language=language
            )
        else:
            action, step = parsed
            event = event_for_button(action)
            await self._runner.handle(
                user_key(user.id), event, channel, pressed_at=step, client_language=language
            )
        await channel.acknowledge()

    async def edited(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """An edited private message: the edit may have put a number in it, so hide it."""
        message = update.effective_message
        if message is None or not looks_sensitive(message.text or message.caption or ""):
            return
        try:
            await message.delete()
        except TelegramError as error:
            log.warning("could not delete an edited message: %s", type(error).__name__)

    async def group(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """In a group: never verify; hide anything number-like and point to a private chat."""
        message = update.effective_message
        if message is None:
            return
        text = message.text or message.caption or ""
        sensitive = looks_sensitive(text)
        # Only a command or a leaked number gets an answer: a group must not be spammed.
        if not (sensitive or text.startswith("/")):
            return
        language = self._runner.settings.language.default
        render = self._runner.renderer.line
        lines = [render(Line(PromptKey.PRIVATE_CHAT_ONLY), language)]
        if sensitive:
            try:
                await message.delete()
                lines.insert(0, render(Line(PromptKey.GROUP_MESSAGE_DELETED), language))
            except TelegramError as error:
                log.warning("could not delete a group message: %s", type(error).__name__)
                lines.insert(0, render(Line(PromptKey.GROUP_MESSAGE_NOT_DELETED), language))
        label = render(Line(PromptKey.BUTTON_OPEN_PRIVATE_CHAT), language)
        link = f"https://t.me/{context.bot.username}?start=verify"
        markup = InlineKeyboardMarkup([[InlineKeyboardButton(label, url=link)]])
        await context.bot.send_message(message.chat_id, PARAGRAPH.join(lines), reply_markup=markup)

    async def error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Log a handler failure by class only: never the update, which may hold a number."""
        update_id = update.update_id if isinstance(update, Update) else None
        error = context.error
        log.error("update %s failed: %s", update_id, type(error).__name__ if error else "?")


def build_application(
    settings: Settings, runner: Runner, *, metrics: Metrics | None = None
) -> TelegramApp:
    """A PTB Application wired to `runner`, rate-limited, with ordered per-user processing."""
    concurrent = settings.telegram.max_concurrent_updates
    # An update makes its Bot API calls one after another, so it holds one connection at a
    # time; the spare ones serve the sweeper and start-up calls without waiting for a slot.
    spare_connections = 4
    builder = (
        ApplicationBuilder()
        .token(settings.telegram.token.get_secret_value())
        .base_url(settings.telegram.base_url)
        # aiohttp, not PTB's httpx: the Bot API calls were the bot's largest CPU cost.
        .request(AiohttpRequest(connection_pool_size=concurrent + spare_connections))
        .get_updates_request(AiohttpRequest(connection_pool_size=1))
        .rate_limiter(MessageRateLimiter(max_retries=3))
        .concurrent_updates(PerUserUpdateProcessor(concurrent))
    )
    if settings.telegram.mode == "webhook":
        builder = builder.updater(None)  # updates arrive through our web app
    application = builder.build()
    handlers = Handlers(runner)
    private = filters.ChatType.PRIVATE
    new_message = filters.UpdateType.MESSAGE
    application.add_handler(MessageHandler(private & new_message, handlers.message))
    application.add_handler(
        MessageHandler(private & filters.UpdateType.EDITED_MESSAGE, handlers.edited)
    )
    application.add_handler(CallbackQueryHandler(handlers.button))
    application.add_handler(
        MessageHandler(
            filters.ChatType.GROUPS & new_message & (filters.TEXT | filters.CAPTION), handlers.group
        )
    )
    application.add_error_handler(handlers.error)
    if metrics is not None:
        _count_updates(application, metrics)
    return application


def _count_updates(application: TelegramApp, metrics: Metrics) -> None:
    # A group of its own that runs before the handlers: every update is counted once, whether
    # a handler takes it or not, and the handlers stay free of metrics calls.
    async def count(update: Update, _: ContextTypes.DEFAULT_TYPE) -> None:
        metrics.update_handled(_update_kind(update))

    application.add_handler(TypeHandler(Update, count), group=-1)


def _update_kind(update: Update) -> str:
    """The kind of an update for the metrics: message, button, edited, group or other."""
    if update.callback_query is not None:
        return "button"
    chat = update.effective_chat
    if chat is not None and chat.type != chat.PRIVATE:
        return "group"
    if update.edited_message is not None:
        return "edited"
    return "message" if update.message is not None else "other"
