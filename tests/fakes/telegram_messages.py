"""The message methods of the fake Bot API: send, edit, delete, answer presses, chat actions."""

from __future__ import annotations

from dataclasses import replace

from tests.fakes.telegram_api import BotApi
from tests.fakes.telegram_objects import (
    BOT_USER,
    CHAT_ACTIONS,
    DEFAULT_TOKEN,
    MAX_TEXT_LENGTH,
    ApiError,
    JsonDict,
    Markup,
    bad_request,
    now,
    parse_markup,
    utf16_length,
    visible_text,
)
from tests.fakes.telegram_records import AnsweredCallback, SentMessage, quoted
from tests.fakes.telegram_state import BotMessage, ChatState, int_param, str_param

NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)


class BotMessages(BotApi):
    """The bot's side of a chat: what it sends, edits and deletes."""

    def __init__(self, *, token: str = DEFAULT_TOKEN) -> None:
        super().__init__(token=token)
        self._methods.update(
            sendmessage=self._send_message,
            editmessagetext=self._edit_message_text,
            editmessagereplymarkup=self._edit_message_reply_markup,
            deletemessage=self._delete_message,
            answercallbackquery=self._answer_callback_query,
            sendchataction=self._send_chat_action,
        )

    def _chat_for_bot(self, params: JsonDict) -> ChatState:
        try:
            chat = self._chats.get(int_param(params, "chat_id"))
        except ApiError as error:
            if params.get("chat_id") in (None, ""):
                raise
            raise bad_request("chat not found") from error
        if chat is None:
            raise bad_request("chat not found")
        if chat.id in self.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        return chat

    def _text_param(self, params: JsonDict) -> tuple[str, str, str | None]:
        text = params.get("text")
        if not isinstance(text, str) or not text.strip():
            raise bad_request("message text is empty")
        parse_mode = str_param(params, "parse_mode")
        shown = visible_text(text, parse_mode)
        if not shown.strip():
            raise bad_request("message text is empty")
        if utf16_length(shown) > MAX_TEXT_LENGTH:
            raise bad_request("message is too long")
        return text, shown, parse_mode

    def _reply_target(self, chat: ChatState, params: JsonDict) -> int | None:
        reply = params.get("reply_parameters")
        if not isinstance(reply, dict):
            reply = (
                {"message_id": params["reply_to_message_id"]}
                if "reply_to_message_id" in params
                else {}
            )
        if "message_id" not in reply:
            return None
        target = int_param(reply, "message_id")
        if chat.wire_of(target) is None:
            if reply.get("allow_sending_without_reply") is True:
                return None
            raise bad_request("message to be replied not found")
        return target

    async def _send_message(self, params: JsonDict) -> JsonDict:
        chat = self._chat_for_bot(params)
        text, shown, parse_mode = self._text_param(params)
        markup = parse_markup(params.get("reply_markup"))
        reply_to = self._reply_target(chat, params)
        protect = params.get("protect_content") is True
        message_id = chat.new_message_id()
        wire: JsonDict = {
            "message_id": message_id,
            "from": BOT_USER,
            "chat": chat.wire,
            "date": now(),
            "text": shown,
        }
        if protect:
            wire["has_protected_content"] = True
        if markup.inline:
            wire["reply_markup"] = markup.wire
        if reply_to is not None:
            wire["reply_to_message"] = chat.wire_of(reply_to)
        sent = SentMessage(
            chat_id=chat.id,
            message_id=message_id,
            text=shown,
            raw_text=text,
            parse_mode=parse_mode,
            markup=markup.kind,
            keyboard=markup.keyboard,
            placeholder=markup.placeholder,
            protect_content=protect,
            reply_to=reply_to,
        )
        chat.bot[message_id] = BotMessage(wire, [sent])
        chat.log.append(f"bot #{message_id}: {sent.describe()}")
        return wire

    def _editable(self, chat: ChatState, params: JsonDict) -> BotMessage:
        if params.get("inline_message_id"):
            raise bad_request("the fake Bot API edits chat messages only, not inline ones")
        message_id = int_param(params, "message_id")
        message = chat.bot.get(message_id)
        if message is None and message_id in chat.user:
            raise bad_request("message can't be edited")
        if message is None or message.deleted:
            raise bad_request("message to edit not found")
        return message

    def _edit(
        self,
        chat: ChatState,
        message: BotMessage,
        text: str,
        shown: str,
        parse_mode: str | None,
        markup: Markup,
    ) -> JsonDict:
        if markup.kind not in (None, "inline"):
            raise bad_request("inline keyboard expected")
        before = message.versions[-1]
        if (before.text, before.raw_text, before.keyboard) == (shown, text, markup.keyboard):
            raise bad_request(NOT_MODIFIED)
        after = replace(
            before,
            text=shown,
            raw_text=text,
            parse_mode=parse_mode,
            markup=markup.kind,
            keyboard=markup.keyboard,
            placeholder=None,
            edits=before.edits + 1,
        )
        message.versions.append(after)
        message.wire.update(text=shown, edit_date=now())
        message.wire.pop("reply_markup", None)
        if markup.inline:
            message.wire["reply_markup"] = markup.wire
        removed = " (keyboard removed)" if before.keyboard and not after.keyboard else ""
        chat.log.append(f"bot edits #{after.message_id}: {after.describe()}{removed}")
        return message.wire

    async def _edit_message_text(self, params: JsonDict) -> JsonDict:
        chat = self._chat_for_bot(params)
        message = self._editable(chat, params)
        text, shown, parse_mode = self._text_param(params)
        # Telegram drops the inline keyboard when an edit of the text does not repeat it.
        markup = parse_markup(params.get("reply_markup"))
        return self._edit(chat, message, text, shown, parse_mode, markup)

    async def _edit_message_reply_markup(self, params: JsonDict) -> JsonDict:
        chat = self._chat_for_bot(params)
        message = self._editable(chat, params)
        now_shown = message.versions[-1]
        markup = parse_markup(params.get("reply_markup"))
        return self._edit(
            chat, message, now_shown.raw_text, now_shown.text, now_shown.parse_mode, markup
        )

    async def _delete_message(self, params: JsonDict) -> bool:
        chat = self._chat_for_bot(params)
        message_id = int_param(params, "message_id")
        if self.delete_fails:
            raise bad_request("message can't be deleted")
        bot, user = chat.bot.get(message_id), chat.user.get(message_id)
        if bot is not None and not bot.deleted:
            bot.deleted = True
            chat.log.append(f"bot deletes its #{message_id}")
        elif user is not None and not user.deleted:
            chat.user[message_id] = replace(user, deleted=True)
            chat.log.append(f"bot deletes the user's #{message_id}")
        else:
            raise bad_request("message to delete not found")
        self.deleted_messages.append((chat.id, message_id))
        return True

    async def _answer_callback_query(self, params: JsonDict) -> bool:
        query_id = str_param(params, "callback_query_id") or ""
        query = self._callbacks.get(query_id)
        if query is None or query.answered:
            raise bad_request(
                "query is too old and response timeout expired or query ID is invalid"
            )
        query.answered = True
        answer = AnsweredCallback(
            callback_query_id=query_id,
            text=str_param(params, "text"),
            show_alert=params.get("show_alert") is True,
            url=str_param(params, "url"),
            chat_id=query.chat_id,
            message_id=query.message_id,
            data=query.data,
        )
        self.answered_callbacks.append(answer)
        shown = ""
        if answer.text is not None:
            shown = f" with {'an alert' if answer.show_alert else 'a toast'} {quoted(answer.text)}"
        self._chats[query.chat_id].log.append(
            f"bot answers the press on #{query.message_id}{shown}"
        )
        return True

    async def _send_chat_action(self, params: JsonDict) -> bool:
        chat = self._chat_for_bot(params)
        action = str_param(params, "action")
        if action not in CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        chat.actions.append(action)
        chat.log.append(f"bot is {action.replace('_', ' ')}...")
        return True
