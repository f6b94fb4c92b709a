"""The reference evaluator: simpleeval, narrowed to the checked language.

It runs only on trees the sandbox accepted, with cycleflow's bounded
operators, the function library and its field-reading rules. It is slow
(one evaluator per call, so it is thread-safe) and exists to define and test
what the compiled path must do.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from datetime import date, datetime
from functools import partial
from types import MappingProxyType
from typing import Any

from simpleeval import EvalWithCompoundTypes, FeatureNotAvailable  # type: ignore[import-untyped]

from cycleflow.errors import MissingField, RuleError
from cycleflow.expr import runtime
from cycleflow.expr.functions import FUNCTIONS

OPERATORS: Mapping[type[ast.AST], Callable[..., Any]] = MappingProxyType({
    ast.Add: runtime.op_add,
    ast.Sub: runtime.op_sub,
    ast.Mult: runtime.op_mul,
    ast.Div: runtime.op_div,
    ast.FloorDiv: runtime.op_floordiv,
    ast.Mod: runtime.op_mod,
    ast.Pow: runtime.op_pow,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda x, y: operator.contains(y, x),
    ast.NotIn: lambda x, y: not operator.contains(y, x),
    ast.Not: operator.not_,
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
})
"""simpleeval's operator table, with cycleflow's bounded arithmetic."""

_REFUSED_NODES = (ast.Dict, ast.ListComp, ast.GeneratorExp, ast.DictComp, ast.JoinedStr,
                  ast.FormattedValue, ast.Slice, ast.keyword, ast.Assign, ast.AugAssign,
                  ast.Import, ast.Expr)


def _chain_path(node: ast.expr) -> str:
    """The display path of a field chain node, e.g. ``deal.customer.name``."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return runtime.join_path(_chain_path(node.value), node.attr, True)
    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
        key = node.slice.value
        if isinstance(key, (str, int)):
            return runtime.join_path(_chain_path(node.value), key, False)
    if isinstance(node, ast.Subscript):
        return runtime.join_path(_chain_path(node.value), ast.unparse(node.slice), False)
    return ast.unparse(node)


class ReferenceEvaluator(EvalWithCompoundTypes):  # type: ignore[misc]
    """simpleeval with read-only field access by key and the special forms has/default."""

    def __init__(self, names: dict[str, Any], now: datetime | None, today: date | None) -> None:
        functions: dict[str, Callable[..., Any]] = {}
        for name, spec in FUNCTIONS.items():
            if spec.clock:
                functions[name] = partial(spec.impl, now=now, today=today)
            else:
                functions[name] = spec.impl
        super().__init__(operators=dict(OPERATORS), functions=functions, names=names)
        for name in ("list", "tuple", "dict", "set"):
            self.functions.pop(name, None)
        for kind in _REFUSED_NODES:
            self.nodes.pop(kind, None)

    def eval_node(self, node: ast.expr) -> Any:
        """Evaluate an already checked node."""
        self.expr = ast.unparse(node)
        return self._eval(node)

    def _eval_attribute(self, node: ast.Attribute) -> Any:
        if node.attr.startswith(("_", "func_")):
            raise FeatureNotAvailable(f"access to {node.attr} is not allowed")
        base = self._eval(node.value)
        return runtime.step(base, node.attr, True, _chain_path(node.value))

    def _eval_subscript(self, node: ast.Subscript) -> Any:
        base = self._eval(node.value)
        key = self._eval(node.slice)
        if type(key) not in (str, int):
            raise FeatureNotAvailable("only constant text or whole-number subscripts")
        return runtime.step(base, key, False, _chain_path(node.value))

    def _eval_call(self, node: ast.Call) -> Any:
        if isinstance(node.func, ast.Name) and node.func.id in ("has", "default"):
            try:
                value = self._eval(node.args[0])
            except MissingField:
                value = None
            if node.func.id == "has":
                return value is not None
            return value if value is not None else self._eval(node.args[1])
        if not isinstance(node.func, ast.Name) or node.keywords:
            raise FeatureNotAvailable("only library functions can be called, by name")
        return super()._eval_call(node)


def evaluate(tree: ast.Expression, deal: Mapping[str, Any], actor: Mapping[str, Any],
             stage: str, now: datetime, today: date) -> Any:
    """Evaluate a checked tree for one record; any failure is a RuleError."""
    names = {"deal": deal, "actor": actor, "stage": stage, "now": now, "today": today}
    try:
        return ReferenceEvaluator(names, now, today).eval_node(tree.body)
    except RuleError:
        raise
    except Exception as exc:
        raise runtime.wrap(exc) from None


def evaluate_constant(node: ast.expr) -> Any:
    """Evaluate a constant part at load (it reads no names); failures are RuleError."""
    try:
        return ReferenceEvaluator({}, None, None).eval_node(node)
    except RuleError:
        raise
    except Exception as exc:
        raise runtime.wrap(exc) from None
