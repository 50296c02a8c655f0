"""The flow runner: load the conversation, `decide`, store, then carry out the effects.

The same runner serves Telegram, the terminal chat and the deadline sweeper. A user's events are
handled strictly one after another (a per-user lock taken *before* loading), and every stored
step carries a version check, so two quick messages never produce two OTP requests.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import traceback
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Connection

from bot.channel import Channel
from bot.config import Settings
from bot.consent_version import rules_with_notice
from bot.digilocker import DigiLockerCalls
from bot.locks import KeyedLocks
from bot.metrics import FlowObserver, NoObserver
from bot.outbox import Notice, deliver, store_notices
from bot.provider_calls import ProviderCalls
from bot.render import Renderer
from flows import (
    BeginNewVerification,
    ButtonExpired,
    DataDeletionConfirmed,
    DataDeletionRequested,
    DeadlinePassed,
    Decision,
    DeleteUserMessage,
    EraseUserData,
    Event,
    FetchDigiLockerReference,
    PromptKey,
    ProviderFailure,
    RecordConsent,
    Reply,
    RequestOtp,
    ShowProgress,
    StartDigiLocker,
    StartRequested,
    TextSent,
    VerifyOtp,
    decide,
    looks_sensitive,
)
from flows.replies import consent_notice, line
from kyc import KycProvider
from kyc.fallback import ProviderChain
from storage import (
    ConsentFacts,
    Database,
    Loaded,
    NumberVault,
    StaleConversation,
    StepRecord,
    UserKey,
    load_conversation,
    save_decision,
)
from storage.erasure import ErasureCounts, erase_by_key, find_user

__all__ = ["Runner"]

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]
_MAX_STALE_RETRIES = 3


@dataclass(frozen=True)
class _Stored:
    """One decided and stored step: what was loaded, the event as decided, and what is next."""

    loaded: Loaded
    event: Event
    decision: Decision
    saved: Loaded
    # A deadline step's replies, stored in the outbox with the step (see bot.outbox).
    notices: tuple[Notice, ...] = ()


class UserErased(Exception):
    """The user's data was erased (by another process) while one of their steps was running."""


def utc_now() -> datetime:
    """The wall clock in UTC."""
    return datetime.now(UTC)


class Runner:
    """Runs flow events for users against the database and the KYC provider."""

    def __init__(
        self,
        *,
        settings: Settings,
        database: Database,
        provider: KycProvider,
        vault: NumberVault,
        clock: Clock = utc_now,
        digilocker: DigiLockerCalls | None = None,
        observer: FlowObserver | None = None,
    ) -> None:
        self.settings = settings
        # Told every stored step and provider answer (metrics, alerts). Public: a front end
        # may set it once the observers it needs exist (the alerts need the Telegram bot).
        self.observer: FlowObserver = observer or NoObserver()
        self._database = database
        self._provider = provider
        self._vault = vault
        self._clock = clock
        self._locks = KeyedLocks()
        self._calls = ProviderCalls(
            provider=provider,
            digilocker=digilocker,
            settings=lambda: self.settings,
            observer=lambda: self.observer,
        )
        if isinstance(provider, ProviderChain):
            provider.passed_over = self._passed_over

    def _passed_over(self, provider: str, failure: ProviderFailure, latency_ms: int) -> None:
        # Looked up at each call: the observer may be set after the runner is built.
        self.observer.provider_answered(provider, failure.value, latency_ms)

    @property
    def database(self) -> Database:
        """The database the conversations live in (bot-level commands such as /language)."""
        return self._database

    @property
    def vault(self) -> NumberVault:
        """The keys for numbers and user hashes (bot-level commands such as /language)."""
        return self._vault

    @property
    def renderer(self) -> Renderer:
        """The renderer for the current settings."""
        return Renderer(prompt=self.settings.prompt, zone=self.settings.zone())

    async def handle(
        self,
        user: UserKey,
        event: Event,
        channel: Channel,
        *,
        pressed_at: str | None = None,
        client_language: str | None = None,
    ) -> None:
        """Handle one event of `user`, replying through `channel`. Never raises for the user.

        `pressed_at` is the step a pressed button was sent at (`Message.step`): a button of an
        earlier step becomes ButtonExpired instead of acting on a step that has moved on.
        `client_language` is the offered language of the user's app (see `bot.language`): the
        user is answered in it unless they picked another with /language.
        """
        async with self._locks.hold(user):
            try:
                erasing = isinstance(event, DataDeletionRequested | DataDeletionConfirmed)
                if erasing and not await self._known(user):
                    # Nothing stored (or already erased): say so, without creating a user
                    # just to ask them about deleting nothing.
                    await self._say(channel, PromptKey.ERASE_NOTHING)
                    return
                await self._run(user, event, channel, pressed_at, client_language)
            except UserErased:
                log.info("a step was dropped: the user's data was erased meanwhile")
            except Exception as error:
                # The stored state is intact (each step is one transaction); tell the user
                # to try again and log only the class: messages may quote input.
                log.error(
                    "handling %s failed: %s at %s", event.name, type(error).__name__, _where(error)
                )
                await self._apologise(channel, event, client_language)

    async def _run(
        self,
        user: UserKey,
        event: Event,
        channel: Channel,
        pressed_at: str | None,
        client_language: str | None = None,
    ) -> None:
        pending: list[tuple[Event, int | None]] = [(event, None)]
        loaded: Loaded | None = None
        while pending:
            current, latency_ms = pending.pop(0)
            # Read once per step: a config reload in between never mixes old and new settings.
            settings = self.settings
            renderer = Renderer(prompt=settings.prompt, zone=settings.zone())
            loaded, decision, notices = await self._step(
                user,
                current,
                loaded,
                latency_ms,
                pressed_at,
                settings=settings,
                client_language=client_language,
            )
            pressed_at = None
            progress: Channel | None = None
            outbox = list(notices)
            for effect in decision.effects:
                if isinstance(effect, Reply) and outbox:
                    notice_id, stored = outbox.pop(0)
                    await deliver(self._database, channel, notice_id, stored, self._clock())
                elif isinstance(effect, Reply):
                    message = renderer.render(effect, loaded.language)
                    await channel.send(replace(message, step=loaded.step))
                elif isinstance(effect, DeleteUserMessage):
                    await channel.delete_user_message()
                elif isinstance(effect, ShowProgress):
                    progress = channel  # shown only if the provider call turns out slow
                elif isinstance(
                    effect, RequestOtp | VerifyOtp | StartDigiLocker | FetchDigiLockerReference
                ):
                    pending.append(await self._calls.carry_out(effect, loaded, progress))
                elif isinstance(effect, BeginNewVerification):
                    pending.append((StartRequested(), None))
                elif isinstance(effect, EraseUserData):
                    await self._erase(user, requested_by="user")

    async def erase(self, user: UserKey, *, requested_by: str) -> ErasureCounts | None:
        """Erase `user`'s data, holding their lock so no step of theirs runs meanwhile.

        Returns what was removed, or None when nothing was stored about them.
        """
        async with self._locks.hold(user):
            return await self._erase(user, requested_by=requested_by)

    async def _erase(self, user: UserKey, *, requested_by: str) -> ErasureCounts | None:
        unit = functools.partial(
            erase_by_key, key=user, vault=self._vault, requested_by=requested_by, now=self._clock()
        )
        counts = await self._database.run(unit)
        if counts is not None:
            # No user id in the log: the point of the erasure is to forget who it was.
            removed = ", ".join(f"{count} {label}" for label, count in counts.items())
            log.info("erased a user's data on request of %s: %s", requested_by, removed)
        return counts

    async def _known(self, user: UserKey) -> bool:
        unit = functools.partial(find_user, channel=user.channel, external_id=user.external_id)
        return await self._database.run(unit) is not None

    async def _say(self, channel: Channel, prompt: PromptKey) -> None:
        reply = Reply(lines=(line(prompt),))
        await channel.send(self.renderer.render(reply, self.settings.language.default))

    async def _step(
        self,
        user: UserKey,
        event: Event,
        loaded: Loaded | None,
        latency_ms: int | None,
        pressed_at: str | None = None,
        *,
        settings: Settings,
        client_language: str | None = None,
    ) -> tuple[Loaded, Decision, tuple[Notice, ...]]:
        for _ in range(_MAX_STALE_RETRIES):
            now = self._clock()
            unit = functools.partial(
                self._decide_and_store,
                user=user,
                event=event,
                loaded=loaded,
                latency_ms=latency_ms,
                pressed_at=pressed_at,
                now=now,
                client_language=client_language,
                settings=settings,
            )
            try:
                step = await self._database.run(unit)
            except StaleConversation:
                # Another process moved this conversation on: the event is decided again
                # against what is stored now, unless it erased the user: reloading would
                # create them afresh and bring a step of the erased conversation back.
                if loaded is not None and not await self._known(user):
                    raise UserErased from None
                log.info(
                    "user %s: conversation changed underneath, reloading", loaded and loaded.user_id
                )
                loaded = None
                continue
            log.info(
                "user=%s verification=%s %s -[%s]-> %s outcome=%s",
                step.saved.user_id,
                step.saved.verification_id or step.loaded.verification_id,
                step.loaded.session.state,
                step.event.name,
                step.decision.session.state,
                step.decision.outcome,
            )
            self.observer.step(step.event.name, step.decision.outcome)
            return step.saved, step.decision, step.notices
        raise StaleConversation("gave up after repeated concurrent changes")

    def _decide_and_store(
        self,
        connection: Connection,
        *,
        user: UserKey,
        event: Event,
        loaded: Loaded | None,
        latency_ms: int | None,
        pressed_at: str | None,
        now: datetime,
        settings: Settings,
        client_language: str | None = None,
    ) -> _Stored:
        # One transaction: on SQLite this whole function runs on the database's thread in
        # one hop; `decide` is pure and takes microseconds, so it runs there too.
        if loaded is None:
            loaded = load_conversation(
                connection,
                key=user,
                language=settings.language.default,
                now=now,
                vault=self._vault,
                client_language=client_language,
            )
        if pressed_at is not None and pressed_at != loaded.step:
            event = ButtonExpired()
        decision = decide(loaded.session, event, now, rules_with_notice(settings))
        record = StepRecord(
            event=event.name,
            provider=self._calls.answered_by(event) if latency_ms is not None else None,
            latency_ms=latency_ms,
            consent=self._consent_facts(decision, loaded.language, settings),
        )
        saved = save_decision(
            connection,
            loaded=loaded,
            decision=decision,
            step=record,
            provider=self._provider.name,
            now=now,
            vault=self._vault,
        )
        notices: tuple[Notice, ...] = ()
        if isinstance(event, DeadlinePassed):
            # Nobody asks again for a deadline's notice: it must survive a crash before the send.
            renderer = Renderer(prompt=settings.prompt, zone=settings.zone())
            notices = store_notices(
                connection,
                user=user,
                saved=saved,
                effects=decision.effects,
                renderer=renderer,
                now=now,
            )
        return _Stored(loaded=loaded, event=event, decision=decision, saved=saved, notices=notices)

    def _consent_facts(
        self, decision: Decision, language: str, settings: Settings
    ) -> ConsentFacts | None:
        if not any(isinstance(effect, RecordConsent) for effect in decision.effects):
            return None
        renderer = Renderer(prompt=settings.prompt, zone=settings.zone())
        notice = renderer.render(consent_notice(), language).text
        return ConsentFacts(
            notice_version=rules_with_notice(settings).notice_version,
            notice_hash=hashlib.sha256(notice.encode()).hexdigest(),
            purpose=settings.consent.purpose,
            language=language,
        )

    async def _apologise(self, channel: Channel, event: Event, language: str | None) -> None:
        # The stored language cannot be read while the database is down: the app's will do.
        try:
            reply = Reply(lines=(line(PromptKey.TRY_AGAIN_SHORTLY),))
            chosen = language or self.settings.language.default
            await channel.send(self.renderer.render(reply, chosen))
            if isinstance(event, TextSent) and looks_sensitive(event.text):
                # The step that would have deleted a typed number or OTP never ran.
                await channel.delete_user_message()
        except Exception as error:
            log.error("could not tell the user about the failure: %s", type(error).__name__)


def _where(error: BaseException) -> str:
    """Where an exception was raised (file:line), for the log instead of its message."""
    frames = traceback.extract_tb(error.__traceback__)
    if not frames:
        return "?"
    last = frames[-1]
    return f"{Path(last.filename).name}:{last.lineno}"
