"""Why a rule could not be evaluated, in the policy language's words and in the run's language."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cycleflow import Engine, load_policy
from cycleflow.errors import Location, RuleError
from cycleflow.expr import EvalContext, compile_expression
from cycleflow.expr.messages import reason_in

LOC = Location("policy.yaml", 1, 1)
NOW = datetime(2026, 1, 15, 12, 0, tzinfo=timezone.utc)

#: Python's words that must never reach a policy author.
PYTHON_WORDS = ("instances of", "'str'", "'int'", "'float'", "NoneType", "'dict'", "'list'",
                "operand type(s)", "concatenate", "is not iterable", "type error:", "bad operand")

_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.floats(-2, 2),
                    st.sampled_from(["abc", "", "2026-01-01"]),
                    st.lists(st.integers(0, 2), max_size=2),
                    st.fixed_dictionaries({}, optional={"x": st.integers(0, 2)}))
_OPS = st.sampled_from(["+", "-", "*", "/", "//", "%", "**", "<", "<=", ">", ">=", "in",
                        "not in"])


@settings(max_examples=600, deadline=None)
@given(op=_OPS, a=_VALUES, b=_VALUES, unary=st.sampled_from(["", "-", "+"]))
def test_an_operation_on_the_wrong_types_is_explained_without_python_words(
        op: str, a: Any, b: Any, unary: str) -> None:
    expr = compile_expression(f"{unary}deal.a {op} deal.b", LOC)
    ctx = EvalContext({"a": a, "b": b}, {"id": "u"}, "s", NOW, NOW.date())
    reasons = []
    for run in (expr.evaluate, expr.evaluate_reference):
        try:
            run(ctx)
        except RuleError as err:
            reasons.append((err.reason, reason_in(err, "zh")))
    if not reasons:
        return
    assert len(reasons) == 2 and reasons[0] == reasons[1]  # both evaluators, same words
    english, chinese = reasons[0]
    assert not any(w in english for w in PYTHON_WORDS), english
    assert "wrong type" not in english, english  # each of Python's texts here is recognised
    assert not any(w in chinese for w in PYTHON_WORDS), chinese
    for word in ("string", "number", "boolean", "object", "list"):  # type names translated
        assert f" {word} " not in f" {chinese} "


@pytest.mark.parametrize(("expression", "deal", "english", "chinese"), [
    ("deal.budget > 0", {"budget": "abc"},
     "cannot compare string and number values with >", "无法用 > 比较文本值和数字值"),
    ("deal.amount / deal.budget < 2", {"amount": 1, "budget": "x"},
     "cannot apply / to number and string values", "无法对数字值和文本值使用 /"),
    ("deal.a + deal.b > 1", {"a": "s", "b": 1},
     "cannot apply + to string and number values", "无法对文本值和数字值使用 +"),
    ("-deal.a < 0", {"a": "s"}, "cannot apply - to a string value", "无法对文本值使用 -"),
    ("1 in deal.a", {"a": 5}, "cannot look inside a number value with 'in'",
     "无法用 in 在数字值中查找"),
    ("deal.a in 'abc'", {"a": None}, "only text can be looked for in text with 'in', not a null",
     "in 只能在文本中查找文本，不能查找空（null）值"),
    ("deal.amount / deal.budget < 2", {"amount": 1, "budget": 0},
     "division by zero", "除数为零"),
    ("deal.tags[0] == 'x'", {"tags": []}, "index 0 is out of range for deal.tags",
     "下标 0 超出 deal.tags 的范围"),
    ("len(deal.name) > 2", {"name": 5}, "len() needs a string or list, got number",
     "len() 需要文本或列表，得到的是数字"),
    ("days_since(deal.at) > 2", {"at": "soon"}, "not an ISO-8601 date-time: 'soon'",
     "不是 ISO-8601 日期时间：'soon'"),
    ("days(deal.n) > days(1)", {"n": 12345678901}, "a number out of range", "数值超出范围"),
    ("deal.n ** 0.5 > 1", {"n": -4}, "power has no real result", "乘方没有实数结果"),
    ("deal.lst['b'] == 1", {"lst": [1]}, "cannot read ['b'] of deal.lst: it is a list",
     "无法读取 deal.lst 的 ['b']：它是列表"),
    ("len(deal.s * 2000000) > 0", {"s": "ab"}, "repeated text or list would be too large",
     "重复后的文本或列表将会过大"),
])
def test_reasons_in_a_check_report_in_english_and_chinese(
        tmp_path: Path, expression: str, deal: dict[str, Any], english: str,
        chinese: str) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text(
        "cycleflow: 1\nid: t\nversion: '1'\ntitle: T\nstages:\n"
        "  a:\n    label: {en: A, zh: 甲}\n    initial: true\n    entry:\n"
        f"      - id: rule\n        when: {json.dumps(expression)}\n"
        "        message: {en: The rule., zh: 规则。}\n"
        "  b:\n    label: {en: B, zh: 乙}\n    final: true\n"
        "transitions:\n  - {trigger: go, from: a, to: b}\n", encoding="utf-8")
    record = {"id": "D-1", "stage": "a", **deal}
    for lang, words in (("en", english), ("zh", chinese)):
        verdict = Engine(load_policy(policy), lang=lang).check(record, now=NOW)
        [violation] = verdict.violations
        assert violation.kind == "field" and violation.message.startswith(words), violation


@pytest.mark.parametrize("expression", [
    "len({((deal.x,) * 1000000,) * 1000}) > 0",  # hashing: 10^9 items behind 1,000
    "([deal.x] * 999999 + [deal.y]) in [[deal.x] * 1000000] * 1000",  # comparing
    "len([deal.s * 1000] * 1001) > 0",  # a million characters a thousand times
    "len([[deal.x] * 600000] + [[deal.x] * 600000]) > 0",
])
def test_nested_repetition_is_bounded_by_what_it_holds_not_its_length(expression: str) -> None:
    """Each result's own length was under the million-item limit, but what it holds was
    not: one deal kept a check busy for minutes to hours (a security review)."""
    expr = compile_expression(expression, LOC)
    ctx = EvalContext({"x": 1, "y": 2, "s": "a" * 1000}, {"id": "u"}, "s", NOW, NOW.date())
    for run in (expr.evaluate, expr.evaluate_reference):
        with pytest.raises(RuleError, match="would be too large"):
            run(ctx)


_NESTED = st.recursive(
    st.one_of(st.integers(), st.text(max_size=5), st.none()),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.tuples(inner, inner),
                            st.dictionaries(st.text(max_size=2), inner, max_size=3)),
    max_leaves=20)


def _naive_size(value: Any) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, dict):
        return len(value) + sum(_naive_size(v) - (not isinstance(v, (str, list, tuple, dict)))
                                for v in value.values())
    if isinstance(value, (list, tuple)):
        return len(value) + sum(_naive_size(v) - (not isinstance(v, (str, list, tuple, dict)))
                                for v in value)
    return 1


@settings(max_examples=300, deadline=None)
@given(value=_NESTED)
def test_size_of_counts_every_nested_item_and_character(value: Any) -> None:
    from cycleflow.expr.runtime import size_of

    assert size_of(value, budget=10**9) == _naive_size(value)


def test_membership_work_counts_what_each_comparison_walks() -> None:
    """any_in counted comparisons, not their cost: 600 references to a deal's 200,000-item
    list against 600 others ran for a minute per deal (a second security review)."""
    copies = ", ".join(["deal.a"] * 60)
    pool = ", ".join(["deal.b"] * 60)
    expr = compile_expression(f"any_in(({copies}), ({pool}))", LOC)
    deal = {"a": [0] * 200_000 + [1], "b": [0] * 200_000 + [2]}
    ctx = EvalContext(deal, {"id": "u"}, "s", NOW, NOW.date())
    for run in (expr.evaluate, expr.evaluate_reference):
        with pytest.raises(RuleError, match="inputs are too large"):
            run(ctx)
    small = compile_expression("any_in(deal.tags, ['x', 'y'])", LOC)
    ok = EvalContext({"tags": ["y"]}, {"id": "u"}, "s", NOW, NOW.date())
    assert small.evaluate(ok) is True and small.evaluate_reference(ok) is True


def test_min_and_max_are_bounded_by_what_their_inputs_hold() -> None:
    """max() over a thousand references to a 200,000-item list cost a second per rule."""
    args = ", ".join(["deal.a"] * 60)
    deal = {"a": [0] * 200_000, "n": [3, 1, 2]}
    ctx = EvalContext(deal, {"id": "u"}, "s", NOW, NOW.date())
    for source in (f"max({args}) == 1", f"min({args}) == 1"):
        expr = compile_expression(source, LOC)
        for run in (expr.evaluate, expr.evaluate_reference):
            with pytest.raises(RuleError, match="inputs are too large"):
                run(ctx)
    assert compile_expression("max(deal.n) == 3 and min(1, 2) == 1", LOC).evaluate(ctx)
