"""A trigger sending one stage to two targets says how to write it instead (Salesforce-
migration review: an admin routing renewals past discovery with one 'advance' and
exclusive criteria got the error with no suggestion)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cycleflow import PolicyError, load_policy


def test_the_suggestion_names_a_trigger_of_its_own(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(
        "cycleflow: 1\nid: x\nversion: '1'\nstages:\n  a: {initial: true}\n  b: {}\n"
        "  c: {final: true}\ntransitions:\n  - {trigger: advance, from: a, to: b}\n"
        "  - {trigger: advance, from: a, to: c}\n  - {trigger: go, from: b, to: c}\n",
        encoding="utf-8")
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    [problem] = info.value.problems
    assert problem.code == "ambiguous-transition"
    assert "criteria cannot choose between targets" in problem.message
    assert str(problem.suggestion).startswith("give one of them a trigger of its own (e.g. "
                                              "'advance_to_c')")
    assert problem.location.line == 10
