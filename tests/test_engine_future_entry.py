"""A deal at rest whose ``stage_entered_at`` is later than the check is not compliant.

It was: max_days measured a negative time in stage, so the limit could never fire,
while an approval dated in the future was refused. ``check`` now reports a blocking
``field`` violation naming both times (``max_days.<stage>``, or ``stage_entered_at``
for a stage without a limit); ``decide`` does not judge the time in a stage.
"""

from __future__ import annotations

from shipped import NOW, REP, deal

from cycleflow import Engine
from cycleflow.toolkit.explain import explain_verdict, plain_text

LATER = "2026-12-01T09:00:00Z"




def test_future_entry_in_a_stage_with_max_days_is_a_blocking_field_violation(
    en: Engine,
) -> None:
    assert en.check(deal(), now=NOW).verdict == "compliant"
    v = en.check(deal(stage_entered_at=LATER), now=NOW)
    assert v.verdict == "violation"
    [found] = v.violations
    assert (found.rule, found.kind, found.severity) == ("max_days.qualified", "field", "medium")
    assert LATER in found.message and NOW in found.message
    assert "'Qualified'" in found.message
    assert found.values == {"deal.stage_entered_at": LATER, "now": NOW, "max_days": 30}


def test_future_entry_is_blocking_even_where_the_limit_only_warns(en: Engine) -> None:
    """negotiation's max_days is `then: warn`; a future entry time is no overrun but bad data."""
    d = deal(stage="negotiation", stage_entered_at=LATER,
             steps=[*deal()["steps"], "solution_design"])
    v = en.check(d, now=NOW)
    assert "max_days.negotiation" in {x.rule for x in v.violations}
    assert "max_days.negotiation" not in {x.rule for x in v.warnings}


def test_future_entry_in_a_stage_without_max_days_is_named_stage_entered_at(en: Engine) -> None:
    d = deal(stage="prospect", stage_entered_at=LATER, steps=[])
    v = en.check(d, now=NOW)
    assert [(x.rule, x.kind) for x in v.violations] == [("stage_entered_at", "field")]
    assert en.check(deal(stage="prospect", steps=[]), now=NOW).verdict == "compliant"


def test_batch_path_agrees_and_the_message_reads_as_chinese(en: Engine, zh: Engine) -> None:
    d = deal(stage_entered_at=LATER)
    assert en.check_record(d, NOW, 1, "x") == en.check(d, now=NOW).to_dict(record=1, source="x")
    [found] = zh.check(d, now=NOW).violations
    assert found.message == (
        f"deal.stage_entered_at（{LATER}）晚于本次检查的时间（{NOW}）："
        "交易不可能在未来进入“意向客户”阶段，请更正进入时间")


def test_explain_says_to_fix_the_entry_time(en: Engine) -> None:
    d = deal(stage_entered_at=LATER)
    v = en.check(d, now=NOW, explain=True)
    assert [c.outcome for c in v.checks if c.rule == "max_days.qualified"] == ["error"]
    text = plain_text(explain_verdict(en.policy, v, d))
    assert "at most 30 days in 'Qualified'" in text
    assert f"Fix the deal record: deal.stage_entered_at ({LATER})" in text


def test_an_entry_time_equal_to_now_is_fine(en: Engine) -> None:
    assert en.check(deal(stage_entered_at=NOW), now=NOW).verdict == "compliant"


def test_decide_does_not_judge_the_time_in_stage(en: Engine) -> None:
    """A move neither reads max_days nor judges gates at entry; it writes a new entry time."""
    d = deal(stage_entered_at=LATER)
    assert en.decide(d, "advance", REP, now=NOW).outcome == "allowed"
    assert en.apply(d, "advance", REP, now=NOW)["stage_entered_at"] == NOW
