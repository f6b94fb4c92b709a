"""An approval record a CRM marks rejected, pending or recalled is not an approval.

A Salesforce export of approval history (ProcessInstanceStep) carries Rejected and
Removed rows; loaded as they were, a turned-down 300k deal was allowed.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from cycleflow import Engine, load_policy
from cycleflow.decide.approvals import evaluate_gate
from cycleflow.errors import Location
from cycleflow.model.policy import Gate

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 11, 20, 10, tzinfo=timezone.utc)
GATE = Gate(id="desk", label=None, roles=("sales_director",), count=1, separate_from=(),
            valid_days=None, binds=(), location=Location("p.yaml"))


def approval(**extra: Any) -> dict[str, Any]:
    return {"gate": "desk", "by": "fred", "role": "sales_director",
            "at": "2026-11-19T10:00:00Z", **extra}


@pytest.mark.parametrize("status", ["Approved", "approved", " APPROVED "])
def test_an_approved_status_counts(status: str) -> None:
    result = evaluate_gate(GATE, {"approvals": [approval(status=status)]}, None, NOW)
    assert result.satisfied and result.reasons == ()


@pytest.mark.parametrize(("status", "shown"), [
    ("Rejected", '"Rejected"'), ("Pending", '"Pending"'), ("Removed", '"Removed"'),
    ("", '""'), (None, "null"), (True, "true"), ("已批准", '"已批准"'),
])
def test_any_other_status_does_not_count_and_says_why(status: Any, shown: str) -> None:
    result = evaluate_gate(GATE, {"approvals": [approval(status=status)]}, None, NOW)
    assert not result.satisfied
    assert result.reasons == (f"approval by fred has status {shown}, not approved",)


def test_the_reason_in_chinese() -> None:
    result = evaluate_gate(GATE, {"approvals": [approval(status="Rejected")]}, None, NOW,
                           lang="zh")
    assert result.reasons == ('fred 的审批状态为 "Rejected"，不是已批准（approved）',)


def test_a_rejected_approval_no_longer_allows_the_move_on_the_shipped_policy() -> None:
    engine = Engine(load_policy(ROOT / "policies" / "standard-sales-cycle.yaml"))
    deal = json.loads((ROOT / "examples" / "deal-discount.json").read_text())
    actor = {"id": "ann", "roles": ["sales_rep"]}
    first = engine.decide(deal, "win", actor, now="2026-11-26T12:00:00Z")
    assert first.outcome == "needs_approval"
    needed = first.approvals_needed[0]
    director = {"id": "dora", "roles": list(needed.roles)}
    approved = {**deal, "approvals": [engine.approval(deal, needed.gate, director,
                                                      now="2026-11-25T12:00:00Z")]}
    assert engine.decide(approved, "win", actor, now="2026-11-26T12:00:00Z").outcome \
        == "allowed"
    rejected = {**approved, "approvals": [{**approved["approvals"][0], "status": "Rejected"}]}
    decision = engine.decide(rejected, "win", actor, now="2026-11-26T12:00:00Z")
    assert decision.outcome == "needs_approval"
    assert any("status \"Rejected\"" in r for r in decision.approvals_needed[0].reasons)
    verdict = engine.check({**rejected, "stage": "won"}, now="2026-11-26T12:00:00Z")
    assert verdict.verdict == "violation"
