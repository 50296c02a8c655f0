"""The version of the consent notice users agree to: the operator's label plus a text hash.

`[consent] notice_version` is a label an operator may forget to bump, so the recorded version is
`<notice_version>+<8 hex digits>`: a SHA-256 over the notice and its buttons as rendered in
every offered language. Editing any of those texts (in config, or a new shipped translation)
makes a new version, and a user who agreed to an older one is told that it changed.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace

from bot.config import Settings
from bot.render import Renderer
from flows.replies import consent_notice
from flows.rules import Rules

__all__ = ["consent_notice_version", "rules_with_notice"]

_HASH_DIGITS = 8
# The settings object last asked about and its answer: settings are frozen and replaced as a
# whole on reload, so identity says whether the answer still holds. One slot is enough.
_last: tuple[Settings, Rules] | None = None


def consent_notice_version(settings: Settings) -> str:
    """The version of the consent notice as these settings word it."""
    renderer = Renderer(prompt=settings.prompt, zone=settings.zone())
    digest = hashlib.sha256()
    for language in settings.language.offered:
        message = renderer.render(consent_notice(), language)
        for text in (language, message.text, *(button.label for button in message.buttons)):
            # A separator that no text holds keeps ("ab", "c") and ("a", "bc") apart.
            digest.update(text.encode() + b"\0")
    return f"{settings.consent.notice_version}+{digest.hexdigest()[:_HASH_DIGITS]}"


def rules_with_notice(settings: Settings) -> Rules:
    """`settings.rules()` with the current consent notice version, computed once per settings."""
    global _last
    last = _last
    if last is not None and last[0] is settings:
        return last[1]
    rules = replace(settings.rules(), notice_version=consent_notice_version(settings))
    _last = (settings, rules)
    return rules
