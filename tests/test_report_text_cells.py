"""The text report's table keeps one row per finding, whatever the ids and messages hold.

A deal id with ``\\n`` or ``\\t`` (from a CSV cell or a JSON string) split its row over
two lines or shifted the columns: ``visible()`` escapes control characters but keeps
tab and newline, for multi-line messages elsewhere.
"""

from __future__ import annotations

import io
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from cycleflow.report import write_text
from cycleflow.textsafe import one_line, visible

POLICY = {"id": "p\nq", "version": "1", "path": "policies/a\tb.yaml"}


def violation(deal: str, message: str, rule: str = "budget_known",
              source: str = "deals/batch.csv") -> dict[str, Any]:
    return {"deal": deal, "record": 3, "source": source, "stage": "qualified",
            "verdict": "violation", "warnings": [], "approvals_needed": [],
            "violations": [{"rule": rule, "kind": "entry", "severity": "high",
                            "message": message}]}


def table_lines(verdicts: list[dict[str, Any]]) -> list[str]:
    """The table's lines (borders and rows) of the plain text report."""
    out = io.StringIO()
    write_text(iter(verdicts), out, POLICY, color=False, width=200)
    lines = out.getvalue().split("\n")
    return lines[: lines.index("")]  # the summary follows a blank line


def test_one_line_escapes_breaks_and_what_visible_escapes() -> None:
    assert one_line("a\tb\nc\u2028d\u2029e") == "a\\tb\\nc\\u2028d\\u2029e"
    assert one_line("x\x1b[2J\r\u202ey") == visible("x\x1b[2J\r\u202ey") == "x\\x1b[2J\\x0d\\u202ey"
    assert visible("a\tb\nc") == "a\tb\nc"  # multi-line messages elsewhere stay as they are


def test_a_deal_id_with_newline_and_tab_stays_in_its_row() -> None:
    lines = table_lines([violation("D-1\nFORGED ROW", "budget\tmissing\nsecond line",
                                   rule="r\n1", source="deals/x\ny.csv"),
                         violation("D-2", "plain")])
    # header border, header, separator, two rows, bottom border
    assert len(lines) == 6, "\n".join(lines)
    assert len({len(line) for line in lines}) == 1, "\n".join(lines)  # columns line up
    row = lines[3]
    assert "D-1\\nFORGED ROW" in row and "budget\\tmissing\\nsecond line" in row
    assert "r\\n1" in row and "deals/x\\ny.csv:3" in row
    assert "\t" not in "".join(lines)


def test_the_summary_lines_are_single_lines_too() -> None:
    out = io.StringIO()
    write_text(iter([violation("D-1", "m", rule="bad\nrule")]), out, POLICY, color=False)
    text = out.getvalue()
    assert "Policy p\\nq 1 from policies/a\\tb.yaml" in text
    assert "  bad\\nrule" in text and "\t" not in text


_BREAKING = st.one_of(st.sampled_from("\n\t\r\u2028\x0b "), st.characters())


@settings(max_examples=40, deadline=None)
@given(st.text(_BREAKING, max_size=4), st.text(_BREAKING, max_size=12))
def test_any_id_and_message_make_one_row(deal: str, message: str) -> None:
    lines = table_lines([violation(deal or "x", message or "m")])
    assert len(lines) == 5, "\n".join(lines)
