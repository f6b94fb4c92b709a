"""Text from deals and policies is shown on a terminal, never obeyed.

A security review put ``ESC ] 0;title BEL`` and ``ESC [2J`` (retitle the window, clear
the screen) in a deal id and a budget, and in a policy message: ``audit show``,
``explain``, ``lint`` and ``test`` printed them raw (the check text report and JUnit
already escaped them). ``audit show`` also read rich markup ("[bold]") in cells.
"""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from cycleflow.cli.main import cli
from cycleflow.textsafe import visible

ESC = "\x1b"
EVIL_ID = f"e{ESC}[31mvil\u202e[bold]x[/bold]"
POLICY = """cycleflow: 1
id: t
version: "1"
title: T
stages:
  prospect:
    label: {en: Prospect, zh: 甲}
    initial: true
    entry:
      - id: r1
        when: deal.budget > 0
        message: {en: "budget\\e[2J\\e]0;pwn\\a", zh: 预算}
  won:
    label: {en: Won, zh: 乙}
    final: true
transitions:
  - {trigger: advance, from: prospect, to: won}
"""


def _clean(output: str) -> None:
    assert ESC not in output and "\a" not in output and "\u202e" not in output, repr(output)


def test_visible_escapes_controls_and_bidi_but_keeps_lines_and_tabs() -> None:
    assert visible(f"a{ESC}[2Jb\u202ec\td\ne") == "a\\x1b[2Jb\\u202ec\td\ne"


def test_explain_audit_show_lint_and_test_show_escapes_instead_of_obeying(
        tmp_path: Path) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text(POLICY, "utf-8")
    deal = {"id": EVIL_ID, "stage": "prospect", "budget": f"{ESC}]0;title\a{ESC}[2J"}
    (tmp_path / "deal.json").write_text(json.dumps(deal), "utf-8")
    (tmp_path / "deals.jsonl").write_text(json.dumps(deal) + "\n", "utf-8")
    runner = CliRunner()
    now = ["--now", "2026-02-01T00:00:00Z"]
    explained = runner.invoke(cli, ["explain", "-p", str(policy), "--deal",
                                    str(tmp_path / "deal.json"), *now])
    _clean(explained.output)
    assert "\\x1b[2J" in explained.output
    log = tmp_path / "audit.jsonl"
    runner.invoke(cli, ["check", "-p", str(policy), str(tmp_path / "deals.jsonl"), *now,
                        "--audit", str(log), "--jobs", "1"])
    shown = runner.invoke(cli, ["audit", "show", str(log), "--deal", EVIL_ID])
    assert shown.exit_code == 0, shown.output
    _clean(shown.output)
    assert "[bold]" in shown.output  # markup shown as text, not applied
    missing = runner.invoke(cli, ["audit", "show", str(log), "--deal", f"x{ESC}[2J"])
    _clean(missing.output)
    broken = tmp_path / "broken.yaml"
    broken.write_text(POLICY.replace("when: deal.budget > 0", 'when: "deal.budget >\\e[2J 0"'),
                      "utf-8")
    _clean(runner.invoke(cli, ["lint", str(broken)]).output)
    suite = tmp_path / "p.test.yaml"
    suite.write_text("policy: p.yaml\nnow: 2026-02-01T00:00:00Z\ncases:\n"
                     "  - name: \"case\\e[2J\"\n"
                     "    deal: {id: D, stage: prospect, budget: 0}\n"
                     "    check: true\n    expect: {verdict: compliant}\n", "utf-8")
    tested = runner.invoke(cli, ["test", str(suite)])
    assert tested.exit_code == 1
    _clean(tested.output)


def test_impact_and_graph_show_escapes_instead_of_obeying(tmp_path: Path) -> None:
    """A second security review: impact (text, Markdown and its stderr line) and graph
    (Mermaid, DOT) still printed ESC from deal ids, a policy's version and stage labels."""
    old = tmp_path / "old.yaml"
    old.write_text(POLICY, "utf-8")
    new = tmp_path / "new.yaml"
    new.write_text(POLICY.replace('version: "1"', 'version: "2\\e]0;PWN\\a"').replace(
        "deal.budget > 0", "deal.budget > 10").replace(
        "label: {en: Prospect", 'label: {en: "Pro\\e[2Jspect"'), "utf-8")
    deals = tmp_path / "deals.jsonl"
    deals.write_text(json.dumps({"id": EVIL_ID, "stage": "prospect", "budget": 5}) + "\n"
                     + json.dumps({"id": f"x{ESC}[2J", "stage": f"no{ESC}[2J"}) + "\n", "utf-8")
    runner = CliRunner()
    for fmt in ("text", "markdown"):
        result = runner.invoke(cli, ["impact", str(old), str(new), str(deals), "--now",
                                     "2026-02-01T00:00:00Z", "--format", fmt])
        _clean(result.output)
        assert "\\x1b" in result.output
    for fmt in ("mermaid", "dot"):
        result = runner.invoke(cli, ["graph", "-p", str(new), "--format", fmt])
        assert result.exit_code == 0, result.output
        _clean(result.output)
        assert "Pro\\x1b[2Jspect" in result.output


def test_lint_warns_of_control_characters_in_policy_text(tmp_path: Path) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text(POLICY.replace('version: "1"', 'version: "1\\e]0;x\\a"'), "utf-8")
    result = CliRunner().invoke(cli, ["lint", str(policy)])
    _clean(result.output)
    lines = [x for x in result.output.splitlines() if "control-character" in x]
    assert len(lines) == 2  # the version and the message
    assert all("[warning] this text holds U+001B" in x for x in lines)
    assert result.exit_code == 0  # a warning, not an error
