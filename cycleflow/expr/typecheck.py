"""Load-time type warnings: comparisons and arithmetic that cannot work for the declared types.

Only used when the policy has a deal schema; unknown types never warn.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Mapping
from types import MappingProxyType

from cycleflow.errors import Location, Problem
from cycleflow.expr.functions import FUNCTIONS
from cycleflow.expr.sandbox import Analysis

Types = frozenset[str]

_KIND: Mapping[str, str] = MappingProxyType({
    "integer": "number", "number": "number", "boolean": "number", "string": "string",
    "array": "array", "object": "object", "date": "date", "datetime": "datetime",
    "duration": "duration", "null": "null",
})
_NAME_TYPES: Mapping[str, str] = MappingProxyType(
    {"stage": "string", "now": "datetime", "today": "date"}
)
_ORDERING = (ast.Lt, ast.LtE, ast.Gt, ast.GtE)


def _kinds(types: Types) -> frozenset[str]:
    return frozenset(_KIND.get(t, t) for t in types)


def _show(types: Types) -> str:
    return " or ".join(sorted(types))


class _TypeChecker:
    """Infers coarse JSON types bottom-up and warns where declared types cannot meet."""

    def __init__(self, analysis: Analysis, known: Mapping[str, frozenset[str]],
                 where: Callable[[ast.AST], Location]) -> None:
        self.a = analysis
        self.known = known
        self.where = where
        self.warnings: list[Problem] = []

    def warn(self, node: ast.AST, message: str, suggestion: str | None = None) -> None:
        self.warnings.append(Problem(self.where(node), "expr-type-mismatch", message,
                                     suggestion, severity="warning"))

    def infer(self, node: ast.AST) -> Types | None:
        read = self.a.reads.get(node)
        if read is not None:
            if read.root == "deal" and all(isinstance(k, str) for k, _ in read.steps):
                return self.known.get(read.field) or None  # no declared type: unknown
            return None
        if isinstance(node, ast.Constant):
            value = node.value
            if isinstance(value, bool):
                return frozenset({"boolean"})
            if isinstance(value, int):
                return frozenset({"integer"})
            if isinstance(value, float):
                return frozenset({"number"})
            if isinstance(value, str):
                return frozenset({"string"})
            return frozenset({"null"})
        if isinstance(node, ast.Name):
            kind = _NAME_TYPES.get(node.id)
            return frozenset({kind}) if kind else None
        if isinstance(node, ast.Compare):
            self.compare(node)
            return frozenset({"boolean"})
        children = [self.infer(c) for c in ast.iter_child_nodes(node) if isinstance(c, ast.expr)]
        if isinstance(node, ast.UnaryOp):
            return frozenset({"boolean"}) if isinstance(node.op, ast.Not) else children[0]
        if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
            return frozenset({"array"})
        if isinstance(node, ast.BinOp):
            return self.binop(node, children[0], children[1])
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):  # args inferred above
            spec = FUNCTIONS.get(node.func.id)
            if spec is not None and spec.returns:
                return frozenset({spec.returns})
        return None

    def binop(self, node: ast.BinOp, left: Types | None, right: Types | None) -> Types | None:
        if left is None or right is None:
            return None
        lk, rk = _kinds(left) - {"null"}, _kinds(right) - {"null"}
        if lk == {"number"} and rk == {"number"}:
            return frozenset({"number"})
        if isinstance(node.op, ast.Add) and lk == rk and lk in ({"string"}, {"array"}):
            return left - {"null"}
        mixed = {frozenset(lk), frozenset(rk)} == {frozenset({"string"}), frozenset({"number"})}
        if mixed and not isinstance(node.op, ast.Mult):
            self.warn(node, f"arithmetic between {_show(left)} and {_show(right)} always fails")
        return None

    def compare(self, node: ast.Compare) -> None:
        left = self.infer(node.left)
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            right = self.infer(comparator)
            if left is not None and right is not None:
                self.pair(node, op, left, right)
            left = right

    def pair(self, node: ast.Compare, op: ast.cmpop, left: Types, right: Types) -> None:
        lk, rk = _kinds(left), _kinds(right)
        if isinstance(op, (ast.In, ast.NotIn)):
            containers = rk - {"null"}
            if containers and containers <= {"number", "date", "datetime", "duration"}:
                self.warn(node, f"'in' needs a list, text or object on the right, "
                                f"not {_show(right)}")
            elif containers == {"string"} and (lk - {"null"}) and not (lk & {"string"}):
                self.warn(node, f"looking for {_show(left)} in text always fails")
            return
        if lk & rk:
            return
        if isinstance(op, _ORDERING):
            hint = None
            if lk == {"string"} and rk & {"date", "datetime"} or rk == {"string"} and lk & {
                "date", "datetime"
            }:
                hint = "convert the text with date(...) or datetime(...)"
            self.warn(node, f"comparing {_show(left)} with {_show(right)} always fails", hint)
        elif "null" not in lk and "null" not in rk:
            self.warn(node, f"{_show(left)} is never equal to {_show(right)}")


def type_warnings(analysis: Analysis, known: Mapping[str, frozenset[str]],
                  where: Callable[[ast.AST], Location]) -> list[Problem]:
    """Warnings (code ``expr-type-mismatch``) for a checked expression under a deal schema."""
    if analysis.tree is None:
        return []
    checker = _TypeChecker(analysis, known, where)
    checker.infer(analysis.tree.body)
    return checker.warnings
