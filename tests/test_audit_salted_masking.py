"""Salted masking: the engine hashes real sensitive values, never its own ``***``.

An auditor found that ``mask_sensitive(paths, salt=...)`` on a sink hashed the ``***`` the
engine had already written, so every deal showed the same ``sha256:1b18…`` and unrelated
contacts looked like one person.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from cycleflow import Engine, load_policy
from cycleflow.audit import JsonlSink, capture_audit, mask_sensitive, mask_value
from cycleflow.cli.main import cli

POLICY = Path(__file__).parent / "data" / "policies" / "sensitive" / "policy.yaml"
NOW = "2026-02-01T00:00:00Z"
SALT = b"s3cret"


def deal(ident: str, email: str) -> dict[str, Any]:
    """A deal at rest in ``won`` whose contact email a rule reads."""
    return {"id": ident, "stage": "won", "ssn": "2020-01-01", "pin": "zzz", "salary": 1,
            "contact": {"email": email, "name": "Al"}}


def email_values(events: list[dict[str, Any]]) -> list[Any]:
    return [e["values"]["deal.contact.email"] for e in events
            if "deal.contact.email" in e.get("values", {})]


def test_a_salted_sink_processor_keeps_distinct_contacts_distinct(tmp_path: Path) -> None:
    """The processor leaves the engine's ``***`` alone instead of hashing it into one value
    shared by every deal."""
    log = tmp_path / "audit.jsonl"
    processor = mask_sensitive(["deal.contact.email"], salt=SALT)
    with JsonlSink(log, processors=[processor]) as sink:
        engine = Engine(load_policy(POLICY), audit=sink)
        engine.check(deal("D-1", "a@corp.example"), now=NOW)
        engine.check(deal("D-2", "b@corp.example"), now=NOW)
    events = [orjson.loads(line) for line in log.read_bytes().splitlines()]
    shown = email_values(events)
    assert shown and set(shown) == {"***"}
    assert "sha256:" not in log.read_text()  # no hash of the mask stands in for a value


def test_the_engine_masks_with_a_salted_keyed_hash_when_asked() -> None:
    """Same value, same hash (across deals, events, decisions and reports); different
    values, different hashes; the clear value nowhere."""
    with capture_audit() as captured:
        engine = Engine(load_policy(POLICY), audit=captured, mask_salt=SALT)
        one = engine.check(deal("D-1", "a@corp.example"), now=NOW)
        two = engine.check(deal("D-2", "a@corp.example"), now=NOW)
        three = engine.check(deal("D-3", "b@corp.example"), now=NOW)
        moved = engine.decide({**deal("D-4", "b@corp.example"), "stage": "prospect"}, "advance",
                              {"id": "ann", "roles": []}, now=NOW)
    text = orjson.dumps(captured.events).decode()
    assert "a@corp.example" not in text and "b@corp.example" not in text
    a, b = mask_value("a@corp.example", SALT), mask_value("b@corp.example", SALT)
    assert a != b and a.startswith("sha256:")
    by_deal: dict[str, set[Any]] = {}
    for event in captured.events:
        if "deal.contact.email" in event["values"]:
            by_deal.setdefault(event["deal"], set()).add(event["values"]["deal.contact.email"])
    assert by_deal == {"D-1": {a}, "D-2": {a}, "D-3": {b}, "D-4": {b}}

    def shown(violations: Any) -> set[Any]:
        return {v.values["deal.contact.email"] for v in violations
                if v.rule == "government_contact"}

    assert shown(one.violations) == shown(two.violations) == {a}
    assert shown(three.violations) == shown(moved.violations) == {b}


def test_a_salted_engine_and_a_salted_processor_do_not_hash_twice(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    with JsonlSink(log, processors=[mask_sensitive(["deal.contact.email"], salt=SALT)]) as sink:
        Engine(load_policy(POLICY), audit=sink, mask_salt=SALT).check(
            deal("D-1", "a@corp.example"), now=NOW)
    events = [orjson.loads(line) for line in log.read_bytes().splitlines()]
    assert set(email_values(events)) == {mask_value("a@corp.example", SALT)}


def test_the_unsalted_engine_still_writes_stars() -> None:
    with capture_audit() as captured:
        Engine(load_policy(POLICY), audit=captured).check(deal("D-1", "a@corp.example"), now=NOW)
    assert set(email_values(captured.events)) == {"***"}


@pytest.mark.parametrize("salt", [b"", "", 42])
def test_an_empty_or_odd_salt_is_refused_without_echoing_it(salt: Any) -> None:
    from cycleflow.errors import UsageError

    with pytest.raises(UsageError, match="mask_salt must be a non-empty secret") as err:
        Engine(load_policy(POLICY), mask_salt=salt)
    assert "42" not in str(err.value)


def test_check_and_decide_read_the_salt_from_an_environment_variable(tmp_path: Path) -> None:
    deals = tmp_path / "deals.jsonl"
    emails = ["a@corp.example", "a@corp.example", "b@corp.example"]
    deals.write_text("".join(json.dumps(deal(f"D-{n}", e)) + "\n" for n, e in enumerate(emails)),
                     "utf-8")
    log = tmp_path / "audit.jsonl"
    env = {"CYCLEFLOW_SALT": SALT.decode()}
    result = CliRunner().invoke(cli, [
        "check", "-p", str(POLICY), str(deals), "--format", "jsonl", "--now", NOW, "--jobs", "1",
        "--audit", str(log), "--mask-salt-env", "CYCLEFLOW_SALT"], env=env)
    assert result.exit_code == 1, result.output
    a, b = mask_value("a@corp.example", SALT), mask_value("b@corp.example", SALT)
    verdicts = [json.loads(line) for line in result.output.splitlines()]
    reported = [v["values"]["deal.contact.email"] for r in verdicts for v in r["violations"]
                if v["rule"] == "government_contact"]
    assert reported == [a, a, b]
    events = [orjson.loads(line) for line in log.read_bytes().splitlines()]
    assert set(email_values(events)) == {a, b}
    assert b"corp.example" not in log.read_bytes() and SALT not in log.read_bytes()

    one = tmp_path / "deal.json"
    one.write_text(json.dumps({**deal("D-9", "b@corp.example"), "stage": "prospect"}), "utf-8")
    decided = CliRunner().invoke(cli, [
        "decide", "-p", str(POLICY), "--deal", str(one), "--trigger", "advance", "--now", NOW,
        "--mask-salt-env", "CYCLEFLOW_SALT"], env=env)
    assert decided.exit_code == 1, decided.output
    assert b in decided.output and "corp.example" not in decided.output


@pytest.mark.parametrize("command", ["check", "decide"])
@pytest.mark.parametrize("value", [None, ""])
def test_a_missing_or_empty_salt_variable_is_a_usage_error(
        tmp_path: Path, command: str, value: str | None) -> None:
    one = tmp_path / "deal.json"
    one.write_text(json.dumps(deal("D-1", "a@corp.example")), "utf-8")
    args = (["check", "-p", str(POLICY), str(one), "--now", NOW, "--jobs", "1"]
            if command == "check" else
            ["decide", "-p", str(POLICY), "--deal", str(one), "--trigger", "advance"])
    result = CliRunner().invoke(cli, [*args, "--mask-salt-env", "CYCLEFLOW_NO_SALT"],
                                env={"CYCLEFLOW_NO_SALT": value})
    assert result.exit_code == 2, result.output
    assert "CYCLEFLOW_NO_SALT" in result.output
    assert ("empty" if value == "" else "not set") in result.output


def test_the_engine_hashes_a_raw_value_that_looks_masked_already() -> None:
    """A deal could carry another contact's hash ('sha256:…' or '***') in a sensitive field:
    the engine kept it as if masked, so the report claimed the same contact (and printed
    the field's own value in clear). Only a sink's processor keeps what is masked."""
    other = mask_value("a@corp.example", SALT)
    with capture_audit() as captured:
        engine = Engine(load_policy(POLICY), audit=captured, mask_salt=SALT)
        engine.check(deal("D-1", "a@corp.example"), now=NOW)
        engine.check(deal("D-2", other), now=NOW)
        engine.check(deal("D-3", "***"), now=NOW)
    by_deal = {e["deal"]: e["values"]["deal.contact.email"] for e in captured.events
               if "deal.contact.email" in e["values"]}
    assert by_deal["D-1"] == other
    assert by_deal["D-2"] == mask_value(other, SALT) != other
    assert by_deal["D-3"] == mask_value("***", SALT) != "***"
    assert mask_value(other, SALT, keep_masked=True) == other  # the processor's way
