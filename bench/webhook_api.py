"""The benchmark's lean fake Bot API, delivering updates by webhook to one or more replicas.

`kycbot run` replicas in webhook mode sit behind a load balancer; here the fake plays both
Telegram and that balancer: each update goes to the next replica in turn (round-robin), over
parallel connections, and a chat's next update waits until the replica answered the previous
one, as Telegram does. A replica answers only once it handled the update, so one user's
updates are handled in order although they land on different replicas.

The bot's own calls (sendMessage, ...) are answered by `LeanBotApi` as in polling mode, so the
latency of an update is still "queued at the fake -> first message of its answer back".
"""

from __future__ import annotations

import asyncio
import collections
import json
import secrets
import time
from types import TracebackType

import httpx

from bench.telegram_bench import ApiError, JsonDict, LeanBotApi

DELIVERY_ATTEMPTS = 3  # a failed delivery is retried, as Telegram does, then recorded
RETRY_DELAY_S = 0.2
PUBLIC_WEBHOOK = "https://kyc.example.com/telegram"  # what the bot registers; never dialled


class WebhookBotApi(LeanBotApi):
    """`LeanBotApi` whose updates are posted to `targets` instead of waiting for getUpdates."""

    def __init__(self, targets: list[str], max_connections: int) -> None:
        super().__init__()
        self.targets = targets
        self.secret_token = secrets.token_urlsafe(24)
        self._next_target = 0
        self._busy: set[int] = set()  # chats with an update at a replica
        self._held: dict[int, collections.deque[bytes]] = collections.defaultdict(collections.deque)
        self._deliveries: set[asyncio.Task[None]] = set()
        self._registered = 0
        self._all_registered = asyncio.Event()
        limits = httpx.Limits(max_connections=max_connections)
        self._client = httpx.AsyncClient(limits=limits, timeout=60.0, trust_env=False)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        for task in list(self._deliveries):
            task.cancel()
        await asyncio.gather(*self._deliveries, return_exceptions=True)
        await self._client.aclose()
        await super().__aexit__(exc_type, exc, traceback)

    async def registered(self) -> None:
        """Return once every replica has called setWebhook."""
        await self._all_registered.wait()

    def _answer(self, method: str, params: dict[str, str], at: float) -> object:
        if method == "setwebhook":
            if params.get("url") != PUBLIC_WEBHOOK:
                raise ApiError(400, "Bad Request: unexpected webhook URL")
            self._registered += 1
            if self._registered >= len(self.targets):
                self._all_registered.set()
            return True
        return super()._answer(method, params, at)

    def _queue(self, payload: JsonDict) -> float:
        update_id = self._next_update_id
        self._next_update_id += 1
        body = json.dumps({"update_id": update_id, **payload}, separators=(",", ":")).encode()
        queued = time.perf_counter()  # the clock the bot's messages are stamped with
        chat = _chat_of(payload)
        self._held[chat].append(body)
        if chat not in self._busy:
            self._send_next(chat)
        return queued

    def _send_next(self, chat: int) -> None:
        held = self._held[chat]
        if not held:
            del self._held[chat]
            self._busy.discard(chat)
            return
        self._busy.add(chat)
        target = self.targets[self._next_target % len(self.targets)]
        self._next_target += 1
        task = asyncio.create_task(self._deliver(chat, target, held.popleft()))
        self._deliveries.add(task)
        task.add_done_callback(self._deliveries.discard)

    async def _deliver(self, chat: int, target: str, body: bytes) -> None:
        headers = {
            "Content-Type": "application/json",
            "X-Telegram-Bot-Api-Secret-Token": self.secret_token,
        }
        for attempt in range(1, DELIVERY_ATTEMPTS + 1):
            try:
                answer = await self._client.post(target, content=body, headers=headers)
            except httpx.HTTPError as error:
                problem = type(error).__name__
            else:
                if answer.status_code == 200:
                    break
                problem = f"HTTP {answer.status_code}"
            self.errors.append(f"webhook to {target}: {problem} (attempt {attempt})")
            await asyncio.sleep(RETRY_DELAY_S)
        self._send_next(chat)


def _chat_of(payload: JsonDict) -> int:
    """The chat of a message or of a button press (this driver sends nothing else)."""
    if "callback_query" in payload:
        return int(payload["callback_query"]["message"]["chat"]["id"])
    return int(payload["message"]["chat"]["id"])
