"""Actions of the transition table: pure functions from a Context to a session and effects."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

from flows import guards as g
from flows.catalogue import PromptKey
from flows.effects import (
    BeginNewVerification,
    Button,
    ConsentDecision,
    DeleteUserMessage,
    Effect,
    Line,
    RecordConsent,
    Reply,
)
from flows.events import ButtonAction, DigiLockerNotStarted, OtpNotSent, OtpNotVerified
from flows.machine import BUSY_STATES, Context
from flows.parsing import (
    AadhaarProblem,
    looks_sensitive,
    normalise_digits,
)
from flows.replies import (
    consent_notice,
    current_prompt,
    line,
    verified_lines,
    whole_minutes,
    with_prefix,
)
from flows.secrets import AadhaarNumber
from flows.states import Session, Standing

K = PromptKey
Outcome = tuple[Session, tuple[Effect, ...]]

_PROBLEM_PROMPTS = {
    AadhaarProblem.NOT_DIGITS: K.AADHAAR_NOT_DIGITS,
    AadhaarProblem.WRONG_LENGTH: K.AADHAAR_WRONG_LENGTH,
    AadhaarProblem.VIRTUAL_ID: K.AADHAAR_VIRTUAL_ID,
    AadhaarProblem.BAD_FIRST_DIGIT: K.AADHAAR_BAD_FIRST_DIGIT,
    AadhaarProblem.BAD_CHECKSUM: K.AADHAAR_BAD_CHECKSUM,
}


# --- reading the context ------------------------------------------------------------------


def reply(context: Context, session: Session, *prefix: Line, protect: bool = False) -> Reply:
    """The current prompt of `session` after `prefix`."""
    base = with_prefix(current_prompt(session, context.now, context.rules), *prefix)
    return replace(base, protect_content=base.protect_content or protect) if protect else base


def short(context: Context, session: Session, *lines: Line) -> Reply:
    """Just `lines`, keeping the buttons and the input hint of the current step."""
    base = current_prompt(session, context.now, context.rules)
    return Reply(lines=lines, buttons=base.buttons, expects=base.expects, links=base.links)


def delete_if_sensitive(context: Context) -> tuple[Effect, ...]:
    """Delete the user's message when it may hold (part of) a number or an OTP."""
    return (DeleteUserMessage(),) if looks_sensitive(g.typed_text(context)) else ()


def retry_seconds(context: Context) -> int:
    """The wait the provider asked for, or the configured cooldown."""
    event = context.event
    asked = (
        event.retry_after_seconds
        if isinstance(event, OtpNotSent | OtpNotVerified | DigiLockerNotStarted)
        else None
    )
    return asked if asked and asked > 0 else context.rules.resend_cooldown_seconds


# --- standing: limits and locks -------------------------------------------------------------


def count_otp_request(standing: Standing, context: Context) -> Standing:
    """Count one OTP sent in the user's 24-hour window."""
    if standing.otp_requests_today(context.now) == 0:
        return replace(standing, otp_window_started_at=context.now, otp_requests_in_window=1)
    return replace(standing, otp_requests_in_window=standing.otp_requests_in_window + 1)


def count_failure(session: Session, context: Context) -> tuple[Session, tuple[Line, ...]]:
    """Count a failed verification; lock the user when they reach the limit."""
    standing = session.standing
    if standing.failures_today(context.now) == 0:
        standing = replace(standing, failure_window_started_at=context.now, failures_in_window=1)
    else:
        standing = replace(standing, failures_in_window=standing.failures_in_window + 1)
    if standing.failures_in_window < context.rules.max_failed_verifications:
        return replace(session, standing=standing), ()
    until = context.now + timedelta(seconds=context.rules.lockout_seconds)
    standing = replace(standing, locked_until=until)
    return replace(session, standing=standing), (
        line(K.TOO_MANY_FAILURES),
        line(K.LOCKED, until=until),
    )


# --- actions: outside a verification ----------------------------------------------------------


def say_locked(context: Context, moved: Session) -> Outcome:
    """Tell a locked-out user until when."""
    until = moved.standing.locked_until or context.now
    return moved, (Reply(lines=(line(K.LOCKED, until=until),)),)


def say_verified(context: Context, moved: Session) -> Outcome:
    """Show a verified user what was kept of their verification: the masked record, or when."""
    lines = verified_lines(moved.standing)
    return moved, (Reply(lines=(line(K.ALREADY_VERIFIED), *lines), protect_content=True),)


def begin(context: Context, moved: Session) -> Outcome:
    """Open a new verification at the consent notice."""
    fresh = Session(
        state=moved.state, standing=moved.standing, idle_expires_at=moved.idle_expires_at
    )
    if moved.standing.notice_changed(context.rules.notice_version):
        return fresh, (with_prefix(consent_notice(), line(K.CONSENT_CHANGED)),)
    return fresh, (consent_notice(),)


def idle_status(context: Context, moved: Session) -> Outcome:
    """Say where a user without a verification in progress stands."""
    if g.is_verified(context):
        return say_verified(context, moved)
    if g.is_locked(context):
        return say_locked(context, moved)
    return moved, (Reply(lines=(line(K.STATUS_NOT_VERIFIED),)),)


def idle_text(context: Context, moved: Session) -> Outcome:
    """Text outside a verification: hide anything number-like and point at /start."""
    return moved, (*delete_if_sensitive(context), Reply(lines=(line(K.START_HINT),)))


def say(prompt: PromptKey) -> Callable[[Context, Session], Outcome]:
    """An action that only says one prompt."""

    def action(context: Context, moved: Session) -> Outcome:
        return moved, (Reply(lines=(line(prompt),)),)

    return action


def then_prompt(prompt: PromptKey) -> Callable[[Context, Session], Outcome]:
    """An action that says one prompt, then repeats the current step."""

    def action(context: Context, moved: Session) -> Outcome:
        return moved, (reply(context, moved, line(prompt)),)

    return action


def unsupported(context: Context, moved: Session) -> Outcome:
    """Not text: hide a caption that may hold a number, then hint and repeat the step."""
    return moved, (
        *delete_if_sensitive(context),
        reply(context, moved, line(K.UNSUPPORTED_MESSAGE)),
    )


def use_buttons(context: Context, moved: Session) -> Outcome:
    """Text where a button is expected: hide it if number-like, then repeat the step."""
    prefix = () if moved.state in BUSY_STATES else (line(K.USE_BUTTONS),)
    return moved, (*delete_if_sensitive(context), reply(context, moved, *prefix))


def in_progress(context: Context, moved: Session) -> Outcome:
    """/start during a verification: show the step again with a way to start over."""
    start_over = Button(ButtonAction.START_OVER, K.BUTTON_START_OVER)
    base = current_prompt(moved, context.now, context.rules)
    return moved, (with_prefix(base, line(K.IN_PROGRESS), extra=(start_over,)),)


def start_over(context: Context, moved: Session) -> Outcome:
    """End this verification and begin another."""
    return moved, (BeginNewVerification(),)


def cancelled(context: Context, moved: Session) -> Outcome:
    """The user stopped; everything they typed is wiped by `apply`."""
    return moved, (Reply(lines=(line(K.CANCELLED),)),)


def timed_out(context: Context, moved: Session) -> Outcome:
    """Idle for too long: say so, once."""
    minutes = whole_minutes(context.rules.idle_timeout_seconds)
    return moved, (Reply(lines=(line(K.TIMED_OUT, minutes=minutes),)),)


def ignore(context: Context, moved: Session) -> Outcome:
    """Nothing to do (a sweep found nothing due)."""
    return moved, ()


# --- actions: consent and the number ----------------------------------------------------------


def consent_given(context: Context, moved: Session) -> Outcome:
    """Record the consent and ask the next question: the number, or how to verify."""
    return moved, (RecordConsent(ConsentDecision.AGREED), reply(context, moved))


def consent_declined(context: Context, moved: Session) -> Outcome:
    """Record the refusal and end politely."""
    return moved, (
        RecordConsent(ConsentDecision.DECLINED),
        Reply(lines=(line(K.CONSENT_DECLINED),)),
    )


def number_accepted(context: Context, moved: Session) -> Outcome:
    """Keep the number, delete the message that carried it, ask before spending an OTP."""
    number = g.typed_aadhaar(context)
    assert isinstance(number, AadhaarNumber)  # guarded by aadhaar_valid
    session = replace(moved, aadhaar=number)
    return session, (DeleteUserMessage(), reply(context, session))


def _problem_line(context: Context) -> Line:
    problem = g.typed_aadhaar(context)
    assert isinstance(problem, AadhaarProblem)  # guarded by not aadhaar_valid
    if problem is AadhaarProblem.WRONG_LENGTH:
        digits = normalise_digits(g.typed_text(context)) or ""
        return line(K.AADHAAR_WRONG_LENGTH, digit_count=len(digits))
    return line(_PROBLEM_PROMPTS[problem])


def number_rejected(context: Context, moved: Session) -> Outcome:
    """Say precisely what is wrong with the number and how many tries are left."""
    session = replace(moved, invalid_entries=moved.invalid_entries + 1)
    tries_left = context.rules.max_invalid_entries - session.invalid_entries
    message = reply(
        context, session, _problem_line(context), line(K.AADHAAR_TRIES_LEFT, tries_left=tries_left)
    )
    return session, (*delete_if_sensitive(context), message)


def too_many_invalid(context: Context, moved: Session) -> Outcome:
    """The last allowed invalid number: end with advice."""
    session, lock = count_failure(
        replace(moved, invalid_entries=moved.invalid_entries + 1), context
    )
    lines = (_problem_line(context), line(K.TOO_MANY_INVALID_NUMBERS), *lock)
    return session, (*delete_if_sensitive(context), Reply(lines=lines))


def change_number(context: Context, moved: Session) -> Outcome:
    """Forget the number and ask for it again."""
    # A provider's "try again later" was about the old number's request; no OTP was sent yet.
    resend_at = moved.resend_at if moved.otp_reference is not None else None
    session = replace(moved, aadhaar=None, resend_at=resend_at)
    return session, (reply(context, session),)
