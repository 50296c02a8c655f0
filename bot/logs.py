"""Logging set-up: one format, our level, chatty libraries kept quiet."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

__all__ = ["configure_logging"]

# At DEBUG these would log SQL parameters and HTTP bodies; nothing of ours needs them there.
_QUIET = ("sqlalchemy", "aiosqlite", "asyncpg", "httpx", "httpcore", "telegram", "alembic")
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class OneLineErrors(logging.Filter):
    """Turns a library's traceback into its exception class on the same line.

    A traceback repeats what went wrong many lines long, and its messages may quote request
    data; the class says enough, and the operator's log stays one line per event.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[0] is not None:
            record.msg = f"{record.getMessage()}: {record.exc_info[0].__name__}"
            record.args = None
            record.exc_info = None
            record.exc_text = None
        return True


def configure_logging(
    level: str, *, file: Path | None = None, stderr_level: str | None = None
) -> None:
    """Log at `level` to `file` (if given) and at `stderr_level` (default `level`) to stderr."""
    root = logging.getLogger()
    root.handlers.clear()
    root.setLevel(level)
    formatter = logging.Formatter(FORMAT)
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(stderr_level or level)
    console.setFormatter(formatter)
    root.addHandler(console)
    if file is not None:
        to_file = logging.FileHandler(file, encoding="utf-8")
        to_file.setFormatter(formatter)
        root.addHandler(to_file)
    for name in _QUIET:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
    for handler in root.handlers:
        handler.addFilter(OneLineErrors())
