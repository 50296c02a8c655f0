"""Erasing one's data does not lift a lockout or the day's limits (storage.kept_limits).

Through the real Runner and LanguageMenu on a real database: a locked-out user who sends
/delete_my_data and comes back is still locked out, however they come back.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from bot.config import load_settings
from bot.language import LanguageMenu
from bot.runner import Runner
from flows import ConsentGiven, PromptKey, StartRequested
from kyc import SimulatorProvider
from storage import Database, NumberVault, UserKey
from storage.kept_limits import LIMIT_COLUMNS
from storage.models import DeletionRecord, User
from tests.fakes.channel import RecordingChannel
from tests.scenario_tools import opening

ENVIRON = {
    "KYCBOT_SECURITY__HMAC_KEY": "h" * 40,
    "KYCBOT_SECURITY__ENCRYPTION_KEY": base64.b64encode(b"k" * 32).decode(),
}
NOW = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)


def _runner(database: Database) -> Runner:
    settings = load_settings(None, ENVIRON)
    vault = NumberVault(
        encryption_key=settings.security.encryption_key_bytes(),
        hmac_key=settings.security.hmac_key_bytes(),
    )
    provider = SimulatorProvider(on_sms=lambda _: None, clock=lambda: NOW)
    return Runner(
        settings=settings, database=database, provider=provider, vault=vault, clock=lambda: NOW
    )


async def _lock_out(runner: Runner, database: Database, user: UserKey) -> dict[str, object]:
    """A user who has used up the day and is locked out; their limit columns."""
    for event in (StartRequested(), ConsentGiven()):
        await runner.handle(user, event, RecordingChannel())
    limits = {
        "locked_until": NOW + timedelta(hours=20),
        "otp_window_started_at": NOW - timedelta(hours=1),
        "otp_requests_in_window": 5,
        "failure_window_started_at": NOW - timedelta(hours=2),
        "failures_in_window": 3,
    }
    async with database.session() as session:
        await session.execute(update(User).where(User.external_id == user.external_id), limits)
        await session.commit()
    return limits


async def _limits(database: Database, user: UserKey) -> dict[str, object]:
    async with database.session() as session:
        row = (
            await session.execute(
                select(*(getattr(User, name) for name in LIMIT_COLUMNS)).where(
                    User.external_id == user.external_id
                )
            )
        ).one()
    return dict(row._mapping)


async def test_a_locked_out_user_who_erases_and_starts_again_is_still_locked(
    database: Database,
) -> None:
    runner = _runner(database)
    user = UserKey("telegram", "limits-1")
    limits = await _lock_out(runner, database, user)

    assert await runner.erase(user, requested_by="user") is not None
    async with database.session() as session:
        assert await session.scalar(select(User.id)) is None  # the person is gone
        kept = (await session.scalars(select(DeletionRecord))).one()
        assert kept.locked_until == limits["locked_until"]
        assert kept.failures_in_window == 3

    channel = RecordingChannel()
    await runner.handle(user, StartRequested(), channel)
    assert channel.last.startswith(opening(PromptKey.LOCKED))
    assert await _limits(database, user) == limits


async def test_coming_back_through_language_keeps_the_limits_too(database: Database) -> None:
    runner = _runner(database)
    user = UserKey("telegram", "limits-2")
    limits = await _lock_out(runner, database, user)
    await runner.erase(user, requested_by="support")

    menu = LanguageMenu(
        settings=lambda: runner.settings, database=database, vault=runner.vault, clock=lambda: NOW
    )
    await menu.choose(user, "hi")  # creates the user before any /start
    assert await _limits(database, user) == limits
    channel = RecordingChannel()
    await runner.handle(user, StartRequested(), channel)
    # Still locked, until 20 h after 10:00 UTC (shown in IST), and told in the language picked.
    assert "07 दिसंबर 2026, 11:30 IST" in channel.last


async def test_a_user_never_erased_starts_with_no_limits(database: Database) -> None:
    runner = _runner(database)
    user = UserKey("telegram", "limits-3")
    await runner.handle(user, StartRequested(), RecordingChannel())
    assert await _limits(database, user) == {
        "locked_until": None,
        "otp_window_started_at": None,
        "otp_requests_in_window": 0,
        "failure_window_started_at": None,
        "failures_in_window": 0,
    }
