"""`kycbot`: the command line. Config problems exit with code 2 and one line naming the key."""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import secrets
import sys
from collections.abc import Sequence
from pathlib import Path

from bot.config import ConfigError, Settings, load_settings
from bot.erase_cli import add_erase_parser
from bot.logs import configure_logging
from bot.logs_cli import add_logs_parser
from bot.prompts_cli import add_prompts_parser, prompt_warnings
from bot.purge_cli import add_purge_parser
from bot.support_cli import add_stats_parser, add_timeline_parser

__all__ = ["main"]

EXIT_CONFIG = 2
EXIT_STARTUP = 1
DEFAULT_CONFIG = Path("config.toml")


def _config_path(given: str | None) -> Path | None:
    if given:
        return Path(given)
    from_env = os.environ.get("KYCBOT_CONFIG")
    if from_env:
        return Path(from_env)
    return DEFAULT_CONFIG if DEFAULT_CONFIG.exists() else None


def _settings(given: str | None) -> Settings:
    try:
        return load_settings(_config_path(given), os.environ)
    except ConfigError as error:
        print(f"config error: {error}", file=sys.stderr)
        raise SystemExit(EXIT_CONFIG) from None


def _config_check(args: argparse.Namespace) -> int:
    path = _config_path(args.path)
    settings = _settings(args.path)
    print(f"config ok: {path if path else 'defaults and environment'}")
    # Missing translations fall back to English: worth knowing, not worth refusing to start.
    for warning in prompt_warnings(settings):
        print(f"warning: {warning}", file=sys.stderr)
    return 0


def _keys(_: argparse.Namespace) -> int:
    print(
        f"KYCBOT_SECURITY__ENCRYPTION_KEY={base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()}"
    )
    print(f"KYCBOT_SECURITY__HMAC_KEY={secrets.token_urlsafe(48)}")
    return 0


def _db_upgrade(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from storage import Database
    from storage.migrate import upgrade

    settings = _settings(args.config)
    configure_logging(settings.logging.level)

    async def run() -> None:
        database = Database(settings.database.url)
        try:
            await upgrade(database)
        finally:
            await database.dispose()

    try:
        asyncio.run(run())
    except (OSError, SQLAlchemyError) as error:
        # The class only: a driver's message may quote the URL with its password.
        print(f"cannot upgrade the database: {type(error).__name__}", file=sys.stderr)
        return EXIT_STARTUP
    print("database schema is up to date")
    return 0


def _chat(args: argparse.Namespace) -> int:
    from bot.app import StartupError
    from bot.chat import run_chat

    settings = _settings(args.config)
    log_file = Path(args.log_file) if args.log_file else None
    # In a terminal, only warnings interrupt the conversation; the full log goes to the file.
    configure_logging(settings.logging.level, file=log_file, stderr_level="WARNING")
    try:
        asyncio.run(run_chat(settings, user=args.user, config=_config_path(args.config)))
    except StartupError as error:
        print(f"cannot start: {error}", file=sys.stderr)
        return EXIT_STARTUP
    return 0


def _run(args: argparse.Namespace) -> int:
    from bot.app import StartupError
    from bot.telegram_run import run_telegram

    settings = _settings(args.config)
    configure_logging(settings.logging.level)
    # Opt in to PTB's timedelta durations now: the old int form warns on every RetryAfter.
    os.environ.setdefault("PTB_TIMEDELTA", "true")
    try:
        asyncio.run(run_telegram(settings, config=_config_path(args.config)))
    except StartupError as error:
        print(f"cannot start: {error}", file=sys.stderr)
        return EXIT_STARTUP
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kycbot", description="Aadhaar OTP onboarding bot")
    commands = parser.add_subparsers(dest="command", required=True)

    chat = commands.add_parser("chat", help="verify yourself in the terminal")
    chat.add_argument("--config", help="config file (default: config.toml if present)")
    chat.add_argument("--user", default="local", help="who is chatting (default: local)")
    chat.add_argument("--log-file", help="write the log to this file")
    chat.set_defaults(handler=_chat)

    run = commands.add_parser("run", help="run the Telegram bot")
    run.add_argument("--config", help="config file (default: config.toml if present)")
    run.set_defaults(handler=_run)

    config = commands.add_parser("config", help="configuration").add_subparsers(
        dest="action", required=True
    )
    check = config.add_parser("check", help="validate a config file and the environment")
    check.add_argument("path", nargs="?", help="config file (default: config.toml if present)")
    check.set_defaults(handler=_config_check)

    database = commands.add_parser("db", help="database").add_subparsers(
        dest="action", required=True
    )
    upgrade = database.add_parser("upgrade", help="apply the migrations")
    upgrade.add_argument("--config", help="config file (default: config.toml if present)")
    upgrade.set_defaults(handler=_db_upgrade)

    keys = commands.add_parser("keys", help="print fresh secret keys as environment variables")
    keys.set_defaults(handler=_keys)
    add_logs_parser(commands, settings=_settings)
    add_prompts_parser(commands, settings=_settings)
    add_timeline_parser(commands, settings=_settings)
    add_stats_parser(commands, settings=_settings)
    add_purge_parser(commands, settings=_settings)
    add_erase_parser(commands, settings=_settings)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `kycbot` console script."""
    args = _parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `kycbot logs | head`: the reader has all it wanted. Python would otherwise complain
        # again while flushing stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
