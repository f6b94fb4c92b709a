"""Engine sentences name stages and gates by their labels in the engine's language.

A refused trigger said 'not permitted from stage 'qualified'' (and in Chinese
``不能从阶段“qualified”``), and void approvals said 'discount_desk needs one of ...' /
'no approval for discount_desk yet': ids where a user reads labels. Triggers stay ids
(a user types them); a gate with no label is still named by its id.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import shipped
from shipped import NOW, REP

from cycleflow import Engine, load_policy
from cycleflow.toolkit.explain import explain_decision, plain_text


def deal(**over: Any) -> dict[str, Any]:
    """The shared deal with a discount the discount desk must approve."""
    return shipped.deal(**{"discount_pct": 25, **over})


def test_not_permitted_names_the_stage_label_and_keeps_trigger_ids(
    en: Engine, zh: Engine
) -> None:
    d = en.decide(deal(), "win", REP, now=NOW)
    assert d.violations[0].message == (
        "'win' is not permitted from stage 'Qualified'; from here: advance, lose")
    assert d.violations[0].values == {"stage": "qualified", "trigger": "win"}
    d = zh.decide(deal(), "win", REP, now=NOW)
    assert d.violations[0].message == "不能从阶段“意向客户”执行操作“win”；此处可用：advance、lose"


def test_not_permitted_from_a_final_stage_names_its_label(en: Engine, zh: Engine) -> None:
    closed = deal(stage="lost", lost_reason="budget cut")
    assert en.decide(closed, "advance", REP, now=NOW).violations[0].message == (
        "'advance' is not permitted from stage 'Lost'; no trigger leaves this stage")
    assert zh.decide(closed, "advance", REP, now=NOW).violations[0].message == (
        "不能从阶段“输单”执行操作“advance”；此阶段没有可用操作")


def test_no_approval_yet_names_the_gate_label_with_its_id(en: Engine, zh: Engine) -> None:
    d = en.decide(deal(), "advance", REP, now=NOW)
    assert d.approvals_needed[0].reasons == ("no approval for Discount desk (discount_desk) yet",)
    d = zh.decide(deal(), "advance", REP, now=NOW)
    assert d.approvals_needed[0].reasons == ("尚无“折扣审批”（discount_desk）的审批",)


def test_wrong_role_names_the_gate_label(en: Engine, zh: Engine) -> None:
    wrong = {"gate": "discount_desk", "by": "kai", "role": "sales_manager",
             "at": "2026-11-20T10:00:00Z", "values": {"discount_pct": 25, "amount": 100000}}
    d = en.decide(deal(approvals=[wrong]), "advance", REP, now=NOW)
    assert d.approvals_needed[0].reasons == (
        "kai approved as 'sales_manager'; Discount desk needs one of sales_director",)
    d = zh.decide(deal(approvals=[wrong]), "advance", REP, now=NOW)
    assert d.approvals_needed[0].reasons == (
        "kai 以 'sales_manager' 身份审批；“折扣审批”需要以下角色之一：sales_director",)


def test_check_approval_violation_reads_as_chinese(zh: Engine) -> None:
    v = zh.check(deal(stage="negotiation", steps=[]), now=NOW)
    desk = next(x for x in v.violations if x.rule == "discount_desk")
    assert desk.message == (
        "还需 1 个“折扣审批”审批（sales_director）：尚无“折扣审批”（discount_desk）的审批")
    assert "discount_desk 审批" not in desk.message


def test_explain_still_says_no_approval_yet(en: Engine, zh: Engine) -> None:
    """explain tells 'none given' from void approvals by the engine's sentence."""
    policy = en.policy
    for engine, lang, none, void in ((en, "en", "No approval has been given yet.",
                                      "Existing approvals that do not count"),
                                     (zh, "zh", "目前尚无任何审批。", "不计入")):
        d = engine.decide(deal(), "advance", REP, now=NOW)
        text = plain_text(explain_decision(policy, d, deal(), REP, lang=lang))
        assert none in text
        assert void not in text


UNLABELLED = """\
cycleflow: 1
id: tiny
version: "1"
stages:
  lead: {initial: true}
  won: {final: true}
transitions:
  - {trigger: win, from: lead, to: won, approve: [desk]}
approvals:
  desk:
    roles: [boss]
"""


def test_a_gate_without_label_is_named_by_its_id(tmp_path: Path) -> None:
    path = tmp_path / "tiny.yaml"
    path.write_text(UNLABELLED, encoding="utf-8")
    for lang, none in (("en", "no approval for desk yet"), ("zh", "尚无 desk 的审批")):
        engine = Engine(load_policy(path), lang=lang)
        d = engine.decide({"id": "T", "stage": "lead"}, "win", REP, now=NOW)
        assert d.approvals_needed[0].reasons == (none,)


BRACED = """\
cycleflow: 1
id: braced
version: "1"
stages:
  lead: {initial: true}
  won: {final: true}
transitions:
  - {trigger: win, from: lead, to: won}
risks:
  - id: big
    when: deal.amount > 10
    at: [always]
    then: approve desk
    message: big deals need the desk
approvals:
  desk:
    label: {en: "Desk {0} {missing} }{", zh: "审批{台}"}
    roles: [boss]
    count: 2
"""


def test_a_gate_label_with_braces_is_shown_as_written(tmp_path: Path) -> None:
    """The approval sentence is made once per gate as a template: a label's own braces
    must come out as written, whatever the count and the reasons."""
    path = tmp_path / "braced.yaml"
    path.write_text(BRACED, encoding="utf-8")
    boss = {"gate": "desk", "by": "bo", "role": "boss", "at": "2026-11-20T10:00:00Z"}
    for lang, label in (("en", "Desk {0} {missing} }{"), ("zh", "审批{台}")):
        engine = Engine(load_policy(path), lang=lang)
        for approvals, missing in (([], 2), ([boss], 1)):
            d = {"id": "T", "stage": "lead", "amount": 50, "approvals": approvals}
            v = engine.check(d, now=NOW)
            (violation,) = v.violations
            reasons = "; ".join(v.approvals_needed[0].reasons)
            if lang == "en":
                assert violation.message == (
                    f"needs {missing} more approval(s) from {label} (boss): {reasons}")
            else:
                assert violation.message == f"还需 {missing} 个“{label}”审批（boss）：{reasons}"
            # the traced path writes the sentence afresh: both read the same
            assert engine.check(d, now=NOW, explain=True).violations == v.violations
