"""Bot API objects as Telegram puts them on the wire, and the parameters PTB sends.

Everything here is plain data: JSON dicts for the wire, frozen dataclasses for what a test
reads. The server (`telegram_api.py`) builds on it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any

JsonDict = dict[str, Any]

BOT_ID = 7000001
BOT_USER: JsonDict = {
    "id": BOT_ID,
    "is_bot": True,
    "first_name": "KYC Bot",
    "username": "kyc_test_bot",
    "can_join_groups": True,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
    "can_connect_to_business": False,
    "has_main_web_app": False,
}
DEFAULT_TOKEN = f"{BOT_ID}:AAFakeTokenForTestsOnly-0123456789abcdef"

CONFLICT_POLLING = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)
CONFLICT_WEBHOOK = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)
CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
MAX_TEXT_LENGTH = 4096
MAX_CALLBACK_DATA_BYTES = 64

# Form fields PTB sends raw although they could look like JSON ("123", "true"); every other
# field is JSON text (RequestParameter.json_value).
_STRING_PARAMS = frozenset(
    {
        "text",
        "caption",
        "parse_mode",
        "callback_query_id",
        "inline_message_id",
        "url",
        "secret_token",
        "ip_address",
        "action",
        "business_connection_id",
        "message_effect_id",
        "emoji",
        "title",
        "description",
    }
)
_MARKUP_PARAMS = frozenset({"reply_markup", "reply_parameters", "allowed_updates"})
_HTML_TAGS = frozenset(
    {
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "span",
        "tg-spoiler",
        "a",
        "code",
        "pre",
        "blockquote",
        "tg-emoji",
    }
)


class ApiError(Exception):
    """An error answer of the Bot API: HTTP status, description and optional parameters."""

    def __init__(self, status: int, description: str, parameters: JsonDict | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters

    def body(self) -> JsonDict:
        """The JSON body Telegram answers with."""
        body: JsonDict = {"ok": False, "error_code": self.status, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def bad_request(detail: str) -> ApiError:
    """A 400 answer, worded as Telegram words them."""
    return ApiError(400, f"Bad Request: {detail}")


def decode_form(pairs: Iterable[tuple[str, str]]) -> JsonDict:
    """Form fields as PTB encodes them: strings raw, every other value as JSON text."""
    params: JsonDict = {}
    for name, raw in pairs:
        if name in _STRING_PARAMS:
            params[name] = raw
            continue
        try:
            params[name] = json.loads(raw)
        except ValueError:
            params[name] = raw  # e.g. chat_id="@channel"
    return params


def decode_json_body(body: JsonDict) -> JsonDict:
    """A JSON body; nested objects may also arrive as JSON text, as Telegram allows."""
    params = dict(body)
    for name in _MARKUP_PARAMS & params.keys():
        if isinstance(params[name], str) and params[name]:
            try:
                params[name] = json.loads(params[name])
            except ValueError as error:
                raise bad_request(f"can't parse {name} JSON object") from error
    return params


def now() -> int:
    """A Bot API date: Unix seconds."""
    return int(time.time())


def user_object(user_id: int, first_name: str, language_code: str | None) -> JsonDict:
    """A human User."""
    user: JsonDict = {"id": user_id, "is_bot": False, "first_name": first_name}
    if language_code:
        user["language_code"] = language_code
    return user


def chat_object(chat_id: int, chat_type: str, first_name: str) -> JsonDict:
    """A Chat: private chats carry the user's name, groups a title."""
    if chat_type == "private":
        return {"id": chat_id, "type": "private", "first_name": first_name}
    return {"id": chat_id, "type": chat_type, "title": f"Test {chat_type} {chat_id}"}


def utf16_length(text: str) -> int:
    """Entity offsets and lengths count UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def command_entities(text: str) -> list[JsonDict]:
    """The bot_command entity Telegram adds to "/start payload"; CommandHandler needs it."""
    if not text.startswith("/") or len(text) < 2 or text[1].isspace():
        return []
    command = text.split(maxsplit=1)[0]
    return [{"type": "bot_command", "offset": 0, "length": utf16_length(command)}]


def sticker_object(serial: int, emoji: str) -> JsonDict:
    """A regular static Sticker."""
    return {
        "file_id": f"CAACAgIAAx-sticker-{serial}",
        "file_unique_id": f"AgADsticker{serial}",
        "width": 512,
        "height": 512,
        "is_animated": False,
        "is_video": False,
        "type": "regular",
        "emoji": emoji,
        "file_size": 20480,
    }


def photo_sizes(serial: int) -> list[JsonDict]:
    """A photo as Telegram sends it: the same picture in several sizes."""
    return [
        {
            "file_id": f"AgACAgIAAx-photo-{serial}-{width}",
            "file_unique_id": f"AQADphoto{serial}{width}",
            "width": width,
            "height": width * 3 // 4,
            "file_size": width * 90,
        }
        for width in (90, 320, 800)
    ]


class _TelegramHtml(HTMLParser):
    """Telegram's HTML subset: text as the user sees it, or the first parse error."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.open_tags: list[str] = []
        self.error: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _HTML_TAGS:
            self.error = self.error or f'Unsupported start tag "{tag}"'
        self.open_tags.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.open_tags or self.open_tags[-1] != tag:
            expected = f'"</{self.open_tags[-1]}>"' if self.open_tags else "no end tag"
            self.error = self.error or f'Unmatched end tag "</{tag}>", expected {expected}'
            return
        self.open_tags.pop()

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def visible_text(text: str, parse_mode: str | None) -> str:
    """`text` as the chat shows it; HTML is checked like Telegram does (MarkdownV2 is not)."""
    if (parse_mode or "").lower() != "html":
        return text
    parser = _TelegramHtml()
    parser.feed(text)
    parser.close()
    if parser.error is None and parser.open_tags:
        parser.error = f'Can\'t find end tag corresponding to start tag "{parser.open_tags[-1]}"'
    if parser.error is not None:
        raise bad_request(f"can't parse entities: {parser.error}")
    return "".join(parser.parts)


@dataclass(frozen=True)
class Button:
    """One button of a keyboard: an inline button has callback_data or a url."""

    label: str
    callback_data: str | None = None
    url: str | None = None

    @property
    def target(self) -> str:
        """What pressing it does: its callback_data, else its url, else nothing."""
        return self.callback_data or self.url or ""


Keyboard = tuple[tuple[Button, ...], ...]


@dataclass(frozen=True)
class Markup:
    """A parsed reply_markup: its kind, keyboard rows and ForceReply placeholder."""

    kind: str | None = None  # "inline", "force_reply", "reply_keyboard", "remove_keyboard"
    keyboard: Keyboard = ()
    placeholder: str | None = None
    wire: JsonDict | None = None  # the inline keyboard as a Message carries it

    @property
    def inline(self) -> bool:
        """Whether the message shows buttons under it."""
        return self.kind == "inline"


def _inline_button(raw: Any) -> Button:
    if not isinstance(raw, dict) or not isinstance(raw.get("text"), str):
        raise bad_request("can't parse inline keyboard button: a button must have a text")
    data, url = raw.get("callback_data"), raw.get("url")
    actions = set(raw) - {"text"}
    if not actions:
        raise bad_request(
            "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
        )
    if data is not None and not 1 <= len(str(data).encode()) <= MAX_CALLBACK_DATA_BYTES:
        raise bad_request("BUTTON_DATA_INVALID")
    return Button(raw["text"], None if data is None else str(data), url)


def parse_markup(value: Any) -> Markup:
    """Decode a reply_markup parameter; Telegram's 400s for what it would refuse."""
    if value is None or value == "":
        return Markup()
    if not isinstance(value, dict):
        raise bad_request("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" in value:
        rows = value["inline_keyboard"]
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            raise bad_request(
                'field "inline_keyboard" of the InlineKeyboardMarkup must be an Array'
            )
        keyboard = tuple(tuple(_inline_button(button) for button in row) for row in rows)
        if not any(keyboard):
            return Markup()  # an empty inline keyboard is no keyboard
        return Markup("inline", keyboard, wire={"inline_keyboard": rows})
    if value.get("force_reply"):
        return Markup("force_reply", placeholder=value.get("input_field_placeholder"))
    if value.get("remove_keyboard"):
        return Markup("remove_keyboard")
    if isinstance(value.get("keyboard"), list):
        keyboard = tuple(
            tuple(Button(b if isinstance(b, str) else str(b.get("text", ""))) for b in row)
            for row in value["keyboard"]
        )
        return Markup("reply_keyboard", keyboard, placeholder=value.get("input_field_placeholder"))
    raise bad_request("can't parse reply keyboard markup JSON object")
