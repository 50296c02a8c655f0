"""The users' side of the fake Telegram: messages, stickers, photos, button presses, faults."""

from __future__ import annotations

import copy

from tests.fakes.telegram_messages import BotMessages
from tests.fakes.telegram_objects import (
    DEFAULT_TOKEN,
    ApiError,
    JsonDict,
    chat_object,
    command_entities,
    now,
    photo_sizes,
    sticker_object,
    user_object,
)
from tests.fakes.telegram_records import UserMessage, quoted
from tests.fakes.telegram_state import CallbackQuery, ChatState, Fault


class TelegramUsers(BotMessages):
    """Users who type, send stickers and photos, and press the bot's buttons."""

    def __init__(self, *, token: str = DEFAULT_TOKEN) -> None:
        super().__init__(token=token)
        self._users: dict[int, JsonDict] = {}
        self._serial = 0

    def queue_update(self, payload: JsonDict) -> int:
        """Queue a raw update (without update_id) for getUpdates or the webhook; its id."""
        update_id = self._next_update_id
        self._next_update_id += 1
        self._updates.append({"update_id": update_id, **payload})
        self._notify()
        return update_id

    def send_text(
        self,
        user_id: int,
        text: str,
        *,
        chat_id: int | None = None,
        chat_type: str = "private",
        first_name: str = "Asha",
        language_code: str = "en",
        reply_to: int | None = None,
    ) -> int:
        """The user types `text` (a "/command" gets its bot_command entity); the message id."""
        fields: JsonDict = {"text": text}
        if entities := command_entities(text):
            fields["entities"] = entities
        chat = self._chat_of(user_id, chat_id, chat_type, first_name, language_code)
        return self._user_message(user_id, chat, "text", text, fields, reply_to)

    def send_sticker(
        self,
        user_id: int,
        *,
        emoji: str = "👍",
        chat_id: int | None = None,
        chat_type: str = "private",
        first_name: str = "Asha",
        language_code: str = "en",
    ) -> int:
        """The user sends a sticker; the message id."""
        self._serial += 1
        fields: JsonDict = {"sticker": sticker_object(self._serial, emoji)}
        chat = self._chat_of(user_id, chat_id, chat_type, first_name, language_code)
        return self._user_message(user_id, chat, "sticker", None, fields, None)

    def send_photo(
        self,
        user_id: int,
        *,
        caption: str | None = None,
        chat_id: int | None = None,
        chat_type: str = "private",
        first_name: str = "Asha",
        language_code: str = "en",
    ) -> int:
        """The user sends a photo, optionally captioned; the message id."""
        self._serial += 1
        fields: JsonDict = {"photo": photo_sizes(self._serial)}
        if caption is not None:
            fields["caption"] = caption
        chat = self._chat_of(user_id, chat_id, chat_type, first_name, language_code)
        return self._user_message(user_id, chat, "photo", caption, fields, None)

    def press(
        self,
        user_id: int,
        message_id: int,
        data: str,
        *,
        chat_id: int | None = None,
        strict: bool = True,
    ) -> str:
        """The user presses the button with `data` under the bot's message; the query id.

        `strict=False` allows a button the message no longer shows (a stale keyboard).
        """
        chat = self._chats.get(user_id if chat_id is None else chat_id)
        message = None if chat is None else chat.bot.get(message_id)
        if chat is None or message is None:
            raise AssertionError(f"no bot message #{message_id} to press\n{self.report(chat_id)}")
        shown = message.current
        if strict and (
            shown.deleted or data not in [b.callback_data for r in shown.keyboard for b in r]
        ):
            raise AssertionError(
                f"#{message_id} shows no button with data {data!r}: {shown.buttons}"
                f"{' (deleted)' if shown.deleted else ''}\n{self.report(chat.id)}"
            )
        self._serial += 1
        query_id = str(4_000_000_000 + self._serial)
        user = self._users.get(user_id) or user_object(user_id, "Asha", "en")
        self._callbacks[query_id] = CallbackQuery(chat.id, message_id, data)
        labels = [b.label for r in shown.keyboard for b in r if b.callback_data == data]
        label = f"[{labels[0]}] " if labels else ""
        chat.log.append(f"{user['first_name']} presses {label}({data}) on #{message_id}")
        self.queue_update(
            {
                "callback_query": {
                    "id": query_id,
                    "from": user,
                    "message": copy.deepcopy(message.wire),  # as pressed, not as later edited
                    "chat_instance": str(abs(chat.id) * 31 + 7),
                    "data": data,
                }
            }
        )
        return query_id

    def flood(self, seconds: int, *, method: str = "sendMessage", times: int = 1) -> None:
        """The next `times` calls of `method` answer 429 with parameters.retry_after."""
        error = ApiError(429, f"Too Many Requests: retry after {seconds}", {"retry_after": seconds})
        self.faults.append(Fault(method.lower(), error, times))

    def fail_next(
        self,
        method: str,
        status: int,
        description: str,
        *,
        times: int = 1,
        parameters: JsonDict | None = None,
    ) -> None:
        """The next `times` calls of `method` answer `status` with `description`."""
        self.faults.append(Fault(method.lower(), ApiError(status, description, parameters), times))

    def _chat_of(
        self,
        user_id: int,
        chat_id: int | None,
        chat_type: str,
        first_name: str,
        language_code: str,
    ) -> ChatState:
        if chat_type not in ("private", "group", "supergroup"):
            raise ValueError(f"chat_type must be private, group or supergroup, not {chat_type!r}")
        the_id = user_id if chat_id is None else chat_id
        if chat_type == "private" and the_id != user_id:
            raise ValueError("a private chat has the id of its user")
        if chat_type != "private" and the_id >= 0:
            raise ValueError("group chats have negative ids")
        self._users[user_id] = user_object(user_id, first_name, language_code)
        if the_id not in self._chats:
            self._chats[the_id] = ChatState(chat_object(the_id, chat_type, first_name))
        return self._chats[the_id]

    def _user_message(
        self,
        user_id: int,
        chat: ChatState,
        kind: str,
        text: str | None,
        fields: JsonDict,
        reply_to: int | None,
    ) -> int:
        message_id = chat.new_message_id()
        user = self._users[user_id]
        wire: JsonDict = {
            "message_id": message_id,
            "from": user,
            "chat": chat.wire,
            "date": now(),
            **fields,
        }
        if reply_to is not None:
            replied = chat.wire_of(reply_to)
            if replied is None:
                raise AssertionError(f"no message #{reply_to} to reply to\n{self.report(chat.id)}")
            wire["reply_to_message"] = replied
        chat.user_wire[message_id] = wire
        chat.user[message_id] = UserMessage(chat.id, message_id, kind, text)
        shown = quoted(text) if text is not None and kind == "text" else f"({kind})"
        chat.log.append(f"{user['first_name']} #{message_id}: {shown}")
        self.queue_update({"message": wire})
        return message_id
