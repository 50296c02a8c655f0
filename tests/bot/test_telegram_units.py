"""The pieces of the Telegram adapter that need no server: ordering and button data."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from telegram import Chat, Message, Update, User

from bot.telegram_bot import PerUserUpdateProcessor
from bot.telegram_channel import callback_data, parse_callback_data
from flows import ButtonAction


def message_from(user_id: int, update_id: int) -> Update:
    user = User(user_id, "Asha", is_bot=False)
    chat = Chat(user_id, Chat.PRIVATE)
    sent = Message(update_id, datetime.now(UTC), chat, from_user=user, text="hi")
    return Update(update_id, message=sent)


async def test_one_users_updates_run_in_order_and_others_alongside() -> None:
    processor = PerUserUpdateProcessor(8)
    finished: list[str] = []

    async def work(name: str, seconds: float) -> None:
        await asyncio.sleep(seconds)
        finished.append(name)

    await asyncio.gather(
        processor.process_update(message_from(1, 1), work("first of user 1", 0.2)),
        processor.process_update(message_from(1, 2), work("second of user 1", 0)),
        processor.process_update(message_from(2, 3), work("user 2", 0)),
    )
    assert finished == ["user 2", "first of user 1", "second of user 1"]


@pytest.mark.parametrize("action", list(ButtonAction))
def test_button_data_round_trips_and_stays_short(action: ButtonAction) -> None:
    data = callback_data(action, "123456789.99999")
    assert parse_callback_data(data) == (action, "123456789.99999")
    assert len(data.encode()) <= 64  # Telegram's limit for callback data


@pytest.mark.parametrize("data", [None, "", "agree", "explode|1.2", "|1.2"])
def test_data_this_bot_never_sent_is_not_a_button(data: str | None) -> None:
    assert parse_callback_data(data) is None
