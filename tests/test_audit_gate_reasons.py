"""Why approvals did not count is in the audit log, not only in decide's output.

An auditor found the gate's ``rule.evaluated`` event carried only ``approvers``: an
approval voided by separation of duties, expiry or changed values left no trace in the log.
"""

from __future__ import annotations

from typing import Any

import pytest
from shipped import NOW, POLICY, REP, deal

from cycleflow import Engine, load_policy
from cycleflow.audit import capture_audit

APPROVAL = {"gate": "discount_desk", "by": "zoe", "role": "sales_director",
            "at": "2026-11-20T10:00:00Z", "values": {"discount_pct": 25, "amount": 100000}}


def gate_event(approvals: list[dict[str, Any]], *, check: bool = False) -> dict[str, Any]:
    with capture_audit() as captured:
        engine = Engine(load_policy(POLICY), audit=captured)
        record = deal(discount_pct=25, approvals=approvals)
        if check:
            engine.check({**record, "stage": "negotiation"}, now=NOW)
        else:
            engine.decide(record, "advance", REP, now=NOW)
    [event] = captured.of(rule="discount_desk")
    return event


@pytest.mark.parametrize(("change", "reason"), [
    ({"by": "ann"}, "separation of duties"),
    ({"at": "2026-09-01T10:00:00Z"}, "expired"),
    ({"values": {"discount_pct": 22, "amount": 100000}}, "void"),
])
def test_the_reasons_an_approval_did_not_count_are_logged(
        change: dict[str, Any], reason: str) -> None:
    event = gate_event([{**APPROVAL, **change}])
    assert event["outcome"] == "fail" and event["values"]["approvers"] == []
    assert any(reason in r for r in event["values"]["not_counted"]), event["values"]


def test_a_check_at_rest_logs_them_too() -> None:
    event = gate_event([{**APPROVAL, "by": "ann"}], check=True)
    assert any("separation of duties" in r for r in event["values"]["not_counted"])


def test_no_reasons_no_key() -> None:
    """A valid approval, or none at all (nothing was void), adds no ``not_counted``."""
    assert gate_event([APPROVAL])["values"] == {"approvers": ["zoe"]}
    assert gate_event([])["values"] == {"approvers": []}
