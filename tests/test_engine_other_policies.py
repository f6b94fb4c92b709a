"""The engine is not tied to the shipped policy: other stage names, '*' sources, includes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cycleflow import Engine, PolicyError, load_policy

DATA = Path(__file__).resolve().parent / "data" / "policies"
NOW = "2026-11-26T12:00:00Z"
REP = {"id": "pat", "roles": ["partner_manager"]}


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(load_policy(DATA / "partner-channel.yaml"), validate_deals=False)


def deal(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "P-1", "stage": "proposal", "stage_entered_at": "2026-11-20T09:00:00Z",
        "owner": "pat", "partner": {"name": "Nordic IT", "certified": True},
        "end_customer": "Fjord Bank", "list_price": 80000, "partner_margin_pct": 20,
        "registered_at": "2026-10-01T00:00:00Z",
        "steps": ["deal_registration", "joint_call", "technical_validation", "partner_quote"],
    }
    base.update(over)
    return base


def test_other_stage_names_and_machine(engine: Engine) -> None:
    assert engine.compiled.stage_ids == ("lead", "discovery", "proposal", "signed", "dropped")
    assert engine.policy.initial_stage.id == "lead"
    # "*" expands to every non-final stage
    assert {s for (s, t) in engine.compiled.moves if t == "drop"} == {
        "lead", "discovery", "proposal"}


def test_sign_always_needs_the_transition_gate(engine: Engine) -> None:
    d = engine.decide(deal(po_number="PO-9"), "sign", REP, now=NOW)
    assert d.outcome == "needs_approval"
    assert [a.gate for a in d.approvals_needed] == ["channel_desk"]
    assert d.approvals_needed[0].because == ("transition sign",)
    ok = {"gate": "channel_desk", "by": "cd", "role": "channel_director",
          "at": "2026-11-21T00:00:00Z", "values": {"partner_margin_pct": 20, "list_price": 80000}}
    assert engine.decide(deal(po_number="PO-9", approvals=[ok]), "sign", REP, now=NOW).allowed


def test_transition_criteria_and_target_entry(engine: Engine) -> None:
    d = engine.decide(deal(partner={"name": "X", "certified": False}), "sign", REP, now=NOW)
    assert d.outcome == "blocked"
    kinds = {v.rule: v.kind for v in d.violations}
    assert kinds["partner_certified"] == "transition"
    assert kinds["po_received"] == "entry"


def test_backward_move_skips_steps_and_leave_risk_applies(engine: Engine) -> None:
    d = engine.decide(deal(steps=[]), "rework", REP, now=NOW)
    assert d.outcome == "allowed", d.to_dict()
    d = engine.decide(deal(steps=[], partner_margin_pct=35), "rework", REP, now=NOW)
    assert d.outcome == "needs_approval"  # rich_partner_margin is checked when leaving proposal


def test_on_trigger_risk_blocks(engine: Engine) -> None:
    d = engine.decide(deal(stage="lead", conflict_with="Other Partner"), "qualify", REP, now=NOW)
    assert d.outcome == "blocked"
    assert "channel_conflict" in {v.rule for v in d.violations}


def test_check_at_rest_on_other_policy(engine: Engine) -> None:
    v = engine.check(deal(stage_entered_at="2026-09-01T00:00:00Z"), now=NOW)
    assert "max_days.proposal" in {x.rule for x in v.violations}
    v = engine.check(deal(stage="discovery", stage_entered_at="2026-10-01T00:00:00Z"), now=NOW)
    assert "max_days.discovery" in {x.rule for x in v.warnings}  # then: warn


def test_included_fragments_are_merged() -> None:
    policy = load_policy(DATA / "with-include.yaml")
    assert len(policy.sources) == 2
    fragment = policy.sources[1].path
    assert any(r.location.file == fragment for r in policy.risks)


def test_an_included_directory_is_named_as_such(tmp_path: Path) -> None:
    (tmp_path / "fragments").mkdir()
    policy = tmp_path / "p.yaml"
    policy.write_text("cycleflow: 1\nid: x\nversion: '1'\ninclude: [fragments]\nstages:\n"
                      "  a: {initial: true}\n  b: {final: true}\n"
                      "transitions:\n  - {trigger: go, from: a, to: b}\n", encoding="utf-8")
    with pytest.raises(PolicyError) as info:
        load_policy(policy)
    problem = info.value.problems[0]
    assert "fragments is a directory" in problem.message and problem.location.line == 4
    assert problem.suggestion == "list each file by name"


def test_policy_errors_are_all_reported_with_locations(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "cycleflow: 1\nid: t\nversion: '1'\nstages:\n  a: {initial: true}\n  b: {final: true}\n"
        "transitions:\n  - {trigger: go, from: a, to: bb}\n  - {trigger: go2, from: aa, to: b}\n"
        "risks:\n  - {id: r, when: 'deal.x >', at: [always], then: approve nope}\n",
        encoding="utf-8",
    )
    with pytest.raises(PolicyError) as info:
        load_policy(bad)
    codes = {(p.code, p.location.line) for p in info.value.problems}
    assert ("unknown-stage", 8) in codes and ("unknown-stage", 9) in codes
    assert ("unknown-gate", 11) in codes and ("expr-syntax", 11) in codes
    assert all(p.location.file == str(bad) and p.location.column > 0
               for p in info.value.problems)


def test_a_sensitive_field_a_rule_reads_is_masked_in_every_event() -> None:
    """partner-channel marks deal.end_customer sensitive and a rule reads it: its events
    carry the key, never the value (the engine decides per values key whether to mask)."""
    import orjson

    from cycleflow.audit import MemorySink

    sink = MemorySink()
    audited = Engine(load_policy(DATA / "partner-channel.yaml"), validate_deals=False,
                     audit=sink)
    for stage in ("lead", "discovery", "proposal"):
        for trigger in ("qualify", "propose", "sign", "drop", "advance"):
            audited.decide(deal(stage=stage), trigger, REP, now=NOW)
        audited.check(deal(stage=stage), now=NOW)
    events = sink.events
    assert b"Fjord Bank" not in orjson.dumps(events)
    read = [e for e in events if "deal.end_customer" in e["values"]]
    assert read, "no event read the sensitive field: the test would prove nothing"
    assert all(e["values"]["deal.end_customer"] != "Fjord Bank" for e in read)


def test_a_regional_language_code_reads_its_language_everywhere() -> None:
    """--lang zh-CN: policy labels and the engine's own words both read the zh texts."""
    from cycleflow.model.policy import Label

    label = Label((("en", "Won"), ("zh", "成交")))
    assert (label.get("zh-CN"), label.get("zh"), label.get("fr"), label.get("en")) == (
        "成交", "成交", "Won", "Won")
    assert Label((("zh", "成交"),)).get("de") == "成交"  # no English: any text at all
    shipped = Engine(load_policy(DATA.parent.parent.parent / "policies" /
                                 "standard-sales-cycle.yaml"), lang="zh-CN")
    v = shipped.check({"id": "Z", "stage": "qualified", "owner": "o",
                       "stage_entered_at": "2026-11-01T00:00:00Z", "steps": []}, now=NOW)
    messages = " ".join(x.message for x in v.violations)
    assert "潜在客户" in messages and "尚未完成" in messages  # stage label and phrase in zh


def test_a_stage_defined_again_in_a_fragment_points_at_both_stage_keys(tmp_path: Path) -> None:
    """'first at' named the first line inside the stage, not the stage itself."""
    (tmp_path / "more.yaml").write_text(
        "stages:\n  b:\n    final: true\n    outcome: lost\n", encoding="utf-8")
    policy = tmp_path / "p.yaml"
    policy.write_text("cycleflow: 1\nid: x\nversion: '1'\ninclude: [more.yaml]\nstages:\n"
                      "  a: {initial: true}\n  b:\n    final: true\n    outcome: won\n"
                      "transitions:\n  - {trigger: go, from: a, to: b}\n", encoding="utf-8")
    with pytest.raises(PolicyError) as info:
        load_policy(policy)
    [problem] = [p for p in info.value.problems if p.code == "duplicate-stage"]
    assert (problem.location.line, problem.location.column) == (2, 3)
    assert f"(first at {policy}:7:3)" in problem.message
