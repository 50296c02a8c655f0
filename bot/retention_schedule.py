"""The automatic purge: while the bot runs, delete what is past retention every few hours.

The settings are read again before every check (`[retention]` may change on a config reload),
so turning the schedule on, off or changing its period needs no restart. The first purge runs
at start-up: a bot restarted more often than its period would otherwise never purge.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from bot.config_retention import RetentionSettings
from bot.failure_streak import FailureStreak
from bot.runner import Clock, utc_now
from storage import Database
from storage.retention import Cutoffs, PurgeCounts, purge

__all__ = ["RetentionSchedule"]

log = logging.getLogger(__name__)
CHECK_EVERY_SECONDS = 60.0


class RetentionSchedule:
    """Runs `storage.retention.purge` every `purge_every_hours` (0: never) until stopped."""

    def __init__(
        self,
        *,
        database: Database,
        settings: Callable[[], RetentionSettings],
        clock: Clock = utc_now,
        check_every_seconds: float = CHECK_EVERY_SECONDS,
    ) -> None:
        self._database = database
        self._settings = settings
        self._clock = clock
        self._check_every = check_every_seconds
        self._stopping = asyncio.Event()
        self._last_run: datetime | None = None

    def due(self) -> bool:
        """Whether a purge is due now under the current settings."""
        hours = self._settings().purge_every_hours
        if hours <= 0:
            return False
        last = self._last_run
        return last is None or self._clock() - last >= timedelta(hours=hours)

    async def purge_once(self) -> PurgeCounts:
        """Purge now with the current settings and log one line with what went."""
        retention = self._settings()
        now = self._clock()
        self._last_run = now
        cutoffs = Cutoffs(
            flow_events_before=now - timedelta(days=retention.flow_events_days),
            results_before=now - timedelta(days=retention.results_days),
        )
        removed = await purge(self._database, cutoffs=cutoffs, should_stop=self._stopping.is_set)
        summary = ", ".join(f"{count} {label}" for label, count in removed.items())
        log.info(
            "retention purge (events over %d days, results over %d days): removed %s",
            retention.flow_events_days,
            retention.results_days,
            summary if removed.total else "nothing",
        )
        return removed

    async def run(self) -> None:
        """Purge whenever due until `stop()`; a failed purge is tried again at the next check."""
        failures = FailureStreak(log, "retention purge")
        while not self._stopping.is_set():
            if self.due():
                last_run = self._last_run
                try:
                    await self.purge_once()
                except Exception as error:
                    # Due again at the next check, not a whole period after a database outage.
                    self._last_run = last_run
                    failures.failed(error)
                else:
                    failures.succeeded()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=self._check_every)

    def stop(self) -> None:
        """End `run()` after the batch in progress, if any."""
        self._stopping.set()
