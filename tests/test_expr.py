"""Rule expressions: allowed constructs, located refusals, run-time bounds, hostile input."""

from __future__ import annotations

import copy
import pickle
import re
import threading
import time
import types
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

import cycleflow.expr
from cycleflow.errors import Location, MissingField, PolicyError, RuleError
from cycleflow.expr import (
    FUNCTIONS,
    NAMES,
    EvalContext,
    check_expression,
    codegen,
    compile_expression,
    expression,
    functions,
    reference,
    runtime,
    sandbox,
    typecheck,
)

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data" / "expressions"
LOC = Location("policy.yaml", 10, 7)
NOW = datetime(2026, 1, 15, 12, 0, tzinfo=timezone.utc)


def make_deal() -> dict[str, Any]:
    return {
        "id": "D-1",
        "amount": 150000,
        "discount_pct": 25,
        "zero": 0,
        "name": "Acme",
        "tags": ["a", "b"],
        "customer": {"name": "Acme GmbH", "tier": "gold"},
        "odd-key": 1,
        "items": "field named items",
        "big": 2**9000,
        "long": "x" * 600_000,
        "huge_n": 10**6,
        "f": 1e300,
        "started": "2025-12-01T09:00:00Z",
    }


ACTOR = {"id": "u1", "roles": ["sales_rep"]}


def ctx_for(deal: dict[str, Any], actor: dict[str, Any] | None = None) -> EvalContext:
    return EvalContext(deal, actor if actor is not None else copy.deepcopy(ACTOR),
                       "negotiation", NOW, NOW.date())


def both(source: str, deal: dict[str, Any] | None = None) -> Any:
    """Evaluate on both paths, check they agree and the records are unchanged; return the value."""
    deal = make_deal() if deal is None else deal
    ctx = ctx_for(deal)
    before = copy.deepcopy((ctx.deal, ctx.actor))
    expr = compile_expression(source, LOC)
    fast = expr.evaluate(ctx)
    slow = expr.evaluate_reference(ctx)
    assert repr(fast) == repr(slow)
    assert (ctx.deal, ctx.actor) == before
    return fast


def both_fail(source: str, deal: dict[str, Any] | None = None) -> RuleError:
    """Both paths raise RuleError (of the same kind) quickly and leave the records unchanged."""
    deal = make_deal() if deal is None else deal
    ctx = ctx_for(deal)
    before = copy.deepcopy((ctx.deal, ctx.actor))
    expr = compile_expression(source, LOC)
    errors = []
    for run in (expr.evaluate, expr.evaluate_reference):
        started = time.perf_counter()
        with pytest.raises(RuleError) as info:
            run(ctx)
        assert time.perf_counter() - started < 1.0
        errors.append(info.value)
    assert type(errors[0]) is type(errors[1])
    assert (ctx.deal, ctx.actor) == before
    return errors[0]


def refused(source: str, **kwargs: Any) -> PolicyError:
    with pytest.raises(PolicyError) as info:
        compile_expression(source, LOC, **kwargs)
    for problem in info.value.problems:
        assert problem.location.file == "policy.yaml"
        assert problem.location.line == 10
        assert problem.location.column >= 7
        assert problem.message
    return info.value


# -- allowed constructs --

@pytest.mark.parametrize(("source", "expected"), [
    ("deal.amount > 100000 and deal.discount_pct <= 25", True),
    ("deal.amount < 0 or deal.name", "Acme"),
    ("not deal.zero", True),
    ("-deal.amount", -150000),
    ("+deal.discount_pct", 25),
    ("deal.amount + 1 - 2 * 3", 149995),
    ("deal.amount / 4", 37500.0),
    ("deal.amount // 7", 21428),
    ("deal.amount % 7", 4),
    ("deal.discount_pct ** 2", 625),
    ("deal.name + '!'", "Acme!"),
    ("deal.name * 2", "AcmeAcme"),
    ("deal.tags + ['c']", ["a", "b", "c"]),
    ("10 < deal.discount_pct <= 25 != 3", True),
    ("'a' in deal.tags", True),
    ("'z' not in deal.tags", True),
    ("'cme' in deal.name", True),
    ("deal.amount if deal.zero else deal.name", "Acme"),
    ("[deal.zero, 1]", [0, 1]),
    ("(deal.zero, 1)", (0, 1)),
    ("{deal.zero, 0}", {0}),
    ("deal.customer.name", "Acme GmbH"),
    ("deal['odd-key']", 1),
    ("deal['customer']['tier']", "gold"),
    ("deal.items", "field named items"),
    ("deal.tags[1]", "b"),
    ("deal.tags[-2]", "a"),
    ("actor.roles[0]", "sales_rep"),
    ("stage", "negotiation"),
    ("now.year * 100 + now.month", 202601),
    ("today.day", 15),
    ("today", date(2026, 1, 15)),
    ("now", NOW),
    ("date('2026-01-01').year + deal.zero", 2026),
    ("deal.zero == None", False),
    ("True and deal.zero", 0),
    ("1.5 * deal.discount_pct", 37.5),
])
def test_allowed_constructs(source: str, expected: Any) -> None:
    value = both(source)
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize(("source", "expected"), [
    ("len(deal.tags)", 2),
    ("abs(deal.zero - 3)", 3),
    ("min(deal.tags)", "a"),
    ("max(deal.zero, 5, 2)", 5),
    ("round(deal.amount / 7, 1)", 21428.6),
    ("round(2.5 + deal.zero)", 2),
    ("lower(deal.name)", "acme"),
    ("upper(deal.name)", "ACME"),
    ("startswith(deal.name, 'Ac')", True),
    ("startswith(deal.name, ['x', 'A'])", True),
    ("endswith(deal.name, 'me')", True),
    ("contains(deal.tags, 'a')", True),
    ("contains(deal.name, 'z')", False),
    ("contains(deal.customer, 'tier')", True),
    ("any_in(deal.tags, ['b', 'q'])", True),
    ("all_in(deal.tags, ['b', 'q'])", False),
    ("date(deal.started)", date(2025, 12, 1)),
    ("date(now)", date(2026, 1, 15)),
    ("datetime(deal.started)", datetime(2025, 12, 1, 9, tzinfo=timezone.utc)),
    ("datetime('2026-01-01T00:00:00') + days(deal.zero) == datetime('2026-01-01T00:00:00Z')", True),
    ("days(deal.discount_pct)", timedelta(days=25)),
    ("hours(deal.zero + 2)", timedelta(hours=2)),
    ("days_since(deal.started)", 45),
    ("days_since(today) + deal.zero", 0),
    ("days_until('2026-01-20') + deal.zero", 5),
    ("days_until(deal.started)", -45),
    ("days_between(deal.started, '2026-01-01T09:00:00Z')", 31),
    ("has(deal.customer.name)", True),
    ("has(deal.nothing)", False),
    ("has(actor.roles)", True),
    ("default(deal.nothing, 7)", 7),
    ("default(deal.zero, 7)", 0),
])
def test_function_library(source: str, expected: Any) -> None:
    value = both(source)
    assert value == expected
    assert type(value) is type(expected)


def test_clock_is_the_contexts_not_the_real_one() -> None:
    expr = compile_expression("days_since('2000-01-01')", LOC)
    early = datetime(2000, 1, 11, tzinfo=timezone.utc)
    ctx = EvalContext({}, {}, "s", early, early.date())
    assert expr.evaluate(ctx) == expr.evaluate_reference(ctx) == 10
    for module in (runtime, functions, codegen, reference, expression, sandbox):
        text = Path(module.__file__ or "").read_text(encoding="utf-8")
        assert not re.search(r"\.(now|today|utcnow)\(|time\.time\(", text), module.__name__


def test_fields_functions_and_read_values() -> None:
    expr = compile_expression(
        "deal.amount > 0 and has(deal.customer.name) and deal['odd-key'] == 1 and "
        "deal.tags[0] == 'a' and contains(actor.roles, 'x') == False and default(deal.gone, 1)",
        LOC,
    )
    assert expr.fields == {"amount", "customer.name", "odd-key", "tags", "gone"}
    assert expr.actor_fields == {"roles"}
    assert expr.functions == {"has", "contains", "default"}
    values = expr.read_values(ctx_for(make_deal()))
    assert values == {
        "deal.amount": 150000, "deal.customer.name": "Acme GmbH", "deal.odd-key": 1,
        "deal.tags": ["a", "b"], "deal.gone": "<missing>", "actor.roles": ["sales_rep"],
    }


def test_a_field_named_like_a_dict_method_reads_the_key() -> None:
    deal = {"count": 3, "items": [1], "keys": "k", "get": None, "update": "u", "copy": 2}
    for name in deal:
        assert both(f"deal.{name}", deal) == deal[name]
    assert isinstance(both_fail("deal.pop", deal), MissingField)


# -- missing fields and run-time errors ----------------------------------------------------------

@pytest.mark.parametrize(("source", "field"), [
    ("deal.budget > 0", "deal.budget"),
    ("deal.customer.region == 'EU'", "deal.customer.region"),
    ("deal['odd key'] == 1", "deal.odd key"),
    ("actor.region", "actor.region"),
    ("len(deal.lines) > 0", "deal.lines"),
    ("deal.amount > 0 and deal.budget > 0", "deal.budget"),
])
def test_missing_field_is_named(source: str, field: str) -> None:
    error = both_fail(source)
    assert isinstance(error, MissingField)
    assert error.field == field
    assert str(error) == f"missing field {field}"


def test_missing_field_message_is_exact() -> None:
    error = both_fail("deal.budget > 0")
    assert str(error) == "missing field deal.budget"


@pytest.mark.parametrize("source", [
    "deal.amount > 'x'",
    "deal.amount / deal.zero",
    "deal.amount // deal.zero",
    "deal.amount % deal.zero",
    "deal.name % 1",
    "deal.tags[10]",
    "deal.name.first",
    "deal.big * deal.big",
    "deal.big * 2 ** 1000",
    "deal.big ** 2",
    "2 ** deal.huge_n",
    "deal.huge_n ** deal.huge_n",
    "deal.f * deal.f",
    "deal.f ** 2",
    "deal.long + deal.long",
    "deal.long * 2",
    "deal.name * deal.huge_n",
    "deal.tags * deal.huge_n",
    "deal.huge_n * deal.tags",
    "[deal.tags] * deal.huge_n * 2",
    "round(deal.amount, deal.huge_n)",
    "days(deal.big)",
    "days(deal.f)",
    "date(deal.name)",
    "datetime(deal.long)",
    "date(deal.started + 'x') < today if deal.zero == 0 else 1",
    "min(deal.tags, 1)",
    "len(deal.amount)",
    "lower(deal.amount)",
    "any_in(deal.long, deal.tags)",
    "{deal.tags, 1}",
    "-deal.name",
    "today < now",
    "(-8 + deal.zero) ** 0.5",
])
def test_runtime_errors_are_clean_rule_errors(source: str) -> None:
    error = both_fail(source)
    assert not isinstance(error, MissingField)


# -- refusals at load, located --

@pytest.mark.parametrize(("source", "code", "offset"), [
    ("deal.__class__", "expr-private-attribute", 5),
    ("deal.amount.__class__.__base__", "expr-private-attribute", 12),
    ("deal.func_globals", "expr-private-attribute", 5),
    ("__import__('os')", "expr-private-name", 0),
    ("__builtins__", "expr-private-name", 0),
    ("getattr(deal, 'x')", "expr-unknown-function", 0),
    ("type(deal)", "expr-unknown-function", 0),
    ("lenn(deal.tags)", "expr-unknown-function", 0),
    ("deal.tags.append(1)", "expr-method-call", 10),
    ("'x'.zfill(5)", "expr-method-call", 4),
    ("now.today()", "expr-method-call", 4),
    ("deal.update(stage='won')", "expr-method-call", 5),
    ("(lambda: 1)()", "expr-bad-call", 0),
    ("lambda: deal", "expr-forbidden-node", 0),
    ("[t for t in deal.tags]", "expr-forbidden-node", 0),
    ("any(t for t in deal.tags)", "expr-unknown-function", 0),
    ("(x := deal.amount)", "expr-forbidden-node", 1),
    ("f'{deal.amount}'", "expr-forbidden-node", 0),
    ("'%s' % deal.name", "expr-string-format", 0),
    ("deal.stage is 'won'", "expr-forbidden-operator", 0),
    ("deal.stage is not None", "expr-forbidden-operator", 0),
    ("deal.amount << 2", "expr-forbidden-operator", 0),
    ("~deal.amount", "expr-forbidden-operator", 0),
    ("deal.a | deal.b", "expr-forbidden-operator", 0),
    ("dеal.amount > 0", "expr-unknown-name", 0),
    ("amount > 0", "expr-unknown-name", 0),
    ("true", "expr-unknown-name", 0),
    ("len", "expr-function-value", 0),
    ("deal()", "expr-bad-call", 0),
    ("deal.amount > 0; deal.clear()", "expr-syntax", 15),
    ("from os import system", "expr-syntax", 0),
    ("import os", "expr-syntax", 0),
    ("deal.amount = 1", "expr-syntax", 12),
    ("deal.amount >", "expr-syntax", 13),
    ("deal.tags[deal.i]", "expr-dynamic-subscript", 10),
    ("deal.tags[1 + 1]", "expr-dynamic-subscript", 10),
    ("deal.tags[10**100]", "expr-dynamic-subscript", 10),
    ("deal.tags[1:2]", "expr-forbidden-node", 10),
    ("stage[0]", "expr-forbidden-subscript", 0),
    ("{**deal}", "expr-forbidden-node", 0),
    ("{'a': deal.x}", "expr-forbidden-node", 0),
    ("[*deal.tags]", "expr-forbidden-node", 1),
    ("len(*deal.tags)", "expr-forbidden-node", 4),
    ("len(x=deal.tags)", "expr-bad-arguments", 6),
    ("len(deal.tags, 1)", "expr-bad-arguments", 0),
    ("has(1)", "expr-bad-arguments", 4),
    ("default(deal.x)", "expr-bad-arguments", 0),
    ("now.tzinfo", "expr-forbidden-attribute", 4),
    ("today.hour", "expr-forbidden-attribute", 6),
    ("stage.upper", "expr-forbidden-attribute", 6),
    ("deal.name.upper()", "expr-method-call", 10),
    ("b'x' == deal.x", "expr-bad-constant", 0),
    ("deal.x == 1j", "expr-bad-constant", 10),
    ("deal.x == ...", "expr-bad-constant", 10),
    ("deal.x == 1e999", "expr-bad-constant", 10),
    ("deal.x == '" + "y" * 5_000 + "' * 3", "expr-constant-too-large", 10),
    ("deal.x in [" + "1," * 1_001 + "]", "expr-constant-too-large", 10),
    ("deal.x == 10**10**10", "expr-constant-error", 10),
    ("deal.x == 4000000**4000000", "expr-constant-error", 10),
    ("deal.x == 1 / 0", "expr-constant-error", 10),
    ("deal.x == 'a' * 100000", "expr-constant-too-large", 10),
    ("deal.x in [0] * 5000", "expr-constant-too-large", 10),
    ("1 + 1", "expr-constant", 0),
    ("-9223372036854775808 // -1", "expr-constant", 0),
    ("(yield deal)", "expr-forbidden-node", 1),
    ("await deal", "expr-forbidden-node", 0),
    ("not " * 60 + "deal.x", "expr-too-deep", 200),
    ("-" * 60 + "deal.x", "expr-too-deep", 50),
    ("[" * 60 + "deal.x" + "]" * 60, "expr-too-deep", 50),
    ("(" * 60 + "deal.x" + ")" * 60, "expr-too-deep", 50),
    ("abs(" * 60 + "deal.x" + ")" * 60, "expr-too-deep", 203),
    ("deal.x + " * 60 + "1", "expr-too-deep", 0),
    ("deal.x or " * 3_000 + "1", "expr-too-long", 0),
    ("", "expr-syntax", 0),
    ("   ", "expr-syntax", 0),
    ("deal.x\0", "expr-syntax", 0),
])
def test_refusals_are_located(source: str, code: str, offset: int) -> None:
    error = refused(source)
    codes = [p.code for p in error.problems]
    assert code in codes, error
    problem = error.problems[codes.index(code)]
    assert problem.location.column == LOC.column + offset, problem.render()
    assert problem.severity == "error"


def test_suggestions() -> None:
    def suggestion(source: str, **kw: Any) -> str:
        return str(refused(source, **kw).problem.suggestion)

    assert "'deal'" in suggestion("dеal.amount > 0")
    assert "U+0435" in refused("dеal.amount > 0").problem.message
    assert "'len'" in suggestion("lenn(deal.tags)")
    assert "==" in suggestion("deal.stage is 'won'")
    assert "'True'" in suggestion("true")
    known = {"amount": frozenset({"number"})}
    assert "deal.amount" in suggestion("amount > 0", known_fields=known)
    # as it is written in a rule: 'deal.amount', not the bare 'amount' (QA review)
    assert suggestion("deal.amout > 0", known_fields=known) == "did you mean 'deal.amount'?"
    assert 'deal["__class__"]' in suggestion("deal.__class__")
    assert "lower(x" in suggestion("deal.name.lower()")
    assert "default(" in suggestion("deal.get('x')")


def test_every_problem_is_reported_in_order() -> None:
    error = refused("dеal.x + lenn(1) + deal.__y + deal.tags.pop()")
    assert [p.code for p in error.problems] == [
        "expr-unknown-name", "expr-unknown-function", "expr-private-attribute", "expr-method-call",
    ]
    assert [p.location.column for p in error.problems] == [7, 16, 31, 47]


def test_columns_count_characters_and_lines_use_locate() -> None:
    error = refused("'é' + dеal.x")
    assert error.problem.location.column == LOC.column + 6

    def locate(offset: int) -> Location:
        return Location("p.yaml", 20 + offset // 100, 1 + offset % 100)

    with pytest.raises(PolicyError) as info:
        compile_expression("(deal.a > 1 and\n deal.__b)", LOC, locate=locate)
    assert info.value.problem.location == Location("p.yaml", 20, 1 + 16 + 6)
    with pytest.raises(PolicyError) as info:
        compile_expression("  deal.x +", LOC, locate=locate)
    assert info.value.problem.code == "expr-syntax"


def test_unknown_fields_with_a_schema() -> None:
    known = {
        "amount": frozenset({"number"}),
        "customer": frozenset({"object"}),
        "customer.name": frozenset({"string"}),
        "meta": frozenset({"object"}),
    }
    assert compile_expression("deal.amount > 0 and deal.customer.name", LOC, known_fields=known)
    assert compile_expression("deal.meta.anything and deal.stage", LOC, known_fields=known)
    error = refused("deal.customer.nmae == 'x' and deal.amout > 0", known_fields=known)
    assert [p.code for p in error.problems] == ["expr-unknown-field", "expr-unknown-field"]
    assert "'deal.customer.name'" in str(error.problems[0].suggestion)


def test_type_warnings() -> None:
    known = {
        "amount": frozenset({"number"}),
        "name": frozenset({"string"}),
        "close_date": frozenset({"string"}),
        "tags": frozenset({"array"}),
        "note": frozenset({"string", "null"}),
    }

    def warnings(source: str) -> list[str]:
        problems = check_expression(source, LOC, known_fields=known)
        assert all(p.severity == "warning" for p in problems)
        compile_expression(source, LOC, known_fields=known)  # warnings never refuse
        return [p.code for p in problems]

    assert warnings("deal.name == 5") == ["expr-type-mismatch"]
    assert warnings("deal.name - 1 > 0") == ["expr-type-mismatch"]
    assert warnings("'x' in deal.amount") == ["expr-type-mismatch"]
    assert warnings("deal.amount > 5 and 'a' in deal.tags and deal.note == None") == []
    assert warnings("date(deal.close_date) < today and len(deal.name) > 2") == []
    assert check_expression("deal.amount >", LOC)[0].code == "expr-syntax"
    # an ordering that every evaluation fails is a load error, not a warning
    for source in ("deal.amount > 'x'", "deal.close_date < today"):
        [problem] = check_expression(source, LOC, known_fields=known)
        assert (problem.code, problem.severity) == ("expr-type-always-fails", "error")
        assert refused(source, known_fields=known).problems == (problem,)


# -- hostile input --

def _adversarial_lines() -> list[str]:
    return (DATA / "adversarial.txt").read_text(encoding="utf-8").splitlines()


EXTRA_HOSTILE = [
    "deal.__class__.__subclasses__()",
    "deal['__class__']",
    "getattr(deal, '__class__')",
    "type(deal)",
    "vars(deal)",
    "deal.tags.append",
    "deal.tags.append(1)",
    "actor.roles.clear() or True",
    "deal.customer.update({'x': 1})",
    "10**10**10",
    "deal.amount ** deal.amount ** deal.amount",
    "deal.name * deal.huge_n * deal.huge_n",
    "(deal.name * 1000) * (deal.huge_n // 1000)",
    "deal.long + deal.long + deal.long",
    "deal.tags * 999999 * 999999",
    "[" * 200 + "1" + "]" * 200,
    "(" * 1000 + "1" + ")" * 1000,
    "not " * 2_400 + "deal.x",
    "-" * 9_000 + "1",
    "deal.x + " * 1_200 + "1",
    "1" * 9_000,
    "now.today()",
    "now.replace(year=1)",
    "today.fromordinal(1)",
    "date.today()",
    "datetime.now()",
    "rand()",
    "randint(10)",
    "__import__('os').system('true')",
    "exec('1')",
    "compile('1', 'x', 'eval')",
    "open('/etc/passwd')",
    "'{0.__class__}'.format(deal)",
    "'%s%s%s' % (deal, deal, deal)",
    "deal.name % deal.tags",
    "f'{deal.__class__}'",
    "[x for x in range(10**9)]",
    "{x: x for x in deal}",
    "(lambda: deal.clear())()",
    "deal.tags[::-1]",
    "deal.tags[deal.big]",
    "deal.big << 1000000",
    "deal.stage is not None",
    "sum(deal.tags)",
    "sorted(deal.tags)",
    "deal if deal.clear() else deal",
    "len(deal.long * 2)",
    "round(deal.big, -deal.huge_n)",
    "days(10**9) + now",
    "datetime('9' * 10000)",
    "contains(deal.long * 2, deal.long)",
    "all_in(deal.tags * 500000, deal.tags * 500000)",
    "dеal.x",
    "deal.x\x00",
    "deal.x\n;deal.clear()",
    "deal.x #\n.clear()",
]


@pytest.mark.parametrize("source", _adversarial_lines() + EXTRA_HOSTILE,
                         ids=lambda s: s[:40])
def test_hostile_expression_is_refused_or_fails_cleanly(source: str) -> None:
    deal = make_deal()
    actor = copy.deepcopy(ACTOR)
    before = copy.deepcopy((deal, actor))
    ctx = EvalContext(deal, actor, "negotiation", NOW, NOW.date())
    started = time.perf_counter()
    try:
        expr = compile_expression(source, LOC)
    except PolicyError as error:
        assert error.problems
        for problem in error.problems:
            assert problem.location.line == 10 and problem.location.column >= 7
            assert problem.code.startswith("expr-")
        assert time.perf_counter() - started < 1.0
    else:
        for run in (expr.evaluate, expr.evaluate_reference):
            started = time.perf_counter()
            with pytest.raises(RuleError):
                run(ctx)
            assert time.perf_counter() - started < 1.0
    assert (deal, actor) == before


def test_adversarial_copy_matches_the_shared_sample() -> None:
    shared = ROOT.parent / "shared" / "adversarial-sample" / "expressions.txt"
    if not shared.exists():
        pytest.skip("shared samples not present")
    assert shared.read_text(encoding="utf-8") == (DATA / "adversarial.txt").read_text(
        encoding="utf-8")


def test_nothing_reachable_can_mutate() -> None:
    deal = make_deal()
    expr = compile_expression("deal.tags", LOC)
    assert expr.evaluate(ctx_for(deal)) is deal["tags"]  # the data itself, never a method
    assert "__builtins__': {}" in repr({"__builtins__": {}})
    assert ".append" not in expr.python_source and ".clear" not in expr.python_source


# -- threads, state, packaging --

def test_many_threads_share_one_expression() -> None:
    expr = compile_expression(
        "deal.n * 2 > 10 and has(deal.c) and default(deal.d, deal.n) == deal.n and "
        "days_since(deal.at) >= 0", LOC)
    barrier = threading.Barrier(8)

    def work(seed: int) -> list[tuple[Any, Any]]:
        barrier.wait()
        out = []
        for i in range(300):
            n = seed * 1000 + i
            deal = {"n": n, "c": 1, "at": "2026-01-01"} if i % 3 else {"n": n}
            ctx = ctx_for(deal)
            expected: Any = n * 2 > 10 if i % 3 else False
            got = [expr.evaluate(ctx)]
            if i % 30 == 0:
                got.append(expr.evaluate_reference(ctx))
            out.extend((g, expected) for g in got)
        return out

    with ThreadPoolExecutor(8) as pool:
        results = [pair for chunk in pool.map(work, range(8)) for pair in chunk]
    assert all(got == expected for got, expected in results)


def test_no_module_level_mutable_state() -> None:
    modules = [cycleflow.expr, runtime, functions, codegen, reference, expression, sandbox,
               typecheck]
    for module in modules:
        for name, value in vars(module).items():
            if name.startswith("__") or isinstance(value, types.ModuleType):
                continue
            assert not isinstance(value, (dict, list, set, bytearray)), f"{module.__name__}.{name}"
    assert isinstance(FUNCTIONS, types.MappingProxyType)


def test_expression_pickles_by_recompiling() -> None:
    expr = compile_expression("deal.amount > 100", LOC)
    clone = pickle.loads(pickle.dumps(expr))
    assert clone == expr
    assert clone.evaluate(ctx_for(make_deal())) is True


def test_eval_context_at() -> None:
    ctx = EvalContext.at({"stage": "won"}, NOW)
    assert (ctx.stage, ctx.today, ctx.actor) == ("won", NOW.date(), {})
    with pytest.raises(ValueError):
        EvalContext.at({}, datetime(2026, 1, 1))


def test_typical_rule_is_fast() -> None:
    expr = compile_expression("deal.discount_pct > 20 and deal.amount >= 100000", LOC)
    ctx = ctx_for(make_deal())
    runs = 20_000
    started = time.perf_counter()
    for _ in range(runs):
        expr.evaluate(ctx)
    per_call = (time.perf_counter() - started) / runs
    assert per_call < 20e-6  # ~0.2 µs measured; generous for slow CI machines


# -- documentation --

def test_docs_cover_every_name_and_function() -> None:
    text = (ROOT / "docs" / "expressions.md").read_text(encoding="utf-8")
    for name in NAMES:
        assert f"`{name}`" in text, name
    for name, spec in FUNCTIONS.items():
        assert f"### `{name}(" in text, name
        assert spec.example in text, spec.example
        compile_expression(spec.example, LOC)
    for example in re.findall(r"^    (.+)$", text, re.M):
        if example.startswith(("#", "$", ">>>")) or "→" in example:
            continue
        compile_expression(example, LOC)


def test_a_field_nested_too_deeply_to_copy_is_recorded_as_such() -> None:
    """read_values copies what it records; a value thousands of levels deep raised
    RecursionError out of every explained decision and audit event."""
    deep: Any = []
    for _ in range(5000):
        deep = [deep]
    expr = compile_expression("deal.x != None", LOC)
    values = expr.read_values(ctx_for({"x": deep, "y": [1, [2]]}))
    assert values == {"deal.x": "<nested too deeply to record>"}
    assert compile_expression("deal.y != None", LOC).read_values(ctx_for({"y": [1, [2]]})) == {
        "deal.y": [1, [2]]}


_LEAF = __import__("hypothesis").strategies.one_of(
    __import__("hypothesis").strategies.none(), __import__("hypothesis").strategies.integers(),
    __import__("hypothesis").strategies.text(max_size=3))


def _reference_values(expr: Any, ctx: EvalContext) -> dict[str, Any]:
    """What read_values must return: every read walked by the language's precise rules."""
    from cycleflow.expr import runtime
    from cycleflow.expr.expression import _copy

    out: dict[str, Any] = {}
    for name, from_deal, root_name, steps, _ in expr._reads:
        try:
            value = runtime.walk(ctx.deal if from_deal else ctx.actor, root_name, steps)
        except RuleError:
            out.setdefault(name, "<missing>")
            continue
        out.setdefault(name, _copy(value) if isinstance(value, (list, dict)) else value)
    return out


def test_read_values_fast_path_agrees_with_the_precise_walk() -> None:
    """Plain dicts are read directly; a None, list, Mapping or other value along the way,
    a missing key and a dict subclass at the end must all read as the precise walk does."""
    from collections import OrderedDict
    from types import MappingProxyType

    from hypothesis import given, settings
    from hypothesis import strategies as st

    node = st.recursive(
        _LEAF,
        lambda kids: st.one_of(
            st.lists(kids, max_size=2),
            st.dictionaries(st.sampled_from(["a", "b", "c"]), kids, max_size=3),
            st.dictionaries(st.sampled_from(["a", "b"]), kids, max_size=2).map(OrderedDict),
            st.dictionaries(st.sampled_from(["a", "b"]), kids, max_size=2).map(
                MappingProxyType),
        ),
        max_leaves=8,
    )
    expr = compile_expression(
        "has(deal.a.b.c) or deal.a.b == 1 or deal.c[0] == 2 or deal['b'].a == 3 or "
        "contains(actor.roles, 'x')", LOC)

    @settings(max_examples=300, deadline=None)
    @given(st.dictionaries(st.sampled_from(["a", "b", "c"]), node, max_size=3),
           st.dictionaries(st.sampled_from(["roles", "id"]), node, max_size=2))
    def check(deal: dict[str, Any], actor: dict[str, Any]) -> None:
        ctx = EvalContext(deal, actor, "s", NOW, NOW.date())
        got = expr.read_values(ctx)
        assert got == _reference_values(expr, ctx)
        for name, value in got.items():  # lists and dicts are copies, never the deal's own
            if isinstance(value, (list, dict)):
                assert all(value is not v for v in _all_nodes(deal) + _all_nodes(actor)), name

    check()


def _all_nodes(value: Any) -> list[Any]:
    out = [value]
    if isinstance(value, (list, tuple)):
        for v in value:
            out += _all_nodes(v)
    elif hasattr(value, "values"):
        for v in value.values():
            out += _all_nodes(v)
    return out


def test_a_value_holding_something_uncopyable_is_recorded_plainly() -> None:
    """deepcopy of a list holding a mappingproxy raised TypeError out of read_values, so out
    of every explained or audited decision on such a deal."""
    from types import MappingProxyType

    expr = compile_expression("deal.x != None", LOC)
    lock = threading.Lock()
    values = expr.read_values(ctx_for({"x": [MappingProxyType({"k": 1}), (2, lock)]}))
    assert values == {"deal.x": [{"k": 1}, [2, repr(lock)]]}


@pytest.mark.parametrize("source", [
    "deal.budget > 100,000",            # a thousands separator: the tuple (budget > 100, 0)
    "deal.discount_pct > 20,5",         # a decimal comma
    "deal.amount > 0, deal.budget > 0",  # conditions listed instead of joined
    "[deal.amount > 0, deal.budget > 0]",
    "{deal.amount > 0}",
    "[]",
    "deal.amount > 0 and (deal.budget, 1)",
    "not [deal.amount > 0]",
    "(1, 2) if deal.amount > 0 else False",
])
def test_a_collection_as_the_condition_is_refused(source: str) -> None:
    """A tuple, list, set or map is true (or, empty, false) whatever the deal: such a
    criterion silently never failed and lint said nothing."""
    problems = check_expression(source, LOC, condition=True)
    assert [p.code for p in problems if p.severity == "error"] == ["expr-not-a-condition"]
    assert problems[0].suggestion
    with pytest.raises(PolicyError, match="always"):
        compile_expression(source, LOC, condition=True)
    # as a value (not a rule's when) it is not this error
    assert "expr-not-a-condition" not in [p.code for p in check_expression(source, LOC)]


@pytest.mark.parametrize("source", [
    "deal.stage in ['won', 'lost']", "deal.budget > 100000", "deal.budget > 100_000",
    "any_in(deal.steps, ['a', 'b'])", "len([deal.amount, deal.budget]) == 2",
])
def test_collections_inside_a_condition_are_fine(source: str) -> None:
    assert not [p for p in check_expression(source, LOC, condition=True)
                if p.severity == "error"]


@pytest.mark.parametrize(("source", "hint"), [
    ("deal.budget > 0 && has(deal.amount)", "'and' instead of '&&'"),
    ("deal.a > 0 || deal.b > 0", "'or' instead of '||'"),
    ("!has(deal.amount)", "'not' instead of '!'"),
    ("deal.a > 0 AND deal.b > 0", "lower case"),
    ("deal.stage = 'won'", "'=='"),
    ("deal.a <> 1", "'!=' instead of '<>'"),
    ("deal.amount > 0 and\ndeal.budget > 0", "inside ( )"),
    ("deal.name == 'A && B' and x y", "one expression"),  # '&&' in text is no slip
])
def test_a_syntax_error_says_what_to_write(source: str, hint: str) -> None:
    """Every syntax error got the same 'no statements' hint, even for '&&' or a line break."""
    [problem] = check_expression(source, LOC, condition=True)
    assert problem.code == "expr-syntax" and hint in (problem.suggestion or ""), problem
