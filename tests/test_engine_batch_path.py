"""The batch path (``Engine.check_record``) short-cuts a deal that is plainly compliant; on
every deal near the edge of that short cut it must give what ``check`` gives, key for key."""

from __future__ import annotations

import enum
from typing import Any

import pytest
from shipped import NOW, deal

from cycleflow import Engine
from cycleflow.decide.engine import resolve_now

MOMENT = resolve_now(NOW)
QUALIFIED_STEPS = ["customer_development", "customer_visit"]  # what qualified requires


class Step(str, enum.Enum):
    """An app's step ids as a str Enum: its members are the ids (QA pass)."""

    customer_development = "customer_development"
    customer_visit = "customer_visit"

DROP = object()  # the key is left out

EDGES: dict[str, tuple[dict[str, Any], str, set[str]]] = {
    # name: (changes to the compliant qualified deal, verdict, violated rules)
    "plain": ({}, "compliant", set()),
    "exactly at the 30-day limit": (
        {"stage_entered_at": "2026-10-27T12:00:00Z"}, "compliant", set()),
    "a second over the limit": (
        {"stage_entered_at": "2026-10-27T11:59:59Z"}, "violation", {"max_days.qualified"}),
    "entered a second after now": (
        {"stage_entered_at": "2026-11-26T12:00:01Z"}, "violation", {"max_days.qualified"}),
    "entered with an offset": (
        {"stage_entered_at": "2026-10-27T20:00:00+08:00"}, "compliant", set()),
    "an offset one second over": (
        {"stage_entered_at": "2026-10-27T19:59:59+08:00"}, "violation", {"max_days.qualified"}),
    "lower-case z": ({"stage_entered_at": "2026-11-10T09:00:00z"}, "compliant", set()),
    "no entry time": ({"stage_entered_at": DROP}, "error", set()),  # the schema requires it
    "entry time null": ({"stage_entered_at": None}, "error", set()),
    "steps as a map, all done": (
        {"steps": {s: {"at": "2026-11-01T09:00:00Z"} for s in QUALIFIED_STEPS}},
        "compliant", set()),
    "a step in the map set to false": (
        {"steps": {"customer_development": {}, "customer_visit": False}},
        "error", set()),  # the schema wants details; without it, not done
    "a step in the map set to 0": (
        {"steps": {"customer_development": {}, "customer_visit": 0}},
        "error", set()),  # the schema wants details; without it, not done
    "a step in the map set to null": (
        {"steps": {"customer_development": {}, "customer_visit": None}},
        "error", set()),  # the schema wants details; without it, not done
    "a step missing from the list": (
        {"steps": ["customer_development"]}, "violation", {"customer_visit"}),
    "steps listed twice": ({"steps": QUALIFIED_STEPS * 2}, "error", set()),  # unique items
    "a map keyed by str Enum members": (
        {"steps": {s: {"at": "2026-11-01T09:00:00Z"} for s in Step}}, "compliant", set()),
    "a date with Z as the entry time": (  # not RFC 3339; read as UTC midnight without it
        {"stage_entered_at": "2026-11-12Z"}, "error", set()),
    "no steps at all": ({"steps": DROP}, "violation", set(QUALIFIED_STEPS)),
    "steps null": ({"steps": None}, "error", set()),
    "an unhashable step": ({"steps": [*QUALIFIED_STEPS, ["x"]]}, "error", set()),
    "steps as text": ({"steps": "customer_development"}, "error", set()),
}


# what the engine without deal-schema validation says, where that differs
LAX: dict[str, tuple[str, set[str]]] = {
    # stalled_deal reads the entry time too, and cannot run without it
    "no entry time": ("violation", {"max_days.qualified", "stalled_deal"}),
    "entry time null": ("violation", {"max_days.qualified", "stalled_deal"}),
    "steps listed twice": ("compliant", set()),
    "a date with Z as the entry time": ("compliant", set()),
    "a step in the map set to false": ("violation", {"customer_visit"}),
    "a step in the map set to 0": ("violation", {"customer_visit"}),
    "a step in the map set to null": ("violation", {"customer_visit"}),
    "steps null": ("violation", set(QUALIFIED_STEPS)),
}


@pytest.fixture(scope="module")
def engines(en: Engine) -> tuple[Engine, Engine]:
    return en, Engine(en.compiled, validate_deals=False)


@pytest.mark.parametrize("name", list(EDGES))
def test_the_batch_path_agrees_with_check_at_every_edge(
    name: str, engines: tuple[Engine, Engine]
) -> None:
    changes, verdict, violated = EDGES[name]
    d = deal(**changes)
    d = {k: v for k, v in d.items() if v is not DROP}
    validating, lax = engines
    got = validating.check_record(d, MOMENT, 4, "deals.jsonl")
    assert got == validating.check(d, now=NOW).to_dict(record=4, source="deals.jsonl")
    assert got["verdict"] == verdict, got
    assert {v["rule"] for v in got["violations"]} == violated, got
    # without deal-schema validation the short cut meets malformed values itself
    got = lax.check_record(d, MOMENT, 4, "x")
    assert got == lax.check(d, now=NOW).to_dict(record=4, source="x")
    verdict, violated = LAX.get(name, (verdict, violated))
    assert (got["verdict"], {v["rule"] for v in got["violations"]}) == (verdict, violated), got
