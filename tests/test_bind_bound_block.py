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


def test_a_copied_engine_binds_its_own_objects(en: Engine) -> None:
    """copy.copy(engine) shared the original's binder: the copy's bound moves were judged
    and audited by the original, and the original could unbind the copy's objects."""
    import copy

    from cycleflow import UsageError
    from cycleflow.audit import MemorySink

    tenant = copy.copy(en)
    tenant.audit = sink = MemorySink()
    with tenant.bound(negotiation()) as opp:
        opp.win(actor=REP, now=NOW)
        assert any(e["event"] == "transition.applied" for e in sink.events)
        with pytest.raises(UsageError, match="not bound to this engine"):
            en.unbind(opp)


def test_an_engine_that_never_binds_is_freed_at_once() -> None:
    """The binder (engine -> binder -> engine) is made on the first bind only: an engine
    dropped on a policy reload is freed without waiting for the cycle collector."""
    import gc
    import weakref

    from shipped import POLICY

    from cycleflow import load_policy

    enabled = gc.isenabled()
    gc.disable()
    try:
        engine = Engine(load_policy(POLICY))
        ref = weakref.ref(engine)
        del engine
        assert ref() is None
    finally:
        if enabled:
            gc.enable()
