"""cycleflow test: the shipped suite at full coverage, failing and vacuous cases, bad suites."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
from click.testing import CliRunner

from cycleflow.cli.main import cli
from cycleflow.toolkit.testing import _merge, load_suite, run_suites

ROOT = Path(__file__).resolve().parent.parent
SHIPPED_SUITE = ROOT / "policies" / "standard-sales-cycle.test.yaml"
SUITES = ROOT / "tests" / "data" / "suites"


def test_shipped_suite_passes_with_full_coverage() -> None:
    res = CliRunner().invoke(cli, ["test", str(SHIPPED_SUITE), "--coverage",
                                   "--min-coverage", "100"])
    assert res.exit_code == 0, res.output
    assert "(100.0%)" in res.output
    assert " 0 failed" in res.output


def test_shipped_coverage_counts_every_evaluable_rule() -> None:
    suite = load_suite(str(SHIPPED_SUITE))
    run = run_suites([suite])
    (cov,) = run.coverage.values()
    assert set(cov.rules) == set(suite.policy.rule_ids())
    never = {r.rule for r in cov.rules.values() if not r.evaluable}
    # every rule of the shipped policy can be evaluated, the steps after the win included
    assert never == set()
    assert all(r.fired and r.passed for r in cov.evaluable)
    assert cov.percent == 100.0


def test_suite_file_validates_against_its_schema() -> None:
    import yaml

    schema = json.loads((ROOT / "cycleflow" / "schemas" / "policy-test.schema.json")
                        .read_text("utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    for path in (SHIPPED_SUITE, SUITES / "failing.test.yaml"):
        jsonschema.validate(yaml.safe_load(path.read_text("utf-8")), schema)


def test_every_schema_key_has_a_description() -> None:
    schema = json.loads((ROOT / "cycleflow" / "schemas" / "policy-test.schema.json")
                        .read_text("utf-8"))
    missing: list[str] = []

    def walk(node: object, where: str) -> None:
        if isinstance(node, dict):
            for key in ("properties", "$defs", "patternProperties"):
                for name, sub in (node.get(key) or {}).items():
                    if isinstance(sub, dict) and "description" not in sub:
                        missing.append(f"{where}/{name}")
            for k, v in node.items():
                walk(v, f"{where}/{k}")
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{where}/{i}")

    walk(schema, "#")
    assert not missing


def test_failing_and_vacuous_cases_fail() -> None:
    res = CliRunner().invoke(cli, ["test", str(SUITES / "failing.test.yaml")])
    assert res.exit_code == 1
    out = res.output
    assert "FAIL" in out and "wrong outcome" in out
    assert "outcome: expected blocked, got allowed" in out
    assert ("expected rule contract_signed to be violated but contract_signed was not "
            "evaluated in this case") in out
    assert "expected rule large_deal not to be violated but large_deal was not evaluated" in out
    # the failure shows the explanation, rule by rule
    assert "amount_positive [entry] passed" in out
    assert "read: deal.amount = 100000" in out
    assert "3 failed" in out and "1 passed" in out


def test_min_coverage_fails_below() -> None:
    res = CliRunner().invoke(cli, ["test", str(SUITES / "failing.test.yaml"),
                                   "--min-coverage", "50"])
    assert res.exit_code == 1
    assert "below --min-coverage 50%" in res.output


def test_junit_report(tmp_path: Path) -> None:
    out = tmp_path / "report.xml"
    res = CliRunner().invoke(cli, ["test", str(SUITES / "failing.test.yaml"), "--format",
                                   "junit", "-o", str(out)])
    assert res.exit_code == 1
    root = ET.parse(out).getroot()
    assert root.tag == "testsuites" and root.get("failures") == "3"
    cases = root.findall(".//testcase")
    assert len(cases) == 4
    failures = [c for c in cases if c.find("failure") is not None]
    assert {c.get("name") for c in failures} == {"wrong outcome", "vacuous violation",
                                                  "vacuous not_violation"}
    text = failures[0].find("failure").text or ""  # type: ignore[union-attr]
    assert "Rules checked" in text


def test_bad_suite_is_located_exit_2() -> None:
    res = CliRunner().invoke(cli, ["test", str(SUITES / "bad-suite.test.yaml")])
    assert res.exit_code == 2
    assert "Traceback" not in res.output
    for line, code in ((9, "suite-unknown-fixture"), (14, "suite-unknown-trigger"),
                       (17, "suite-unknown-rule")):
        assert f"bad-suite.test.yaml:{line}:" in res.output and code in res.output
    assert "did you mean 'budget_known'?" in res.output


def test_schema_error_is_located_exit_2() -> None:
    res = CliRunner().invoke(cli, ["test", str(SUITES / "schema-error.test.yaml")])
    assert res.exit_code == 2
    assert "schema-error.test.yaml:7:14: schema-unknown-key" in res.output
    assert "did you mean 'outcome'?" in res.output


def test_missing_suite_and_broken_policy_exit_2(tmp_path: Path) -> None:
    res = CliRunner().invoke(cli, ["test", str(tmp_path / "nope.yaml")])
    assert res.exit_code == 2 and "file-not-found" in res.output
    suite = tmp_path / "s.yaml"
    broken = ROOT / "tests" / "data" / "policies" / "broken" / "lint-unknown-gate.yaml"
    suite.write_text(f"policy: {broken}\nnow: '2026-11-26T12:00:00Z'\ncases:\n"
                     "  - {name: x, deal: {id: a}, check: true, expect: {verdict: compliant}}\n")
    res = CliRunner().invoke(cli, ["test", str(suite)])
    assert res.exit_code == 2
    assert "suite-policy-invalid" in res.output and "unknown-gate" in res.output


def test_patch_is_a_deep_merge_and_null_removes() -> None:
    base = {"a": 1, "c": {"x": 1, "y": 2}, "l": [1, 2]}
    assert _merge(base, {"c": {"x": None, "z": 3}, "l": [3], "a": None}) == {
        "c": {"y": 2, "z": 3}, "l": [3]}
    assert base == {"a": 1, "c": {"x": 1, "y": 2}, "l": [1, 2]}


def _suite(tmp_path: Path, head: str, case_now: str = "") -> Path:
    suite = tmp_path / "clock.test.yaml"
    suite.write_text(
        f"policy: {ROOT / 'policies' / 'standard-sales-cycle.yaml'}\n{head}cases:\n"
        "  - {name: one, check: true, deal: {id: a, stage: prospect}, "
        "expect: {verdict: compliant}}\n"
        f"  - {{name: two, {case_now}check: true, deal: {{id: a, stage: prospect}}, "
        "expect: {verdict: compliant}}\n",
        encoding="utf-8",
    )
    return suite


def test_a_bad_suite_now_is_a_located_suite_error(tmp_path: Path) -> None:
    suite = _suite(tmp_path, 'now: "garbage"\n')
    res = CliRunner().invoke(cli, ["test", str(suite)])
    assert res.exit_code == 2, res.output
    assert f"{suite}:2:6: suite-bad-now" in res.stderr and "'garbage'" in res.stderr
    assert res.stderr.count("suite-bad-now") == 1      # once for the suite, not per case
    assert "FAIL" not in res.output and "passed" not in res.output


def test_a_bad_case_now_is_located_at_the_case(tmp_path: Path) -> None:
    suite = _suite(tmp_path, 'now: "2026-11-26T12:00:00Z"\n', 'now: "2026-13-45", ')
    res = CliRunner().invoke(cli, ["test", str(suite)])
    assert res.exit_code == 2, res.output
    assert f"{suite}:5:22: suite-bad-now" in res.stderr and "'2026-13-45'" in res.stderr


def test_an_empty_suite_speaks_of_a_test_suite(tmp_path: Path) -> None:
    empty = tmp_path / "empty.test.yaml"
    empty.write_text("")
    res = CliRunner().invoke(cli, ["test", str(empty)])
    assert res.exit_code == 2
    assert f"{empty}:1:1: yaml-empty: the test suite is empty" in res.stderr
    assert "policy file" not in res.stderr and "cycleflow: 1" not in res.stderr
    listed = tmp_path / "list.test.yaml"
    listed.write_text("- a\n")
    res = CliRunner().invoke(cli, ["test", str(listed)])
    assert res.exit_code == 2 and "the test suite must be a mapping" in res.stderr


def _shipped_policy_suite(tmp_path: Path, name: str, body: str) -> Path:
    """A suite of the shipped policy with a frozen clock; ``body`` is the rest of its YAML."""
    suite = tmp_path / name
    suite.write_text(f"policy: {ROOT / 'policies' / 'standard-sales-cycle.yaml'}\n"
                     'now: "2026-11-26T12:00:00Z"\n' + body, encoding="utf-8")
    return suite


def test_a_misspelt_patch_field_is_a_located_error(tmp_path: Path) -> None:
    """`patch: {discount_pc: 40}` set a field nothing reads, and the case passed without
    testing the boundary it named; a field with no near match (a CRM's own) still passes."""
    suite = _shipped_policy_suite(tmp_path, "patch.test.yaml",
        "cases:\n"
        "  - name: boundary\n"
        "    check: true\n"
        "    deal: {id: a, stage: prospect}\n"
        "    patch: {discount_pc: 40, crm_owner_team: emea, customer: {screenin: flagged}}\n"
        "    expect: {verdict: compliant}\n")
    res = CliRunner().invoke(cli, ["test", str(suite)])
    assert res.exit_code == 2, res.output
    assert f"{suite}:7:13: suite-unknown-field" in res.stderr
    assert "did you mean 'discount_pct'?" in res.stderr
    assert "'customer.screenin'" in res.stderr and "did you mean 'customer.screening'?" in (
        res.stderr)
    assert "crm_owner_team" not in res.stderr


def test_a_failure_says_what_the_rule_did_instead(tmp_path: Path) -> None:
    """'expected close_date_past to be violated but it was not (outcome: fail)' read as a
    contradiction: the rule fired, as a warning. The failure now names the right key."""
    suite = _shipped_policy_suite(tmp_path, "effects.test.yaml",
        "fixtures:\n  deals:\n    q:\n"
        "      {id: Q, stage: qualified, stage_entered_at: '2026-11-20T09:00:00Z', owner: ann,\n"
        "       customer: {name: A, country: DE, screening: cleared}, budget: 120000,\n"
        "       decision_maker: V, amount: 100000, currency: EUR, discount_pct: 5,\n"
        "       close_date: '2026-12-20', steps: [customer_development, customer_visit]}\n"
        "cases:\n"
        "  - {name: warns, deal: q, patch: {close_date: '2026-01-01'}, check: true,\n"
        "     expect: {violations: [close_date_past]}}\n"
        "  - {name: asks, deal: q, patch: {discount_pct: 28}, decide: advance,\n"
        "     actor: {id: ann, roles: [sales_rep]}, expect: {warnings: [deep_discount]}}\n")
    res = CliRunner().invoke(cli, ["test", str(suite)])
    assert res.exit_code == 1, res.output
    assert ("expected rule close_date_past to be violated but it fired as a warning"
            in res.output and "list it under 'warnings:'" in res.output)
    assert ("expected a warning from rule deep_discount but it fired, and its effect is to "
            "ask for an approval" in res.output and "'approvals_needed:'" in res.output)
    assert "(outcome: fail)" not in res.output


def test_an_expected_error_that_did_not_happen_is_said_plainly(tmp_path: Path) -> None:
    """'expected a message containing 'x', got None' showed Python's None to an officer."""
    suite = _shipped_policy_suite(tmp_path, "error.test.yaml",
        "cases:\n"
        "  - name: a good deal\n"
        "    check: true\n"
        "    deal: {id: a, stage: prospect, owner: ann, stage_entered_at: '2026-11-20T09:00:00Z',\n"
        "           steps: [customer_development]}\n"
        "    expect: {error: schema}\n")
    res = CliRunner().invoke(cli, ["test", str(suite)])
    assert res.exit_code == 1
    assert "expected a message containing 'schema', but the deal was judged" in res.output
    assert "None" not in res.output


def test_a_case_whose_deal_the_engine_cannot_judge_fails_instead_of_passing(
        tmp_path: Path) -> None:
    """A stage typo passed 'expect: {outcome: not_permitted}', and a deal breaking the deal
    schema passed too: no rule of the policy ran, yet the suite was green (officer review)."""
    good = ("{id: a, stage: qualified, stage_entered_at: '2026-11-20T09:00:00Z', owner: ann, "
            "lost_reason: %s}")
    suite = _shipped_policy_suite(tmp_path, "invalid.test.yaml",
        "fixtures: {actors: {rep: {id: ann, roles: [sales_rep]}}}\n"
        "cases:\n"
        "  - {name: typo, decide: lose, actor: rep, deal: {id: a, stage: qualifed},"
        " expect: {outcome: not_permitted}}\n"
        f"  - {{name: schema, decide: lose, actor: rep, deal: {good % 0},"
        " expect: {outcome: blocked}}\n"
        f"  - {{name: meant, decide: lose, actor: rep, deal: {good % 0},"
        " expect: {outcome: blocked, violations: [deal]}}\n"
        "  - {name: at rest, check: true, deal: {id: a, stage: qualifed},"
        " expect: {not_warnings: []}}\n"
        "  - {name: error meant, check: true, deal: {id: a, stage: qualifed},"
        " expect: {verdict: error}}\n"
        f"  - {{name: valid, decide: lose, actor: rep, deal: {good % 'budget cut'},"
        " expect: {outcome: allowed}}\n")
    run = run_suites([load_suite(str(suite))])
    by_name = {c.name: c for c in run.cases}
    assert {n for n, c in by_name.items() if not c.passed} == {"typo", "schema", "at rest"}
    assert "not a valid record" in by_name["typo"].failures[-1]
    assert "unknown stage 'qualifed'" in by_name["typo"].failures[-1]
    assert "lost_reason" in by_name["schema"].failures[-1]
    assert "expect violations: [deal]" in by_name["schema"].failures[-1]
    assert "expect verdict: error" in by_name["at rest"].failures[-1]
