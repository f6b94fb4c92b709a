"""A bound object's record carries every field the policy reads, not only ``vars(obj)``:
a property, a class value or an ORM's deferred column read as missing let a risk pass."""

from __future__ import annotations

from typing import Any

import pytest
from shipped import NOW, POLICY, REP, deal

from cycleflow import Engine, TransitionBlocked, UsageError, load_policy
from cycleflow.decide.binding import _default_record


class Opportunity:
    """An app's deal whose discount is computed, as a CRM model computes it."""

    list_price = 250000
    region = "EMEA"  # a class value the policy never reads

    def __init__(self, **fields: Any) -> None:
        self.__dict__.update(fields)

    @property
    def discount_pct(self) -> float:
        """28.0 for an amount of 180,000."""
        return round(100 * (1 - self.amount / self.list_price), 1)

    def summary(self) -> str:
        """A method: never part of the record."""
        return f"{self.amount}"


def negotiation(**over: Any) -> dict[str, Any]:
    """A negotiation-stage deal that may be won, without its discount."""
    fields = deal(stage="negotiation", amount=180000, contract_signed=True,
                  signed_at="2026-11-25",
                  steps=[*deal()["steps"], "solution_design", "quotation_negotiation",
                         "contract_signing"], **over)
    del fields["discount_pct"]
    return fields


def test_a_property_the_policy_reads_is_judged_so_a_deep_discount_needs_approval() -> None:
    engine = Engine(load_policy(POLICY))
    opp = Opportunity(**negotiation())
    plain = engine.decide({**negotiation(), "discount_pct": opp.discount_pct}, "win", REP, now=NOW)
    assert plain.outcome == "needs_approval", plain.to_dict()
    engine.bind(opp)
    with pytest.raises(TransitionBlocked) as refused:
        opp.win(actor=REP, now=NOW)  # type: ignore[attr-defined]
    assert refused.value.decision.outcome == "needs_approval"
    assert [a.gate for a in refused.value.decision.approvals_needed] == ["discount_desk"]
    assert opp.stage == "negotiation"
    assert opp.may_win(actor=REP, now=NOW) is False  # type: ignore[attr-defined]


def test_a_class_value_the_policy_reads_is_in_the_record() -> None:
    class Priced(Opportunity):
        discount_pct = 30  # type: ignore[assignment]  # a class-level default

    engine = Engine(load_policy(POLICY))
    opp = engine.bind(Priced(**negotiation()))
    with pytest.raises(TransitionBlocked, match="discount_desk"):
        opp.win(actor=REP, now=NOW)


def test_the_record_holds_what_the_policy_reads_and_nothing_else() -> None:
    engine = Engine(load_policy(POLICY))
    opp = Opportunity(**negotiation())
    opp._secret = "x"  # type: ignore[attr-defined]
    record = _default_record(opp, engine._record_fields)
    assert record["discount_pct"] == 28.0
    assert "region" not in record and "list_price" not in record  # the policy reads neither
    assert "summary" not in record and "_secret" not in record
    assert "lost_reason" not in record  # absent stays absent (a require: field)
    assert {"discount_pct", "amount", "lost_reason", "approvals", "owner"} <= set(
        engine._record_fields)
    assert not any(name.startswith("_") for name in engine._record_fields)


def test_a_property_that_fails_is_a_usage_error_not_a_missing_field() -> None:
    class Broken(Opportunity):
        @property
        def discount_pct(self) -> float:
            raise ZeroDivisionError("list price is 0")

    engine = Engine(load_policy(POLICY))
    opp = engine.bind(Broken(**negotiation()))
    with pytest.raises(UsageError, match="cannot read Broken.discount_pct"):
        opp.win(actor=REP, now=NOW)
    assert opp.stage == "negotiation"


class Broken(Opportunity):
    """A discount whose getter fails with AttributeError (a missing price list)."""

    @property
    def discount_pct(self) -> float:
        return round(100 * (1 - self.amount / self.price_list.total), 1)  # type: ignore[attr-defined]


def test_a_property_failing_with_attribute_error_is_not_read_as_missing() -> None:
    """getattr(obj, name, default) swallowed the getter's AttributeError: the discount
    read as absent, default(deal.discount_pct, 0) gave 0 and the win needed no approval."""
    with pytest.raises(UsageError, match=r"cannot read Broken\.discount_pct.*price_list"):
        _default_record(Broken(**negotiation()), ("discount_pct",))


class Slotted:
    """A slotted model: a slot never set is a missing field, not a broken one."""

    __slots__ = ("__dict__", "discount_pct")


class Proxy:
    """An object answering attributes through __getattr__ (a wrapper around a record)."""

    def __init__(self, fields: dict[str, Any]) -> None:
        self._fields = fields

    def __getattr__(self, name: str) -> Any:
        try:
            return self._fields[name]
        except KeyError:
            raise AttributeError(name) from None


def test_an_unset_slot_and_an_unknown_proxied_name_are_missing() -> None:
    slotted = Slotted()
    assert "discount_pct" not in _default_record(slotted, ("discount_pct",))
    slotted.discount_pct = 28
    assert _default_record(slotted, ("discount_pct",))["discount_pct"] == 28
    proxy = Proxy({"discount_pct": 28})
    assert _default_record(proxy, ("discount_pct", "budget")) == {"discount_pct": 28}
