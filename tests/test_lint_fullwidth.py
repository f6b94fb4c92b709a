"""Full-width punctuation typed in Chinese input mode, and '20%' in a rule (officer
review): errors were reported a line late, or with an irrelevant hint, never naming the
character."""

from __future__ import annotations

from pathlib import Path

import pytest

from cycleflow.errors import Location
from cycleflow.expr import check_expression
from cycleflow.toolkit.lint import lint_file

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "policies" / "standard-sales-cycle.yaml"


def _lint(tmp_path: Path, old: str, new: str) -> tuple[list[tuple[int, int, str, str]], str]:
    """Lint the shipped policy with ``old`` replaced; (line, column, code, text) of each
    problem, and the policy text."""
    text = SHIPPED.read_text("utf-8").replace("../schemas/", str(ROOT / "schemas") + "/")
    assert old in text
    text = text.replace(old, new, 1)
    path = tmp_path / "policy.yaml"
    path.write_text(text, "utf-8")
    return [(p.location.line, p.location.column, p.code, f"{p.message} ({p.suggestion})")
            for p in lint_file(str(path))], text


def _position(text: str, needle: str, char: str) -> tuple[int, int]:
    """Line and column of ``char`` inside the first ``needle`` of ``text``."""
    at = text.index(needle) + needle.index(char)
    return text[:at].count("\n") + 1, at - text.rfind("\n", 0, at)


@pytest.mark.parametrize(("old", "new", "char", "words"), [
    ("    max_days: 30\n", "    max_days： 30\n", "：",
     "full-width colon '：' (U+FF1A): write ':'"),
    ("      - id: customer_visit\n", "      - id：customer_visit\n", "：",
     "full-width colon '：' (U+FF1A): write ':'"),
], ids=["max_days", "list-item-id"])
def test_a_full_width_colon_in_yaml_is_named_at_its_place(
        tmp_path: Path, old: str, new: str, char: str, words: str) -> None:
    problems, text = _lint(tmp_path, old, new)
    [(line, column, code, message)] = problems
    assert code == "yaml-syntax"
    assert (line, column) == _position(text, new.strip(), char)
    assert words in message


@pytest.mark.parametrize(("rule", "char", "words"), [
    ('deal.customer.screening != “cleared”', "“",
     "full-width opening quote '“' (U+201C): write '\"'"),
    ("deal.customer.screening not in （'cleared', 'waived')", "（",
     "full-width bracket '（' (U+FF08): write '('"),
    ("deal.customer.screening not in ['cleared'，'waived']", "，",
     "full-width comma '，' (U+FF0C): write ','"),
    ("deal.discount_pct > 20%", "%", "write 20, not 20% (percent fields hold the number)"),
], ids=["quote", "bracket", "comma", "percent"])
def test_a_typing_slip_in_a_rule_is_named_at_its_place(
        tmp_path: Path, rule: str, char: str, words: str) -> None:
    old = 'when: deal.customer.screening != "cleared"'
    problems, text = _lint(tmp_path, old, "when: " + rule)
    [(line, column, code, message)] = [p for p in problems if p[2] == "expr-syntax"]
    assert (line, column) == _position(text, rule, char)
    assert words in message
    assert "no statements" not in message and "ends too early" not in message


def test_full_width_text_inside_quotes_is_no_slip() -> None:
    loc = Location("p.yaml", 3, 11)
    assert check_expression("deal.name == '客户（重要），“甲”'", loc) == ()
    [problem] = check_expression("deal.name == '（ok）' and and", loc)
    assert "full-width" not in problem.message
    assert check_expression("deal.amount % 20 == 0", loc) == ()


def test_other_syntax_errors_keep_their_messages() -> None:
    loc = Location("p.yaml", 3, 11)
    [problem] = check_expression("deal.a && deal.b", loc)
    assert problem.suggestion == "write 'and' instead of '&&'"
    [problem] = check_expression("deal.amount >", loc)
    assert "ends too early" in problem.message
