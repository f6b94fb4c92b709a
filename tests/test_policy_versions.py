"""A log, a report and an impact analysis that span two versions of a policy must say which
version judged what (policy-evolution review: `audit show` titled a history judged by two
versions with the first one only, and `impact` showed a schema hash no tool could match)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from cycleflow import Engine, load_policy
from cycleflow.audit import JsonlSink
from cycleflow.cli.main import cli

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "policies" / "standard-sales-cycle.yaml"
DEAL = json.loads((ROOT / "examples" / "deal-discount.json").read_text("utf-8"))
REP = {"id": "ann", "roles": ["sales_rep"]}


@pytest.fixture
def v2(tmp_path: Path) -> Path:
    """The shipped policy as version 2027.01, with the discount desk from 15% instead of 20%."""
    text = SHIPPED.read_text("utf-8").replace('version: "2026.11"', 'version: "2027.01"')
    text = text.replace("default(deal.discount_pct, 0) > 20", "default(deal.discount_pct, 0) > 15")
    path = tmp_path / "policies" / "v2.yaml"
    path.parent.mkdir()
    path.write_text(text.replace("../schemas/", str(ROOT / "schemas") + "/"), "utf-8")
    return path


def _decide_under_both(log: Path, v2: Path) -> tuple[str, str]:
    old, new = load_policy(str(SHIPPED)), load_policy(str(v2))
    assert old.version != new.version and old.sha256 != new.sha256
    with JsonlSink(log) as sink:
        Engine(old, audit=sink).decide(DEAL, "advance", REP, now="2026-11-20T10:00:00Z")
        for day in (21, 22):
            Engine(new, audit=sink).decide(DEAL, "advance", REP, now=f"2026-11-{day}T10:00:00Z")
    return old.sha256, new.sha256


def test_audit_show_names_every_policy_that_judged_the_deal(tmp_path: Path, v2: Path) -> None:
    log = tmp_path / "audit.jsonl"
    old, new = _decide_under_both(log, v2)
    result = CliRunner().invoke(cli, ["audit", "show", str(log), "--deal", DEAL["id"]])
    assert result.exit_code == 0, result.output
    title = " ".join(result.output.split("\n")[0:3])
    assert (f"policies standard-sales-cycle 2026.11 ({old[:8]}) in 1 decision, "
            f"standard-sales-cycle 2027.01 ({new[:8]}) in 2 decisions") in " ".join(title.split())
    # each decision's first row names its version
    assert result.output.count(f"2026.11 ({old[:8]})") == 2  # title and its decision
    assert result.output.count(f"2027.01 ({new[:8]})") == 3


def test_audit_show_of_one_version_keeps_the_short_title(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    policy = load_policy(str(SHIPPED))
    with JsonlSink(log) as sink:
        Engine(policy, audit=sink).decide(DEAL, "advance", REP, now="2026-11-20T10:00:00Z")
    result = CliRunner().invoke(cli, ["audit", "show", str(log), "--deal", DEAL["id"]])
    assert f"(policy standard-sales-cycle 2026.11 ({policy.sha256[:8]}))" in result.output
    assert result.output.count("2026.11") == 1  # no per-decision version when there is one


def test_impact_credits_a_new_approval_to_the_rule_that_asks_for_it(tmp_path: Path) -> None:
    """A deal newly missing a (renamed) step and newly needing the discount desk: the step
    rule is not the one that asks for the approval."""
    text = SHIPPED.read_text("utf-8").replace('version: "2026.11"', 'version: "2027.01"')
    text = text.replace("default(deal.discount_pct, 0) > 20", "default(deal.discount_pct, 0) > 15")
    text = text.replace("- id: quotation_negotiation\n", "- id: quotation\n")
    new = tmp_path / "v2.yaml"
    new.write_text(text.replace("../schemas/", str(ROOT / "schemas") + "/"), "utf-8")
    deal = {**DEAL, "id": "OPP-won-18", "stage": "won", "stage_entered_at": "2026-11-20T02:00:00Z",
            "discount_pct": 18, "contract_signed": True, "signed_at": "2026-11-19",
            "close_date": "2026-11-20", "approvals": [],
            "steps": ["customer_development", "customer_visit", "product_introduction",
                      "needs_analysis", "solution_design", "quotation_negotiation",
                      "contract_signing", "order_execution"]}
    deals = tmp_path / "deals.jsonl"
    deals.write_text(json.dumps(deal) + "\n", "utf-8")
    result = CliRunner().invoke(cli, ["impact", str(SHIPPED), str(new), str(deals), "--now",
                                      "2026-11-26T12:00:00Z", "--format", "json"])
    report = json.loads(result.stdout)
    [change] = report["changes"]
    assert change["new_approvals"] == ["discount_desk"]
    by_rule = {g["rule"]: g for g in report["by_rule"]}
    assert by_rule["quotation"]["new_violations"] == 1
    assert by_rule["quotation"]["new_approvals"] == 0  # a step asks for no approval
    assert by_rule["deep_discount"]["new_approvals"] == 1


def test_impact_shows_the_schema_digest_cycleflow_hash_prints(tmp_path: Path) -> None:
    schema = json.loads((ROOT / "schemas" / "deal.schema.json").read_text("utf-8"))
    schema["required"] = [*schema["required"], "margin_pct"]
    (tmp_path / "strict.schema.json").write_text(json.dumps(schema, indent=2), "utf-8")
    text = SHIPPED.read_text("utf-8").replace("../schemas/deal.schema.json",
                                              str(tmp_path / "strict.schema.json"))
    new = tmp_path / "v2.yaml"
    new.write_text(text.replace("../schemas/", str(ROOT / "schemas") + "/"), "utf-8")
    deals = ROOT / "examples" / "deals.jsonl"
    runner = CliRunner()
    result = runner.invoke(cli, ["impact", str(SHIPPED), str(new), str(deals), "--now",
                                 "2026-11-26T12:00:00Z", "--format", "json"])
    [head] = [d for d in json.loads(result.stdout)["policy_diff"] if d["kind"] == "policy"]
    shown = head["fields"]["deal_schema"]
    hashed = runner.invoke(cli, ["hash", str(SHIPPED)]).output
    [old_digest] = [line.split()[1] for line in hashed.splitlines() if "deal_schema" in line]
    assert shown["old"] == f"deal.schema.json (sha256 {old_digest[:12]})"
    hashed = runner.invoke(cli, ["hash", str(new)]).output
    [new_digest] = [line.split()[1] for line in hashed.splitlines() if "deal_schema" in line]
    assert shown["new"] == f"strict.schema.json (sha256 {new_digest[:12]})"


def test_impact_does_not_call_a_reformatted_schema_changed(tmp_path: Path) -> None:
    schema = json.loads((ROOT / "schemas" / "deal.schema.json").read_text("utf-8"))
    (tmp_path / "deal.schema.json").write_text(json.dumps(schema), "utf-8")  # other bytes
    text = SHIPPED.read_text("utf-8").replace("../schemas/deal.schema.json",
                                              str(tmp_path / "deal.schema.json"))
    new = tmp_path / "v2.yaml"
    new.write_text(text, "utf-8")
    result = CliRunner().invoke(cli, ["impact", str(SHIPPED), str(new),
                                      str(ROOT / "examples" / "deals.jsonl"), "--now",
                                      "2026-11-26T12:00:00Z", "--format", "json"])
    assert not [d for d in json.loads(result.stdout)["policy_diff"] if d["kind"] == "policy"]


def test_report_says_when_the_period_was_judged_by_several_policies(
        tmp_path: Path, v2: Path) -> None:
    log = tmp_path / "audit.jsonl"
    old, new = _decide_under_both(log, v2)
    runner = CliRunner()
    result = runner.invoke(cli, ["report", str(log), "-p", str(SHIPPED), "-o",
                                 str(tmp_path / "r.html"), "--json", str(tmp_path / "r.json")])
    assert result.exit_code == 0, result.output
    meta = json.loads((tmp_path / "r.json").read_text("utf-8"))["generated_from"]
    assert [(j["version"], j["sha256"], j["decisions"]) for j in meta["judged_by"]] == [
        ("2026.11", old, 1), ("2027.01", new, 2)]
    several, other = meta["warnings"]
    assert "judged by 2 policies" in several and f"2027.01 ({new[:8]}): 2 decisions" in several
    assert other.startswith("2 of 3 decisions in the period were judged by another policy "
                            "than -p (standard-sales-cycle 2026.11")
    assert f"report: warning: {several}" in result.stderr
    html_text = (tmp_path / "r.html").read_text("utf-8")
    assert html_text.count('class="warning"') == 2 and "judged by 2 policies" in html_text
    # the period of one version, reported with its own policy: nothing to warn about
    result = runner.invoke(cli, ["report", str(log), "-p", str(v2), "--from", "2026-11-21",
                                 "-o", str(tmp_path / "r2.html"), "--json",
                                 str(tmp_path / "r2.json")])
    meta = json.loads((tmp_path / "r2.json").read_text("utf-8"))["generated_from"]
    assert meta["warnings"] == [] and "warning" not in result.stderr


def test_a_repair_record_is_not_a_policy_of_its_own(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    policy = load_policy(str(SHIPPED))
    with JsonlSink(log) as sink:
        Engine(policy, audit=sink).decide(DEAL, "advance", REP, now="2026-11-20T10:00:00Z")
    with log.open("ab") as fh:
        fh.write(b'{"seq":')  # a torn last line
    JsonlSink(log, repair=True).close()  # chains an audit.repaired record
    with JsonlSink(log) as sink:
        Engine(policy, audit=sink).decide(DEAL, "advance", REP, now="2026-11-20T11:00:00Z")
    result = CliRunner().invoke(cli, ["report", str(log), "-p", str(SHIPPED), "-o",
                                      str(tmp_path / "r.html"), "--json",
                                      str(tmp_path / "r.json")])
    assert result.exit_code == 0, result.output
    meta = json.loads((tmp_path / "r.json").read_text("utf-8"))["generated_from"]
    assert [j["decisions"] for j in meta["judged_by"]] == [2] and meta["warnings"] == []


def test_decide_prints_the_policy_that_decided(v2: Path) -> None:
    """A saved decision names the policy version and hash, as check's report does."""
    result = CliRunner().invoke(cli, [
        "decide", "-p", str(v2), "--deal", str(ROOT / "examples" / "deal-discount.json"),
        "--trigger", "advance", "--actor", str(ROOT / "examples" / "actors" / "sales_rep.json"),
        "--now", "2026-11-26T12:00:00Z"])
    out = json.loads(result.stdout)
    assert out["policy"] == {"id": "standard-sales-cycle", "version": "2027.01",
                             "sha256": load_policy(str(v2)).sha256}
    hashed = CliRunner().invoke(cli, ["hash", str(v2)]).stdout
    assert hashed.split()[0] == out["policy"]["sha256"]


def test_a_policy_field_of_another_type_does_not_end_the_report(tmp_path: Path) -> None:
    """An edited log whose policy_sha256 is a list made report fail with a traceback."""
    log = tmp_path / "audit.jsonl"
    policy = load_policy(str(SHIPPED))
    with JsonlSink(log) as sink:
        Engine(policy, audit=sink).decide(DEAL, "advance", REP, now="2026-11-20T10:00:00Z")
    lines = log.read_text("utf-8").splitlines()
    event = json.loads(lines[0])
    event["policy_sha256"] = [1, 2]
    event["decision_id"] = "edited"
    log.write_text("\n".join([*lines, json.dumps(event)]) + "\n", "utf-8")
    result = CliRunner().invoke(cli, ["report", str(log), "-o", str(tmp_path / "r.html"),
                                      "--json", str(tmp_path / "r.json")])
    assert result.exit_code == 1, result.output  # written, but the edited log is said so
    assert "does not verify" in result.stderr
    meta = json.loads((tmp_path / "r.json").read_text("utf-8"))["generated_from"]
    assert [j["sha256"] for j in meta["judged_by"]] == [policy.sha256, "[1, 2]"]
