"""The engine on the shipped policy: decide, check, apply, bind — each outcome with real rules."""

from __future__ import annotations

import copy
import threading
from pathlib import Path
from typing import Any

import pytest
from shipped import NOW, POLICY, REP, ROOT, deal

import cycleflow
from cycleflow import Engine, TransitionBlocked, load_policy
from cycleflow.decide.engine import resolve_now


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(load_policy(POLICY))


def rules(items: Any) -> set[str]:
    return {v.rule for v in items}


def test_allowed_advance(engine: Engine) -> None:
    d = engine.decide(deal(), "advance", REP, now=NOW)
    assert d.outcome == "allowed", d.to_dict()
    assert (d.source, d.target) == ("qualified", "negotiation")


def test_blocked_lists_every_violation_not_just_the_first(engine: Engine) -> None:
    d = engine.decide(deal(steps=["customer_development"], amount=0), "advance", REP, now=NOW)
    assert d.outcome == "blocked"
    got = rules(d.violations)
    assert {"product_introduction", "needs_analysis", "amount_positive"} <= got
    kinds = {v.rule: v.kind for v in d.violations}
    assert kinds["needs_analysis"] == "step"
    assert kinds["amount_positive"] == "entry"
    amount = next(v for v in d.violations if v.rule == "amount_positive")
    assert amount.values == {"deal.amount": 0}


def test_not_permitted_from_stage_and_unknown_trigger(engine: Engine) -> None:
    d = engine.decide(deal(stage="prospect"), "win", REP, now=NOW)
    assert d.outcome == "not_permitted"
    assert "not permitted from stage 'Prospect'" in d.violations[0].message
    d = engine.decide(deal(), "advanse", REP, now=NOW)
    assert d.outcome == "not_permitted"
    assert "did you mean 'advance'" in d.violations[0].message


def test_deep_discount_needs_approval_then_allowed_with_valid_approval(engine: Engine) -> None:
    d = engine.decide(deal(discount_pct=25), "advance", REP, now=NOW)
    assert d.outcome == "needs_approval", d.to_dict()
    assert [a.gate for a in d.approvals_needed] == ["discount_desk"]
    assert d.approvals_needed[0].because == ("deep_discount",)
    approval = {"gate": "discount_desk", "by": "zoe", "role": "sales_director",
                "at": "2026-11-20T10:00:00Z",
                "values": {"discount_pct": 25, "amount": 100000}}
    d = engine.decide(deal(discount_pct=25, approvals=[approval]), "advance", REP, now=NOW)
    assert d.outcome == "allowed", d.to_dict()


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"by": "ann"}, "separation of duties"),
        ({"role": "sales_rep"}, "needs one of"),
        ({"at": "2026-09-01T10:00:00Z"}, "expired"),
        ({"values": {"discount_pct": 22, "amount": 100000}}, "void"),
        ({"values": None}, "neither"),
        ({"at": "2027-01-01T00:00:00Z"}, "future"),
    ],
)
def test_void_approvals_say_why(engine: Engine, change: dict[str, Any], reason: str) -> None:
    approval = {"gate": "discount_desk", "by": "zoe", "role": "sales_director",
                "at": "2026-11-20T10:00:00Z", "values": {"discount_pct": 25, "amount": 100000}}
    approval.update(change)
    if approval["values"] is None:
        del approval["values"]
    d = engine.decide(deal(discount_pct=25, approvals=[approval]), "advance", REP, now=NOW)
    assert d.outcome == "needs_approval"
    assert any(reason in r for r in d.approvals_needed[0].reasons), d.approvals_needed


def test_fingerprint_binds_approval_to_values(engine: Engine) -> None:
    d0 = deal(discount_pct=25)
    fp = engine.fingerprint(d0, "discount_desk")
    approval = {"gate": "discount_desk", "by": "zoe", "role": "sales_director",
                "at": "2026-11-20T10:00:00Z", "fingerprint": fp}
    assert engine.decide(deal(discount_pct=25, approvals=[approval]), "advance", REP,
                         now=NOW).allowed
    changed = engine.decide(deal(discount_pct=26, approvals=[approval]), "advance", REP, now=NOW)
    assert changed.outcome == "needs_approval"


def test_missing_field_fails_closed_naming_the_field(engine: Engine) -> None:
    d = deal()
    del d["budget"]
    v = engine.check(d, now=NOW)
    assert v.verdict == "violation"
    missing = [x for x in v.violations if x.rule == "budget_known"]
    assert missing and missing[0].kind == "field"
    assert missing[0].message == "missing field deal.budget"


def test_check_compliant_and_max_days(engine: Engine) -> None:
    assert engine.check(deal(), now=NOW).verdict == "compliant"
    old = engine.check(deal(stage_entered_at="2026-09-01T00:00:00Z"), now=NOW)
    assert "max_days.qualified" in rules(old.violations)
    assert next(v for v in old.violations if v.rule == "max_days.qualified").kind == "time"


def test_check_earlier_steps_and_required_approvals(engine: Engine) -> None:
    d = deal(stage="negotiation", steps=["customer_development"], discount_pct=30)
    v = engine.check(d, now=NOW)
    assert {"customer_visit", "product_introduction", "needs_analysis"} <= rules(v.violations)
    assert "discount_desk" in rules(v.violations)
    assert [a.gate for a in v.approvals_needed] == ["discount_desk"]


def test_check_bad_record_is_an_error_verdict(engine: Engine) -> None:
    v = engine.check(deal(stage="qualifed"), now=NOW)
    assert v.verdict == "error" and "did you mean 'qualified'" in (v.error or "")
    v = engine.check({"id": "X"}, now=NOW)
    assert v.verdict == "error" and "no 'stage'" in (v.error or "")
    v = engine.check(deal(amount="lots"), now=NOW)
    assert v.verdict == "error" and "deal_schema" in (v.error or "")


def test_apply_returns_new_record_and_never_mutates(engine: Engine) -> None:
    d = deal()
    before = copy.deepcopy(d)
    moved = engine.apply(d, "advance", REP, now=NOW)
    assert d == before
    assert moved["stage"] == "negotiation"
    assert moved["stage_entered_at"] == NOW
    with pytest.raises(TransitionBlocked) as info:
        engine.apply(deal(amount=0), "advance", REP, now=NOW)
    assert info.value.decision.outcome == "blocked"
    assert d == before


def test_lose_requires_reason(engine: Engine) -> None:
    d = engine.decide(deal(), "lose", REP, now=NOW)
    assert d.outcome == "blocked"
    assert "require.lost_reason" in rules(d.violations)
    assert engine.decide(deal(lost_reason="budget cut"), "lose", REP, now=NOW).allowed


@pytest.mark.parametrize("reason", ["", "   ", "\t\n", "\u3000", "\u200b", "\ufeff ",
                                    "\u3164", "\u2800", "\ufe0f", "\u034f"])
def test_lose_refuses_an_empty_or_blank_reason(engine: Engine, reason: Any) -> None:
    """require: means present and non-empty; a reason of only spaces (or a full-width
    space) recorded nothing, yet the deal was allowed to be lost."""
    d = engine.decide(deal(lost_reason=reason), "lose", REP, now=NOW)
    assert d.outcome == "blocked" and "require.lost_reason" in rules(d.violations)


class Opportunity:
    def __init__(self, **fields: Any) -> None:
        self.__dict__.update(fields)


def test_bind_moves_app_object_only_when_allowed(engine: Engine) -> None:
    opp = Opportunity(**deal())
    engine.bind(opp)
    assert opp.stage == "qualified"
    opp.advance(actor=REP, now=NOW)  # type: ignore[attr-defined]
    assert opp.stage == "negotiation"
    assert opp.stage_entered_at == NOW
    blocked = Opportunity(**deal(amount=0))
    engine.bind(blocked)
    with pytest.raises(TransitionBlocked):
        blocked.advance(actor=REP, now=NOW)  # type: ignore[attr-defined]
    assert blocked.stage == "qualified"


def test_bound_objects_refuse_unpermitted_triggers_and_may_asks_without_acting() -> None:
    from cycleflow import UsageError
    from cycleflow.audit import MemorySink

    sink = MemorySink()
    engine = Engine(load_policy(POLICY), audit=sink)
    opp = engine.bind(Opportunity(**deal(stage="negotiation", discount_pct=5,
                                         contract_signed=True)))
    with pytest.raises(TransitionBlocked) as refused:  # not MachineError
        opp.advance(actor=REP, now=NOW)
    assert refused.value.decision.outcome == "not_permitted" and opp.stage == "negotiation"
    before = len(sink.events)
    assert opp.may_advance(actor=REP, now=NOW) is False  # asks, never raises
    assert opp.may_lose(actor=REP, now=NOW) in (True, False)
    assert len(sink.events) == before and opp.stage == "negotiation"  # no audit, no move
    for thing in ({"stage": "prospect"}, None, Opportunity):
        with pytest.raises(UsageError, match="bind needs an object"):
            engine.bind(thing)
    with pytest.raises(UsageError, match="unknown stage"):
        engine.bind(Opportunity(**deal(stage=["qualified"])))


def test_a_bound_move_is_audited_as_applied_like_apply() -> None:
    """A move through bind() logged the decision but never transition.applied, so the log
    could not show the deal moved, and the report did not count it."""
    from cycleflow.audit import MemorySink

    sink = MemorySink()
    engine = Engine(load_policy(POLICY), audit=sink)
    opp = engine.bind(Opportunity(**deal()))
    opp.advance(actor=REP, now=NOW)
    applied = [e for e in sink.events if e["event"] == "transition.applied"]
    assert len(applied) == 1
    event = applied[0]
    assert (event["from"], event["to"], event["trigger"], event["actor"]) == (
        "qualified", "negotiation", "advance", REP["id"])
    last = engine.last_decision(opp)
    assert last is not None and event["decision_id"] == last.decision_id
    moved = engine.apply(deal(), "advance", REP, now=NOW)  # the same event as apply gives
    twin = [e for e in sink.events if e["event"] == "transition.applied"][-1]
    assert moved["stage"] == "negotiation"
    apart = {"decision_id", "recorded_at"}  # each move's own id and wall-clock time
    assert {k: v for k, v in twin.items() if k not in apart} == {
        k: v for k, v in event.items() if k not in apart}
    assert set(twin) == set(event)
    blocked = engine.bind(Opportunity(**deal(amount=0)))
    with pytest.raises(TransitionBlocked):
        blocked.advance(actor=REP, now=NOW)
    assert len([e for e in sink.events if e["event"] == "transition.applied"]) == 2


def test_unbind_lets_a_bound_object_go() -> None:
    import gc
    import weakref

    from cycleflow import UsageError

    engine = Engine(load_policy(POLICY))
    opps = [engine.bind(Opportunity(**deal(id=f"D-{i}"))) for i in range(50)]
    assert len(engine._machine_for_binding().models) == 50
    gone = weakref.ref(opps[0])
    for opp in opps:
        engine.unbind(opp)
    assert engine._machine_for_binding().models == []
    with pytest.raises(UsageError, match="not bound"):
        engine.unbind(opps[0])
    del opps, opp
    gc.collect()
    assert gone() is None


def test_one_machine_per_engine_not_per_deal(engine: Engine) -> None:
    a, b = Opportunity(**deal(id="A")), Opportunity(**deal(id="B"))
    engine.bind(a)
    engine.bind(b)
    assert engine._machine_for_binding() is engine._machine_for_binding()
    assert engine.compiled.machine.auto_transitions is False


def test_engine_is_thread_safe(engine: Engine) -> None:
    results: list[str] = []
    lock = threading.Lock()

    def work(i: int) -> None:
        for _ in range(50):
            out = engine.decide(deal(discount_pct=25 if i % 2 else 5), "advance", REP, now=NOW)
            with lock:
                results.append(out.outcome)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count("needs_approval") == 200 and results.count("allowed") == 200


def test_public_api_is_exported() -> None:
    for name in ("load_policy", "Engine", "Decision", "Verdict", "PolicyError", "CycleflowError"):
        assert hasattr(cycleflow, name)
    assert issubclass(cycleflow.PolicyError, cycleflow.CycleflowError)
    assert issubclass(cycleflow.TransitionBlocked, cycleflow.CycleflowError)


def test_every_example_deal_gets_its_expected_verdict(engine: Engine) -> None:
    """The engine agrees, deal by deal, with the expectations written beside the examples."""
    import json
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from test_schemas_and_examples import EXPECTED_CHECK

    for line in (ROOT / "examples" / "deals.jsonl").read_text("utf-8").splitlines():
        d = json.loads(line)
        v = engine.check(d, now=NOW)
        assert v.verdict != "error", (d["id"], v.error)
        violations, warnings = EXPECTED_CHECK[d["id"]]
        assert sorted(rules(v.violations)) == sorted(violations), d["id"]
        assert sorted(rules(v.warnings)) == sorted(warnings), d["id"]
        assert v.compliant == (not violations)
        # the batch path (no Verdict, one generated function per stage) gives the same dict
        moment = resolve_now(NOW)
        assert engine.check_record(d, moment, 3, "x") == v.to_dict(record=3, source="x")
        # the time as text, or naive (= UTC), means the same moment
        assert engine.check_record(d, NOW, 3, "x") == v.to_dict(record=3, source="x")
        naive = moment.replace(tzinfo=None)
        assert engine.check_record(d, naive, 3, "x") == v.to_dict(record=3, source="x")
        traced = engine.check(d, now=NOW, explain=True)  # the tracing path agrees too
        assert traced.to_dict() == v.to_dict()
        for trigger in ("advance", "win", "lose", "close", "reopen"):
            full = engine.decide(d, trigger, {"id": "x", "roles": ["sales_director"]}, now=NOW)
            lean = engine.decide(d, trigger, {"id": "x", "roles": ["sales_director"]}, now=NOW,
                                 explain=False)
            assert lean.checks == () and (full.checks or full.outcome == "not_permitted")
            assert {**lean.to_dict(), "decision_id": ""} == {**full.to_dict(), "decision_id": ""}


def test_missing_fields_and_unpermitted_triggers_follow_the_language() -> None:
    """With --lang zh these stayed English, while explain said the same thing in Chinese."""
    # without deal-schema validation, which would refuse a deal lacking stage_entered_at
    zh = Engine(load_policy(POLICY), lang="zh", validate_deals=False)
    en = Engine(load_policy(POLICY), validate_deals=False)
    d = deal(stage="qualified")
    del d["budget"], d["stage_entered_at"]
    for engine, missing in ((zh, "缺少字段 deal.budget"), (en, "missing field deal.budget")):
        v = engine.check_record(d, NOW, 1, "x")
        messages = {x["rule"]: x["message"] for x in v["violations"]}
        assert messages["budget_known"] == missing
        assert messages["max_days.qualified"] == missing.replace("budget", "stage_entered_at")
        assert engine.check(d, now=NOW).to_dict(record=1, source="x") == v
    not_here = zh.decide(deal(stage="prospect"), "win", {"id": "ann", "roles": []}, now=NOW)
    assert not_here.violations[0].message == (
        "不能从阶段“潜在客户”执行操作“win”；此处可用：advance、lose")
    nowhere = en.decide(deal(stage="prospect"), "wn", {"id": "ann", "roles": []}, now=NOW)
    assert nowhere.violations[0].message.startswith("the policy has no trigger 'wn'")


def test_engine_sentences_follow_the_language() -> None:
    zh = Engine(load_policy(POLICY), lang="zh")
    d = deal(stage="negotiation", steps=["customer_development"], discount_pct=30,
             approvals=[{"gate": "discount_desk", "by": "ann", "role": "sales_director",
                         "at": "2026-11-20T10:00:00Z",
                         "values": {"discount_pct": 30, "amount": 100000}}])
    v = zh.check(d, now=NOW)
    messages = {x.rule: x.message for x in v.violations}
    assert messages["customer_visit"] == "阶段“潜在客户”的必需步骤“客户拜访”尚未完成"
    assert "职责分离" in messages["discount_desk"]  # separation of duties, in Chinese
    en = Engine(load_policy(POLICY)).check(d, now=NOW)
    assert "separation of duties" in {x.rule: x.message for x in en.violations}["discount_desk"]


def test_a_step_not_done_is_checked_with_the_failure_message(engine: Engine) -> None:
    """explain and the audit log showed a missing step as 'failed: step ... done'."""
    d = engine.decide(deal(steps=["product_introduction"]), "advance", REP, now=NOW)
    visit = next(c for c in d.checks if c.rule == "needs_analysis")
    assert visit.outcome == "fail"
    assert visit.message == next(v.message for v in d.violations if v.rule == "needs_analysis")
    assert "is not done" in visit.message
    done = next(c for c in d.checks if c.rule == "product_introduction")
    assert done.outcome == "pass" and done.message.endswith("done")


def test_a_standing_control_never_blocks_losing_a_deal_nor_keeps_a_lost_deal_in_violation(
        engine: Engine) -> None:
    """extreme_discount is 'always': losing a deal with a 45% discount was blocked, and
    explain told the rep to fix the discount in order to lose the deal."""
    d = engine.decide(deal(discount_pct=45, lost_reason="budget cut"), "lose", REP, now=NOW)
    assert d.allowed, d.to_dict()
    assert "extreme_discount" not in {c.rule for c in d.checks}
    lost = deal(stage="lost", discount_pct=45, lost_reason="budget cut", steps=[])
    assert engine.check(lost, now=NOW).verdict == "compliant"
    # everywhere else the control still stands
    assert "extreme_discount" in rules(
        engine.decide(deal(discount_pct=45), "advance", REP, now=NOW).violations)


def test_a_control_naming_the_lost_stage_or_the_trigger_still_applies(tmp_path: Path) -> None:
    text = POLICY.read_text(encoding="utf-8").replace(
        "at: [enter negotiation, enter won, always]", "at: [enter negotiation, on lose]"
    ).replace("deal_schema: ../schemas/deal.schema.json\n", "")
    assert "on lose" in text and "deal_schema" not in text
    (tmp_path / "p.yaml").write_text(text, encoding="utf-8")
    named = Engine(load_policy(tmp_path / "p.yaml"))
    d = named.decide(deal(discount_pct=45, lost_reason="budget cut"), "lose", REP, now=NOW)
    assert d.outcome == "blocked" and "extreme_discount" in rules(d.violations)


def test_a_record_breaking_the_deal_schema_is_blocked_not_refused_as_a_move(
        engine: Engine) -> None:
    """A lost_reason of 0 made 'lose' not_permitted ('lead → ?'), as if the stage had no
    such trigger; the move exists and the record fails closed, as a missing field does."""
    d = engine.decide(deal(lost_reason=0), "lose", REP, now=NOW)
    assert (d.outcome, d.source, d.target) == ("blocked", "qualified", "lost")
    assert [(v.rule, v.kind) for v in d.violations] == [("deal", "field")]
    assert "lost_reason" in d.violations[0].message
    unknown = engine.decide(deal(stage="qualifed"), "advance", REP, now=NOW)
    assert (unknown.outcome, unknown.target) == ("not_permitted", None)
    wrong = engine.decide(deal(lost_reason=0), "win", REP, now=NOW)  # no 'win' from here
    assert wrong.outcome == "not_permitted"


def test_each_rule_evaluation_is_one_audit_event() -> None:
    from cycleflow.audit import capture_audit

    with capture_audit() as sink:
        audited = Engine(load_policy(POLICY), audit=sink)
        d = deal(stage="prospect")
        del d["budget"]  # budget_known cannot be evaluated: one 'error' event, not two
        decision = audited.decide(d, "advance", REP, now=NOW)
        audited.decide(deal(), "jump", REP, now=NOW)  # not permitted: no rule check ran
    events = sink.events
    first = [e for e in events if e["decision_id"] == decision.decision_id]
    assert [e["outcome"] for e in first if e["rule"] == "budget_known"] == ["error"]
    assert first[0]["event"] == "transition.requested"
    assert first[-1]["event"] == "transition.blocked"
    assert len(first) == len(decision.checks) + 2
    refused = [e for e in events if e["decision_id"] != decision.decision_id]
    assert [e["event"] for e in refused] == ["transition.requested", "rule.evaluated",
                                             "transition.not_permitted"]
    assert refused[1]["rule"] == "transition"


def test_the_readme_reaches_subpackages_from_a_bare_import() -> None:
    """`cycleflow.audit.JsonlSink(...)` right after `import cycleflow`, as the README writes
    it (a fresh interpreter: once imported anywhere, a subpackage is an attribute anyway)."""
    import subprocess
    import sys

    code = ("import cycleflow; cycleflow.audit.JsonlSink; cycleflow.audit.capture_audit; "
            "cycleflow.batch; cycleflow.report\n"
            "try:\n    cycleflow.nope\nexcept AttributeError as e:\n    print(e)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "has no attribute 'nope'" in proc.stdout


def test_engine_and_load_policy_arguments_are_checked_or_understood() -> None:
    from cycleflow import UsageError

    by_path = Engine(str(POLICY))  # a path is loaded: the common case in one step
    assert by_path.check(deal(), now=NOW).verdict == "compliant"
    for wrong in (None, 123, {"stages": []}):
        with pytest.raises(UsageError, match="Engine needs a policy"):
            Engine(wrong)  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="emit"):
        Engine(load_policy(POLICY), audit=object())
    assert Engine(load_policy(POLICY), lang=None).lang == "en"  # type: ignore[arg-type]
    for wrong in (None, 123):
        with pytest.raises(UsageError, match="needs a file path"):
            load_policy(wrong)  # type: ignore[arg-type]


def test_apply_keeps_fields_it_cannot_copy(engine: Engine) -> None:
    """apply deep-copies the record; a field holding a lock raised TypeError after the
    decision had already allowed the move."""
    lock = threading.Lock()
    moved = engine.apply(deal(handle=lock), "advance", REP, now=NOW)
    assert moved["stage"] == "negotiation" and moved["handle"] is lock


def test_a_numeric_actor_or_owner_id_is_the_same_person_as_its_text() -> None:
    """A service passing integer user ids (Django's request.user.id) let every requester
    approve their own request: approval "by": "42" never equalled requester 42."""
    approval = {"gate": "discount_desk", "by": "42", "role": "sales_director",
                "at": "2026-11-20T10:00:00Z", "values": {"discount_pct": 25, "amount": 100000}}
    unchecked = Engine(load_policy(POLICY), validate_deals=False)  # an owner id may be a number
    for actor, owner in (({"id": 42, "roles": ["sales_rep"]}, "ann"),
                         ({"id": "zoe", "roles": ["sales_rep"]}, 42)):
        d = unchecked.decide(deal(discount_pct=25, approvals=[approval], owner=owner),
                             "advance", actor, now=NOW)
        assert d.outcome == "needs_approval", (actor, owner)
        assert "separation of duties" in d.approvals_needed[0].reasons[0]
    other = dict(approval, by="43")
    d = unchecked.decide(deal(discount_pct=25, approvals=(other,)), "advance",
                         {"id": 42, "roles": frozenset({"sales_rep"})}, now=NOW)
    assert d.outcome == "allowed", d.to_dict()  # approvals as a tuple, roles as a set


@pytest.mark.parametrize("actor", [None, {"roles": ["sales_rep"]}, {"id": "", "roles": []}])
def test_a_move_without_an_actor_id_counts_no_approval_kept_from_the_requester(
        engine: Engine, actor: Any) -> None:
    """discount_desk is separate from the requester: a move that names nobody let any
    director's approval count, so the requester could have approved their own request."""
    approval = {"gate": "discount_desk", "by": "zoe", "role": "sales_director",
                "at": "2026-11-20T10:00:00Z", "values": {"discount_pct": 25, "amount": 100000}}
    d = engine.decide(deal(discount_pct=25, approvals=[approval]), "advance", actor, now=NOW)
    assert d.outcome == "needs_approval"
    assert d.approvals_needed[0].reasons == (
        "approval by zoe cannot count: the request names no acting user (actor id), so "
        "separation from the requester cannot be checked",)
    named = engine.decide(deal(discount_pct=25, approvals=[approval]), "advance", REP, now=NOW)
    assert named.outcome == "allowed"
    zh = Engine(load_policy(POLICY), lang="zh").decide(
        deal(discount_pct=25, approvals=[approval]), "advance", actor, now=NOW)
    assert "无法核对与请求人的职责分离" in zh.approvals_needed[0].reasons[0]


def test_at_rest_the_unknown_requester_of_a_past_move_is_not_judged(engine: Engine) -> None:
    """check has no actor: the requester of the move into the stage is not recorded, so
    the approval that let the deal in still counts (only the owner is checked)."""
    approval = {"gate": "discount_desk", "by": "zoe", "role": "sales_director",
                "at": "2026-11-20T10:00:00Z", "values": {"discount_pct": 25, "amount": 100000}}
    v = engine.check(deal(stage="negotiation", discount_pct=25, approvals=[approval],
                          stage_entered_at="2026-11-21T09:00:00Z",
                          steps=["customer_development", "customer_visit",
                                 "product_introduction", "needs_analysis"]), now=NOW)
    assert "discount_desk" not in rules(v.violations), v.to_dict()


@pytest.mark.parametrize("by", ["Ann", "ANN", " ann ", "ａｎｎ", "ann\u200b", "\ufeffann",
                                "an\u00adn", "ann\u2028", "ann\x00", "a\x7fnn", "ann\ufe0f",
                                "an\u034fn", "ann\u3164", "ann\u2800", "ann\U000e0100"])
def test_an_approver_id_differing_only_in_case_width_or_spaces_is_the_same_person(
        engine: Engine, by: str) -> None:
    """The owner "ann" approved her own discount as "Ann" (allowed); one finance director
    counted twice as "fred" and "Fred" for a gate needing two people."""
    own = {"gate": "discount_desk", "by": by, "role": "sales_director",
           "at": "2026-11-20T10:00:00Z", "values": {"discount_pct": 25, "amount": 100000}}
    d = engine.decide(deal(discount_pct=25, approvals=[own]), "advance",
                      {"id": "zoe", "roles": ["sales_rep"]}, now=NOW)
    assert d.outcome == "needs_approval"
    assert "separation of duties" in d.approvals_needed[0].reasons[0]
    d = engine.decide(deal(discount_pct=25, approvals=[own], owner="bob"), "advance",
                      REP, now=NOW)  # the requester "ann", too
    assert d.outcome == "needs_approval"
    assert "separation of duties" in d.approvals_needed[0].reasons[0]


def test_two_approvals_by_one_person_spelt_two_ways_count_once(engine: Engine) -> None:
    def review(by: str) -> dict[str, Any]:
        return {"gate": "deal_review", "by": by, "role": "finance_director",
                "at": "2026-11-25T10:00:00Z", "values": {"amount": 600000}}

    won = deal(stage="negotiation", amount=600000, contract_signed=True,
               stage_entered_at="2026-11-20T09:00:00Z",
               steps=["customer_development", "customer_visit", "product_introduction",
                      "needs_analysis", "solution_design", "quotation_negotiation",
                      "contract_signing"])
    two = engine.decide(dict(won, approvals=[review("fred"), review("Fred ")]), "win", REP,
                        now=NOW)
    assert [n.gate for n in two.approvals_needed] == ["deal_review"], two.to_dict()
    assert two.approvals_needed[0].missing == 1
    assert engine.decide(dict(won, approvals=[review("fred"), review("gina")]), "win", REP,
                         now=NOW).allowed


def test_bound_triggers_refuse_a_positional_or_misspelt_actor() -> None:
    """opp.win(grace) moved the deal with no requester (the separation from the requester
    passed) and logged actor null; may_win(grace) answered True."""
    from cycleflow import UsageError

    engine = Engine(load_policy(POLICY))
    opp = engine.bind(Opportunity(**deal()))
    for call in (lambda: opp.advance(REP, now=NOW), lambda: opp.may_advance(REP),
                 lambda: opp.advance(actr=REP, now=NOW)):
        with pytest.raises(UsageError, match="takes only actor= and now="):
            call()
    assert opp.stage == "qualified" and engine.last_decision(opp) is None


def test_bind_refuses_what_it_could_not_enforce_and_unbind_takes_its_methods_back() -> None:
    """A class with its own win() kept it, so the policy was never asked; binding to a
    second engine did nothing; unbind() left advance() working; and the engine's
    last_decision attribute was read back as a deal field."""
    from cycleflow import UsageError

    class OwnWin(Opportunity):
        def win(self) -> str:
            return "the app's own win"

    engine, other = Engine(load_policy(POLICY)), Engine(load_policy(POLICY))
    with pytest.raises(UsageError, match="already has win"):
        engine.bind(OwnWin(**deal()))
    opp = engine.bind(Opportunity(**deal()))
    for again in (engine, other):
        with pytest.raises(UsageError, match="already bound"):
            again.bind(opp)
    opp.advance(actor=REP, now=NOW)
    decision = engine.last_decision(opp)
    assert decision is not None and decision.outcome == "allowed"
    from cycleflow.decide.binding import _default_record

    record = _default_record(opp)  # what the next trigger judges: deal fields only
    assert "last_decision" not in record and not any(
        isinstance(v, type(decision)) for v in record.values())
    engine.unbind(opp)
    assert not hasattr(opp, "advance") and not hasattr(opp, "may_win")
    assert opp.stage == "negotiation"  # its state stays
    other.bind(opp)  # and it can obey another engine now
    assert other.last_decision(opp) is None


def test_every_cycleflow_error_survives_pickling_with_its_attributes(tmp_path: Path) -> None:
    """A TransitionBlocked raised in a process pool's worker broke the pool
    (BrokenProcessPool: 'str' object has no attribute 'outcome'): exceptions must
    round-trip, as concurrent.futures and Celery re-raise them in the parent."""
    import pickle
    from concurrent.futures import ProcessPoolExecutor

    from cycleflow import DealError, MissingField, PolicyError, UsageError
    from cycleflow.audit import AuditError

    engine = Engine(load_policy(POLICY))
    with pytest.raises(TransitionBlocked) as blocked:
        engine.apply(deal(discount_pct=25), "advance", REP, now=NOW)
    assert "discount_desk" in str(blocked.value)  # the message names what is missing
    bad = tmp_path / "bad.yaml"
    bad.write_text("cycleflow: 1\nid: x\n", "utf-8")
    with pytest.raises(PolicyError) as invalid:
        load_policy(bad)
    errors = [blocked.value, invalid.value, DealError("bad", source="f.jsonl", position=3),
              MissingField("deal.x"), UsageError("u"), AuditError("a")]
    for err in errors:
        again = pickle.loads(pickle.dumps(err))
        assert type(again) is type(err) and str(again) == str(err)
        assert vars(again).keys() == vars(err).keys()
    assert pickle.loads(pickle.dumps(blocked.value)).decision == blocked.value.decision
    with ProcessPoolExecutor(1) as pool, pytest.raises(TransitionBlocked) as remote:
        pool.submit(_apply_in_a_worker, deal(discount_pct=25)).result()
    assert remote.value.decision.outcome == "needs_approval"


def _apply_in_a_worker(record: dict[str, Any]) -> dict[str, Any]:
    return Engine(load_policy(POLICY)).apply(record, "advance", REP, now=NOW)


def test_every_error_class_is_importable_from_the_package() -> None:
    """AuditError and GraphvizMissing derive from CycleflowError but were importable only
    from their subpackages; an app catching errors should need one import."""
    import cycleflow.audit
    import cycleflow.toolkit.graph

    assert cycleflow.AuditError is cycleflow.audit.AuditError
    assert cycleflow.GraphvizMissing is cycleflow.toolkit.graph.GraphvizMissing
    for name in cycleflow.__all__:
        value = getattr(cycleflow, name)
        if isinstance(value, type) and issubclass(value, Exception):
            assert issubclass(value, cycleflow.CycleflowError), name


def test_an_apps_str_enums_are_their_text() -> None:
    """A StrEnum stage was 'stage must be a stage id, got Stage' (a StrEnum trigger was
    accepted), and StrEnum roles were refused."""
    import enum

    class Stage(enum.StrEnum):
        QUALIFIED = "qualified"

    class Role(str, enum.Enum):  # the older spelling: str() of it is 'Role.REP'
        REP = "sales_rep"

    engine = Engine(load_policy(POLICY))
    record = deal(stage=Stage.QUALIFIED)
    assert engine.check(record, now=NOW).to_dict() == engine.check(deal(), now=NOW).to_dict()
    decided = engine.decide(deal(stage=Stage.QUALIFIED), "advance",
                            {"id": "ann", "roles": [Role.REP]}, now=NOW)
    assert decided.outcome == "allowed" and decided.source == "qualified"
    assert engine.check([1, 2], now=NOW).verdict == "error"  # not a deal: still an error


def test_values_read_from_python_objects_are_json_in_to_dict() -> None:
    """With validate_deals=False an app may pass dates, Decimals and enums; the decision
    was right but json.dumps(decision.to_dict()) failed (date is not JSON serializable)."""
    import datetime as dt
    import enum
    import json
    from decimal import Decimal

    class Country(enum.Enum):
        DE = "DE"

    engine = Engine(load_policy(POLICY), validate_deals=False)
    record = deal(stage="negotiation", close_date=dt.date(2026, 11, 1), amount=Decimal("0"),
                  customer={"name": "Acme", "country": Country.DE, "screening": "cleared"},
                  stage_entered_at=dt.datetime(2026, 11, 20, tzinfo=dt.timezone.utc))
    verdict = engine.check(record, now=NOW)
    text = json.dumps(verdict.to_dict())  # no TypeError
    values = {v["rule"]: v["values"] for v in json.loads(text)["violations"]}
    assert values["amount_positive"] == {"deal.amount": "0"}
    decided = engine.decide(record, "win", REP, now=NOW)
    json.dumps(decided.to_dict())
    assert {w.rule for w in verdict.warnings} >= {"close_date_past"}
    from cycleflow.audit import MemorySink  # with a sink the events carry the values too

    audited = Engine(load_policy(POLICY), validate_deals=False, audit=MemorySink())
    events = audited.decide(record, "win", REP, now=NOW).to_dict()["events"]
    assert events and json.loads(json.dumps(events))
    odd = engine.check(deal(discount_pct=float("inf"), amount=float("nan")), now=NOW).to_dict()
    json.loads(json.dumps(odd, allow_nan=False))  # strict JSON: no NaN or Infinity


def test_an_approval_of_a_sensitive_bound_field_says_it_changed_not_to_what(
        tmp_path: Path) -> None:
    """Approval reasons quoted both the approved and the current value of a bound field,
    sensitive or not (a second security review)."""
    text = POLICY.read_text("utf-8")
    policy = tmp_path / "p.yaml"
    policy.write_text(text.replace("deal_schema: ../schemas/deal.schema.json\n", "").replace(
        "sensitive:\n", "sensitive:\n  - deal.amount\n", 1), "utf-8")
    engine = Engine(load_policy(policy))
    approval = {"gate": "discount_desk", "by": "zoe", "role": "sales_director",
                "at": "2026-11-20T10:00:00Z", "values": {"discount_pct": 25, "amount": 1111111}}
    d = engine.decide(deal(discount_pct=25, amount=7654321, approvals=[approval]), "advance",
                      REP, now=NOW)
    [reason] = d.approvals_needed[0].reasons
    assert reason.endswith("deal.amount (a sensitive field) changed since it was approved")
    assert "1111111" not in str(d.to_dict())
    assert "7654321" not in str(d.to_dict()["approvals_needed"])


def test_a_bind_that_cannot_finish_leaves_nothing_behind() -> None:
    """An object that refuses new attributes (a pydantic model) failed inside transitions
    with a raw ValueError and stayed half-bound: neither bind() nor unbind() accepted it,
    yet its triggers worked. A None attribute named like a trigger was overwritten, and a
    StrEnum stage whose member name differs from its value was 'not a registered state'."""
    import enum

    from cycleflow import UsageError

    class Refuses(Opportunity):
        def __setattr__(self, name: str, value: Any) -> None:
            if name not in self.__dict__:
                raise ValueError(f'"Refuses" object has no field "{name}"')
            super().__setattr__(name, value)

    engine = Engine(load_policy(POLICY))
    refusing = Refuses(**deal())
    before = dict(vars(refusing))
    with pytest.raises(UsageError, match="cannot bind Refuses: it refused"):
        engine.bind(refusing)
    assert vars(refusing) == before and engine._machine_for_binding().models == []
    with pytest.raises(UsageError, match="already has trigger, advance"):
        engine.bind(Opportunity(**deal(advance=None, trigger=None)))

    class Stage(enum.StrEnum):
        QUALIFIED = "qualified"

    opp = engine.bind(Opportunity(**deal(stage=Stage.QUALIFIED)))
    opp.advance(actor=REP, now=NOW)
    assert opp.stage == "negotiation"


def test_a_bound_move_without_now_stamps_one_time_on_all_its_events() -> None:
    """transition.applied and stage_entered_at read the clock again after the decision."""
    from cycleflow.audit import MemorySink

    sink = MemorySink()
    opp = Engine(load_policy(POLICY), audit=sink).bind(Opportunity(**deal()))
    opp.advance(actor=REP)
    assert len({e["at"] for e in sink.events}) == 1
    assert opp.stage_entered_at == sink.events[0]["at"]
