"""The published diagram is the one the table generates."""

from __future__ import annotations

from pathlib import Path

from flows import TABLE, State
from flows.diagram import mermaid

DOC = Path(__file__).parents[2] / "docs" / "conversation.md"


def test_docs_show_the_current_table() -> None:
    assert mermaid() in DOC.read_text(encoding="utf-8"), "run: python -m flows.diagram"


def test_diagram_names_every_state() -> None:
    diagram = mermaid()
    for state in State:
        assert state.value in diagram


def test_every_state_change_of_the_table_is_an_edge() -> None:
    diagram = mermaid()
    for transition in TABLE:
        if transition.target is None:
            continue
        for source in transition.sources - {transition.target}:
            edge = f"    {source.value} --> {transition.target.value}: "
            line = next((row for row in diagram.splitlines() if row.startswith(edge)), "")
            assert transition.outcome in line, (source, transition.target, transition.outcome)
