"""cycleflow simulate fills required fields with a pattern but no examples, or a common format.

A schema requiring `request_id: {format: uuid}` or `po_number: {pattern: "^PO-[0-9]{6}$"}`
(no `examples`) had every simulated deal refused by the deal schema, with no warning; when
no valid value can be made, simulate now says so once, up front, naming the field and the fix.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
from jsonschema import Draft202012Validator

from cycleflow.analytics.simulate import SimOptions, fill_warnings, simulate
from cycleflow.api import load_policy

POLICY = """cycleflow: 1
id: formats
version: "1"
deal_schema: deal.schema.json
stages:
  lead:
    initial: true
  qualified:
    entry:
      - {id: po_known, when: has(deal.po_number)}
  won: {final: true, outcome: won}
  lost: {final: true, outcome: lost}
transitions:
  - {trigger: qualify, from: lead, to: qualified}
  - {trigger: win, from: qualified, to: won}
  - {trigger: lose, from: [lead, qualified], to: lost, require: [lost_reason]}
"""

FORMATS = ("uuid", "ipv4", "ipv6", "uri", "hostname", "email", "date", "date-time", "time")


def schema(**extra: Any) -> dict[str, Any]:
    """A deal schema requiring one field per common format and a pattern without examples."""
    props: dict[str, Any] = {
        "id": {"type": "string"}, "stage": {"type": "string"},
        "stage_entered_at": {"type": "string", "format": "date-time"},
        "owner": {"type": "string"}, "steps": {"type": "array"}, "approvals": {"type": "array"},
        "lost_reason": {"type": "string"},
        "po_number": {"type": "string", "pattern": "^PO-[0-9]{6}$"},
        "region_code": {"type": "string", "pattern": "^[A-Z]{2}-[0-9]{3}$"},
        **{f"f_{f.replace('-', '_')}": {"type": "string", "format": f} for f in FORMATS},
        **extra,
    }
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",
            "required": [k for k in props if k not in ("steps", "approvals", "lost_reason")],
            "properties": props}


def make_repo(tmp_path: Path, deal_schema: dict[str, Any]) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / "policy.yaml").write_text(POLICY, "utf-8")
    (repo / "deal.schema.json").write_text(json.dumps(deal_schema), "utf-8")
    return repo / "policy.yaml"


def test_required_formats_and_patterns_are_filled_validly(tmp_path: Path) -> None:
    the_schema = schema()
    path = make_repo(tmp_path, the_schema)
    policy = load_policy(path)
    assert fill_warnings(policy) == ()
    out = tmp_path / "sim"
    summary = simulate(policy, str(out), SimOptions(deals=40, days=200, seed=3))
    deals = [orjson.loads(x) for x in (out / "deals.jsonl").read_bytes().splitlines()]
    events = [orjson.loads(x) for x in (out / "audit.jsonl").read_bytes().splitlines()]
    assert not [e for e in events if e.get("rule") == "deal"]  # no deal refused by the schema
    assert summary.won > 0 and summary.warnings == ()
    validator = Draft202012Validator(the_schema,
                                     format_checker=Draft202012Validator.FORMAT_CHECKER)
    for deal in deals:
        assert validator.is_valid(deal), (deal["id"], next(validator.iter_errors(deal)).message)
    first = deals[0]
    assert first["f_uri"].startswith("https://") and "." in first["f_hostname"]
    assert first["f_time"].endswith("Z") and ":" in first["f_ipv6"]


UNFILLABLE = {"type": "string", "pattern": "^(?=X)[^a-z]{3}$"}  # a look-ahead: no generator


def test_a_field_without_a_valid_value_is_warned_once_up_front(tmp_path: Path) -> None:
    path = make_repo(tmp_path, schema(ticket=UNFILLABLE))
    warnings = fill_warnings(load_policy(path))
    assert len(warnings) == 1
    assert "deal.ticket" in warnings[0] and "add an `examples` entry" in warnings[0]
    out = subprocess.run(
        [sys.executable, "-m", "cycleflow", "simulate", "-p", str(path), "--deals", "5",
         "--days", "30", "-o", str(tmp_path / "sim")],
        capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    lines = [x for x in out.stderr.splitlines() if "deal.ticket" in x]
    assert len(lines) == 1 and lines[0].startswith("cycleflow: warning:")
    assert "examples" in lines[0]
    assert out.stderr.index("deal.ticket") < out.stderr.index("simulated ")  # up front


def test_a_field_the_rules_read_is_warned_too(tmp_path: Path) -> None:
    the_schema = schema()
    the_schema["properties"]["po_number"] = UNFILLABLE
    the_schema["required"].remove("po_number")
    policy = load_policy(make_repo(tmp_path, the_schema))
    warnings = fill_warnings(policy)
    assert len(warnings) == 1 and "deal.po_number" in warnings[0]
    assert "read by the rules" in warnings[0]
    summary = simulate(policy, str(tmp_path / "sim"), SimOptions(deals=5, days=30, seed=1))
    assert summary.warnings == warnings
