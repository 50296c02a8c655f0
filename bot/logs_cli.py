"""`kycbot logs`: flow events for support staff, as text or JSON lines, optionally followed."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import re
import signal
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from bot.config import Settings
    from storage import Database
    from storage.flow_log import FlowFilter, FlowLine

__all__ = ["add_logs_parser", "format_json", "format_text", "parse_since"]

EXIT_USAGE = 2
EXIT_DATABASE = 1
DEFAULT_LAST = 50
_SINCE = re.compile(r"(\d+)([mhd])")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def parse_since(text: str) -> timedelta:
    """`30m`, `24h` or `7d` as a duration; ValueError for anything else."""
    match = _SINCE.fullmatch(text.strip())
    if match is None:
        raise ValueError(text)
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def _or_dash(value: object) -> str:
    return "-" if value is None else str(value)


def format_text(line: FlowLine, zone: ZoneInfo) -> str:
    """One event as a line for a person, its time in the configured zone."""
    when = line.occurred_at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z")
    latency = "-" if line.latency_ms is None else f"{line.latency_ms} ms"
    verification = "-" if line.verification_id is None else f"v{line.verification_id}"
    return "  ".join(
        (
            when,
            line.user,
            verification,
            f"{line.from_state} -> {line.to_state}",
            line.event,
            line.outcome,
            _or_dash(line.provider),
            latency,
        )
    )


def format_json(line: FlowLine) -> str:
    """One event as a JSON object on one line, its time ISO-8601 in UTC, for log pipelines."""
    return json.dumps(
        {
            "id": line.id,
            "time": line.occurred_at.astimezone(UTC).isoformat(),
            "user": line.user,
            "verification_id": line.verification_id,
            "from_state": line.from_state,
            "to_state": line.to_state,
            "event": line.event,
            "outcome": line.outcome,
            "provider": line.provider,
            "latency_ms": line.latency_ms,
        },
        separators=(",", ":"),
    )


def add_logs_parser(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    *,
    settings: Callable[[str | None], Settings],
) -> None:
    """Register `logs` under `commands`; `settings` loads the config (exiting on errors)."""
    logs = commands.add_parser("logs", help="show flow events (no personal data)")
    logs.add_argument("--config", help="config file (default: config.toml if present)")
    logs.add_argument("--follow", action="store_true", help="keep printing new events")
    logs.add_argument("--since", help="events from the last 30m, 24h, 7d (default: last 50)")
    logs.add_argument("--user", help="channel:external_id (e.g. telegram:123456) or external id")
    logs.add_argument("--verification", type=int, help="verification id")
    logs.add_argument("--outcome", help="outcome name (e.g. otp_sent)")
    logs.add_argument("--provider", help="provider name (e.g. simulator)")
    logs.add_argument("--json", action="store_true", help="one JSON object per line")
    logs.add_argument(
        "--interval", type=float, default=0.5, help="seconds between polls with --follow"
    )
    logs.set_defaults(handler=functools.partial(_logs, settings=settings))


def _logs(args: argparse.Namespace, *, settings: Callable[[str | None], Settings]) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from storage.flow_log import FlowFilter

    since: datetime | None = None
    if args.since is not None:
        try:
            since = datetime.now(UTC) - parse_since(args.since)
        except ValueError:
            print(f"bad --since {args.since!r}: use 30m, 24h or 7d", file=sys.stderr)
            return EXIT_USAGE
    if args.interval <= 0:
        print("bad --interval: give a positive number of seconds", file=sys.stderr)
        return EXIT_USAGE
    loaded = settings(args.config)
    flow = FlowFilter(
        since=since,
        user=args.user,
        verification_id=args.verification,
        outcome=args.outcome,
        provider=args.provider,
    )
    show = format_json if args.json else functools.partial(format_text, zone=loaded.zone())
    try:
        return asyncio.run(_show(args, loaded.database.url, flow, show))
    except BrokenPipeError:
        raise  # the output's reader went away: not a database problem (see bot.cli.main)
    except (OSError, SQLAlchemyError) as error:
        # The class only: a driver's message may quote the URL with its password.
        print(f"cannot read the database: {type(error).__name__}", file=sys.stderr)
        return EXIT_DATABASE


async def _show(
    args: argparse.Namespace, url: str, flow: FlowFilter, show: Callable[[FlowLine], str]
) -> int:
    from storage import Database
    from storage.flow_log import latest_events

    database = Database(url)
    try:
        limit = None if flow.since is not None else DEFAULT_LAST
        lines, high_water = await database.run(
            functools.partial(latest_events, flow=flow, limit=limit)
        )
        _print(lines, show)
        if args.follow:
            await _follow(database, flow, show, after_id=high_water, interval=args.interval)
        elif not lines:
            # With --json stdout stays valid JSON lines, even when empty.
            print("no flow events", file=sys.stderr if args.json else sys.stdout)
    finally:
        await database.dispose()
    return 0


def _print(lines: list[FlowLine], show: Callable[[FlowLine], str]) -> None:
    for line in lines:
        print(show(line))
    # A pipe is block-buffered: a follower must see each event as it happens.
    sys.stdout.flush()


async def _follow(
    database: Database,
    flow: FlowFilter,
    show: Callable[[FlowLine], str],
    *,
    after_id: int,
    interval: float,
) -> None:
    """Print new events by increasing id until SIGINT or SIGTERM."""
    from storage.flow_log import events_after

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    print("following flow events (Ctrl-C to stop)", file=sys.stderr, flush=True)
    # On PostgreSQL ids come from a sequence, so an event committed late with a lower id than
    # one already shown is missed; flow events are short single-row commits, so this is rare.
    while not stop.is_set():
        lines = await database.run(functools.partial(events_after, flow=flow, after_id=after_id))
        if lines:
            after_id = lines[-1].id
            _print(lines, show)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)
