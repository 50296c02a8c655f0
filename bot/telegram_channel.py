"""The runner's chat surface in Telegram: one chat, and the update being answered (if any)."""

from __future__ import annotations

import logging

from telegram import (
    Bot,
    CallbackQuery,
    ForceReply,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
)
from telegram.constants import ChatAction
from telegram.error import TelegramError

from bot.render import PARAGRAPH, Message
from flows import ButtonAction

__all__ = ["TelegramChannel", "callback_data", "parse_callback_data"]

log = logging.getLogger(__name__)
_SEPARATOR = "|"


def callback_data(action: ButtonAction, step: str) -> str:
    """What a button carries: its action and the step it was sent at, never personal data."""
    return f"{action.value}{_SEPARATOR}{step}"


def parse_callback_data(data: str | None) -> tuple[ButtonAction, str] | None:
    """The action and step of a button, or None for data this bot never sent."""
    action, separator, step = (data or "").partition(_SEPARATOR)
    if not separator:
        return None
    try:
        return ButtonAction(action), step
    except ValueError:
        return None


class TelegramChannel:
    """Replies in one private chat; on a button press, answers it and retires its keyboard."""

    def __init__(
        self,
        bot: Bot,
        chat_id: int,
        *,
        user_message_id: int | None = None,
        pressed: CallbackQuery | None = None,
    ) -> None:
        self._bot = bot
        self._chat_id = chat_id
        self._user_message_id = user_message_id
        self._pressed = pressed

    async def send(self, message: Message) -> None:
        """Send `message` with its buttons and, when it asks for input, an input placeholder.

        One Telegram message carries either buttons or a placeholder, so a message with both
        is sent as two: everything but its last paragraph with the buttons, then the last
        paragraph (the question) with the placeholder. A one-paragraph message keeps its
        buttons and goes without the placeholder.
        """
        await self.acknowledge()
        keyboard = self._keyboard(message) if message.buttons or message.links else None
        head, _, question = message.text.rpartition(PARAGRAPH)
        if not message.input_placeholder or (keyboard is not None and not head):
            await self._send(message.text, keyboard, message.protect_content)
            return
        placeholder = ForceReply(input_field_placeholder=message.input_placeholder[:64])
        if keyboard is not None:
            await self._send(head, keyboard, message.protect_content)
            await self._send(question, placeholder, message.protect_content)
        else:
            await self._send(message.text, placeholder, message.protect_content)

    def _keyboard(self, message: Message) -> InlineKeyboardMarkup:
        # Links first: opening DigiLocker is the step; the other buttons are the ways out.
        links = [[InlineKeyboardButton(link.label, url=link.url)] for link in message.links]
        step = message.step
        buttons = [
            [InlineKeyboardButton(button.label, callback_data=callback_data(button.action, step))]
            for button in message.buttons
        ]
        return InlineKeyboardMarkup([*links, *buttons])

    async def _send(
        self, text: str, markup: InlineKeyboardMarkup | ForceReply | None, protect: bool
    ) -> None:
        await self._bot.send_message(
            self._chat_id, text, reply_markup=markup, protect_content=protect
        )

    async def delete_user_message(self) -> None:
        """Delete the message being answered; a failure is logged and the flow goes on."""
        if self._user_message_id is None:
            return
        try:
            await self._bot.delete_message(self._chat_id, self._user_message_id)
        except TelegramError as error:
            log.warning("could not delete a user's message: %s", type(error).__name__)

    async def show_progress(self) -> None:
        """A typing indicator while the provider works."""
        await self.acknowledge()
        try:
            await self._bot.send_chat_action(self._chat_id, ChatAction.TYPING)
        except TelegramError as error:
            log.info("typing indicator not shown: %s", type(error).__name__)

    async def acknowledge(self) -> None:
        """Answer the pressed button once and take its keyboard away, so it cannot act twice."""
        pressed, self._pressed = self._pressed, None
        if pressed is None:
            return
        # Each can fail on its own (a press too old to answer, a keyboard already gone) and
        # neither failure may keep the other from happening or stop the conversation.
        try:
            await pressed.answer()
        except TelegramError as error:
            log.info("button press not answered: %s", type(error).__name__)
        if pressed.message is None:
            return
        try:
            await self._bot.edit_message_reply_markup(
                self._chat_id, pressed.message.message_id, reply_markup=None
            )
        except TelegramError as error:
            log.info("keyboard not removed: %s", type(error).__name__)
