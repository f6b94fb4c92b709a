"""A second approval by the same person says why it does not count.

`fred` then `Fred ` approved a gate needing two approvers: the second was silently not
counted, and the reasons ("every approval that does not count says why") said nothing.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from cycleflow.decide.approvals import evaluate_gate
from cycleflow.errors import Location
from cycleflow.model.policy import Gate

NOW = datetime(2026, 11, 20, 10, tzinfo=timezone.utc)
GATE = Gate(id="desk", label=None, roles=("sales_director",), count=2, separate_from=("owner",),
            valid_days=None, binds=(), location=Location("p.yaml"))


def approval(by: str) -> dict[str, str]:
    return {"gate": "desk", "by": by, "role": "sales_director", "at": "2026-11-19T10:00:00Z"}


@pytest.mark.parametrize(("lang", "expected"), [
    ("en", "approval by Fred  is by fred again: a person counts once"),
    ("zh", "Fred  的审批与 fred 的审批是同一人：每人只计一次"),
])
def test_the_same_person_twice_is_counted_once_and_said_so(lang: str, expected: str) -> None:
    deal = {"id": "d", "owner": "ann", "approvals": [approval("fred"), approval("Fred ")]}
    result = evaluate_gate(GATE, deal, None, NOW, lang=lang)
    assert result.approvers == ("fred",)
    assert not result.satisfied
    assert result.reasons == (expected,)


def test_two_people_give_no_reason() -> None:
    deal = {"id": "d", "owner": "ann", "approvals": [approval("fred"), approval("gina")]}
    result = evaluate_gate(GATE, deal, None, NOW)
    assert result.satisfied and result.reasons == ()
