"""What a test reads back from the fake Bot API: snapshots of chats, messages and calls."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from tests.fakes.telegram_objects import Button, Keyboard


def quoted(text: str) -> str:
    """A text on one line, quoted, newlines visible."""
    return json.dumps(text, ensure_ascii=False)


@dataclass(frozen=True)
class SentMessage:
    """One message of the bot as the user sees it (a snapshot; later edits make new ones)."""

    chat_id: int
    message_id: int
    text: str  # as displayed: HTML tags stripped
    raw_text: str  # as the bot sent it
    parse_mode: str | None = None
    markup: str | None = None  # "inline", "force_reply", "reply_keyboard", "remove_keyboard"
    keyboard: Keyboard = ()
    placeholder: str | None = None  # ForceReply / ReplyKeyboard input_field_placeholder
    protect_content: bool = False
    reply_to: int | None = None
    edits: int = 0
    deleted: bool = False

    @property
    def edited(self) -> bool:
        """Whether the bot edited the text or keyboard after sending it."""
        return self.edits > 0

    @property
    def buttons(self) -> list[tuple[str, str]]:
        """Every button, row by row, as (label, callback_data or url)."""
        return [(button.label, button.target) for row in self.keyboard for button in row]

    @property
    def labels(self) -> list[str]:
        """Every button label, row by row."""
        return [button.label for row in self.keyboard for button in row]

    def button(self, label: str) -> Button:
        """The button labelled `label` (or whose label contains it)."""
        buttons = [button for row in self.keyboard for button in row]
        for candidates in (
            [b for b in buttons if b.label == label],
            [b for b in buttons if label in b.label],
        ):
            if len(candidates) == 1:
                return candidates[0]
        raise AssertionError(f"no single button {label!r} on #{self.message_id}: {self.labels}")

    def data_for(self, label: str) -> str:
        """The callback_data of the button labelled `label`."""
        data = self.button(label).callback_data
        if data is None:
            raise AssertionError(f"button {label!r} on #{self.message_id} has no callback_data")
        return data

    def describe(self) -> str:
        """One line for a transcript."""
        parts = [quoted(self.text)]
        parts += [f"[{label} -> {target}]" for label, target in self.buttons]
        if self.markup == "force_reply":
            parts.append(f"(force reply, placeholder {self.placeholder!r})")
        elif self.markup in ("remove_keyboard", "reply_keyboard"):
            parts.append(f"({self.markup.replace('_', ' ')})")
        if self.protect_content:
            parts.append("(protected)")
        if self.reply_to is not None:
            parts.append(f"(reply to #{self.reply_to})")
        return " ".join(parts)


@dataclass(frozen=True)
class UserMessage:
    """One message the user sent."""

    chat_id: int
    message_id: int
    kind: str  # "text", "sticker", "photo" or the update's first message field
    text: str | None
    deleted: bool = False


@dataclass(frozen=True)
class ChatView:
    """A chat as the user would see it, plus a log of everything that happened in it."""

    chat_id: int
    messages: tuple[SentMessage, ...]  # the bot's, oldest first, deleted ones included
    user_messages: tuple[UserMessage, ...]
    actions: tuple[str, ...]  # sendChatAction actions, in order
    log: tuple[str, ...]

    @property
    def visible(self) -> list[SentMessage]:
        """The bot's messages still on screen."""
        return [message for message in self.messages if not message.deleted]

    @property
    def texts(self) -> list[str]:
        """The texts of the bot's messages still on screen."""
        return [message.text for message in self.visible]

    @property
    def last(self) -> SentMessage:
        """The bot's newest message still on screen."""
        if not self.visible:
            raise AssertionError(f"the bot has no message in chat {self.chat_id}\n{self}")
        return self.visible[-1]

    @property
    def deleted_user_messages(self) -> list[int]:
        """Ids of the user's messages the bot deleted."""
        return [message.message_id for message in self.user_messages if message.deleted]

    def message(self, message_id: int) -> SentMessage:
        """The bot's message `message_id`."""
        for message in self.messages:
            if message.message_id == message_id:
                return message
        raise AssertionError(f"no bot message #{message_id} in chat {self.chat_id}\n{self}")

    def __str__(self) -> str:
        lines = [f"chat {self.chat_id}:"]
        lines += [f"  {line}" for line in self.log] or ["  (nothing happened)"]
        return "\n".join(lines)


@dataclass(frozen=True)
class Call:
    """One Bot API request: method as sent, decoded parameters, and how the fake answered."""

    method: str
    params: dict[str, Any]
    status: int = 200
    error: str | None = None
    at: float = 0.0  # loop time

    @property
    def ok(self) -> bool:
        """Whether the fake answered 200."""
        return self.status == 200

    def describe(self) -> str:
        """One line for a report."""
        params = {k: v for k, v in self.params.items() if k != "text"}
        text = f" text={quoted(str(self.params['text']))}" if "text" in self.params else ""
        answer = "ok" if self.ok else f"{self.status} {self.error}"
        return f"{self.method}({json.dumps(params, ensure_ascii=False)}{text}) -> {answer}"


@dataclass(frozen=True)
class AnsweredCallback:
    """An answerCallbackQuery the bot made."""

    callback_query_id: str
    text: str | None = None
    show_alert: bool = False
    url: str | None = None
    chat_id: int | None = None
    message_id: int | None = None
    data: str | None = None


@dataclass(frozen=True)
class WebhookDelivery:
    """One POST of an update to the webhook: the HTTP status, or the error if none came."""

    update_id: int
    url: str
    secret_token: str | None
    status: int | None
    error: str | None = None
    chat_id: int | None = None  # filled by the round-robin delivery (telegram_fanout.py)

    @property
    def ok(self) -> bool:
        """Whether the webhook answered 2xx."""
        return self.status is not None and 200 <= self.status <= 299
