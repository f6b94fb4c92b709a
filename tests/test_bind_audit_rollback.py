"""A bound move whose ``transition.applied`` cannot be written is undone: the object and
the audit log never disagree about whether the deal moved."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from shipped import NOW, POLICY, REP, deal

from cycleflow import AuditError, Engine, load_policy
from cycleflow.audit import MemorySink


class Opportunity:
    def __init__(self, **fields: Any) -> None:
        self.__dict__.update(fields)


class DiskFull:
    """A sink that takes decisions but fails on the event that records a move."""

    def __init__(self) -> None:
        self.events: list[Mapping[str, Any]] = []

    def emit(self, events: Sequence[Mapping[str, Any]]) -> None:
        if any(ev["event"] == "transition.applied" for ev in events):
            raise AuditError("disk full")
        self.events.extend(events)

    def close(self) -> None:
        """Nothing to close."""


def test_a_move_the_log_cannot_record_is_undone() -> None:
    sink = DiskFull()
    engine = Engine(load_policy(POLICY), audit=sink)
    opp = engine.bind(Opportunity(**deal()))
    before = dict(vars(opp))
    with pytest.raises(AuditError, match="disk full"):
        opp.advance(actor=REP, now=NOW)  # type: ignore[attr-defined]
    assert opp.stage == "qualified"
    assert opp.stage_entered_at == before["stage_entered_at"]
    assert not any(e["event"] == "transition.applied" for e in sink.events)
    assert opp.advance  # type: ignore[attr-defined]  # still bound, and it can try again


def test_a_stage_entered_at_the_object_lacked_is_taken_away_again() -> None:
    engine = Engine(load_policy(POLICY), audit=DiskFull())
    opp = engine.bind(Opportunity(id="D-1", stage="qualified"),
                      record=lambda o: {**deal(), "stage": o.stage})  # the app's own reader
    with pytest.raises(AuditError):
        opp.advance(actor=REP, now=NOW)  # type: ignore[attr-defined]
    assert opp.stage == "qualified" and not hasattr(opp, "stage_entered_at")


def test_with_a_working_sink_the_applied_event_matches_the_object() -> None:
    sink = MemorySink()
    engine = Engine(load_policy(POLICY), audit=sink)
    opp = engine.bind(Opportunity(**deal()))
    opp.advance(actor=REP, now=NOW)  # type: ignore[attr-defined]
    [applied] = [e for e in sink.events if e["event"] == "transition.applied"]
    assert (applied["from"], applied["to"]) == ("qualified", opp.stage) == (
        "qualified", "negotiation")
    assert applied["at"] == opp.stage_entered_at == NOW
