"""A misspelt trigger on a bound object is a UsageError with "did you mean", as decide()
says it, not a bare AttributeError from the state machine library."""

from __future__ import annotations

from typing import Any

import pytest
from shipped import NOW, POLICY, REP, deal

from cycleflow import Engine, UsageError, load_policy


class Opportunity:
    def __init__(self, **fields: Any) -> None:
        self.__dict__.update(fields)


def test_a_misspelt_trigger_says_which_one_was_meant() -> None:
    engine = Engine(load_policy(POLICY))
    opp = engine.bind(Opportunity(**deal()))
    with pytest.raises(UsageError, match=r"unknown trigger 'advanse' \(did you mean "
                                         r"'advance'\?\); the policy's triggers: advance"):
        opp.trigger("advanse", actor=REP, now=NOW)
    with pytest.raises(UsageError, match="unknown trigger 5"):
        opp.trigger(5)
    assert opp.stage == "qualified" and engine.last_decision(opp) is None
    assert opp.trigger("advance", actor=REP, now=NOW) is True  # a right one still moves
    assert opp.stage == "negotiation"


def test_may_trigger_with_a_misspelt_name_says_so_too() -> None:
    """may_trigger('advnce') answered False, read as "not allowed" (QA pass)."""
    engine = Engine(load_policy(POLICY))
    opp = engine.bind(Opportunity(**deal()))
    with pytest.raises(UsageError, match=r"did you mean 'advance'"):
        opp.may_trigger("advnce", actor=REP, now=NOW)
    assert opp.may_trigger("advance", actor=REP, now=NOW) is True
    assert opp.may_trigger("win", actor=REP, now=NOW) is False  # a real one not allowed
