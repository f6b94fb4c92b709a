"""Lint names a deal schema file by its normalised path, as it names the policy's own files.

``deal_schema: ../schemas/deal.schema.json`` in ``policies/p.yaml`` was reported at
``policies/../schemas/deal.schema.json:1:18``; it is ``schemas/deal.schema.json:1:18``. (The
same relative names make up the policy hash, hence this file's name.)
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from cycleflow.cli.main import cli
from cycleflow.toolkit.lint import lint_file

POLICY = """cycleflow: 1
id: x
version: "1"
deal_schema: ../schemas/deal.schema.json
stages:
  a: {initial: true}
  b: {final: true}
transitions:
  - {trigger: go, from: a, to: b}
"""


def make(root: Path, schema_text: str) -> None:
    (root / ".git").mkdir()
    (root / "policies").mkdir()
    (root / "schemas").mkdir()
    (root / "policies" / "p.yaml").write_text(POLICY, "utf-8")
    (root / "schemas" / "deal.schema.json").write_text(schema_text, "utf-8")


def test_a_schema_syntax_error_is_at_the_normalised_path(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make(tmp_path, '{"type": "object",')
    monkeypatch.chdir(tmp_path)
    [problem] = lint_file(os.path.join("policies", "p.yaml"))
    assert problem.code == "deal-schema-syntax"
    assert problem.location.file == os.path.join("schemas", "deal.schema.json")
    out = CliRunner().invoke(cli, ["lint", os.path.join("policies", "p.yaml")])
    assert out.output.startswith(os.path.join("schemas", "deal.schema.json") + ":1:")
    assert ".." not in out.output


def test_an_unknown_stage_in_the_schema_is_at_the_normalised_path(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    schema = {"type": "object", "properties": {"stage": {"enum": ["a", "b", "c"]}}}
    make(tmp_path, json.dumps(schema, indent=2))
    monkeypatch.chdir(tmp_path)
    problems = [p for p in lint_file(os.path.join("policies", "p.yaml"))
                if p.code == "deal-schema-unknown-stage"]
    assert [p.location.file for p in problems] == [os.path.join("schemas", "deal.schema.json")]
    text = json.dumps(schema, indent=2)
    assert problems[0].location.line == text[:text.index('"c"')].count("\n") + 1
