"""`kycbot erase USER`: support erases one person's data, as /delete_my_data does in Telegram.

The same storage function as the bot, in one transaction; on PostgreSQL it locks the user's
rows first, so a step of theirs running in the bot either finishes before or finds its
verification gone (and stops) instead of writing it back.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from bot.progress import Progress
from bot.support_cli import parse_target

if TYPE_CHECKING:
    from bot.config import Settings
    from storage import Database, NumberVault, UserKey
    from storage.erasure import ErasureCounts

__all__ = ["add_erase_parser", "parse_user"]

EXIT_NOT_FOUND = 1
EXIT_DATABASE = 1
EXIT_USAGE = 2
REQUESTED_BY = "support"


def parse_user(text: str, *, channel: str) -> tuple[str, str] | int:
    """A verification id (`v123`), or (channel, external id) from `telegram:123` or `123`."""
    verification_id = parse_target(text)
    if verification_id is not None:
        return verification_id
    named, separator, external_id = text.strip().partition(":")
    if separator:
        return named, external_id
    return channel, text.strip()


def add_erase_parser(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    *,
    settings: Callable[[str | None], Settings],
) -> None:
    """Register `erase` under `commands`; `settings` loads the config (exiting on errors)."""
    erase = commands.add_parser("erase", help="erase one person's data (leaves a deletion record)")
    erase.add_argument(
        "user", help="telegram:123456, a bare Telegram user id, or a verification (v123)"
    )
    erase.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    erase.add_argument("--channel", default="telegram", help="the channel of a bare user id")
    erase.add_argument("--config", help="config file (default: config.toml if present)")
    erase.set_defaults(handler=functools.partial(_erase, settings=settings))


def _erase(args: argparse.Namespace, *, settings: Callable[[str | None], Settings]) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    target = parse_user(args.user, channel=args.channel)
    if isinstance(target, tuple) and not all(target):
        print(f"bad user {args.user!r}: use telegram:123456, 123456 or v123", file=sys.stderr)
        return EXIT_USAGE
    if not args.yes and not sys.stdin.isatty():
        print(
            "not erasing without confirmation: run it in a terminal or pass --yes", file=sys.stderr
        )
        return EXIT_USAGE
    loaded = settings(args.config)
    try:
        return asyncio.run(_run(args, loaded, target))
    except (OSError, SQLAlchemyError) as error:
        # The class only: a driver's message may quote the URL with its password.
        print(f"cannot use the database: {type(error).__name__}", file=sys.stderr)
        return EXIT_DATABASE


async def _run(args: argparse.Namespace, settings: Settings, target: tuple[str, str] | int) -> int:
    from storage import Database, NumberVault

    vault = NumberVault(
        encryption_key=settings.security.encryption_key_bytes(),
        hmac_key=settings.security.hmac_key_bytes(),
    )
    database = Database(settings.database.url)
    try:
        key = await _key_of(database, target)
        if key is None:
            print(f"no verification {target}", file=sys.stderr)
            return EXIT_NOT_FOUND
        return await _erase_key(database, vault, key, settings=settings, confirmed=args.yes)
    finally:
        await database.dispose()


async def _key_of(database: Database, target: tuple[str, str] | int) -> UserKey | None:
    from storage import UserKey
    from storage.erasure import user_of_verification

    if isinstance(target, int):
        return await database.run(functools.partial(user_of_verification, verification_id=target))
    return UserKey(channel=target[0], external_id=target[1])


async def _erase_key(
    database: Database, vault: NumberVault, key: UserKey, *, settings: Settings, confirmed: bool
) -> int:
    from storage.erasure import count_user_rows, erase_by_key, erased_at, find_user, user_hmac

    who = f"{key.channel}:{key.external_id}"
    user_id = await database.run(
        functools.partial(find_user, channel=key.channel, external_id=key.external_id)
    )
    if user_id is None:
        print(f"no user {who}", file=sys.stderr)
        hashed = user_hmac(vault, channel=key.channel, external_id=key.external_id)
        when = await database.run(functools.partial(erased_at, user_hmac=hashed))
        if when is not None:
            local = when.astimezone(settings.zone()).strftime("%Y-%m-%d %H:%M:%S %Z")
            print(f"this user's data was erased on {local}", file=sys.stderr)
        return EXIT_NOT_FOUND
    if not confirmed:
        stored = await database.run(functools.partial(count_user_rows, user_id=user_id))
        if not _confirm(who, stored):
            print("nothing was erased")
            return 0
    with Progress("erasing") as progress:
        progress.update(who)
        unit = functools.partial(
            erase_by_key, key=key, vault=vault, requested_by=REQUESTED_BY, now=datetime.now(UTC)
        )
        counts = await database.run(unit)
    if counts is None:  # erased by someone else since it was found
        print(f"no user {who}: erased meanwhile", file=sys.stderr)
        return EXIT_NOT_FOUND
    print(f"erased {who}; a deletion record was kept")
    for label, count in counts.items():
        print(f"  {label:<20}{count:>6}")
    return 0


def _confirm(who: str, stored: ErasureCounts) -> bool:
    summary = ", ".join(f"{count} {label}" for label, count in stored.items() if count)
    print(f"{who} has {summary}.")
    try:
        answer = input("Erase all of it? This cannot be undone. [y/N] ")
    except EOFError:
        return False
    return answer.strip().lower() in {"y", "yes"}
