"""`[console]`: the read-only web support console, switched on by its token in the environment."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, SecretStr, field_validator

__all__ = ["CONSOLE_TOKEN_MIN_LENGTH", "ConsoleSettings"]

# Anyone who can reach the web app may guess it: short tokens fall to a patient guesser.
CONSOLE_TOKEN_MIN_LENGTH = 16
_PATH = re.compile(r"(/[A-Za-z0-9._~-]+)+")


class ConsoleSettings(BaseModel):
    """`[console]`: where the support console is served and how long a sign-in lasts."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    # Support staff sign in with it; without it the console is off. Environment only.
    token: SecretStr = SecretStr("")
    # Where the console sits in the web app, for example /console.
    path: str = "/console"
    # Seconds a sign-in lasts before the console asks for the token again.
    session_seconds: PositiveInt = 8 * 3600
    # Seconds between reloads of the live view.
    refresh_seconds: int = Field(default=5, ge=1, le=300)

    @property
    def enabled(self) -> bool:
        """Whether the console is served: only with a token configured."""
        return bool(self.token.get_secret_value())

    @field_validator("token")
    @classmethod
    def _long_enough(cls, value: SecretStr) -> SecretStr:
        secret = value.get_secret_value()
        if secret and len(secret) < CONSOLE_TOKEN_MIN_LENGTH:
            raise ValueError(
                f"must be at least {CONSOLE_TOKEN_MIN_LENGTH} characters (or empty: no console)"
            )
        return value

    @field_validator("path")
    @classmethod
    def _plain_path(cls, value: str) -> str:
        if not _PATH.fullmatch(value):
            raise ValueError("must be a path such as /console (no trailing slash)")
        return value
