"""An app's Enum stage on a bound object: read by its value, kept as the app's Enum when
the engine writes the new stage, and a stage the policy lacks (set after bind) refused as
decide() refuses it, not with a raw ValueError from the state machine library."""

from __future__ import annotations

import enum
from typing import Any

import pytest
from shipped import NOW, POLICY, REP, deal

from cycleflow import CycleflowError, Engine, TransitionBlocked, UsageError, load_policy
from cycleflow.audit import MemorySink


class Opportunity:
    def __init__(self, **fields: Any) -> None:
        self.__dict__.update(fields)


class Stage(str, enum.Enum):
    QUALIFIED = "qualified"
    NEGOTIATION = "negotiation"


class Plain(enum.Enum):  # not a str Enum: its values are the stage ids
    QUALIFIED = "qualified"
    NEGOTIATION = "negotiation"


@pytest.fixture()
def engine() -> Engine:
    return Engine(load_policy(POLICY))


@pytest.mark.parametrize("kind", [Stage, Plain])
def test_bind_keeps_the_apps_enum_and_writes_the_new_stage_as_its_member(
        engine: Engine, kind: Any) -> None:
    opp = engine.bind(Opportunity(**deal(stage=kind.QUALIFIED)))
    assert opp.stage is kind.QUALIFIED
    assert opp.is_stage_qualified() and not opp.is_stage_negotiation()
    opp.stage = kind.QUALIFIED  # the ORM reloads the row
    assert opp.may_advance(actor=REP, now=NOW) is True
    opp.advance(actor=REP, now=NOW)
    assert opp.stage is kind.NEGOTIATION and opp.stage_entered_at == NOW


def test_a_stage_the_apps_enum_lacks_is_written_as_text(engine: Engine) -> None:
    class Few(enum.Enum):
        QUALIFIED = "qualified"

    opp = engine.bind(Opportunity(**deal(stage=Few.QUALIFIED)))
    opp.advance(actor=REP, now=NOW)
    assert opp.stage == "negotiation" and type(opp.stage) is str


def test_an_unknown_stage_at_trigger_time_is_refused_with_did_you_mean() -> None:
    sink = MemorySink()
    engine = Engine(load_policy(POLICY), audit=sink)
    opp = engine.bind(Opportunity(**deal()))
    opp.stage = "qualifed"  # the app misspells it after bind
    assert opp.may_advance(actor=REP, now=NOW) is False  # asks, never raises
    with pytest.raises(TransitionBlocked, match=r"unknown stage 'qualifed' \(did you mean "
                                                r"'qualified'\?\)") as refused:
        opp.advance(actor=REP, now=NOW)
    assert refused.value.decision.outcome == "not_permitted"
    assert engine.last_decision(opp) is refused.value.decision
    assert opp.stage == "qualifed"
    assert sink.events[-1]["event"] == "transition.not_permitted"
    for wrong in (Plain, ["qualified"], None):
        opp.stage = wrong
        with pytest.raises(CycleflowError):
            opp.advance(actor=REP, now=NOW)
    opp.stage = "qualifed"
    with pytest.raises(UsageError, match="takes only actor= and now="):
        opp.advance(REP)


@pytest.mark.parametrize("stage", [None, ""])
def test_bind_refuses_an_object_with_no_stage(engine: Engine, stage: Any) -> None:
    with pytest.raises(UsageError, match="set obj.stage to the deal's stage first "
                                         r"\('prospect', the policy's initial stage"):
        engine.bind(Opportunity(**deal(stage=stage)))
    fields = deal()
    del fields["stage"]
    with pytest.raises(UsageError, match="it has no stage"):
        engine.bind(Opportunity(**fields))


def test_bind_names_the_nearest_stage_for_a_misspelt_one(engine: Engine) -> None:
    with pytest.raises(UsageError, match=r"unknown stage 'negotiaton' \(did you mean "
                                         r"'negotiation'\?\)"):
        engine.bind(Opportunity(**deal(stage="negotiaton")))


def test_an_enum_whose_missing_hook_falls_back_gets_the_stage_as_text(engine: Engine) -> None:
    """Stage('negotiation') answered Stage.unknown: the object was left in 'unknown', with
    a raw ValueError and a log that said allowed and never applied (QA pass)."""

    class Lenient(str, enum.Enum):
        QUALIFIED = "qualified"
        UNKNOWN = "unknown"

        @classmethod
        def _missing_(cls, value: object) -> Lenient:
            return cls.UNKNOWN

    opp = engine.bind(Opportunity(**deal(stage=Lenient.QUALIFIED)))
    opp.advance(actor=REP, now=NOW)
    assert opp.stage == "negotiation" and type(opp.stage) is str
