"""`[alerts]`: where and how often the bot tells support that a provider is in trouble."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, PositiveFloat

__all__ = ["AlertSettings"]


class AlertSettings(BaseModel):
    """`[alerts]`: provider alerts (see bot/alerts.py)."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    # The Telegram chat that gets alert messages; None: alerts are only logged (at ERROR).
    support_chat_id: int | None = None
    # How long a provider must keep failing (down, or no answer) before it is reported.
    down_after_seconds: PositiveFloat = 120.0
    # After an alert, the same provider and cause stay quiet this long: one message, no storm.
    repeat_after_seconds: PositiveFloat = 3600.0
