"""A text a rule compares with a picklist field must be one of the picklist's values.

``deal.region == "Apac"`` where the deal schema allows APAC, or ``deal.loss_reason !=
"Competiter"``, never matches: the rule silently always or never applies, and lint was
clean (Salesforce-migration review: a picklist typo is an admin's commonest rule bug).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cycleflow.errors import Problem
from cycleflow.toolkit.lint import lint_file

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "policies" / "standard-sales-cycle.yaml"
SCHEMA = ROOT / "schemas" / "deal.schema.json"
SCREENING = 'when: deal.customer.screening != "cleared"'


def _lint(tmp_path: Path, new: str, schema: dict[str, object] | None = None) -> tuple[
        list[Problem], str]:
    """Lint the shipped policy with its screening rule written as ``new``."""
    (tmp_path / "schemas").mkdir(exist_ok=True)
    (tmp_path / "policies").mkdir(exist_ok=True)
    (tmp_path / "schemas" / "deal.schema.json").write_text(
        SCHEMA.read_text("utf-8") if schema is None else json.dumps(schema, indent=2), "utf-8")
    text = SHIPPED.read_text("utf-8")
    assert text.count(SCREENING) == 1
    text = text.replace(SCREENING, new)
    path = tmp_path / "policies" / "p.yaml"
    path.write_text(text, "utf-8")
    return [p for p in lint_file(str(path)) if p.code == "expr-not-in-enum"], text


def test_the_shipped_policy_compares_only_values_its_schema_allows() -> None:
    assert [p for p in lint_file(str(SHIPPED)) if p.code == "expr-not-in-enum"] == []


@pytest.mark.parametrize(("written", "literal"), [
    ('when: deal.customer.screening != "clered"', '"clered"'),
    ('when: has(deal.id) and "clered" == deal.customer.screening', '"clered"'),
    ('when: deal.customer.screening not in ["cleared", "clered"]', '"clered"'),
    ('when: deal.customer.screening in ("flagged", "clered")', '"clered"'),
    ('when: not contains(["cleared", "clered"], deal.customer.screening)', '"clered"'),
    ('when: default(deal.customer.screening, "pending") != "clered"', '"clered"'),
])
def test_a_text_the_picklist_lacks_is_a_located_warning_with_did_you_mean(
        tmp_path: Path, written: str, literal: str) -> None:
    [problem], text = _lint(tmp_path, written)
    index = text.index(literal, text.index(written))
    line = text.count("\n", 0, index) + 1
    assert (problem.location.line, problem.location.column) == (
        line, index - text.rfind("\n", 0, index))
    assert problem.severity == "warning"
    assert "deal.customer.screening (cleared, pending, flagged)" in problem.message
    assert problem.suggestion == "did you mean 'cleared'?"


def test_a_value_in_another_case_is_named_as_such(tmp_path: Path) -> None:
    [problem], _ = _lint(tmp_path, 'when: deal.customer.screening != "Cleared"')
    assert problem.suggestion == "did you mean 'cleared'? Texts compare exactly, case included"


def test_values_the_schema_allows_are_not_reported(tmp_path: Path) -> None:
    problems, _ = _lint(
        tmp_path, 'when: deal.customer.screening in ["flagged", "pending"] '
                  'and deal.source != "partner"')
    assert problems == []


def test_a_picklist_given_through_ref_and_const_is_read(tmp_path: Path) -> None:
    schema = json.loads(SCHEMA.read_text("utf-8"))
    schema.setdefault("$defs", {})["region"] = {"oneOf": [{"const": "EMEA"}, {"const": "APAC"}]}
    schema["properties"]["region"] = {"$ref": "#/$defs/region"}
    [problem], _ = _lint(
        tmp_path, 'when: deal.customer.screening != "cleared" or deal.region == "Apac"',
        schema)
    assert "deal.region (EMEA, APAC)" in problem.message
    assert problem.suggestion.startswith("did you mean 'APAC'?")


def test_a_field_whose_values_are_not_listed_is_not_judged(tmp_path: Path) -> None:
    problems, _ = _lint(
        tmp_path, 'when: deal.customer.screening != "cleared" and deal.customer.name != "x"')
    assert problems == []


def test_a_step_inside_default_is_still_checked(tmp_path: Path) -> None:
    """default(deal.steps, []) hid a misspelt step from expr-unknown-step."""
    (tmp_path / "schemas").mkdir()
    (tmp_path / "policies").mkdir()
    (tmp_path / "schemas" / "deal.schema.json").write_text(SCHEMA.read_text("utf-8"), "utf-8")
    text = SHIPPED.read_text("utf-8").replace(
        SCREENING, 'when: deal.customer.screening != "cleared" and '
                   '"needs_analysys" not in default(deal.steps, [])')
    path = tmp_path / "policies" / "p.yaml"
    path.write_text(text, "utf-8")
    [problem] = [p for p in lint_file(str(path)) if p.code == "expr-unknown-step"]
    assert "'needs_analysys'" in problem.message
