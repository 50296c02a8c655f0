"""What every HTTP provider client shares: one JSON POST, its timing, and the per-call log line.

httpx's exceptions are translated here and nowhere else. A call either comes back as a
`WireReply` (any HTTP status, the body parsed when it is a JSON object) or as `Unanswered`,
which says whether the provider may still have acted on it: a request that timed out after
being sent may have sent an OTP, one that never connected cannot have.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

import httpx

__all__ = ["NoAnswer", "Unanswered", "WireReply", "dig", "log_call", "post_json"]

log = logging.getLogger("kyc.calls")


class NoAnswer(StrEnum):
    """Why a call has no HTTP answer."""

    CONNECT_FAILED = "connect_failed"  # never reached the provider: nothing happened there
    TIMEOUT = "timeout"  # sent, no answer in time: the provider may have acted
    BROKEN = "broken"  # the connection broke after sending: the provider may have acted


@dataclass(frozen=True)
class WireReply:
    """An HTTP answer: its status and, when the body is a JSON object, that object.

    `retry_after_seconds` is the answer's Retry-After header when it gives a number of seconds.
    """

    status: int
    body: Mapping[str, object] | None = field(repr=False)
    latency_ms: int
    retry_after_seconds: int | None = None


@dataclass(frozen=True)
class Unanswered:
    """A call that got no HTTP answer."""

    reason: NoAnswer
    latency_ms: int

    @property
    def may_have_acted(self) -> bool:
        """Whether the provider may have carried the request out (sent an OTP, say)."""
        return self.reason is not NoAnswer.CONNECT_FAILED


async def post_json(
    client: httpx.AsyncClient,
    path: str,
    *,
    payload: Mapping[str, object],
    headers: Mapping[str, str],
) -> WireReply | Unanswered:
    """POST `payload` as JSON to `path` (relative to the client's base URL). Never raises
    for anything the network or the provider does."""
    started = time.perf_counter()
    try:
        response = await client.post(path, json=dict(payload), headers=dict(headers))
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout):
        return Unanswered(NoAnswer.CONNECT_FAILED, _since(started))
    except httpx.TimeoutException:
        return Unanswered(NoAnswer.TIMEOUT, _since(started))
    except httpx.HTTPError:
        return Unanswered(NoAnswer.BROKEN, _since(started))
    body = _json_object(response.content)
    wait = _retry_after(response.headers.get("retry-after"))
    return WireReply(response.status_code, body, _since(started), wait)


# No provider asks for more than a day; a bigger value is a broken header, not a wish.
_MAX_RETRY_AFTER_SECONDS = 86_400


def _retry_after(value: str | None) -> int | None:
    # Only the delay-seconds form: an HTTP date would tie the wait to the provider's clock.
    text = (value or "").strip()
    if not text.isascii() or not text.isdigit():
        return None
    return min(int(text), _MAX_RETRY_AFTER_SECONDS)


def _json_object(content: bytes) -> Mapping[str, object] | None:
    try:
        parsed = json.loads(content)
    except ValueError:  # also UnicodeDecodeError
        return None
    return parsed if isinstance(parsed, dict) else None


def _since(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)


def dig(body: Mapping[str, object] | None, *path: str) -> object:
    """`body[path[0]][path[1]]...`, or None wherever a level is missing or not an object."""
    value: object = body
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def log_call(
    *,
    provider: str,
    endpoint: str,
    answer: WireReply | Unanswered,
    outcome: str,
    request_id: object = None,
    level: int = logging.INFO,
) -> None:
    """One line per provider call: never the number, the OTP, a credential or the body."""
    status = answer.status if isinstance(answer, WireReply) else answer.reason.value
    log.log(
        level,
        "provider=%s endpoint=%s status=%s outcome=%s request_id=%s latency_ms=%d",
        provider,
        endpoint,
        status,
        outcome,
        _printable_id(request_id),
        answer.latency_ms,
    )


def _printable_id(value: object) -> str:
    # Provider ids are opaque tokens; anything else (a nested object, a long string) is cut so
    # a misbehaving provider cannot put arbitrary text into our logs.
    if isinstance(value, str | int) and not isinstance(value, bool):
        text = str(value)
        if len(text) <= 64 and text.isprintable() and " " not in text:
            return text
    return "-"
