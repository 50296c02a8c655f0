"""`[metrics]`: whether the bot serves `GET /metrics`, and the token that guards it."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, SecretStr, field_validator

__all__ = ["MetricsSettings"]

# What fits in an Authorization header without quoting: no spaces, no control characters.
_BEARER_TOKEN = re.compile(r"[\x21-\x7e]{16,512}")


class MetricsSettings(BaseModel):
    """`[metrics]`: the Prometheus endpoint on the bot's web app."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    # In polling mode an enabled endpoint is a reason to serve the web app on [web].
    enabled: bool = True
    # Empty: /metrics is open, as it is meant for an internal port. From the environment only.
    token: SecretStr = SecretStr("")

    @field_validator("token")
    @classmethod
    def _header_safe(cls, value: SecretStr) -> SecretStr:
        token = value.get_secret_value()
        if token and not _BEARER_TOKEN.fullmatch(token):
            raise ValueError("must be 16-512 printable characters without spaces")
        return value
