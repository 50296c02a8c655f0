"""AiohttpRequest against real HTTP servers on 127.0.0.1, side by side with PTB's HTTPXRequest.

`RecordingApi` is a bare aiohttp.web Bot API that keeps every request's raw body, so the
encoding is compared with what PTB sends over httpx; `FakeTelegram` checks the round trip of
real objects. Timeouts are short: every test runs in well under three seconds.
"""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import time
import traceback
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest
from aiohttp import web
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import (
    BadRequest,
    Conflict,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.request import BaseRequest, HTTPXRequest

from bot.config import load_settings
from bot.runner import Runner
from bot.telegram_bot import build_application
from bot.telegram_request import AiohttpRequest
from kyc import SimulatorProvider
from storage import Database, NumberVault
from tests.fakes.telegram import BOT_ID, FakeTelegram

TOKEN = "987654:AAsecretTransportToken-0123456789abcdefXYZ"
SECRET = TOKEN.split(":")[1]
USER = 1001
JsonDict = dict[str, Any]
BOT_USER: JsonDict = {"id": 987654, "is_bot": True, "first_name": "KYC", "username": "kyc_bot"}
CHAT: JsonDict = {"id": USER, "type": "private", "first_name": "Asha"}
MESSAGE: JsonDict = {"message_id": 7, "date": 1_700_000_000, "chat": CHAT, "text": "ok"}
KEYBOARD = InlineKeyboardMarkup(
    [
        [InlineKeyboardButton("I agree", callback_data="consent:yes")],
        [InlineKeyboardButton("Why?", url="https://example.org/why?a=1&b=2")],
    ]
)


@dataclass(frozen=True)
class Received:
    """One request as it arrived: the Bot API method, its Content-Type header and raw body."""

    method: str
    content_type: str | None
    body: bytes

    def parts(self) -> list[tuple[dict[str, str], bytes]]:
        """The multipart parts as (headers, content), the boundary taken out."""
        assert self.content_type is not None
        assert self.content_type.startswith("multipart/form-data; boundary=")
        boundary = self.content_type.split("boundary=")[1].encode()
        chunks = self.body.split(b"--" + boundary)
        assert chunks[0] == b""
        assert chunks[-1] == b"--\r\n"
        parts = []
        for chunk in chunks[1:-1]:
            head, content = chunk.removeprefix(b"\r\n").split(b"\r\n\r\n", 1)
            lines = head.decode().split("\r\n")
            headers = dict(line.split(": ", 1) for line in lines)
            parts.append((headers, content.removesuffix(b"\r\n")))
        return parts


@dataclass
class RecordingApi:
    """A Bot API on 127.0.0.1 that records each request and answers from `answers`."""

    answers: dict[str, tuple[int, JsonDict]] = field(default_factory=dict)
    delays: dict[str, float] = field(default_factory=dict)
    hanging: set[str] = field(default_factory=set)  # answered only when the server stops
    received: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        app = web.Application()
        app.router.add_post("/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app, shutdown_timeout=1.0)
        self._release = asyncio.Event()
        self._arrived = asyncio.Event()
        self.port = 0

    @property
    def base_url(self) -> str:
        """What PTB's `base_url` takes (it appends the token)."""
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def open_connections(self) -> int:
        """Client connections the server holds open now."""
        assert self._runner.server is not None
        return len(self._runner.server.connections)

    def methods(self) -> list[str]:
        """The methods received, in order."""
        return [received.method for received in self.received]

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        body = await request.read()
        self.received.append(Received(method, request.headers.get("Content-Type"), body))
        self._arrived.set()
        if method in self.hanging:
            await self._release.wait()
        await asyncio.sleep(self.delays.get(method, 0))
        default: JsonDict = {"ok": True, "result": BOT_USER if method == "getMe" else MESSAGE}
        status, answer = self.answers.get(method, (200, default))
        return web.json_response(answer, status=status)

    async def __aenter__(self) -> RecordingApi:
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._release.set()
        await self._runner.cleanup()

    async def wait_for(self, method: str) -> None:
        """Return once a request for `method` arrived."""
        async with asyncio.timeout(2):
            while method not in self.methods():
                self._arrived.clear()
                await self._arrived.wait()


@pytest.fixture(autouse=True)
def no_proxy_for_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """An HTTP_PROXY in the environment would swallow httpx's calls to 127.0.0.1."""
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(name, "127.0.0.1,localhost")


@pytest.fixture
async def api() -> AsyncIterator[RecordingApi]:
    async with RecordingApi() as server:
        yield server


@asynccontextmanager
async def bot_over(api: RecordingApi, request: BaseRequest | None = None) -> AsyncIterator[Bot]:
    """A PTB Bot on `api` through `request` (PTB's own HTTPXRequest when None)."""
    async with Bot(TOKEN, base_url=api.base_url, request=request) as bot:
        yield bot


def assert_no_token(error: BaseException) -> None:
    """Neither the message nor the traceback with its chained causes shows the token."""
    text = "".join(traceback.format_exception(error))
    assert SECRET not in text, text


@contextmanager
def elapsed() -> Iterator[list[float]]:
    """Seconds spent in the block, in [0] once it ends (also when it raises)."""
    took = [0.0]
    started = time.monotonic()
    try:
        yield took
    finally:
        took[0] = time.monotonic() - started


def closed_port() -> int:
    """A loopback port nobody listens on."""
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# -- the happy path ------------------------------------------------------------------------


async def test_a_bot_over_aiohttp_round_trips_real_objects() -> None:
    async with (
        FakeTelegram() as fake,
        Bot(fake.token, base_url=fake.base_url, request=AiohttpRequest()) as bot,
    ):
        me = await bot.get_me()
        fake.send_text(USER, "hello")
        sent = await bot.send_message(USER, "Consent?", reply_markup=KEYBOARD)
    assert (me.id, me.is_bot, me.username) == (BOT_ID, True, "kyc_test_bot")
    assert (sent.chat.id, sent.text, sent.reply_markup) == (USER, "Consent?", KEYBOARD)
    assert fake.calls_to("sendMessage")[0].params["reply_markup"] == KEYBOARD.to_dict()


async def test_the_wire_format_is_httpx_s(api: RecordingApi) -> None:
    async def calls(request: BaseRequest | None) -> list[Received]:
        api.received.clear()
        async with bot_over(api, request) as bot:
            await bot.get_me()
            await bot.send_message(
                USER, "héllo & <b>=?", reply_markup=KEYBOARD, protect_content=True
            )
        return list(api.received)

    over_httpx = await calls(HTTPXRequest())
    over_aiohttp = await calls(AiohttpRequest())
    assert over_aiohttp == over_httpx
    get_me, send = over_aiohttp[-2:]
    assert (get_me.method, get_me.content_type, get_me.body) == ("getMe", None, b"")
    assert send.content_type == "application/x-www-form-urlencoded"
    assert b"reply_markup=%7B%22inline_keyboard" in send.body


async def test_an_upload_is_multipart_like_httpx_s(api: RecordingApi) -> None:
    content = b"%PDF-1.4\r\n--not-a-boundary\r\n\x00\xff"

    async def upload(request: BaseRequest) -> Received:
        async with bot_over(api, request) as bot:
            await bot.send_document(
                USER, content, filename='report "q1" é.pdf', caption="Your record"
            )
        return api.received[-1]

    over_httpx = await upload(HTTPXRequest())
    over_aiohttp = await upload(AiohttpRequest())
    assert over_aiohttp.method == "sendDocument"
    assert over_aiohttp.parts() == over_httpx.parts()
    assert over_aiohttp.parts() == [
        ({"Content-Disposition": 'form-data; name="chat_id"'}, b"1001"),
        ({"Content-Disposition": 'form-data; name="caption"'}, b"Your record"),
        (
            {
                "Content-Disposition": (
                    'form-data; name="document"; filename="report %22q1%22 é.pdf"'
                ),
                "Content-Type": "application/pdf",
            },
            content,
        ),
    ]


async def test_the_bot_s_application_talks_through_aiohttp(tmp_path: Path) -> None:
    async with FakeTelegram() as fake:
        settings = load_settings(
            None,
            {
                "KYCBOT_TELEGRAM__TOKEN": fake.token,
                "KYCBOT_TELEGRAM__BASE_URL": fake.base_url,
                "KYCBOT_SECURITY__HMAC_KEY": "h" * 40,
                "KYCBOT_SECURITY__ENCRYPTION_KEY": base64.b64encode(os.urandom(32)).decode(),
            },
        )
        database = Database(f"sqlite+aiosqlite:///{tmp_path}/unused.sqlite3")
        vault = NumberVault(
            encryption_key=settings.security.encryption_key_bytes(),
            hmac_key=settings.security.hmac_key_bytes(),
        )
        runner = Runner(
            settings=settings, database=database, provider=SimulatorProvider(), vault=vault
        )
        application = build_application(settings, runner)
        assert isinstance(application.bot.request, AiohttpRequest)
        async with application:  # initialize: getMe over aiohttp; shutdown closes it
            assert application.bot.username == "kyc_test_bot"
        await database.dispose()
    assert fake.calls_to("getMe")


# -- Telegram's refusals survive the transport ----------------------------------------------


@pytest.mark.parametrize(
    ("status", "error", "description"),
    [
        (400, BadRequest, "Bad Request: chat not found"),
        (403, Forbidden, "Forbidden: bot was blocked by the user"),
        (409, Conflict, "Conflict: terminated by other getUpdates request"),
        (502, NetworkError, "Bad Gateway"),
    ],
)
async def test_refusals_become_ptb_errors(
    api: RecordingApi, status: int, error: type[TelegramError], description: str
) -> None:
    body = {"ok": False, "error_code": status, "description": description}
    api.answers["sendMessage"] = (status, body)
    async with bot_over(api, AiohttpRequest()) as bot:
        with pytest.raises(error) as raised:
            await bot.send_message(USER, "hi")
    assert type(raised.value) is error
    assert raised.value.message == error(description).message  # PTB trims "Bad Request: "
    assert_no_token(raised.value)


async def test_flood_control_keeps_its_delay(
    api: RecordingApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    # PTB's RetryAfter warns in its constructor (PTBDeprecationWarning) unless PTB_TIMEDELTA.
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    body = {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 17",
        "parameters": {"retry_after": 17},
    }
    api.answers["sendMessage"] = (429, body)
    async with bot_over(api, AiohttpRequest()) as bot:
        with pytest.raises(RetryAfter) as raised:
            await bot.send_message(USER, "hi")
    assert raised.value.retry_after.total_seconds() == 17  # type: ignore[union-attr]


# -- the transport's own failures -----------------------------------------------------------


async def test_a_server_that_never_answers_times_out_after_the_read_timeout(
    api: RecordingApi,
) -> None:
    api.hanging.add("sendMessage")
    async with bot_over(api, AiohttpRequest(read_timeout=0.3)) as bot:
        with elapsed() as took, pytest.raises(TimedOut) as raised:
            await bot.send_message(USER, "hi")
    assert 0.25 < took[0] < 1.5
    assert raised.value.message == "Timed out"
    assert_no_token(raised.value)


async def test_a_refused_connection_is_a_network_error() -> None:
    url = f"http://127.0.0.1:{closed_port()}/bot{TOKEN}/getMe"
    async with AiohttpRequest() as request:
        with pytest.raises(NetworkError) as raised:
            await request.post(url)
    assert type(raised.value) is NetworkError
    assert raised.value.message == "aiohttp.ClientConnectorError: Connection refused"
    assert isinstance(raised.value.__cause__, OSError)
    assert_no_token(raised.value)


async def test_a_connection_never_accepted_times_out_and_hides_the_token() -> None:
    # A listening socket with a full accept queue: Linux drops further SYNs, so connecting
    # hangs. aiohttp's own message for this quotes the whole URL, token and all.
    with closing(socket.socket()) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        fillers = [socket.socket() for _ in range(4)]
        try:
            for filler in fillers:
                filler.setblocking(False)
                filler.connect_ex(("127.0.0.1", port))
            url = f"http://127.0.0.1:{port}/bot{TOKEN}/getMe"
            async with AiohttpRequest(connect_timeout=0.2) as request:
                with elapsed() as took, pytest.raises(TimedOut) as raised:
                    await request.post(url)
        finally:
            for filler in fillers:
                filler.close()
    assert took[0] < 1.5
    assert raised.value.__cause__ is not None
    assert_no_token(raised.value)


async def test_a_full_pool_times_out_without_sending(api: RecordingApi) -> None:
    api.hanging.add("getUpdates")
    url = f"{api.base_url}{TOKEN}"
    async with AiohttpRequest(connection_pool_size=1, pool_timeout=0.1) as request:
        waiting = asyncio.create_task(request.post(f"{url}/getUpdates"))
        await api.wait_for("getUpdates")
        with pytest.raises(TimedOut, match=r"^Pool timeout: All connections"):
            await request.post(f"{url}/getMe")
        assert api.methods() == ["getUpdates"]
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        # The cancelled call gave its slot back.
        assert await request.post(f"{url}/getMe") == BOT_USER


async def test_a_long_poll_may_outlast_the_read_timeout_by_its_own_timeout(
    api: RecordingApi,
) -> None:
    # PTB asks getUpdates for read timeout + poll timeout; a 10 s poll behaves the same.
    api.answers["getUpdates"] = (200, {"ok": True, "result": []})
    api.delays["getUpdates"] = 0.9
    polling = AiohttpRequest(read_timeout=0.3)
    async with Bot(TOKEN, base_url=api.base_url, get_updates_request=polling) as bot:
        assert await bot.get_updates(timeout=1) == ()
        api.delays["getUpdates"] = 1.8
        with elapsed() as took, pytest.raises(TimedOut):
            await bot.get_updates(timeout=1)
    assert 1.2 < took[0] < 1.7


# -- lifecycle ------------------------------------------------------------------------------


async def test_shutdown_closes_the_connections_and_may_repeat(api: RecordingApi) -> None:
    request = AiohttpRequest()
    url = f"{api.base_url}{TOKEN}/getMe"
    # PTB wraps what a transport raises besides TelegramError, as for HTTPXRequest.
    with pytest.raises(NetworkError, match="not initialized"):
        await request.post(url)
    await request.initialize()
    await request.initialize()  # idempotent: still the one session
    assert await request.post(url) == BOT_USER
    assert api.open_connections == 1
    await request.shutdown()
    async with asyncio.timeout(2):
        # aiohttp's server tells nobody when a client hangs up: look until it noticed.
        while api.open_connections:  # noqa: ASYNC110
            await asyncio.sleep(0.005)
    with pytest.raises(NetworkError, match="not initialized"):
        await request.post(url)
    await request.shutdown()
    # Like HTTPXRequest, it can be initialized again after a shutdown.
    async with request:
        assert await request.post(url) == BOT_USER
    assert request.read_timeout == 5.0
