"""The state of the fake Telegram: chats, messages, webhook, faults; and reading a call."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from urllib.parse import parse_qsl

from starlette.requests import Request

from tests.fakes.telegram_objects import (
    ApiError,
    JsonDict,
    bad_request,
    decode_form,
    decode_json_body,
)
from tests.fakes.telegram_records import ChatView, SentMessage, UserMessage


@dataclass
class BotMessage:
    """A message of the bot: its wire form and every version the user saw."""

    wire: JsonDict
    versions: list[SentMessage]
    deleted: bool = False
    edits_read: int = 0  # versions[1:] already returned by wait_for_edit

    @property
    def current(self) -> SentMessage:
        """The message as it is now."""
        return replace(self.versions[-1], deleted=self.deleted)


@dataclass
class ChatState:
    """One chat: ids shared by the user's and the bot's messages, as in Telegram."""

    wire: JsonDict
    next_message_id: int = 1
    bot: dict[int, BotMessage] = field(default_factory=dict)
    user: dict[int, UserMessage] = field(default_factory=dict)
    user_wire: dict[int, JsonDict] = field(default_factory=dict)
    actions: list[str] = field(default_factory=list)
    log: list[str] = field(default_factory=list)
    messages_read: int = 0  # bot messages already returned by wait_for_message

    @property
    def id(self) -> int:
        """The chat id."""
        return int(self.wire["id"])

    def new_message_id(self) -> int:
        """The next message id of this chat."""
        message_id = self.next_message_id
        self.next_message_id += 1
        return message_id

    def wire_of(self, message_id: int) -> JsonDict | None:
        """A message still on screen, as a reply_to_message (which never nests further)."""
        bot = self.bot.get(message_id)
        if bot is not None and not bot.deleted:
            return {k: v for k, v in bot.wire.items() if k != "reply_to_message"}
        user = self.user.get(message_id)
        if user is not None and not user.deleted:
            return {k: v for k, v in self.user_wire[message_id].items() if k != "reply_to_message"}
        return None

    def view(self) -> ChatView:
        """A snapshot for the test."""
        return ChatView(
            chat_id=self.id,
            messages=tuple(message.current for message in self.bot.values()),
            user_messages=tuple(self.user.values()),
            actions=tuple(self.actions),
            log=tuple(self.log),
        )


@dataclass
class Webhook:
    """The webhook setWebhook registered."""

    url: str
    secret_token: str | None = None
    max_connections: int = 40
    allowed_updates: list[str] | None = None
    last_error_date: int | None = None
    last_error_message: str | None = None


@dataclass
class CallbackQuery:
    """A button press waiting for answerCallbackQuery."""

    chat_id: int
    message_id: int
    data: str
    answered: bool = False


@dataclass
class Fault:
    """An error the next `times` calls of `method` answer with."""

    method: str
    error: ApiError
    times: int = 1


def int_param(params: JsonDict, name: str) -> int:
    """A required integer parameter, or Telegram's 400."""
    value = params.get(name)
    if value is None or value == "":
        raise bad_request(f"{name} is empty")
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise bad_request(f"invalid {name} specified")
    try:
        return int(value)
    except ValueError:
        raise bad_request(f"invalid {name} specified") from None


def str_param(params: JsonDict, name: str) -> str | None:
    """An optional parameter as text."""
    value = params.get(name)
    return None if value is None else str(value)


def number_param(params: JsonDict, name: str, default: float) -> float:
    """An optional number parameter (offset, limit, timeout), or Telegram's 400."""
    value = params.get(name)
    if value is None or value == "":
        return default
    try:
        return float(value)
    except (TypeError, ValueError):
        raise bad_request(f"invalid {name} specified") from None


async def read_params(request: Request) -> JsonDict:
    """The parameters of a call: query string, then a form or JSON body."""
    params = decode_form(parse_qsl(request.url.query, keep_blank_values=True))
    body = await request.body()
    if not body:
        return params
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json":
        try:
            decoded = json.loads(body)
        except ValueError:
            raise bad_request("can't parse JSON encoded request body") from None
        if not isinstance(decoded, dict):
            raise bad_request("JSON body must be an object")
        params.update(decode_json_body(decoded))
    elif content_type in ("application/x-www-form-urlencoded", ""):
        params.update(decode_form(parse_qsl(body.decode(), keep_blank_values=True)))
    else:
        raise bad_request(f"the fake Bot API does not accept {content_type} bodies")
    return params
