"""The transition table is sound: everything reachable, terminals final, cancel and deadlines
handled everywhere, and no row hidden behind another."""

from __future__ import annotations

import re
from itertools import product

import pytest

from flows import (
    LIVE_STATES,
    TABLE,
    TERMINAL_STATES,
    ButtonAction,
    CancelRequested,
    DeadlinePassed,
    Event,
    State,
    Transition,
    event_for_button,
)
from flows import events as events_module
from flows.machine import always

SNAKE_CASE = re.compile(r"[a-z][a-z0-9]*(_[a-z0-9]+)*")
OPEN_STATES = sorted(LIVE_STATES | {State.IDLE})
EVENT_TYPES = sorted(
    (
        value
        for value in vars(events_module).values()
        if isinstance(value, type) and issubclass(value, Event) and value is not Event
    ),
    key=lambda kind: kind.__name__,
)


def _next_states(state: State) -> set[State]:
    return {row.target or state for row in TABLE if state in row.sources}


def test_states_split_into_idle_live_and_terminal() -> None:
    assert State.IDLE not in LIVE_STATES | TERMINAL_STATES
    assert LIVE_STATES.isdisjoint(TERMINAL_STATES)
    assert LIVE_STATES | TERMINAL_STATES | {State.IDLE} == set(State)


def test_every_state_is_reachable_from_idle() -> None:
    reached = {State.IDLE}
    frontier = [State.IDLE]
    while frontier:
        for following in _next_states(frontier.pop()) - reached:
            reached.add(following)
            frontier.append(following)

    assert reached == set(State)


@pytest.mark.parametrize("state", sorted(TERMINAL_STATES))
def test_terminal_state_has_no_row(state: State) -> None:
    assert [row.outcome for row in TABLE if state in row.sources] == []


@pytest.mark.parametrize("state", sorted(LIVE_STATES))
def test_every_live_state_can_end(state: State) -> None:
    # Following the table from any step, some terminal state can be reached.
    reached = {state}
    frontier = [state]
    while frontier:
        for following in _next_states(frontier.pop()) - reached:
            reached.add(following)
            frontier.append(following)

    assert reached & TERMINAL_STATES


@pytest.mark.parametrize("event", [CancelRequested, DeadlinePassed])
@pytest.mark.parametrize("state", OPEN_STATES)
def test_open_state_handles_event_unconditionally(state: State, event: type[Event]) -> None:
    unguarded = [
        row.outcome
        for row in TABLE
        if state in row.sources and event in row.events and row.guard is always
    ]

    assert unguarded, f"{state} has no unguarded row for {event.__name__}"


@pytest.mark.parametrize("row", TABLE, ids=[f"{i}-{row.outcome}" for i, row in enumerate(TABLE)])
def test_row_is_well_formed(row: Transition) -> None:
    assert SNAKE_CASE.fullmatch(row.outcome), row.outcome
    assert row.sources
    assert row.sources <= set(State)
    assert row.events
    assert all(issubclass(event, Event) and event is not Event for event in row.events)
    assert row.target is None or row.target in set(State)


@pytest.mark.parametrize("index", range(len(TABLE)), ids=[row.outcome for row in TABLE])
def test_no_row_is_hidden_by_an_earlier_unguarded_row(index: int) -> None:
    # First match wins, so a row whose every (state, event) pair an earlier unconditional row
    # already takes can never fire.
    row = TABLE[index]
    earlier = [other for other in TABLE[:index] if other.guard is always]
    open_pairs = [
        (state, event)
        for state, event in product(row.sources, row.events)
        if not any(state in other.sources and event in other.events for other in earlier)
    ]

    assert open_pairs, f"row {index} ({row.outcome}) is unreachable"


@pytest.mark.parametrize("event", EVENT_TYPES, ids=[kind.__name__ for kind in EVENT_TYPES])
def test_every_event_type_is_handled_by_some_row(event: type[Event]) -> None:
    assert any(event in row.events for row in TABLE)


@pytest.mark.parametrize("action", list(ButtonAction))
def test_every_button_stands_for_an_event_a_live_state_handles(action: ButtonAction) -> None:
    event = type(event_for_button(action))

    assert any(event in row.events and row.sources & LIVE_STATES for row in TABLE)
