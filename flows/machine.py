"""The transition type and the pure `decide` that applies the table to one event."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from flows.effects import Effect
from flows.events import DeadlinePassed, Event
from flows.rules import Rules
from flows.states import TERMINAL_STATES, Session, State

__all__ = ["BUSY_STATES", "Context", "Decision", "Transition", "next_deadline"]

# A provider call is in flight: call_expires_at releases the step if the answer never comes.
BUSY_STATES = frozenset(
    {
        State.REQUESTING_OTP,
        State.VERIFYING_OTP,
        State.STARTING_DIGILOCKER,
        State.FETCHING_DIGILOCKER,
    }
)


@dataclass(frozen=True)
class Context:
    """Everything a guard or an action may look at: the session before the event, and now."""

    session: Session
    event: Event
    now: datetime
    rules: Rules


Guard = Callable[[Context], bool]
# An action gets the session already moved to the target state and returns the final session
# with the effects to carry out.
Action = Callable[[Context, Session], tuple[Session, tuple[Effect, ...]]]


def always(_: Context) -> bool:
    """The guard of an unconditional transition."""
    return True


def no_effects(_: Context, moved: Session) -> tuple[Session, tuple[Effect, ...]]:
    """The action of a transition that only changes state."""
    return moved, ()


@dataclass(frozen=True)
class Transition:
    """One row of the table: in `sources`, on one of `events`, if `guard`, go to `target`.

    `target` None keeps the current state. `outcome` is the code recorded in the flow event.
    """

    sources: frozenset[State]
    events: tuple[type[Event], ...]
    outcome: str
    target: State | None = None
    guard: Guard = always
    action: Action = no_effects

    def matches(self, context: Context) -> bool:
        """Whether this row applies to the context."""
        return (
            context.session.state in self.sources
            and isinstance(context.event, self.events)
            and self.guard(context)
        )


@dataclass(frozen=True)
class Decision:
    """What `decide` concluded: the next session, what to do, and the outcome to record."""

    session: Session
    effects: tuple[Effect, ...]
    outcome: str


def apply(transition: Transition, context: Context) -> Decision:
    """Move the session along `transition`, keeping the deadlines and secrets consistent."""
    before = context.session
    target = transition.target or before.state
    moved = replace(before, state=target)
    if target in BUSY_STATES and before.state not in BUSY_STATES:
        moved = replace(moved, call_expires_at=context.now + _call_timeout(context.rules))
    elif target not in BUSY_STATES:
        moved = replace(moved, call_expires_at=None)
    if target is not State.AWAIT_DIGILOCKER:
        # The link belongs to the step that shows it: a step that moves on spends it.
        moved = replace(moved, digilocker_url=None, digilocker_expires_at=None)
    if target not in TERMINAL_STATES and not isinstance(context.event, DeadlinePassed):
        moved = replace(moved, idle_expires_at=context.now + context.rules.idle_timeout)
    session, effects = transition.action(context, moved)
    if session.state in TERMINAL_STATES:
        # The number and the OTP session die with the verification, whatever ended it.
        session = replace(
            session,
            aadhaar=None,
            otp_reference=None,
            otp_expires_at=None,
            resend_at=None,
            idle_expires_at=None,
            call_expires_at=None,
        )
    return Decision(session=session, effects=effects, outcome=transition.outcome)


def _call_timeout(rules: Rules) -> timedelta:
    return timedelta(seconds=rules.call_timeout_seconds)


def next_deadline(session: Session) -> datetime | None:
    """The earliest moment the sweeper must look at this session again, if any."""
    if not session.is_live:
        return None
    candidates = [session.idle_expires_at]
    if session.state is State.AWAIT_OTP:
        candidates.append(session.otp_expires_at)
    if session.state is State.AWAIT_DIGILOCKER:
        candidates.append(session.digilocker_expires_at)
    if session.state in BUSY_STATES:
        candidates.append(session.call_expires_at)
    due = [moment for moment in candidates if moment is not None]
    return min(due) if due else None
