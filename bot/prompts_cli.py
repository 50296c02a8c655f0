"""`kycbot prompts preview` and the missing-translation warnings of `kycbot config check`.

The preview renders every prompt of one language with sample values through the same
`Renderer` the bot uses, so an operator sees what users will see before saving a config, and
which prompts would appear in English because the language has no text of its own for them.
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

from bot.config import Settings
from bot.render import Renderer
from flows import Line, PromptKey
from flows.catalogue import CATALOGUE
from flows.effects import ParamValue
from flows.prompts import ENGLISH, SHIPPED_LANGUAGES

__all__ = ["add_prompts_parser", "missing_prompts", "prompt_warnings", "render_preview"]

EXIT_USAGE = 2
INDENT = "    "
FALLBACK_MARK = "[falls back to English]"
# Sections of the preview, matched by key prefix in this order; within one, catalogue order.
_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Consent", ("consent_",)),
    ("Buttons", ("button_",)),
    (
        "Aadhaar number",
        ("ask_aadhaar", "input_aadhaar", "aadhaar_", "too_many_invalid", "confirm_"),
    ),
    ("OTP", ("otp_", "ask_otp", "input_otp", "resend_", "no_sends", "busy_requesting", "busy_ver")),
    ("DigiLocker and methods", ("digilocker_", "busy_starting", "busy_fetching", "method_")),
    ("Provider answers", ("provider_",)),
    ("Language", ("language_",)),
    ("Erasure", ("erase_",)),
    ("Groups", ("private_chat", "group_")),
    ("Other", ("",)),
)


def known_languages(settings: Settings) -> tuple[str, ...]:
    """Every language the bot could speak: offered, shipped, or with prompts in config."""
    found = dict.fromkeys((*settings.language.offered, *SHIPPED_LANGUAGES, *settings.prompts))
    return tuple(found)


def missing_prompts(settings: Settings, language: str) -> list[PromptKey]:
    """The prompts `language` has no text of its own for (they are shown in English)."""
    return [key for key in PromptKey if settings.own_prompt(language, key) is None]


def prompt_warnings(settings: Settings) -> Iterator[str]:
    """One line per offered or configured language that misses prompts."""
    languages = dict.fromkeys((*settings.language.offered, *settings.prompts))
    for language in languages:
        missing = missing_prompts(settings, language)
        if missing:
            names = ", ".join(key.value for key in missing)
            yield (
                f"prompts.{language}: {len(missing)} of {len(PromptKey)} prompts missing, "
                f"shown in English instead: {names}"
            )


def _samples(settings: Settings, now: datetime) -> dict[str, ParamValue]:
    flow = settings.flow
    return {
        "masked_aadhaar": "XXXX XXXX 1234",
        "attempts_left": max(1, flow.otp_attempts - 1),
        "tries_left": max(1, flow.max_invalid_entries - 1),
        "digit_count": 11,
        "seconds": 45,
        "minutes": max(1, round(flow.otp_ttl_seconds / 60)),
        "sends_left": max(1, flow.max_otp_sends - 1),
        "max_sends": flow.max_otp_sends,
        "max_requests": flow.max_otp_requests_per_day,
        "until": now + timedelta(seconds=flow.lockout_seconds),
        "verified_at": now,
        "name": "A**** K****",
        "date_of_birth": "1990",
        "gender": "F",
        "address": "Karnataka",
    }


def _group(key: PromptKey) -> str:
    return next(title for title, prefixes in _GROUPS if key.value.startswith(prefixes))


def render_preview(settings: Settings, language: str, now: datetime) -> str:
    """Every prompt of `language` rendered with sample values, grouped, fallbacks marked."""
    renderer = Renderer(prompt=settings.prompt, zone=settings.zone())
    samples = _samples(settings, now)
    missing = set(missing_prompts(settings, language))
    own = len(PromptKey) - len(missing)
    lines = [
        f"Prompts in {language}: {own} of {len(PromptKey)} in {language}, {len(missing)} in English"
    ]
    titles = list(dict.fromkeys(title for title, _ in _GROUPS))
    by_group = {title: [key for key in CATALOGUE if _group(key) == title] for title in titles}
    for title, keys in by_group.items():
        if not keys:
            continue
        lines.append(f"\n== {title} ==")
        for key in keys:
            params = {name: samples.get(name, f"<{name}>") for name in CATALOGUE[key].placeholders}
            text = renderer.line(Line(key, params), language)
            mark = f" {FALLBACK_MARK}" if key in missing else ""
            lines.append(f"{key.value}{mark}:")
            lines.extend(f"{INDENT}{part}" for part in text.split("\n"))
    return "\n".join(lines)


def add_prompts_parser(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    *,
    settings: Callable[[str | None], Settings],
) -> None:
    """Register `prompts preview` under `commands`; `settings` loads the config or exits."""
    prompts = commands.add_parser("prompts", help="user-facing texts").add_subparsers(
        dest="action", required=True
    )
    preview = prompts.add_parser("preview", help="print every prompt as users will see it")
    preview.add_argument("--lang", default=ENGLISH, help="language code (default: en)")
    preview.add_argument("--config", help="config file (default: config.toml if present)")
    preview.set_defaults(handler=functools.partial(_preview, settings=settings))


def _preview(args: argparse.Namespace, *, settings: Callable[[str | None], Settings]) -> int:
    loaded = settings(args.config)
    language = str(args.lang).strip().lower()
    known = known_languages(loaded)
    if language not in known:
        print(
            f"unknown language {language!r}: known are {', '.join(known)} "
            "(offered, shipped, or with [prompts.<code>] in config)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    print(render_preview(loaded, language, datetime.now(UTC)))
    return 0
