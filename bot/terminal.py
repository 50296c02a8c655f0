"""`kycbot chat`: the conversation in a terminal, through the same runner as Telegram.

Buttons are shown as numbered choices; typing the number presses the button. The state lives in
the database, so quitting and starting again resumes at the same step. While the bot waits for
an Aadhaar number or an OTP, typing is not echoed, so neither lingers on the screen.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
from collections.abc import Iterator
from typing import TextIO

from bot.commands import command_event, command_name
from bot.language import LANGUAGE_COMMAND, LanguageChoice, LanguageMenu
from bot.render import Message, RenderedButton
from bot.runner import Runner
from flows import Event, StartRequested, TextSent, event_for_button
from storage import UserKey

__all__ = ["TerminalChannel", "TerminalChat"]

QUIT_COMMANDS = frozenset({"/quit", "/exit"})
INDENT = "     "


class TerminalChannel:
    """Prints replies; remembers the last buttons so a typed number can press one."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self.buttons: tuple[RenderedButton, ...] = ()
        self.input_placeholder: str | None = None
        # True while the prompt is on screen and nothing is being handled: a message arriving
        # then (from the sweeper) must draw the prompt again below itself.
        self.waiting_for_input = False

    async def send(self, message: Message) -> None:
        """Print the message and its numbered choices."""
        self.buttons = message.buttons
        self.input_placeholder = message.input_placeholder
        first, *rest = message.text.split("\n")
        indented = "".join(f"\n{INDENT}{line}" if line else "\n" for line in rest)
        lead = "\n" if self.waiting_for_input else ""
        self.write(f"{lead}\nbot> {first}{indented}\n")
        for link in message.links:
            self.write(f"{INDENT}{link.label}: {link.url}\n")
        if message.buttons:
            choices = "   ".join(
                f"[{number}] {button.label}" for number, button in enumerate(message.buttons, 1)
            )
            self.write(f"{INDENT}{choices}\n")
        if self.waiting_for_input:
            self.write_prompt()

    async def delete_user_message(self) -> None:
        """Nothing to delete: what was typed for a number or an OTP was never shown."""

    async def show_progress(self) -> None:
        """Show that a provider call is running."""
        self.write(f"{INDENT}...\n")

    @property
    def expects_secret(self) -> bool:
        """Whether the bot asked for an Aadhaar number or an OTP."""
        return self.input_placeholder is not None

    def write_prompt(self) -> None:
        """The input prompt, naming what is expected when the bot asked for something."""
        if self.input_placeholder:
            self.write(f"you ({self.input_placeholder}, hidden)> ")
        else:
            self.write("you> ")

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


@contextlib.contextmanager
def _echo_off(source: TextIO, hidden: bool) -> Iterator[None]:
    # Only a real terminal has echo to switch off; pipes and files are read as they are.
    if not hidden or not source.isatty():
        yield
        return
    import termios

    descriptor = source.fileno()
    saved = termios.tcgetattr(descriptor)
    quiet = termios.tcgetattr(descriptor)
    quiet[3] &= ~termios.ECHO
    termios.tcsetattr(descriptor, termios.TCSANOW, quiet)
    try:
        yield
    finally:
        termios.tcsetattr(descriptor, termios.TCSANOW, saved)


class TerminalChat:
    """Reads lines from stdin and runs them through the runner as one user."""

    def __init__(
        self, *, runner: Runner, user: UserKey, channel: TerminalChannel, source: TextIO = sys.stdin
    ) -> None:
        self._runner = runner
        self._user = user
        self._channel = channel
        self._source = source
        self._languages = LanguageMenu(
            settings=lambda: runner.settings, database=runner.database, vault=runner.vault
        )
        # The /language choices on screen: only the very next line may pick one by number.
        self._language_choices: tuple[LanguageChoice, ...] = ()

    async def run(self) -> None:
        """Chat until /quit or end of input, opening as /start does (which resumes a step)."""
        await self._runner.handle(self._user, StartRequested(), self._channel)
        while True:
            hidden = self._channel.expects_secret
            self._channel.write_prompt()
            self._channel.waiting_for_input = True
            with _echo_off(self._source, hidden):
                typed = await self._read_line()
            self._channel.waiting_for_input = False
            if hidden and self._source.isatty():
                self._channel.write("\n")  # the Enter the terminal did not echo
            if typed is None or typed.strip().lower() in QUIT_COMMANDS:
                self._channel.write("\nbye: your progress is saved; run kycbot chat to resume.\n")
                return
            if typed.strip() and not await self._language_command(typed.strip()):
                event = self._channel.event_for(typed.strip())
                await self._runner.handle(self._user, event, self._channel)

    async def _language_command(self, typed: str) -> bool:
        """Handle /language and the number picking a language after it; whether it did."""
        choices, self._language_choices = self._language_choices, ()
        if typed.isdigit() and 1 <= int(typed) <= len(choices):
            answer = await self._languages.choose(self._user, choices[int(typed) - 1].code)
            self._channel.write(f"\nbot> {answer}\n")
            return True
        if command_name(typed) != LANGUAGE_COMMAND:
            return False
        question = await self._languages.ask(self._user)
        numbered = "   ".join(
            f"[{number}] {choice.label}" for number, choice in enumerate(question.choices, 1)
        )
        # Written, not sent: the step's own buttons stay what a later number presses.
        self._channel.write(f"\nbot> {question.text}\n{INDENT}{numbered}\n")
        self._language_choices = question.choices
        return True

    async def _read_line(self) -> str | None:
        # A daemon thread blocks on stdin so the event loop (and the sweeper) keeps running;
        # None means the end of input.
        loop = asyncio.get_running_loop()
        line: asyncio.Future[str | None] = loop.create_future()

        def read() -> None:
            raw = self._source.readline()
            loop.call_soon_threadsafe(line.set_result, raw.rstrip("\r\n") if raw else None)

        threading.Thread(target=read, name="stdin", daemon=True).start()
        return await line
