"""`decide`: the one entry point of the conversation logic. Pure: no awaits, no clock."""

from __future__ import annotations

from datetime import datetime

from flows.catalogue import PromptKey
from flows.events import (
    ConsentDeclined,
    ConsentGiven,
    DigiLockerChosen,
    Event,
    NumberChangeChosen,
    NumberConfirmed,
    OtpMethodChosen,
    ResendRequested,
    StartOverChosen,
)
from flows.machine import Context, Decision, apply
from flows.replies import current_prompt, line, with_prefix
from flows.rules import Rules
from flows.states import Session
from flows.table import TABLE

__all__ = ["decide"]

_BUTTON_EVENTS = (
    ConsentGiven,
    ConsentDeclined,
    OtpMethodChosen,
    DigiLockerChosen,
    NumberConfirmed,
    NumberChangeChosen,
    ResendRequested,
    StartOverChosen,
)


def decide(session: Session, event: Event, now: datetime, rules: Rules) -> Decision:
    """The next session and the effects to carry out when `event` happens to `session` at `now`."""
    context = Context(session=session, event=event, now=now, rules=rules)
    for transition in TABLE:
        if transition.matches(context):
            return apply(transition, context)
    if isinstance(event, _BUTTON_EVENTS):
        # An old button from an earlier step: say so and show what is asked now.
        reply = with_prefix(current_prompt(session, now, rules), line(PromptKey.STEP_OVER))
        return Decision(session=session, effects=(reply,), outcome="step_over")
    # A provider answer, deadline or DigiLocker return (a replayed callback) that no longer fits
    # the step (it was overtaken): drop it, unchanged and unsaid.
    return Decision(session=session, effects=(), outcome="ignored")
