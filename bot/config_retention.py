"""`[retention]`: how long flow events and results are kept, and how often the bot purges."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["RetentionSettings"]


class RetentionSettings(BaseModel):
    """`[retention]`: the periods after which data is purged, and the automatic schedule."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # The consent notice promises 90 days (`consent_retention`): change both together.
    flow_events_days: int = Field(default=90, ge=1)
    results_days: int = Field(default=90, ge=1)
    # 0 turns the automatic purge off (run `kycbot purge` from cron instead).
    purge_every_hours: float = Field(default=24.0, ge=0)
