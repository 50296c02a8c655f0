"""What the runner needs from a chat surface (Telegram, the terminal)."""

from __future__ import annotations

from typing import Protocol

from bot.render import Message

__all__ = ["Channel"]


class Channel(Protocol):
    """Where one user's replies go, for the update being handled."""

    async def send(self, message: Message) -> None:
        """Show a message to the user."""
        ...

    async def delete_user_message(self) -> None:
        """Delete the user's message being handled (it held a number or an OTP)."""
        ...

    async def show_progress(self) -> None:
        """Show that the bot is working, while a provider call runs."""
        ...
