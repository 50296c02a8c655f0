"""Commands every channel understands, mapped to flow events."""

from __future__ import annotations

from flows import (
    CancelRequested,
    Event,
    HelpRequested,
    StartRequested,
    StatusRequested,
    UnknownCommandSent,
)

__all__ = ["COMMANDS", "command_event"]

COMMANDS: dict[str, type[Event]] = {
    "start": StartRequested,
    "help": HelpRequested,
    "status": StatusRequested,
    "cancel": CancelRequested,
}


def command_event(text: str) -> Event | None:
    """The event for a command line such as "/start" or "/start@SomeBot", else None."""
    if not text.startswith("/"):
        return None
    name = text[1:].split(maxsplit=1)[0].split("@", 1)[0].lower() if len(text) > 1 else ""
    event_type = COMMANDS.get(name)
    return event_type() if event_type is not None else UnknownCommandSent()
