"""Fields a policy marks sensitive never appear in clear in a report, an explanation or an event.

The audit log masked them, but a security review found them in every check report
format (the values a violation read, and a rule error quoting the value), and in
`explain`'s "read:" lines.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from cycleflow.cli.main import cli

POLICY = Path(__file__).parent / "data" / "policies" / "sensitive" / "policy.yaml"
DEAL = {"id": "D-1", "stage": "won", "ssn": "123-45-6789", "pin": "9876",
        "salary": 12345678901, "contact": {"email": "alice.secret@corp.example", "name": "Al"}}
SECRETS = ("123-45-6789", "9876", "12345678901", "alice.secret@corp.example")


@pytest.mark.parametrize("fmt", ["jsonl", "json", "text", "sarif", "junit"])
def test_check_reports_show_no_sensitive_value(tmp_path: Path, fmt: str) -> None:
    deals = tmp_path / "deals.jsonl"
    deals.write_text(json.dumps(DEAL) + "\n", "utf-8")
    result = CliRunner().invoke(cli, ["check", "-p", str(POLICY), str(deals), "--format", fmt,
                                      "--now", "2026-02-01T00:00:00Z", "--jobs", "1"])
    assert result.exit_code == 1, result.output
    assert not [s for s in SECRETS if s in result.output], result.output
    assert "***" in result.output or fmt == "text"
    if fmt == "jsonl":
        [verdict] = [json.loads(line) for line in result.output.splitlines()]
        assert {v["rule"] for v in verdict["violations"]} == {
            "ssn_is_a_date", "pin_known", "salary_small", "government_contact"}


def test_explain_and_decide_show_no_sensitive_value(tmp_path: Path) -> None:
    deal = tmp_path / "deal.json"
    deal.write_text(json.dumps({**DEAL, "stage": "prospect"}), "utf-8")
    for command in (["explain", "-p", str(POLICY), "--deal", str(deal), "--trigger", "advance"],
                    ["decide", "-p", str(POLICY), "--deal", str(deal), "--trigger", "advance",
                     "--actor", '{"id": "ann", "roles": []}']):
        result = CliRunner().invoke(cli, [*command, "--now", "2026-02-01T00:00:00Z"])
        assert result.exit_code in (0, 1), result.output
        assert not [s for s in SECRETS if s in result.output], result.output
        assert "***" in result.output
    # a rule that could not read deal.ssn as a date: "Fix the deal record", not "Fill in"
    explained = CliRunner().invoke(cli, ["explain", "-p", str(POLICY), "--deal", str(deal),
                                         "--trigger", "advance", "--now", "2026-02-01T00:00:00Z"])
    assert "Fix the deal record: not an ISO-8601 date-time: '***'" in explained.output
    assert "Fill in not" not in explained.output


def test_a_missing_sensitive_field_is_shown_as_missing_not_masked(tmp_path: Path) -> None:
    """That a field is absent is no secret, and the author needs to see it (the simulator,
    which repairs what violations name, stopped winning any deal when it read ***)."""
    from cycleflow import Engine, load_policy

    verdict = Engine(load_policy(POLICY)).check({"id": "D-2", "stage": "won"},
                                                now="2026-02-01T00:00:00Z")
    shown = {v.rule: dict(v.values) for v in verdict.violations}
    assert shown["ssn_is_a_date"] == {"deal.ssn": "<missing>"}
    assert shown["salary_small"] == {"deal.salary": "<missing>"}


def test_a_rule_error_on_a_sensitive_field_quotes_nothing_it_read(tmp_path: Path) -> None:
    """A second security review: masking replaced only the exact text of values of four
    characters or more, so a short PIN, upper(email), a value with a trailing tab or a
    backslash were quoted in clear by rule errors; approval reasons quoted sensitive bound
    values ("it approved deal.salary = 1111111, now 7654321")."""
    from cycleflow import Engine, load_policy

    policy = tmp_path / "p.yaml"
    policy.write_text(POLICY.read_text("utf-8").replace(
        "when: datetime(deal.ssn) < now", "when: datetime(upper(deal.ssn) + deal.pin) < now"),
        "utf-8")
    engine = Engine(load_policy(policy))
    verdict = engine.check({**DEAL, "ssn": "abc-12\\t", "pin": "987"}, now="2026-02-01T00:00:00Z")
    [error] = [v for v in verdict.violations if v.rule == "ssn_is_a_date"]
    assert "ABC" not in error.message and "987" not in error.message, error.message
    assert error.message == "not an ISO-8601 date-time: '***'"
