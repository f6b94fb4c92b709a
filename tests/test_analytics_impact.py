"""cycleflow impact: changed verdicts checked against engine.check under both policies."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from cycleflow.analytics.impact import impact, policy_diff
from cycleflow.api import load_policy
from cycleflow.cli.main import cli
from cycleflow.decide.engine import Engine, resolve_now

ROOT = Path(__file__).resolve().parent.parent
OLD = ROOT / "policies" / "standard-sales-cycle.yaml"
NEW = ROOT / "tests" / "data" / "analytics" / "discount-15.yaml"
DEALS = ROOT / "examples" / "deals.jsonl"
NOW = "2026-11-26T12:00:00Z"


def _independent() -> tuple[set[str], set[str]]:
    """(deals compliant→violation, deals whose verdict changes at all), via engine.check."""
    old, new = Engine(load_policy(OLD)), Engine(load_policy(NEW))
    newly, changed = set(), set()
    for line in DEALS.read_bytes().splitlines():
        deal = orjson.loads(line)
        a, b = old.check(deal, now=NOW), new.check(deal, now=NOW)
        if a.verdict == "compliant" and b.verdict == "violation":
            newly.add(str(deal["id"]))
        rules = ({v.rule for v in a.violations}, {w.rule for w in a.warnings},
                 {n.gate for n in a.approvals_needed})
        rules_b = ({v.rule for v in b.violations}, {w.rule for w in b.warnings},
                   {n.gate for n in b.approvals_needed})
        if a.verdict != b.verdict or rules != rules_b:
            changed.add(str(deal["id"]))
    return newly, changed


@pytest.fixture(scope="module")
def result() -> Any:
    return impact(
        Engine(load_policy(OLD)), Engine(load_policy(NEW)), [str(DEALS)], resolve_now(NOW)
    )


def test_changed_deals_match_an_independent_check(result: Any) -> None:
    newly, changed = _independent()
    # negotiation deals with discounts of 16–20 % (deep_discount is checked on entering
    # negotiation and won, so a qualified deal at 18 %, OPP-2026-0491, is not affected yet)
    assert newly == {"OPP-2026-0715", "OPP-2026-0736"}
    assert {c.deal for c in result.newly_violating} == newly
    assert {c.deal for c in result.changes} == changed
    assert result.deals == 56


def test_grouped_by_the_responsible_rule(result: Any) -> None:
    groups = {g["rule"]: g for g in result.groups()}
    # the approval violation (discount_desk) is attributed to the risk that asked for it
    assert groups["deep_discount"]["new_violations"] == 2
    assert groups["deep_discount"]["new_approvals"] == 2
    assert sorted(groups["deep_discount"]["deals"]) == ["OPP-2026-0715", "OPP-2026-0736"]
    for change in result.newly_violating:
        assert change.new_approvals == ["discount_desk"]
        assert change.added == ["discount_desk"]


def test_semantic_diff() -> None:
    diff = {(d["kind"], d["id"]): d for d in policy_diff(load_policy(OLD), load_policy(NEW))}
    assert set(diff) == {("policy", "policy"), ("stage", "negotiation"),
                         ("risk", "deep_discount"), ("gate", "discount_desk")}
    assert diff[("risk", "deep_discount")]["fields"]["when"] == {
        "old": "default(deal.discount_pct, 0) > 20", "new": "default(deal.discount_pct, 0) > 15"}
    assert diff[("gate", "discount_desk")]["fields"] == {"valid_days": {"old": 30, "new": 21}}
    assert diff[("stage", "negotiation")]["fields"]["max_days"]["new"] == {"days": 40,
                                                                          "then": "warn"}


def test_diff_of_added_and_removed_items() -> None:
    partner = load_policy(ROOT / "tests" / "data" / "policies" / "partner-channel.yaml")
    diff = policy_diff(load_policy(OLD), partner)
    kinds = {(d["kind"], d["change"]) for d in diff}
    assert {("stage", "added"), ("stage", "removed"), ("risk", "added"), ("risk", "removed"),
            ("gate", "added"), ("gate", "removed"), ("transition", "added"),
            ("step", "removed"), ("entry", "removed")} <= kinds
    assert policy_diff(partner, partner) == []


def test_cli_formats_and_exit_codes(tmp_path: Path) -> None:
    runner = CliRunner()
    base = ["impact", str(OLD), str(NEW), str(DEALS), "--now", NOW]
    text = runner.invoke(cli, base)
    assert text.exit_code == 0, text.output
    assert "2 newly violating" in text.output
    failing = runner.invoke(cli, [*base, "--fail-on-new-violations"])
    assert failing.exit_code == 1
    same = runner.invoke(cli, ["impact", str(OLD), str(OLD), str(DEALS), "--now", NOW,
                               "--fail-on-new-violations"])
    assert same.exit_code == 0 and "0 change" in same.output
    md = runner.invoke(cli, [*base, "--format", "markdown"])
    assert md.exit_code == 0
    assert "| `deep_discount` | 2 | 2 | 0 | 2 |" in md.output
    assert "`default(deal.discount_pct, 0) > 15`" in md.output
    out = tmp_path / "impact.json"
    js = runner.invoke(cli, [*base, "--format", "json", "-o", str(out)])
    assert js.exit_code == 0
    data = orjson.loads(out.read_bytes())
    assert data["summary"]["new_violations"] == 2
    assert data["summary"]["violations_before"] + 2 == data["summary"]["violations_after"]


def test_bad_records_and_policies_are_reported(tmp_path: Path) -> None:
    deals = tmp_path / "deals.jsonl"
    deals.write_bytes(DEALS.read_bytes().splitlines()[0] + b"\n{not json\n")
    result = CliRunner().invoke(cli, ["impact", str(OLD), str(NEW), str(deals), "--now", NOW,
                                      "--format", "json"])
    assert result.exit_code == 2, result.output          # unreadable records are input errors
    data = orjson.loads(result.stdout)
    assert data["deals"] == 2 and data["summary"]["errors"] == 1   # an error both times
    assert data["errors"] == [{"deal": None, "where": f"{deals}:2", "old": data["errors"][0]["old"],
                               "new": data["errors"][0]["old"]}]
    assert "invalid JSON" in data["errors"][0]["old"]
    assert f"{deals}:2" in result.stderr and "could not be judged" in result.stderr
    broken = CliRunner().invoke(cli, ["impact", str(OLD), str(tmp_path / "none.yaml"),
                                      str(DEALS)])
    assert broken.exit_code == 3 and "Traceback" not in broken.output


def test_a_missing_deals_path_is_a_usage_error_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nonexistent.jsonl"
    result = CliRunner().invoke(cli, ["impact", str(OLD), str(NEW), str(missing), "--now", NOW,
                                      "--fail-on-new-violations"])
    assert result.exit_code == 2
    assert str(missing) in result.stderr and "no such" in result.stderr
    assert "deals judged" not in result.output and "records" not in result.stdout


def test_unreadable_records_are_counted_shown_and_fail_the_gate(tmp_path: Path) -> None:
    good = DEALS.read_bytes().splitlines()[:4]
    bad = [b"{not json", b"[1, 2]", b'"a string"', b"{\"id\": 1"] * 3 + [b"null", b"\xff\xfe"]
    deals = tmp_path / "deals.jsonl"
    deals.write_bytes(b"\n".join(good + bad) + b"\n")
    base = ["impact", str(OLD), str(OLD), str(deals), "--now", NOW]
    gate = CliRunner().invoke(cli, [*base, "--fail-on-new-violations"])
    assert gate.exit_code == 2, gate.output          # no new violation, but 14 records unread
    assert "18 records (4 judged)" in gate.stdout and "14 errors" in gate.stdout
    assert f"{deals}:5: invalid JSON" in gate.stdout
    assert f"{deals}:18: invalid UTF-8" in gate.stdout
    assert "14 record(s) could not be judged" in gate.stderr
    md = CliRunner().invoke(cli, [*base, "--format", "markdown"])
    assert md.exit_code == 2 and "14 records not judged" in md.stdout
    js = CliRunner().invoke(cli, [*base, "--format", "json"])
    data = orjson.loads(js.stdout)
    assert data["summary"]["errors"] == 14 and len(data["errors"]) == 14
    assert [e["where"] for e in data["errors"]] == [f"{deals}:{n}" for n in range(5, 19)]


def test_help_documents_the_exit_codes() -> None:
    text = CliRunner().invoke(cli, ["impact", "--help"]).output
    assert "2 usage or input error" in text and "could not be read" in text


def test_markdown_table_cells_survive_pipes_and_backticks(tmp_path: Path) -> None:
    """A deal id with '|' split the PR comment's row into extra columns, losing 'what changed'."""
    from cycleflow.analytics.impact import _md_cell, _md_code

    assert _md_code("OPP|0715") == "`OPP\\|0715`"
    assert _md_code("a`b") == "``a`b``" and _md_code("`x") == "`` `x ``"
    assert _md_cell("x | y\nz") == "x \\| y z"
    lines = [orjson.loads(x) for x in DEALS.read_bytes().splitlines()]
    moved = [d for d in lines if d.get("id") == "OPP-2026-0715"]
    assert moved, "the example deal the discount change affects"
    deals = tmp_path / "pipe.jsonl"
    deals.write_bytes(orjson.dumps({**moved[0], "id": "OPP|0715"}) + b"\n")
    md = CliRunner().invoke(cli, ["impact", str(OLD), str(NEW), str(deals), "--now", NOW,
                                  "--format", "markdown"]).stdout
    [row] = [x for x in md.splitlines() if "0715" in x and x.startswith("|")]
    cells = [c for c in row.replace("\\|", "\x00").split("|")[1:-1]]
    assert len(cells) == 4 and "OPP\x000715" in cells[0], row


def test_records_the_new_policy_cannot_judge_are_not_resolutions(tmp_path: Path) -> None:
    """A new deal_schema requiring margin_pct made 25 records errors; impact called them
    'no longer violates budget_known', dropped them from the violation count, and the policy
    diff did not mention the schema."""
    import json

    schema = json.loads((ROOT / "schemas" / "deal.schema.json").read_text("utf-8"))
    schema["required"] = [*schema["required"], "margin_pct"]
    (tmp_path / "strict.schema.json").write_text(json.dumps(schema), "utf-8")
    text = OLD.read_text("utf-8").replace("../schemas/deal.schema.json", "strict.schema.json")
    new = tmp_path / "v3.yaml"
    new.write_text(text, "utf-8")
    result = CliRunner().invoke(cli, ["impact", str(OLD), str(new), str(DEALS), "--now", NOW,
                                      "--format", "json"])
    data = orjson.loads(result.stdout)
    s = data["summary"]
    assert s["errors"] > 0 and s["resolved"] == 0
    assert all(c["change"] == "error" and not c["removed"] for c in data["changes"]
               if c["new"] == "error")
    # only the schema changed: among records judged under both, nothing moved
    assert {c["change"] for c in data["changes"]} == {"error"}
    assert s["violations_after"] == s["violations_before"]
    [head] = [d for d in data["policy_diff"] if d["kind"] == "policy"]
    assert "strict.schema.json" in head["fields"]["deal_schema"]["new"]
    shown = CliRunner().invoke(cli, ["impact", str(OLD), str(new), str(DEALS), "--now", NOW])
    assert "no longer violates" not in shown.stdout
    assert "could not be judged under the new policy" in shown.stdout


def test_policy_and_deal_text_cannot_hide_or_inject_markup_in_the_pr_comment(
        tmp_path: Path) -> None:
    """A new version "2\\n<!--" put the rest of the comment, the newly violating deals
    included, inside an HTML comment; a backtick in a changed message broke out of its
    code span so <b>x</b> rendered as HTML; deal ids and errors were written raw."""
    import re

    from markdown_it import MarkdownIt

    text = NEW.read_text("utf-8").replace('version: "2026.12-discount15"',
                                          'version: "2\\n<!--"')
    text = text.replace("deal_schema: ../../../schemas/deal.schema.json",
                        f"deal_schema: {ROOT / 'schemas' / 'deal.schema.json'}")
    text = re.sub(r"message: \{en: [^}]*\}", "message: {en: 'a ` <b>x</b> `'}", text, count=1)
    new = tmp_path / "new.yaml"
    new.write_text(text, "utf-8")
    deals = tmp_path / "deals.jsonl"
    deals.write_bytes(DEALS.read_bytes() + b'{"id": "<!-- x", "stage": "<b>y</b>"}\n')
    result = CliRunner().invoke(cli, ["impact", str(OLD), str(new), str(deals), "--now", NOW,
                                      "--format", "markdown"])
    assert result.exit_code == 2, result.output  # a record could not be judged
    html = MarkdownIt("commonmark").enable("table").render(result.stdout)
    assert "<!--" not in html and "<b>" not in html, html
    assert "<h4>By rule</h4>" in html and "newly violating" in html
    assert "records not judged" in html


def test_a_changed_policy_with_the_same_version_gets_a_note_to_bump_it(tmp_path: Path) -> None:
    """'2026.11 → 2026.11' while the rules changed: audit events record the version, so the
    report suggests a new one (text and markdown); equal policies and bumped versions not."""
    text = NEW.read_text("utf-8").replace('version: "2026.12-discount15"', 'version: "2026.11"')
    text = text.replace("../../../schemas/", str(ROOT / "schemas") + "/")
    same_version = tmp_path / "discount-15.yaml"
    same_version.write_text(text, "utf-8")
    runner = CliRunner()
    plain = runner.invoke(cli, ["impact", str(OLD), str(same_version), str(DEALS), "--now", NOW])
    assert plain.exit_code == 0, plain.output
    lines = plain.output.splitlines()
    assert "(2026.11) over" in lines[0]
    assert lines[1] == (
        "note: the policy changed in meaning but its version is still 2026.11: bump 'version:' "
        f"in '{same_version}' so that audit events and reports tell the two policies apart")
    md = runner.invoke(cli, ["impact", str(OLD), str(same_version), str(DEALS), "--now", NOW,
                             "--format", "markdown"])
    assert md.exit_code == 0, md.output
    assert "> **Note:** the policy changed in meaning but its version is still 2026.11: bump " \
           "`version:` in" in md.output
    for old, new in ((OLD, OLD), (OLD, NEW)):
        for fmt in ("text", "markdown"):
            out = runner.invoke(cli, ["impact", str(old), str(new), str(DEALS), "--now", NOW,
                                      "--format", fmt])
            assert out.exit_code == 0 and "bump" not in out.output
