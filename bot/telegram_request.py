"""A python-telegram-bot transport on aiohttp: HTTPXRequest's requests for under half the CPU.

A PTB `sendMessage` over loopback cost ~0.81 ms of CPU through HTTPXRequest (mostly httpx,
httpcore and anyio) and ~0.34 ms through this class, PTB's own work included; the bot makes
~3 calls per update. aiogram talks to Telegram through aiohttp for the same reason.

What goes on the wire matches HTTPXRequest: parameters form-encoded, uploads as multipart with
the same part headers, no body for a call without parameters. PTB's `BaseRequest` turns the
status and body into `BadRequest`, `RetryAfter` and the rest; this module only maps aiohttp's
own failures, in `_telegram_error`.
"""

from __future__ import annotations

import asyncio
import functools
import os
import re
from typing import Final
from urllib.parse import unquote, urlsplit

import aiohttp
from telegram._utils.defaultvalue import DefaultValue
from telegram._utils.types import ODVInput, UploadFileDict
from telegram.error import NetworkError, TelegramError, TimedOut
from telegram.request import BaseRequest, RequestData
from yarl import URL

__all__ = ["AiohttpRequest"]

POOL_TIMEOUT_MESSAGE: Final = (
    "Pool timeout: All connections in the connection pool are occupied. Request was *not* sent "
    "to Telegram. Consider adjusting the connection pool size or the pool timeout."
)
_FORM: Final = "application/x-www-form-urlencoded"
_REDACTED: Final = "/<bot token redacted>"
# httpx escapes multipart names and filenames the HTML5 way; Telegram reads them as httpx sends.
_HTML5_ESCAPES: Final = {'"': "%22", "\\": "\\\\"} | {
    chr(c): f"%{c:02X}" for c in range(0x20) if c != 0x1B
}
_HTML5_ESCAPE: Final = re.compile("|".join(re.escape(c) for c in _HTML5_ESCAPES))


class _PoolTimeout(TimeoutError):
    """No connection of the pool came free within the pool timeout."""


class AiohttpRequest(BaseRequest):
    """PTB's `BaseRequest` over one aiohttp session, with HTTPXRequest's arguments and errors."""

    __slots__ = (
        "_connect_timeout",
        "_media_write_timeout",
        "_pool_size",
        "_pool_timeout",
        "_proxy",
        "_read_timeout",
        "_session",
        "_slots",
        "_write_timeout",
    )

    def __init__(
        self,
        connection_pool_size: int = 1,
        read_timeout: float | None = 5.0,
        write_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        pool_timeout: float | None = 1.0,
        proxy: str | None = None,
        media_write_timeout: float | None = 20.0,
    ) -> None:
        if connection_pool_size < 1:
            raise ValueError("connection_pool_size must be at least 1")
        self._pool_size = connection_pool_size
        self._read_timeout = read_timeout
        self._write_timeout = write_timeout
        self._connect_timeout = connect_timeout
        self._pool_timeout = pool_timeout
        # Only an explicit http(s) proxy: aiohttp has no SOCKS, and its trust_env (reading
        # HTTPS_PROXY like httpx does) costs two thread-pool round trips on every request.
        self._proxy = proxy
        self._media_write_timeout = media_write_timeout
        self._session: aiohttp.ClientSession | None = None
        self._slots: asyncio.Semaphore | None = None

    @property
    def read_timeout(self) -> float | None:
        """The read timeout used when a call passes none (PTB adds it to getUpdates' timeout)."""
        return self._read_timeout

    async def initialize(self) -> None:
        """Open the session; it binds to the running loop, so not in `__init__`."""
        if self._session is not None and not self._session.closed:
            return
        connector = aiohttp.TCPConnector(limit=self._pool_size)
        self._session = aiohttp.ClientSession(
            connector=connector, headers={"User-Agent": self.USER_AGENT}
        )
        self._slots = asyncio.Semaphore(self._pool_size)

    async def shutdown(self) -> None:
        """Close the session and its connections; harmless when already shut down."""
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """Send one request; return the HTTP status and the body (see `BaseRequest`)."""
        session, slots = self._session, self._slots
        if session is None or session.closed or slots is None:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        files = request_data.multipart_data if request_data is not None else None
        if isinstance(write_timeout, DefaultValue):
            write_timeout = self._media_write_timeout if files else self._write_timeout
        timeout = _client_timeout(
            self._connect_timeout if isinstance(connect_timeout, DefaultValue) else connect_timeout,
            write_timeout,
            self._read_timeout if isinstance(read_timeout, DefaultValue) else read_timeout,
        )
        if isinstance(pool_timeout, DefaultValue):
            pool_timeout = self._pool_timeout
        body, headers = _body(request_data, files)
        try:
            await _take_slot(slots, pool_timeout)
            try:
                async with session.request(
                    method,
                    url,
                    data=body,
                    headers=headers,
                    # aiohttp labels a POST without a body application/octet-stream; httpx
                    # sends no Content-Type at all.
                    skip_auto_headers=None if body is not None else ("Content-Type",),
                    timeout=timeout,
                    proxy=self._proxy,
                    allow_redirects=False,  # as httpx: the Bot API never redirects
                ) as response:
                    return response.status, await response.read()
            finally:
                slots.release()
        except (aiohttp.ClientError, OSError) as error:
            raise _telegram_error(error, url) from error


async def _take_slot(slots: asyncio.Semaphore, pool_timeout: float | None) -> None:
    # A free slot is taken without a timer: that is nearly every call.
    if not slots.locked():
        await slots.acquire()
        return
    try:
        async with asyncio.timeout(pool_timeout):
            await slots.acquire()
    except TimeoutError as error:
        raise _PoolTimeout from error


@functools.lru_cache(maxsize=64)
def _client_timeout(
    connect: float | None, write: float | None, read: float | None
) -> aiohttp.ClientTimeout:
    # PTB's four timeouts in aiohttp's terms. pool: our semaphore (`_take_slot`), not aiohttp's
    # `connect`, which would add it to the connect time and hide which one ran out; with the
    # semaphore as wide as the connector, aiohttp never queues. connect: aiohttp's `connect`
    # (DNS and connecting) and `sock_connect` (each address tried). read: `sock_read`, the
    # longest silence once the request is sent. write: aiohttp has none, so `total` bounds the
    # whole exchange by connect + write + read and a stalled upload still ends.
    total = None if connect is None or write is None or read is None else connect + write + read
    return aiohttp.ClientTimeout(total=total, connect=connect, sock_connect=connect, sock_read=read)


def _body(
    request_data: RequestData | None, files: UploadFileDict | None
) -> tuple[bytes | aiohttp.MultipartWriter | None, dict[str, str] | None]:
    if request_data is None:
        return None, None
    if files:
        return _multipart(request_data.json_parameters, files), None
    parameters = request_data.json_parameters
    if not parameters:
        return None, None
    return request_data.url_encoded_parameters().encode("ascii"), {"Content-Type": _FORM}


def _multipart(fields: dict[str, str], files: UploadFileDict) -> aiohttp.MultipartWriter:
    # Parts as httpx writes them: fields first with only a Content-Disposition, then files
    # with their filename and mimetype (aiohttp's own FormData adds text/plain to fields and
    # escapes quotes differently).
    writer = aiohttp.MultipartWriter("form-data")
    for name, value in fields.items():
        part = aiohttp.get_payload(value, headers={"Content-Disposition": _disposition(name)})
        del part.headers["Content-Type"]
        writer.append_payload(part)
    for name, (filename, content, mimetype) in files.items():
        part = aiohttp.get_payload(
            content,
            headers={
                "Content-Disposition": _disposition(name, filename),
                "Content-Type": mimetype,
            },
        )
        writer.append_payload(part)
    return writer


def _disposition(name: str, filename: str | None = None) -> str:
    disposition = f'form-data; name="{_html5_escape(name)}"'
    if filename:
        disposition += f'; filename="{_html5_escape(filename)}"'
    return disposition


def _html5_escape(value: str) -> str:
    return _HTML5_ESCAPE.sub(lambda match: _HTML5_ESCAPES[match.group(0)], value)


def _telegram_error(error: aiohttp.ClientError | OSError, url: str) -> TelegramError:
    """aiohttp's failures as PTB's: every exception leaving `do_request` is made here."""
    _scrub(error, url)
    if isinstance(error, _PoolTimeout):
        return TimedOut(POOL_TIMEOUT_MESSAGE)
    if isinstance(error, TimeoutError):  # aiohttp's connect, sock_read and total timeouts
        return TimedOut()
    # aiohttp's own messages may quote the URL, whose path holds the bot token: the message
    # gets the class name and, for a socket error, the errno's standard text only.
    reason = f"aiohttp.{type(error).__name__}"
    if isinstance(error, OSError) and isinstance(error.errno, int):
        reason += f": {os.strerror(error.errno)}"
    return NetworkError(reason)


def _scrub(error: BaseException, url: str) -> None:
    # The chained cause reaches logs through tracebacks: take the token out of it too.
    path = urlsplit(url).path
    secrets = {secret for secret in (path, unquote(path)) if len(secret) > 1}
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        current.args = tuple(
            _redact(str(arg), secrets) if isinstance(arg, str | URL) else arg
            for arg in current.args
        )
        if isinstance(current, OSError) and isinstance(current.strerror, str):
            current.strerror = _redact(current.strerror, secrets)
        current = current.__cause__ or current.__context__


def _redact(text: str, secrets: set[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, _REDACTED)
    return text
