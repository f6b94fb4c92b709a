"""Explaining a deal at rest does not name the requester among those who may not approve.

At rest (check) the requester of a past move is not judged (only moves are), so "who is not
the deal's owner (ann) or the person asking" told the reader of a rule the check does not apply.
"""

from __future__ import annotations

import pytest

from cycleflow.api import load_policy
from cycleflow.decide.engine import Engine
from cycleflow.toolkit.explain import explain_decision, explain_verdict
from tests.shipped import NOW, POLICY, REP, deal


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(load_policy(POLICY))


def approval_line(todo: tuple[str, ...], word: str) -> str:
    lines = [line for line in todo if word in line]
    assert len(lines) == 1, todo
    return lines[0]


@pytest.mark.parametrize(("lang", "gate", "owner", "requester"), [
    ("en", "Discount desk", "the deal's owner", "the person asking"),
    ("zh", "折扣审批", "交易负责人", "申请人"),
])
def test_at_rest_the_requester_is_not_named(engine: Engine, lang: str, gate: str, owner: str,
                                             requester: str) -> None:
    d = deal(discount_pct=25, stage="negotiation")  # entered with a deep discount
    verdict = engine.check(d, now=NOW, explain=True)
    line = approval_line(explain_verdict(engine.policy, verdict, d, NOW, lang).todo, gate)
    assert owner in line and requester not in line


def test_on_a_move_the_requester_is_still_named(engine: Engine) -> None:
    d = deal(discount_pct=25, steps=[*deal()["steps"], "solution_design"])
    decision = engine.decide(d, "advance", REP, now=NOW, explain=True)
    line = approval_line(explain_decision(engine.policy, decision, d, REP).todo,
                         "Discount desk")
    assert "the deal's owner" in line and "the person asking" in line
