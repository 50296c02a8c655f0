"""Commands every channel understands, mapped to flow events."""

from __future__ import annotations

from flows import (
    CancelRequested,
    DataDeletionRequested,
    Event,
    HelpRequested,
    StartRequested,
    StatusRequested,
    UnknownCommandSent,
)

__all__ = ["COMMANDS", "command_event", "command_name"]

COMMANDS: dict[str, type[Event]] = {
    "start": StartRequested,
    "help": HelpRequested,
    "status": StatusRequested,
    "cancel": CancelRequested,
    "delete_my_data": DataDeletionRequested,
}


def command_name(text: str) -> str | None:
    """The command a line such as "/start" or "/start@SomeBot" gives ("start"), else None."""
    if not text.startswith("/"):
        return None
    return text[1:].split(maxsplit=1)[0].split("@", 1)[0].lower() if len(text) > 1 else ""


def command_event(text: str) -> Event | None:
    """The event for a command line such as "/start" or "/start@SomeBot", else None."""
    name = command_name(text)
    if name is None:
        return None
    event_type = COMMANDS.get(name)
    return event_type() if event_type is not None else UnknownCommandSent()
