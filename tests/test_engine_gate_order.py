"""Approval steps in order: a gate with ``after`` counts approvals only once the gates it
follows are satisfied, and only those given after them.

A VP approving on the 25th and the manager on the 26th allowed a 300k deal: gates had no
order, and nearly every Salesforce approval process has a manager step before a VP step
(Salesforce-migration review).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cycleflow import Engine, PolicyError, load_policy
from cycleflow.toolkit.explain import explain_decision

NOW = "2026-11-26T12:00:00Z"
REP = {"id": "ann", "roles": ["sales_rep"]}


def policy_text(vp_after: str = "[manager_review]", manager_after: str = "") -> str:
    return f"""\
cycleflow: 1
id: ordered
version: '1'
stages:
  open: {{initial: true}}
  won: {{final: true, outcome: won}}
transitions:
  - {{trigger: win, from: open, to: won, approve: [manager_review, vp_review]}}
approvals:
  manager_review:
    label: {{en: Manager review, zh: 经理审批}}
    roles: [sales_manager]
{manager_after}
  vp_review:
    label: {{en: VP review, zh: 副总裁审批}}
    roles: [vp_sales]
    after: {vp_after}
"""


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    path = tmp_path / "ordered.yaml"
    path.write_text(policy_text(), "utf-8")
    return Engine(load_policy(path), validate_deals=False)


def approval(gate: str, by: str, role: str, at: str) -> dict[str, Any]:
    return {"gate": gate, "by": by, "role": role, "at": at}


MANAGER = approval("manager_review", "bob", "sales_manager", "2026-11-24T09:00:00Z")


def deal(*approvals: dict[str, Any]) -> dict[str, Any]:
    return {"id": "D-1", "stage": "open", "owner": "ann", "approvals": list(approvals)}


def test_manager_then_vp_is_allowed(engine: Engine) -> None:
    vp = approval("vp_review", "vera", "vp_sales", "2026-11-25T09:00:00Z")
    assert engine.decide(deal(MANAGER, vp), "win", REP, now=NOW).outcome == "allowed"


def test_a_vp_before_the_manager_does_not_count(engine: Engine) -> None:
    early = approval("vp_review", "vera", "vp_sales", "2026-11-23T09:00:00Z")
    decision = engine.decide(deal(MANAGER, early), "win", REP, now=NOW)
    assert decision.outcome == "needs_approval"
    [need] = decision.approvals_needed
    assert need.gate == "vp_review"
    assert need.reasons == (
        "approval by vera of 2026-11-23T09:00:00Z came before Manager review approved "
        "(2026-11-24T09:00:00Z): it counts only when given after",)


def test_a_vp_without_the_manager_waits(engine: Engine) -> None:
    vp = approval("vp_review", "vera", "vp_sales", "2026-11-25T09:00:00Z")
    decision = engine.decide(deal(vp), "win", REP, now=NOW)
    needs = {n.gate: n for n in decision.approvals_needed}
    assert set(needs) == {"manager_review", "vp_review"}
    assert needs["vp_review"].reasons == (
        "approval by vera does not count yet: Manager review must approve first",)
    late = approval("manager_review", "bob", "sales_manager", "2026-11-26T09:00:00Z")
    again = engine.decide(deal(vp, late), "win", REP, now=NOW)
    assert again.outcome == "needs_approval"  # the VP on the 25th, the manager on the 26th
    assert engine.decide(deal(vp, MANAGER), "win", REP, now=NOW).outcome == "allowed"


def test_the_reasons_in_chinese(tmp_path: Path) -> None:
    path = tmp_path / "ordered.yaml"
    path.write_text(policy_text(), "utf-8")
    zh = Engine(load_policy(path), validate_deals=False, lang="zh")
    vp = approval("vp_review", "vera", "vp_sales", "2026-11-25T09:00:00Z")
    decision = zh.decide(deal(vp), "win", REP, now=NOW)
    needs = {n.gate: n for n in decision.approvals_needed}
    assert needs["vp_review"].reasons == ("vera 的审批暂不计：须先由“经理审批”审批",)


def test_explain_says_which_gate_comes_first(engine: Engine) -> None:
    d = deal()
    decision = engine.decide(d, "win", REP, now=NOW)
    todo = "\n".join(explain_decision(engine.policy, decision, d, REP).todo)
    assert "'VP review' (vp_review) from someone holding vp_sales, after Manager review " \
           "approved" in todo


@pytest.mark.parametrize(("vp_after", "manager_after", "code", "fragment"), [
    ("[manager_reveiw]", "", "unknown-gate", "did you mean 'manager_review'?"),
    ("[vp_review]", "", "gate-after-cycle", "remove 'vp_review' from its own after"),
    ("[manager_review]", "    after: [vp_review]", "gate-after-cycle",
     "remove one of them from the other's after"),
])
def test_a_bad_order_stops_the_policy_loading(tmp_path: Path, vp_after: str,
                                              manager_after: str, code: str,
                                              fragment: str) -> None:
    path = tmp_path / "ordered.yaml"
    path.write_text(policy_text(vp_after, manager_after), "utf-8")
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    problems = [p for p in info.value.problems if p.code == code]
    assert problems and fragment in str(problems[0].suggestion)
