"""Stage and step ids a policy writes as text must name its own stages and steps
(policy-evolution review: renaming `negotiation` left `stage in [..., "negotiation"]` in two
risks, lint was clean, and both risks never fired for that stage again; renaming a step in
the policy only made every migrated deal fail the deal schema, and lint was clean)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cycleflow import PolicyError, load_policy
from cycleflow.errors import Problem
from cycleflow.toolkit.lint import lint_file

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "policies" / "standard-sales-cycle.yaml"
SCHEMA = ROOT / "schemas" / "deal.schema.json"
STALLED = 'when: stage in ["prospect", "qualified", "negotiation"] and days_since'


def _policy(tmp_path: Path, old: str, new: str, schema: object | None = None) -> tuple[Path, str]:
    """The shipped policy (and its schema) under tmp_path, with ``old`` written as ``new``."""
    (tmp_path / "schemas").mkdir(exist_ok=True)
    (tmp_path / "policies").mkdir(exist_ok=True)
    (tmp_path / "schemas" / "deal.schema.json").write_text(
        SCHEMA.read_text("utf-8") if schema is None else json.dumps(schema, indent=2), "utf-8")
    text = SHIPPED.read_text("utf-8")
    assert text.count(old) == 1, old
    text = text.replace(old, new)
    path = tmp_path / "policies" / "p.yaml"
    path.write_text(text, "utf-8")
    return path, text


def _at(text: str, needle: str) -> tuple[int, int]:
    """1-based line and column of ``needle`` in ``text``."""
    index = text.index(needle)
    return text.count("\n", 0, index) + 1, index - text.rfind("\n", 0, index)


def _load_errors(path: Path) -> list[Problem]:
    with pytest.raises(PolicyError) as caught:
        load_policy(str(path))
    return list(caught.value.problems)


@pytest.mark.parametrize(("written", "literal"), [
    ('when: stage in ["prospect", "qualified", "negotation"] and days_since', "'negotation'"),
    ('when: stage == "negotation" and days_since', '"negotation"'),
    ('when: has(deal.id) and "negotation" == stage and days_since', '"negotation"'),
    ('when: deal.stage != "negotation" and days_since', '"negotation"'),
    ('when: stage not in ("prospect", "negotation") and days_since', '"negotation"'),
    ('when: contains(["negotation"], stage) and days_since', '"negotation"'),
])
def test_a_stage_written_in_a_rule_that_is_no_stage_stops_the_policy_loading(
        tmp_path: Path, written: str, literal: str) -> None:
    path, text = _policy(tmp_path, STALLED, written)
    [problem] = _load_errors(path)
    assert problem.code == "expr-unknown-stage" and problem.severity == "error"
    line, column = _at(text, written)
    quoted = literal.strip("'\"")
    assert (problem.location.file, problem.location.line) == (str(path), line)
    # located at the text itself, not at the start of the rule
    assert problem.location.column == column + written.index(f'"{quoted}"')
    assert f"'{quoted}' is no stage of the policy" in problem.message
    assert "renamed or removed" in problem.message
    assert problem.suggestion == "did you mean 'negotiation'?"


def test_every_stale_stage_is_reported_at_once_and_lint_says_so(tmp_path: Path) -> None:
    path, text = _policy(tmp_path, STALLED,
                         'when: stage in ["prospect", "qualifed", "negotiating"] and days_since')
    problems = lint_file(str(path))
    assert [(p.code, p.message.split("'")[1], p.suggestion) for p in problems] == [
        ("expr-unknown-stage", "qualifed", "did you mean 'qualified'?"),
        ("expr-unknown-stage", "negotiating", "did you mean 'negotiation'?"),
    ]


def test_comparisons_that_name_real_stages_or_other_fields_load(tmp_path: Path) -> None:
    policy = load_policy(str(SHIPPED))  # the shipped policy compares the stage with its own ids
    assert policy.stages
    path, _ = _policy(tmp_path, STALLED,
                      'when: stage != deal.customer.industry and deal.currency != "negotation"'
                      ' and stage in ["won", "lost"] and days_since')
    assert load_policy(str(path)).id == "standard-sales-cycle"


@pytest.mark.parametrize(("written", "step"), [
    ('"quotation" in deal.steps', "quotation"),
    ('contains(deal.steps, "custmer_visit")', "custmer_visit"),
    ('any_in(deal.steps, ["needs_analysis", "quotation"])', "quotation"),
    ('all_in(["quotation"], deal.steps)', "quotation"),
])
def test_a_step_written_in_a_rule_that_no_stage_asks_for_is_a_lint_warning(
        tmp_path: Path, written: str, step: str) -> None:
    path, text = _policy(tmp_path, STALLED, f"when: has(deal.id) and {written} and days_since")
    assert load_policy(str(path))  # a CRM may record steps the policy does not ask for
    [problem] = [p for p in lint_file(str(path)) if p.code == "expr-unknown-step"]
    assert problem.severity == "warning"
    line, column = _at(text, written)
    assert (problem.location.line, problem.location.column) == (
        line, column + written.index(f'"{step}"'))
    assert f"'{step}' is no step of the policy" in problem.message
    assert problem.suggestion in ("did you mean 'quotation_negotiation'?",
                                  "did you mean 'customer_visit'?")


def test_a_step_renamed_in_the_policy_only_is_an_error_naming_the_schemas_leftover(
        tmp_path: Path) -> None:
    path, text = _policy(tmp_path, "- id: quotation_negotiation\n", "- id: quotation\n")
    path.write_text(text.replace("quotation_negotiation", "quotation"), "utf-8")
    [problem] = [p for p in lint_file(str(path)) if p.code == "step-not-in-deal-schema"]
    assert problem.severity == "error"
    assert (problem.location.line, problem.location.column) == _at(text, "id: quotation\n")
    assert "step 'quotation'" in problem.message
    assert "list form (steps.items) and the map form (steps.propertyNames)" in problem.message
    assert problem.suggestion == (
        "add 'quotation' to the schema's step ids; it lists 'quotation_negotiation', which "
        "no stage asks for: if the step was renamed, rename it there too")


def test_a_schema_that_lists_more_steps_or_any_text_is_not_a_problem(tmp_path: Path) -> None:
    schema = json.loads(SCHEMA.read_text("utf-8"))
    schema["$defs"]["step_id"]["enum"].append("partner_briefing")  # a shared schema's extra
    path, _ = _policy(tmp_path, "deal_schema: ../schemas/deal.schema.json",
                      "deal_schema: ../schemas/deal.schema.json", schema)
    assert not [p for p in lint_file(str(path)) if "step" in p.code]
    del schema["$defs"]["step_id"]["enum"]  # any text
    path, _ = _policy(tmp_path, "deal_schema: ../schemas/deal.schema.json",
                      "deal_schema: ../schemas/deal.schema.json", schema)
    assert not [p for p in lint_file(str(path)) if "step" in p.code]


def test_only_the_form_that_lacks_the_step_is_named(tmp_path: Path) -> None:
    schema = json.loads(SCHEMA.read_text("utf-8"))
    schema["properties"]["steps"]["items"] = {"type": "string"}  # the list form: any text
    path, text = _policy(tmp_path, "deal_schema: ../schemas/deal.schema.json",
                         "deal_schema: ../schemas/deal.schema.json", schema)
    path.write_text(text.replace("quotation_negotiation", "quotation"), "utf-8")
    [problem] = [p for p in lint_file(str(path)) if p.code == "step-not-in-deal-schema"]
    assert "the map form (steps.propertyNames)" in problem.message
    assert "list form" not in problem.message


def test_simulate_warns_before_a_run_the_deal_schema_would_refuse(tmp_path: Path) -> None:
    """A step renamed in the policy only: every simulated win was refused by rule deal,
    '0 won', and nothing said why before the run."""
    from click.testing import CliRunner

    from cycleflow.cli.main import cli

    path, text = _policy(tmp_path, "- id: quotation_negotiation\n", "- id: quotation\n")
    path.write_text(text.replace("quotation_negotiation", "quotation"), "utf-8")
    result = CliRunner().invoke(cli, ["simulate", "-p", str(path), "--deals", "5", "--days",
                                      "10", "--seed", "1", "-o", str(tmp_path / "sim")])
    assert result.exit_code == 0, result.output
    [warning] = [line for line in result.stderr.splitlines() if "lint:" in line]
    assert "step-not-in-deal-schema: step 'quotation'" in warning
    assert warning.startswith("cycleflow: warning: lint: ") and "will be refused" in warning
