"""Config problems, each told in one line that starts with the dotted key it is about.

    ConfigError          raised by `load_settings`: `flow.otp_ttl_seconds: <reason>`
    KeyProblem           raised inside validators about a key below the validated field

Nothing here ever quotes a configured value: secrets and database passwords live in config.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping

from pydantic import BaseModel, ValidationError

__all__ = [
    "ENV_PREFIX",
    "ENV_SEPARATOR",
    "ConfigError",
    "KeyPath",
    "KeyProblem",
    "describe",
    "did_you_mean",
    "env_name",
]

ENV_PREFIX = "KYCBOT_"
ENV_SEPARATOR = "__"

KeyPath = tuple[str, ...]


class ConfigError(Exception):
    """The config cannot be used; the message is one line: `<dotted.key>: <reason>`."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.splitlines()))


class KeyProblem(ValueError):
    """A validator's complaint about a key nested below the field it validates."""

    def __init__(self, path: KeyPath, reason: str) -> None:
        super().__init__(reason)
        self.path = path
        self.reason = reason


def env_name(path: KeyPath) -> str:
    """The environment variable that sets the key at `path`: `KYCBOT_FLOW__OTP_TTL_SECONDS`."""
    return ENV_PREFIX + ENV_SEPARATOR.join(part.upper() for part in path)


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """` (did you mean x?)` for a near miss among `candidates`, else an empty string."""
    close = difflib.get_close_matches(word, list(candidates), n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def describe(
    error: ValidationError, *, model: type[BaseModel], origins: Mapping[KeyPath, str]
) -> str:
    """The first problem in `error` as one line; `origins` names the variable behind a key."""
    detail = error.errors(include_input=False, include_url=False)[0]
    path: KeyPath = tuple(str(part) for part in detail["loc"])
    kind = detail["type"]
    if kind == "missing":
        reason = f"required; set {env_name(path)}"
    elif kind == "extra_forbidden":
        reason = "unknown key" + did_you_mean(path[-1], _keys_at(model, path[:-1]))
    elif kind in ("model_type", "dict_type"):
        reason = "must be a section (a TOML table), not a single value"
    elif kind == "value_error":
        cause = detail.get("ctx", {}).get("error")
        if isinstance(cause, KeyProblem):
            path += cause.path
            reason = cause.reason
        else:
            reason = str(cause)
    else:
        reason = detail["msg"]
    source = _source(path, origins)
    return f"{'.'.join(path)}: {reason}" + (f" (from {source})" if source else "")


def _keys_at(model: type[BaseModel], path: KeyPath) -> list[str]:
    """The field names of the section at `path`, or none when it is not a section model."""
    current = model
    for part in path:
        field = current.model_fields.get(part)
        annotation = field.annotation if field is not None else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        current = annotation
    return list(current.model_fields)


def _source(path: KeyPath, origins: Mapping[KeyPath, str]) -> str | None:
    """The variable that set `path`, a section holding it, or a key below it."""
    for origin, name in origins.items():
        shorter = min(len(origin), len(path))
        if origin[:shorter] == path[:shorter]:
            return name
    return None
