"""`kycbot chat`: the conversation in a terminal, through the same runner as Telegram.

Buttons are shown as numbered choices; typing the number presses the button. The state lives in
the database, so quitting and starting again resumes at the same step.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from typing import TextIO

from bot.commands import command_event
from bot.render import Message, RenderedButton
from bot.runner import Runner
from flows import Event, StartRequested, TextSent, event_for_button
from storage import UserKey

__all__ = ["TerminalChannel", "TerminalChat"]

QUIT_COMMANDS = frozenset({"/quit", "/exit"})


class TerminalChannel:
    """Prints replies; remembers the last buttons so a typed number can press one."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self.buttons: tuple[RenderedButton, ...] = ()
        self.input_placeholder: str | None = None

    async def send(self, message: Message) -> None:
        """Print the message and its numbered choices."""
        self.buttons = message.buttons
        self.input_placeholder = message.input_placeholder
        first, *rest = message.text.split("\n")
        indented = "".join(f"\n     {line}" if line else "\n" for line in rest)
        self._out.write(f"\nbot> {first}{indented}\n")
        if message.buttons:
            choices = "   ".join(
                f"[{number}] {button.label}" for number, button in enumerate(message.buttons, 1)
            )
            self._out.write(f"     {choices}\n")
        self._out.flush()

    async def delete_user_message(self) -> None:
        """Nothing to delete in a terminal: the bot never echoes what was typed."""

    async def show_progress(self) -> None:
        """Show that a provider call is running."""
        self._out.write("     ...\n")
        self._out.flush()

    def write_prompt(self) -> None:
        """The input prompt, naming what is expected when the bot asked for something."""
        self.write(f"you ({self.input_placeholder})> " if self.input_placeholder else "you> ")

    def write(self, text: str) -> None:
        """Print text as is."""
        self._out.write(text)
        self._out.flush()

    def event_for(self, typed: str) -> Event:
        """What a typed line means: a command, a numbered choice, or text."""
        command = command_event(typed)
        if command is not None:
            return command
        if typed.isdigit() and len(typed) <= 2 and 1 <= int(typed) <= len(self.buttons):
            return event_for_button(self.buttons[int(typed) - 1].action)
        return TextSent(typed)


class TerminalChat:
    """Reads lines from stdin and runs them through the runner as one user."""

    def __init__(
        self, *, runner: Runner, user: UserKey, channel: TerminalChannel, source: TextIO = sys.stdin
    ) -> None:
        self._runner = runner
        self._user = user
        self._channel = channel
        self._source = source

    async def run(self) -> None:
        """Chat until /quit or end of input, opening as /start does (which resumes a step)."""
        await self._runner.handle(self._user, StartRequested(), self._channel)
        lines = self._read_lines()
        while True:
            self._channel.write_prompt()
            typed = await lines.get()
            if typed is None or typed.strip().lower() in QUIT_COMMANDS:
                self._channel.write("\nbye: your progress is saved; run kycbot chat to resume.\n")
                return
            if typed.strip():
                event = self._channel.event_for(typed.strip())
                await self._runner.handle(self._user, event, self._channel)

    def _read_lines(self) -> asyncio.Queue[str | None]:
        # A daemon thread blocks on stdin so the event loop (and the sweeper) keeps running;
        # None marks the end of input.
        queue: asyncio.Queue[str | None] = asyncio.Queue()
        loop = asyncio.get_running_loop()

        def pump() -> None:
            for raw in self._source:
                loop.call_soon_threadsafe(queue.put_nowait, raw.rstrip("\r\n"))
            loop.call_soon_threadsafe(queue.put_nowait, None)

        threading.Thread(target=pump, name="stdin", daemon=True).start()
        return queue
