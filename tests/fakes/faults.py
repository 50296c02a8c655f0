"""Misbehaviour the fake provider servers share: bad bodies, 429s, and a connection that breaks.

Each fake decides *when* a fault applies (per endpoint, before or after doing its work); this
module only builds the broken answers, so all three fakes break in exactly the same ways.
"""

from __future__ import annotations

import asyncio
import contextlib

from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

__all__ = [
    "EMPTY_BODY",
    "HTML_PAGE",
    "MALFORMED_JSON",
    "WRONG_SHAPE",
    "BrokenAnswer",
    "hold",
    "too_many_requests",
]

# A JSON answer cut short: the opening of a success, as a truncated proxy buffer would leave it.
MALFORMED_JSON = b'{"code": 200, "status": "OK", "data": {"message": "OTP sent'
HTML_PAGE = b"<html><body><h1>502 Bad Gateway</h1><p>nginx</p></body></html>"
EMPTY_BODY = b""
# Valid JSON, but not the object any provider documents.
WRONG_SHAPE = b'[{"unexpected": true}]'


class BrokenAnswer(Response):
    """Starts a 200 answer and stops halfway: the server then drops the connection.

    The headers promise more bytes than are ever sent, so the client sees the connection
    reset in the middle of the body, after the provider did its work.
    """

    def __init__(self) -> None:
        super().__init__(MALFORMED_JSON, 200, media_type="application/json")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(b"content-type", b"application/json"), (b"content-length", b"4096")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": self.body, "more_body": True})
        # Returning with the body unfinished makes uvicorn close the socket.


def too_many_requests(body: dict[str, object], retry_after: int | None) -> JSONResponse:
    """A 429 with `body`, and a Retry-After header when `retry_after` is given."""
    headers = {"retry-after": str(retry_after)} if retry_after is not None else None
    return JSONResponse(body, status_code=429, headers=headers)


async def hold(released: asyncio.Event, seconds: float) -> None:
    """Wait `seconds`, or less once `released` is set (the fake is stopping)."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(released.wait(), seconds)
