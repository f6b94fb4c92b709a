"""cycleflow simulate fills fields the way the policy's deal schema allows.

An officer review simulated a policy whose schema had `credit_rating: {enum: [A, B, C, D]}`:
every deal carried "credit rating 563", every move was refused by the deal schema, the summary
said "0 won" and lost reasons read "could not proceed: deal".
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
from jsonschema import Draft202012Validator

from cycleflow.analytics.simulate import SimOptions, SimSummary, simulate
from cycleflow.api import load_policy

POLICY = """cycleflow: 1
id: constrained
version: "1"
title: Constrained deal schema
deal_schema: deal.schema.json
stages:
  lead:
    label: {en: Lead, zh: 线索}
    initial: true
    steps: [first_call]
  qualified:
    label: {en: Qualified, zh: 意向客户}
    entry:
      - {id: budget_known, when: deal.budget > 0}
      - {id: rating_known, when: 'deal.credit_rating in ["A", "B", "C"]'}
      - {id: region_known, when: has(deal.region.code)}
  negotiation:
    label: {en: Negotiation, zh: 商务谈判}
    entry:
      - {id: score_ok, when: deal.risk_score <= 80}
      - {id: margin_positive, when: deal.margin_pct > 0}
      - {id: review_planned, when: has(deal.review_date)}
      - {id: terms_agreed, when: 'deal.terms == "standard"'}
      - {id: contact_named, when: len(deal.contact) >= 3}
      - {id: order_numbered, when: has(deal.po_number)}
  won: {label: {en: Won, zh: 赢单}, final: true, outcome: won}
  lost: {label: {en: Lost, zh: 输单}, final: true, outcome: lost}
transitions:
  - {trigger: qualify, from: lead, to: qualified}
  - {trigger: negotiate, from: qualified, to: negotiation}
  - trigger: win
    from: negotiation
    to: won
    when:
      - {id: signed, when: has(deal.signed_on)}
      - {id: tier_named, when: has(deal.tier)}
  - {trigger: lose, from: [lead, qualified, negotiation], to: lost, require: [lost_reason]}
risks:
  - id: deep_discount
    when: deal.discount_pct > 25
    at: [enter won]
    severity: high
    then: approve desk
approvals:
  desk:
    roles: [sales_director]
    separate_from: [owner]
    binds: [deal.discount_pct]
"""

SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["id", "stage", "stage_entered_at", "owner", "segment"],
    "$defs": {"rating": {"type": "string", "enum": ["A", "B", "C", "D"]}},
    "properties": {
        "id": {"type": "string"},
        "stage": {"type": "string"},
        "stage_entered_at": {"type": "string", "format": "date-time"},
        "owner": {"type": "string"},
        "steps": {"type": ["array", "object"]},
        "approvals": {"type": "array"},
        "segment": {"enum": ["smb", "enterprise"]},
        "budget": {"type": "integer", "minimum": 10000, "maximum": 90000},
        "credit_rating": {"$ref": "#/$defs/rating"},
        "risk_score": {"type": "integer", "minimum": 0, "maximum": 100},
        "margin_pct": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 40},
        "discount_pct": {"type": "integer", "minimum": 0, "maximum": 30},
        "currency": {"const": "EUR"},
        "close_date": {"type": "string", "format": "date"},
        "review_date": {"type": "string", "format": "date"},
        "signed_on": {"type": "string", "format": "date-time"},
        "terms": {"type": "string", "enum": ["standard", "custom"]},
        "contact": {"type": "string", "minLength": 12},
        "po_number": {"type": "string", "pattern": "^PO-[0-9]{6}$", "examples": ["PO-004711"]},
        "tier": {"allOf": [{"type": "string"}, {"enum": ["gold", "silver"]}]},
        "lost_reason": {"type": "string", "enum": ["price", "competitor", "timing", "other"]},
        "region": {
            "type": "object",
            "required": ["code", "name"],
            "additionalProperties": False,
            "properties": {"code": {"type": "string", "pattern": "^[A-Z]{2}$"},
                           "name": {"type": "string", "minLength": 2}},
        },
        "customer": {"type": "object",
                     "properties": {"country": {"type": "string", "enum": ["DE", "FR"]}}},
    },
}


def _simulate(tmp_path: Path, schema: dict[str, Any], policy: str = POLICY
              ) -> tuple[SimSummary, list[dict[str, Any]], list[dict[str, Any]]]:
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "policy.yaml").write_text(policy, "utf-8")
    (repo / "deal.schema.json").write_text(json.dumps(schema), "utf-8")
    out = tmp_path / "sim"
    summary = simulate(load_policy(repo / "policy.yaml"), str(out),
                       SimOptions(deals=80, days=240, seed=4))
    deals = [orjson.loads(line) for line in (out / "deals.jsonl").read_bytes().splitlines()]
    events = [orjson.loads(line) for line in (out / "audit.jsonl").read_bytes().splitlines()]
    return summary, deals, events


def _schema_failures(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e.get("rule") == "deal"]


def test_simulated_deals_respect_enums_bounds_formats_and_nested_objects(tmp_path: Path) -> None:
    summary, deals, events = _simulate(tmp_path, SCHEMA)
    assert not _schema_failures(events), _schema_failures(events)[:1]
    assert summary.won > 0
    validator = Draft202012Validator(SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER)
    for deal in deals:
        assert validator.is_valid(deal), (deal["id"], next(validator.iter_errors(deal)).message)
    assert not [d for d in deals if str(d.get("lost_reason", "")).startswith("could not")]
    won = [d for d in deals if d["stage"] == "won"]
    assert all(d["credit_rating"] in ("A", "B", "C") and d["tier"] in ("gold", "silver")
               and d["po_number"] == "PO-004711" for d in won)
    assert {d["currency"] for d in deals} == {"EUR"}


def test_a_field_no_valid_value_is_found_for_is_left_out(tmp_path: Path) -> None:
    schema = json.loads(json.dumps(SCHEMA))
    # a look-ahead: neither the schema's examples nor the pattern generator give a value
    schema["properties"]["po_number"] = {"type": "string", "pattern": "^(?=PO/)[^a-z]{12}$"}
    summary, deals, events = _simulate(tmp_path, schema)
    assert not _schema_failures(events), _schema_failures(events)[:1]
    assert summary.won == 0          # no deal gets a purchase order number: none is won
    assert not [d for d in deals if "po_number" in d]
    reasons = {str(d.get("lost_reason")) for d in deals if d["stage"] == "lost"}
    assert reasons <= {"price", "competitor", "timing", "other"}


def test_keys_a_strict_schema_does_not_declare_are_not_written(tmp_path: Path) -> None:
    schema = json.loads(json.dumps(SCHEMA))
    schema["additionalProperties"] = False
    schema["properties"]["customer"]["additionalProperties"] = False
    summary, deals, events = _simulate(tmp_path, schema)
    assert not _schema_failures(events), _schema_failures(events)[:1]
    assert summary.won > 0
    declared = set(schema["properties"])
    assert all(set(d) <= declared for d in deals)
    assert all(set(d.get("customer", {})) <= {"country"} for d in deals)
