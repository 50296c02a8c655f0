"""Benchmark of the Telegram bot against a bare python-telegram-bot echo bot, in one run.

    python -m bench.telegram_bench                # about 2 1/2 minutes
    python -m bench.telegram_bench --quick        # about 30 seconds
    python -m bench.telegram_bench --database-url postgresql+asyncpg://postgres@127.0.0.1/kyc

Both bots are processes of their own, each polling its own fake Bot API that this process
serves on 127.0.0.1 (the same code for both): the real bot is `kycbot run` (`python -m
bot.cli run`) with the simulator provider (no latency) and SQLite in a temporary folder (or
`--database-url`, migrated first); the baseline is `bench/echo_bot.py`. Their CPU comes from
/proc/<pid>/stat (utime + stime, all threads), their memory from /proc/<pid>/status (VmRSS;
VmHWM for the peak). The two bots' rounds alternate, so both see the same machine noise:

1. all at once: `--users` users at once, each through the whole flow (/start, I agree, the
   number, Send OTP, the OTP from the simulated SMS on the bot's stdout: 5 updates); the echo
   bot gets as many texts, 5 per user. Gives updates/s and bot CPU ms per update.
2. paced: `--rate` updates per second for `--seconds` per bot. Each update is timed from
   being queued at the fake to the first sendMessage of its answer reaching the fake, so both
   bots' figures include the long-poll delivery and the "added latency" is the difference. A
   user sends its next update only once the last one is answered; when no user is ready at a
   tick, a new one starts, so the offered rate holds even when the bot falls behind.
3. parked: `--parked` new users each taken to the Aadhaar-number prompt (/start, I agree; the
   echo bot gets two texts from as many new chats), then VmRSS and VmHWM are read.

`kycbot run` holds itself to Telegram's 30 messages per second (bot/rate_limit.py: PTB's
AIORateLimiter over sent and edited messages; answers to presses, deletions and chat actions
pass). This flow sends about 1.6 counted calls per update, which caps the bot near 19
updates/s: at 100 updates/s a run of the bot as shipped would measure nothing but that
limiter. The measured bot is therefore started
through `LAUNCHER`, the same `kycbot run` with the limiter's overall rate off; a last short
round runs the bot exactly as shipped and reports its throughput beside.

The fake is lean on purpose: tests/fakes' FakeTelegram costs about 2 ms of CPU per request
(Starlette, uvicorn, recording every call, waking every waiter on every change), as much as
the echo bot spends on a whole update, and it would compete with the bots for the two cores.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import contextlib
import functools
import itertools
import json
import os
import re
import secrets
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, cast
from urllib.parse import parse_qsl

from stdnum import verhoeff

JsonDict = dict[str, Any]
Turn = Callable[[], Awaitable[None]]

REPO = Path(__file__).resolve().parent.parent
UPDATES_PER_FLOW = 5
BOT_ID = 7000002
BOT_USER: JsonDict = {
    "id": BOT_ID,
    "is_bot": True,
    "first_name": "Bench Bot",
    "username": "kyc_bench_bot",
    "can_join_groups": True,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
}
STEP_TIMEOUT_S = 60.0
MAX_USERS_IN_FLIGHT = 2000  # a paced round gives up when the bot falls this far behind
# Targets of the issue.
TARGET_CPU_RATIO = 2.0
TARGET_ADDED_P95_MS = 10.0
TARGET_RSS_BYTES = 120_000_000

# Starts `kycbot run` with PTB's overall rate limit off ("unthrottled"), or exactly as shipped.
LAUNCHER = """\
import functools, sys
import bot.rate_limit
import bot.telegram_bot
from bot.cli import main
if sys.argv[1] == "unthrottled":
    bot.telegram_bot.MessageRateLimiter = functools.partial(
        bot.rate_limit.MessageRateLimiter, overall_max_rate=0
    )
raise SystemExit(main(["run"]))
"""
SMS_LINE = re.compile(r"\[simulated SMS to the mobile linked with XXXX XXXX (\d{4})\] OTP (\d{6})")
# The default English prompts that end each step of the flow (the last message of an answer).
ASKS_CONSENT = "Do you agree to verify"
ASKS_NUMBER = "type your 12-digit Aadhaar number"
ASKS_CONFIRMATION = "Send the OTP to the mobile linked with"
ASKS_OTP = "type the 6-digit OTP"
VERIFIED = "Your identity is verified"


def _json(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


# -- the fake Bot API ---------------------------------------------------------------------


class ApiError(Exception):
    """A Bot API error answer."""

    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description

    def body(self) -> bytes:
        """The JSON Telegram answers with."""
        return _json({"ok": False, "error_code": self.status, "description": self.description})


@dataclass(slots=True)
class Sent:
    """A message of the bot, as the driver sees it."""

    at: float  # perf_counter when the request reached the fake
    message_id: int
    text: str
    buttons: tuple[str, ...]  # callback_data of its inline buttons


@dataclass(slots=True)
class FakeChat:
    """One private chat: the user, the bot's messages not yet read, editable keyboards."""

    user: JsonDict
    wire: JsonDict
    next_message_id: int = 1
    arrived: list[Sent] = field(default_factory=list)
    read: int = 0
    changed: asyncio.Future[None] | None = None
    keyboards: dict[int, JsonDict] = field(default_factory=dict)  # message id -> wire

    def new_message_id(self) -> int:
        """User and bot messages share one sequence of ids per chat, as in Telegram."""
        self.next_message_id += 1
        return self.next_message_id - 1


_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 409: "Conflict"}


class _Connection(asyncio.Protocol):
    """HTTP/1.1 with keep-alive, one request at a time (httpx does not pipeline)."""

    def __init__(self, api: LeanBotApi) -> None:
        self._api = api
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self._api.connection_lost(self)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while (end := self._buffer.find(b"\r\n\r\n")) >= 0:
            lines = bytes(self._buffer[:end]).decode("latin-1").split("\r\n")
            length = 0
            for line in lines[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            total = end + 4 + length
            if len(self._buffer) < total:
                return
            body = bytes(self._buffer[end + 4 : total])
            del self._buffer[:total]
            self._api.handle(self, lines[0].split(" ")[1], body)

    def respond(self, status: int, payload: bytes) -> None:
        """Write one response (dropped if the client is gone)."""
        if self._transport is None or self._transport.is_closing():
            return
        head = (
            f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
        )
        self._transport.write(head.encode() + payload)

    def close(self) -> None:
        """Close the connection."""
        if self._transport is not None:
            self._transport.close()


class LeanBotApi:
    """Just enough of the Bot API for these two bots, answered from memory, O(1) per request.

    Speaks what PTB sends (`POST /bot<token>/<method>`, form bodies with JSON-encoded
    non-string fields) and answers valid Bot API objects. The driver's side: `send_text`,
    `press` (both return the time the update was queued) and `expect` (the bot's messages up
    to the first containing a text).
    """

    def __init__(self) -> None:
        self.token = f"{BOT_ID}:{secrets.token_urlsafe(27)}"
        self._prefix = f"/bot{self.token}/"
        self._pending: collections.deque[tuple[int, bytes]] = collections.deque()
        self._next_update_id = 1
        self._serial = 0
        self._chats: dict[int, FakeChat] = {}
        self._poll: _Connection | None = None
        self._poll_limit = 100
        self._poll_timer: asyncio.TimerHandle | None = None
        self._polled: asyncio.Event = asyncio.Event()
        self._connections: set[_Connection] = set()
        self._server: asyncio.Server | None = None
        self.calls: collections.Counter[str] = collections.Counter()
        self.errors: list[str] = []
        self.port = 0

    @property
    def base_url(self) -> str:
        """What PTB's base_url takes."""
        return f"http://127.0.0.1:{self.port}/bot"

    async def __aenter__(self) -> LeanBotApi:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._connect, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._end_poll()
        if self._server is not None:
            self._server.close()
            for connection in list(self._connections):
                connection.close()
            await self._server.wait_closed()

    def _connect(self) -> _Connection:
        connection = _Connection(self)
        self._connections.add(connection)
        return connection

    def connection_lost(self, connection: _Connection) -> None:
        """Forget a closed connection (and its waiting getUpdates)."""
        self._connections.discard(connection)
        if self._poll is connection:
            self._poll = None
            if self._poll_timer is not None:
                self._poll_timer.cancel()

    async def polled(self) -> None:
        """Return once the bot has called getUpdates."""
        await self._polled.wait()

    # -- requests ---------------------------------------------------------------------------

    def handle(self, connection: _Connection, target: str, body: bytes) -> None:
        """Answer one request (a getUpdates with nothing to give waits)."""
        at = time.perf_counter()
        path = target.split("?", 1)[0]
        if not path.startswith(self._prefix):
            self.errors.append(f"unknown path {path[:40]}")
            connection.respond(404, ApiError(404, "Not Found").body())
            return
        method = path[len(self._prefix) :].lower()
        self.calls[method] += 1
        params = dict(parse_qsl(body.decode(), keep_blank_values=True)) if body else {}
        try:
            if method == "getupdates":
                self._get_updates(connection, params)
                return
            result = self._answer(method, params, at)
        except ApiError as error:
            self.errors.append(f"{method}: {error.status} {error.description}")
            connection.respond(error.status, error.body())
            return
        connection.respond(200, b'{"ok":true,"result":' + _json(result) + b"}")

    def _answer(self, method: str, params: dict[str, str], at: float) -> object:
        if method == "sendmessage":
            return self._send_message(params, at)
        if method in ("editmessagereplymarkup", "editmessagetext"):
            return self._edit(method, params)
        if method in ("deletemessage", "sendchataction"):
            self._chat_of_call(params)
            return True
        if method in ("answercallbackquery", "deletewebhook"):
            return True
        if method == "getme":
            return BOT_USER
        raise ApiError(404, "Not Found")

    def _chat_of_call(self, params: dict[str, str]) -> FakeChat:
        try:
            return self._chats[int(params["chat_id"])]
        except (KeyError, ValueError):
            raise ApiError(400, "Bad Request: chat not found") from None

    def _send_message(self, params: dict[str, str], at: float) -> JsonDict:
        chat = self._chat_of_call(params)
        text = params.get("text", "")
        if not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        message_id = chat.new_message_id()
        wire: JsonDict = {
            "message_id": message_id,
            "from": BOT_USER,
            "chat": chat.wire,
            "date": int(time.time()),
            "text": text,
        }
        if params.get("protect_content") == "true":
            wire["has_protected_content"] = True
        buttons: tuple[str, ...] = ()
        markup = json.loads(params["reply_markup"]) if params.get("reply_markup") else {}
        if "inline_keyboard" in markup:  # Telegram echoes only inline keyboards
            wire["reply_markup"] = markup
            rows = markup["inline_keyboard"]
            buttons = tuple(b["callback_data"] for row in rows for b in row if "callback_data" in b)
            chat.keyboards[message_id] = wire
        chat.arrived.append(Sent(at, message_id, text, buttons))
        if chat.changed is not None and not chat.changed.done():
            chat.changed.set_result(None)
        return wire

    def _edit(self, method: str, params: dict[str, str]) -> JsonDict:
        chat = self._chat_of_call(params)
        shown = chat.keyboards.pop(int(params.get("message_id") or 0), None)
        if shown is None:  # this flow only ever edits messages that show buttons
            raise ApiError(400, "Bad Request: message to edit not found")
        wire = {k: v for k, v in shown.items() if k != "reply_markup"}
        wire["edit_date"] = int(time.time())
        if method == "editmessagetext":
            wire["text"] = params.get("text", "")
        markup = json.loads(params["reply_markup"]) if params.get("reply_markup") else {}
        if "inline_keyboard" in markup:
            wire["reply_markup"] = markup
            chat.keyboards[wire["message_id"]] = wire
        return wire

    def _get_updates(self, connection: _Connection, params: dict[str, str]) -> None:
        self._polled.set()
        offset = int(float(params.get("offset") or 0))
        while self._pending and self._pending[0][0] < offset:
            self._pending.popleft()
        limit = min(max(int(float(params.get("limit") or 100)), 1), 100)
        timeout = float(params.get("timeout") or 0)
        if self._pending or timeout <= 0:
            connection.respond(200, self._batch(limit))
            return
        if self._poll is not None:  # as Telegram: a newer getUpdates ends the waiting one
            self._poll.respond(
                409, ApiError(409, "Conflict: terminated by other getUpdates").body()
            )
        self._poll, self._poll_limit = connection, limit
        if self._poll_timer is not None:
            self._poll_timer.cancel()
        self._poll_timer = asyncio.get_running_loop().call_later(timeout, self._end_poll)

    def _batch(self, limit: int) -> bytes:
        updates = b",".join(u for _, u in itertools.islice(self._pending, limit))
        return b'{"ok":true,"result":[' + updates + b"]}"

    def _end_poll(self) -> None:
        """Answer the waiting getUpdates with what there is (nothing, on its timeout)."""
        if self._poll_timer is not None:
            self._poll_timer.cancel()
            self._poll_timer = None
        if self._poll is not None:
            poll, self._poll = self._poll, None
            poll.respond(200, self._batch(self._poll_limit))

    # -- the users' side --------------------------------------------------------------------

    def _chat(self, user_id: int) -> FakeChat:
        chat = self._chats.get(user_id)
        if chat is None:
            user = {"id": user_id, "is_bot": False, "first_name": "Asha", "language_code": "en"}
            wire = {"id": user_id, "type": "private", "first_name": "Asha"}
            chat = self._chats[user_id] = FakeChat(user, wire)
        return chat

    def _queue(self, payload: JsonDict) -> float:
        update_id = self._next_update_id
        self._next_update_id += 1
        self._pending.append((update_id, _json({"update_id": update_id, **payload})))
        queued = time.perf_counter()
        if self._poll is not None:
            self._end_poll()
        return queued

    def send_text(self, user_id: int, text: str) -> float:
        """The user types `text` ("/command" gets its bot_command entity); when it was queued."""
        chat = self._chat(user_id)
        message: JsonDict = {
            "message_id": chat.new_message_id(),
            "from": chat.user,
            "chat": chat.wire,
            "date": int(time.time()),
            "text": text,
        }
        if text.startswith("/"):
            length = len(text.split()[0])
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        return self._queue({"message": message})

    def press(self, user_id: int, message_id: int, data: str) -> float:
        """The user presses the button with `data` under a bot message; when it was queued."""
        chat = self._chat(user_id)
        shown = chat.keyboards.get(message_id)
        if shown is None:
            raise AssertionError(f"user {user_id}: message #{message_id} shows no buttons")
        self._serial += 1
        query = {
            "id": str(4_000_000_000 + self._serial),
            "from": chat.user,
            "message": shown,
            "chat_instance": str(user_id * 31 + 7),
            "data": data,
        }
        return self._queue({"callback_query": query})

    async def expect(self, user_id: int, match: Callable[[str], bool]) -> list[Sent]:
        """The bot's unread messages up to the first whose text matches (waits for it)."""
        chat = self._chat(user_id)
        try:
            async with asyncio.timeout(STEP_TIMEOUT_S):
                while True:
                    for index in range(chat.read, len(chat.arrived)):
                        if match(chat.arrived[index].text):
                            got = chat.arrived[chat.read : index + 1]
                            chat.read = index + 1
                            return got
                    chat.changed = asyncio.get_running_loop().create_future()
                    await chat.changed
        except TimeoutError:
            texts = [sent.text[:60] for sent in chat.arrived]
            raise AssertionError(
                f"user {user_id}: no expected answer in {STEP_TIMEOUT_S:g}s; the bot sent "
                f"{texts}; fake errors: {self.errors[-5:]}"
            ) from None

    def forget(self, user_id: int) -> None:
        """Drop what the driver kept for a user who is done."""
        chat = self._chats[user_id]
        chat.arrived.clear()
        chat.read = 0
        chat.changed = None


# -- the bots -----------------------------------------------------------------------------

_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Memory:
    """A process's resident memory now and at its peak, in bytes."""

    rss: int
    peak: int


class BotProcess:
    """A bot running as its own process; its CPU time and memory from /proc."""

    def __init__(
        self, name: str, process: asyncio.subprocess.Process, stderr: Path, sms: SmsInbox | None
    ) -> None:
        self.name = name
        self._process = process
        self._stderr = stderr
        self._sms = sms
        self._reader = asyncio.create_task(self._read_stdout(), name=f"{name}-stdout")

    @classmethod
    async def start(
        cls, name: str, argv: list[str], env: dict[str, str], folder: Path, sms: SmsInbox | None
    ) -> BotProcess:
        """Start `argv` in `folder`, stdout read for simulated SMS, stderr to a file."""
        stderr = folder / f"{name}.stderr.log"
        with stderr.open("wb") as log:
            process = await asyncio.create_subprocess_exec(
                *argv, env=env, cwd=folder, stdout=asyncio.subprocess.PIPE, stderr=log
            )
        return cls(name, process, stderr, sms)

    @property
    def pid(self) -> int:
        """The process id."""
        return self._process.pid

    async def _read_stdout(self) -> None:
        assert self._process.stdout is not None
        while line := await self._process.stdout.readline():
            found = SMS_LINE.search(line.decode(errors="replace"))
            if found and self._sms is not None:
                self._sms.arrived(found.group(1), found.group(2))

    def cpu_seconds(self) -> float:
        """User plus system CPU time of every thread so far."""
        stat = Path(f"/proc/{self.pid}/stat").read_text()
        fields = stat.rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICKS

    def memory(self) -> Memory:
        """VmRSS and VmHWM."""
        values: dict[str, int] = {}
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            name, _, rest = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                values[name] = int(rest.split()[0]) * 1024
        return Memory(values["VmRSS"], values["VmHWM"])

    def check_alive(self) -> None:
        """Fail with the end of its stderr if the bot has exited."""
        if self._process.returncode is not None:
            raise RuntimeError(f"the {self.name} bot exited: {self.stderr_tail()}")

    def stderr_tail(self) -> str:
        """The last lines the bot wrote to stderr."""
        lines = self._stderr.read_text(errors="replace").splitlines()
        return "\n".join(lines[-15:])

    async def stop(self) -> None:
        """SIGTERM, then wait for a graceful stop (kill after 20 s)."""
        if self._process.returncode is None:
            self._process.terminate()
            try:
                async with asyncio.timeout(20):
                    await self._process.wait()
            except TimeoutError:
                self._process.kill()
                await self._process.wait()
        await self._reader


class SmsInbox:
    """The simulator's SMS lines from the bot's stdout, by the last 4 digits of the number."""

    def __init__(self) -> None:
        self._otps: dict[str, asyncio.Future[str]] = {}

    def _future(self, last4: str) -> asyncio.Future[str]:
        if last4 not in self._otps:
            self._otps[last4] = asyncio.get_running_loop().create_future()
        return self._otps[last4]

    def arrived(self, last4: str, otp: str) -> None:
        """An SMS line was printed."""
        future = self._future(last4)
        if future.done():
            raise AssertionError(f"two OTPs for XXXX XXXX {last4} at once")
        future.set_result(otp)

    def waiting_for(self, last4: str) -> asyncio.Future[str]:
        """The OTP the next SMS to `last4` will carry."""
        return self._future(last4)

    def consumed(self, last4: str) -> None:
        """Its OTP was used."""
        del self._otps[last4]


def _numbers() -> Iterator[str]:
    """Checksum-valid synthetic Aadhaar numbers whose last 4 digits never repeat."""
    seen: set[str] = set()
    for k in itertools.count():
        if len(seen) == 10_000:
            raise RuntimeError("out of distinct last-4 digits: fewer verifications per run")
        prefix = f"{2 + k % 7}{k:010d}"
        number = prefix + str(verhoeff.calc_check_digit(prefix))
        if number[-4:] not in seen:
            seen.add(number[-4:])
            yield number


@dataclass(frozen=True, slots=True)
class Sample:
    """One answered update: what it was, and its latency (queued -> first message back)."""

    kind: str
    seconds: float


Sink = list[Sample]


class Dialogue:
    """One simulated user: on its turn it sends an update, then waits for the whole answer."""

    def __init__(self, fake: LeanBotApi, user_id: int, turn: Turn, sink: Sink) -> None:
        self._fake = fake
        self._user_id = user_id
        self._turn = turn
        self._sink = sink

    async def _exchange(
        self, kind: str, send: Callable[[], float], until: Callable[[str], bool]
    ) -> list[Sent]:
        await self._turn()
        queued = send()
        answer = await self._fake.expect(self._user_id, until)
        self._sink.append(Sample(kind, answer[0].at - queued))
        return answer

    async def say(self, kind: str, text: str, until: Callable[[str], bool]) -> list[Sent]:
        """Type `text`; the bot's messages up to the one `until` accepts."""
        send = functools.partial(self._fake.send_text, self._user_id, text)
        return await self._exchange(kind, send, until)

    async def press(
        self, kind: str, shown: list[Sent], prefix: str, until: Callable[[str], bool]
    ) -> list[Sent]:
        """Press the button whose data starts with `prefix` among the messages `shown`."""
        for message in reversed(shown):
            for data in message.buttons:
                if data.startswith(prefix):
                    send = functools.partial(
                        self._fake.press, self._user_id, message.message_id, data
                    )
                    return await self._exchange(kind, send, until)
        raise AssertionError(f"no {prefix!r} button in {[m.text[:40] for m in shown]}")

    def done(self) -> None:
        """Let the fake drop what it kept for the driver."""
        self._fake.forget(self._user_id)


def _containing(text: str) -> Callable[[str], bool]:
    return lambda sent: text in sent


async def _no_wait() -> None:
    return None


class Users(Protocol):
    """Simulated users of one bot."""

    async def whole(self, turn: Turn, sink: Sink) -> None:
        """A new user sends 5 updates, each on its turn."""

    async def park(self, sink: Sink) -> None:
        """A new user sends 2 updates and stays (the kyc bot: at the Aadhaar-number prompt)."""


class KycUsers:
    """Users of `kycbot run`: the whole verification, or up to the Aadhaar-number prompt."""

    def __init__(
        self,
        fake: LeanBotApi,
        sms: SmsInbox,
        first_user_id: int,
        numbers: Iterator[str] | None = None,
    ) -> None:
        self._fake = fake
        self._sms = sms
        self._ids = itertools.count(first_user_id)
        self._numbers = _numbers() if numbers is None else numbers

    async def _to_number_prompt(self, user: Dialogue) -> None:
        consent = await user.say("/start", "/start", _containing(ASKS_CONSENT))
        await user.press("I agree", consent, "agree|", _containing(ASKS_NUMBER))

    async def whole(self, turn: Turn, sink: Sink) -> None:
        """The whole verification."""
        user = Dialogue(self._fake, next(self._ids), turn, sink)
        number = next(self._numbers)
        await self._to_number_prompt(user)
        confirm = await user.say("the number", number, _containing(ASKS_CONFIRMATION))
        otp = self._sms.waiting_for(number[-4:])
        await user.press("Send OTP", confirm, "send_otp|", _containing(ASKS_OTP))
        async with asyncio.timeout(STEP_TIMEOUT_S):
            code = await otp
        self._sms.consumed(number[-4:])
        await user.say("the OTP", code, _containing(VERIFIED))
        user.done()

    async def park(self, sink: Sink) -> None:
        """Stop at the Aadhaar-number prompt."""
        user = Dialogue(self._fake, next(self._ids), _no_wait, sink)
        await self._to_number_prompt(user)
        user.done()


class EchoUsers:
    """Users of the echo bot: texts, each answered by the same text."""

    def __init__(self, fake: LeanBotApi, first_user_id: int) -> None:
        self._fake = fake
        self._ids = itertools.count(first_user_id)

    async def _texts(self, count: int, turn: Turn, sink: Sink) -> None:
        user = Dialogue(self._fake, next(self._ids), turn, sink)
        for index in range(count):
            text = f"hello {index}"
            await user.say("text", text, text.__eq__)
        user.done()

    async def whole(self, turn: Turn, sink: Sink) -> None:
        """As many updates as a whole verification."""
        await self._texts(UPDATES_PER_FLOW, turn, sink)

    async def park(self, sink: Sink) -> None:
        """As many updates as parking a kyc user."""
        await self._texts(2, _no_wait, sink)


# -- rounds -------------------------------------------------------------------------------

Work = Callable[[Sink], Awaitable[None]]


@dataclass
class Round:
    """One measured round of one bot."""

    samples: list[Sample]
    wall_s: float
    bot_cpu_s: float
    bench_cpu_s: float  # this process: the fake and the simulated users

    @property
    def updates(self) -> int:
        """Updates answered."""
        return len(self.samples)

    @property
    def per_second(self) -> float:
        """Updates answered per second."""
        return self.updates / self.wall_s if self.wall_s else 0.0

    @property
    def cpu_ms(self) -> float:
        """Bot CPU per update."""
        return 1000 * self.bot_cpu_s / self.updates if self.updates else 0.0

    @property
    def cores(self) -> float:
        """Bot CPU per second of the round."""
        return self.bot_cpu_s / self.wall_s if self.wall_s else 0.0

    def latency_ms(self, fraction: float, kind: str | None = None) -> float:
        """A percentile of the latencies (of one kind of update)."""
        values = sorted(s.seconds for s in self.samples if kind in (None, s.kind))
        return 1000 * values[round(fraction * (len(values) - 1))] if values else 0.0


def merge_rounds(rounds: list[Round]) -> Round:
    """The rounds as one: their samples together, their times summed."""
    return Round(
        [sample for r in rounds for sample in r.samples],
        sum(r.wall_s for r in rounds),
        sum(r.bot_cpu_s for r in rounds),
        sum(r.bench_cpu_s for r in rounds),
    )


class Measured(Protocol):
    """What a round measures: a bot process, or several replicas together."""

    def cpu_seconds(self) -> float:
        """User plus system CPU time so far."""

    def check_alive(self) -> None:
        """Fail if it has exited."""


async def measure(bot: Measured, work: Work) -> Round:
    """Run `work` against `bot`: its samples, the wall time, the bot's and this process's CPU."""
    bot.check_alive()
    sink: Sink = []
    cpu, own, wall = bot.cpu_seconds(), time.process_time(), time.perf_counter()
    await work(sink)
    wall = time.perf_counter() - wall
    measured = Round(sink, wall, bot.cpu_seconds() - cpu, time.process_time() - own)
    bot.check_alive()
    return measured


def all_at_once(users: Users, count: int) -> Work:
    """`count` users at once, each through the whole flow as fast as the bot answers."""

    async def work(sink: Sink) -> None:
        await asyncio.gather(*(users.whole(_no_wait, sink) for _ in range(count)))

    return work


def parking(users: Users, count: int, concurrency: int) -> Work:
    """`count` new users parked, `concurrency` at a time."""

    async def work(sink: Sink) -> None:
        todo = iter(range(count))

        async def worker() -> None:
            for _ in todo:
                await users.park(sink)

        await asyncio.gather(*(worker() for _ in range(concurrency)))

    return work


class _RoundOver(Exception):
    """The paced round has offered all its updates."""


class Pacer:
    """Offers one update every 1/rate s to a user ready to send; starts a user when none is."""

    def __init__(self, users: Users, rate: float, updates: int) -> None:
        self._users = users
        self._rate = rate
        self._updates = updates
        self._waiting: collections.deque[asyncio.Future[None]] = collections.deque()
        self._grants = 0
        self._over = False
        self.offered_per_second = 0.0  # as this process's timer managed

    async def turn(self) -> None:
        """Wait for a tick given to this user."""
        if self._grants:
            self._grants -= 1
            return
        if self._over:
            raise _RoundOver
        ready = asyncio.get_running_loop().create_future()
        self._waiting.append(ready)
        await ready

    async def _user(self, sink: Sink) -> None:
        with contextlib.suppress(_RoundOver):
            await self._users.whole(self.turn, sink)

    async def __call__(self, sink: Sink) -> None:
        loop = asyncio.get_running_loop()
        tasks: list[asyncio.Task[None]] = []
        started = loop.time()
        for tick in range(self._updates):
            delay = started + tick / self._rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            if self._waiting:
                self._waiting.popleft().set_result(None)
                continue
            self._grants += 1
            tasks.append(asyncio.create_task(self._user(sink)))
            if tick % 100 == 0 and sum(not t.done() for t in tasks) > MAX_USERS_IN_FLIGHT:
                raise RuntimeError(f"the bot fell {MAX_USERS_IN_FLIGHT} users behind the pace")
        self.offered_per_second = (self._updates - 1) / (loop.time() - started)
        self._over = True
        while self._waiting:
            self._waiting.popleft().set_exception(_RoundOver())
        await asyncio.gather(*tasks)


# -- the run ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """How much of each measurement."""

    users: int
    rate: float
    seconds: float
    parked: int
    shipped_users: int
    rounds: int = 2
    warmup_users: int = 5
    park_concurrency: int = 64


BOTS = ("kyc", "echo")


def _per_bot() -> dict[str, list[Round]]:
    return {name: [] for name in BOTS}


@dataclass
class Results:
    """Everything measured in one run."""

    throughput: dict[str, list[Round]] = field(default_factory=_per_bot)
    paced: dict[str, list[Round]] = field(default_factory=_per_bot)
    offered: dict[str, list[float]] = field(default_factory=lambda: {n: [] for n in BOTS})
    parked: dict[str, Round] = field(default_factory=dict)
    memory_before: dict[str, Memory] = field(default_factory=dict)
    memory_after: dict[str, Memory] = field(default_factory=dict)
    calls: dict[str, collections.Counter[str]] = field(default_factory=dict)
    shipped: Round | None = None
    fake_errors: list[str] = field(default_factory=list)


def bot_environment(fake: LeanBotApi, database_url: str) -> dict[str, str]:
    """The environment of a bot process talking to `fake`, keys fresh for each run."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KYCBOT_")}
    env.update(
        KYCBOT_TELEGRAM__TOKEN=fake.token,
        KYCBOT_TELEGRAM__BASE_URL=fake.base_url,
        KYCBOT_SECURITY__HMAC_KEY=secrets.token_urlsafe(48),
        KYCBOT_SECURITY__ENCRYPTION_KEY=base64.b64encode(os.urandom(32)).decode(),
        KYCBOT_DATABASE__URL=database_url,
        KYCBOT_PROVIDER__ORDER="simulator",
        KYCBOT_PROVIDERS__SIMULATOR__LATENCY_MS="0",
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])),
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
    )
    return env


async def migrate(env: dict[str, str], folder: Path) -> None:
    """`kycbot db upgrade` on the database of `env`."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "db", "upgrade", env=env, cwd=folder
    )
    if await process.wait() != 0:
        raise RuntimeError("kycbot db upgrade failed")


async def _started(bot: BotProcess, fake: LeanBotApi) -> None:
    try:
        async with asyncio.timeout(60):
            await fake.polled()
    except TimeoutError:
        raise RuntimeError(f"the {bot.name} bot never polled: {bot.stderr_tail()}") from None


def user_id_base() -> int:
    """The first Telegram user id of a run."""
    # Telegram user ids of one run never meet those of an earlier run in a kept database.
    return 1_000_000_000 + secrets.randbelow(1_000_000) * 1_000_000


def _progress(what: str, measured: Round) -> None:
    print(
        f"  {what}: {measured.updates} updates in {measured.wall_s:.1f} s, "
        f"{measured.per_second:.0f}/s, bot CPU {measured.cpu_ms:.2f} ms/update, "
        f"p95 {measured.latency_ms(0.95):.1f} ms",
        file=sys.stderr,
        flush=True,
    )


async def run(plan: Plan, database_url: str | None, folder: Path) -> Results:
    """Start both bots, measure them in alternating rounds, then the bot as shipped."""
    results = Results()
    url = database_url or f"sqlite+aiosqlite:///{folder / 'kyc.sqlite3'}"
    async with LeanBotApi() as kyc_fake, LeanBotApi() as echo_fake:
        kyc_env = bot_environment(kyc_fake, url)
        if database_url:
            await migrate(kyc_env, folder)
        sms = SmsInbox()
        unthrottled = [sys.executable, "-c", LAUNCHER, "unthrottled"]
        kyc = await BotProcess.start("kyc", unthrottled, kyc_env, folder, sms)
        echo_argv = [sys.executable, "-m", "bench.echo_bot"]
        echo_env = bot_environment(echo_fake, url)
        echo = await BotProcess.start("echo", echo_argv, echo_env, folder, None)
        base = user_id_base()
        users: dict[str, Users] = {
            "kyc": KycUsers(kyc_fake, sms, base),
            "echo": EchoUsers(echo_fake, base),
        }
        bots = {"kyc": (kyc, kyc_fake), "echo": (echo, echo_fake)}
        try:
            await _started(kyc, kyc_fake)
            await _started(echo, echo_fake)
            for name, (bot, _) in bots.items():  # warm-up: imports, connections, caches
                await measure(bot, all_at_once(users[name], plan.warmup_users))
            for index in range(plan.rounds):
                share = plan.users // plan.rounds + (index < plan.users % plan.rounds)
                for name, (bot, fake) in bots.items():
                    fake.calls.clear()
                    measured = await measure(bot, all_at_once(users[name], share))
                    results.throughput[name].append(measured)
                    results.calls[name] = (
                        results.calls.get(name, collections.Counter()) + fake.calls
                    )
                    _progress(f"all at once, {name} round {index + 1}", measured)
            updates = round(plan.rate * plan.seconds / plan.rounds)
            for index in range(plan.rounds):
                for name, (bot, _) in bots.items():
                    pacer = Pacer(users[name], plan.rate, updates)
                    measured = await measure(bot, pacer)
                    results.paced[name].append(measured)
                    results.offered[name].append(pacer.offered_per_second)
                    _progress(f"paced, {name} round {index + 1}", measured)
            for name, (bot, _) in bots.items():
                results.memory_before[name] = bot.memory()
                if plan.parked:
                    work = parking(users[name], plan.parked, plan.park_concurrency)
                    results.parked[name] = await measure(bot, work)
                    _progress(f"parking, {name}", results.parked[name])
            await asyncio.sleep(1.0)
            for name, (bot, _) in bots.items():
                results.memory_after[name] = bot.memory()
        finally:
            await kyc.stop()
            await echo.stop()
        results.fake_errors = kyc_fake.errors + echo_fake.errors
    if plan.shipped_users:
        results.shipped = await _as_shipped(plan, database_url, folder)
    return results


async def _as_shipped(plan: Plan, database_url: str | None, folder: Path) -> Round:
    """Throughput of `python -m bot.cli run` exactly as shipped (its rate limiter on)."""
    url = database_url or f"sqlite+aiosqlite:///{folder / 'shipped.sqlite3'}"
    async with LeanBotApi() as fake:
        sms = SmsInbox()
        argv = [sys.executable, "-m", "bot.cli", "run"]
        bot = await BotProcess.start("shipped", argv, bot_environment(fake, url), folder, sms)
        try:
            await _started(bot, fake)
            users = KycUsers(fake, sms, user_id_base())
            measured = await measure(bot, all_at_once(users, plan.shipped_users))
        finally:
            await bot.stop()
    _progress("as shipped, kyc", measured)
    return measured


# -- the report ---------------------------------------------------------------------------


def _mib(size: int) -> str:
    return f"{size / 2**20:.0f} MiB"


def _row(metric: str, kyc: str, echo: str, ratio: str) -> str:
    return f"| {metric:<44} | {kyc:>10} | {echo:>10} | {ratio:>6} |"


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def _table(plan: Plan, results: Results) -> list[str]:
    throughput = {n: merge_rounds(results.throughput[n]) for n in BOTS}
    paced = {n: merge_rounds(results.paced[n]) for n in BOTS}
    before, after = results.memory_before, results.memory_after
    rate = f"{plan.rate:g}/s"

    def row(metric: str, values: dict[str, float], decimals: int) -> str:
        ratio = values["kyc"] / values["echo"] if values["echo"] else float("nan")
        kyc, echo = (f"{values[n]:.{decimals}f}" for n in BOTS)
        return _row(metric, kyc, echo, f"{ratio:.2f}")

    def memory_row(metric: str, values: dict[str, int]) -> str:
        return _row(
            metric,
            _mib(values["kyc"]),
            _mib(values["echo"]),
            f"{values['kyc'] / values['echo']:.2f}",
        )

    parked = f"with {plan.parked:,} users parked" if plan.parked else "at the end"
    return [
        _row("metric", "kycbot run", "echo bot", "ratio"),
        f"|{'-' * 46}|{'-' * 11}:|{'-' * 11}:|{'-' * 7}:|",
        row("updates/s, all users at once", {n: throughput[n].per_second for n in BOTS}, 0),
        row("bot CPU ms per update, all users at once", {n: throughput[n].cpu_ms for n in BOTS}, 2),
        row(f"bot CPU ms per update at {rate}", {n: paced[n].cpu_ms for n in BOTS}, 2),
        row(f"bot CPU use at {rate} (cores)", {n: paced[n].cores for n in BOTS}, 2),
        row(f"p50 latency ms at {rate}", {n: paced[n].latency_ms(0.5) for n in BOTS}, 1),
        row(f"p95 latency ms at {rate}", {n: paced[n].latency_ms(0.95) for n in BOTS}, 1),
        memory_row("peak RSS before parking (VmHWM)", {n: before[n].peak for n in BOTS}),
        memory_row(f"RSS {parked} (VmRSS)", {n: after[n].rss for n in BOTS}),
        memory_row("peak RSS of the run (VmHWM)", {n: after[n].peak for n in BOTS}),
    ]


def _details(plan: Plan, results: Results) -> list[str]:
    lines = []
    for name in BOTS:
        rounds, paced = results.throughput[name], results.paced[name]
        offered = min(results.offered[name], default=0.0)
        lines.append(
            f"{name} rounds: updates/s {' / '.join(f'{r.per_second:.0f}' for r in rounds)}; "
            f"CPU ms/update {' / '.join(f'{r.cpu_ms:.2f}' for r in rounds)}; "
            f"paced p95 ms {' / '.join(f'{r.latency_ms(0.95):.1f}' for r in paced)} "
            f"(offered {offered:.1f}/s)"
        )
    kyc_paced = merge_rounds(results.paced["kyc"])
    kinds = ("/start", "I agree", "the number", "Send OTP", "the OTP")
    lines.append(
        f"kyc p50 / p95 ms at {plan.rate:g}/s by update: "
        + ", ".join(
            f"{k} {kyc_paced.latency_ms(0.5, k):.0f} / {kyc_paced.latency_ms(0.95, k):.0f}"
            for k in kinds
        )
    )
    for name in BOTS:
        merged = merge_rounds(results.throughput[name])
        calls = results.calls.get(name, collections.Counter())
        each = ", ".join(f"{m} {c / merged.updates:.2f}" for m, c in calls.most_common())
        own = 1000 * merged.bench_cpu_s / merged.updates
        lines.append(
            f"{name}: Bot API calls per update {sum(calls.values()) / merged.updates:.2f} "
            f"({each}); this process (fake + users) {own:.2f} ms CPU per update"
        )
    for name, park in results.parked.items():
        before, after = results.memory_before[name], results.memory_after[name]
        per_user = (after.rss - before.rss) / plan.parked / 1024
        lines.append(
            f"{name} parking: {park.updates} updates, {park.per_second:.0f}/s, CPU "
            f"{park.cpu_ms:.2f} ms/update; RSS {_mib(before.rss)} -> {_mib(after.rss)} "
            f"({per_user:+.2f} KiB per parked user)"
        )
    if results.shipped is not None:
        shipped = results.shipped
        lines.append(
            f"kycbot run as shipped (30 messages/s limiter): {plan.shipped_users} users "
            f"at once, {shipped.per_second:.1f} updates/s, CPU {shipped.cpu_ms:.2f} ms/update"
        )
    if results.fake_errors:
        lines.append(f"fake Bot API errors ({len(results.fake_errors)}): {results.fake_errors[:5]}")
    return lines


def _targets(plan: Plan, results: Results) -> list[str]:
    throughput = {n: merge_rounds(results.throughput[n]) for n in BOTS}
    paced = {n: merge_rounds(results.paced[n]) for n in BOTS}
    burst = throughput["kyc"].cpu_ms / throughput["echo"].cpu_ms
    steady = paced["kyc"].cpu_ms / paced["echo"].cpu_ms
    added = paced["kyc"].latency_ms(0.95) - paced["echo"].latency_ms(0.95)
    capacity = throughput["kyc"].per_second
    saturated = (
        f"; saturated: the bot's {capacity:.0f}/s < {plan.rate:g}/s" if capacity < plan.rate else ""
    )
    peak = results.memory_after["kyc"].peak
    rss_verdict = _verdict(peak < TARGET_RSS_BYTES)
    if plan.parked < 10_000:
        rss_verdict = f"not tested: only {plan.parked:,} users parked"
    return [
        "targets (kycbot run, rate limiter off, against the echo bot of the same run):",
        f"  CPU per update <= {TARGET_CPU_RATIO:g}x the echo bot's: {burst:.2f}x all at once, "
        f"{steady:.2f}x at {plan.rate:g}/s  {_verdict(max(burst, steady) <= TARGET_CPU_RATIO)}",
        f"  p95 added latency < {TARGET_ADDED_P95_MS:g} ms at {plan.rate:g} updates/s: "
        f"{added:.1f} ms{saturated}  {_verdict(added < TARGET_ADDED_P95_MS)}",
        f"  RSS < 120 MB ({TARGET_RSS_BYTES / 2**20:.1f} MiB) with 10,000 users parked: peak "
        f"{_mib(peak)}  {rss_verdict}",
    ]


def report(plan: Plan, results: Results, backend: str) -> str:
    """The table, the per-round figures and the targets."""
    head = (
        f"{backend}; {plan.users} users x 5 updates all at once, in {plan.rounds} rounds per bot; "
        f"{plan.rate:g} updates/s for {plan.seconds:g} s per bot in {plan.rounds} rounds; "
        f"{plan.parked:,} users parked; kyc and echo rounds alternate"
    )
    return "\n".join(
        [head, *_table(plan, results), "", *_details(plan, results), "", *_targets(plan, results)]
    )


FULL = Plan(users=200, rate=100, seconds=20, parked=10_000, shipped_users=30)
QUICK = Plan(users=60, rate=100, seconds=6, parked=1_000, shipped_users=15)


def main() -> None:
    """Parse the options, run, print the report."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="about 30 s instead of 2 1/2 min")
    parser.add_argument("--users", type=int, help=f"users all at once (default {FULL.users})")
    parser.add_argument("--rate", type=float, help=f"paced updates/s (default {FULL.rate:g})")
    parser.add_argument("--seconds", type=float, help=f"paced seconds per bot ({FULL.seconds:g})")
    parser.add_argument("--parked", type=int, help=f"users parked (default {FULL.parked}; 0: none)")
    parser.add_argument(
        "--shipped-users", type=int, help="users for the as-shipped round (0: none)"
    )
    parser.add_argument("--database-url", help="default: a fresh SQLite file in a temporary folder")
    args = parser.parse_args()
    plan = QUICK if args.quick else FULL
    plan = Plan(
        users=args.users or plan.users,
        rate=args.rate or plan.rate,
        seconds=args.seconds or plan.seconds,
        parked=plan.parked if args.parked is None else args.parked,
        shipped_users=plan.shipped_users if args.shipped_users is None else args.shipped_users,
    )
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="kycbot-bench-") as folder:
        results = asyncio.run(run(plan, args.database_url, Path(folder)))
    backend = (args.database_url or "sqlite+aiosqlite").split(":", 1)[0]
    print(report(plan, results, backend))
    print(f"took {time.perf_counter() - started:.0f} s; machine: {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
