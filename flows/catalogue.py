"""The prompt catalogue: every text the bot can say, its placeholders and its English default.

Operators override any prompt per language in config (`[prompts.en]`, `[prompts.hi]`...); the
config loader checks each override against the placeholders declared here, so a prompt can never
fail to render at run time.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["CATALOGUE", "PromptKey", "PromptSpec", "placeholder_problem"]


class PromptKey(StrEnum):
    """The name of one prompt; the config key under `[prompts.<language>]`."""

    CONSENT_TITLE = "consent_title"
    CONSENT_PURPOSE = "consent_purpose"
    CONSENT_COLLECTED = "consent_collected"
    CONSENT_STORED = "consent_stored"
    CONSENT_RETENTION = "consent_retention"
    CONSENT_WITHDRAWAL = "consent_withdrawal"
    CONSENT_AGE = "consent_age"
    CONSENT_ALTERNATIVE = "consent_alternative"
    CONSENT_GRIEVANCE = "consent_grievance"
    CONSENT_QUESTION = "consent_question"
    CONSENT_DECLINED = "consent_declined"
    BUTTON_AGREE = "button_agree"
    BUTTON_DECLINE = "button_decline"
    BUTTON_SEND_OTP = "button_send_otp"
    BUTTON_CHANGE_NUMBER = "button_change_number"
    BUTTON_RESEND = "button_resend"
    BUTTON_START_OVER = "button_start_over"
    BUTTON_USE_OTP = "button_use_otp"
    BUTTON_USE_DIGILOCKER = "button_use_digilocker"
    BUTTON_OPEN_DIGILOCKER = "button_open_digilocker"
    METHOD_QUESTION = "method_question"
    METHOD_UNAVAILABLE = "method_unavailable"
    INPUT_AADHAAR = "input_aadhaar"
    INPUT_OTP = "input_otp"
    ASK_AADHAAR = "ask_aadhaar"
    AADHAAR_NOT_DIGITS = "aadhaar_not_digits"
    AADHAAR_WRONG_LENGTH = "aadhaar_wrong_length"
    AADHAAR_VIRTUAL_ID = "aadhaar_virtual_id"
    AADHAAR_BAD_FIRST_DIGIT = "aadhaar_bad_first_digit"
    AADHAAR_BAD_CHECKSUM = "aadhaar_bad_checksum"
    AADHAAR_TRIES_LEFT = "aadhaar_tries_left"
    TOO_MANY_INVALID_NUMBERS = "too_many_invalid_numbers"
    CONFIRM_NUMBER = "confirm_number"
    OTP_SENT = "otp_sent"
    ASK_OTP = "ask_otp"
    OTP_NOT_SIX_DIGITS = "otp_not_six_digits"
    OTP_WRONG = "otp_wrong"
    OTP_ATTEMPTS_USED = "otp_attempts_used"
    OTP_EXPIRED = "otp_expired"
    OTP_SESSION_INVALID = "otp_session_invalid"
    OTP_DEAD = "otp_dead"
    RESEND_OFFER = "resend_offer"
    RESEND_WAIT = "resend_wait"
    NO_SENDS_LEFT = "no_sends_left"
    BUSY_REQUESTING = "busy_requesting"
    BUSY_VERIFYING = "busy_verifying"
    BUSY_STARTING_DIGILOCKER = "busy_starting_digilocker"
    DIGILOCKER_OPEN = "digilocker_open"
    DIGILOCKER_EXPIRED = "digilocker_expired"
    BUSY_FETCHING_DIGILOCKER = "busy_fetching_digilocker"
    DIGILOCKER_NOT_COMPLETED = "digilocker_not_completed"
    DIGILOCKER_VERIFIED = "digilocker_verified"
    DIGILOCKER_RECORD = "digilocker_record"
    PROVIDER_INVALID_AADHAAR = "provider_invalid_aadhaar"
    PROVIDER_NO_MOBILE = "provider_no_mobile"
    PROVIDER_RATE_LIMITED = "provider_rate_limited"
    PROVIDER_IN_PROGRESS = "provider_in_progress"
    PROVIDER_DOWN = "provider_down"
    PROVIDER_UNAVAILABLE = "provider_unavailable"
    PROVIDER_NO_ANSWER = "provider_no_answer"
    PROVIDER_UNCERTAIN = "provider_uncertain"
    OTP_REQUESTS_EXHAUSTED = "otp_requests_exhausted"
    TOO_MANY_FAILURES = "too_many_failures"
    LOCKED = "locked"
    VERIFIED = "verified"
    ALREADY_VERIFIED = "already_verified"
    RECORD = "record"
    RECORD_NOT_STORED = "record_not_stored"
    CANCELLED = "cancelled"
    NOTHING_TO_CANCEL = "nothing_to_cancel"
    TIMED_OUT = "timed_out"
    IN_PROGRESS = "in_progress"
    STATUS_IN_PROGRESS = "status_in_progress"
    STATUS_NOT_VERIFIED = "status_not_verified"
    HELP = "help"
    START_HINT = "start_hint"
    USE_BUTTONS = "use_buttons"
    UNSUPPORTED_MESSAGE = "unsupported_message"
    UNKNOWN_COMMAND = "unknown_command"
    STEP_OVER = "step_over"
    TRY_AGAIN_SHORTLY = "try_again_shortly"
    PRIVATE_CHAT_ONLY = "private_chat_only"
    GROUP_MESSAGE_DELETED = "group_message_deleted"
    GROUP_MESSAGE_NOT_DELETED = "group_message_not_deleted"
    BUTTON_OPEN_PRIVATE_CHAT = "button_open_private_chat"
    ERASE_QUESTION = "erase_question"
    BUTTON_ERASE = "button_erase"
    BUTTON_KEEP = "button_keep"
    ERASE_DONE = "erase_done"
    ERASE_KEPT = "erase_kept"
    ERASE_NOTHING = "erase_nothing"
    CONSENT_CHANGED = "consent_changed"
    LANGUAGE_NAME = "language_name"
    LANGUAGE_QUESTION = "language_question"
    LANGUAGE_CHOSEN = "language_chosen"
    LANGUAGE_NOT_OFFERED = "language_not_offered"


@dataclass(frozen=True)
class PromptSpec:
    """A prompt's English default and the placeholders every translation must use."""

    default: str
    placeholders: frozenset[str] = frozenset()


def _spec(default: str, *placeholders: str) -> PromptSpec:
    return PromptSpec(default=default, placeholders=frozenset(placeholders))


K = PromptKey
CATALOGUE: dict[PromptKey, PromptSpec] = {
    K.CONSENT_TITLE: _spec("Aadhaar OTP verification: your consent"),
    K.CONSENT_PURPOSE: _spec(
        "Purpose: to verify your identity for onboarding, using Aadhaar OTP e-KYC."
    ),
    K.CONSENT_COLLECTED: _spec(
        "What we collect: your Aadhaar number and the OTP sent to your Aadhaar-linked mobile. "
        "UIDAI then shares your name, date of birth, gender and address with us."
    ),
    K.CONSENT_STORED: _spec(
        "What we keep: only the masked number (XXXX XXXX 1234), your initials, your year of "
        "birth, your gender and your state. Never your full Aadhaar number, photo or OTP."
    ),
    K.CONSENT_RETENTION: _spec("How long: the record is kept for 90 days after verification."),
    K.CONSENT_WITHDRAWAL: _spec(
        "Withdrawing: you can stop at any time with /cancel, and ask us to erase your data."
    ),
    K.CONSENT_AGE: _spec("You must be 18 or older to continue."),
    K.CONSENT_ALTERNATIVE: _spec(
        "Aadhaar is not mandatory: you may verify with another officially valid document "
        "(passport, voter ID, driving licence) by contacting support instead."
    ),
    K.CONSENT_GRIEVANCE: _spec(
        "Grievances: write to the grievance officer at grievance@example.org."
    ),
    K.CONSENT_QUESTION: _spec("Do you agree to verify with Aadhaar OTP on these terms?"),
    K.CONSENT_DECLINED: _spec(
        "You chose not to continue. Nothing about you was stored except this choice. "
        "Send /start if you change your mind."
    ),
    K.BUTTON_AGREE: _spec("I agree"),
    K.BUTTON_DECLINE: _spec("I do not agree"),
    K.BUTTON_SEND_OTP: _spec("Send OTP"),
    K.BUTTON_CHANGE_NUMBER: _spec("Change number"),
    K.BUTTON_RESEND: _spec("Send a new OTP"),
    K.BUTTON_START_OVER: _spec("Start over"),
    K.BUTTON_USE_OTP: _spec("Use Aadhaar OTP"),
    K.BUTTON_USE_DIGILOCKER: _spec("Use DigiLocker"),
    K.BUTTON_OPEN_DIGILOCKER: _spec("Open DigiLocker"),
    K.METHOD_QUESTION: _spec("How would you like to verify your identity? Please choose below."),
    K.METHOD_UNAVAILABLE: _spec(
        "That way of verifying is not offered any more. Please choose one of the options below."
    ),
    K.INPUT_AADHAAR: _spec("12-digit Aadhaar number"),
    K.INPUT_OTP: _spec("6-digit OTP"),
    K.ASK_AADHAAR: _spec(
        "Please type your 12-digit Aadhaar number. Spaces are fine. "
        "Your message will be deleted as soon as it is read."
    ),
    K.AADHAAR_NOT_DIGITS: _spec(
        "That is not an Aadhaar number: it should contain digits only (spaces are fine)."
    ),
    K.AADHAAR_WRONG_LENGTH: _spec(
        "An Aadhaar number has 12 digits, but that had {digit_count}.", "digit_count"
    ),
    K.AADHAAR_VIRTUAL_ID: _spec(
        "That looks like a 16-digit Virtual ID, which is not supported. "
        "Please send the 12-digit Aadhaar number instead."
    ),
    K.AADHAAR_BAD_FIRST_DIGIT: _spec(
        "An Aadhaar number never starts with 0 or 1. Please check the first digit."
    ),
    K.AADHAAR_BAD_CHECKSUM: _spec(
        "That is not a valid Aadhaar number: a digit seems to be mistyped. "
        "Please check it against your Aadhaar letter or e-Aadhaar."
    ),
    K.AADHAAR_TRIES_LEFT: _spec("Please try again (tries left: {tries_left}).", "tries_left"),
    K.TOO_MANY_INVALID_NUMBERS: _spec(
        "That was too many invalid numbers, so this verification has ended. Find your number "
        "on your Aadhaar letter, e-Aadhaar or the mAadhaar app, then send /start to try again."
    ),
    K.CONFIRM_NUMBER: _spec(
        "Send the OTP to the mobile linked with {masked_aadhaar}?", "masked_aadhaar"
    ),
    K.OTP_SENT: _spec(
        "An OTP has been sent to the mobile linked with {masked_aadhaar}. "
        "It is valid for {minutes} min.",
        "masked_aadhaar",
        "minutes",
    ),
    K.ASK_OTP: _spec(
        "Please type the 6-digit OTP (attempts left: {attempts_left}). "
        "Your message will be deleted as soon as it is read.",
        "attempts_left",
    ),
    K.OTP_NOT_SIX_DIGITS: _spec("The OTP has 6 digits. Please type it again."),
    K.OTP_WRONG: _spec("That OTP is not correct. Attempts left: {attempts_left}.", "attempts_left"),
    K.OTP_ATTEMPTS_USED: _spec("That OTP is not correct, and this OTP cannot be tried again."),
    K.OTP_EXPIRED: _spec("This OTP has expired."),
    K.OTP_SESSION_INVALID: _spec("This OTP can no longer be used."),
    K.OTP_DEAD: _spec("The last OTP can no longer be used."),
    K.RESEND_OFFER: _spec("You can ask for a new OTP ({sends_left} left).", "sends_left"),
    K.RESEND_WAIT: _spec("You can ask for an OTP in {seconds} seconds.", "seconds"),
    K.NO_SENDS_LEFT: _spec(
        "All {max_sends} OTPs of this verification have been used, so it has ended. "
        "Send /start to try again.",
        "max_sends",
    ),
    K.BUSY_REQUESTING: _spec("Your OTP is being requested. Please wait a moment."),
    K.BUSY_VERIFYING: _spec("Your OTP is being checked. Please wait a moment."),
    K.BUSY_STARTING_DIGILOCKER: _spec(
        "Your DigiLocker link is being prepared. Please wait a moment."
    ),
    K.DIGILOCKER_OPEN: _spec(
        "Tap Open DigiLocker, sign in to DigiLocker and allow access to your Aadhaar. Then come "
        "back to this chat: your verification finishes here. The link is valid for {minutes} min.",
        "minutes",
    ),
    K.DIGILOCKER_EXPIRED: _spec(
        "The DigiLocker link has expired. Nothing was counted against you: please choose again."
    ),
    K.BUSY_FETCHING_DIGILOCKER: _spec(
        "Your DigiLocker verification is being completed. Please wait a moment."
    ),
    K.DIGILOCKER_NOT_COMPLETED: _spec(
        "DigiLocker did not complete the verification: access was not allowed, or the link was "
        "already used. Nothing was counted against you: please try again."
    ),
    K.DIGILOCKER_VERIFIED: _spec("Your identity is verified with DigiLocker. Thank you!"),
    K.DIGILOCKER_RECORD: _spec("Verified with DigiLocker on: {verified_at}", "verified_at"),
    K.PROVIDER_INVALID_AADHAAR: _spec(
        "UIDAI did not accept this Aadhaar number. Please check it and type it again."
    ),
    K.PROVIDER_NO_MOBILE: _spec(
        "No mobile number is linked with {masked_aadhaar}, so no OTP can be sent. If you "
        "mistyped the number, type the right one. Otherwise link your mobile at an Aadhaar "
        "Seva Kendra, or send /cancel and ask support for another way to verify.",
        "masked_aadhaar",
    ),
    K.PROVIDER_RATE_LIMITED: _spec(
        "The OTP service has had too many requests. Please try again in {seconds} seconds.",
        "seconds",
    ),
    K.PROVIDER_IN_PROGRESS: _spec(
        "The OTP service is still working on an earlier request. "
        "Please try again in {seconds} seconds.",
        "seconds",
    ),
    K.PROVIDER_DOWN: _spec(
        "The OTP service is not responding right now. Nothing was counted against you: "
        "please try again in a few minutes."
    ),
    K.PROVIDER_UNAVAILABLE: _spec(
        "Verification is temporarily unavailable. Nothing was counted against you: "
        "please try again later."
    ),
    K.PROVIDER_NO_ANSWER: _spec(
        "The OTP service did not answer in time. Nothing was counted against you: please try again."
    ),
    K.PROVIDER_UNCERTAIN: _spec(
        "The OTP service did not confirm that it sent an OTP. If an SMS arrives anyway, it "
        "cannot be used here. Nothing was counted against you: you can ask for a new OTP in "
        "{seconds} seconds.",
        "seconds",
    ),
    K.OTP_REQUESTS_EXHAUSTED: _spec(
        "You have asked for {max_requests} OTPs in the last 24 hours, the most allowed.",
        "max_requests",
    ),
    K.TOO_MANY_FAILURES: _spec("There have been too many failed verifications."),
    K.LOCKED: _spec(
        "For your security, verification is paused until {until}. Please try again after that.",
        "until",
    ),
    K.VERIFIED: _spec("Your identity is verified. Thank you!"),
    K.ALREADY_VERIFIED: _spec("You are already verified."),
    K.RECORD: _spec(
        "Aadhaar: {masked_aadhaar}\nName: {name}\nDate of birth: {date_of_birth}\n"
        "Gender: {gender}\nAddress: {address}\nVerified on: {verified_at}",
        "masked_aadhaar",
        "name",
        "date_of_birth",
        "gender",
        "address",
        "verified_at",
    ),
    K.RECORD_NOT_STORED: _spec("not stored"),
    K.CANCELLED: _spec(
        "Verification cancelled. The number you typed has been erased. Send /start to begin again."
    ),
    K.NOTHING_TO_CANCEL: _spec("There is no verification in progress. Send /start to begin."),
    K.TIMED_OUT: _spec(
        "Your verification ended because nothing happened for {minutes} min. The number "
        "you typed has been erased. Send /start to begin again.",
        "minutes",
    ),
    K.IN_PROGRESS: _spec(
        "You already have a verification in progress. Continue below, or tap Start over."
    ),
    K.STATUS_IN_PROGRESS: _spec("Your verification is in progress. This is where you are:"),
    K.STATUS_NOT_VERIFIED: _spec("You are not verified yet. Send /start to begin."),
    K.HELP: _spec(
        "This bot verifies your identity with Aadhaar OTP e-KYC.\n"
        "/start: begin, or see where you are\n/status: your verification status\n"
        "/cancel: stop and erase what you typed\n/delete_my_data: erase your data\n"
        "/language: change the language\n/help: this message\n"
        "Your full Aadhaar number is never stored, and the OTP is never kept."
    ),
    K.START_HINT: _spec("Send /start to verify your identity with Aadhaar OTP."),
    K.USE_BUTTONS: _spec("Please choose one of the options below."),
    K.UNSUPPORTED_MESSAGE: _spec("Only text messages can be read here."),
    K.UNKNOWN_COMMAND: _spec("That command is not known. Send /help to see what you can do."),
    K.STEP_OVER: _spec("That step is over."),
    K.PRIVATE_CHAT_ONLY: _spec(
        "To keep your details safe, verification only happens in a private chat with me. "
        "Tap below to open one."
    ),
    K.GROUP_MESSAGE_DELETED: _spec(
        "I deleted a message here that looked like an Aadhaar number or an OTP: "
        "never share them in a group."
    ),
    K.GROUP_MESSAGE_NOT_DELETED: _spec(
        "A message here looks like an Aadhaar number or an OTP: please delete it, and never "
        "share them in a group. (Make me an admin to let me delete such messages.)"
    ),
    K.BUTTON_OPEN_PRIVATE_CHAT: _spec("Open a private chat"),
    K.ERASE_QUESTION: _spec(
        "Delete your data? This erases your verification results, your consents and the "
        "history of your verifications with this bot, and withdraws your consent. Only a note "
        "that an erasure happened is kept, with its time and nothing that names you. "
        "This cannot be undone."
    ),
    K.BUTTON_ERASE: _spec("Delete my data"),
    K.BUTTON_KEEP: _spec("Keep my data"),
    K.ERASE_DONE: _spec(
        "Your data was deleted. If you send /start, a new verification begins and you will be "
        "asked for your consent again."
    ),
    K.ERASE_KEPT: _spec("Nothing was deleted."),
    K.ERASE_NOTHING: _spec("There is no data about you to delete. Nothing was changed."),
    K.TRY_AGAIN_SHORTLY: _spec(
        "Something went wrong on our side. Nothing you did was lost: please try again shortly."
    ),
    K.CONSENT_CHANGED: _spec(
        "Our consent notice has changed since you last agreed. Please read it again."
    ),
    # The language's own name for itself: the label of its button under /language.
    K.LANGUAGE_NAME: _spec("English"),
    K.LANGUAGE_QUESTION: _spec("Which language should I use? Please choose below."),
    K.LANGUAGE_CHOSEN: _spec(
        "From now on I will write in English. If you were in the middle of a verification, "
        "just carry on."
    ),
    K.LANGUAGE_NOT_OFFERED: _spec(
        "That language is not offered any more. Send /language to see the choices."
    ),
}
del K


def placeholder_problem(template: str, spec: PromptSpec) -> str | None:
    """Why `template` cannot stand in for `spec`, or None when it can."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as error:
        return f"is not a valid template ({error}; write {{{{ and }}}} for literal braces)"
    fields: set[str] = set()
    for _, name, format_spec, conversion in parsed:
        if name is None:
            continue
        if not name.isidentifier():
            return "uses a placeholder that is not a plain name (write {name})"
        # Values are rendered to text before they are inserted, so a format spec or a
        # conversion could only fail at run time, in front of a user.
        if format_spec or conversion:
            return f"formats placeholder {{{name}}}; write it plain, as {{{name}}}"
        fields.add(name)
    unknown = sorted(fields - spec.placeholders)
    if unknown:
        allowed = ", ".join(sorted(spec.placeholders)) or "none"
        return f"uses unknown placeholder {{{unknown[0]}}} (allowed: {allowed})"
    missing = sorted(spec.placeholders - fields)
    if missing:
        return f"is missing placeholder {{{missing[0]}}}"
    return None
