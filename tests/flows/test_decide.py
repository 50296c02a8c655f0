"""The conversation, walked through `decide` row by row: what the user sees at every step.

Sessions are built by feeding real events to `decide` from IDLE, the way the runner does; when a
verification ends, the next event starts from a fresh IDLE session that keeps the standing (what
`storage.load_conversation` loads once no verification is live).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flows import (
    CATALOGUE,
    LIVE_STATES,
    TABLE,
    TERMINAL_STATES,
    AadhaarNumber,
    BeginNewVerification,
    ButtonAction,
    ButtonExpired,
    CancelRequested,
    ConsentDecision,
    ConsentDeclined,
    ConsentGiven,
    DataDeletionConfirmed,
    DataDeletionKept,
    DataDeletionRequested,
    DeadlinePassed,
    Decision,
    DeleteUserMessage,
    DigiLockerChosen,
    DigiLockerNotStarted,
    DigiLockerNotVerified,
    DigiLockerReturned,
    DigiLockerStarted,
    DigiLockerVerified,
    Effect,
    EraseUserData,
    Event,
    FetchDigiLockerReference,
    GenderPolicy,
    HelpRequested,
    InputHint,
    KycData,
    KycVerified,
    Line,
    LinkButton,
    Method,
    NumberChangeChosen,
    NumberConfirmed,
    Otp,
    OtpMethodChosen,
    OtpNotSent,
    OtpNotVerified,
    OtpSent,
    PromptKey,
    ProviderFailure,
    RecordConsent,
    Reply,
    RequestOtp,
    ResendRequested,
    Rules,
    SaveDigiLockerResult,
    SaveResult,
    Session,
    ShowProgress,
    StartDigiLocker,
    StartOverChosen,
    StartRequested,
    State,
    StatusRequested,
    TextSent,
    UnknownCommandSent,
    UnsupportedMessageSent,
    VerifiedRecord,
    VerifyOtp,
    decide,
    looks_sensitive,
    next_deadline,
)
from flows.machine import BUSY_STATES, Context
from tests.aadhaar_numbers import corrupt_check_digit, in_script, make_aadhaar, make_palindrome

K = PromptKey
B = ButtonAction
F = ProviderFailure
S = State

NOW = datetime(2026, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)
RULES = Rules()
BOTH = Rules(methods=(Method.AADHAAR_OTP, Method.DIGILOCKER))
DIGILOCKER_FIRST = Rules(methods=(Method.DIGILOCKER, Method.AADHAAR_OTP))
DIGILOCKER_ONLY = Rules(methods=(Method.DIGILOCKER,))

NUMBER = make_aadhaar("52839104766")
OTHER_NUMBER = make_aadhaar("61740293855")
BAD_NUMBER = corrupt_check_digit(NUMBER)
MASKED = f"XXXX XXXX {NUMBER[8:]}"
OTP_TEXT = "482916"
REFERENCE = "otp-session-1"
KYC = KycData(
    name="Ravi Kumar",
    date_of_birth=date(1990, 5, 17),
    year_of_birth=1990,
    gender="M",
    address="12 MG Road, Bengaluru, Karnataka 560001",
    state="Karnataka",
)
# What DigiLocker hands out: none of it may show in a repr.
URL = "https://digilocker.example/authorize?state=link-state-1"
CODE = "dl-code-1"
REFERENCE_KEY = "dl-key-1"
KEY_EXPIRES = datetime(2026, 1, 2, tzinfo=UTC)


def seconds(value: float) -> datetime:
    """NOW plus `value` seconds."""
    return NOW + timedelta(seconds=value)


# --- walking the conversation ---------------------------------------------------------------


@dataclass(frozen=True)
class At:
    """An event that happens `seconds` after NOW; a bare event happens when the previous one did."""

    seconds: float
    event: Event


Step = Event | At


def _timed(step: Step, clock: datetime) -> tuple[datetime, Event]:
    if isinstance(step, At):
        return seconds(step.seconds), step.event
    return clock, step


def resume(session: Session) -> Session:
    """What the runner loads next: an ended verification leaves the user IDLE with the standing."""
    return Session(standing=session.standing) if session.state in TERMINAL_STATES else session


def walk(*steps: Step, rules: Rules = RULES) -> tuple[Session, datetime]:
    """Feed `steps` to `decide` from IDLE; every step must be taken by a row of the table."""
    session, clock = Session(), NOW
    for step in steps:
        clock, event = _timed(step, clock)
        decision = decide(resume(session), event, clock, rules)
        assert decision.outcome not in {"ignored", "step_over"}, (event, session.state)
        session = decision.session
    return session, clock


# Paths to every step of a verification. Times are seconds after NOW.
STARTED = (StartRequested(),)
CONSENTED = (*STARTED, ConsentGiven())
CONFIRMING = (*CONSENTED, TextSent(NUMBER))
REQUESTING = (*CONFIRMING, NumberConfirmed())
AWAITING = (*REQUESTING, OtpSent(REFERENCE))  # OTP expires at 600, resend from 60, idle at 900
VERIFYING = (*AWAITING, At(100, TextSent(OTP_TEXT)))  # the call is cut off at 160
WRONG = OtpNotVerified(F.WRONG_OTP)
TYPE_OTP = TextSent(OTP_TEXT)
RESENDING = (*VERIFYING, WRONG, TYPE_OTP, WRONG, TYPE_OTP, WRONG)  # at 100, a new OTP may be sent
RESENDING_EARLY = (*AWAITING, At(10, TYPE_OTP), WRONG, TYPE_OTP, WRONG, TYPE_OTP, WRONG)
LAST_AWAITING = (
    *AWAITING,
    At(60, ResendRequested()),
    OtpSent("otp-session-2"),
    At(120, ResendRequested()),
    OtpSent("otp-session-3"),
)  # all three OTPs sent; the last expires at 720
LAST_VERIFYING = (*LAST_AWAITING, At(200, TYPE_OTP))
VERIFIED = (*VERIFYING, KycVerified(KYC))  # verified at 100

LIVE_PATHS: dict[State, tuple[Step, ...]] = {
    S.AWAIT_CONSENT: STARTED,
    S.AWAIT_AADHAAR: CONSENTED,
    S.AWAIT_CONFIRM: CONFIRMING,
    S.REQUESTING_OTP: REQUESTING,
    S.AWAIT_OTP: AWAITING,
    S.VERIFYING_OTP: VERIFYING,
    S.AWAIT_RESEND: RESENDING,
}
# With both methods offered (BOTH), consenting asks how to verify.
CHOOSING = CONSENTED
STARTING_DL = (*CHOOSING, DigiLockerChosen())  # the call is cut off at 60
AWAITING_DL = (*STARTING_DL, DigiLockerStarted(URL))  # the link expires at 600, idle at 900
FETCHING_DL = (*AWAITING_DL, At(100, DigiLockerReturned(CODE)))  # the call is cut off at 160
DL_VERIFIED = (*FETCHING_DL, DigiLockerVerified(REFERENCE_KEY, KEY_EXPIRES))  # verified at 100
DIGILOCKER_PATHS: dict[State, tuple[Step, ...]] = {
    S.AWAIT_METHOD: CHOOSING,
    S.STARTING_DIGILOCKER: STARTING_DL,
    S.AWAIT_DIGILOCKER: AWAITING_DL,
    S.FETCHING_DIGILOCKER: FETCHING_DL,
}
# Every step of a verification, with the rules its path needs.
EVERY_LIVE_PATH: tuple[tuple[State, tuple[Step, ...], Rules], ...] = (
    *((state, path, RULES) for state, path in LIVE_PATHS.items()),
    *((state, path, BOTH) for state, path in DIGILOCKER_PATHS.items()),
)


def later(offset: float, steps: tuple[Step, ...]) -> tuple[Step, ...]:
    """`steps` happening `offset` seconds later, starting at `offset`."""
    shifted = [
        At(step.seconds + offset, step.event) if isinstance(step, At) else step for step in steps
    ]
    if shifted and not isinstance(shifted[0], At):
        shifted[0] = At(offset, shifted[0])
    return tuple(shifted)


def failed_verification(at: float) -> tuple[Step, ...]:
    """A verification that starts at `at` and ends on the fifth invalid number."""
    return later(at, (*CONSENTED, *(TextSent(BAD_NUMBER),) * 5))


# --- what the user sees ----------------------------------------------------------------------


def ln(prompt: PromptKey, **params: str | int | datetime) -> Line:
    return Line(prompt=prompt, params=params)


CONSENT = tuple(
    ln(key)
    for key in (
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
)
ASK_AADHAAR = ln(K.ASK_AADHAAR)
OTP_DEAD = ln(K.OTP_DEAD)
RECORD = VerifiedRecord(
    masked_aadhaar=MASKED,
    verified_at=seconds(100),
    name="R*** K****",
    date_of_birth="1990",
    gender="M",
    address="Karnataka",
)
RECORD_LINE = ln(
    K.RECORD,
    masked_aadhaar=MASKED,
    name="R*** K****",
    date_of_birth="1990",
    gender="M",
    address="Karnataka",
    verified_at=seconds(100),
)
BUTTON_LABELS = {
    B.AGREE: K.BUTTON_AGREE,
    B.DECLINE: K.BUTTON_DECLINE,
    B.SEND_OTP: K.BUTTON_SEND_OTP,
    B.CHANGE_NUMBER: K.BUTTON_CHANGE_NUMBER,
    B.RESEND: K.BUTTON_RESEND,
    B.START_OVER: K.BUTTON_START_OVER,
    B.USE_OTP: K.BUTTON_USE_OTP,
    B.USE_DIGILOCKER: K.BUTTON_USE_DIGILOCKER,
    B.ERASE_DATA: K.BUTTON_ERASE,
    B.KEEP_DATA: K.BUTTON_KEEP,
}
LINK = LinkButton(K.BUTTON_OPEN_DIGILOCKER, URL)


def confirm(masked: str = MASKED) -> Line:
    return ln(K.CONFIRM_NUMBER, masked_aadhaar=masked)


def ask_otp(attempts_left: int = 3) -> Line:
    return ln(K.ASK_OTP, attempts_left=attempts_left)


def offer(sends_left: int = 2) -> Line:
    return ln(K.RESEND_OFFER, sends_left=sends_left)


def wait(left: int) -> Line:
    return ln(K.RESEND_WAIT, seconds=left)


def no_sends_left(max_sends: int = 3) -> Line:
    return ln(K.NO_SENDS_LEFT, max_sends=max_sends)


def locked(until: datetime) -> Line:
    return ln(K.LOCKED, until=until)


def open_digilocker(minutes: int = 10) -> Line:
    return ln(K.DIGILOCKER_OPEN, minutes=minutes)


@dataclass(frozen=True)
class Prompt:
    """The question of one step, as shown again after any interruption."""

    lines: tuple[Line, ...]
    buttons: tuple[ButtonAction, ...] = ()
    expects: InputHint | None = None
    protect: bool = False
    links: tuple[LinkButton, ...] = ()


CURRENT_PROMPTS = {
    S.AWAIT_CONSENT: Prompt(CONSENT, (B.AGREE, B.DECLINE)),
    S.AWAIT_AADHAAR: Prompt((ASK_AADHAAR,), expects=InputHint.AADHAAR),
    S.AWAIT_CONFIRM: Prompt((confirm(),), (B.SEND_OTP, B.CHANGE_NUMBER), protect=True),
    S.REQUESTING_OTP: Prompt((ln(K.BUSY_REQUESTING),)),
    S.AWAIT_OTP: Prompt((ask_otp(),), (B.RESEND,), InputHint.OTP),
    S.VERIFYING_OTP: Prompt((ln(K.BUSY_VERIFYING),)),
    S.AWAIT_RESEND: Prompt((OTP_DEAD, offer()), (B.RESEND,)),
    # The steps below as they are shown with both methods offered (BOTH).
    S.AWAIT_METHOD: Prompt((ln(K.METHOD_QUESTION),), (B.USE_OTP, B.USE_DIGILOCKER)),
    S.STARTING_DIGILOCKER: Prompt((ln(K.BUSY_STARTING_DIGILOCKER),)),
    # The link lets whoever opens it verify into this chat, so it may not be forwarded.
    S.AWAIT_DIGILOCKER: Prompt((open_digilocker(),), (B.USE_OTP,), protect=True, links=(LINK,)),
    S.FETCHING_DIGILOCKER: Prompt((ln(K.BUSY_FETCHING_DIGILOCKER),)),
}


@dataclass(frozen=True)
class Seen:
    """Everything a decision shows the user or asks the runner to do, in comparable form."""

    state: State
    outcome: str
    lines: tuple[Line, ...] = ()
    buttons: tuple[ButtonAction, ...] = ()
    expects: InputHint | None = None
    protect: bool = False
    effects: tuple[Effect, ...] = ()
    links: tuple[LinkButton, ...] = ()


def seen(decision: Decision) -> Seen:
    replies = [effect for effect in decision.effects if isinstance(effect, Reply)]
    assert len(replies) <= 1
    reply = replies[0] if replies else Reply(lines=())
    return Seen(
        state=decision.session.state,
        outcome=decision.outcome,
        lines=reply.lines,
        buttons=tuple(button.action for button in reply.buttons),
        expects=reply.expects,
        protect=reply.protect_content,
        effects=tuple(effect for effect in decision.effects if not isinstance(effect, Reply)),
        links=reply.links,
    )


def shown(
    state: State,
    outcome: str,
    prompt: Prompt,
    *prefix: Line,
    extra: tuple[ButtonAction, ...] = (),
    effects: tuple[Effect, ...] = (),
) -> Seen:
    """`prompt` after `prefix` lines, as the user sees it."""
    return Seen(
        state,
        outcome,
        (*prefix, *prompt.lines),
        (*prompt.buttons, *extra),
        prompt.expects,
        prompt.protect,
        effects,
        prompt.links,
    )


DELETE = DeleteUserMessage()
REQUEST = (ShowProgress(), RequestOtp(AadhaarNumber(NUMBER)))


# --- the table of cases ----------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """Walk `path`, then `event`: the user must see `expected`."""

    name: str
    path: tuple[Step, ...]
    event: Step
    expected: Seen
    rules: Rules = RULES
    # The operator changed a limit in config while the verification was running.
    final_rules: Rules | None = None
    # Something outside the conversation changed the stored session (see each use).
    prepare: Callable[[Session], Session] | None = None


def situation(case: Case) -> Context:
    """The session, event, time and rules of the case's last step."""
    session, clock = walk(*case.path, rules=case.rules)
    session = resume(session)
    if case.prepare is not None:
        session = case.prepare(session)
    now, event = _timed(case.event, clock)
    return Context(session=session, event=event, now=now, rules=case.final_rules or case.rules)


def run(case: Case) -> Decision:
    """What `decide` does at the case's last step."""
    context = situation(case)
    return decide(context.session, context.event, context.now, context.rules)


def _number_unreadable(session: Session) -> Session:
    # The vault could not decrypt the stored number (its key changed): the runner loads None.
    return replace(session, aadhaar=None)


def _idle_cases() -> Iterator[Case]:
    hint = Prompt((ln(K.START_HINT),))
    start = shown(S.AWAIT_CONSENT, "started", CURRENT_PROMPTS[S.AWAIT_CONSENT])
    yield Case("idle-start", (), StartRequested(), start)
    yield Case("idle-start-over-button", (), StartOverChosen(), start)
    yield Case("idle-help", (), HelpRequested(), Seen(S.IDLE, "help", (ln(K.HELP),)))
    yield Case(
        "idle-status", (), StatusRequested(), Seen(S.IDLE, "status", (ln(K.STATUS_NOT_VERIFIED),))
    )
    yield Case(
        "idle-cancel",
        (),
        CancelRequested(),
        Seen(S.IDLE, "nothing_to_cancel", (ln(K.NOTHING_TO_CANCEL),)),
    )
    yield Case(
        "idle-unknown-command",
        (),
        UnknownCommandSent(),
        shown(S.IDLE, "unknown_command", hint, ln(K.UNKNOWN_COMMAND)),
    )
    yield Case(
        "idle-unsupported",
        (),
        UnsupportedMessageSent(),
        shown(S.IDLE, "unsupported", hint, ln(K.UNSUPPORTED_MESSAGE)),
    )
    yield Case("idle-text", (), TextSent("hello"), shown(S.IDLE, "start_hint", hint))
    yield Case(
        "idle-text-with-number",
        (),
        TextSent(f"my aadhaar is {NUMBER[:4]} {NUMBER[4:8]} {NUMBER[8:]}"),
        shown(S.IDLE, "start_hint", hint, effects=(DELETE,)),
    )
    yield Case(
        "idle-text-with-otp",
        (),
        TextSent(in_script(OTP_TEXT, "०")),
        shown(S.IDLE, "start_hint", hint, effects=(DELETE,)),
    )
    yield Case("idle-deadline", (), DeadlinePassed(), Seen(S.IDLE, "not_due"))
    yield Case(
        "idle-stale-button", (), ConsentGiven(), shown(S.IDLE, "step_over", hint, ln(K.STEP_OVER))
    )
    yield Case("idle-stale-provider-answer", (), OtpSent(REFERENCE), Seen(S.IDLE, "ignored"))


def _consent_cases() -> Iterator[Case]:
    consent = CURRENT_PROMPTS[S.AWAIT_CONSENT]
    yield Case(
        "consent-given",
        STARTED,
        ConsentGiven(),
        shown(
            S.AWAIT_AADHAAR,
            "consent_given",
            CURRENT_PROMPTS[S.AWAIT_AADHAAR],
            effects=(RecordConsent(ConsentDecision.AGREED),),
        ),
    )
    yield Case(
        "consent-declined",
        STARTED,
        ConsentDeclined(),
        Seen(
            S.DECLINED,
            "consent_declined",
            (ln(K.CONSENT_DECLINED),),
            effects=(RecordConsent(ConsentDecision.DECLINED),),
        ),
    )
    yield Case(
        "consent-text",
        STARTED,
        TextSent("yes"),
        shown(S.AWAIT_CONSENT, "use_buttons", consent, ln(K.USE_BUTTONS)),
    )
    yield Case(
        "consent-text-with-number",
        STARTED,
        TextSent(NUMBER),
        shown(S.AWAIT_CONSENT, "use_buttons", consent, ln(K.USE_BUTTONS), effects=(DELETE,)),
    )
    yield Case(
        "consent-stale-button",
        STARTED,
        NumberConfirmed(),
        shown(S.AWAIT_CONSENT, "step_over", consent, ln(K.STEP_OVER)),
    )


INVALID_NUMBERS = (
    ("not-digits", "my number", ln(K.AADHAAR_NOT_DIGITS), False),
    ("not-digits-letter-o", NUMBER[:11] + "O", ln(K.AADHAAR_NOT_DIGITS), True),
    (
        "11-digits",
        f"{NUMBER[:4]} {NUMBER[4:8]} {NUMBER[8:11]}",
        ln(K.AADHAAR_WRONG_LENGTH, digit_count=11),
        True,
    ),
    ("13-digits", NUMBER + "7", ln(K.AADHAAR_WRONG_LENGTH, digit_count=13), True),
    ("4-digits", NUMBER[:4], ln(K.AADHAAR_WRONG_LENGTH, digit_count=4), True),
    ("virtual-id", NUMBER + "1234", ln(K.AADHAAR_VIRTUAL_ID), True),
    ("starts-with-0", make_aadhaar("0" + NUMBER[1:11]), ln(K.AADHAAR_BAD_FIRST_DIGIT), True),
    ("starts-with-1", make_aadhaar("1" + NUMBER[1:11]), ln(K.AADHAAR_BAD_FIRST_DIGIT), True),
    ("bad-checksum", BAD_NUMBER, ln(K.AADHAAR_BAD_CHECKSUM), True),
    ("palindrome", make_palindrome(), ln(K.AADHAAR_BAD_CHECKSUM), True),
)


def _number_cases() -> Iterator[Case]:
    aadhaar = CURRENT_PROMPTS[S.AWAIT_AADHAAR]
    confirming = CURRENT_PROMPTS[S.AWAIT_CONFIRM]
    for name, text, problem, sensitive in INVALID_NUMBERS:
        yield Case(
            f"invalid-{name}",
            CONSENTED,
            TextSent(text),
            shown(
                S.AWAIT_AADHAAR,
                "number_rejected",
                aadhaar,
                problem,
                ln(K.AADHAAR_TRIES_LEFT, tries_left=4),
                effects=(DELETE,) if sensitive else (),
            ),
        )
    four_bad = (*CONSENTED, *(TextSent(BAD_NUMBER),) * 4)
    yield Case(
        "fourth-invalid-number",
        four_bad[:-1],
        TextSent(BAD_NUMBER),
        shown(
            S.AWAIT_AADHAAR,
            "number_rejected",
            aadhaar,
            ln(K.AADHAAR_BAD_CHECKSUM),
            ln(K.AADHAAR_TRIES_LEFT, tries_left=1),
            effects=(DELETE,),
        ),
    )
    yield Case(
        "fifth-invalid-number-fails",
        four_bad,
        TextSent(BAD_NUMBER),
        Seen(
            S.FAILED,
            "too_many_invalid_numbers",
            (ln(K.AADHAAR_BAD_CHECKSUM), ln(K.TOO_MANY_INVALID_NUMBERS)),
            effects=(DELETE,),
        ),
    )
    yield Case(
        "fifth-invalid-entry-not-digits",
        four_bad,
        TextSent("I do not know it"),
        Seen(
            S.FAILED,
            "too_many_invalid_numbers",
            (ln(K.AADHAAR_NOT_DIGITS), ln(K.TOO_MANY_INVALID_NUMBERS)),
        ),
    )
    accepted = shown(S.AWAIT_CONFIRM, "number_accepted", confirming, effects=(DELETE,))
    yield Case("number-accepted", CONSENTED, TextSent(NUMBER), accepted)
    yield Case(
        "number-accepted-devanagari-grouped",
        CONSENTED,
        TextSent(in_script(f" {NUMBER[:4]} {NUMBER[4:8]} {NUMBER[8:]} ", "०")),
        accepted,
    )
    yield Case("number-accepted-after-invalid", four_bad, TextSent(NUMBER), accepted)
    yield Case(
        "number-accepted-without-checksum",
        CONSENTED,
        TextSent(BAD_NUMBER),
        shown(
            S.AWAIT_CONFIRM,
            "number_accepted",
            replace(confirming, lines=(confirm(f"XXXX XXXX {BAD_NUMBER[8:]}"),)),
            effects=(DELETE,),
        ),
        rules=Rules(validate_checksum=False),
    )
    yield Case(
        "aadhaar-stale-button",
        CONSENTED,
        ConsentGiven(),
        shown(S.AWAIT_AADHAAR, "step_over", aadhaar, ln(K.STEP_OVER)),
    )
    # --- the confirmation
    yield Case(
        "change-number",
        CONFIRMING,
        NumberChangeChosen(),
        shown(S.AWAIT_AADHAAR, "number_change", aadhaar),
    )
    yield Case(
        "confirm-number",
        CONFIRMING,
        NumberConfirmed(),
        Seen(S.REQUESTING_OTP, "otp_requested", effects=REQUEST),
    )
    yield Case(
        "other-number-at-confirm",
        CONFIRMING,
        TextSent(OTHER_NUMBER),
        shown(
            S.AWAIT_CONFIRM,
            "number_accepted",
            replace(confirming, lines=(confirm(f"XXXX XXXX {OTHER_NUMBER[8:]}"),)),
            effects=(DELETE,),
        ),
    )
    yield Case(
        "text-at-confirm",
        CONFIRMING,
        TextSent("ok"),
        shown(S.AWAIT_CONFIRM, "use_buttons", confirming, ln(K.USE_BUTTONS)),
    )
    yield Case(
        "invalid-number-at-confirm",
        CONFIRMING,
        TextSent(BAD_NUMBER),
        shown(S.AWAIT_CONFIRM, "use_buttons", confirming, ln(K.USE_BUTTONS), effects=(DELETE,)),
    )
    yield Case(
        "confirm-number-unreadable",
        CONFIRMING,
        NumberConfirmed(),
        shown(S.AWAIT_AADHAAR, "number_missing", aadhaar),
        prepare=_number_unreadable,
    )
    yield Case(
        "confirm-too-early-after-rate-limit",
        (*REQUESTING, OtpNotSent(F.RATE_LIMITED, retry_after_seconds=120)),
        At(30, NumberConfirmed()),
        Seen(S.AWAIT_CONFIRM, "resend_too_early", (wait(90),), (B.SEND_OTP, B.CHANGE_NUMBER)),
    )
    yield Case(
        "confirm-when-limit-lowered-to-sends-used",
        (*AWAITING, At(60, ResendRequested()), OtpNotSent(F.NO_MOBILE_LINKED), TextSent(NUMBER)),
        NumberConfirmed(),
        Seen(S.FAILED, "no_sends_left", (no_sends_left(1),)),
        final_rules=Rules(max_otp_sends=1),
    )


def _request_cases() -> Iterator[Case]:
    busy = CURRENT_PROMPTS[S.REQUESTING_OTP]
    yield Case(
        "otp-sent",
        REQUESTING,
        OtpSent(REFERENCE),
        shown(
            S.AWAIT_OTP,
            "otp_sent",
            replace(CURRENT_PROMPTS[S.AWAIT_OTP], protect=True),
            ln(K.OTP_SENT, masked_aadhaar=MASKED, minutes=10),
        ),
    )
    yield Case(
        "second-confirm-tap-sends-no-second-otp",
        REQUESTING,
        NumberConfirmed(),
        shown(S.REQUESTING_OTP, "step_over", busy, ln(K.STEP_OVER)),
    )
    yield Case(
        "text-while-requesting",
        REQUESTING,
        TextSent("hello?"),
        shown(S.REQUESTING_OTP, "use_buttons", busy),
    )
    yield Case(
        "number-while-requesting",
        REQUESTING,
        TextSent(NUMBER),
        shown(S.REQUESTING_OTP, "use_buttons", busy, effects=(DELETE,)),
    )
    yield Case(
        "request-deadline-not-due",
        REQUESTING,
        At(59, DeadlinePassed()),
        Seen(S.REQUESTING_OTP, "not_due"),
    )
    yield Case(
        "kyc-answer-while-requesting",
        REQUESTING,
        KycVerified(KYC),
        Seen(S.REQUESTING_OTP, "ignored"),
    )
    yield Case(
        "provider-invalid-aadhaar",
        REQUESTING,
        OtpNotSent(F.INVALID_AADHAAR),
        shown(
            S.AWAIT_AADHAAR,
            "provider_invalid_aadhaar",
            CURRENT_PROMPTS[S.AWAIT_AADHAAR],
            ln(K.PROVIDER_INVALID_AADHAAR),
        ),
    )
    yield Case(
        "provider-invalid-aadhaar-last-try",
        (*CONSENTED, *(TextSent(BAD_NUMBER),) * 4, TextSent(NUMBER), NumberConfirmed()),
        OtpNotSent(F.INVALID_AADHAAR),
        Seen(
            S.FAILED,
            "too_many_invalid_numbers",
            (ln(K.PROVIDER_INVALID_AADHAAR), ln(K.TOO_MANY_INVALID_NUMBERS)),
        ),
    )
    yield Case(
        "no-mobile-linked",
        REQUESTING,
        OtpNotSent(F.NO_MOBILE_LINKED),
        shown(
            S.AWAIT_AADHAAR,
            "no_mobile_linked",
            # The line shows the masked number, so the message may not be forwarded.
            replace(CURRENT_PROMPTS[S.AWAIT_AADHAAR], protect=True),
            ln(K.PROVIDER_NO_MOBILE, masked_aadhaar=MASKED),
        ),
    )


# (name, answer, outcome, first line, seconds the user is asked to wait)
REQUEST_FAILURES: tuple[tuple[str, Event, str, Line, int | None], ...] = (
    (
        "rate-limited",
        OtpNotSent(F.RATE_LIMITED, retry_after_seconds=120),
        "rate_limited",
        ln(K.PROVIDER_RATE_LIMITED, seconds=120),
        120,
    ),
    (
        "rate-limited-no-retry-after",
        OtpNotSent(F.RATE_LIMITED),
        "rate_limited",
        ln(K.PROVIDER_RATE_LIMITED, seconds=60),
        60,
    ),
    (
        "in-progress",
        OtpNotSent(F.IN_PROGRESS, retry_after_seconds=30),
        "provider_busy",
        ln(K.PROVIDER_IN_PROGRESS, seconds=30),
        30,
    ),
    (
        "misconfigured",
        OtpNotSent(F.MISCONFIGURED),
        "provider_unavailable",
        ln(K.PROVIDER_UNAVAILABLE),
        None,
    ),
    (
        "out-of-quota",
        OtpNotSent(F.OUT_OF_QUOTA, detail="quota exhausted"),
        "provider_unavailable",
        ln(K.PROVIDER_UNAVAILABLE),
        None,
    ),
    (
        "uncertain",
        OtpNotSent(F.UNCERTAIN, detail="timeout after sending"),
        "provider_uncertain",
        ln(K.PROVIDER_UNCERTAIN, seconds=60),
        60,
    ),
    ("provider-down", OtpNotSent(F.PROVIDER_DOWN), "provider_down", ln(K.PROVIDER_DOWN), None),
    ("odd-answer", OtpNotSent(F.WRONG_OTP), "provider_down", ln(K.PROVIDER_DOWN), None),
    (
        "call-cut-off",
        DeadlinePassed(),
        "provider_no_answer",
        ln(K.PROVIDER_NO_ANSWER),
        None,
    ),
)
# Where a failed OTP request goes back to: (name, path to the request, time of the request).
REQUEST_ORIGINS: tuple[tuple[str, tuple[Step, ...], float, State], ...] = (
    ("first-request", REQUESTING, 0, S.AWAIT_CONFIRM),
    ("resend-while-otp-alive", (*AWAITING, At(60, ResendRequested())), 60, S.AWAIT_OTP),
    ("resend-after-otp-died", (*RESENDING, ResendRequested()), 100, S.AWAIT_RESEND),
)


def _request_failure_cases() -> Iterator[Case]:
    for origin, path, requested_at, back in REQUEST_ORIGINS:
        for name, answer, outcome, first, wait_seconds in REQUEST_FAILURES:
            prompt = CURRENT_PROMPTS[back]
            if back is S.AWAIT_RESEND and wait_seconds is not None:
                prompt = replace(prompt, lines=(OTP_DEAD, wait(wait_seconds)))
            event: Step = answer
            if isinstance(answer, DeadlinePassed):
                event = At(requested_at + RULES.call_timeout_seconds, answer)
            yield Case(f"{origin}-{name}", path, event, shown(back, outcome, prompt, first))


def _otp_cases() -> Iterator[Case]:
    awaiting = CURRENT_PROMPTS[S.AWAIT_OTP]
    # The reason the OTP died replaces the generic "can no longer be used" line.
    resend = replace(CURRENT_PROMPTS[S.AWAIT_RESEND], lines=(offer(),))
    entered = Seen(
        S.VERIFYING_OTP,
        "otp_entered",
        effects=(DELETE, ShowProgress(), VerifyOtp(REFERENCE, Otp(OTP_TEXT))),
    )
    yield Case("otp-entered", AWAITING, At(100, TextSent(" 482 916 ")), entered)
    yield Case("otp-entered-devanagari", AWAITING, At(100, TextSent("४८२९१६")), entered)
    yield Case("otp-entered-just-in-time", AWAITING, At(599.999, TYPE_OTP), entered)
    for name, text, sensitive in (
        ("otp-five-digits", "48291", True),
        ("otp-seven-digits", "4829160", True),
        ("otp-letters", "abcdef", False),
        ("otp-with-words", "otp is 4829", True),
    ):
        yield Case(
            name,
            AWAITING,
            At(100, TextSent(text)),
            Seen(
                S.AWAIT_OTP,
                "otp_malformed",
                (ln(K.OTP_NOT_SIX_DIGITS),),
                (B.RESEND,),
                InputHint.OTP,
                effects=(DELETE,) if sensitive else (),
            ),
        )
    yield Case(
        "otp-typed-after-expiry",
        AWAITING,
        At(600, TYPE_OTP),
        # The typed OTP is dead, but it is still an OTP in the chat: it must be deleted.
        shown(S.AWAIT_RESEND, "otp_expired", resend, ln(K.OTP_EXPIRED), effects=(DELETE,)),
    )
    yield Case(
        "otp-expiry-deadline",
        AWAITING,
        At(600, DeadlinePassed()),
        shown(S.AWAIT_RESEND, "otp_expired", resend, ln(K.OTP_EXPIRED)),
    )
    yield Case(
        "otp-deadline-not-due", AWAITING, At(599, DeadlinePassed()), Seen(S.AWAIT_OTP, "not_due")
    )
    yield Case(
        "last-otp-expiry-deadline",
        LAST_AWAITING,
        At(720, DeadlinePassed()),
        Seen(S.FAILED, "otp_expired", (ln(K.OTP_EXPIRED), no_sends_left())),
    )
    yield Case(
        "last-otp-typed-after-expiry",
        LAST_AWAITING,
        At(720, TYPE_OTP),
        Seen(S.FAILED, "otp_expired", (ln(K.OTP_EXPIRED), no_sends_left()), effects=(DELETE,)),
    )
    yield Case(
        "resend-too-early",
        AWAITING,
        At(20.25, ResendRequested()),
        Seen(S.AWAIT_OTP, "resend_too_early", (wait(40),), (B.RESEND,), InputHint.OTP),
    )
    yield Case(
        "resend-a-moment-too-early",
        AWAITING,
        At(59.001, ResendRequested()),
        Seen(S.AWAIT_OTP, "resend_too_early", (wait(1),), (B.RESEND,), InputHint.OTP),
    )
    yield Case(
        "resend-after-cooldown",
        AWAITING,
        At(60, ResendRequested()),
        Seen(S.REQUESTING_OTP, "otp_requested", effects=REQUEST),
    )
    yield Case(
        "second-otp-sent",
        (*AWAITING, At(60, ResendRequested())),
        OtpSent("otp-session-2"),
        shown(
            S.AWAIT_OTP,
            "otp_sent",
            replace(awaiting, protect=True),
            ln(K.OTP_SENT, masked_aadhaar=MASKED, minutes=10),
        ),
    )
    yield Case(
        "last-otp-sent-offers-no-resend",
        LAST_AWAITING[:-1],
        OtpSent("otp-session-3"),
        shown(
            S.AWAIT_OTP,
            "otp_sent",
            Prompt((ask_otp(),), (), InputHint.OTP, protect=True),
            ln(K.OTP_SENT, masked_aadhaar=MASKED, minutes=10),
        ),
    )
    yield Case(
        "stale-resend-button-with-no-sends-left",
        LAST_AWAITING,
        At(200, ResendRequested()),
        Seen(S.AWAIT_OTP, "step_over", (ln(K.STEP_OVER), ask_otp()), (), InputHint.OTP),
    )
    yield Case(
        "otp-stale-button",
        AWAITING,
        NumberConfirmed(),
        shown(S.AWAIT_OTP, "step_over", awaiting, ln(K.STEP_OVER)),
    )
    yield Case(
        "resend-number-unreadable",
        AWAITING,
        At(60, ResendRequested()),
        shown(S.AWAIT_AADHAAR, "number_missing", CURRENT_PROMPTS[S.AWAIT_AADHAAR]),
        prepare=_number_unreadable,
    )
    yield Case(
        "daily-limit-on-resend",
        DAILY_LIMIT_PATH,
        At(260, ResendRequested()),
        Seen(
            S.LOCKED,
            "daily_limit",
            (ln(K.OTP_REQUESTS_EXHAUSTED, max_requests=5), locked(NOW + DAY)),
        ),
    )
    yield Case(
        "daily-limit-on-resend-after-dead-otp",
        (*DAILY_LIMIT_PATH, At(220, TYPE_OTP), WRONG, TYPE_OTP, WRONG, TYPE_OTP, WRONG),
        At(280, ResendRequested()),
        Seen(
            S.LOCKED,
            "daily_limit",
            (ln(K.OTP_REQUESTS_EXHAUSTED, max_requests=5), locked(NOW + DAY)),
        ),
    )
    yield Case(
        "daily-limit-on-confirm",
        (
            *DAILY_LIMIT_PATH,
            At(260, CancelRequested()),
            StartRequested(),
            ConsentGiven(),
            TextSent(NUMBER),
        ),
        NumberConfirmed(),
        Seen(
            S.LOCKED,
            "daily_limit",
            (ln(K.OTP_REQUESTS_EXHAUSTED, max_requests=5), locked(NOW + DAY)),
        ),
    )


# Five OTPs sent within a day: three in one verification, two in the next.
DAILY_LIMIT_PATH: tuple[Step, ...] = (
    *LAST_AWAITING,
    At(130, CancelRequested()),
    *later(140, (*REQUESTING, OtpSent("otp-session-4"), At(60, ResendRequested()))),
    OtpSent("otp-session-5"),
)


def _verify_cases() -> Iterator[Case]:
    awaiting = CURRENT_PROMPTS[S.AWAIT_OTP]
    resend = replace(CURRENT_PROMPTS[S.AWAIT_RESEND], lines=(offer(),))
    last_wrong = (*LAST_VERIFYING, WRONG, TYPE_OTP, WRONG, TYPE_OTP)
    yield Case(
        "verified",
        VERIFYING,
        KycVerified(KYC),
        Seen(
            S.VERIFIED,
            "verified",
            (ln(K.VERIFIED), RECORD_LINE),
            protect=True,
            effects=(SaveResult(RECORD),),
        ),
    )
    yield Case(
        "verified-but-number-unreadable",
        VERIFYING,
        KycVerified(KYC),
        # No record is saved without the masked number it belongs to.
        shown(S.AWAIT_AADHAAR, "number_missing", CURRENT_PROMPTS[S.AWAIT_AADHAAR]),
        prepare=_number_unreadable,
    )
    yield Case(
        "wrong-otp",
        VERIFYING,
        WRONG,
        Seen(
            S.AWAIT_OTP,
            "wrong_otp",
            (ln(K.OTP_WRONG, attempts_left=2),),
            (B.RESEND,),
            InputHint.OTP,
        ),
    )
    yield Case(
        "second-wrong-otp",
        (*VERIFYING, WRONG, TYPE_OTP),
        WRONG,
        Seen(
            S.AWAIT_OTP,
            "wrong_otp",
            (ln(K.OTP_WRONG, attempts_left=1),),
            (B.RESEND,),
            InputHint.OTP,
        ),
    )
    yield Case(
        "third-wrong-otp",
        RESENDING[:-1],
        WRONG,
        shown(S.AWAIT_RESEND, "otp_attempts_used", resend, ln(K.OTP_ATTEMPTS_USED)),
    )
    yield Case(
        "third-wrong-otp-before-cooldown",
        RESENDING_EARLY[:-1],
        WRONG,
        shown(
            S.AWAIT_RESEND,
            "otp_attempts_used",
            replace(resend, lines=(wait(50),)),
            ln(K.OTP_ATTEMPTS_USED),
        ),
    )
    yield Case(
        "third-wrong-otp-no-sends-left",
        last_wrong,
        WRONG,
        Seen(S.FAILED, "otp_attempts_used", (ln(K.OTP_ATTEMPTS_USED), no_sends_left())),
    )
    for failure, outcome, prompt in (
        (F.OTP_EXPIRED, "otp_expired", K.OTP_EXPIRED),
        (F.SESSION_INVALID, "session_invalid", K.OTP_SESSION_INVALID),
    ):
        yield Case(
            f"provider-{outcome}",
            VERIFYING,
            OtpNotVerified(failure),
            shown(S.AWAIT_RESEND, outcome, resend, ln(prompt)),
        )
        yield Case(
            f"provider-{outcome}-no-sends-left",
            LAST_VERIFYING,
            OtpNotVerified(failure),
            Seen(S.FAILED, outcome, (ln(prompt), no_sends_left())),
        )
    for name, answer, outcome, first in (
        (
            "rate-limited",
            OtpNotVerified(F.RATE_LIMITED, retry_after_seconds=45),
            "rate_limited",
            ln(K.PROVIDER_RATE_LIMITED, seconds=45),
        ),
        (
            "in-progress",
            OtpNotVerified(F.IN_PROGRESS),
            "provider_busy",
            ln(K.PROVIDER_IN_PROGRESS, seconds=60),
        ),
        (
            "misconfigured",
            OtpNotVerified(F.MISCONFIGURED),
            "provider_unavailable",
            ln(K.PROVIDER_UNAVAILABLE),
        ),
        (
            "out-of-quota",
            OtpNotVerified(F.OUT_OF_QUOTA),
            "provider_unavailable",
            ln(K.PROVIDER_UNAVAILABLE),
        ),
        ("provider-down", OtpNotVerified(F.PROVIDER_DOWN), "provider_down", ln(K.PROVIDER_DOWN)),
        ("odd-answer", OtpNotVerified(F.NO_MOBILE_LINKED), "provider_down", ln(K.PROVIDER_DOWN)),
    ):
        yield Case(
            f"verify-{name}", VERIFYING, answer, shown(S.AWAIT_OTP, outcome, awaiting, first)
        )
    yield Case(
        "verify-call-cut-off",
        VERIFYING,
        At(160, DeadlinePassed()),
        shown(S.AWAIT_OTP, "provider_no_answer", awaiting, ln(K.PROVIDER_NO_ANSWER)),
    )
    yield Case(
        "verify-deadline-not-due",
        VERIFYING,
        At(159, DeadlinePassed()),
        Seen(S.VERIFYING_OTP, "not_due"),
    )
    yield Case(
        "otp-typed-again-while-verifying",
        VERIFYING,
        TYPE_OTP,
        shown(S.VERIFYING_OTP, "use_buttons", CURRENT_PROMPTS[S.VERIFYING_OTP], effects=(DELETE,)),
    )
    yield Case(
        "second-answer-while-verifying",
        VERIFYING,
        OtpSent(REFERENCE),
        Seen(S.VERIFYING_OTP, "ignored"),
    )
    # --- waiting for a new OTP
    yield Case(
        "resend-from-dead-otp",
        RESENDING,
        ResendRequested(),
        Seen(S.REQUESTING_OTP, "otp_requested", effects=REQUEST),
    )
    yield Case(
        "resend-from-dead-otp-too-early",
        RESENDING_EARLY,
        At(15, ResendRequested()),
        Seen(S.AWAIT_RESEND, "resend_too_early", (wait(45),), (B.RESEND,)),
    )
    yield Case(
        "otp-typed-when-dead",
        RESENDING,
        TYPE_OTP,
        shown(
            S.AWAIT_RESEND,
            "use_buttons",
            CURRENT_PROMPTS[S.AWAIT_RESEND],
            ln(K.USE_BUTTONS),
            effects=(DELETE,),
        ),
    )
    yield Case(
        "resend-when-limit-lowered-to-sends-used",
        RESENDING,
        ResendRequested(),
        Seen(S.FAILED, "no_sends_left", (no_sends_left(1),)),
        final_rules=Rules(max_otp_sends=1),
    )


START_DIGILOCKER = (ShowProgress(), StartDigiLocker())
CONSENT_RECORDED = RecordConsent(ConsentDecision.AGREED)


def _method_cases() -> Iterator[Case]:
    choosing = CURRENT_PROMPTS[S.AWAIT_METHOD]
    yield Case(
        "consent-given-both-methods",
        STARTED,
        ConsentGiven(),
        shown(S.AWAIT_METHOD, "consent_given", choosing, effects=(CONSENT_RECORDED,)),
        rules=BOTH,
    )
    yield Case(
        "consent-given-methods-in-configured-order",
        STARTED,
        ConsentGiven(),
        shown(
            S.AWAIT_METHOD,
            "consent_given",
            replace(choosing, buttons=(B.USE_DIGILOCKER, B.USE_OTP)),
            effects=(CONSENT_RECORDED,),
        ),
        rules=DIGILOCKER_FIRST,
    )
    yield Case(
        "consent-given-digilocker-only",
        STARTED,
        ConsentGiven(),
        Seen(S.STARTING_DIGILOCKER, "consent_given", effects=(CONSENT_RECORDED, *START_DIGILOCKER)),
        rules=DIGILOCKER_ONLY,
    )
    yield Case(
        "otp-chosen",
        CHOOSING,
        OtpMethodChosen(),
        shown(S.AWAIT_AADHAAR, "otp_chosen", CURRENT_PROMPTS[S.AWAIT_AADHAAR]),
        rules=BOTH,
    )
    yield Case(
        "digilocker-chosen",
        CHOOSING,
        DigiLockerChosen(),
        Seen(S.STARTING_DIGILOCKER, "digilocker_chosen", effects=START_DIGILOCKER),
        rules=BOTH,
    )
    # The operator changed the methods while the question was on screen.
    yield Case(
        "otp-chosen-when-no-longer-offered",
        CHOOSING,
        OtpMethodChosen(),
        shown(
            S.AWAIT_METHOD,
            "method_unavailable",
            replace(choosing, buttons=(B.USE_DIGILOCKER,)),
            ln(K.METHOD_UNAVAILABLE),
        ),
        rules=BOTH,
        final_rules=DIGILOCKER_ONLY,
    )
    yield Case(
        "digilocker-chosen-when-no-longer-offered",
        CHOOSING,
        DigiLockerChosen(),
        shown(
            S.AWAIT_METHOD,
            "method_unavailable",
            replace(choosing, buttons=(B.USE_OTP,)),
            ln(K.METHOD_UNAVAILABLE),
        ),
        rules=BOTH,
        final_rules=RULES,
    )
    yield Case(
        "method-text",
        CHOOSING,
        TextSent("otp please"),
        shown(S.AWAIT_METHOD, "use_buttons", choosing, ln(K.USE_BUTTONS)),
        rules=BOTH,
    )
    yield Case(
        "method-text-with-number",
        CHOOSING,
        TextSent(NUMBER),
        shown(S.AWAIT_METHOD, "use_buttons", choosing, ln(K.USE_BUTTONS), effects=(DELETE,)),
        rules=BOTH,
    )
    yield Case(
        "method-stale-button",
        CHOOSING,
        NumberConfirmed(),
        shown(S.AWAIT_METHOD, "step_over", choosing, ln(K.STEP_OVER)),
        rules=BOTH,
    )
    yield Case(
        "method-deadline-not-due",
        CHOOSING,
        At(899, DeadlinePassed()),
        Seen(S.AWAIT_METHOD, "not_due"),
        rules=BOTH,
    )
    # With the default rules nobody is asked, so a method button is always an old one.
    yield Case(
        "method-button-at-consent",
        STARTED,
        DigiLockerChosen(),
        shown(S.AWAIT_CONSENT, "step_over", CURRENT_PROMPTS[S.AWAIT_CONSENT], ln(K.STEP_OVER)),
    )
    yield Case(
        "method-button-at-aadhaar",
        CONSENTED,
        OtpMethodChosen(),
        shown(S.AWAIT_AADHAAR, "step_over", CURRENT_PROMPTS[S.AWAIT_AADHAAR], ln(K.STEP_OVER)),
    )


# (name, failure, outcome, first line) of a failed DigiLocker call: starting and fetching fail
# the same way, back to the choice of method, counting nothing.
DIGILOCKER_FAILURES: tuple[tuple[str, ProviderFailure, str, Line], ...] = (
    ("rate-limited", F.RATE_LIMITED, "rate_limited", ln(K.PROVIDER_RATE_LIMITED, seconds=60)),
    ("misconfigured", F.MISCONFIGURED, "provider_unavailable", ln(K.PROVIDER_UNAVAILABLE)),
    ("out-of-quota", F.OUT_OF_QUOTA, "provider_unavailable", ln(K.PROVIDER_UNAVAILABLE)),
    ("provider-down", F.PROVIDER_DOWN, "provider_down", ln(K.PROVIDER_DOWN)),
    ("odd-answer", F.WRONG_OTP, "provider_down", ln(K.PROVIDER_DOWN)),
)


def failed(answer: type[Event], failure: ProviderFailure) -> Event:
    """The failure event of a DigiLocker call, with a log detail as providers send one."""
    if answer is DigiLockerNotStarted:
        return DigiLockerNotStarted(failure, detail=f"initiate: {failure.value}")
    return DigiLockerNotVerified(failure, detail=f"get_reference: {failure.value}")


def _digilocker_cases() -> Iterator[Case]:
    choosing = CURRENT_PROMPTS[S.AWAIT_METHOD]
    link = CURRENT_PROMPTS[S.AWAIT_DIGILOCKER]
    fetching = Seen(
        S.FETCHING_DIGILOCKER,
        "digilocker_returned",
        effects=(ShowProgress(), FetchDigiLockerReference(CODE)),
    )
    # --- the link
    yield Case(
        "digilocker-started",
        STARTING_DL,
        DigiLockerStarted(URL),
        shown(S.AWAIT_DIGILOCKER, "digilocker_started", link),
        rules=BOTH,
    )
    yield Case(
        "digilocker-started-digilocker-only",
        (*STARTED, ConsentGiven()),
        DigiLockerStarted(URL),
        shown(S.AWAIT_DIGILOCKER, "digilocker_started", replace(link, buttons=())),
        rules=DIGILOCKER_ONLY,
    )
    yield Case(
        "digilocker-started-short-link",
        STARTING_DL,
        DigiLockerStarted(URL),
        shown(
            S.AWAIT_DIGILOCKER,
            "digilocker_started",
            replace(link, lines=(open_digilocker(1),)),
        ),
        rules=replace(BOTH, digilocker_ttl_seconds=90),
    )
    yield Case(
        "digilocker-start-rate-limited-with-retry-after",
        STARTING_DL,
        DigiLockerNotStarted(F.RATE_LIMITED, retry_after_seconds=120),
        shown(S.AWAIT_METHOD, "rate_limited", choosing, ln(K.PROVIDER_RATE_LIMITED, seconds=120)),
        rules=BOTH,
    )
    calls: tuple[tuple[str, tuple[Step, ...], type[Event], int], ...] = (
        ("start", STARTING_DL, DigiLockerNotStarted, 60),
        ("fetch", FETCHING_DL, DigiLockerNotVerified, 160),
    )
    for call, path, answer, cut_off in calls:
        state = walk(*path, rules=BOTH)[0].state
        busy = CURRENT_PROMPTS[state]
        for name, failure, outcome, first in DIGILOCKER_FAILURES:
            yield Case(
                f"digilocker-{call}-{name}",
                path,
                failed(answer, failure),
                shown(S.AWAIT_METHOD, outcome, choosing, first),
                rules=BOTH,
            )
        yield Case(
            f"digilocker-{call}-call-cut-off",
            path,
            At(cut_off, DeadlinePassed()),
            shown(S.AWAIT_METHOD, "provider_no_answer", choosing, ln(K.PROVIDER_NO_ANSWER)),
            rules=BOTH,
        )
        yield Case(
            f"digilocker-{call}-deadline-not-due",
            path,
            At(cut_off - 1, DeadlinePassed()),
            Seen(state, "not_due"),
            rules=BOTH,
        )
        yield Case(
            f"text-while-{call}ing-digilocker",
            path,
            TextSent(OTP_TEXT),
            shown(state, "use_buttons", busy, effects=(DELETE,)),
            rules=BOTH,
        )
        yield Case(
            f"second-digilocker-tap-while-{call}ing",
            path,
            DigiLockerChosen(),
            shown(state, "step_over", busy, ln(K.STEP_OVER)),
            rules=BOTH,
        )
    yield Case(
        "digilocker-start-failure-with-digilocker-only",
        (*STARTED, ConsentGiven()),
        DigiLockerNotStarted(F.PROVIDER_DOWN),
        shown(
            S.AWAIT_METHOD,
            "provider_down",
            replace(choosing, buttons=(B.USE_DIGILOCKER,)),
            ln(K.PROVIDER_DOWN),
        ),
        rules=DIGILOCKER_ONLY,
    )
    yield Case(
        "otp-answer-while-starting-digilocker",
        STARTING_DL,
        OtpSent(REFERENCE),
        Seen(S.STARTING_DIGILOCKER, "ignored"),
        rules=BOTH,
    )
    yield Case(
        "fetch-answer-while-starting-digilocker",
        STARTING_DL,
        DigiLockerNotVerified(F.PROVIDER_DOWN),
        Seen(S.STARTING_DIGILOCKER, "ignored"),
        rules=BOTH,
    )
    yield Case(
        "digilocker-answer-while-requesting-otp",
        REQUESTING,
        DigiLockerStarted(URL),
        Seen(S.REQUESTING_OTP, "ignored"),
    )
    # --- waiting for the user to come back
    yield Case(
        "digilocker-returned",
        AWAITING_DL,
        At(100, DigiLockerReturned(CODE)),
        fetching,
        rules=BOTH,
    )
    yield Case(
        "digilocker-returned-after-the-deadline-before-the-sweep",
        AWAITING_DL,
        At(650, DigiLockerReturned(CODE)),
        fetching,
        rules=BOTH,
    )
    yield Case(
        "digilocker-link-expired",
        AWAITING_DL,
        At(600, DeadlinePassed()),
        shown(S.AWAIT_METHOD, "digilocker_expired", choosing, ln(K.DIGILOCKER_EXPIRED)),
        rules=BOTH,
    )
    yield Case(
        "digilocker-link-deadline-not-due",
        AWAITING_DL,
        At(599, DeadlinePassed()),
        Seen(S.AWAIT_DIGILOCKER, "not_due"),
        rules=BOTH,
    )
    yield Case(
        "digilocker-new-link",
        AWAITING_DL,
        At(100, DigiLockerChosen()),
        Seen(S.STARTING_DIGILOCKER, "digilocker_chosen", effects=START_DIGILOCKER),
        rules=BOTH,
    )
    yield Case(
        "digilocker-switch-to-otp",
        AWAITING_DL,
        At(100, OtpMethodChosen()),
        shown(S.AWAIT_AADHAAR, "otp_chosen", CURRENT_PROMPTS[S.AWAIT_AADHAAR]),
        rules=BOTH,
    )
    yield Case(
        "digilocker-switch-to-otp-no-longer-offered",
        AWAITING_DL,
        OtpMethodChosen(),
        shown(
            S.AWAIT_DIGILOCKER,
            "method_unavailable",
            replace(link, buttons=()),
            ln(K.METHOD_UNAVAILABLE),
        ),
        rules=BOTH,
        final_rules=DIGILOCKER_ONLY,
    )
    yield Case(
        "digilocker-new-link-no-longer-offered",
        AWAITING_DL,
        DigiLockerChosen(),
        shown(S.AWAIT_DIGILOCKER, "method_unavailable", link, ln(K.METHOD_UNAVAILABLE)),
        rules=BOTH,
        final_rules=RULES,
    )
    yield Case(
        "digilocker-text",
        AWAITING_DL,
        TextSent("done"),
        shown(S.AWAIT_DIGILOCKER, "use_buttons", link, ln(K.USE_BUTTONS)),
        rules=BOTH,
    )
    yield Case(
        "digilocker-otp-typed",
        AWAITING_DL,
        TYPE_OTP,
        shown(S.AWAIT_DIGILOCKER, "use_buttons", link, ln(K.USE_BUTTONS), effects=(DELETE,)),
        rules=BOTH,
    )
    yield Case(
        "digilocker-status-shows-the-minutes-left",
        AWAITING_DL,
        At(301, StatusRequested()),
        shown(
            S.AWAIT_DIGILOCKER,
            "status",
            replace(link, lines=(open_digilocker(4),)),
            ln(K.STATUS_IN_PROGRESS),
        ),
        rules=BOTH,
    )
    yield Case(
        "digilocker-stale-button",
        AWAITING_DL,
        NumberConfirmed(),
        shown(S.AWAIT_DIGILOCKER, "step_over", link, ln(K.STEP_OVER)),
        rules=BOTH,
    )
    # --- the provider's answer to the code
    yield Case(
        "digilocker-verified",
        FETCHING_DL,
        DigiLockerVerified(REFERENCE_KEY, KEY_EXPIRES),
        Seen(
            S.VERIFIED,
            "verified",
            (ln(K.DIGILOCKER_VERIFIED), ln(K.DIGILOCKER_RECORD, verified_at=seconds(100))),
            protect=True,
            effects=(SaveDigiLockerResult(REFERENCE_KEY, KEY_EXPIRES, seconds(100)),),
        ),
        rules=BOTH,
    )
    yield Case(
        "digilocker-not-completed",
        FETCHING_DL,
        DigiLockerNotVerified(F.SESSION_INVALID, detail="code already used"),
        shown(S.AWAIT_METHOD, "digilocker_not_completed", choosing, ln(K.DIGILOCKER_NOT_COMPLETED)),
        rules=BOTH,
    )
    yield Case(
        "second-return-while-fetching",
        FETCHING_DL,
        DigiLockerReturned(CODE),
        Seen(S.FETCHING_DIGILOCKER, "ignored"),
        rules=BOTH,
    )
    # --- a user DigiLocker verified
    dl_verified_view = Seen(
        S.IDLE,
        "already_verified",
        (ln(K.ALREADY_VERIFIED), ln(K.DIGILOCKER_RECORD, verified_at=seconds(100))),
        protect=True,
    )
    yield Case(
        "digilocker-verified-user-start",
        DL_VERIFIED,
        At(200, StartRequested()),
        dl_verified_view,
        rules=BOTH,
    )
    yield Case(
        "digilocker-verified-user-status",
        DL_VERIFIED,
        At(200, StatusRequested()),
        replace(dl_verified_view, outcome="status"),
        rules=BOTH,
    )


def _standing_cases() -> Iterator[Case]:
    three_failed = (*failed_verification(0), *failed_verification(10), *failed_verification(20))
    until = seconds(20) + timedelta(seconds=RULES.lockout_seconds)
    lock_lines = (ln(K.TOO_MANY_FAILURES), locked(until))
    yield Case(
        "third-failed-verification-locks",
        three_failed[:-1],
        TextSent(BAD_NUMBER),
        Seen(
            S.FAILED,
            "too_many_invalid_numbers",
            (ln(K.AADHAAR_BAD_CHECKSUM), ln(K.TOO_MANY_INVALID_NUMBERS), *lock_lines),
            effects=(DELETE,),
        ),
    )
    yield Case(
        "start-while-locked",
        three_failed,
        At(30, StartRequested()),
        Seen(S.IDLE, "locked", (locked(until),)),
    )
    yield Case(
        "status-while-locked",
        three_failed,
        At(30, StatusRequested()),
        Seen(S.IDLE, "status", (locked(until),)),
    )
    yield Case(
        "start-when-lock-ends",
        three_failed,
        At(20 + RULES.lockout_seconds, StartRequested()),
        shown(S.AWAIT_CONSENT, "started", CURRENT_PROMPTS[S.AWAIT_CONSENT]),
    )
    yield Case(
        "third-failure-by-wrong-otps-locks",
        (
            *failed_verification(0),
            *failed_verification(10),
            *later(20, (*LAST_VERIFYING, WRONG, TYPE_OTP, WRONG, TYPE_OTP)),
        ),
        WRONG,
        Seen(
            S.FAILED,
            "otp_attempts_used",
            (
                ln(K.OTP_ATTEMPTS_USED),
                no_sends_left(),
                ln(K.TOO_MANY_FAILURES),
                locked(seconds(220) + DAY),
            ),
        ),
    )
    yield Case(
        "third-failure-by-provider-rejection-locks",
        (
            *failed_verification(0),
            *failed_verification(10),
            *later(
                20, (*CONSENTED, *(TextSent(BAD_NUMBER),) * 4, TextSent(NUMBER), NumberConfirmed())
            ),
        ),
        OtpNotSent(F.INVALID_AADHAAR),
        Seen(
            S.FAILED,
            "too_many_invalid_numbers",
            (
                ln(K.PROVIDER_INVALID_AADHAAR),
                ln(K.TOO_MANY_INVALID_NUMBERS),
                ln(K.TOO_MANY_FAILURES),
                locked(seconds(20) + DAY),
            ),
        ),
    )
    yield Case(
        "failures-older-than-a-day-do-not-count",
        (*failed_verification(0), *failed_verification(10), *failed_verification(86_400)[:-1]),
        TextSent(BAD_NUMBER),
        Seen(
            S.FAILED,
            "too_many_invalid_numbers",
            (ln(K.AADHAAR_BAD_CHECKSUM), ln(K.TOO_MANY_INVALID_NUMBERS)),
            effects=(DELETE,),
        ),
    )
    yield Case(
        "start-while-locked-by-daily-limit",
        (*DAILY_LIMIT_PATH, At(260, ResendRequested())),
        At(300, StartRequested()),
        Seen(S.IDLE, "locked", (locked(NOW + DAY),)),
    )
    yield Case(
        "start-when-daily-lock-ends",
        (*DAILY_LIMIT_PATH, At(260, ResendRequested())),
        At(86_400, StartRequested()),
        shown(S.AWAIT_CONSENT, "started", CURRENT_PROMPTS[S.AWAIT_CONSENT]),
    )
    verified_view = Seen(
        S.IDLE, "already_verified", (ln(K.ALREADY_VERIFIED), RECORD_LINE), protect=True
    )
    yield Case("verified-user-start", VERIFIED, At(200, StartRequested()), verified_view)
    yield Case(
        "verified-user-status",
        VERIFIED,
        At(200, StatusRequested()),
        replace(verified_view, outcome="status"),
    )
    yield Case(
        "verified-user-cancel",
        VERIFIED,
        At(200, CancelRequested()),
        Seen(S.IDLE, "nothing_to_cancel", (ln(K.NOTHING_TO_CANCEL),)),
    )


def _every_live_state_cases() -> Iterator[Case]:
    for state, path, rules in EVERY_LIVE_PATH:
        prompt = CURRENT_PROMPTS[state]
        key = state.value.replace("_", "-")
        last_activity = max((step.seconds for step in path if isinstance(step, At)), default=0)
        for name, event, expected in (
            ("cancel", CancelRequested(), Seen(S.CANCELLED, "cancelled", (ln(K.CANCELLED),))),
            (
                "start",
                StartRequested(),
                shown(state, "in_progress", prompt, ln(K.IN_PROGRESS), extra=(B.START_OVER,)),
            ),
            (
                "start-over",
                StartOverChosen(),
                Seen(S.CANCELLED, "started_over", effects=(BeginNewVerification(),)),
            ),
            ("help", HelpRequested(), shown(state, "help", prompt, ln(K.HELP))),
            (
                "status",
                StatusRequested(),
                shown(state, "status", prompt, ln(K.STATUS_IN_PROGRESS)),
            ),
            (
                "unknown-command",
                UnknownCommandSent(),
                shown(state, "unknown_command", prompt, ln(K.UNKNOWN_COMMAND)),
            ),
            (
                "unsupported",
                UnsupportedMessageSent(),
                shown(state, "unsupported", prompt, ln(K.UNSUPPORTED_MESSAGE)),
            ),
            ("expired-button", ButtonExpired(), shown(state, "step_over", prompt, ln(K.STEP_OVER))),
            (
                "idle-timeout",
                At(last_activity + RULES.idle_timeout_seconds, DeadlinePassed()),
                Seen(S.TIMED_OUT, "idle_timeout", (ln(K.TIMED_OUT, minutes=15),)),
            ),
        ):
            yield Case(f"{key}-{name}", path, event, expected, rules=rules)


def _erasure_cases() -> Iterator[Case]:
    # /delete_my_data works the same from any state; keeping the data in a verification
    # shows its step again, and confirming erases without changing the state first.
    question = Prompt((ln(K.ERASE_QUESTION),), (B.ERASE_DATA, B.KEEP_DATA))
    erased = (ln(K.ERASE_DONE),)
    yield Case(
        "idle-erase-asked", (), DataDeletionRequested(), shown(S.IDLE, "erasure_asked", question)
    )
    yield Case(
        "idle-erase-confirmed",
        (),
        DataDeletionConfirmed(),
        Seen(S.IDLE, "erasure_confirmed", erased, effects=(EraseUserData(),)),
    )
    yield Case(
        "idle-erase-kept", (), DataDeletionKept(), Seen(S.IDLE, "erasure_kept", (ln(K.ERASE_KEPT),))
    )
    for state, path, rules in EVERY_LIVE_PATH:
        key = state.value.replace("_", "-")
        prompt = CURRENT_PROMPTS[state]
        for name, event, expected in (
            ("erase-asked", DataDeletionRequested(), shown(state, "erasure_asked", question)),
            (
                "erase-confirmed",
                DataDeletionConfirmed(),
                Seen(state, "erasure_confirmed", erased, effects=(EraseUserData(),)),
            ),
            (
                "erase-kept",
                DataDeletionKept(),
                shown(state, "erasure_kept", prompt, ln(K.ERASE_KEPT)),
            ),
        ):
            yield Case(f"{key}-{name}", path, event, expected, rules=rules)


CASES = [
    *_idle_cases(),
    *_consent_cases(),
    *_number_cases(),
    *_request_cases(),
    *_request_failure_cases(),
    *_otp_cases(),
    *_verify_cases(),
    *_method_cases(),
    *_digilocker_cases(),
    *_standing_cases(),
    *_every_live_state_cases(),
    *_erasure_cases(),
]
CASE_PARAMS = [pytest.param(case, id=case.name) for case in CASES]


def test_case_names_are_unique() -> None:
    assert len({case.name for case in CASES}) == len(CASES)


def test_the_paths_reach_the_states_they_are_named_for() -> None:
    assert {state for state, _, _ in EVERY_LIVE_PATH} == LIVE_STATES
    for state, path, rules in EVERY_LIVE_PATH:
        assert walk(*path, rules=rules)[0].state is state


@pytest.mark.parametrize("case", CASE_PARAMS)
def test_user_sees(case: Case) -> None:
    decision = run(case)

    assert seen(decision) == case.expected


def _row_taken(case: Case) -> int | None:
    context = situation(case)
    return next((i for i, row in enumerate(TABLE) if row.matches(context)), None)


def test_the_cases_walk_every_row_of_the_table() -> None:
    taken = {_row_taken(case) for case in CASES}

    missing = [f"{i}: {row.outcome}" for i, row in enumerate(TABLE) if i not in taken]
    assert missing == []


# --- what every reply has in common --------------------------------------------------------


def _replies(decision: Decision) -> list[Reply]:
    return [effect for effect in decision.effects if isinstance(effect, Reply)]


@pytest.mark.parametrize("case", CASE_PARAMS)
def test_every_line_fills_exactly_the_placeholders_its_prompt_declares(case: Case) -> None:
    for reply in _replies(run(case)):
        assert reply.lines
        for line in reply.lines:
            assert set(line.params) == CATALOGUE[line.prompt].placeholders, line.prompt


@pytest.mark.parametrize("case", CASE_PARAMS)
def test_every_button_carries_its_own_label(case: Case) -> None:
    for reply in _replies(run(case)):
        for button in reply.buttons:
            assert button.label is BUTTON_LABELS[button.action]
        for link in reply.links:
            assert link.label is K.BUTTON_OPEN_DIGILOCKER


@pytest.mark.parametrize("case", CASE_PARAMS)
def test_a_message_showing_masked_data_cannot_be_forwarded(case: Case) -> None:
    for reply in _replies(run(case)):
        personal = any(
            "masked_aadhaar" in line.params or line.prompt is K.RECORD for line in reply.lines
        )
        assert reply.protect_content or not personal


@pytest.mark.parametrize("case", CASE_PARAMS)
def test_no_decision_shows_the_number_the_otp_or_the_reference(case: Case) -> None:
    decision = run(case)
    text = repr(decision)

    secrets = (NUMBER[:8], OTHER_NUMBER[:8], BAD_NUMBER[:8], OTP_TEXT, "otp-session-")
    for secret in (*secrets, "link-state-", "dl-code-", "dl-key-"):
        assert secret not in text


# --- the session behind what the user sees ------------------------------------------------------


def test_otp_sent_starts_the_otp_clock() -> None:
    session, _ = walk(*REQUESTING, At(5, OtpSent(REFERENCE)))

    assert session.state is S.AWAIT_OTP
    assert session.otp_reference == REFERENCE
    assert session.otp_sent_at == seconds(5)
    assert session.otp_expires_at == seconds(5 + 600)
    assert session.resend_at == seconds(5 + 60)
    assert session.otp_attempts_left == 3
    assert session.otp_sends == 1
    assert session.standing.otp_requests_today(seconds(5)) == 1
    assert session.call_expires_at is None


def test_a_new_otp_gets_fresh_attempts_and_a_new_reference() -> None:
    session, _ = walk(*RESENDING, ResendRequested(), At(101, OtpSent("otp-session-2")))

    assert session.otp_reference == "otp-session-2"
    assert session.otp_attempts_left == 3
    assert session.otp_sends == 2
    assert session.otp_expires_at == seconds(701)
    assert session.resend_at == seconds(161)


def test_malformed_otp_uses_no_attempt_and_calls_no_provider() -> None:
    before, _ = walk(*AWAITING, At(100, TextSent("48291")), TextSent("abc"))

    assert before.state is S.AWAIT_OTP
    assert before.otp_attempts_left == 3
    decision = decide(before, TYPE_OTP, seconds(101), RULES)
    assert VerifyOtp(REFERENCE, Otp(OTP_TEXT)) in decision.effects


def test_wrong_otps_count_down_the_attempts() -> None:
    session, _ = walk(*VERIFYING, WRONG, TYPE_OTP, WRONG)

    assert session.otp_attempts_left == 1
    assert walk(*RESENDING)[0].otp_attempts_left == 0


@pytest.mark.parametrize(
    ("path", "answer", "resend_at"),
    [
        pytest.param(
            REQUESTING, OtpNotSent(F.RATE_LIMITED, retry_after_seconds=120), 120, id="first-request"
        ),
        pytest.param(REQUESTING, OtpNotSent(F.IN_PROGRESS), 60, id="no-retry-after"),
        pytest.param(REQUESTING, OtpNotSent(F.UNCERTAIN), 60, id="uncertain-waits-the-cooldown"),
        pytest.param(
            (*AWAITING, At(60, ResendRequested())),
            OtpNotSent(F.RATE_LIMITED, retry_after_seconds=120),
            180,
            id="resend-while-otp-alive",
        ),
        pytest.param(
            (*RESENDING, ResendRequested()),
            OtpNotSent(F.RATE_LIMITED, retry_after_seconds=300),
            400,
            id="resend",
        ),
        pytest.param(
            (*RESENDING_EARLY, At(60, ResendRequested())),
            OtpNotSent(F.RATE_LIMITED, retry_after_seconds=-5),
            120,
            id="negative-retry-after-uses-cooldown",
        ),
    ],
)
def test_rate_limit_moves_the_next_request_back(
    path: tuple[Step, ...], answer: Event, resend_at: float
) -> None:
    before, now = walk(*path)

    session = decide(before, answer, now, RULES).session

    assert session.resend_at == seconds(resend_at)


PROVIDER_FAULTS = [
    OtpNotSent(F.RATE_LIMITED, retry_after_seconds=90),
    OtpNotSent(F.IN_PROGRESS),
    OtpNotSent(F.PROVIDER_DOWN),
    OtpNotSent(F.MISCONFIGURED),
    OtpNotSent(F.OUT_OF_QUOTA),
]


@pytest.mark.parametrize(
    "path",
    [
        pytest.param(REQUESTING, id="first-request"),
        pytest.param((*AWAITING, At(60, ResendRequested())), id="resend"),
    ],
)
@pytest.mark.parametrize("answer", PROVIDER_FAULTS, ids=lambda event: event.failure.value)
def test_a_provider_fault_on_request_counts_nothing_against_the_user(
    path: tuple[Step, ...], answer: OtpNotSent
) -> None:
    before, now = walk(*path)

    after = decide(before, answer, now, RULES).session

    assert after.otp_sends == before.otp_sends
    assert after.otp_attempts_left == before.otp_attempts_left
    assert after.invalid_entries == before.invalid_entries
    assert after.standing.otp_requests_in_window == before.standing.otp_requests_in_window
    assert after.standing.failures_in_window == before.standing.failures_in_window
    assert after.aadhaar == before.aadhaar


@pytest.mark.parametrize(
    "answer",
    [
        OtpNotVerified(F.RATE_LIMITED),
        OtpNotVerified(F.IN_PROGRESS),
        OtpNotVerified(F.PROVIDER_DOWN),
        OtpNotVerified(F.MISCONFIGURED),
        OtpNotVerified(F.OUT_OF_QUOTA),
        DeadlinePassed(),
    ],
    ids=lambda event: getattr(event, "failure", "deadline"),
)
def test_a_provider_fault_on_verify_keeps_the_attempt(answer: Event) -> None:
    before, _ = walk(*VERIFYING)

    after = decide(before, answer, seconds(160), RULES).session

    assert after.state is S.AWAIT_OTP
    assert after.otp_attempts_left == 3
    assert after.otp_reference == REFERENCE
    assert after.standing.failures_in_window == 0


def test_daily_limit_locks_until_the_window_that_started_with_the_first_otp_ends() -> None:
    session, _ = walk(*DAILY_LIMIT_PATH, At(260, ResendRequested()))

    assert session.state is S.LOCKED
    assert session.standing.locked_until == NOW + DAY
    assert session.standing.is_locked(NOW + DAY - timedelta(microseconds=1))
    assert not session.standing.is_locked(NOW + DAY)


def test_failures_below_the_limit_set_no_lock() -> None:
    session, _ = walk(*failed_verification(0), *failed_verification(10))

    assert session.standing.failures_today(seconds(10)) == 2
    assert session.standing.locked_until is None


def test_repeated_failed_verifications_lock_the_user() -> None:
    session, _ = walk(*failed_verification(0), *failed_verification(10), *failed_verification(20))

    assert session.standing.locked_until == seconds(20 + RULES.lockout_seconds)


def test_a_dropped_field_is_shown_as_not_stored() -> None:
    rules = Rules(field_policy=replace(RULES.field_policy, gender=GenderPolicy.DROP))
    before, _ = walk(*VERIFYING, rules=rules)

    decision = decide(before, KycVerified(KYC), seconds(100), rules)

    record_line = next(
        line for reply in _replies(decision) for line in reply.lines if line.prompt is K.RECORD
    )
    assert record_line.params["gender"] == K.RECORD_NOT_STORED
    assert decision.session.standing.record == replace(RECORD, gender=None)


# --- endings -----------------------------------------------------------------------------------

ENDINGS = {
    "cancelled-at-otp": (*AWAITING, CancelRequested()),
    "cancelled-while-verifying": (*VERIFYING, CancelRequested()),
    "started-over-at-resend": (*RESENDING, StartOverChosen()),
    "timed-out-at-confirm": (*CONFIRMING, At(900, DeadlinePassed())),
    "timed-out-at-otp": (*AWAITING, At(900, DeadlinePassed())),
    "declined": (*STARTED, ConsentDeclined()),
    "failed-on-numbers": failed_verification(0),
    "failed-on-otps": (*LAST_VERIFYING, WRONG, TYPE_OTP, WRONG, TYPE_OTP, WRONG),
    "locked-by-daily-limit": (*DAILY_LIMIT_PATH, At(260, ResendRequested())),
    "verified": VERIFIED,
}


@pytest.mark.parametrize("path", ENDINGS.values(), ids=ENDINGS.keys())
def test_an_ended_verification_keeps_no_secret_and_no_deadline(path: tuple[Step, ...]) -> None:
    session, _ = walk(*path)

    assert session.state in TERMINAL_STATES
    assert session.aadhaar is None
    assert session.otp_reference is None
    assert session.otp_expires_at is None
    assert session.resend_at is None
    assert session.idle_expires_at is None
    assert session.call_expires_at is None
    assert next_deadline(session) is None


@pytest.mark.parametrize("ending", [CancelRequested(), DeadlinePassed()], ids=["cancel", "idle"])
@pytest.mark.parametrize("state", list(LIVE_PATHS), ids=[state.value for state in LIVE_PATHS])
def test_ending_any_step_wipes_what_was_typed(state: State, ending: Event) -> None:
    before, clock = walk(*LIVE_PATHS[state])
    if state not in {S.AWAIT_CONSENT, S.AWAIT_AADHAAR}:
        assert before.aadhaar is not None
    now = before.idle_expires_at if isinstance(ending, DeadlinePassed) else clock
    assert now is not None

    after = decide(before, ending, now, RULES).session

    assert after.state is (S.TIMED_OUT if isinstance(ending, DeadlinePassed) else S.CANCELLED)
    assert after.aadhaar is None
    assert after.otp_reference is None


def test_idle_timeout_is_said_once() -> None:
    timed_out, _ = walk(*CONFIRMING, At(900, DeadlinePassed()))
    assert timed_out.state is S.TIMED_OUT

    again = decide(timed_out, DeadlinePassed(), seconds(1800), RULES)
    after_resume = decide(resume(timed_out), DeadlinePassed(), seconds(1800), RULES)

    assert again.effects == ()
    assert again.session == timed_out
    assert after_resume.effects == ()
    assert after_resume.session.state is S.IDLE


def test_start_over_begins_a_new_verification_at_the_consent() -> None:
    ended, _ = walk(*AWAITING, StartOverChosen())

    fresh = decide(resume(ended), StartRequested(), NOW, RULES)

    assert fresh.session.state is S.AWAIT_CONSENT
    assert fresh.session.aadhaar is None
    assert fresh.session.otp_sends == 0
    assert fresh.session.standing.otp_requests_today(NOW) == 1


def test_change_number_forgets_the_number() -> None:
    session, _ = walk(*CONFIRMING, NumberChangeChosen())

    assert session.state is S.AWAIT_AADHAAR
    assert session.aadhaar is None


def test_accepted_number_is_kept_for_the_request() -> None:
    session, _ = walk(*CONSENTED, TextSent(in_script(NUMBER, "٠")))

    assert session.aadhaar == AadhaarNumber(NUMBER)


# --- deadlines the sweeper watches ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "due"),
    [
        pytest.param(STARTED, 900, id="await-consent-idle"),
        pytest.param((*CONFIRMING, At(30, NumberChangeChosen())), 930, id="idle-restarts"),
        pytest.param(REQUESTING, 60, id="requesting-call"),
        pytest.param(AWAITING, 600, id="await-otp-expiry"),
        pytest.param((*AWAITING, At(500, HelpRequested())), 600, id="otp-expiry-before-idle"),
        pytest.param(VERIFYING, 160, id="verifying-call"),
        pytest.param(RESENDING, 1000, id="await-resend-idle"),
        pytest.param((*AWAITING, At(600, DeadlinePassed())), 900, id="deadline-keeps-idle"),
    ],
)
def test_next_deadline(path: tuple[Step, ...], due: float) -> None:
    session, _ = walk(*path)

    assert next_deadline(session) == seconds(due)


def test_next_deadline_idle_is_none() -> None:
    assert next_deadline(Session()) is None
    assert next_deadline(walk(HelpRequested())[0]) is None


# --- regressions: bugs these tests found in flows/ -------------------------------------------


def test_stale_resend_button_does_not_end_a_verification_whose_otp_is_still_usable() -> None:
    # All three OTPs are sent and the last one is alive; the user taps "Send a new OTP" under
    # an older message. The verification must go on: NO_SENDS_LEFT ("...so it has ended") is false.
    before, _ = walk(*LAST_AWAITING)

    decision = decide(before, ResendRequested(), seconds(200), RULES)

    assert decision.session.state is S.AWAIT_OTP
    assert decision.session.otp_reference == "otp-session-3"
    assert decision.session.otp_attempts_left == 3


@pytest.mark.parametrize("failure", [F.OTP_EXPIRED, F.SESSION_INVALID])
def test_otp_the_provider_declared_dead_is_not_offered_again_after_a_failed_resend(
    failure: ProviderFailure,
) -> None:
    # The provider says the OTP session is over; a resend then fails for a provider fault.
    # The user must be offered a new OTP again, not asked to type the dead one.
    session, _ = walk(
        *VERIFYING,
        OtpNotVerified(failure),
        At(110, ResendRequested()),
        OtpNotSent(F.PROVIDER_DOWN),
    )

    assert session.state is S.AWAIT_RESEND


def test_resend_right_after_a_rate_limited_resend_waits_for_the_provider() -> None:
    # The user was just told "try again in 120 seconds"; the Resend button must honour that
    # instead of calling the rate-limited provider again at once.
    before, _ = walk(
        *AWAITING,
        At(60, ResendRequested()),
        OtpNotSent(F.RATE_LIMITED, retry_after_seconds=120),
    )

    decision = decide(before, ResendRequested(), seconds(61), RULES)

    assert seen(decision) == Seen(
        S.AWAIT_OTP, "resend_too_early", (wait(119),), (B.RESEND,), InputHint.OTP
    )


# --- any sequence of events -----------------------------------------------------------------------

POOL: tuple[Event, ...] = (
    StartRequested(),
    HelpRequested(),
    StatusRequested(),
    CancelRequested(),
    UnknownCommandSent(),
    UnsupportedMessageSent(),
    ConsentGiven(),
    ConsentDeclined(),
    NumberConfirmed(),
    NumberChangeChosen(),
    ResendRequested(),
    StartOverChosen(),
    TextSent(NUMBER),
    TextSent(BAD_NUMBER),
    TextSent(OTP_TEXT),
    TextSent("48291"),
    TextSent("hello"),
    OtpSent(REFERENCE),
    KycVerified(KYC),
    DeadlinePassed(),
    OtpNotSent(F.RATE_LIMITED, retry_after_seconds=90),
    OtpNotSent(F.IN_PROGRESS, retry_after_seconds=5),
    *(OtpNotSent(failure) for failure in F),
    *(OtpNotVerified(failure) for failure in F),
    OtpMethodChosen(),
    DigiLockerChosen(),
    DigiLockerStarted(URL),
    DigiLockerReturned(CODE),
    DigiLockerVerified(REFERENCE_KEY, KEY_EXPIRES),
    DigiLockerNotStarted(F.RATE_LIMITED, retry_after_seconds=90),
    *(DigiLockerNotStarted(failure) for failure in F),
    *(DigiLockerNotVerified(failure) for failure in F),
)
# The methods configured both ways: the default (Aadhaar OTP only), both, DigiLocker only.
POOL_RULES = (RULES, BOTH, DIGILOCKER_FIRST, DIGILOCKER_ONLY)
DIGILOCKER_STATES = frozenset(
    {S.AWAIT_METHOD, S.STARTING_DIGILOCKER, S.AWAIT_DIGILOCKER, S.FETCHING_DIGILOCKER}
)
DIGILOCKER_ANSWERS = (
    DigiLockerStarted,
    DigiLockerNotStarted,
    DigiLockerReturned,
    DigiLockerVerified,
    DigiLockerNotVerified,
)
GAPS = (0, 0, 0, 0, 1, 20, 61, 61, 200, 601, 901, 86_400)
# Ending a verification on purpose is left to the random picks, deadlines to the sweeper.
_NOT_MOVING_ON = (CancelRequested, StartOverChosen, ConsentDeclined, DeadlinePassed)


def _moving_on(session: Session, now: datetime, rules: Rules) -> list[Event]:
    """Events that would take `session` to another state now: a walk that mostly goes somewhere."""
    moving = []
    for event in POOL:
        if isinstance(event, _NOT_MOVING_ON):
            continue
        context = Context(session=session, event=event, now=now, rules=rules)
        row = next((row for row in TABLE if row.matches(context)), None)
        if row is not None and row.target not in {None, session.state}:
            moving.append(event)
    return moving


def _check_invariants(
    before: Session, event: Event, decision: Decision, now: datetime, rules: Rules
) -> None:
    session = decision.session
    if isinstance(event, TextSent) and looks_sensitive(event.text):
        assert DeleteUserMessage() in decision.effects
    if not isinstance(event, TextSent):
        assert DeleteUserMessage() not in decision.effects
    if session.state in TERMINAL_STATES:
        assert session.aadhaar is None
        assert session.otp_reference is None
        assert next_deadline(session) is None
    if session.is_live:
        assert session.idle_expires_at is not None
        assert next_deadline(session) is not None
    if session.state in {S.AWAIT_CONFIRM, S.REQUESTING_OTP}:
        assert session.aadhaar is not None
    if session.state in {S.AWAIT_OTP, S.VERIFYING_OTP}:
        assert session.otp_reference is not None
        assert session.otp_expires_at is not None
        assert session.otp_attempts_left > 0
    if session.state in BUSY_STATES:
        assert session.call_expires_at is not None
    if session.state is S.AWAIT_DIGILOCKER:
        assert session.digilocker_url is not None
        assert session.digilocker_expires_at is not None
    else:
        assert session.digilocker_url is None
        assert session.digilocker_expires_at is None
    if Method.DIGILOCKER not in rules.methods:
        # The default rules behave as before DigiLocker existed.
        assert session.state not in DIGILOCKER_STATES
        assert session.standing.digilocker_verified_at is None
    if isinstance(event, DigiLockerReturned) and before.state is not S.AWAIT_DIGILOCKER:
        # A replayed callback changes nothing and says nothing.
        assert (decision.session, decision.effects) == (before, ())
    if isinstance(event, (OtpMethodChosen, DigiLockerChosen, *DIGILOCKER_ANSWERS)):
        # Nothing on the DigiLocker path counts against the user.
        assert session.otp_sends == before.otp_sends
        assert session.invalid_entries == before.invalid_entries
        assert session.standing.failures_in_window == before.standing.failures_in_window
        assert session.standing.otp_requests_in_window == before.standing.otp_requests_in_window
        assert session.standing.locked_until == before.standing.locked_until
    assert 0 <= session.otp_attempts_left <= rules.otp_attempts
    assert session.otp_sends <= rules.max_otp_sends
    assert session.invalid_entries <= rules.max_invalid_entries
    assert session.standing.otp_requests_today(now) <= rules.max_otp_requests_per_day
    for effect in decision.effects:
        if isinstance(effect, RequestOtp):
            # A second tap or message while a request runs never asks for a second OTP.
            assert before.state in {S.AWAIT_CONFIRM, S.AWAIT_OTP, S.AWAIT_RESEND}
            assert session.state is S.REQUESTING_OTP
            assert not before.standing.is_locked(now)
            assert effect.aadhaar == session.aadhaar
        if isinstance(effect, VerifyOtp):
            assert session.state is S.VERIFYING_OTP
            assert effect.reference == session.otp_reference
        if isinstance(effect, StartDigiLocker):
            assert before.state in {S.AWAIT_CONSENT, S.AWAIT_METHOD, S.AWAIT_DIGILOCKER}
            assert session.state is S.STARTING_DIGILOCKER
            assert Method.DIGILOCKER in rules.methods
        if isinstance(effect, FetchDigiLockerReference):
            assert before.state is S.AWAIT_DIGILOCKER
            assert session.state is S.FETCHING_DIGILOCKER
            assert isinstance(event, DigiLockerReturned)
            assert effect.code == event.code
        if isinstance(effect, SaveDigiLockerResult):
            assert before.state is S.FETCHING_DIGILOCKER
            assert session.state is S.VERIFIED
            assert effect.verified_at == now
        if isinstance(effect, Reply):
            assert effect.lines
            for line in effect.lines:
                assert set(line.params) == CATALOGUE[line.prompt].placeholders


@settings(max_examples=200)
@given(st.data())
def test_any_sequence_of_events_keeps_the_session_consistent(data: st.DataObject) -> None:
    session, now = Session(), NOW
    rules = data.draw(st.sampled_from(POOL_RULES), label="rules")
    for _ in range(data.draw(st.integers(1, 30), label="steps")):
        session = resume(session)
        pick = data.draw(st.integers(0, 9), label="pick")
        if session.is_live and pick == 0:
            # The sweeper wakes at the session's deadline: something must then be due.
            due = next_deadline(session)
            assert due is not None
            now = max(now, due)
            event: Event = DeadlinePassed()
            decision = decide(session, event, now, rules)
            assert decision.outcome not in {"not_due", "ignored"}, session.state
        else:
            now += timedelta(seconds=data.draw(st.sampled_from(GAPS), label="gap"))
            choices = (pick > 2 and _moving_on(session, now, rules)) or POOL
            kind = data.draw(st.sampled_from(sorted({type(e) for e in choices}, key=str)))
            event = data.draw(st.sampled_from([e for e in choices if type(e) is kind]))
            decision = decide(session, event, now, rules)
        _check_invariants(session, event, decision, now, rules)
        session = decision.session
