"""One SARIF tool for everything ``check`` writes, and whether the run could judge its input.

GitHub code scanning tracks alerts per tool (and category): the log ``check`` wrote when
the policy did not load said ``cycleflow-lint``, so the next good run (``cycleflow``)
never closed its alerts. And that log said nothing of the run failing.
"""

from __future__ import annotations

import importlib
import io
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sarif_files import BROKEN, DEALS, NOW, POLICY, SCHEMA

from cycleflow.cli.main import cli
from cycleflow.report import write_sarif

jsonschema: Any = importlib.import_module("jsonschema")  # untyped; stubs may be absent



def check_sarif(policy: Path, tmp_path: Path, *deals: str) -> tuple[int, dict[str, Any]]:
    """Run ``check --format sarif -o F`` in this process; the exit code and the log."""
    out = tmp_path / f"{policy.stem}.sarif"
    res = CliRunner().invoke(cli, ["check", "-p", str(policy), *(deals or (str(DEALS),)),
                                   "--now", NOW, "-j", "1", "--format", "sarif",
                                   "-o", str(out)])
    assert res.exception is None or isinstance(res.exception, SystemExit), res.output
    log: dict[str, Any] = json.loads(out.read_text("utf-8"))
    jsonschema.validate(log, SCHEMA)
    return res.exit_code, log


def driver(log: dict[str, Any]) -> dict[str, Any]:
    run: dict[str, Any] = log["runs"][0]
    return dict(run["tool"]["driver"])


def test_a_policy_that_does_not_load_is_reported_under_checks_own_tool(
        tmp_path: Path) -> None:
    good_code, good = check_sarif(POLICY, tmp_path)
    bad_code, bad = check_sarif(BROKEN, tmp_path)
    assert (good_code, bad_code) == (1, 3)
    assert driver(bad)["name"] == driver(good)["name"] == "cycleflow"
    assert driver(bad)["informationUri"] == driver(good)["informationUri"]
    assert [r["ruleId"] for r in bad["runs"][0]["results"]] == ["unknown-gate"]


def test_execution_successful_is_false_only_when_nothing_could_be_judged(
        tmp_path: Path) -> None:
    _, good = check_sarif(POLICY, tmp_path)
    _, bad = check_sarif(BROKEN, tmp_path)
    assert good["runs"][0]["invocations"] == [{"executionSuccessful": True}]
    assert bad["runs"][0]["invocations"] == [{"executionSuccessful": False}]


def test_records_that_could_not_be_judged_are_findings_of_a_successful_run(
        tmp_path: Path) -> None:
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"id": \n', "utf-8")
    code, log = check_sarif(POLICY, tmp_path, str(broken))
    assert code == 2
    [result] = log["runs"][0]["results"]
    assert result["ruleId"] == "cycleflow/unjudged-record"
    assert log["runs"][0]["invocations"] == [{"executionSuccessful": True}]
    out = io.BytesIO()  # the writer itself, with nothing but error verdicts
    write_sarif([{"deal": None, "record": 1, "source": "x.jsonl", "verdict": "error",
                  "error": "bad"}], out, {"id": "p"})
    assert json.loads(out.getvalue())["runs"][0]["invocations"][0]["executionSuccessful"]


@pytest.mark.parametrize("policy", [POLICY, BROKEN], ids=["loads", "does-not-load"])
def test_lint_keeps_a_name_of_its_own_and_says_it_ran(policy: Path) -> None:
    """lint is another analysis (of the policy, not the deals): its alerts are its own."""
    res = CliRunner().invoke(cli, ["lint", "--format", "sarif", str(policy)])
    log = json.loads(res.output)
    jsonschema.validate(log, SCHEMA)
    assert driver(log)["name"] == "cycleflow-lint"
    assert log["runs"][0]["invocations"] == [{"executionSuccessful": True}]
