"""Actions around the OTP: requesting it, reading it, and every provider answer."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

from flows import guards as g
from flows.actions import (
    Outcome,
    count_failure,
    count_otp_request,
    delete_if_sensitive,
    reply,
    retry_seconds,
    short,
)
from flows.catalogue import PromptKey
from flows.effects import (
    DeleteUserMessage,
    Line,
    Reply,
    RequestOtp,
    SaveResult,
    ShowProgress,
    VerifyOtp,
)
from flows.events import KycVerified, OtpNotSent, OtpSent
from flows.machine import Context
from flows.parsing import parse_otp
from flows.record import reduce_kyc
from flows.replies import line, record_lines, resend_lines, whole_minutes
from flows.states import DAY, Session

K = PromptKey


def ask_number_again(context: Context, moved: Session) -> Outcome:
    """The stored number could not be read back: forget its OTP and ask for the number again."""
    session = replace(moved, otp_reference=None, otp_expires_at=None, otp_attempts_left=0)
    return session, (*delete_if_sensitive(context), reply(context, session))


def wait_for_resend(context: Context, moved: Session) -> Outcome:
    """A new OTP was asked for too early: say how long is left."""
    return moved, (short(context, moved, *resend_lines(moved, context.now, context.rules)),)


def no_sends_left(context: Context, moved: Session) -> Outcome:
    """Every OTP of this verification has been used."""
    return moved, (Reply(lines=(line(K.NO_SENDS_LEFT, max_sends=context.rules.max_otp_sends),)),)


def daily_limit(context: Context, moved: Session) -> Outcome:
    """Too many OTPs in 24 hours: lock until the window ends."""
    started = moved.standing.otp_window_started_at or context.now
    until = started + DAY
    session = replace(moved, standing=replace(moved.standing, locked_until=until))
    lines = (
        line(K.OTP_REQUESTS_EXHAUSTED, max_requests=context.rules.max_otp_requests_per_day),
        line(K.LOCKED, until=until),
    )
    return session, (Reply(lines=lines),)


def request_otp(context: Context, moved: Session) -> Outcome:
    """Ask the provider for an OTP; its answer comes back as an event."""
    assert moved.aadhaar is not None  # guarded by number_missing
    return moved, (ShowProgress(), RequestOtp(moved.aadhaar))


def otp_sent(context: Context, moved: Session) -> Outcome:
    """An OTP is on its way: start its clock and ask for it."""
    assert isinstance(context.event, OtpSent)
    rules = context.rules
    session = replace(
        moved,
        otp_reference=context.event.reference,
        otp_sent_at=context.now,
        otp_expires_at=context.now + rules.otp_ttl,
        resend_at=context.now + rules.resend_cooldown,
        otp_sends=moved.otp_sends + 1,
        otp_attempts_left=rules.otp_attempts,
        standing=count_otp_request(moved.standing, context),
    )
    masked = session.aadhaar.masked if session.aadhaar else ""
    minutes = whole_minutes(rules.otp_ttl_seconds)
    sent = line(K.OTP_SENT, masked_aadhaar=masked, minutes=minutes)
    return session, (reply(context, session, sent, protect=True),)


def provider_rejected_number(context: Context, moved: Session) -> Outcome:
    """The provider says the number is not a valid Aadhaar: ask again, counting an entry."""
    session = replace(
        moved, aadhaar=None, otp_reference=None, invalid_entries=moved.invalid_entries + 1
    )
    return session, (reply(context, session, line(K.PROVIDER_INVALID_AADHAAR)),)


def provider_rejected_last_number(context: Context, moved: Session) -> Outcome:
    """The provider rejected the number and no tries are left."""
    session = replace(moved, invalid_entries=moved.invalid_entries + 1)
    session, lock = count_failure(session, context)
    lines = (line(K.PROVIDER_INVALID_AADHAAR), line(K.TOO_MANY_INVALID_NUMBERS), *lock)
    return session, (Reply(lines=lines),)


def no_mobile_linked(context: Context, moved: Session) -> Outcome:
    """No mobile behind this number: explain both ways forward."""
    masked = moved.aadhaar.masked if moved.aadhaar else ""
    session = replace(moved, aadhaar=None, otp_reference=None)
    message = reply(
        context, session, line(K.PROVIDER_NO_MOBILE, masked_aadhaar=masked), protect=True
    )
    return session, (message,)


def come_back_later(
    prompt: PromptKey, *, wait: bool = False
) -> Callable[[Context, Session], Outcome]:
    """A fault that is not the user's: say `prompt`, count nothing, repeat the step."""

    def action(context: Context, moved: Session) -> Outcome:
        session = moved
        if wait:
            seconds = retry_seconds(context)
            resend_at = context.now + _seconds(seconds)
            # A refused OTP request pushes back the next one; a refused check does not.
            if isinstance(context.event, OtpNotSent):
                session = replace(moved, resend_at=max(resend_at, moved.resend_at or resend_at))
            return session, (reply(context, session, line(prompt, seconds=seconds)),)
        return session, (reply(context, session, line(prompt)),)

    return action


def _seconds(seconds: int) -> timedelta:
    return timedelta(seconds=seconds)


def otp_malformed(context: Context, moved: Session) -> Outcome:
    """Not 6 digits: ask again without a provider call or a counted attempt."""
    return moved, (*delete_if_sensitive(context), short(context, moved, line(K.OTP_NOT_SIX_DIGITS)))


def verify_otp(context: Context, moved: Session) -> Outcome:
    """Hand the OTP to the provider; it is never stored."""
    otp = parse_otp(g.typed_text(context))
    assert otp is not None  # guarded by otp_malformed
    assert moved.otp_reference is not None  # set together with otp_expires_at
    return moved, (DeleteUserMessage(), ShowProgress(), VerifyOtp(moved.otp_reference, otp))


def verified(context: Context, moved: Session) -> Outcome:
    """Reduce the e-KYC data to the field policy, keep it, and show the user what was kept."""
    assert isinstance(context.event, KycVerified)
    masked = context.session.aadhaar.masked if context.session.aadhaar else ""
    record = reduce_kyc(
        context.event.data,
        masked_aadhaar=masked,
        policy=context.rules.field_policy,
        verified_at=context.now,
    )
    session = replace(moved, standing=replace(moved.standing, record=record))
    message = Reply(lines=(line(K.VERIFIED), *record_lines(record)), protect_content=True)
    return session, (SaveResult(record), message)


def wrong_otp(context: Context, moved: Session) -> Outcome:
    """A wrong OTP with attempts left: say how many."""
    session = replace(moved, otp_attempts_left=moved.otp_attempts_left - 1)
    return session, (
        short(context, session, line(K.OTP_WRONG, attempts_left=session.otp_attempts_left)),
    )


def otp_dead(reason: PromptKey) -> Callable[[Context, Session], Outcome]:
    """This OTP cannot be used any more (spent, expired, refused); a new one may be asked for."""

    def action(context: Context, moved: Session) -> Outcome:
        # No attempts left marks the OTP dead, so a failed resend never offers it again.
        session = replace(moved, otp_attempts_left=0)
        offer = resend_lines(session, context.now, context.rules)
        message = short(context, session, line(reason), *offer)
        return session, (*delete_if_sensitive(context), message)

    return action


def otp_dead_final(reason: PromptKey, *, counted: bool) -> Callable[[Context, Session], Outcome]:
    """This OTP cannot be used and no new one may be sent: the verification fails."""

    def action(context: Context, moved: Session) -> Outcome:
        session = replace(moved, otp_attempts_left=0)
        lock: tuple[Line, ...] = ()
        if counted:
            session, lock = count_failure(session, context)
        lines = (line(reason), line(K.NO_SENDS_LEFT, max_sends=context.rules.max_otp_sends), *lock)
        return session, (*delete_if_sensitive(context), Reply(lines=lines))

    return action
