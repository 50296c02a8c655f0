"""A Mermaid state diagram generated from the transition table (`python -m flows.diagram`)."""

from __future__ import annotations

from collections.abc import Iterable

from flows.machine import Transition
from flows.states import TERMINAL_STATES, State
from flows.table import TABLE

__all__ = ["mermaid"]


def mermaid(table: Iterable[Transition] = TABLE) -> str:
    """The state changes of `table` (rows that keep the state are left out) as Mermaid text."""
    edges: dict[tuple[State, State], list[str]] = {}
    for transition in table:
        if transition.target is None:
            continue
        for source in sorted(transition.sources):
            if source is transition.target:
                continue
            labels = edges.setdefault((source, transition.target), [])
            if transition.outcome not in labels:
                labels.append(transition.outcome)
    lines = ["stateDiagram-v2", f"    [*] --> {State.IDLE.value}"]
    for (source, target), labels in edges.items():
        lines.append(f"    {source.value} --> {target.value}: {', '.join(labels)}")
    lines.extend(f"    {state.value} --> [*]" for state in sorted(TERMINAL_STATES))
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(mermaid(), end="")
