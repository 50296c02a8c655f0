"""A chat surface that records what the user would see."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.render import Message


@dataclass
class RecordingChannel:
    """Stands where Telegram or the terminal would: keeps every message and action."""

    messages: list[Message] = field(default_factory=list)
    deleted: int = 0
    progress: int = 0

    async def send(self, message: Message) -> None:
        self.messages.append(message)

    async def delete_user_message(self) -> None:
        self.deleted += 1

    async def show_progress(self) -> None:
        self.progress += 1

    @property
    def last(self) -> str:
        """The text of the last message."""
        return self.messages[-1].text if self.messages else ""

    def texts(self) -> list[str]:
        """Every message text, oldest first."""
        return [message.text for message in self.messages]
