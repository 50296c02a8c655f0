"""The shipped translations are complete and renderable, and the changed-notice line shows."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from flows import PromptKey, Reply, Session, Standing, StartRequested, State, decide
from flows.catalogue import CATALOGUE, placeholder_problem
from flows.prompts import SHIPPED_LANGUAGES, shipped_prompt, shipped_prompts
from flows.rules import Rules

TRANSLATIONS = [language for language in SHIPPED_LANGUAGES if language != "en"]
DEVANAGARI = re.compile("[\u0900-\u097f]")
NOW = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


@pytest.mark.parametrize("language", TRANSLATIONS)
def test_every_shipped_language_has_every_prompt(language: str) -> None:
    missing = sorted(key.value for key in PromptKey if shipped_prompt(language, key) is None)
    assert missing == [], f"{language} misses {missing}: translate them in flows/prompts/"


@pytest.mark.parametrize("language", TRANSLATIONS)
def test_every_shipped_text_uses_exactly_its_placeholders(language: str) -> None:
    for key, template in shipped_prompts(language).items():
        assert template.strip(), f"{language}.{key} is empty"
        assert placeholder_problem(template, CATALOGUE[key]) is None, f"{language}.{key}"


def test_hindi_is_written_in_devanagari_and_differs_from_english() -> None:
    for key, template in shipped_prompts("hi").items():
        assert DEVANAGARI.search(template), f"hi.{key} has no Devanagari: {template!r}"
        assert template != CATALOGUE[key].default, f"hi.{key} is the English text"


def _opening(standing: Standing, rules: Rules) -> Reply:
    decision = decide(Session(standing=standing), StartRequested(), NOW, rules)
    assert decision.session.state is State.AWAIT_CONSENT
    replies = [effect for effect in decision.effects if isinstance(effect, Reply)]
    assert len(replies) == 1
    return replies[0]


@pytest.mark.parametrize(
    ("agreed", "current", "told"),
    [
        ("2026-11-01+aaaaaaaa", "2026-11-01+bbbbbbbb", True),
        ("2026-11-01+aaaaaaaa", "2026-11-01+aaaaaaaa", False),
        (None, "2026-11-01+aaaaaaaa", False),  # never agreed: nothing "changed"
        ("2026-11-01+aaaaaaaa", "", False),  # not tracked
    ],
)
def test_a_new_verification_says_when_the_notice_changed(
    agreed: str | None, current: str, told: bool
) -> None:
    rules = replace(Rules(), notice_version=current)
    reply = _opening(Standing(agreed_notice_version=agreed), rules)
    prompts = [line.prompt for line in reply.lines]
    assert (prompts[0] is PromptKey.CONSENT_CHANGED) is told
    assert prompts[-1] is PromptKey.CONSENT_QUESTION
