"""The transition table: sound, used by the code, and the same table the docs show."""
from pathlib import Path

from firmware.switch.core import Switch
from firmware.switch.core.table import DOC_BEGIN, DOC_END, TABLE, TRANSITIONS, CallState, render_markdown

DOC = Path(__file__).resolve().parents[3] / "docs" / "switch-core.md"


def test_every_row_names_a_handler_of_the_switch():
    for row in TRANSITIONS:
        assert callable(getattr(Switch, row.handler, None)), row.handler


def test_rows_are_unique_and_end_nowhere_but_in_states():
    assert len(TABLE) == len(TRANSITIONS)
    for row in TRANSITIONS:
        assert row.targets and row.state is not CallState.ENDED and CallState.IDLE not in row.targets


def test_every_state_can_be_reached_and_every_state_but_ended_left():
    reached = {CallState.IDLE} | {target for row in TRANSITIONS for target in row.targets}
    assert reached == set(CallState)
    assert {row.state for row in TRANSITIONS} == set(CallState) - {CallState.ENDED}


def test_the_docs_show_this_table():
    text = DOC.read_text(encoding="utf-8")
    begin, end = text.index(DOC_BEGIN), text.index(DOC_END) + len(DOC_END)
    assert text[begin:end] == render_markdown(), "regenerate with: python3 -m firmware.switch.core"
