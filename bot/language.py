"""Which language a user is answered in, and the /language command that lets them pick one.

A user starts in their Telegram app's language when it is offered (`[language] offered`; "hi",
"hi-IN" -> hi), else in `[language] default`. The stored language follows the app until the user
picks one with /language; from then on (`user.language_chosen_at` set) the pick stands.

/language is a bot-level command, not a flow event: it changes how the bot speaks, not where a
verification stands, so a pick in the middle of one leaves its step (and its buttons) as they
are. Its buttons carry `lang:<code>`, which `bot.telegram_channel.parse_callback_data` never
takes for a flow button.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from bot.config import Settings
from bot.render import Renderer
from flows import Line, PromptKey
from storage import Database, NumberVault, UserKey
from storage.kept_limits import user_hmac
from storage.language import choose_language, user_language

__all__ = [
    "LANGUAGE_COMMAND",
    "LanguageChoice",
    "LanguageMenu",
    "LanguageQuestion",
    "client_language",
    "language_callback",
    "parse_language_callback",
]

LANGUAGE_COMMAND = "language"
_CALLBACK_PREFIX = "lang:"


def client_language(settings: Settings, code: str | None) -> str | None:
    """The offered language for an app's language code ("hi-IN" -> "hi"); None when unknown.

    A code that names no offered language gives `[language] default`.
    """
    if not code:
        return None
    offered = settings.language.offered
    exact = code.strip().lower().replace("_", "-")
    if exact in offered:
        return exact
    primary = exact.split("-", 1)[0]
    return primary if primary in offered else settings.language.default


def language_callback(code: str) -> str:
    """The callback data of the button that picks `code`."""
    return _CALLBACK_PREFIX + code


def parse_language_callback(data: str | None) -> str | None:
    """The language a /language button picks, or None for any other button."""
    if data is None or not data.startswith(_CALLBACK_PREFIX):
        return None
    return data.removeprefix(_CALLBACK_PREFIX)


@dataclass(frozen=True)
class LanguageChoice:
    """One offered language: its code and its name in itself ("हिन्दी")."""

    code: str
    label: str


@dataclass(frozen=True)
class LanguageQuestion:
    """The /language question in the user's current language, and the choices."""

    text: str
    choices: tuple[LanguageChoice, ...]


class LanguageMenu:
    """Asks which language to use and stores the answer; the same for every channel."""

    def __init__(
        self,
        *,
        settings: Callable[[], Settings],
        database: Database,
        vault: NumberVault,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        # A callable: a config reload replaces the settings, and the menu must follow.
        self._settings = settings
        self._database = database
        self._vault = vault
        self._clock = clock

    async def ask(self, user: UserKey, client_code: str | None = None) -> LanguageQuestion:
        """The question, worded in the language the user is answered in now."""
        settings = self._settings()
        current = await self._current(user, settings, client_code)
        choices = tuple(
            # A language without a name of its own is shown by its code, never as "English".
            LanguageChoice(code, settings.own_prompt(code, PromptKey.LANGUAGE_NAME) or code)
            for code in settings.language.offered
        )
        return LanguageQuestion(self._say(settings, PromptKey.LANGUAGE_QUESTION, current), choices)

    async def choose(self, user: UserKey, code: str, client_code: str | None = None) -> str:
        """Store `code` as the user's pick; the answer, in the picked language."""
        settings = self._settings()
        if code not in settings.language.offered:
            # A button from before a reload that dropped the language.
            current = await self._current(user, settings, client_code)
            return self._say(settings, PromptKey.LANGUAGE_NOT_OFFERED, current)
        store = functools.partial(
            choose_language,
            key=user,
            language=code,
            now=self._clock(),
            hashed_user=user_hmac(self._vault, channel=user.channel, external_id=user.external_id),
        )
        try:
            await self._database.run(store)
        except IntegrityError:
            # The user's first message was being stored at the same moment: now they exist.
            await self._database.run(store)
        return self._say(settings, PromptKey.LANGUAGE_CHOSEN, code)

    async def _current(self, user: UserKey, settings: Settings, client_code: str | None) -> str:
        def read(connection: Connection) -> str | None:
            return user_language(connection, key=user)

        stored = await self._database.run(read)
        return stored or client_language(settings, client_code) or settings.language.default

    @staticmethod
    def _say(settings: Settings, key: PromptKey, language: str) -> str:
        renderer = Renderer(prompt=settings.prompt, zone=settings.zone())
        return renderer.line(Line(key), language)
