"""cycleflow explain, graph and init on real policy files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from cycleflow.api import load_policy
from cycleflow.cli.main import cli
from cycleflow.toolkit.graph import to_dot, to_mermaid
from cycleflow.toolkit.lint import lint_file

ROOT = Path(__file__).resolve().parent.parent
POLICY = ROOT / "policies" / "standard-sales-cycle.yaml"
PARTNER = ROOT / "tests" / "data" / "policies" / "partner-channel.yaml"
EX = ROOT / "examples"
NOW = "2026-11-26T12:00:00Z"


def _deal(tmp_path: Path, **over: object) -> str:
    deal = json.loads((EX / "deal-negotiation.json").read_text("utf-8"))
    deal.update(over)
    path = tmp_path / "deal.json"
    path.write_text(json.dumps(deal), "utf-8")
    return str(path)


def test_explain_needs_approval_says_who_and_why(tmp_path: Path) -> None:
    approvals = [{"gate": "discount_desk", "by": "ann", "role": "sales_director",
                  "at": "2026-11-20T00:00:00Z", "values": {"discount_pct": 25,
                                                           "amount": 180000}}]
    deal = _deal(tmp_path, discount_pct=25, approvals=approvals)
    res = CliRunner().invoke(cli, ["explain", "-p", str(POLICY), "--deal", deal, "--trigger",
                                   "win", "--actor", str(EX / "actors" / "sales_rep.json"),
                                   "--now", NOW])
    assert res.exit_code == 1, res.output
    out = res.output
    assert "Decision: NEEDS APPROVAL" in out
    assert "deep_discount [risk] fired → approve discount_desk" in out
    assert "rule: default(deal.discount_pct, 0) > 20" in out
    assert "read: deal.discount_pct = 25" in out
    assert "Get 1 more approval(s) of 'Discount desk' (discount_desk) from someone holding " \
           "sales_director, who is not the deal's owner (ann)" in out
    assert "ann cannot approve: they are the deal's owner (separation of duties)" in out
    assert "\x1b[" not in out  # no colour when not a terminal


def test_explain_blocked_lists_steps_fields_and_criteria(tmp_path: Path) -> None:
    deal = _deal(tmp_path, stage="qualified", amount=0, steps=["customer_development"])
    res = CliRunner().invoke(cli, ["explain", "-p", str(POLICY), "--deal", deal, "--trigger",
                                   "advance", "--actor", str(EX / "actors" / "sales_rep.json"),
                                   "--now", NOW])
    assert res.exit_code == 1
    out = res.output
    assert "Decision: BLOCKED" in out
    assert "Do the step 'Product introduction' (product_introduction) of stage 'Qualified'." in out
    assert "Make this hold: The deal amount must be set before negotiation." in out


def test_explain_missing_field_says_fill_it_in(tmp_path: Path) -> None:
    data = json.loads((EX / "deal-negotiation.json").read_text("utf-8"))
    del data["customer"]["screening"]
    path = tmp_path / "d.json"
    path.write_text(json.dumps(data), "utf-8")
    res = CliRunner().invoke(cli, ["explain", "-p", str(POLICY), "--deal", str(path),
                                   "--trigger", "win", "--now", NOW, "--format", "json"])
    doc = json.loads(res.output)
    assert doc["result"] == "blocked"
    assert "Fill in deal.customer.screening." in doc["todo"]
    rules = {r["rule"]: r for r in doc["rules"]}
    assert rules["unscreened_customer"]["outcome"] == "error"


def test_explain_zh_uses_policy_labels(tmp_path: Path) -> None:
    deal = _deal(tmp_path, stage="qualified", amount=0)
    res = CliRunner().invoke(cli, ["explain", "-p", str(POLICY), "--deal", deal, "--trigger",
                                   "advance", "--now", NOW, "--lang", "zh"])
    out = res.output
    assert "决策：阻止" in out
    assert "进入谈判前必须填写交易金额。" in out  # the policy's zh message
    assert "如何使其获准" in out


def test_explain_check_and_not_permitted(tmp_path: Path) -> None:
    deal = _deal(tmp_path, stage_entered_at="2026-09-01T00:00:00Z")
    res = CliRunner().invoke(cli, ["explain", "-p", str(POLICY), "--deal", deal, "--now", NOW])
    assert res.exit_code == 0, res.output  # then: warn, so still compliant
    assert "Check: COMPLIANT" in res.output and "max_days.negotiation [time] failed" in res.output
    res = CliRunner().invoke(cli, ["explain", "-p", str(POLICY), "--deal", deal, "--trigger",
                                   "advance", "--now", NOW])
    assert "'advance' cannot be used from stage 'Negotiation'. From here: win, lose." \
        in res.output


def test_explain_bad_policy_exit_3() -> None:
    res = CliRunner().invoke(cli, ["explain", "-p", str(ROOT / "tests" / "data" / "policies" /
                                                         "broken" / "lint-unknown-gate.yaml"),
                                   "--deal", str(EX / "deal-negotiation.json")])
    assert res.exit_code == 3
    assert "unknown-gate" in res.output and "Traceback" not in res.output


def test_mermaid_of_shipped_policy() -> None:
    text = to_mermaid(load_policy(POLICY))
    assert text.startswith("stateDiagram-v2\n")
    assert "    [*] --> prospect" in text
    assert "    negotiation --> won: win (Close as won) / may need discount_desk if " \
           "deep_discount, deal_review if large_deal" in text
    assert "    won --> closed: close (Close the won deal)" in text
    assert "    closed --> [*]" in text and "    lost --> [*]" in text
    assert "        entry budget_known: deal.budget > 0" in text
    assert "        max_days: 45 (warn)" in text
    assert text.count("note right of") == 5  # closed has no criteria or steps: no note
    # the diagram in docs/authoring.md is the current one
    doc = (ROOT / "docs" / "authoring.md").read_text("utf-8")
    assert text in doc


def test_dot_of_partner_policy() -> None:
    text = to_dot(load_policy(PARTNER))
    assert text.startswith('digraph "partner-channel" {')
    assert '"proposal" -> "signed" [label="sign\\nwhen partner_certified\\n' \
           'needs approval channel_desk' in text
    assert '"signed" [label="Signed [won]' in text and "peripheries=2" in text
    assert text.count('-> "dropped"') == 3  # from "*": every non-final stage
    assert text.rstrip().endswith("}")


def test_graph_cli_formats(tmp_path: Path) -> None:
    out = tmp_path / "g.mmd"
    res = CliRunner().invoke(cli, ["graph", "-p", str(POLICY), "-o", str(out)])
    assert res.exit_code == 0 and out.read_text("utf-8").startswith("stateDiagram-v2")
    res = CliRunner().invoke(cli, ["graph", "-p", str(POLICY), "--format", "dot", "--lang",
                                   "zh"])
    assert res.exit_code == 0 and '"qualified" [label="意向客户' in res.output


def test_graph_svg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if shutil.which("dot"):
        res = CliRunner().invoke(cli, ["graph", "-p", str(POLICY), "--format", "svg"])
        assert res.exit_code == 0 and b"<svg" in res.stdout_bytes
    monkeypatch.setenv("PATH", str(tmp_path))
    res = CliRunner().invoke(cli, ["graph", "-p", str(POLICY), "--format", "svg"])
    assert res.exit_code == 2
    assert "install graphviz" in res.output


def test_init_scaffold_lints_clean_and_its_suite_passes(tmp_path: Path) -> None:
    target = tmp_path / "Acme Deals"
    res = CliRunner().invoke(cli, ["init", str(target)])
    assert res.exit_code == 0, res.output
    policy = target / "acme-deals.yaml"
    suite = target / "acme-deals.test.yaml"
    assert policy.is_file() and suite.is_file() and (target / "deal.schema.json").is_file()
    assert lint_file(str(policy)) == []
    res = CliRunner().invoke(cli, ["test", str(suite), "--coverage", "--min-coverage", "100"])
    assert res.exit_code == 0, res.output
    assert "(100.0%)" in res.output


def test_init_id_and_refusal_to_overwrite(tmp_path: Path) -> None:
    res = CliRunner().invoke(cli, ["init", str(tmp_path / "x"), "--id", "channel"])
    assert res.exit_code == 0
    assert (tmp_path / "x" / "channel.yaml").read_text("utf-8").count("id: channel") == 1
    again = CliRunner().invoke(cli, ["init", str(tmp_path / "x"), "--id", "channel"])
    assert again.exit_code == 2 and "use --force" in again.output
    bad = CliRunner().invoke(cli, ["init", str(tmp_path / "y"), "--id", "Bad Id"])
    assert bad.exit_code == 2


def test_templates_are_package_data() -> None:
    from importlib import resources

    names = {p.name for p in resources.files("cycleflow").joinpath("templates").iterdir()}
    assert {"policy.yaml", "policy.test.yaml", "deal.schema.json"} <= names


def test_graph_shows_no_standing_control_on_a_move_into_a_lost_stage(tmp_path: Path) -> None:
    """The engine stopped applying 'at: always' risks to lost outcomes, but the graph still
    drew 'may need discount_desk if deep_discount' on every 'lose' edge."""
    tail = "\n    severity: high\n    then: approve discount_desk"
    text = POLICY.read_text("utf-8").replace(
        "    at: [enter negotiation, enter won]" + tail, "    at: [always]" + tail)
    assert "at: [always]\n    severity: high\n    then: approve discount_desk" in text
    text = text.replace("deal_schema: ../schemas/deal.schema.json\n", "")
    (tmp_path / "p.yaml").write_text(text, "utf-8")
    policy = load_policy(tmp_path / "p.yaml")
    edges = [line for line in to_mermaid(policy).splitlines() if "-->" in line]
    lose = [e for e in edges if ": lose" in e]
    win = [e for e in edges if ": win" in e]
    assert lose and all("discount_desk" not in e for e in lose), lose
    assert win and all("may need discount_desk if deep_discount" in e for e in win), win
