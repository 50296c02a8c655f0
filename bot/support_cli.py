"""`kycbot timeline` and `kycbot stats`: one person's history and the funnel, for support staff.

The formatting functions are pure: query results in, text lines out. Nothing personal beyond
the masked number and the channel's user id is printed; the queries never read more.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import math
import re
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TypeVar
from zoneinfo import ZoneInfo

from bot.logs_cli import parse_since

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from bot.config import Settings
    from storage.funnel import FunnelStats
    from storage.timeline import Timeline

__all__ = [
    "add_stats_parser",
    "add_timeline_parser",
    "format_percent",
    "format_stats",
    "format_timeline",
    "format_when",
    "parse_target",
    "percentile",
]

EXIT_NOT_FOUND = 1
EXIT_DATABASE = 1
EXIT_USAGE = 2
BAR_WIDTH = 30
_VERIFICATION = re.compile(r"(?:v|verification:)(\d+)")
T = TypeVar("T")


def parse_target(text: str) -> int | None:
    """The verification id in `v123` or `verification:123`; None for a user's external id."""
    match = _VERIFICATION.fullmatch(text.strip())
    return int(match.group(1)) if match else None


def format_when(moment: datetime | None, zone: ZoneInfo) -> str:
    """A moment in `zone` as support reads it (the CLI and the console), or `-` for none."""
    return "-" if moment is None else moment.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z")


def _or_dash(value: object) -> str:
    return "-" if value is None else str(value)


def format_timeline(timeline: Timeline, *, zone: ZoneInfo, now: datetime) -> list[str]:
    """The person's user row, verifications, consents, results and flow events, as lines."""
    user = timeline.user
    standing = user.standing
    lines = [
        f"user {user.channel}:{user.external_id}  language {user.language}  "
        f"since {format_when(user.created_at, zone)}",
        f"  locked until {format_when(user.locked_until, zone)}  "
        f"OTP requests in 24 h {standing.otp_requests_today(now)}  "
        f"failures in 24 h {standing.failures_today(now)}",
    ]
    lines.append(f"verifications ({len(timeline.verifications)})")
    for v in timeline.verifications:
        due = "-" if v.due_at is None else f"{format_when(v.due_at, zone)} ({v.due_kind or '?'})"
        lines += [
            f"  v{v.id}  {v.state}  {_or_dash(v.method)} via {v.provider}  "
            f"number {_or_dash(v.aadhaar_masked)}",
            f"    created {format_when(v.created_at, zone)}  "
            f"updated {format_when(v.updated_at, zone)}  ended {format_when(v.ended_at, zone)}",
            f"    due {due}  otp sends {v.otp_sends}  attempts left {v.otp_attempts_left}  "
            f"invalid entries {v.invalid_entries}",
        ]
    lines.append(f"consents ({len(timeline.consents)})")
    lines += [
        f"  {format_when(c.decided_at, zone)}  v{c.verification_id}  {c.decision}  "
        f"notice {c.notice_version}"
        for c in timeline.consents
    ]
    lines.append(f"results ({len(timeline.results)})")
    lines += [
        f"  {format_when(r.verified_at, zone)}  v{r.verification_id}  {r.method} via {r.provider}  "
        f"number {_or_dash(r.aadhaar_masked)}"
        for r in timeline.results
    ]
    lines.append(f"events ({len(timeline.events)})")
    for e in timeline.events:
        latency = "-" if e.latency_ms is None else f"{e.latency_ms} ms"
        verification = "-" if e.verification_id is None else f"v{e.verification_id}"
        lines.append(
            f"  {format_when(e.occurred_at, zone)}  {verification}  "
            f"{e.from_state} -> {e.to_state}  {e.event}  {e.outcome}  {_or_dash(e.provider)}  "
            f"{latency}"
        )
    return lines


def percentile(sorted_values: list[int], fraction: float) -> int:
    """The nearest-rank percentile of a sorted, non-empty list."""
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


def _bar(count: int, largest: int) -> str:
    if largest <= 0 or count <= 0:
        return ""
    # At least one block, so a small non-zero count is never drawn as nothing.
    return "█" * max(1, round(count * BAR_WIDTH / largest))


def format_percent(part: int, whole: int) -> str:
    """`part` as a whole percentage of `whole`, or `-` when there is no whole."""
    return "-" if whole == 0 else f"{100 * part / whole:.0f}%"


def format_stats(stats: FunnelStats, *, zone: ZoneInfo) -> list[str]:
    """The funnel with drop-offs, the failures and the provider calls, as lines with bars."""
    since = format_when(stats.since, zone)
    if stats.started == 0:
        return [f"no verifications since {since}"]
    lines = [f"verifications since {since}", "", "funnel"]
    largest = stats.started
    previous: int | None = None
    for label, count in stats.steps:
        drop = (
            ""
            if previous is None
            else f"  -{previous - count} ({format_percent(previous - count, previous)})"
        )
        lines.append(
            f"  {label:<16}{count:>6} {format_percent(count, largest):>5}  "
            f"{_bar(count, largest):<{BAR_WIDTH}}{drop}"
        )
        previous = count
    lines += ["", "failures"]
    if not stats.failures:
        lines.append("  none")
    top = max(stats.failures.values(), default=0)
    for outcome, count in sorted(stats.failures.items(), key=lambda item: (-item[1], item[0])):
        lines.append(f"  {outcome:<26}{count:>6}  {_bar(count, top)}")
    lines += ["", "providers"]
    if not stats.providers:
        lines.append("  no provider calls")
    else:
        lines.append(f"  {'provider':<16}{'calls':>6}{'p50 ms':>9}{'p95 ms':>9}{'errors':>8}")
    for name, calls in stats.providers.items():
        latencies = calls.latencies_ms
        lines.append(
            f"  {name:<16}{len(latencies):>6}{percentile(latencies, 0.5):>9}"
            f"{percentile(latencies, 0.95):>9}{format_percent(calls.errors, len(latencies)):>8}"
        )
    return lines


def add_timeline_parser(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    *,
    settings: Callable[[str | None], Settings],
) -> None:
    """Register `timeline` under `commands`; `settings` loads the config (exiting on errors)."""
    timeline = commands.add_parser("timeline", help="everything that happened to one person")
    timeline.add_argument(
        "target", help="a verification (v123 or verification:123) or the user's external id"
    )
    timeline.add_argument("--channel", default="telegram", help="the user's channel")
    timeline.add_argument("--config", help="config file (default: config.toml if present)")
    timeline.set_defaults(handler=functools.partial(_timeline, settings=settings))


def add_stats_parser(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    *,
    settings: Callable[[str | None], Settings],
) -> None:
    """Register `stats` under `commands`; `settings` loads the config (exiting on errors)."""
    stats = commands.add_parser("stats", help="the verification funnel, failures and providers")
    stats.add_argument("--since", default="24h", help="verifications from the last 30m, 24h, 7d")
    stats.add_argument("--config", help="config file (default: config.toml if present)")
    stats.set_defaults(handler=functools.partial(_stats, settings=settings))


def _query(url: str, unit: Callable[[Connection], T]) -> T:
    from storage import Database

    async def run() -> T:
        database = Database(url)
        try:
            return await database.run(unit)
        finally:
            await database.dispose()

    return asyncio.run(run())


def _read(url: str, unit: Callable[[Connection], T]) -> T:
    """`unit`'s result; on a database error, one line and exit code 1."""
    from sqlalchemy.exc import SQLAlchemyError

    try:
        return _query(url, unit)
    except BrokenPipeError:
        raise  # the output's reader went away: not a database problem (see bot.cli.main)
    except (OSError, SQLAlchemyError) as error:
        # The class only: a driver's message may quote the URL with its password.
        print(f"cannot read the database: {type(error).__name__}", file=sys.stderr)
        raise SystemExit(EXIT_DATABASE) from None


def _timeline(args: argparse.Namespace, *, settings: Callable[[str | None], Settings]) -> int:
    from storage.timeline import timeline_of_user, timeline_of_verification

    loaded = settings(args.config)
    verification_id = parse_target(args.target)
    unit: Callable[[Connection], Timeline | None]
    if verification_id is not None:
        unit = functools.partial(timeline_of_verification, verification_id=verification_id)
        missing = f"no verification {verification_id}"
    else:
        unit = functools.partial(timeline_of_user, channel=args.channel, external_id=args.target)
        missing = f"no user {args.target!r} on {args.channel}"
    timeline = _read(loaded.database.url, unit)
    if timeline is None:
        print(missing, file=sys.stderr)
        return EXIT_NOT_FOUND
    for line in format_timeline(timeline, zone=loaded.zone(), now=datetime.now(UTC)):
        print(line)
    return 0


def _stats(args: argparse.Namespace, *, settings: Callable[[str | None], Settings]) -> int:
    from storage.funnel import funnel_stats

    try:
        since = datetime.now(UTC) - parse_since(args.since)
    except ValueError:
        print(f"bad --since {args.since!r}: use 30m, 24h or 7d", file=sys.stderr)
        return EXIT_USAGE
    loaded = settings(args.config)
    stats = _read(loaded.database.url, functools.partial(funnel_stats, since=since))
    for line in format_stats(stats, zone=loaded.zone()):
        print(line)
    return 0
