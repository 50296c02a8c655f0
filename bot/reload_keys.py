"""Which settings a config reload may change in a running bot, and what changed.

Keys are dotted paths to leaves of `Settings` (`flow.otp_attempts`, `prompts.en.otp_wrong`);
only their names are ever reported, never their values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.config import Settings

__all__ = ["RELOADABLE_SECTIONS", "RESTART_ONLY_FIELDS", "Changes", "changes", "effective"]

# Sections read afresh where they are used (through `runner.settings`). A section read once at
# start-up must stay out: listing it here would report a change that does not happen.
RELOADABLE_SECTIONS = frozenset(
    {
        "prompts",
        "language",
        "consent",
        "flow",
        "result",
        "logging",
        "alerts",
        "retention",
        "metrics",
    }
)
# Keys of those sections that are nevertheless used only at start-up: the methods decide what
# is wired (DigiLocker's client, the web app), the sweeper and DigiLocker keep their numbers,
# and whether /metrics is served is decided when the web app is built.
RESTART_ONLY_FIELDS: Mapping[str, frozenset[str]] = {
    "flow": frozenset({"methods", "digilocker_ttl_seconds", "sweep_interval_seconds"}),
    "metrics": frozenset({"enabled"}),
}
_ABSENT = object()


@dataclass(frozen=True)
class Changes:
    """What an edit of the file changed, sorted by key."""

    live: tuple[str, ...]  # applied at once
    restart_only: tuple[str, ...]  # differing from the running values until a restart


def changes(*, before: Settings, after: Settings, running: Settings) -> Changes:
    """The keys that differ between two readings of the file, split by whether they reload.

    A restart-only key counts only while it differs from the running value: an edit that puts
    it back is no news.
    """
    old, new, current = _flat(before), _flat(after), _flat(running)
    edited = sorted(key for key in old.keys() | new.keys() if _differ(old, new, key))
    return Changes(
        live=tuple(key for key in edited if _reloadable(key)),
        restart_only=tuple(
            key for key in edited if not _reloadable(key) and _differ(current, new, key)
        ),
    )


def effective(*, running: Settings, loaded: Settings) -> Settings:
    """`loaded`, with every section and key that needs a restart taken from `running`."""
    kept: dict[str, Any] = {
        name: getattr(running, name)
        for name in Settings.model_fields
        if name not in RELOADABLE_SECTIONS
    }
    for section, fields in RESTART_ONLY_FIELDS.items():
        if section not in Settings.model_fields:
            continue
        given = getattr(loaded, section)
        kept[section] = given.model_copy(
            update={field: getattr(getattr(running, section), field) for field in fields}
        )
    return loaded.model_copy(update=kept)


def _flat(settings: Settings) -> dict[str, Any]:
    """Every leaf of the settings under its dotted key."""
    flat: dict[str, Any] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), inner)
        else:
            flat[prefix] = value  # SecretStr compares by its secret, and never prints it

    walk("", settings.model_dump())
    return flat


def _differ(one: dict[str, Any], other: dict[str, Any], key: str) -> bool:
    return bool(one.get(key, _ABSENT) != other.get(key, _ABSENT))


def _reloadable(key: str) -> bool:
    section, _, rest = key.partition(".")
    field = rest.partition(".")[0]
    return section in RELOADABLE_SECTIONS and field not in RESTART_ONLY_FIELDS.get(
        section, frozenset()
    )
