"""Actions around DigiLocker: choosing it, its link, the user's return and the provider's answers.

Nothing on this path counts against the user: DigiLocker, not this bot, checks who they are,
and a failed attempt costs no OTP. The provider failures reuse `otp_actions.come_back_later`.
"""

from __future__ import annotations

from dataclasses import replace

from flows.actions import Outcome, reply
from flows.catalogue import PromptKey
from flows.effects import (
    ConsentDecision,
    FetchDigiLockerReference,
    RecordConsent,
    Reply,
    SaveDigiLockerResult,
    ShowProgress,
    StartDigiLocker,
)
from flows.events import DigiLockerReturned, DigiLockerStarted, DigiLockerVerified
from flows.machine import Context
from flows.replies import line
from flows.states import Session

K = PromptKey


def ask_number(context: Context, moved: Session) -> Outcome:
    """Aadhaar OTP was chosen: ask for the number."""
    return moved, (reply(context, moved),)


def start_digilocker(context: Context, moved: Session) -> Outcome:
    """Ask the provider for a DigiLocker link; its answer comes back as an event."""
    return moved, (ShowProgress(), StartDigiLocker())


def consent_then_digilocker(context: Context, moved: Session) -> Outcome:
    """DigiLocker is the only method: record the consent and ask for the link at once."""
    return moved, (RecordConsent(ConsentDecision.AGREED), ShowProgress(), StartDigiLocker())


def link_ready(context: Context, moved: Session) -> Outcome:
    """Hand the user the link and start its clock."""
    assert isinstance(context.event, DigiLockerStarted)
    session = replace(
        moved,
        digilocker_url=context.event.url,
        digilocker_expires_at=context.now + context.rules.digilocker_ttl,
    )
    return session, (reply(context, session),)


def fetch_reference(context: Context, moved: Session) -> Outcome:
    """The user is back from DigiLocker: trade the code for the reference key."""
    assert isinstance(context.event, DigiLockerReturned)
    return moved, (ShowProgress(), FetchDigiLockerReference(context.event.code))


def verified(context: Context, moved: Session) -> Outcome:
    """DigiLocker vouched for the user: keep the key and say so."""
    event = context.event
    assert isinstance(event, DigiLockerVerified)
    standing = replace(moved.standing, digilocker_verified_at=context.now)
    session = replace(moved, standing=standing)
    lines = (line(K.DIGILOCKER_VERIFIED), line(K.DIGILOCKER_RECORD, verified_at=context.now))
    return session, (
        SaveDigiLockerResult(event.reference_key, event.expires_at, context.now),
        Reply(lines=lines, protect_content=True),
    )
