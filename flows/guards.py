"""Guards of the transition table: yes/no questions about a Context. Pure."""

from __future__ import annotations

from flows.events import TextSent, UnsupportedMessageSent
from flows.machine import Context, Guard
from flows.parsing import AadhaarProblem, parse_aadhaar, parse_otp
from flows.replies import seconds_until, sends_left
from flows.rules import Method
from flows.secrets import AadhaarNumber


def typed_text(context: Context) -> str:
    """What the user wrote: a TextSent's text or a caption ("" for any other event)."""
    event = context.event
    if isinstance(event, TextSent):
        return event.text
    return event.caption if isinstance(event, UnsupportedMessageSent) else ""


def typed_aadhaar(context: Context) -> AadhaarNumber | AadhaarProblem:
    """The typed text read as an Aadhaar number."""
    return parse_aadhaar(typed_text(context), validate_checksum=context.rules.validate_checksum)


def is_locked(context: Context) -> bool:
    """The user is locked out now."""
    return context.session.standing.is_locked(context.now)


def is_verified(context: Context) -> bool:
    """The user is already verified, by any method."""
    return context.session.standing.is_verified


def offers(method: Method) -> Guard:
    """The operator offers `method` (config may change while a verification runs)."""
    return lambda context: method in context.rules.methods


def several_methods(context: Context) -> bool:
    """More than one method is offered, so the user chooses."""
    return len(set(context.rules.methods)) > 1


def digilocker_expired(context: Context) -> bool:
    """The DigiLocker link is past its lifetime."""
    expires = context.session.digilocker_expires_at
    return expires is None or context.now >= expires


def aadhaar_valid(context: Context) -> bool:
    """The typed text is a usable Aadhaar number."""
    return isinstance(typed_aadhaar(context), AadhaarNumber)


def last_invalid_entry(context: Context) -> bool:
    """One more invalid number ends the verification."""
    return context.session.invalid_entries + 1 >= context.rules.max_invalid_entries


def number_missing(context: Context) -> bool:
    """The number is gone (it could not be decrypted), so it must be asked again."""
    return context.session.aadhaar is None


def cooling_down(context: Context) -> bool:
    """A new OTP may not be asked for yet."""
    return seconds_until(context.session.resend_at, context.now) > 0


def no_sends_left(context: Context) -> bool:
    """This verification has sent all the OTPs it may."""
    return sends_left(context.session, context.rules) == 0


def has_sends_left(context: Context) -> bool:
    """This verification may send another OTP."""
    return not no_sends_left(context)


def daily_limit_reached(context: Context) -> bool:
    """The user has asked for the most OTPs allowed in 24 hours."""
    standing = context.session.standing
    return standing.otp_requests_today(context.now) >= context.rules.max_otp_requests_per_day


def otp_malformed(context: Context) -> bool:
    """The typed text is not a 6-digit OTP."""
    return parse_otp(typed_text(context)) is None


def otp_expired(context: Context) -> bool:
    """The current OTP is past its lifetime."""
    expires = context.session.otp_expires_at
    return expires is None or context.now >= expires


def idle_expired(context: Context) -> bool:
    """Nothing has happened for the idle timeout."""
    expires = context.session.idle_expires_at
    return expires is not None and context.now >= expires


def call_expired(context: Context) -> bool:
    """A provider call was cut off (the bot stopped while it ran)."""
    expires = context.session.call_expires_at
    return expires is not None and context.now >= expires


def otp_alive(context: Context) -> bool:
    """The last OTP sent may still be typed."""
    session = context.session
    return (
        session.otp_reference is not None
        and session.otp_attempts_left > 0
        and not otp_expired(context)
    )


def last_attempt(context: Context) -> bool:
    """The wrong OTP just used the last attempt of this OTP."""
    return context.session.otp_attempts_left <= 1
