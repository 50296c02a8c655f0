"""Provider alerts: tell support once when a provider is misconfigured, out of quota or down.

`ProviderAlerts` watches every provider answer (it is a `FlowObserver`). An answer that says
the bot is misconfigured or out of quota raises an alert at once; answers that say the provider
is down (or gave no answer) raise one once they have kept coming for longer than
`alerts.down_after_seconds` with no good answer between. An alert is one ERROR log line naming
the provider and the cause and, when `alerts.support_chat_id` is set, one message there. Then
the same provider and cause stay quiet for `alerts.repeat_after_seconds`, however many users
keep failing. The first good answer after an alert sends one "recovered" message.

Messages are sent in background tasks: a user's step never waits for them, and a failure to
send is a warning in the log. The texts name the provider and the cause, nothing else: no
counts, no user, no detail from the provider's answer.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum

from bot.config_alerts import AlertSettings
from flows import ProviderFailure

__all__ = ["Cause", "ProviderAlerts", "SendAlert", "alert_text", "recovered_text"]

log = logging.getLogger(__name__)
# (chat id, text) -> sent; for Telegram, the bot's send_message.
SendAlert = Callable[[int, str], Awaitable[object]]
_CLOSE_SECONDS = 5.0


class Cause(StrEnum):
    """Why a provider is reported."""

    MISCONFIGURED = "misconfigured"
    OUT_OF_QUOTA = "out_of_quota"
    DOWN = "down"


# Our own faults: a user can do nothing about them and they will not pass by themselves.
_AT_ONCE = {
    ProviderFailure.MISCONFIGURED.value: Cause.MISCONFIGURED,
    ProviderFailure.OUT_OF_QUOTA.value: Cause.OUT_OF_QUOTA,
}
# No usable answer: one may be a blip, a run of them is an outage.
_DOWN = frozenset({ProviderFailure.PROVIDER_DOWN.value, ProviderFailure.UNCERTAIN.value})
# Throttling says nothing about whether the provider works: neither a failure nor a recovery.
_NEITHER = frozenset({ProviderFailure.RATE_LIMITED.value, ProviderFailure.IN_PROGRESS.value})
_TEXTS = {
    Cause.MISCONFIGURED: "provider {provider} is misconfigured: it refuses the bot's "
    "credentials or requests. Check its keys and settings.",
    Cause.OUT_OF_QUOTA: "provider {provider} is out of quota or credits: users cannot verify "
    "until the account is topped up.",
    Cause.DOWN: "provider {provider} is down: it has answered with errors or not at all for "
    "longer than alerts.down_after_seconds.",
}


def alert_text(provider: str, cause: Cause) -> str:
    """The alert message for `provider` and `cause`."""
    return "kycbot alert: " + _TEXTS[cause].format(provider=provider)


def recovered_text(provider: str) -> str:
    """The message once `provider` answers normally again after an alert."""
    return f"kycbot: provider {provider} has recovered and answers normally again."


@dataclass
class _Provider:
    """What is known about one provider's trouble."""

    down_since: float | None = None  # the first of the current run of down answers
    alerted: set[Cause] = field(default_factory=set)  # alerts sent and not yet recovered


class ProviderAlerts:
    """Turns provider answers into rate-limited alerts (a `FlowObserver`)."""

    def __init__(
        self,
        *,
        settings: Callable[[], AlertSettings],
        send: SendAlert | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        # A callable, not a value: the settings may be swapped while the bot runs.
        self._settings = settings
        self._send = send
        self._clock = clock
        self._providers: dict[str, _Provider] = {}
        self._quiet_until: dict[tuple[str, Cause], float] = {}
        self._sending: set[asyncio.Task[None]] = set()

    def step(self, event: str, outcome: str) -> None:
        """Steps do not matter here."""

    def provider_answered(self, provider: str, outcome: str, latency_ms: int) -> None:
        """Note one answer of `provider`; alert, or report a recovery, when it is time."""
        if outcome in _NEITHER:
            return
        now = self._clock()
        state = self._providers.setdefault(provider, _Provider())
        cause = _AT_ONCE.get(outcome)
        if outcome in _DOWN:
            if state.down_since is None:
                state.down_since = now
            if now - state.down_since > self._settings().down_after_seconds:
                cause = Cause.DOWN
        elif cause is None:
            state.down_since = None
            if state.alerted:
                state.alerted.clear()
                log.info("provider alert over: %s recovered", provider)
                self._deliver(recovered_text(provider))
            return
        if cause is not None:
            self._alert(provider, cause, state, now)

    def _alert(self, provider: str, cause: Cause, state: _Provider, now: float) -> None:
        key = (provider, cause)
        if now < self._quiet_until.get(key, float("-inf")):
            return
        self._quiet_until[key] = now + self._settings().repeat_after_seconds
        state.alerted.add(cause)
        text = alert_text(provider, cause)
        log.error("provider alert: %s %s: %s", provider, cause.value, text)
        self._deliver(text)

    def _deliver(self, text: str) -> None:
        chat_id = self._settings().support_chat_id
        if chat_id is None or self._send is None:
            return
        task = asyncio.get_running_loop().create_task(self._send_one(self._send, chat_id, text))
        self._sending.add(task)  # a task nobody references may be collected before it runs
        task.add_done_callback(self._sending.discard)

    async def _send_one(self, send: SendAlert, chat_id: int, text: str) -> None:
        try:
            await send(chat_id, text)
        except Exception as error:
            log.warning("alert not sent to the support chat: %s", type(error).__name__)

    async def aclose(self) -> None:
        """Wait a moment for alerts still being sent (at shutdown), then drop the rest."""
        pending = set(self._sending)
        if not pending:
            return
        _, late = await asyncio.wait(pending, timeout=_CLOSE_SECONDS)
        for task in late:
            task.cancel()
        if late:
            log.warning("%d alert(s) not sent before stopping", len(late))
