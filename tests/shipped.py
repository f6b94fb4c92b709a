"""The shipped policy, a frozen clock, a sales rep, and a qualified deal that passes every
rule: what the engine tests start from, in one place."""

from __future__ import annotations

from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
POLICY = ROOT / "policies" / "standard-sales-cycle.yaml"
NOW = "2026-11-26T12:00:00Z"
REP = {"id": "ann", "roles": ["sales_rep"]}


def deal(**over: Any) -> dict[str, Any]:
    """A qualified deal, compliant as of NOW, with ``over`` set on top."""
    base: dict[str, Any] = {
        "id": "D-1",
        "stage": "qualified",
        "stage_entered_at": "2026-11-10T09:00:00Z",
        "owner": "ann",
        "customer": {"name": "Acme GmbH", "industry": "manufacturing", "country": "DE",
                     "screening": "cleared"},
        "budget": 120000,
        "decision_maker": "Dr. Vogel",
        "amount": 100000,
        "currency": "EUR",
        "discount_pct": 5,
        "close_date": "2026-12-20",
        "steps": ["customer_development", "customer_visit", "product_introduction",
                  "needs_analysis"],
        "approvals": [],
    }
    base.update(over)
    return base
