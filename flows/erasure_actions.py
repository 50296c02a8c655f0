"""Erasure of the user's data on request (/delete_my_data): the question, and the two answers.

The erasure itself is an effect (`EraseUserData`): the machine only decides that it happens,
from any state, once the user confirmed with the button of the question.
"""

from __future__ import annotations

from flows.actions import Outcome, say, then_prompt
from flows.catalogue import PromptKey
from flows.effects import Button, EraseUserData, Reply
from flows.events import (
    ButtonAction,
    DataDeletionConfirmed,
    DataDeletionKept,
    DataDeletionRequested,
)
from flows.machine import Context, Transition
from flows.replies import line
from flows.states import LIVE_STATES, Session, State

__all__ = ["ERASURE_ROWS", "ask_erasure", "erase"]

K = PromptKey
_ANY = LIVE_STATES | {State.IDLE}


def ask_erasure(context: Context, moved: Session) -> Outcome:
    """Say what will be erased and ask to confirm with a button (or keep everything)."""
    question = Reply(
        lines=(line(K.ERASE_QUESTION),),
        buttons=(
            Button(ButtonAction.ERASE_DATA, K.BUTTON_ERASE),
            Button(ButtonAction.KEEP_DATA, K.BUTTON_KEEP),
        ),
    )
    return moved, (question,)


def erase(context: Context, moved: Session) -> Outcome:
    """Erase the user's data, then confirm it (the reply is sent after the erasure)."""
    return moved, (EraseUserData(), Reply(lines=(line(K.ERASE_DONE),)))


ERASURE_ROWS: tuple[Transition, ...] = (
    Transition(_ANY, (DataDeletionRequested,), "erasure_asked", None, action=ask_erasure),
    Transition(_ANY, (DataDeletionConfirmed,), "erasure_confirmed", None, action=erase),
    Transition(
        frozenset({State.IDLE}), (DataDeletionKept,), "erasure_kept", None, action=say(K.ERASE_KEPT)
    ),
    # In a verification, keeping the data goes back to the step it was at, with its buttons.
    Transition(
        LIVE_STATES, (DataDeletionKept,), "erasure_kept", None, action=then_prompt(K.ERASE_KEPT)
    ),
)
