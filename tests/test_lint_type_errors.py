"""Type mismatches the deal schema proves (officer review): an ordering that every evaluation
fails is an error, and membership in a literal list none of whose items can match warns."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from cycleflow.cli.main import cli
from cycleflow.errors import Location, PolicyError, Problem
from cycleflow.expr import check_expression, compile_expression
from cycleflow.toolkit.lint import lint_file

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "policies" / "standard-sales-cycle.yaml"
LOC = Location("policy.yaml", 3, 11)
KNOWN = {
    "amount": frozenset({"number"}),
    "days": frozenset({"integer"}),
    "maybe_days": frozenset({"integer", "null"}),
    "name": frozenset({"string"}),
    "flag": frozenset({"boolean"}),
    "free": frozenset(),  # declared without a type
}


def _policy(tmp_path: Path, old: str, new: str) -> tuple[Path, int, int]:
    """The shipped policy with one rule rewritten; the line and column of the new text."""
    text = SHIPPED.read_text("utf-8").replace("../schemas/", str(ROOT / "schemas") + "/")
    assert old in text
    at = text.index(old)
    text = text.replace(old, new, 1)
    path = tmp_path / "policy.yaml"
    path.write_text(text, "utf-8")
    return path, text[:at].count("\n") + 1, at - text.rfind("\n", 0, at)


def _found(source: str) -> list[Problem]:
    return list(check_expression(source, LOC, known_fields=KNOWN))


def test_ordering_a_number_with_text_is_an_error_at_the_comparison(tmp_path: Path) -> None:
    path, line, column = _policy(tmp_path, "when: deal.amount > 0", 'when: deal.amount > "0"')
    problems = lint_file(str(path))
    [p] = problems
    assert (p.code, p.severity) == ("expr-type-always-fails", "error")
    assert (p.location.line, p.location.column) == (line, column + len("when: "))
    assert "number and string" in p.message and ">" in p.message
    assert p.suggestion == "write the number without quotes: 0, not '0'"
    result = CliRunner().invoke(cli, ["lint", str(path)])
    assert result.exit_code == 1 and "expr-type-always-fails" in result.output


def test_the_error_stops_the_policy_loading() -> None:
    with pytest.raises(PolicyError) as info:
        compile_expression("deal.amount >= '500000'", LOC, known_fields=KNOWN)
    assert [p.code for p in info.value.problems] == ["expr-type-always-fails"]


@pytest.mark.parametrize("source", [
    "deal.amount > 5", "deal.days <= 2.5", "deal.flag < 2", "deal.name > 'a'",
    "deal.free > 'x'", "deal.maybe_days > 1", "deal.amount > deal.days",
])
def test_orderings_that_can_work_are_not_errors(source: str) -> None:
    assert _found(source) == []


def test_the_error_is_reported_even_when_the_policy_fails_to_load(tmp_path: Path) -> None:
    path, line, _ = _policy(tmp_path, "when: deal.amount > 0", 'when: deal.amount > "0"')
    text = path.read_text("utf-8").replace("to: qualified\n", "to: qualifed\n", 1)
    path.write_text(text, "utf-8")
    problems = lint_file(str(path))
    assert {p.code for p in problems} >= {"unknown-stage", "expr-type-always-fails"}
    assert len([p for p in problems if p.code == "expr-type-always-fails"]) == 1


def test_an_integer_field_in_a_list_of_texts_warns(tmp_path: Path) -> None:
    path, line, column = _policy(tmp_path, "when: deal.amount >= 500000",
                                 "when: deal.payment_terms_days in ['60', '90']")
    [p] = lint_file(str(path))
    assert (p.code, p.severity) == ("expr-type-mismatch", "warning")
    assert (p.location.line, p.location.column) == (line, column + len("when: "))
    assert "never true" in p.message and p.message.startswith("an integer value")
    assert "without quotes" in (p.suggestion or "")


@pytest.mark.parametrize(("source", "words"), [
    ("deal.days in ['60', '90']", "never true"),
    ("deal.days not in ('60', '90')", "always true"),
    ("deal.name in {1, 2}", "never true"),
    ("deal.maybe_days in ['60']", "never true"),  # null never equals text either
    ("deal.amount in [True, 'x']", None),  # True == 1: a boolean item may equal a number
])
def test_membership_in_a_literal_list(source: str, words: str | None) -> None:
    found = _found(source)
    if words is None:
        assert found == []
        return
    [p] = found
    assert (p.code, p.severity) == ("expr-type-mismatch", "warning")
    assert words in p.message


@pytest.mark.parametrize("source", [
    "deal.days in [60, 90]",
    "deal.days in [60.0, 90.5]",  # 60 == 60.0
    "deal.amount in [1, 2]",
    "deal.maybe_days in [None, '60']",  # null may equal None
    "deal.free in ['60', 90]",  # no declared type: no finding
    "deal.days in [deal.amount, '60']",  # an item of unknown type
    "deal.days in []",
    "deal.name in ['a', 'b']",
])
def test_membership_that_can_be_true_is_clean(source: str) -> None:
    assert _found(source) == []


def test_equality_keeps_its_warning() -> None:
    [p] = _found("deal.days == '60'")
    assert (p.code, p.severity) == ("expr-type-mismatch", "warning")
    assert _found("deal.days == 60.0") == []


def test_the_code_is_documented() -> None:
    guide = (ROOT / "docs" / "authoring.md").read_text("utf-8")
    assert "`expr-type-always-fails`" in guide
