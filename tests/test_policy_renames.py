"""``formerly:``: a policy version that renames a stage or a step ships while deals in the
CRM still say the old id (policy-evolution review: renaming `negotiation` made all 17
deals in it errors, "unknown stage", and the deals that the same version's tighter
discount rule targeted never showed their real change)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from cycleflow import Engine, PolicyError, load_policy
from cycleflow.toolkit.lint import lint_file

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "policies" / "standard-sales-cycle.yaml"
NOW = "2026-11-26T12:00:00Z"
REP = {"id": "ann", "roles": ["sales_rep"]}
DEALS = [json.loads(line) for line in
         (ROOT / "examples" / "deals.jsonl").read_text("utf-8").splitlines() if line.strip()]


def _v2(tmp_path: Path, extra: str = "") -> Path:
    """The shipped policy with negotiation renamed negotiating and quotation_negotiation
    renamed quotation, both saying what they were; its schema lists the new ids only."""
    text = SHIPPED.read_text("utf-8")
    text = text.replace("  negotiation:\n", "  negotiating:\n    formerly: [negotiation]\n", 1)
    text = text.replace("      - id: quotation_negotiation\n",
                        "      - id: quotation\n        formerly: [quotation_negotiation]\n", 1)
    text = re.sub(r"(?<=[ \[\"])negotiation(?=[\]\n,\"])", "negotiating", text)
    text = text.replace("[negotiating]\n", "[negotiation]\n", 1)  # formerly keeps the old id
    schema = json.loads((ROOT / "schemas" / "deal.schema.json").read_text("utf-8"))
    enum = schema["properties"]["stage"]["enum"]
    enum[enum.index("negotiation")] = "negotiating"
    steps = schema["$defs"]["step_id"]["enum"]
    steps[steps.index("quotation_negotiation")] = "quotation"
    (tmp_path / "deal.schema.json").write_text(json.dumps(schema), "utf-8")
    text = text.replace("../schemas/deal.schema.json", str(tmp_path / "deal.schema.json"))
    path = tmp_path / "v2.yaml"
    path.write_text(text + extra, "utf-8")
    return path


@pytest.fixture
def engines(tmp_path: Path) -> tuple[Engine, Engine]:
    return Engine(load_policy(str(SHIPPED))), Engine(load_policy(str(_v2(tmp_path))))


def _without_renames(verdict: dict[str, Any]) -> dict[str, Any]:
    """A v2 verdict as v1 would say it: no renamed warnings, the old ids (values hold the
    steps as the rules read them: under the current ids)."""
    out: dict[str, Any] = json.loads(json.dumps(verdict).replace("negotiating", "negotiation")
                     .replace('"quotation"', '"quotation_negotiation"'))
    out["warnings"] = [w for w in out["warnings"] if w["rule"] != "renamed"]
    return out


def test_deals_saying_the_old_ids_get_the_verdicts_they_had(
        engines: tuple[Engine, Engine]) -> None:
    v1, v2 = engines
    renamed = 0
    for deal in DEALS:
        before = v1.check(deal, now=NOW).to_dict()
        after = v2.check(deal, now=NOW).to_dict()
        assert _without_renames(after) == before, deal["id"]
        notes = [w for w in after["warnings"] if w["rule"] == "renamed"]
        renamed += bool(notes)
        if deal["stage"] == "negotiation":
            assert after["stage"] == "negotiating"
            assert {"rule": "renamed", "kind": "field", "severity": "low",
                    "message": "The deal's stage 'negotiation' was renamed 'negotiating' "
                               "(formerly): it is judged in 'negotiating'; update the record.",
                    "values": {"deal.stage": "negotiation"}} in notes
        if "quotation_negotiation" in (deal.get("steps") or ()):
            assert {"deal.steps": "quotation_negotiation"} in [w["values"] for w in notes]
    assert renamed >= 20


def test_the_batch_path_says_what_check_says(engines: tuple[Engine, Engine],
                                             tmp_path: Path) -> None:
    _, v2 = engines
    fast = Engine(load_policy(str(_v2(tmp_path))), validate_deals=False)
    for n, deal in enumerate(DEALS, 1):
        for engine in (v2, fast):
            assert engine.check_record(deal, NOW, record=n, source="d.jsonl") == \
                engine.check(deal, now=NOW).to_dict(record=n, source="d.jsonl"), deal["id"]


def test_a_move_from_the_old_stage_is_decided_in_the_new_one(
        engines: tuple[Engine, Engine], tmp_path: Path) -> None:
    v1, v2 = engines
    deal = json.loads((ROOT / "examples" / "deal-negotiation.json").read_text("utf-8"))
    before = v1.decide(deal, "win", REP, now=NOW)
    after = v2.decide(deal, "win", REP, now=NOW)
    assert (after.outcome, after.source, after.target) == (before.outcome, "negotiating", "won")
    assert [w.values for w in after.warnings if w.rule == "renamed"] == [
        {"deal.stage": "negotiation"}, {"deal.steps": "quotation_negotiation"}]
    zh = Engine(load_policy(str(_v2(tmp_path))), lang="zh")
    [stage_note, _] = [w for w in zh.decide(deal, "win", REP, now=NOW).warnings
                       if w.rule == "renamed"]
    assert stage_note.message == ("该交易的阶段“negotiation”已更名为“negotiating”：按“negotiating”"
                                  "判定；请更新记录。")
    moved = v2.apply(deal, "win", REP, now=NOW)
    assert moved["stage"] == "won"


@pytest.mark.parametrize(("steps", "expected"), [
    (["quotation_negotiation", "quotation"], ["quotation"]),  # both: the current one stands
    ({"quotation_negotiation": {"at": "2026-11-01T10:00:00Z", "by": "ann"}},
     {"quotation": {"at": "2026-11-01T10:00:00Z", "by": "ann"}}),
    ({"quotation_negotiation": None, "quotation": {"by": "bo"}}, {"quotation": {"by": "bo"}}),
])
def test_steps_under_the_old_id_count_under_the_new_one(
        engines: tuple[Engine, Engine], steps: Any, expected: Any) -> None:
    _, v2 = engines
    deal = json.loads((ROOT / "examples" / "deal-negotiation.json").read_text("utf-8"))
    base = [s for s in deal["steps"] if s != "quotation_negotiation"]
    deal["steps"] = ([*base, *steps] if isinstance(steps, list)
                     else {**{s: {"by": "ann"} for s in base}, **steps})
    decision = v2.decide(deal, "win", REP, now=NOW)
    assert decision.outcome == "allowed", decision.to_dict()
    assert [w.values for w in decision.warnings if w.rule == "renamed"][-1] == {
        "deal.steps": "quotation_negotiation"}
    current, _ = v2._renames.current(deal, "en")  # type: ignore[union-attr]
    got = current["steps"]
    if isinstance(expected, list):
        assert got == [*base, *expected]
    else:
        assert {k: v for k, v in got.items() if k not in base} == expected


def _load_error(path: Path) -> list[str]:
    with pytest.raises(PolicyError) as caught:
        load_policy(str(path))
    return [f"{p.code}: {p.message}" for p in caught.value.problems]


def test_a_former_id_in_use_or_claimed_twice_stops_the_policy_loading(tmp_path: Path) -> None:
    path = _v2(tmp_path)
    text = path.read_text("utf-8")
    path.write_text(text.replace("formerly: [negotiation]", "formerly: [negotiation, won]"),
                    "utf-8")
    assert _load_error(path) == [
        "formerly-in-use: stage 'negotiating' was formerly 'won', but 'won' is a stage of the "
        "policy now: a deal saying it would be judged in two places"]
    path.write_text(text.replace("  qualified:\n", "  qualified:\n    formerly: [negotiation]\n"),
                    "utf-8")
    assert _load_error(path) == [
        "formerly-twice: 'negotiation' is named in formerly of stages 'qualified' and "
        "'negotiating': a deal saying it could not be placed"]
    path.write_text(text.replace("formerly: [quotation_negotiation]",
                                 "formerly: [customer_visit]"), "utf-8")
    assert _load_error(path)[0].startswith("formerly-in-use: step 'quotation' was formerly "
                                           "'customer_visit'")


def test_renamed_is_a_reserved_rule_id(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(SHIPPED.read_text("utf-8").replace("id: budget_known", "id: renamed")
                    .replace("../schemas/", str(ROOT / "schemas") + "/"), "utf-8")
    [problem] = _load_error(path)
    assert problem.startswith("reserved-id: id 'renamed' is one the engine uses")


def test_a_rule_comparing_the_stage_with_its_former_id_is_told_the_current_one(
        tmp_path: Path) -> None:
    path = _v2(tmp_path)
    text = path.read_text("utf-8")
    assert 'stage in ["prospect", "qualified", "negotiating"]' in text
    path.write_text(text.replace('stage in ["prospect", "qualified", "negotiating"]',
                                 'stage in ["prospect", "qualified", "negotiation"]', 1), "utf-8")
    with pytest.raises(PolicyError) as caught:
        load_policy(str(path))
    [problem] = caught.value.problems
    assert problem.code == "expr-unknown-stage"
    assert problem.suggestion == ("write 'negotiating': 'negotiation' is its former id "
                                  "(formerly), and a deal saying 'negotiation' is read as "
                                  "'negotiating'")


def test_lint_takes_a_former_id_left_in_the_schema(tmp_path: Path) -> None:
    path = _v2(tmp_path)
    assert lint_file(str(path)) == []
    schema = json.loads((tmp_path / "deal.schema.json").read_text("utf-8"))
    schema["properties"]["stage"]["enum"].append("negotiation")  # not yet cleaned up
    (tmp_path / "deal.schema.json").write_text(json.dumps(schema), "utf-8")
    assert lint_file(str(path)) == []


@pytest.mark.parametrize("order", ["done first", "done last"])
def test_two_former_ids_in_a_map_count_if_either_is_done(tmp_path: Path, order: str) -> None:
    """{quotation_negotiation: done, quote: false} was blocked, the other order allowed
    (QA pass): the last former id's value overwrote the first's."""
    path = _v2(tmp_path)
    path.write_text(path.read_text("utf-8").replace(
        "formerly: [quotation_negotiation]", "formerly: [quotation_negotiation, quote]"), "utf-8")
    engine = Engine(load_policy(str(path)))
    deal = json.loads((ROOT / "examples" / "deal-negotiation.json").read_text("utf-8"))
    base = {s: {"by": "ann"} for s in deal["steps"] if s != "quotation_negotiation"}
    pair = [("quotation_negotiation", {"by": "ann"}), ("quote", False)]
    deal["steps"] = {**base, **dict(pair if order == "done first" else pair[::-1])}
    assert engine.decide(deal, "win", REP, now=NOW).outcome == "allowed"


def test_an_error_verdict_names_the_current_stage_and_the_rename(
        engines: tuple[Engine, Engine]) -> None:
    """A deal in a former stage that breaks the deal schema: its error verdict said the old
    stage and carried no renamed warning, so --fail-on warning missed it (QA pass)."""
    _, v2 = engines
    deal = {**json.loads((ROOT / "examples" / "deal-negotiation.json").read_text("utf-8")),
            "amount": "lots"}
    for out in (v2.check(deal, now=NOW).to_dict(), v2.check_record(deal, NOW)):
        assert out["verdict"] == "error" and out["stage"] == "negotiating"
        assert {"deal.stage": "negotiation"} in [w["values"] for w in out["warnings"]]
