"""The fake Bot API against the real python-telegram-bot: what PTB sends, it must understand.

Each test drives `FakeTelegram` with a PTB `Bot` or a polling `Application` over loopback
HTTP, so a change of PTB's wire format (or a mistake of the fake) fails here first.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from telegram import (
    Bot,
    ForceReply,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    Conflict,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    RetryAfter,
)
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from tests.fakes.telegram import BOT_ID, FakeTelegram, LoopbackServer, WebhookDelivery

USER = 1001
ECHO_BOT = """
import sys
from telegram.ext import ApplicationBuilder, CommandHandler

async def start(update, context):
    await update.effective_message.reply_text("echo " + " ".join(context.args))

app = ApplicationBuilder().token(sys.argv[1]).base_url(sys.argv[2]).build()
app.add_handler(CommandHandler("start", start))
app.run_polling(poll_interval=0, timeout=1)
"""
AnyApplication = Application[Any, Any, Any, Any, Any, Any]
KEYBOARD = InlineKeyboardMarkup(
    [
        [InlineKeyboardButton("I agree", callback_data="consent:yes")],
        [
            InlineKeyboardButton("No", callback_data="consent:no"),
            InlineKeyboardButton("Why?", url="https://example.org/why"),
        ],
    ]
)


@pytest.fixture(autouse=True)
def no_proxy_for_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """An HTTP_PROXY in the environment would swallow PTB's calls to 127.0.0.1."""
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(name, "127.0.0.1,localhost")


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as telegram:
        yield telegram


@pytest.fixture
async def bot(fake: FakeTelegram) -> AsyncIterator[Bot]:
    async with Bot(fake.token, base_url=fake.base_url) as client:
        yield client


@contextlib.asynccontextmanager
async def polling(fake: FakeTelegram, *handlers: Any) -> AsyncIterator[AnyApplication]:
    """A PTB Application polling the fake, stopped before the fake (its last getUpdates)."""
    app: AnyApplication = ApplicationBuilder().token(fake.token).base_url(fake.base_url).build()
    for handler in handlers:
        app.add_handler(handler)
    await app.initialize()
    await app.start()
    assert app.updater is not None
    await app.updater.start_polling(poll_interval=0, timeout=1)
    try:
        yield app
    finally:
        await app.updater.stop()
        await app.stop()
        await app.shutdown()


async def test_get_me_has_no_body_and_answers_the_bot_user(fake: FakeTelegram) -> None:
    async with Bot(fake.token, base_url=fake.base_url) as bot:
        me = await bot.get_me()
    assert (me.id, me.is_bot, me.username, me.first_name) == (
        BOT_ID,
        True,
        "kyc_test_bot",
        "KYC Bot",
    )
    assert me.can_join_groups is True
    assert [(call.method, call.params) for call in fake.calls_to("getMe")] == [("getMe", {})] * 2


async def test_a_wrong_token_is_invalid(fake: FakeTelegram) -> None:
    bot = Bot("123:wrong", base_url=fake.base_url)
    try:
        with pytest.raises(InvalidToken, match="was rejected"):
            await bot.initialize()
        with pytest.raises(InvalidToken, match=r"^Unauthorized$"):
            await bot.get_me()
    finally:
        await bot.shutdown()
    assert [call.status for call in fake.calls] == [401, 401]


async def test_an_unknown_method_is_not_found(fake: FakeTelegram, bot: Bot) -> None:
    with pytest.raises(EndPointNotFound):
        await bot.do_api_request("sendCarrierPigeon", {"chat_id": USER})
    # A real method the fake lacks looks like a bad token to PTB (it maps 404 so).
    with pytest.raises(InvalidToken, match=r"^Not Found$"):
        await bot.set_my_commands([("start", "Begin")])
    async with httpx.AsyncClient(trust_env=False) as client:
        answer = await client.post(f"{fake.base_url}{fake.token}/sendDice")
        elsewhere = await client.get(f"http://127.0.0.1:{fake.port}/favicon.ico")
    assert answer.status_code == elsewhere.status_code == 404
    assert answer.json() == {"ok": False, "error_code": 404, "description": "Not Found"}


async def test_send_message_round_trips_keyboard_and_protection(
    fake: FakeTelegram, bot: Bot
) -> None:
    fake.send_text(USER, "hello")
    sent = await bot.send_message(
        USER,
        "<b>Consent</b> &amp; terms",
        parse_mode=ParseMode.HTML,
        reply_markup=KEYBOARD,
        protect_content=True,
    )
    assert sent.reply_markup == KEYBOARD
    assert sent.has_protected_content is True
    assert sent.from_user is not None
    assert sent.from_user.id == BOT_ID
    assert (sent.chat.id, sent.chat.type, sent.message_id, sent.text) == (
        USER,
        "private",
        2,
        "Consent & terms",
    )
    params = fake.calls_to("sendMessage")[0].params
    assert params["chat_id"] == USER
    assert params["protect_content"] is True
    assert params["parse_mode"] == "HTML"
    assert params["text"] == "<b>Consent</b> &amp; terms"
    assert params["reply_markup"] == KEYBOARD.to_dict()
    message = await fake.wait_for_message(USER, "Consent")
    assert message.buttons == [
        ("I agree", "consent:yes"),
        ("No", "consent:no"),
        ("Why?", "https://example.org/why"),
    ]
    assert (message.protect_content, message.markup, message.raw_text) == (
        True,
        "inline",
        "<b>Consent</b> &amp; terms",
    )
    assert message.data_for("agree") == "consent:yes"


async def test_force_reply_and_keyboard_removal_are_recorded(fake: FakeTelegram, bot: Bot) -> None:
    fake.send_text(USER, "hi")
    placeholder = ForceReply(input_field_placeholder="12-digit Aadhaar number")
    sent = await bot.send_message(USER, "Your Aadhaar number?", reply_markup=placeholder)
    await bot.send_message(USER, "Thanks", reply_markup=ReplyKeyboardRemove())
    assert sent.reply_markup is None  # Telegram returns inline keyboards only
    asked, thanked = fake.chat(USER).messages
    assert (asked.markup, asked.placeholder) == ("force_reply", "12-digit Aadhaar number")
    assert thanked.markup == "remove_keyboard"
    reply_id = fake.send_text(USER, "2345 6789 0123", reply_to=sent.message_id)
    *_, update = await bot.get_updates()
    assert update.message is not None
    assert update.message.reply_to_message is not None
    assert (update.message.message_id, update.message.reply_to_message.message_id) == (
        reply_id,
        sent.message_id,
    )


async def test_edits_remove_keyboards_like_telegram(fake: FakeTelegram, bot: Bot) -> None:
    fake.send_text(USER, "/start")
    sent = await bot.send_message(USER, "Choose", reply_markup=KEYBOARD)
    edited = await bot.edit_message_reply_markup(USER, sent.message_id)
    assert isinstance(edited, type(sent))
    assert edited.reply_markup is None
    assert fake.chat(USER).last.buttons == []
    assert fake.chat(USER).last.edited
    with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
        await bot.edit_message_reply_markup(USER, sent.message_id)
    await bot.edit_message_text("Choose again", USER, sent.message_id, reply_markup=KEYBOARD)
    assert fake.chat(USER).last.labels == ["I agree", "No", "Why?"]
    # Editing the text without repeating the keyboard drops it, as in Telegram.
    await bot.edit_message_text("Chosen", USER, sent.message_id)
    final = await fake.wait_for_edit(USER, sent.message_id, "Chosen")
    assert (final.text, final.buttons, final.edits) == ("Chosen", [], 3)
    assert "(keyboard removed)" in str(fake.chat(USER))


async def test_delete_message_is_recorded_and_can_fail(fake: FakeTelegram, bot: Bot) -> None:
    typed = fake.send_text(USER, "2345 6789 0123")
    sent = await bot.send_message(USER, "Got it")
    assert await bot.delete_message(USER, typed) is True
    assert await bot.delete_message(USER, sent.message_id) is True
    assert fake.deleted_messages == [(USER, typed), (USER, sent.message_id)]
    chat = fake.chat(USER)
    assert chat.deleted_user_messages == [typed]
    assert chat.visible == []
    with pytest.raises(BadRequest, match=r"(?i)message to delete not found"):
        await bot.delete_message(USER, typed)
    fake.send_text(USER, "again")
    fake.delete_fails = True
    with pytest.raises(BadRequest, match=r"(?i)message can't be deleted"):
        await bot.delete_message(USER, 3)


async def test_polling_application_gets_commands_presses_and_media(fake: FakeTelegram) -> None:
    seen: list[Update] = []

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_chat is not None
        await context.bot.send_message(
            update.effective_chat.id, f"Welcome {context.args}", reply_markup=KEYBOARD
        )

    async def pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.callback_query is not None
        assert update.callback_query.message is not None
        await update.callback_query.answer("Noted", show_alert=True)
        await update.callback_query.edit_message_text(f"You chose {update.callback_query.data}")

    async def anything(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        seen.append(update)

    handlers = (
        CommandHandler("start", start),
        CallbackQueryHandler(pressed),
        MessageHandler(filters.ALL, anything),
    )
    async with polling(fake, *handlers):
        fake.send_text(USER, "/start ref42")
        welcome = await fake.wait_for_message(USER, "Welcome ['ref42']")
        query_id = fake.press(USER, welcome.message_id, welcome.data_for("I agree"))
        chosen = await fake.wait_for_edit(USER, welcome.message_id, "You chose consent:yes")
        fake.send_sticker(USER)
        fake.send_photo(USER, caption="my card")
        fake.send_text(2002, "hello group", chat_id=-100123, chat_type="supergroup")
        await fake.wait_until(lambda: len(seen) == 3, 5, what="three updates handled")
    assert chosen.buttons == []
    (answer,) = fake.answered_callbacks
    assert (answer.callback_query_id, answer.text, answer.show_alert) == (query_id, "Noted", True)
    assert (answer.message_id, answer.data) == (welcome.message_id, "consent:yes")
    sticker, photo, group = (update.effective_message for update in seen)
    assert sticker is not None
    assert sticker.sticker is not None
    assert photo is not None
    assert photo.photo
    assert photo.caption == "my card"
    assert group is not None
    assert group.chat.type == "supergroup"
    assert group.chat.id == -100123
    assert fake.pending_updates == 0  # the last getUpdates of updater.stop confirmed them
    assert fake.calls_to("deleteWebhook"), "polling starts by deleting the webhook"


async def test_answering_a_callback_twice_is_refused(fake: FakeTelegram, bot: Bot) -> None:
    fake.send_text(USER, "/start")
    sent = await bot.send_message(USER, "Choose", reply_markup=KEYBOARD)
    query_id = fake.press(USER, sent.message_id, "consent:no")
    assert await bot.answer_callback_query(query_id) is True
    with pytest.raises(BadRequest, match=r"(?i)query is too old"):
        await bot.answer_callback_query(query_id)
    with pytest.raises(AssertionError, match="shows no button with data 'consent:maybe'"):
        fake.press(USER, sent.message_id, "consent:maybe")
    fake.press(USER, sent.message_id, "consent:maybe", strict=False)


async def test_conflict_and_flood_switches(
    fake: FakeTelegram, bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake.conflict = True
    with pytest.raises(Conflict, match="terminated by other getUpdates request"):
        await bot.get_updates()
    fake.conflict = False
    # PTB's RetryAfter warns in its constructor (PTBDeprecationWarning) unless PTB_TIMEDELTA.
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    fake.send_text(USER, "hi")
    fake.flood(3)
    with pytest.raises(RetryAfter) as flooded:
        await bot.send_message(USER, "too fast")
    assert flooded.value.retry_after.total_seconds() == 3  # type: ignore[union-attr]
    assert (await bot.send_message(USER, "later")).text == "later"
    assert [call.status for call in fake.calls_to("sendMessage")] == [429, 200]


async def test_refusals_for_unknown_chats_blocked_users_and_bad_html(
    fake: FakeTelegram, bot: Bot
) -> None:
    with pytest.raises(BadRequest, match=r"(?i)chat not found"):
        await bot.send_message(USER, "hello?")
    fake.send_text(USER, "hi")
    with pytest.raises(BadRequest, match=r"(?i)can't parse entities"):
        await bot.send_message(USER, "<b>unclosed", parse_mode=ParseMode.HTML)
    too_long = InlineKeyboardMarkup([[InlineKeyboardButton("x", callback_data="x" * 65)]])
    with pytest.raises(BadRequest, match=r"(?i)BUTTON_DATA_INVALID"):
        await bot.send_message(USER, "hi", reply_markup=too_long)
    assert await bot.send_chat_action(USER, "typing") is True
    fake.blocked.add(USER)
    with pytest.raises(Forbidden, match="blocked"):
        await bot.send_message(USER, "hello?")
    assert fake.chat(USER).actions == ("typing",)


async def test_long_polling_waits_returns_early_and_confirms_offsets(
    fake: FakeTelegram, bot: Bot
) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await bot.get_updates(timeout=1) == ()
    assert 0.9 <= loop.time() - started < 2
    poll = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.1)
    started = loop.time()
    first = fake.send_text(USER, "/start")
    (update,) = await poll
    assert loop.time() - started < 1
    assert update.message is not None
    assert update.message.message_id == first
    assert update.message.entities[0].type == "bot_command"
    fake.send_text(USER, "two")
    fake.send_text(USER, "three")
    assert [u.update_id for u in await bot.get_updates()] == [1, 2, 3]  # not confirmed yet
    assert [u.update_id for u in await bot.get_updates(offset=2, limit=1)] == [2]
    assert [u.update_id for u in await bot.get_updates(offset=-1)] == [3]
    assert await bot.get_updates(offset=4) == ()
    assert fake.pending_updates == 0
    assert fake.calls_to("getUpdates")[1].params == {"timeout": 5}


async def test_a_newer_get_updates_ends_a_waiting_one(fake: FakeTelegram, bot: Bot) -> None:
    older = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.2)
    async with Bot(fake.token, base_url=fake.base_url) as second_instance:
        assert await second_instance.get_updates() == ()
    with pytest.raises(Conflict, match="terminated by other getUpdates request"):
        await older


class Receiver:
    """A webhook endpoint that records what reaches it and answers `status`."""

    def __init__(self) -> None:
        self.status = 200
        self.received: list[tuple[dict[str, str], Any]] = []
        self.app = Starlette(routes=[Route("/hook", self.hook, methods=["POST"])])

    async def hook(self, request: Request) -> Response:
        self.received.append((dict(request.headers), json.loads(await request.body())))
        return Response(status_code=self.status)


async def test_webhook_mode_posts_updates_with_the_secret(fake: FakeTelegram, bot: Bot) -> None:
    receiver = Receiver()
    async with LoopbackServer(receiver.app) as server:
        url = f"{server.url}/hook"
        assert await bot.set_webhook(url, secret_token="s3cret") is True
        fake.send_text(USER, "/start")
        await fake.wait_until(lambda: len(fake.webhook_deliveries) == 1, 5)
        headers, body = receiver.received[0]
        assert headers["x-telegram-bot-api-secret-token"] == "s3cret"
        assert headers["content-type"] == "application/json"
        update = Update.de_json(body, bot)
        assert update.message is not None
        assert update.message.text == "/start"
        assert fake.webhook_deliveries[0] == WebhookDelivery(1, url, "s3cret", 200)
        with pytest.raises(Conflict, match="while webhook is active"):
            await bot.get_updates()
        receiver.status = 403
        fake.webhook_max_attempts = 2
        fake.send_text(USER, "again")
        await fake.wait_until(lambda: len(fake.webhook_deliveries) == 3, 5)
        info = await bot.get_webhook_info()
        assert (info.url, info.pending_update_count) == (url, 0)
        assert info.last_error_message == "Wrong response from the webhook: 403 Forbidden"
    assert [d.status for d in fake.webhook_deliveries] == [200, 403, 403]
    assert await bot.delete_webhook() is True
    fake.send_text(USER, "polling again")
    (update,) = await bot.get_updates()
    assert update.message is not None
    assert update.message.text == "polling again"
    assert (await bot.get_webhook_info()).url == ""


async def test_json_bodies_are_accepted(fake: FakeTelegram) -> None:
    fake.send_text(USER, "hi")
    async with httpx.AsyncClient(trust_env=False) as client:
        answer = await client.post(
            f"{fake.base_url}{fake.token}/sendMessage",
            json={"chat_id": USER, "text": "42", "reply_markup": KEYBOARD.to_dict()},
        )
    assert answer.status_code == 200
    assert answer.json()["result"]["text"] == "42"
    assert fake.chat(USER).last.labels == ["I agree", "No", "Why?"]


async def test_waits_fail_with_the_chat_and_message_ids_are_shared(
    fake: FakeTelegram, bot: Bot
) -> None:
    assert fake.send_text(USER, "/start") == 1
    assert (await bot.send_message(USER, "Welcome")).message_id == 2
    assert fake.send_text(USER, "hello") == 3
    assert fake.send_text(2002, "/start") == 1
    await fake.wait_for_message(USER, "Welcome")
    with pytest.raises(AssertionError) as timed_out:
        await fake.wait_for_message(USER, timeout=0.2)
    report = str(timed_out.value)
    assert "waiting for a bot message in chat 1001" in report
    assert 'Asha #1: "/start"' in report
    assert 'bot #2: "Welcome"' in report
    assert 'sendMessage({"chat_id": 1001} text="Welcome") -> ok' in report


async def test_a_bot_in_another_process_polls_and_stops_before_the_fake(
    fake: FakeTelegram,
) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        ECHO_BOT,
        fake.token,
        fake.base_url,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        fake.send_text(USER, "/start from afar")
        reply = await fake.wait_for_message(USER, timeout=15)
        assert reply.text == "echo from afar"
        assert reply.reply_to is None  # PTB's reply_text quotes only outside private chats
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = await process.communicate()
    assert process.returncode == 0, stderr.decode()
    assert fake.pending_updates == 0
    # updater.stop confirms with one last getUpdates; the long poll it cancelled ends in 409.
    polls = [(call.params, call.status) for call in fake.calls_to("getUpdates")]
    assert ({"timeout": 0, "offset": 2}, 200) in polls
