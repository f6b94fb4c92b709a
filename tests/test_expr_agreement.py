"""The compiled evaluator agrees with the simpleeval reference: shared corpus, property test."""

from __future__ import annotations

import copy
import math
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from cycleflow.errors import Location, MissingField, PolicyError, RuleError
from cycleflow.expr import EvalContext, Expression, compile_expression
from cycleflow.expr.codegen import generate_kernel

DATA = Path(__file__).parent / "data" / "expressions"
LOC = Location("policy.yaml", 1, 1)
NOW = datetime(2026, 1, 15, 12, 0, tzinfo=timezone.utc)


def outcome(expr: Expression, ctx: EvalContext, reference: bool) -> tuple[Any, ...]:
    """("value", repr) or ("missing", field) or ("rule",), for comparing the two paths."""
    run = expr.evaluate_reference if reference else expr.evaluate
    try:
        value = run(ctx)
    except MissingField as err:
        return ("missing", err.field)
    except RuleError:
        return ("rule",)
    if isinstance(value, float) and math.isnan(value):
        return ("value", "nan")
    return ("value", type(value).__name__, repr(value))


# -- the shared corpus --

_CORPUS = yaml.safe_load((DATA / "corpus.yaml").read_text(encoding="utf-8"))


def _corpus_context() -> EvalContext:
    c = _CORPUS["context"]
    now = datetime.fromisoformat(c["now"])
    return EvalContext(c["deal"], c["actor"], c["stage"], now, now.date())


def test_corpus_is_big_enough() -> None:
    assert len(_CORPUS["cases"]) >= 60


@pytest.mark.parametrize("case", _CORPUS["cases"], ids=lambda c: c["expr"])
@pytest.mark.parametrize("reference", [False, True], ids=["compiled", "reference"])
def test_corpus(case: dict[str, Any], reference: bool) -> None:
    ctx = _corpus_context()
    before = copy.deepcopy(ctx.deal), copy.deepcopy(ctx.actor)
    expr = compile_expression(case["expr"], LOC)
    run = expr.evaluate_reference if reference else expr.evaluate
    if "error" in case:
        with pytest.raises(RuleError) as info:
            run(ctx)
        if case["error"] == "missing":
            assert isinstance(info.value, MissingField)
            assert info.value.field == case["field"]
            assert str(info.value) == f"missing field {case['field']}"
        else:
            assert not isinstance(info.value, MissingField)
    elif "repr" in case:
        assert repr(run(ctx)) == case["repr"]
    else:
        value = run(ctx)
        expected = case["value"]
        assert value == expected
        assert type(value) is type(expected) or (
            isinstance(expected, date) and type(value) is date
        )
    assert (ctx.deal, ctx.actor) == before


# -- the property test --

_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-1000, 1000),
    st.sampled_from([0, 1, -1, 2**62, 10**30, -(2**63)]),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.sampled_from([0.0, -0.0, 0.5, 1e308, -1e-308]),
    st.text(alphabet="abcAB -%", max_size=4),
    st.sampled_from(["2026-01-01", "2025-12-31T10:00:00Z", "2026-02-30", "x" * 50]),
)
_VALUES = st.one_of(
    _SCALARS,
    st.lists(_SCALARS, max_size=4),
    st.fixed_dictionaries({}, optional={"x": _SCALARS, "y": st.lists(_SCALARS, max_size=3)}),
)
_FIELDS = ("a", "b", "s", "items", "count", "tags", "nested")
_DEALS = st.fixed_dictionaries({}, optional={name: _VALUES for name in _FIELDS})
_ACTORS = st.fixed_dictionaries(
    {"id": st.sampled_from(["u1", "u2"]),
     "roles": st.lists(st.sampled_from(["sales_rep", "sales_director"]), max_size=2)},
    optional={"region": _SCALARS},
)
_STAGES = st.sampled_from(["prospect", "negotiation", ""])

_READS = st.sampled_from([
    "deal.a", "deal.b", "deal.s", "deal.items", "deal.count", "deal.tags", "deal.nested",
    "deal.nested.x", "deal.nested.y", "deal['a']", "deal['count']", "deal.tags[0]",
    "deal.tags[-1]", "deal.nested.y[1]", "actor.id", "actor.roles", "actor.region",
])
_OTHER_LEAVES = st.one_of(
    st.sampled_from(["stage", "now", "today", "now.year", "today.day", "now.hour"]),
    st.integers(-5, 5).map(str),
    st.sampled_from(["0", "2", "1000", "2.5", "0.0", "1e300", "True", "False", "None",
                     "''", "'a'", "'ab'", "[]", "[1, 2]", "('a',)", "'2026-01-01'"]),
)
_LEAVES = st.one_of(_READS, _READS, _OTHER_LEAVES)

_BINOPS = st.sampled_from(["+", "-", "*", "/", "//", "%", "**"])
_CMPOPS = st.sampled_from(["==", "!=", "<", "<=", ">", ">=", "in", "not in"])
_UNARY_FUNCS = st.sampled_from(["len", "abs", "lower", "upper", "round", "date", "datetime",
                                "days", "hours", "days_since", "days_until", "min", "max"])
_BINARY_FUNCS = st.sampled_from(["min", "max", "startswith", "endswith", "contains", "any_in",
                                 "all_in", "days_between", "round"])


def _extend(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.tuples(children, _BINOPS, children).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        st.tuples(children, _CMPOPS, children).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        st.tuples(children, _CMPOPS, children, _CMPOPS, children).map(
            lambda t: f"({t[0]} {t[1]} {t[2]} {t[3]} {t[4]})"),
        st.tuples(children, st.sampled_from(["and", "or"]), children).map(
            lambda t: f"({t[0]} {t[1]} {t[2]})"),
        st.tuples(st.sampled_from(["not ", "-", "+"]), children).map(lambda t: f"({t[0]}{t[1]})"),
        st.tuples(children, children, children).map(lambda t: f"({t[0]} if {t[1]} else {t[2]})"),
        st.tuples(_UNARY_FUNCS, children).map(lambda t: f"{t[0]}({t[1]})"),
        st.tuples(_BINARY_FUNCS, children, children).map(lambda t: f"{t[0]}({t[1]}, {t[2]})"),
        _READS.map(lambda r: f"has({r})"),
        st.tuples(_READS, children).map(lambda t: f"default({t[0]}, {t[1]})"),
        st.tuples(children, children).map(lambda t: f"[{t[0]}, {t[1]}]"),
        st.tuples(children, children).map(lambda t: f"{{{t[0]}, {t[1]}}}"),
        st.tuples(children, children).map(lambda t: f"({t[0]}, {t[1]})"),
    )


EXPRESSIONS = st.recursive(_LEAVES, _extend, max_leaves=12)


@settings(max_examples=1500, deadline=None,
          suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(source=EXPRESSIONS, deal=_DEALS, actor=_ACTORS, stage=_STAGES)
def test_compiled_agrees_with_reference(source: str, deal: dict[str, Any],
                                        actor: dict[str, Any], stage: str) -> None:
    try:
        expr = compile_expression(source, LOC)
    except PolicyError:
        assume(False)
        return
    before = copy.deepcopy(deal), copy.deepcopy(actor)
    ctx = EvalContext(deal, actor, stage, NOW, NOW.date())
    compiled = outcome(expr, ctx, reference=False)
    reference = outcome(expr, ctx, reference=True)
    assert compiled == reference, expr.python_source
    assert (deal, actor) == before


@settings(max_examples=300, deadline=None)
@given(path=_READS, deal=_DEALS, actor=_ACTORS)
def test_missing_fields_agree_and_are_named(path: str, deal: dict[str, Any],
                                            actor: dict[str, Any]) -> None:
    expr = compile_expression(f"{path} == 1 or True", LOC)
    ctx = EvalContext(deal, actor, "x", NOW, NOW.date())
    compiled = outcome(expr, ctx, reference=False)
    assert compiled == outcome(expr, ctx, reference=True)
    if compiled[0] == "missing":
        assert compiled[1].startswith(path.split(".")[0].split("[")[0] + ".")


@settings(max_examples=400, deadline=None,
          suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(sources=st.lists(EXPRESSIONS, min_size=1, max_size=4),
       polarity=st.lists(st.booleans(), min_size=4, max_size=4),
       deal=_DEALS, actor=_ACTORS, stage=_STAGES)
def test_a_kernel_of_many_rules_agrees_with_each_rule_alone(
        sources: list[str], polarity: list[bool], deal: dict[str, Any], actor: dict[str, Any],
        stage: str) -> None:
    """The batch kernel (all rules of a stage in one function, reads shared) fires exactly the
    rules the one-rule functions fire, in order, with the same errors."""
    exprs = []
    for source in sources:
        try:
            exprs.append(compile_expression(source, LOC))
        except PolicyError:
            continue
    assume(exprs)
    pairs = zip(exprs, polarity, strict=False)
    kernel, _ = generate_kernel([(e.analysis, p) for e, p in pairs if e.analysis])
    expected: list[Any] = []
    ctx = EvalContext(deal, actor, stage, NOW, NOW.date())
    for i, (e, fires_when_true) in enumerate(zip(exprs, polarity, strict=False)):
        try:
            value = e.evaluate(ctx)
        except RuleError as err:
            expected.append((i, type(err).__name__, err.reason))
            continue
        if bool(value) == fires_when_true:
            expected.append(i)
    got = [x if type(x) is int else (x[0], type(x[1]).__name__, x[1].reason)
           for x in kernel(deal, actor, stage, NOW, NOW.date())]
    assert got == expected
