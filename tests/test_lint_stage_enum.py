"""lint compares the policy's stages with the deal schema's ``stage`` enum (officer review:
renaming a stage linted clean, then every deal in it failed the deal schema)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from cycleflow.cli.main import cli
from cycleflow.errors import Problem
from cycleflow.toolkit.lint import lint_file, sarif_log

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "policies" / "standard-sales-cycle.yaml"
SCHEMA = ROOT / "schemas" / "deal.schema.json"


def _copy(tmp_path: Path, rename: tuple[str, str] | None = None,
          schema: dict[str, object] | None = None) -> tuple[Path, Path, str]:
    """The shipped policy and its schema under tmp_path; a stage renamed in the policy only."""
    (tmp_path / "schemas").mkdir()
    (tmp_path / "policies").mkdir()
    schema_path = tmp_path / "schemas" / "deal.schema.json"
    schema_path.write_text(json.dumps(schema, indent=2) if schema is not None
                           else SCHEMA.read_text("utf-8"), "utf-8")
    text = SHIPPED.read_text("utf-8")
    if rename is not None:
        old, new = rename
        assert f"  {old}:\n" in text
        text = (text.replace(f"  {old}:\n", f"  {new}:\n")
                .replace(f"to: {old}\n", f"to: {new}\n")
                .replace(f"from: {old}\n", f"from: {new}\n")
                .replace(f"[prospect, {old}, negotiation]", f"[prospect, {new}, negotiation]"))
        # and where a rule compares the stage with it (else the policy does not load)
        text = "\n".join(line.replace(f'"{old}"', f'"{new}"') if "when:" in line else line
                          for line in text.split("\n"))
    policy = tmp_path / "policies" / "p.yaml"
    policy.write_text(text, "utf-8")
    return policy, schema_path, text


def _codes(problems: list[Problem], *codes: str) -> list[Problem]:
    return [p for p in problems if p.code in codes]


def test_a_stage_renamed_in_the_policy_only_is_an_error_at_its_id(tmp_path: Path) -> None:
    policy, schema, text = _copy(tmp_path, ("qualified", "needs_qualified"))
    problems = lint_file(str(policy))
    [err] = _codes(problems, "stage-not-in-deal-schema")
    line = text[: text.index("  needs_qualified:\n")].count("\n") + 1
    assert err.severity == "error"
    assert (err.location.file, err.location.line, err.location.column) == (str(policy), line, 3)
    assert "'needs_qualified'" in err.message and "../schemas/deal.schema.json" in err.message
    assert "stage enum" in (err.suggestion or "") and "needs_qualified" in (err.suggestion or "")
    # the enum's leftover value is a warning, located in the schema, with did-you-mean
    [warn] = _codes(problems, "deal-schema-unknown-stage")
    assert warn.severity == "warning" and "'qualified'" in warn.message
    assert "did you mean 'needs_qualified'?" in (warn.suggestion or "")
    schema_text = schema.read_text("utf-8")
    at = schema_text.index('"qualified"')
    assert Path(warn.location.file).resolve() == schema.resolve()
    assert warn.location.line == schema_text[:at].count("\n") + 1
    assert warn.location.column == at - schema_text.rfind("\n", 0, at)
    result = CliRunner().invoke(cli, ["lint", str(policy)])
    assert result.exit_code == 1 and "stage-not-in-deal-schema" in result.output
    rules = sarif_log(problems)["runs"][0]["tool"]["driver"]["rules"]
    described = {r["id"]: r["shortDescription"]["text"] for r in rules}
    assert "deal schema" in described["stage-not-in-deal-schema"]
    assert "stage enum" in described["deal-schema-unknown-stage"]


def test_an_enum_value_no_stage_has_is_a_warning(tmp_path: Path) -> None:
    schema = json.loads(SCHEMA.read_text("utf-8"))
    schema["properties"]["stage"]["enum"].append("negotiaton")
    policy, _, _ = _copy(tmp_path, schema=schema)
    problems = lint_file(str(policy))
    assert [p.code for p in problems] == ["deal-schema-unknown-stage"]
    assert problems[0].severity == "warning"
    assert problems[0].suggestion is not None
    assert problems[0].suggestion.startswith("did you mean 'negotiation'?")
    result = CliRunner().invoke(cli, ["lint", str(policy)])
    assert result.exit_code == 0  # a warning does not fail lint


def test_a_stage_enum_behind_a_ref_is_read(tmp_path: Path) -> None:
    schema = json.loads(SCHEMA.read_text("utf-8"))
    enum = schema["properties"]["stage"]
    schema.setdefault("$defs", {})["stage_id"] = {"type": "string", "enum": [
        s for s in enum["enum"] if s != "lost"]}
    schema["properties"]["stage"] = {"$ref": "#/$defs/stage_id"}
    policy, _, _ = _copy(tmp_path, schema=schema)
    [err] = _codes(lint_file(str(policy)), "stage-not-in-deal-schema")
    assert "'lost'" in err.message


@pytest.mark.parametrize("key", ["oneOf", "anyOf"])
def test_a_stage_enum_split_over_branches_is_read(tmp_path: Path, key: str) -> None:
    """A stage enum written as oneOf/anyOf of open and closed stages was not read, so a
    stage missing from both branches passed lint (QA review)."""
    schema = json.loads(SCHEMA.read_text("utf-8"))
    stages = [s for s in schema["properties"]["stage"]["enum"] if s != "lost"]
    schema["properties"]["stage"] = {key: [{"enum": stages[:3]}, {"enum": stages[3:]}]}
    policy, _, _ = _copy(tmp_path, schema=schema)
    [err] = _codes(lint_file(str(policy)), "stage-not-in-deal-schema")
    assert "'lost'" in err.message


@pytest.mark.parametrize("stage", [{"type": "string"}, {"type": "string", "minLength": 1},
                                   {"anyOf": [{"enum": ["prospect"]}, {"type": "string"}]}])
def test_no_stage_enum_no_finding(tmp_path: Path, stage: dict[str, object]) -> None:
    schema = json.loads(SCHEMA.read_text("utf-8"))
    schema["properties"]["stage"] = stage
    policy, _, _ = _copy(tmp_path, ("qualified", "needs_qualified"), schema=schema)
    assert _codes(lint_file(str(policy)), "stage-not-in-deal-schema",
                  "deal-schema-unknown-stage") == []


def test_the_shipped_policy_matches_its_schema() -> None:
    assert _codes(lint_file(str(SHIPPED)), "stage-not-in-deal-schema",
                  "deal-schema-unknown-stage") == []


def test_the_codes_are_documented() -> None:
    guide = (ROOT / "docs" / "authoring.md").read_text("utf-8")
    assert "| `stage-not-in-deal-schema` | error |" in guide
    assert "| `deal-schema-unknown-stage` | warning |" in guide
