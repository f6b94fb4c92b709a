"""Audit events of one made-up decision, for the tests of sinks, rotation and log readers."""

from __future__ import annotations

from typing import Any


def decision(deal: str, n: int) -> list[dict[str, Any]]:
    """The three events of decision ``n`` about ``deal`` (about 900 bytes as stored)."""
    base = {"at": f"2026-03-{n % 28 + 1:02d}T09:00:00+00:00", "decision_id": f"{n:032x}",
            "deal": deal, "policy": "b2b-standard", "policy_version": "2026.11",
            "policy_sha256": "ab" * 32, "actor": "ann", "trigger": "advance",
            "from": "qualified", "to": "negotiation"}
    return [
        {**base, "event": "transition.requested", "outcome": "requested"},
        {**base, "event": "rule.evaluated", "rule": "deep_discount", "kind": "risk",
         "outcome": "fail", "severity": "high", "values": {"deal.discount_pct": 25},
         "message": "Discount above 20% needs director approval"},
        {**base, "event": "transition.blocked", "outcome": "blocked"},
    ]
