"""Hostile deal records: every one gets a decision or a verdict, none raises, none is changed."""

from __future__ import annotations

import copy
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cycleflow import Engine, load_policy

ROOT = Path(__file__).resolve().parent.parent
POLICY = ROOT / "policies" / "standard-sales-cycle.yaml"
BASE = [json.loads(x) for x in (ROOT / "examples" / "deals.jsonl").read_text("utf-8").splitlines()]
ENGINES = (Engine(load_policy(POLICY)), Engine(load_policy(POLICY), validate_deals=False))
NOW = "2026-11-26T12:00:00Z"
MOMENT = datetime(2026, 11, 26, 12, tzinfo=timezone.utc)

json_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False), st.text(max_size=12),
    st.sampled_from(["2026-13-45", "2026-11-01", "Z", "qualified", "discount_desk"]),
)
json_value = st.recursive(json_leaf, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=6)
keys = st.sampled_from(["stage", "steps", "approvals", "stage_entered_at", "amount",
                        "discount_pct", "customer", "decision_maker", "owner", "id",
                        "contract_signed", "lost_reason", "close_date", "budget"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, len(BASE) - 1), st.lists(st.tuples(keys, json_value), min_size=1,
                                               max_size=4),
       st.sampled_from(["advance", "win", "lose", "close", "nope"]))
def test_any_damage_to_a_deal_gives_an_answer(i: int, damage: list[tuple[str, Any]],
                                              trigger: str) -> None:
    deal = copy.deepcopy(BASE[i])
    for key, value in damage:
        deal[key] = value
    before = copy.deepcopy(deal)
    for engine in ENGINES:
        verdict = engine.check(deal, now=NOW)
        assert verdict.verdict in ("compliant", "violation", "error")
        # the batch path gives the same dict without building a Verdict
        assert engine.check_record(deal, MOMENT, 7, "deals.jsonl") == verdict.to_dict(
            record=7, source="deals.jsonl")
        decision = engine.decide(deal, trigger, {"id": "x", "roles": ["sales_director"]},
                                 now=NOW)
        assert decision.outcome in ("allowed", "blocked", "needs_approval", "not_permitted")
        lean = engine.decide(deal, trigger, {"id": "x", "roles": ["sales_director"]}, now=NOW,
                             explain=False)  # the batch path: same answer, nothing traced
        assert {**lean.to_dict(), "decision_id": ""} == {**decision.to_dict(), "decision_id": ""}
        assert deal == before


def test_a_stage_that_is_not_text_is_an_error_verdict() -> None:
    for stage in ([], {"a": 1}, 3):
        v = ENGINES[1].check({**BASE[0], "stage": stage}, now=NOW)
        assert v.verdict == "error" and "stage must be a stage id" in (v.error or "")
