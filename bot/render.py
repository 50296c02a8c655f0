"""Turning a Reply into text in the user's language, with the operator's prompts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, tzinfo

from flows import ButtonAction, InputHint, Line, PromptKey, Reply
from flows.prompts import month_name

__all__ = ["Message", "RenderedButton", "RenderedLink", "Renderer"]

PromptLookup = Callable[[str, PromptKey], str]

PARAGRAPH = "\n\n"  # between the lines of a reply
_INPUT_PROMPTS = {InputHint.AADHAAR: PromptKey.INPUT_AADHAAR, InputHint.OTP: PromptKey.INPUT_OTP}


@dataclass(frozen=True)
class RenderedButton:
    """A button ready to show: what it does and its label."""

    action: ButtonAction
    label: str


@dataclass(frozen=True)
class RenderedLink:
    """A button that opens a web page; its URL may be a bearer link, so not in the repr."""

    label: str
    url: str = field(repr=False)


@dataclass(frozen=True)
class Message:
    """A reply ready for a channel."""

    text: str
    buttons: tuple[RenderedButton, ...] = ()
    input_placeholder: str | None = None
    protect_content: bool = False
    # The stored step the message was sent at; its buttons are stale once the step moves on.
    step: str = ""
    links: tuple[RenderedLink, ...] = ()


class Renderer:
    """Renders replies with a prompt lookup (config overrides over catalogue defaults)."""

    def __init__(self, *, prompt: PromptLookup, zone: tzinfo) -> None:
        self._prompt = prompt
        self._zone = zone

    def line(self, line: Line, language: str) -> str:
        """One prompt with its placeholders filled in."""
        values = {name: self._value(value, language) for name, value in line.params.items()}
        return self._prompt(language, line.prompt).format_map(values)

    def render(self, reply: Reply, language: str) -> Message:
        """The whole message."""
        placeholder = _INPUT_PROMPTS.get(reply.expects) if reply.expects else None
        return Message(
            text=PARAGRAPH.join(self.line(line, language) for line in reply.lines),
            buttons=tuple(
                RenderedButton(button.action, self._prompt(language, button.label))
                for button in reply.buttons
            ),
            input_placeholder=self._prompt(language, placeholder) if placeholder else None,
            protect_content=reply.protect_content,
            links=tuple(
                RenderedLink(self._prompt(language, link.label), link.url) for link in reply.links
            ),
        )

    def _value(self, value: object, language: str) -> str:
        if isinstance(value, PromptKey):
            return self._prompt(language, value)
        if isinstance(value, datetime):
            local = value.astimezone(self._zone)
            month = month_name(language, local.month) or local.strftime("%b")
            return f"{local:%d} {month} {local:%Y, %H:%M %Z}"
        return str(value)
