"""Lock contention on PostgreSQL during a measured run, sampled from `pg_locks`.

The replica target asks for no lock contention. Each sample counts the sessions of the
benchmark's database waiting for a lock (advisory locks included: `granted` is false while
`pg_advisory_xact_lock` waits); a run whose samples all find nobody waiting had none worth
the name, whatever its CPU figures say.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

SAMPLE_EVERY_S = 0.1
WAITING = text(
    "SELECT count(*) FROM pg_locks WHERE NOT granted "
    "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)


@dataclass
class LockWaits:
    """What the samples found."""

    samples: int = 0
    with_waiters: int = 0  # samples that found at least one session waiting
    most: int = 0  # the most sessions waiting at once

    def describe(self) -> str:
        """One line for the report."""
        if not self.samples:
            return "lock waits not sampled"
        share = self.with_waiters / self.samples
        return (
            f"a session waiting for a lock in {self.with_waiters} of {self.samples} samples "
            f"({share:.1%}), at most {self.most} at once"
        )


@contextlib.asynccontextmanager
async def sampling(url: str) -> AsyncIterator[LockWaits]:
    """Sample the lock waits of the database at `url` every 100 ms while the block runs."""
    found = LockWaits()
    engine = create_async_engine(url, poolclass=NullPool)

    async def sample() -> None:
        async with engine.connect() as connection:
            while True:
                waiting = int(await connection.scalar(WAITING) or 0)
                await connection.rollback()  # a fresh snapshot of pg_locks each time
                found.samples += 1
                found.with_waiters += waiting > 0
                found.most = max(found.most, waiting)
                await asyncio.sleep(SAMPLE_EVERY_S)

    sampler = asyncio.create_task(sample())
    try:
        yield found
    finally:
        sampler.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampler
        await engine.dispose()
