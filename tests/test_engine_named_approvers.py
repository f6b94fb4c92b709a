"""A gate may take its approval from the person the deal names (``approvers:``).

Salesforce's default approver is "the owner's manager": a field of the record. Gates
took any holder of a role, so any sales manager approved any rep's deal (Salesforce-
migration review).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cycleflow import Engine, PolicyError, load_policy
from cycleflow.toolkit.explain import explain_decision
from cycleflow.toolkit.lint import lint_file

NOW = "2026-11-26T12:00:00Z"
REP = {"id": "ann", "roles": ["sales_rep"]}

SCHEMA = {
    "type": "object",
    "required": ["id", "stage"],
    "properties": {
        "id": {"type": "string"}, "stage": {"type": "string"}, "owner": {"type": "string"},
        "stage_entered_at": {"type": "string"}, "steps": {"type": "array"},
        "approvals": {"type": "array"}, "amount": {"type": "number"},
        "owner_manager": {"type": ["string", "null"]},
        "deputies": {"type": "array", "items": {"type": "string"}},
        "is_key_account": {"type": "boolean"},
    },
}


def policy_text(gate: str) -> str:
    return f"""\
cycleflow: 1
id: named
version: '1'
deal_schema: deal.schema.json
stages:
  open: {{initial: true}}
  won: {{final: true, outcome: won}}
transitions:
  - {{trigger: win, from: open, to: won, approve: [manager_ok]}}
approvals:
  manager_ok:
{gate}
"""


GATE = """\
    roles: [sales_manager]
    approvers: [deal.owner_manager, deal.deputies]
    separate_from: [owner]
"""


def write(tmp_path: Path, gate: str = GATE, schema: dict[str, Any] = SCHEMA) -> Path:
    (tmp_path / "deal.schema.json").write_text(json.dumps(schema), "utf-8")
    path = tmp_path / "named.yaml"
    path.write_text(policy_text(gate), "utf-8")
    return path


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return Engine(load_policy(write(tmp_path)))


def deal(**fields: Any) -> dict[str, Any]:
    return {"id": "D-1", "stage": "open", "owner": "ann", "owner_manager": "bob",
            "stage_entered_at": "2026-11-01T00:00:00Z", **fields}


def by(user: str) -> dict[str, Any]:
    return {"gate": "manager_ok", "by": user, "role": "sales_manager",
            "at": "2026-11-25T12:00:00Z"}


def test_the_named_manager_approves(engine: Engine) -> None:
    assert engine.decide(deal(approvals=[by("bob")]), "win", REP, now=NOW).outcome == "allowed"
    assert engine.decide(deal(approvals=[by(" Bob")]), "win", REP, now=NOW).outcome \
        == "allowed"  # the same person, compared as separation of duties compares


def test_another_manager_does_not_count_and_the_reason_names_who_does(engine: Engine) -> None:
    decision = engine.decide(deal(approvals=[by("carl")]), "win", REP, now=NOW)
    assert decision.outcome == "needs_approval"
    assert decision.approvals_needed[0].reasons == (
        "approval by carl does not count: the gate takes the approval of the person named in "
        "deal.owner_manager, deal.deputies (bob)",)


def test_a_deputy_listed_on_the_deal_approves(engine: Engine) -> None:
    decision = engine.decide(deal(deputies=["dora", "ed"], approvals=[by("ed")]), "win", REP,
                             now=NOW)
    assert decision.outcome == "allowed"


def test_nobody_named_fails_closed(engine: Engine) -> None:
    decision = engine.decide(deal(owner_manager=None, approvals=[by("bob")]), "win", REP,
                             now=NOW)
    assert decision.outcome == "needs_approval"
    assert "nobody is named in deal.owner_manager, deal.deputies" in \
        decision.approvals_needed[0].reasons[0]


def test_the_reason_in_chinese(tmp_path: Path) -> None:
    zh = Engine(load_policy(write(tmp_path)), lang="zh")
    decision = zh.decide(deal(approvals=[by("carl")]), "win", REP, now=NOW)
    assert decision.approvals_needed[0].reasons == (
        "carl 的审批不计：此审批须由 deal.owner_manager, deal.deputies 所指定的人（bob）作出",)


def test_explain_names_the_person_to_ask(engine: Engine) -> None:
    d = deal()
    decision = engine.decide(d, "win", REP, now=NOW)
    text = "\n".join(explain_decision(engine.policy, decision, d, REP).todo)
    assert "named in deal.owner_manager or deal.deputies (bob)" in text


def test_an_undeclared_approver_field_stops_the_policy_loading(tmp_path: Path) -> None:
    path = write(tmp_path, GATE.replace("deal.owner_manager", "deal.owner_manger"))
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    [problem] = info.value.problems
    assert problem.code == "unknown-field"
    assert problem.suggestion == "did you mean 'deal.owner_manager'?"
    assert (problem.location.line, problem.location.column) == (13, 17)


def test_lint_finds_an_approver_field_that_cannot_name_anyone(tmp_path: Path) -> None:
    path = write(tmp_path, GATE.replace("deal.deputies", "deal.is_key_account"))
    [problem] = [p for p in lint_file(str(path)) if p.code == "gate-approver-type"]
    assert "deal.is_key_account" in problem.message and problem.severity == "warning"


def test_lint_refuses_an_approver_the_gate_keeps_separate(tmp_path: Path) -> None:
    path = write(tmp_path, GATE.replace("deal.deputies", "deal.owner"))
    [problem] = [p for p in lint_file(str(path)) if p.code == "gate-approver-separated"]
    assert problem.severity == "error"


@pytest.mark.parametrize("written", ["approvers: []", "approvers: [owner_manager]"])
def test_the_policy_schema_refuses_a_malformed_list(tmp_path: Path, written: str) -> None:
    path = write(tmp_path, "    roles: [sales_manager]\n    " + written + "\n")
    with pytest.raises(PolicyError):
        load_policy(path)


def test_simulate_has_the_named_person_approve(tmp_path: Path) -> None:
    """The simulator picked any holder of the role, whose approval never counts here."""
    from cycleflow.analytics.simulate import SimOptions, simulate

    out = tmp_path / "sim"
    simulate(load_policy(write(tmp_path)), str(out), SimOptions(deals=30))
    deals = [json.loads(line) for line in (out / "deals.jsonl").read_text().splitlines()]
    won = [d for d in deals if d["stage"] == "won"]
    assert len(won) >= 5
    for d in won:
        named = {d.get("owner_manager"), *d.get("deputies", [])}
        assert {a["by"] for a in d["approvals"] if a["gate"] == "manager_ok"} <= named


def test_a_number_field_can_name_the_approver(tmp_path: Path) -> None:
    """The engine reads 1001 as user "1001", so lint must not say no approval counts."""
    schema = json.loads(json.dumps(SCHEMA))
    schema["properties"]["manager_no"] = {"type": "number"}
    path = write(tmp_path, GATE.replace("deal.deputies", "deal.manager_no"), schema)
    assert [p for p in lint_file(str(path)) if p.code == "gate-approver-type"] == []
    engine = Engine(load_policy(path))
    d = deal(owner_manager=None, manager_no=1001.0, approvals=[by("1001")])
    assert engine.decide(d, "win", REP, now=NOW).outcome == "allowed"
    decision = engine.decide(deal(owner_manager=None, manager_no=1001.0), "win", REP, now=NOW)
    todo = "\n".join(explain_decision(engine.policy, decision, d, REP).todo)
    assert "(1001)" in todo and "1001.0" not in todo
