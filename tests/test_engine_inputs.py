"""What an ORM holds is a deal too: a Decimal amount, a date close date, a datetime entry
time and an Enum value pass the deal-schema check as their JSON forms, and the rules read
them as given; what no JSON number or text can be (a NaN, out of range) is still refused."""

from __future__ import annotations

import datetime as dt
import enum
import json
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import pytest
from shipped import NOW, POLICY, REP, deal

from cycleflow import Engine, load_policy


class Currency(enum.Enum):
    EUR = "EUR"


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(load_policy(POLICY))


ORM_VALUES = [
    ("amount", Decimal("100000")),
    ("amount", Decimal("100000.50")),
    ("discount_pct", Decimal("5.5")),
    ("close_date", dt.date(2026, 12, 20)),
    ("stage_entered_at", dt.datetime(2026, 11, 10, 9, tzinfo=dt.timezone.utc)),
    ("stage_entered_at", dt.datetime(2026, 11, 10, 9)),  # naive: UTC
    ("stage_entered_at", dt.datetime(2026, 11, 10, 17, tzinfo=dt.timezone(dt.timedelta(hours=8)))),
    ("currency", Currency.EUR),
]


@pytest.mark.parametrize(("field", "value"), ORM_VALUES)
def test_python_values_are_judged_like_their_json_forms(engine: Engine, field: str,
                                                         value: Any) -> None:
    d = engine.decide(deal(**{field: value}), "advance", REP, now=NOW)
    assert d.outcome == "allowed", d.to_dict()
    v = engine.check(deal(**{field: value}), now=NOW)
    assert v.verdict == "compliant", v.to_dict()
    assert engine.check_record(deal(**{field: value}), NOW)["verdict"] == "compliant"


def test_the_rules_read_the_python_values_as_given(engine: Engine) -> None:
    zero = engine.decide(deal(amount=Decimal("0")), "advance", REP, now=NOW)
    assert zero.outcome == "blocked"
    assert [v.rule for v in zero.violations] == ["amount_positive"]
    late = engine.check(deal(close_date=dt.date(2026, 11, 1)), now=NOW)
    assert [w.rule for w in late.warnings] == ["close_date_past"]
    assert engine.check(deal(close_date=dt.date(2026, 12, 1)), now=NOW).warnings == ()
    deep = engine.decide(deal(discount_pct=Decimal("25")), "advance", REP, now=NOW)
    assert deep.outcome == "needs_approval"
    stale = engine.check(deal(stage_entered_at=dt.datetime(2026, 9, 1, 9)), now=NOW)
    assert "max_days.qualified" in {v.rule for v in stale.violations + stale.warnings}


@pytest.mark.parametrize(("field", "value", "says"), [
    ("amount", Decimal("NaN"), "is not of type 'number'"),
    ("amount", Decimal("Infinity"), "is not of type 'number'"),
    ("amount", Decimal("1e400"), "is not of type 'number'"),
    ("amount", Decimal("9.99e308"), "is not of type 'number'"),  # past a float, within e308
    ("amount", Decimal("-5"), "less than the minimum of 0"),
    ("discount_pct", Decimal("100.5"), "greater than the maximum of 100"),
    ("close_date", dt.datetime(2026, 12, 20, 9), "close_date"),
])
def test_what_json_cannot_hold_is_still_refused(engine: Engine, field: str, value: Any,
                                                says: str) -> None:
    d = engine.decide(deal(**{field: value}), "advance", REP, now=NOW)
    assert d.outcome == "blocked" and d.violations[0].rule == "deal"
    assert says in d.violations[0].message and f"deal.{field}" in d.violations[0].message
    v = engine.check(deal(**{field: value}), now=NOW)
    assert v.verdict == "error" and says in (v.error or "")


class JsonWriter:
    """An app's own sink, writing each event with the standard json module."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def emit(self, events: Sequence[Mapping[str, Any]]) -> None:
        self.lines.extend(json.dumps(e, allow_nan=False) for e in events)

    def close(self) -> None:
        """Nothing to close."""


def test_events_carry_python_values_as_json_has_them() -> None:
    """A custom sink got the raw Decimal and failed the decision with a TypeError (QA)."""
    sink = JsonWriter()
    engine = Engine(load_policy(POLICY), audit=sink)
    naive = dt.datetime(2026, 11, 10, 9)
    engine.decide(deal(discount_pct=Decimal("25"), stage_entered_at=naive), "advance", REP,
                  now=NOW)
    engine.check(deal(discount_pct=Decimal("25"), stage_entered_at=naive), now=NOW)
    values = [json.loads(line)["values"] for line in sink.lines]
    assert {"deal.discount_pct": "25"} in values  # as to_dict writes it: exact, as text
    # a naive datetime is UTC to the engine, and says so
    read = [v["deal.stage_entered_at"] for v in values if "deal.stage_entered_at" in v]
    assert read and set(read) == {"2026-11-10T09:00:00Z"}
