"""Common logic traps in rules are lint warnings (officer review): mixing and/or without
brackets, 'in' a bracketed text, and a number or text used as the condition."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from cycleflow.cli.main import cli
from cycleflow.errors import Problem
from cycleflow.toolkit.lint import lint_file, sarif_log

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "policies" / "standard-sales-cycle.yaml"
RISK = 'when: deal.customer.screening != "cleared"'
TRAPS = ("expr-and-or-without-brackets", "expr-in-bracketed-text", "expr-value-as-condition")


def _lint(tmp_path: Path, old: str, new: str) -> tuple[list[Problem], str]:
    """Lint the shipped policy with one rule replaced; its trap warnings and the text."""
    text = SHIPPED.read_text("utf-8").replace("../schemas/", str(ROOT / "schemas") + "/")
    assert old in text
    text = text.replace(old, new, 1)
    path = tmp_path / "policy.yaml"
    path.write_text(text, "utf-8")
    return [p for p in lint_file(str(path)) if p.code in TRAPS], text


def _at(text: str, needle: str, offset: int = 0) -> tuple[int, int]:
    at = text.index(needle) + offset
    return text[:at].count("\n") + 1, at - text.rfind("\n", 0, at)


@pytest.mark.parametrize("rule", [
    "deal.customer.screening == 'blocked' or deal.amount > 5 and deal.budget > 3",
    "deal.amount > 5 and deal.budget > 3 or deal.customer.screening == 'blocked'",
    "not has(deal.amount) or (deal.amount > 5) and deal.budget > 3",
])
def test_and_or_mixed_without_brackets_warns_at_the_bool_op(tmp_path: Path, rule: str) -> None:
    [p], text = _lint(tmp_path, RISK, "when: " + rule)
    assert (p.code, p.severity) == ("expr-and-or-without-brackets", "warning")
    assert p.message == "and binds tighter than or: add brackets to say which you mean"
    assert (p.location.line, p.location.column) == _at(text, rule)


@pytest.mark.parametrize("rule", [
    "deal.customer.screening == 'blocked' or (deal.amount > 5 and deal.budget > 3)",
    "(deal.amount > 5 or deal.budget > 3) and deal.customer.screening == 'blocked'",
    "deal.amount > 5 and deal.budget > 3 and deal.customer.screening == 'blocked'",
    "( deal.amount > 5 and deal.budget > 3 ) or deal.customer.screening == 'x'",
])
def test_bracketed_or_single_kind_bool_ops_are_clean(tmp_path: Path, rule: str) -> None:
    assert _lint(tmp_path, RISK, "when: " + rule)[0] == []


def test_in_a_bracketed_text_warns_that_it_is_a_substring_test(tmp_path: Path) -> None:
    rule = "deal.customer.screening in ('IRAN')"
    [p], text = _lint(tmp_path, RISK, "when: " + rule)
    assert (p.code, p.severity) == ("expr-in-bracketed-text", "warning")
    assert "substring" in p.message and p.suggestion == "write a list: ['IRAN']"
    assert (p.location.line, p.location.column) == _at(text, "'IRAN'")


@pytest.mark.parametrize("rule", [
    "deal.customer.screening in ('IRAN',)",
    "deal.customer.screening in ['IRAN']",
    "'IR' in deal.customer.screening",
    "deal.customer.screening in 'IRAN'",  # no brackets: a substring test is what it says
])
def test_a_tuple_list_or_plain_text_is_no_trap(tmp_path: Path, rule: str) -> None:
    assert _lint(tmp_path, RISK, "when: " + rule)[0] == []


@pytest.mark.parametrize(("rule", "words"), [
    ("deal.amount", "deal.amount, a number"),
    ("deal.payment_terms_days", "deal.payment_terms_days, a number"),
    ("deal.customer.screening", "deal.customer.screening, a text"),
    ("deal.amount * (1 - deal.discount_pct / 100)", "arithmetic"),
    ("has(deal.amount) and deal.amount", "deal.amount, a number"),
    ("len(deal.steps)", "len(...), a number"),  # meant len(...) > 0 (QA review)
    ("days_since(deal.stage_entered_at)", "days_since(...), a number"),
])
def test_a_number_or_text_as_the_condition_warns(tmp_path: Path, rule: str, words: str) -> None:
    [p], text = _lint(tmp_path, RISK, "when: " + rule)
    assert (p.code, p.severity) == ("expr-value-as-condition", "warning")
    assert words in p.message and "true/false" in p.message
    assert p.location.line == _at(text, "when: " + rule + "\n")[0]


@pytest.mark.parametrize("rule", [
    "deal.contract_signed",  # a boolean field is a condition
    "deal.amount > 0",
    "not deal.contract_signed",
    "has(deal.amount) and deal.amount > 0",
    "deal.customer",  # an object: not a number or text
    "len(deal.steps) > 0",
    "has(deal.steps)",
])
def test_booleans_and_comparisons_are_conditions(tmp_path: Path, rule: str) -> None:
    assert _lint(tmp_path, RISK, "when: " + rule)[0] == []


def test_the_shipped_policy_has_no_trap_and_the_codes_are_described() -> None:
    assert [p for p in lint_file(str(SHIPPED)) if p.code in TRAPS] == []
    result = CliRunner().invoke(cli, ["lint", str(SHIPPED)])
    assert result.exit_code == 0 and result.output == ""
    guide = (ROOT / "docs" / "authoring.md").read_text("utf-8")
    for code in TRAPS:
        assert f"| `{code}` | warning |" in guide


def test_sarif_names_the_trap_rules(tmp_path: Path) -> None:
    problems, _ = _lint(tmp_path, RISK, "when: deal.amount")
    [rule] = sarif_log(problems)["runs"][0]["tool"]["driver"]["rules"]
    assert rule["id"] == "expr-value-as-condition"
    assert "instead of a comparison" in rule["shortDescription"]["text"]
