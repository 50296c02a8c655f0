"""Building replies: the prompt for the step a session is at, and common message shapes."""

from __future__ import annotations

import math
from datetime import datetime

from flows.catalogue import PromptKey
from flows.effects import Button, InputHint, Line, LinkButton, ParamValue, Reply
from flows.events import ButtonAction
from flows.record import VerifiedRecord
from flows.rules import Method, Rules
from flows.states import Session, Standing, State

__all__ = [
    "consent_notice",
    "current_prompt",
    "line",
    "method_buttons",
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
METHOD_BUTTONS = {
    Method.AADHAAR_OTP: Button(ButtonAction.USE_OTP, K.BUTTON_USE_OTP),
    Method.DIGILOCKER: Button(ButtonAction.USE_DIGILOCKER, K.BUTTON_USE_DIGILOCKER),
}
_BUSY_LINES = {
    State.REQUESTING_OTP: K.BUSY_REQUESTING,
    State.VERIFYING_OTP: K.BUSY_VERIFYING,
    State.STARTING_DIGILOCKER: K.BUSY_STARTING_DIGILOCKER,
    State.FETCHING_DIGILOCKER: K.BUSY_FETCHING_DIGILOCKER,
}


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


def method_buttons(rules: Rules) -> tuple[Button, ...]:
    """One button per configured method, in the configured order."""
    return tuple(METHOD_BUTTONS[method] for method in dict.fromkeys(rules.methods))


def verified_lines(standing: Standing) -> tuple[Line, ...]:
    """What a verified user is shown of their verification."""
    lines = record_lines(standing.record) if standing.record else ()
    if standing.digilocker_verified_at is not None:
        lines += (line(K.DIGILOCKER_RECORD, verified_at=standing.digilocker_verified_at),)
    return lines


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
    if state is State.AWAIT_METHOD:
        return Reply(lines=(line(K.METHOD_QUESTION),), buttons=method_buttons(rules))
    if state in _BUSY_LINES:
        return Reply(lines=(line(_BUSY_LINES[state]),))
    if state is State.AWAIT_DIGILOCKER:
        return digilocker_prompt(session, now, rules)
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


def digilocker_prompt(session: Session, now: datetime, rules: Rules) -> Reply:
    """The DigiLocker link with the minutes it has left, and the other way to verify."""
    links: tuple[LinkButton, ...] = ()
    if session.digilocker_url is not None:
        links = (LinkButton(K.BUTTON_OPEN_DIGILOCKER, session.digilocker_url),)
    others = tuple(
        button
        for button in method_buttons(rules)
        if button.action is not ButtonAction.USE_DIGILOCKER
    )
    # Whole minutes left, rounded down: the link is never said to last longer than it does.
    minutes = max(1, seconds_until(session.digilocker_expires_at, now) // 60)
    return Reply(
        lines=(line(K.DIGILOCKER_OPEN, minutes=minutes),),
        buttons=others,
        # Whoever opens the link can verify their own DigiLocker into this chat.
        protect_content=True,
        links=links,
    )


def with_prefix(reply: Reply, *prefix: Line, extra: tuple[Button, ...] = ()) -> Reply:
    """`reply` with `prefix` lines before it and `extra` buttons after its own."""
    return Reply(
        lines=(*prefix, *reply.lines),
        buttons=(*reply.buttons, *extra),
        expects=reply.expects,
        protect_content=reply.protect_content,
        links=reply.links,
    )
