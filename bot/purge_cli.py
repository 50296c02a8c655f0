"""`kycbot purge`: delete flow events and ended verifications' records past retention."""

from __future__ import annotations

import argparse
import asyncio
import functools
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from bot.logs_cli import parse_since
from bot.progress import Progress

if TYPE_CHECKING:
    from bot.config import Settings
    from storage.retention import Cutoffs, PurgeCounts

__all__ = ["add_purge_parser", "format_counts"]

EXIT_USAGE = 2
EXIT_DATABASE = 1


def format_counts(counts: PurgeCounts, *, verb: str, when: str) -> list[str]:
    """The rows `verb` ("removed") per table, or "nothing to remove" when there are none."""
    if counts.total == 0:
        return [f"nothing to remove older than {when}"]
    width = max(len(label) for label, _ in counts.items())
    rows = [f"  {label:<{width}}  {count:>8}" for label, count in counts.items()]
    return [f"{verb} older than {when}:", *rows]


def add_purge_parser(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    *,
    settings: Callable[[str | None], Settings],
) -> None:
    """Register `purge` under `commands`; `settings` loads the config (exiting on errors)."""
    purge = commands.add_parser(
        "purge", help="delete flow events and results past retention (safe to run twice)"
    )
    purge.add_argument(
        "--older-than", required=True, help="remove what is older than this: 30m, 24h, 90d"
    )
    purge.add_argument("--dry-run", action="store_true", help="count, do not delete")
    purge.add_argument(
        "--progress", action="store_true", help="show progress on stderr even when not a terminal"
    )
    purge.add_argument("--config", help="config file (default: config.toml if present)")
    purge.set_defaults(handler=functools.partial(_purge, settings=settings))


def _purge(args: argparse.Namespace, *, settings: Callable[[str | None], Settings]) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from storage.retention import Cutoffs

    try:
        age = parse_since(args.older_than)
    except ValueError:
        print(f"bad --older-than {args.older_than!r}: use 30m, 24h or 90d", file=sys.stderr)
        return EXIT_USAGE
    if not age:
        # "0d" would erase every ended verification at once: almost surely a typo.
        print("bad --older-than: give a duration above zero (e.g. 90d)", file=sys.stderr)
        return EXIT_USAGE
    loaded = settings(args.config)
    cutoff = datetime.now(UTC) - age
    cutoffs = Cutoffs(flow_events_before=cutoff, results_before=cutoff)
    when = cutoff.astimezone(loaded.zone()).strftime("%Y-%m-%d %H:%M %Z")
    try:
        counts = asyncio.run(_run(loaded.database.url, cutoffs, args))
    except (OSError, SQLAlchemyError) as error:
        # The class only: a driver's message may quote the URL with its password.
        print(f"cannot purge the database: {type(error).__name__}", file=sys.stderr)
        return EXIT_DATABASE
    verb = "would remove" if args.dry_run else "removed"
    for line in format_counts(counts, verb=verb, when=when):
        print(line)
    return 0


async def _run(url: str, cutoffs: Cutoffs, args: argparse.Namespace) -> PurgeCounts:
    from storage import Database
    from storage.retention import count_due, purge

    database = Database(url)
    try:
        if args.dry_run:
            return await database.run(functools.partial(count_due, cutoffs=cutoffs))
        with Progress("purging", force=args.progress) as progress:

            def report(total: PurgeCounts) -> None:
                progress.update(f"{total.total} rows removed so far")

            return await purge(database, cutoffs=cutoffs, on_batch=report)
    finally:
        await database.dispose()
