"""The baseline: the shipped policy's `check`, written by hand as one plain Python function.

It does the same checks as ``Engine.check`` on policies/standard-sales-cycle.yaml
(entry criteria, earlier steps, standing risks, max_days, approval gates) and
returns the same verdict word and rule ids, with none of the engine's
generality. The benchmark compares against it; ``bench_check.py --verify``
asserts both agree on the generated deals.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any

ORDER = {"prospect": 0, "qualified": 1, "negotiation": 2, "won": 3, "closed": 4, "lost": 5}
STEPS = {
    "prospect": ("customer_development", "customer_visit"),
    "qualified": ("product_introduction", "needs_analysis"),
    "negotiation": ("solution_design", "quotation_negotiation", "contract_signing"),
    "won": ("order_execution", "after_sales_service"),
}
EARLIER = {
    "prospect": (),
    "qualified": STEPS["prospect"],
    "negotiation": STEPS["prospect"] + STEPS["qualified"],
    "won": STEPS["prospect"] + STEPS["qualified"] + STEPS["negotiation"],
    "closed": STEPS["prospect"] + STEPS["qualified"] + STEPS["negotiation"] + STEPS["won"],
    "lost": (),
}


def _t(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _gate_ok(deal: dict[str, Any], gate: str, roles: tuple[str, ...], count: int,
             separate: tuple[Any, ...], days: float, binds: tuple[str, ...],
             now: datetime, as_of: datetime) -> bool:
    who: set[str] = set()
    for a in deal.get("approvals") or ():
        if a.get("gate") != gate or a.get("role") not in roles or a.get("by") in separate:
            continue
        at = _t(a["at"])
        if at > now or (as_of - at).total_seconds() > days * 86400:
            continue
        values = a.get("values")
        if not isinstance(values, dict) or any(values.get(f) != deal.get(f) for f in binds):
            continue
        who.add(a["by"])
    return len(who) >= count


def check(deal: dict[str, Any], now: datetime) -> tuple[str, list[str]]:
    """``(verdict, violated rule ids)`` for one deal, as of ``now``."""
    stage = deal.get("stage")
    if stage not in ORDER:
        return "error", []
    bad: list[str] = []
    today: date = now.date()
    customer = deal.get("customer") or {}
    entered = deal.get("stage_entered_at")
    if stage == "prospect":
        if customer.get("name") is None:
            bad.append("customer_identified")
    elif stage == "qualified":
        if not deal.get("budget", 0) > 0:
            bad.append("budget_known")
        if deal.get("decision_maker") is None:
            bad.append("decision_maker_identified")
        if entered and (now - _t(entered)).total_seconds() > 30 * 86400:
            bad.append("max_days.qualified")
    elif stage == "negotiation":
        if not deal.get("amount", 0) > 0:
            bad.append("amount_positive")
        if deal.get("close_date") is None:
            bad.append("close_date_set")
    elif stage == "won":
        if deal.get("contract_signed") is not True:
            bad.append("contract_signed")
    elif stage == "lost":
        reason = deal.get("lost_reason")
        if reason is None or not len(reason) > 0:
            bad.append("lost_reason_recorded")
    raw_steps = deal.get("steps") or []
    done = set(raw_steps) if isinstance(raw_steps, list) else {
        k for k, v in raw_steps.items() if v not in (None, False)}
    bad.extend(s for s in EARLIER[stage] if s not in done)
    discount = deal.get("discount_pct")
    discount = 0 if discount is None else discount
    if stage in ("negotiation", "won"):
        if deal.get("decision_maker") is None and stage == "negotiation":
            bad.append("missing_decision_maker")
        if customer.get("screening") != "cleared":
            bad.append("unscreened_customer")
    gates_as_of = _t(entered) if entered else now
    if discount > 40:
        bad.append("extreme_discount")
    if stage in ("negotiation", "won") and discount > 20 and not _gate_ok(
            deal, "discount_desk", ("sales_director",), 1, (deal.get("owner"), None), 30,
            ("discount_pct", "amount"), now, gates_as_of):
        bad.append("discount_desk")
    if stage == "won" and deal.get("amount", 0) >= 500000 and not _gate_ok(
            deal, "deal_review", ("finance_director", "ceo"), 2, (deal.get("owner"),), 14,
            ("amount",), now, gates_as_of):
        bad.append("deal_review")
    # warnings (close_date_past, stalled_deal, low_margin, max_days.negotiation) are computed
    # by the engine too; they do not change the verdict, so the baseline evaluates them as well
    open_deal = stage in ("prospect", "qualified", "negotiation")
    _ = open_deal and deal.get("close_date") is not None and date.fromisoformat(
        deal["close_date"]) < today
    _ = open_deal and entered and (now - _t(entered)).days > 60
    _ = deal.get("margin_pct") is not None and deal["margin_pct"] < 15
    return ("violation" if bad else "compliant"), bad
