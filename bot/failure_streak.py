"""Logging for a background job that keeps failing: one line when it starts, one when it ends.

The sweeper runs every few seconds and the retention schedule every minute; while the database
is away each try fails the same way, and a line per try would bury everything else in the log.
"""

from __future__ import annotations

import logging

__all__ = ["FailureStreak"]


class FailureStreak:
    """Counts the consecutive failures of one job and logs where the streak starts and ends."""

    def __init__(self, log: logging.Logger, job: str) -> None:
        self._log = log
        self._job = job
        self.failures = 0

    def failed(self, error: BaseException) -> None:
        """One try failed; logged (class only: a message may quote a URL) if it is the first."""
        self.failures += 1
        if self.failures == 1:
            self._log.error(
                "%s failed: %s (retrying; logged again once it works)",
                self._job,
                type(error).__name__,
            )

    def succeeded(self) -> None:
        """One try worked; logged if it ends a streak of failures."""
        if self.failures:
            self._log.info("%s works again after %d failed tries", self._job, self.failures)
        self.failures = 0
