"""The prompts shipped with the bot, per language: English is the catalogue, the rest live here.

A translation is a plain mapping from `PromptKey` to a template with the same placeholders as the
English default; `tests/flows/test_shipped_prompts.py` fails when one misses a key.
"""

from __future__ import annotations

from collections.abc import Mapping

from flows.catalogue import CATALOGUE, PromptKey
from flows.prompts.hi import HINDI, HINDI_MONTHS

__all__ = ["ENGLISH", "SHIPPED_LANGUAGES", "month_name", "shipped_prompt", "shipped_prompts"]

ENGLISH = "en"
_TRANSLATIONS: dict[str, Mapping[PromptKey, str]] = {"hi": HINDI}
_MONTHS: dict[str, tuple[str, ...]] = {"hi": HINDI_MONTHS}
# English first: it is the language every other one falls back to.
SHIPPED_LANGUAGES: tuple[str, ...] = (ENGLISH, *sorted(_TRANSLATIONS))


def shipped_prompts(language: str) -> Mapping[PromptKey, str]:
    """Every shipped template of `language` (empty for a language the bot does not ship)."""
    if language == ENGLISH:
        return {key: spec.default for key, spec in CATALOGUE.items()}
    return _TRANSLATIONS.get(language, {})


def shipped_prompt(language: str, key: PromptKey) -> str | None:
    """The shipped template of `key` in `language`, or None when none is shipped."""
    if language == ENGLISH:
        return CATALOGUE[key].default
    return _TRANSLATIONS.get(language, {}).get(key)


def month_name(language: str, month: int) -> str | None:
    """The name of `month` (1-12) in `language` when shipped; None: use the English abbreviation."""
    names = _MONTHS.get(language.lower())
    return names[month - 1] if names else None
