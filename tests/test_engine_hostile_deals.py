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


# ------------------------------------------------ what an embedding application may pass


def test_nan_or_infinity_in_a_number_field_is_an_error_not_a_pass() -> None:
    """NaN compares false both ways: `discount_pct > 20` would let a deal skip its gate."""
    deal = next(d for d in BASE if d["stage"] == "negotiation")
    actor = {"id": "ann", "roles": ["sales_rep"]}
    engine = ENGINES[0]
    assert engine.decide({**deal, "discount_pct": 50}, "win", actor, now=NOW).outcome != "allowed"
    for bad in (float("nan"), float("inf"), float("-inf")):
        decision = engine.decide({**deal, "discount_pct": bad}, "win", actor, now=NOW)
        assert decision.outcome == "blocked" and decision.target == "won"
        assert "discount_pct" in decision.violations[0].message
        assert "not a finite number" in decision.violations[0].message
        verdict = engine.check({**deal, "amount": bad}, now=NOW)
        assert verdict.verdict == "error" and "not a finite number" in (verdict.error or "")


def test_a_defaultdict_deal_is_not_changed_and_a_missing_field_stays_missing() -> None:
    from collections import defaultdict

    deal = next(d for d in BASE if d["stage"] == "negotiation" and "amount" in d)
    actor = {"id": "ann", "roles": ["sales_rep"]}
    for engine in ENGINES:
        for explain in (True, False):
            record: defaultdict[str, Any] = defaultdict(lambda: None, deal)
            del record["amount"]
            first = engine.decide(record, "win", actor, now=NOW, explain=explain)
            again = engine.decide(record, "win", actor, now=NOW, explain=explain)
            assert "amount" not in record
            assert first.outcome == again.outcome == "blocked"
            assert engine.check(record, now=NOW).verdict == "violation"
            assert "amount" not in record


def test_any_mapping_and_tuples_are_judged_like_the_dict_and_lists_they_stand_for() -> None:
    from types import MappingProxyType

    actor = {"id": "ann", "roles": ["sales_rep"]}
    for deal in BASE[:12]:
        frozen = MappingProxyType({
            **deal,
            **({"steps": tuple(deal["steps"])} if isinstance(deal.get("steps"), list) else {}),
            **({"customer": MappingProxyType(deal["customer"])} if "customer" in deal else {}),
        })
        engine = ENGINES[0]
        assert engine.check(frozen, now=NOW) == engine.check(deal, now=NOW)
        for trigger in ("advance", "win"):
            mine = engine.decide(frozen, trigger, actor, now=NOW).to_dict()
            theirs = engine.decide(deal, trigger, actor, now=NOW).to_dict()
            assert {**mine, "decision_id": ""} == {**theirs, "decision_id": ""}


def test_wrong_kinds_of_actor_now_and_trigger_are_usage_errors() -> None:
    from datetime import date

    import pytest

    from cycleflow import UsageError

    deal, engine = BASE[0], ENGINES[0]
    for actor in ("ann", ["sales_rep"], 3, {"id": "ann", "roles": "sales_rep"},
                  {"id": "ann", "roles": {"sales_rep": False}}, {"id": ["x"], "roles": []}):
        with pytest.raises(UsageError, match="actor"):
            engine.decide(deal, "advance", actor, now=NOW)  # type: ignore[arg-type]
    for now in (date(2026, 11, 26), 5, 1.5, b"2026-11-26"):
        with pytest.raises(UsageError, match="now must be"):
            engine.decide(deal, "advance", None, now=now)  # type: ignore[arg-type]
        with pytest.raises(UsageError, match="now must be"):
            engine.check(deal, now=now)  # type: ignore[arg-type]
    for trigger in (None, 3, ["advance"]):
        with pytest.raises(UsageError, match="trigger"):
            engine.decide(deal, trigger, None, now=NOW)  # type: ignore[arg-type]
    # a role list of text is what approval rules read: one string would match by substring
    assert engine.decide(deal, "advance", {"id": 7, "roles": ("sales_rep",)}, now=NOW)


def test_an_invalid_deal_nested_very_deep_is_an_error_verdict_not_a_recursion_error() -> None:
    """The retry that judges a Mapping's JSON form walked the whole deal recursively."""
    deep: Any = []
    for _ in range(100_000):
        deep = [deep]
    verdict = ENGINES[0].check({**BASE[0], "amount": "lots", "deep": deep}, now=NOW)
    assert verdict.verdict == "error" and "'lots' is not of type 'number'" in (verdict.error or "")
