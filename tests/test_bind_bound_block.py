"""``Engine.bound``: bind for one ``with`` block (one request), unbind after it, also when
the block raises; a handler that binds per request and forgets to unbind grew by ~5 KB
an object (embedding review)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from shipped import NOW, REP, ROOT

from cycleflow import Engine, TransitionBlocked


class Opportunity:
    def __init__(self, **fields: Any) -> None:
        self.__dict__.update(fields)


def negotiation() -> Opportunity:
    return Opportunity(**json.loads((ROOT / "examples" / "deal-negotiation.json").read_text()))


def held(engine: Engine, obj: object) -> bool:
    return any(model is obj for model in engine._machine_for_binding().models)


def test_the_object_moves_inside_the_block_and_is_let_go_after(en: Engine) -> None:
    o = negotiation()
    fields = set(vars(o))
    with en.bound(o) as opp:
        assert opp is o and held(en, o)
        opp.win(actor=REP, now=NOW)
        decision = en.last_decision(opp)
        assert decision is not None and decision.outcome == "allowed"
    assert o.stage == "won"
    assert not held(en, o)
    # only its own fields again (the move wrote stage_entered_at): serialisable as it was
    assert set(vars(o)) == fields | {"stage_entered_at"}
    json.dumps(vars(o))


def test_a_block_that_raises_still_lets_the_object_go(en: Engine) -> None:
    o = Opportunity(**{**vars(negotiation()), "discount_pct": 35})  # needs the discount desk
    with pytest.raises(TransitionBlocked), en.bound(o) as opp:
        opp.win(actor=REP, now=NOW)
    assert not held(en, o) and o.stage == "negotiation"
    assert not hasattr(o, "win")
