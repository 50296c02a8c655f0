"""DigiLocker state tokens: claimed once, only before they expire, only by the right token."""

from __future__ import annotations

import asyncio
import functools
import secrets
from datetime import timedelta
from pathlib import Path

import pytest

from flows import ConsentGiven, StartRequested
from storage import Database, NumberVault
from storage.digilocker import ClaimedState, claim_digilocker_state, open_digilocker_session
from tests.scenario_tools import sqlite_files
from tests.storage.conftest import CONSENT, T0, Chat, Step

TTL = timedelta(minutes=10)


async def _handed_out(chat: Chat, database: Database, vault: NumberVault) -> tuple[str, str]:
    """A verification awaiting DigiLocker: a fresh state and verifier stored for it."""
    _, saved = (await chat.walk([Step(StartRequested()), Step(ConsentGiven(), CONSENT)]))[-1]
    assert saved.verification_id is not None
    state, verifier = secrets.token_urlsafe(32), secrets.token_urlsafe(48)
    await database.run(
        functools.partial(
            open_digilocker_session,
            user_id=saved.user_id,
            verification_id=saved.verification_id,
            state=state,
            code_verifier=verifier,
            now=T0,
            expires_at=T0 + TTL,
            vault=vault,
        )
    )
    return state, verifier


async def _claim(
    database: Database, vault: NumberVault, state: str, at: timedelta
) -> ClaimedState | None:
    return await database.run(
        functools.partial(claim_digilocker_state, state=state, now=T0 + at, vault=vault)
    )


async def test_a_state_is_claimed_once_by_its_user(
    chat: Chat, database: Database, vault: NumberVault
) -> None:
    state, verifier = await _handed_out(chat, database, vault)

    claimed = await _claim(database, vault, state, timedelta(minutes=3))

    assert claimed is not None
    assert claimed.user == chat.key
    assert claimed.code_verifier == verifier
    assert verifier not in repr(claimed)
    # A replayed callback finds it used.
    assert await _claim(database, vault, state, timedelta(minutes=4)) is None


async def test_an_expired_or_forged_state_claims_nothing(
    chat: Chat, database: Database, vault: NumberVault
) -> None:
    state, _ = await _handed_out(chat, database, vault)

    assert await _claim(database, vault, secrets.token_urlsafe(32), timedelta(0)) is None
    assert await _claim(database, vault, state[:-1], timedelta(0)) is None
    assert await _claim(database, vault, state, TTL) is None
    # Expiry did not use it up for someone else: it is simply dead.
    assert await _claim(database, vault, state, TTL - timedelta(seconds=1)) is not None


async def test_two_callbacks_at_once_claim_it_once(
    chat: Chat, database: Database, vault: NumberVault
) -> None:
    state, _ = await _handed_out(chat, database, vault)

    results = await asyncio.gather(
        *(_claim(database, vault, state, timedelta(minutes=1)) for _ in range(4))
    )

    assert sum(result is not None for result in results) == 1


async def test_a_state_of_another_key_does_not_open(
    chat: Chat, database: Database, vault: NumberVault
) -> None:
    state, _ = await _handed_out(chat, database, vault)
    other = NumberVault(encryption_key=b"o" * 32, hmac_key=b"k" * 32)

    assert await _claim(database, other, state, timedelta(minutes=1)) is None


async def test_neither_the_state_nor_the_verifier_is_stored(
    chat: Chat, database: Database, vault: NumberVault, tmp_path: Path
) -> None:
    if not database.is_sqlite:
        pytest.skip("a file scan needs SQLite; the columns hold only a hash and ciphertext")
    state, verifier = await _handed_out(chat, database, vault)
    await database.dispose()
    blob = _bytes_of(tmp_path / "t.sqlite3")
    assert state.encode() not in blob
    assert verifier.encode() not in blob


def _bytes_of(database: Path) -> bytes:
    files = [path for path in sqlite_files(database) if path.exists()]
    assert files, "no database file to scan"
    return b"".join(path.read_bytes() for path in files)
