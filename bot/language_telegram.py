"""/language in Telegram: the question with one button per offered language, and a press."""

from __future__ import annotations

from telegram import Bot, CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, User

from bot.language import LanguageMenu, language_callback
from bot.render import Message
from bot.telegram_channel import TelegramChannel
from storage import UserKey

__all__ = ["answer_language_press", "ask_language"]


async def ask_language(
    menu: LanguageMenu, bot: Bot, chat_id: int, key: UserKey, user: User
) -> None:
    """Send the /language question; each button names its language in that language."""
    question = await menu.ask(key, user.language_code)
    keyboard = InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(choice.label, callback_data=language_callback(choice.code))]
            for choice in question.choices
        ]
    )
    await bot.send_message(chat_id, question.text, reply_markup=keyboard)


async def answer_language_press(
    menu: LanguageMenu, bot: Bot, query: CallbackQuery, key: UserKey, code: str
) -> None:
    """Store the pick, retire the question's buttons and answer in the picked language."""
    user = query.from_user
    chat_id = query.message.chat.id if query.message is not None else user.id
    channel = TelegramChannel(bot, chat_id, pressed=query)
    answer = await menu.choose(key, code, user.language_code)
    await channel.send(Message(text=answer))
