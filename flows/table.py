"""The transition table: the whole conversation as data, first matching row wins."""

from __future__ import annotations

from collections.abc import Iterable

from flows import actions as a
from flows import digilocker_actions as d
from flows import erasure_actions as e
from flows import guards as g
from flows import otp_actions as o
from flows.catalogue import PromptKey
from flows.events import (
    ButtonExpired,
    CancelRequested,
    ConsentDeclined,
    ConsentGiven,
    DeadlinePassed,
    DigiLockerChosen,
    DigiLockerNotStarted,
    DigiLockerNotVerified,
    DigiLockerReturned,
    DigiLockerStarted,
    DigiLockerVerified,
    Event,
    HelpRequested,
    KycVerified,
    NumberChangeChosen,
    NumberConfirmed,
    OtpMethodChosen,
    OtpNotSent,
    OtpNotVerified,
    OtpSent,
    ProviderFailure,
    ResendRequested,
    StartOverChosen,
    StartRequested,
    StatusRequested,
    TextSent,
    UnknownCommandSent,
    UnsupportedMessageSent,
)
from flows.machine import Action, Context, Guard, Transition, always
from flows.rules import Method
from flows.states import LIVE_STATES, State

__all__ = ["TABLE"]

S = State
K = PromptKey
F = ProviderFailure
LIVE = LIVE_STATES


def _in(*states: State) -> frozenset[State]:
    return frozenset(states)


def _not(guard: Guard) -> Guard:
    return lambda context: not guard(context)


def _all(*guards: Guard) -> Guard:
    return lambda context: all(guard(context) for guard in guards)


def failure_is(*failures: ProviderFailure) -> Guard:
    """The provider answer is one of `failures`."""

    def guard(context: Context) -> bool:
        event = context.event
        failed = OtpNotSent | OtpNotVerified | DigiLockerNotStarted | DigiLockerNotVerified
        return isinstance(event, failed) and event.failure in failures

    return guard


def _back_from_request(context: Context) -> State:
    # A failed OTP request returns to where it was asked for: the confirmation, a still usable
    # OTP, or the offer of a new one.
    if context.session.otp_reference is None:
        return S.AWAIT_CONFIRM
    return S.AWAIT_OTP if g.otp_alive(context) else S.AWAIT_RESEND


def back_to(state: State) -> Guard:
    """The failed request returns to `state`."""
    return lambda context: _back_from_request(context) is state


def request_failed(outcome: str, guard: Guard, action: Action) -> Iterable[Transition]:
    """The rows that send a failed OTP request back to where it came from."""
    for state in (S.AWAIT_CONFIRM, S.AWAIT_OTP, S.AWAIT_RESEND):
        yield Transition(
            _in(S.REQUESTING_OTP),
            (OtpNotSent, DeadlinePassed),
            outcome,
            state,
            _all(guard, back_to(state)),
            action,
        )


def otp_request_rows(
    sources: frozenset[State], event: type[Event], *, otp_usable: bool = False
) -> Iterable[Transition]:
    """Asking for an OTP, from the confirmation or as a resend: every limit checked in order.

    While the last OTP is still usable (`otp_usable`) the resend button is only offered with
    sends left, so a press without any is an old button: the fallback answers it and the OTP
    stays usable. Elsewhere running out of sends ends the verification.
    """
    guards: tuple[Guard, ...] = (g.has_sends_left,) if otp_usable else ()
    if not otp_usable:
        yield Transition(
            sources, (event,), "no_sends_left", S.FAILED, g.no_sends_left, o.no_sends_left
        )
    rows = (
        ("resend_too_early", None, g.cooling_down, o.wait_for_resend),
        ("daily_limit", S.LOCKED, g.daily_limit_reached, o.daily_limit),
        ("otp_requested", S.REQUESTING_OTP, always, o.request_otp),
    )
    for outcome, target, guard, action in rows:
        yield Transition(sources, (event,), outcome, target, _all(*guards, guard), action)


def _unexpected_deadline(context: Context) -> bool:
    return isinstance(context.event, DeadlinePassed) and g.call_expired(context)


def digilocker_failed(source: State, answer: type[Event]) -> Iterable[Transition]:
    """The rows that send a failed DigiLocker call back to the choice of method.

    The same messages as a failed OTP call, and nothing is counted: the user can choose again.
    """
    rows = (
        (
            "rate_limited",
            failure_is(F.RATE_LIMITED),
            o.come_back_later(K.PROVIDER_RATE_LIMITED, wait=True),
        ),
        (
            "provider_unavailable",
            failure_is(F.MISCONFIGURED, F.OUT_OF_QUOTA),
            o.come_back_later(K.PROVIDER_UNAVAILABLE),
        ),
        ("provider_no_answer", _unexpected_deadline, o.come_back_later(K.PROVIDER_NO_ANSWER)),
        (
            "provider_down",
            lambda context: isinstance(context.event, answer),
            o.come_back_later(K.PROVIDER_DOWN),
        ),
    )
    for outcome, guard, action in rows:
        yield Transition(
            _in(source), (answer, DeadlinePassed), outcome, S.AWAIT_METHOD, guard, action
        )


_START = (StartRequested, StartOverChosen)
_CHOOSING = _in(S.AWAIT_METHOD, S.AWAIT_DIGILOCKER)
_OTP_DEAD_TARGETS = ((S.AWAIT_RESEND, g.has_sends_left), (S.FAILED, g.no_sends_left))

TABLE: tuple[Transition, ...] = (
    # A button of an earlier step (the runner compares the step it was sent at).
    Transition(
        LIVE | {S.IDLE}, (ButtonExpired,), "step_over", None, action=a.then_prompt(K.STEP_OVER)
    ),
    # --- erasure of the user's data, asked for and confirmed from any state ------------------
    *e.ERASURE_ROWS,
    # --- no verification in progress ---------------------------------------------------------
    Transition(_in(S.IDLE), _START, "locked", None, g.is_locked, a.say_locked),
    Transition(_in(S.IDLE), _START, "already_verified", None, g.is_verified, a.say_verified),
    Transition(_in(S.IDLE), _START, "started", S.AWAIT_CONSENT, action=a.begin),
    Transition(_in(S.IDLE), (StatusRequested,), "status", None, action=a.idle_status),
    Transition(
        _in(S.IDLE),
        (CancelRequested,),
        "nothing_to_cancel",
        None,
        action=a.say(K.NOTHING_TO_CANCEL),
    ),
    Transition(_in(S.IDLE), (HelpRequested,), "help", None, action=a.say(K.HELP)),
    Transition(_in(S.IDLE), (TextSent,), "start_hint", None, action=a.idle_text),
    Transition(
        _in(S.IDLE),
        (UnknownCommandSent,),
        "unknown_command",
        None,
        action=a.then_prompt(K.UNKNOWN_COMMAND),
    ),
    Transition(
        _in(S.IDLE),
        (UnsupportedMessageSent,),
        "unsupported",
        None,
        action=a.unsupported,
    ),
    Transition(_in(S.IDLE), (DeadlinePassed,), "not_due", None, action=a.ignore),
    # --- any step of a verification ------------------------------------------------------------
    Transition(LIVE, (CancelRequested,), "cancelled", S.CANCELLED, action=a.cancelled),
    Transition(LIVE, (DeadlinePassed,), "idle_timeout", S.TIMED_OUT, g.idle_expired, a.timed_out),
    Transition(LIVE, (StartRequested,), "in_progress", None, action=a.in_progress),
    Transition(LIVE, (StartOverChosen,), "started_over", S.CANCELLED, action=a.start_over),
    Transition(LIVE, (HelpRequested,), "help", None, action=a.then_prompt(K.HELP)),
    Transition(
        LIVE, (StatusRequested,), "status", None, action=a.then_prompt(K.STATUS_IN_PROGRESS)
    ),
    Transition(
        LIVE,
        (UnknownCommandSent,),
        "unknown_command",
        None,
        action=a.then_prompt(K.UNKNOWN_COMMAND),
    ),
    Transition(
        LIVE,
        (UnsupportedMessageSent,),
        "unsupported",
        None,
        action=a.unsupported,
    ),
    # --- consent ---------------------------------------------------------------------------------
    Transition(
        _in(S.AWAIT_CONSENT),
        (ConsentGiven,),
        "consent_given",
        S.AWAIT_METHOD,
        g.several_methods,
        a.consent_given,
    ),
    Transition(
        _in(S.AWAIT_CONSENT),
        (ConsentGiven,),
        "consent_given",
        S.STARTING_DIGILOCKER,
        g.offers(Method.DIGILOCKER),
        d.consent_then_digilocker,
    ),
    Transition(
        _in(S.AWAIT_CONSENT),
        (ConsentGiven,),
        "consent_given",
        S.AWAIT_AADHAAR,
        action=a.consent_given,
    ),
    Transition(
        _in(S.AWAIT_CONSENT),
        (ConsentDeclined,),
        "consent_declined",
        S.DECLINED,
        action=a.consent_declined,
    ),
    # --- how to verify: asked when several methods are offered, and offered again under the link
    Transition(
        _CHOOSING,
        (OtpMethodChosen,),
        "otp_chosen",
        S.AWAIT_AADHAAR,
        g.offers(Method.AADHAAR_OTP),
        d.ask_number,
    ),
    Transition(
        _CHOOSING,
        (DigiLockerChosen,),
        "digilocker_chosen",
        S.STARTING_DIGILOCKER,
        g.offers(Method.DIGILOCKER),
        d.start_digilocker,
    ),
    # A button of a method the operator no longer offers.
    Transition(
        _CHOOSING,
        (OtpMethodChosen, DigiLockerChosen),
        "method_unavailable",
        None,
        action=a.then_prompt(K.METHOD_UNAVAILABLE),
    ),
    # --- DigiLocker ------------------------------------------------------------------------------
    Transition(
        _in(S.STARTING_DIGILOCKER),
        (DigiLockerStarted,),
        "digilocker_started",
        S.AWAIT_DIGILOCKER,
        action=d.link_ready,
    ),
    *digilocker_failed(S.STARTING_DIGILOCKER, DigiLockerNotStarted),
    # A return after the deadline but before the sweep is still traded: the provider decides.
    # In any other state a return (a replayed callback) has no row, so `decide` drops it.
    Transition(
        _in(S.AWAIT_DIGILOCKER),
        (DigiLockerReturned,),
        "digilocker_returned",
        S.FETCHING_DIGILOCKER,
        action=d.fetch_reference,
    ),
    Transition(
        _in(S.AWAIT_DIGILOCKER),
        (DeadlinePassed,),
        "digilocker_expired",
        S.AWAIT_METHOD,
        g.digilocker_expired,
        a.then_prompt(K.DIGILOCKER_EXPIRED),
    ),
    Transition(
        _in(S.FETCHING_DIGILOCKER), (DigiLockerVerified,), "verified", S.VERIFIED, action=d.verified
    ),
    Transition(
        _in(S.FETCHING_DIGILOCKER),
        (DigiLockerNotVerified,),
        "digilocker_not_completed",
        S.AWAIT_METHOD,
        failure_is(F.SESSION_INVALID),
        a.then_prompt(K.DIGILOCKER_NOT_COMPLETED),
    ),
    *digilocker_failed(S.FETCHING_DIGILOCKER, DigiLockerNotVerified),
    # --- the number ------------------------------------------------------------------------------
    Transition(
        _in(S.AWAIT_AADHAAR, S.AWAIT_CONFIRM),
        (TextSent,),
        "number_accepted",
        S.AWAIT_CONFIRM,
        g.aadhaar_valid,
        a.number_accepted,
    ),
    # The number could not be read back (the encryption key changed): ask for it again.
    Transition(
        _in(S.AWAIT_CONFIRM, S.AWAIT_OTP, S.AWAIT_RESEND),
        (TextSent, NumberConfirmed, ResendRequested),
        "number_missing",
        S.AWAIT_AADHAAR,
        g.number_missing,
        o.ask_number_again,
    ),
    Transition(
        _in(S.AWAIT_AADHAAR),
        (TextSent,),
        "too_many_invalid_numbers",
        S.FAILED,
        g.last_invalid_entry,
        a.too_many_invalid,
    ),
    Transition(
        _in(S.AWAIT_AADHAAR), (TextSent,), "number_rejected", None, action=a.number_rejected
    ),
    Transition(
        _in(S.AWAIT_CONFIRM),
        (NumberChangeChosen,),
        "number_change",
        S.AWAIT_AADHAAR,
        action=a.change_number,
    ),
    *otp_request_rows(_in(S.AWAIT_CONFIRM), NumberConfirmed),
    # --- the provider's answer to an OTP request --------------------------------------------------
    Transition(_in(S.REQUESTING_OTP), (OtpSent,), "otp_sent", S.AWAIT_OTP, action=o.otp_sent),
    Transition(
        _in(S.REQUESTING_OTP),
        (OtpNotSent,),
        "too_many_invalid_numbers",
        S.FAILED,
        _all(failure_is(F.INVALID_AADHAAR), g.last_invalid_entry),
        o.provider_rejected_last_number,
    ),
    Transition(
        _in(S.REQUESTING_OTP),
        (OtpNotSent,),
        "provider_invalid_aadhaar",
        S.AWAIT_AADHAAR,
        failure_is(F.INVALID_AADHAAR),
        o.provider_rejected_number,
    ),
    Transition(
        _in(S.REQUESTING_OTP),
        (OtpNotSent,),
        "no_mobile_linked",
        S.AWAIT_AADHAAR,
        failure_is(F.NO_MOBILE_LINKED),
        o.no_mobile_linked,
    ),
    *request_failed(
        "rate_limited",
        failure_is(F.RATE_LIMITED),
        o.come_back_later(K.PROVIDER_RATE_LIMITED, wait=True),
    ),
    *request_failed(
        "provider_busy",
        failure_is(F.IN_PROGRESS),
        o.come_back_later(K.PROVIDER_IN_PROGRESS, wait=True),
    ),
    *request_failed(
        "provider_unavailable",
        failure_is(F.MISCONFIGURED, F.OUT_OF_QUOTA),
        o.come_back_later(K.PROVIDER_UNAVAILABLE),
    ),
    *request_failed(
        "provider_no_answer", _unexpected_deadline, o.come_back_later(K.PROVIDER_NO_ANSWER)
    ),
    # Sent but never answered: an SMS may be on its way, so the next request waits the cooldown.
    *request_failed(
        "provider_uncertain",
        failure_is(F.UNCERTAIN),
        o.come_back_later(K.PROVIDER_UNCERTAIN, wait=True),
    ),
    *request_failed(
        "provider_down",
        lambda context: isinstance(context.event, OtpNotSent),
        o.come_back_later(K.PROVIDER_DOWN),
    ),
    # --- the OTP ---------------------------------------------------------------------------------
    Transition(
        _in(S.AWAIT_OTP), (TextSent,), "otp_malformed", None, g.otp_malformed, o.otp_malformed
    ),
    *(
        Transition(
            _in(S.AWAIT_OTP),
            (TextSent, DeadlinePassed),
            "otp_expired",
            target,
            _all(g.otp_expired, guard),
            o.otp_dead(K.OTP_EXPIRED)
            if target is S.AWAIT_RESEND
            else o.otp_dead_final(K.OTP_EXPIRED, counted=False),
        )
        for target, guard in _OTP_DEAD_TARGETS
    ),
    Transition(_in(S.AWAIT_OTP), (TextSent,), "otp_entered", S.VERIFYING_OTP, action=o.verify_otp),
    *otp_request_rows(_in(S.AWAIT_OTP), ResendRequested, otp_usable=True),
    *otp_request_rows(_in(S.AWAIT_RESEND), ResendRequested),
    # --- the provider's answer to an OTP check -------------------------------------------------
    Transition(
        _in(S.VERIFYING_OTP),
        (KycVerified,),
        "number_missing",
        S.AWAIT_AADHAAR,
        g.number_missing,
        o.ask_number_again,
    ),
    Transition(_in(S.VERIFYING_OTP), (KycVerified,), "verified", S.VERIFIED, action=o.verified),
    Transition(
        _in(S.VERIFYING_OTP),
        (OtpNotVerified,),
        "wrong_otp",
        S.AWAIT_OTP,
        _all(failure_is(F.WRONG_OTP), _not(g.last_attempt)),
        o.wrong_otp,
    ),
    Transition(
        _in(S.VERIFYING_OTP),
        (OtpNotVerified,),
        "otp_attempts_used",
        S.AWAIT_RESEND,
        _all(failure_is(F.WRONG_OTP), g.has_sends_left),
        o.otp_dead(K.OTP_ATTEMPTS_USED),
    ),
    Transition(
        _in(S.VERIFYING_OTP),
        (OtpNotVerified,),
        "otp_attempts_used",
        S.FAILED,
        failure_is(F.WRONG_OTP),
        o.otp_dead_final(K.OTP_ATTEMPTS_USED, counted=True),
    ),
    *(
        Transition(
            _in(S.VERIFYING_OTP),
            (OtpNotVerified,),
            failure.value,
            target,
            _all(failure_is(failure), guard),
            o.otp_dead(prompt)
            if target is S.AWAIT_RESEND
            else o.otp_dead_final(prompt, counted=False),
        )
        for failure, prompt in (
            (F.OTP_EXPIRED, K.OTP_EXPIRED),
            (F.SESSION_INVALID, K.OTP_SESSION_INVALID),
        )
        for target, guard in _OTP_DEAD_TARGETS
    ),
    Transition(
        _in(S.VERIFYING_OTP),
        (OtpNotVerified,),
        "rate_limited",
        S.AWAIT_OTP,
        failure_is(F.RATE_LIMITED),
        o.come_back_later(K.PROVIDER_RATE_LIMITED, wait=True),
    ),
    Transition(
        _in(S.VERIFYING_OTP),
        (OtpNotVerified,),
        "provider_busy",
        S.AWAIT_OTP,
        failure_is(F.IN_PROGRESS),
        o.come_back_later(K.PROVIDER_IN_PROGRESS, wait=True),
    ),
    Transition(
        _in(S.VERIFYING_OTP),
        (OtpNotVerified,),
        "provider_unavailable",
        S.AWAIT_OTP,
        failure_is(F.MISCONFIGURED, F.OUT_OF_QUOTA),
        o.come_back_later(K.PROVIDER_UNAVAILABLE),
    ),
    Transition(
        _in(S.VERIFYING_OTP),
        (OtpNotVerified,),
        "provider_down",
        S.AWAIT_OTP,
        action=o.come_back_later(K.PROVIDER_DOWN),
    ),
    Transition(
        _in(S.VERIFYING_OTP),
        (DeadlinePassed,),
        "provider_no_answer",
        S.AWAIT_OTP,
        g.call_expired,
        o.come_back_later(K.PROVIDER_NO_ANSWER),
    ),
    # --- whatever is left ------------------------------------------------------------------------
    Transition(LIVE, (DeadlinePassed,), "not_due", None, action=a.ignore),
    Transition(LIVE, (TextSent,), "use_buttons", None, action=a.use_buttons),
)
