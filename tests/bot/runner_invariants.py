"""Checks of one stored verification row, for the runner state-machine test."""

from __future__ import annotations

import re
from datetime import datetime

from flows import State
from storage import NumberVault
from tests.bot.runner_machine_parts import Row

TERMINAL = frozenset({"verified", "declined", "cancelled", "timed_out", "failed", "locked"})
BUSY = frozenset({"requesting_otp", "verifying_otp", "starting_digilocker", "fetching_digilocker"})
WITH_NUMBER = frozenset({"await_confirm", "await_otp", "await_resend"})
MASKED = re.compile(r"XXXX XXXX \d{4}")


def check_deadlines(row: Row) -> None:
    """A verification has the deadlines its state needs, and `due_at` is the earliest."""
    state = str(row["state"])
    if state in TERMINAL:
        assert row["ended_at"] is not None
        assert row["due_at"] is None
        assert row["otp_reference"] is None
        return
    # Every provider call here is answered, so nothing stays "in flight".
    assert state not in BUSY, state
    needed = [row["idle_expires_at"]]
    if state == State.AWAIT_OTP:
        needed.append(row["otp_expires_at"])
        assert row["otp_reference"] is not None
    assert all(isinstance(moment, datetime) for moment in needed), f"{state}: {needed}"
    assert row["due_at"] == min(needed)  # type: ignore[type-var]


def check_number(row: Row, vault: NumberVault, secrets: set[str]) -> None:
    """The number is kept masked and sealed only, and the seal opens to the masked number."""
    sealed, masked = row["aadhaar_ciphertext"], row["aadhaar_masked"]
    if row["state"] in WITH_NUMBER:
        assert isinstance(sealed, bytes)
    if sealed is None:
        assert masked is None or row["state"] in TERMINAL
        return
    assert isinstance(sealed, bytes)
    assert isinstance(masked, str)
    assert MASKED.fullmatch(masked)
    assert not any(secret.encode() in sealed for secret in secrets)
    number = vault.open(sealed, user_id=int(str(row["user_id"])))
    assert number is not None
    assert number.masked == masked


def is_due(row: Row, now: datetime) -> bool:
    """The verification has a deadline that passed at `now`."""
    due = row["due_at"]
    return isinstance(due, datetime) and due <= now


def is_sensitive(text: str) -> bool:
    """Typed text that is (or may be) a whole number or an OTP: 6, 12 or 16 digits."""
    return text.isdigit() and len(text) in (6, 12, 16)
