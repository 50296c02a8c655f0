"""Building replies: the prompt for the step a session is at, and common message shapes."""

from __future__ import annotations

import math
from datetime import datetime

from flows.catalogue import PromptKey
from flows.effects import Button, InputHint, Line, ParamValue, Reply
from flows.events import ButtonAction
from flows.record import VerifiedRecord
from flows.rules import Rules
from flows.states import Session, State

__all__ = [
    "consent_notice",
    "current_prompt",
    "line",
    "record_lines",
    "seconds_until",
    "whole_minutes",
    "with_prefix",
]

K = PromptKey

CONSENT_PARTS = (
    K.CONSENT_TITLE,
    K.CONSENT_PURPOSE,
    K.CONSENT_COLLECTED,
    K.CONSENT_STORED,
    K.CONSENT_RETENTION,
    K.CONSENT_WITHDRAWAL,
    K.CONSENT_AGE,
    K.CONSENT_ALTERNATIVE,
    K.CONSENT_GRIEVANCE,
    K.CONSENT_QUESTION,
)
RESEND_BUTTON = Button(ButtonAction.RESEND, K.BUTTON_RESEND)


def line(prompt: PromptKey, **params: ParamValue) -> Line:
    """One prompt with its placeholder values."""
    return Line(prompt=prompt, params=params)


def seconds_until(moment: datetime | None, now: datetime) -> int:
    """Whole seconds left until `moment`, rounded up so "0 seconds" is never said too early."""
    if moment is None:
        return 0
    return max(0, math.ceil((moment - now).total_seconds()))


def whole_minutes(seconds: int) -> int:
    """A duration in minutes as people say it: rounded, and never zero."""
    return max(1, round(seconds / 60))


def consent_notice() -> Reply:
    """The consent notice with its two buttons."""
    return Reply(
        lines=tuple(line(part) for part in CONSENT_PARTS),
        buttons=(
            Button(ButtonAction.AGREE, K.BUTTON_AGREE),
            Button(ButtonAction.DECLINE, K.BUTTON_DECLINE),
        ),
    )


def record_lines(record: VerifiedRecord) -> tuple[Line, ...]:
    """The stored masked record as it is shown to its owner."""
    not_stored = K.RECORD_NOT_STORED
    return (
        line(
            K.RECORD,
            masked_aadhaar=record.masked_aadhaar,
            name=record.name or not_stored,
            date_of_birth=record.date_of_birth or not_stored,
            gender=record.gender or not_stored,
            address=record.address or not_stored,
            verified_at=record.verified_at,
        ),
    )


def sends_left(session: Session, rules: Rules) -> int:
    """How many more OTPs this verification may send."""
    return max(0, rules.max_otp_sends - session.otp_sends)


def resend_lines(session: Session, now: datetime, rules: Rules) -> tuple[Line, ...]:
    """The offer of a new OTP, or how long until one may be asked for."""
    wait = seconds_until(session.resend_at, now)
    if wait > 0:
        return (line(K.RESEND_WAIT, seconds=wait),)
    return (line(K.RESEND_OFFER, sends_left=sends_left(session, rules)),)


def current_prompt(session: Session, now: datetime, rules: Rules) -> Reply:
    """What the user is asked at this step: sent again whenever the step must be repeated."""
    state = session.state
    masked = session.aadhaar.masked if session.aadhaar else ""
    if state is State.AWAIT_CONSENT:
        return consent_notice()
    if state is State.AWAIT_AADHAAR:
        return Reply(lines=(line(K.ASK_AADHAAR),), expects=InputHint.AADHAAR)
    if state is State.AWAIT_CONFIRM:
        return Reply(
            lines=(line(K.CONFIRM_NUMBER, masked_aadhaar=masked),),
            buttons=(
                Button(ButtonAction.SEND_OTP, K.BUTTON_SEND_OTP),
                Button(ButtonAction.CHANGE_NUMBER, K.BUTTON_CHANGE_NUMBER),
            ),
            protect_content=True,
        )
    if state is State.REQUESTING_OTP:
        return Reply(lines=(line(K.BUSY_REQUESTING),))
    if state is State.VERIFYING_OTP:
        return Reply(lines=(line(K.BUSY_VERIFYING),))
    if state is State.AWAIT_OTP:
        buttons = (RESEND_BUTTON,) if sends_left(session, rules) > 0 else ()
        return Reply(
            lines=(line(K.ASK_OTP, attempts_left=session.otp_attempts_left),),
            buttons=buttons,
            expects=InputHint.OTP,
        )
    if state is State.AWAIT_RESEND:
        return Reply(
            lines=(line(K.OTP_DEAD), *resend_lines(session, now, rules)),
            buttons=(RESEND_BUTTON,),
        )
    return Reply(lines=(line(K.START_HINT),))


def with_prefix(reply: Reply, *prefix: Line, extra: tuple[Button, ...] = ()) -> Reply:
    """`reply` with `prefix` lines before it and `extra` buttons after its own."""
    return Reply(
        lines=(*prefix, *reply.lines),
        buttons=(*reply.buttons, *extra),
        expects=reply.expects,
        protect_content=reply.protect_content,
    )
