"""The deadline sweeper: finds verifications whose deadline passed and feeds DeadlinePassed.

Deadlines live in the database (`verification.due_at`), so a deadline that passed while the bot
was stopped is handled on the first sweep after it starts, and exactly once: the runner moves
the verification on, which clears or pushes back its deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable

from bot.channel import Channel
from bot.failure_streak import FailureStreak
from bot.outbox import deliver_leftovers
from bot.runner import Clock, Runner, utc_now
from flows import DeadlinePassed
from storage import Database, UserKey
from storage.sweep_claim import claim_due_users

__all__ = ["Sweeper"]

log = logging.getLogger(__name__)
ChannelFor = Callable[[UserKey], Channel]


class Sweeper:
    """Periodically hands due deadlines of one channel to the runner."""

    def __init__(
        self,
        *,
        runner: Runner,
        database: Database,
        channel: str,
        channel_for: ChannelFor,
        interval_seconds: float,
        external_id: str | None = None,
        clock: Clock = utc_now,
        batch: int = 100,
        swept: Callable[[], None] | None = None,
    ) -> None:
        self._runner = runner
        self._database = database
        self._channel = channel
        self._channel_for = channel_for
        self._interval = interval_seconds
        self._external_id = external_id
        self._clock = clock
        self._batch = batch
        self._swept = swept  # told after each finished sweep: the metrics' sweeper lag
        self._stopping = asyncio.Event()

    async def sweep_once(self) -> int:
        """Handle every deadline due now; return how many users were handled.

        First the deadline notices a killed process stored but never sent (see bot.outbox).
        """
        await deliver_leftovers(
            self._database,
            channel=self._channel,
            channel_for=self._channel_for,
            clock=self._clock,
            limit=self._batch,
        )
        # A claim, not a read: the sweepers of other replicas skip what this one handles.
        due = await self._database.run(
            functools.partial(
                claim_due_users,
                now=self._clock(),
                channel=self._channel,
                external_id=self._external_id,
                limit=self._batch,
            )
        )
        for user in due:
            await self._runner.handle(user, DeadlinePassed(), self._channel_for(user))
        return len(due)

    async def run(self) -> None:
        """Sweep until `stop()`; a failed sweep is logged and retried on the next tick.

        Stopping never cuts a sweep short: a step stored without its notice sent would leave
        the user untold.
        """
        failures = FailureStreak(log, "sweep")  # the database may be away for a while
        while not self._stopping.is_set():
            try:
                handled = await self.sweep_once()
                if handled:
                    log.info("sweeper handled %d due verification(s)", handled)
                if self._swept is not None:
                    self._swept()
            except Exception as error:
                failures.failed(error)
            else:
                failures.succeeded()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=self._interval)

    def stop(self) -> None:
        """Finish the sweep in progress, if any, and end `run()`."""
        self._stopping.set()
