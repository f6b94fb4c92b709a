"""A bound move whose ``transition.applied`` cannot be written is undone: the object and
the audit log never disagree about whether the deal moved."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from shipped import NOW, POLICY, REP, deal

from cycleflow import AuditError, Engine, UsageError, load_policy
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


class Slotted:
    """A model keeping its stage and entry time in slots, not in ``__dict__``."""

    __slots__ = ("__dict__", "stage", "stage_entered_at")

    def __init__(self, **fields: Any) -> None:
        for key, value in fields.items():
            setattr(self, key, value)


def test_a_slot_the_move_filled_is_emptied_again() -> None:
    """Only __dict__ was cleaned: a slot kept the new entry time of a move undone (QA)."""
    engine = Engine(load_policy(POLICY), audit=DiskFull())
    fields = {k: v for k, v in deal().items() if k != "stage_entered_at"}
    opp = engine.bind(Slotted(**fields), record=lambda o: {**deal(), "stage": o.stage})
    with pytest.raises(AuditError):
        opp.advance(actor=REP, now=NOW)  # type: ignore[attr-defined]
    assert opp.stage == "qualified" and not hasattr(opp, "stage_entered_at")


class ReadOnlyEntry(Opportunity):
    """An entry time the app computes: it cannot be written."""

    @property
    def stage_entered_at(self) -> str:
        return "2026-11-10T09:00:00Z"


def test_an_entry_time_that_cannot_be_written_is_a_usage_error_and_no_move() -> None:
    engine = Engine(load_policy(POLICY), audit=MemorySink())
    fields = {k: v for k, v in deal().items() if k != "stage_entered_at"}
    opp = engine.bind(ReadOnlyEntry(**fields))
    with pytest.raises(UsageError, match=r"cannot write ReadOnlyEntry\.stage_entered_at"):
        opp.advance(actor=REP, now=NOW)  # type: ignore[attr-defined]
    assert opp.stage == "qualified"
