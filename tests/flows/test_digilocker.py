"""DigiLocker, the second way to verify: the session behind the replies `test_decide` checks.

The cases of `test_decide` show what the user sees at each DigiLocker step; these tests look at
the link and its clock, what a replayed callback does, and that the default rules (Aadhaar OTP
only) never reach any of it.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from flows import (
    LIVE_STATES,
    TERMINAL_STATES,
    ButtonAction,
    CancelRequested,
    DeadlinePassed,
    DigiLockerChosen,
    DigiLockerNotStarted,
    DigiLockerNotVerified,
    DigiLockerReturned,
    DigiLockerStarted,
    DigiLockerVerified,
    Event,
    FetchDigiLockerReference,
    HelpRequested,
    LinkButton,
    Method,
    OtpMethodChosen,
    PromptKey,
    ProviderFailure,
    Rules,
    SaveDigiLockerResult,
    Session,
    StartDigiLocker,
    State,
    StatusRequested,
    decide,
    event_for_button,
    next_deadline,
)
from tests.flows.test_decide import (
    AWAITING_DL,
    BOTH,
    CHOOSING,
    CODE,
    DIGILOCKER_ONLY,
    DIGILOCKER_STATES,
    DL_VERIFIED,
    EVERY_LIVE_PATH,
    FETCHING_DL,
    KEY_EXPIRES,
    LIVE_PATHS,
    REFERENCE_KEY,
    RULES,
    STARTED,
    STARTING_DL,
    URL,
    VERIFIED,
    At,
    Step,
    resume,
    seconds,
    walk,
)

F = ProviderFailure
S = State

PATH_IDS = [f"{state.value}-{'+'.join(rules.methods)}" for state, _, rules in EVERY_LIVE_PATH]


def test_default_rules_offer_aadhaar_otp_only() -> None:
    assert Rules().methods == (Method.AADHAAR_OTP,)
    assert Rules().digilocker_ttl_seconds == 600
    assert [method.value for method in Method] == ["aadhaar_otp", "digilocker"]


@pytest.mark.parametrize(
    ("action", "event"),
    [(ButtonAction.USE_OTP, OtpMethodChosen()), (ButtonAction.USE_DIGILOCKER, DigiLockerChosen())],
)
def test_method_buttons_stand_for_their_events(action: ButtonAction, event: Event) -> None:
    assert event_for_button(action) == event


# --- the link and its clock --------------------------------------------------------------------


def test_digilocker_started_starts_the_link_clock() -> None:
    session, _ = walk(*STARTING_DL, At(5, DigiLockerStarted(URL)), rules=BOTH)

    assert session.state is S.AWAIT_DIGILOCKER
    assert session.digilocker_url == URL
    assert session.digilocker_expires_at == seconds(5 + 600)
    assert session.call_expires_at is None
    assert session.idle_expires_at == seconds(5 + 900)


def test_starting_digilocker_sets_the_call_deadline() -> None:
    session, _ = walk(*CHOOSING, At(30, DigiLockerChosen()), rules=BOTH)

    assert session.call_expires_at == seconds(30 + 60)


LEAVING_THE_LINK = {
    "returned": (*AWAITING_DL, At(100, DigiLockerReturned(CODE))),
    "expired": (*AWAITING_DL, At(600, DeadlinePassed())),
    "new-link": (*AWAITING_DL, At(100, DigiLockerChosen())),
    "switched-to-otp": (*AWAITING_DL, At(100, OtpMethodChosen())),
    "cancelled": (*AWAITING_DL, At(100, CancelRequested())),
    "timed-out": (*AWAITING_DL, At(900, DeadlinePassed())),
}


@pytest.mark.parametrize("path", LEAVING_THE_LINK.values(), ids=LEAVING_THE_LINK.keys())
def test_leaving_the_link_step_forgets_the_link(path: tuple[Step, ...]) -> None:
    session, _ = walk(*path, rules=BOTH)

    assert session.state is not S.AWAIT_DIGILOCKER
    assert session.digilocker_url is None
    assert session.digilocker_expires_at is None


def test_a_new_link_replaces_the_old_one_with_a_fresh_clock() -> None:
    session, _ = walk(
        *AWAITING_DL,
        At(300, DigiLockerChosen()),
        DigiLockerStarted("https://digilocker.example/authorize?state=link-state-2"),
        rules=BOTH,
    )

    assert session.digilocker_url == "https://digilocker.example/authorize?state=link-state-2"
    assert session.digilocker_expires_at == seconds(300 + 600)


def test_help_and_status_keep_the_link() -> None:
    session, _ = walk(*AWAITING_DL, At(100, HelpRequested()), StatusRequested(), rules=BOTH)

    assert session.digilocker_url == URL
    assert session.digilocker_expires_at == seconds(600)


# --- nothing counts against the user -------------------------------------------------------------

DIGILOCKER_FAULTS: list[tuple[tuple[Step, ...], Step]] = [
    *((STARTING_DL, DigiLockerNotStarted(failure)) for failure in F),
    *((FETCHING_DL, DigiLockerNotVerified(failure)) for failure in F),
    (STARTING_DL, At(60, DeadlinePassed())),
    (FETCHING_DL, At(160, DeadlinePassed())),
    (AWAITING_DL, At(600, DeadlinePassed())),
]


@pytest.mark.parametrize(
    ("path", "answer"),
    DIGILOCKER_FAULTS,
    ids=[
        f"{walk(*path, rules=BOTH)[0].state.value}-{getattr(answer, 'failure', 'deadline')}"
        for path, answer in DIGILOCKER_FAULTS
    ],
)
def test_a_failed_digilocker_attempt_counts_nothing_and_offers_the_choice_again(
    path: tuple[Step, ...], answer: Step
) -> None:
    before, now = walk(*path, rules=BOTH)
    if isinstance(answer, At):
        now, answer = seconds(answer.seconds), answer.event

    after = decide(before, answer, now, BOTH).session

    assert after.state is S.AWAIT_METHOD
    assert after.standing == before.standing
    assert after.otp_sends == before.otp_sends
    assert after.invalid_entries == before.invalid_entries
    assert after.call_expires_at is None


# --- a replayed callback -------------------------------------------------------------------------


def _everywhere_but_the_link() -> list[tuple[str, Session, datetime]]:
    """Sessions at every state but AWAIT_DIGILOCKER, as the runner would load them."""
    sessions = [("idle", Session(), seconds(0))]
    for state, path, rules in EVERY_LIVE_PATH:
        if state is not S.AWAIT_DIGILOCKER:
            session, now = walk(*path, rules=rules)
            sessions.append((state.value, session, now))
    for name, path, rules in (
        ("verified-with-otp", VERIFIED, RULES),
        ("verified-with-digilocker", DL_VERIFIED, BOTH),
        ("cancelled-at-link", (*AWAITING_DL, CancelRequested()), BOTH),
    ):
        ended, now = walk(*path, rules=rules)
        assert ended.state in TERMINAL_STATES
        sessions.append((f"{name}-ended", ended, now))  # the row just saved
        sessions.append((f"{name}-idle", resume(ended), now))  # what the next update loads
    return sessions


ELSEWHERE = _everywhere_but_the_link()


def test_the_replay_sessions_cover_every_other_state() -> None:
    states = {session.state for _, session, _ in ELSEWHERE}
    assert states >= (LIVE_STATES | {S.IDLE}) - {S.AWAIT_DIGILOCKER}


@pytest.mark.parametrize("rules", [RULES, BOTH, DIGILOCKER_ONLY], ids=["otp", "both", "digilocker"])
@pytest.mark.parametrize(
    ("session", "now"),
    [(session, now) for _, session, now in ELSEWHERE],
    ids=[name for name, _, _ in ELSEWHERE],
)
def test_a_replayed_return_changes_nothing_and_says_nothing(
    session: Session, now: datetime, rules: Rules
) -> None:
    decision = decide(session, DigiLockerReturned(CODE), now, rules)

    assert decision.session == session
    assert decision.effects == ()
    assert decision.outcome == "ignored"


def test_the_return_is_taken_once() -> None:
    fetching, now = walk(*FETCHING_DL, rules=BOTH)

    again = decide(fetching, DigiLockerReturned(CODE), now, BOTH)

    assert again.effects == ()
    assert again.session == fetching


# --- the default rules ---------------------------------------------------------------------------

DIGILOCKER_EVENTS: list[Event] = [
    OtpMethodChosen(),
    DigiLockerChosen(),
    DigiLockerStarted(URL),
    DigiLockerNotStarted(F.PROVIDER_DOWN),
    DigiLockerReturned(CODE),
    DigiLockerVerified(REFERENCE_KEY, KEY_EXPIRES),
    DigiLockerNotVerified(F.SESSION_INVALID),
]
OTP_ONLY_SESSIONS = [("idle", ())] + [(state.value, path) for state, path in LIVE_PATHS.items()]


@pytest.mark.parametrize("event", DIGILOCKER_EVENTS, ids=lambda event: event.name)
@pytest.mark.parametrize(
    "path", [path for _, path in OTP_ONLY_SESSIONS], ids=[name for name, _ in OTP_ONLY_SESSIONS]
)
def test_the_default_rules_never_reach_digilocker(path: tuple[Step, ...], event: Event) -> None:
    before, now = walk(*path)

    decision = decide(before, event, now, RULES)

    assert decision.session.state not in DIGILOCKER_STATES
    assert decision.session == before
    assert decision.outcome in {"step_over", "ignored"}
    for effect in decision.effects:
        assert not isinstance(
            effect, StartDigiLocker | FetchDigiLockerReference | SaveDigiLockerResult
        )


# --- deadlines and endings -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "rules", "due"),
    [
        pytest.param(CHOOSING, BOTH, 900, id="await-method-idle"),
        pytest.param(STARTING_DL, BOTH, 60, id="starting-call"),
        pytest.param(AWAITING_DL, BOTH, 600, id="await-digilocker-link"),
        pytest.param((*AWAITING_DL, At(500, HelpRequested())), BOTH, 600, id="link-before-idle"),
        pytest.param(
            AWAITING_DL,
            Rules(methods=BOTH.methods, idle_timeout_seconds=300),
            300,
            id="idle-before-link",
        ),
        pytest.param(FETCHING_DL, BOTH, 160, id="fetching-call"),
        pytest.param((*AWAITING_DL, At(600, DeadlinePassed())), BOTH, 900, id="expired-keeps-idle"),
        pytest.param((*STARTED, At(10, HelpRequested())), DIGILOCKER_ONLY, 910, id="consent-idle"),
    ],
)
def test_next_deadline_of_the_digilocker_steps(
    path: tuple[Step, ...], rules: Rules, due: float
) -> None:
    session, _ = walk(*path, rules=rules)

    assert next_deadline(session) == seconds(due)


DIGILOCKER_ENDINGS = {
    "verified": DL_VERIFIED,
    "cancelled-at-link": (*AWAITING_DL, CancelRequested()),
    "cancelled-while-fetching": (*FETCHING_DL, CancelRequested()),
    "timed-out-at-method": (*CHOOSING, At(900, DeadlinePassed())),
    "timed-out-at-link": (*AWAITING_DL, At(900, DeadlinePassed())),
}


@pytest.mark.parametrize("path", DIGILOCKER_ENDINGS.values(), ids=DIGILOCKER_ENDINGS.keys())
def test_an_ended_digilocker_verification_keeps_no_link_and_no_deadline(
    path: tuple[Step, ...],
) -> None:
    session, _ = walk(*path, rules=BOTH)

    assert session.state in TERMINAL_STATES
    assert session.digilocker_url is None
    assert session.digilocker_expires_at is None
    assert session.call_expires_at is None
    assert session.idle_expires_at is None
    assert next_deadline(session) is None


def test_a_digilocker_verification_is_remembered_as_verified() -> None:
    session, _ = walk(*DL_VERIFIED, rules=BOTH)

    assert session.standing.digilocker_verified_at == seconds(100)
    assert session.standing.record is None
    assert resume(session).standing.is_verified


# --- nothing DigiLocker hands out shows in a repr ------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        DigiLockerStarted(URL),
        DigiLockerReturned(CODE),
        DigiLockerVerified(REFERENCE_KEY, KEY_EXPIRES),
        FetchDigiLockerReference(CODE),
        SaveDigiLockerResult(REFERENCE_KEY, KEY_EXPIRES, seconds(0)),
        LinkButton(PromptKey.BUTTON_OPEN_DIGILOCKER, URL),
        walk(*AWAITING_DL, rules=BOTH)[0],
    ],
    ids=lambda value: type(value).__name__,
)
def test_repr_hides_the_link_the_code_and_the_key(value: object) -> None:
    text = repr(value)

    for secret in (URL, "link-state-", CODE, REFERENCE_KEY):
        assert secret not in text
