"""Load-time type checks: comparisons and arithmetic that cannot work for the declared types.

Only used when the policy has a deal schema; unknown types never warn. An ordering
comparison between types that can never be ordered is an error (``expr-type-always-fails``),
the rest are warnings (``expr-type-mismatch``).
"""

from __future__ import annotations

import ast
import re
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
_NUMBER = re.compile(r"[-+]?(?:\d[\d_]*)?\.?\d+(?:[eE][-+]?\d+)?")
_CMP_WORD: Mapping[type[ast.cmpop], str] = MappingProxyType({
    ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!=",
    ast.In: "in", ast.NotIn: "not in",
})


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
        self.problems: list[Problem] = []

    def warn(self, node: ast.AST, message: str, suggestion: str | None = None) -> None:
        self.problems.append(Problem(self.where(node), "expr-type-mismatch", message,
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
                if isinstance(op, (ast.In, ast.NotIn)):
                    self.membership(node, op, left, comparator)
            left = right

    def membership(self, node: ast.Compare, op: ast.cmpop, left: Types,
                   container: ast.expr) -> None:
        """``x in [...]`` where no item of the literal list can equal x's declared type:
        never true (``not in``: always true), e.g. an integer field in ``['60', '90']``."""
        if not isinstance(container, (ast.List, ast.Tuple, ast.Set)) or not container.elts:
            return
        items = [self.infer(item) for item in container.elts]
        known = [t for t in items if t is not None]
        if len(known) != len(items):
            return  # an item of unknown type might match
        lk = _kinds(left)
        if any(lk & _kinds(t) for t in known):
            return
        kinds = sorted({k for t in known for k in _kinds(t)})
        result = "never true" if isinstance(op, ast.In) else "always true"
        hint = None
        if lk - {"null"} == {"number"} and kinds == ["string"]:
            hint = "write the numbers without quotes, as in [60, 90]"
        elif lk - {"null"} == {"string"} and kinds == ["number"]:
            hint = "write the values in quotes, as in ['60', '90']"
        shown = _show(left)
        article = "an" if shown[:1] and shown[0] in "aeiou" else "a"
        self.warn(node, f"{article} {shown} value never equals an item of this list "
                        f"(all {' or '.join(kinds)}): '{_CMP_WORD[type(op)]}' is {result}",
                  hint or "compare values of the same type (the deal schema says which)")

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
            self.never_ordered(node, op, left, right)
        elif "null" not in lk and "null" not in rk:
            self.warn(node, f"{_show(left)} is never equal to {_show(right)}")


    def never_ordered(self, node: ast.Compare, op: ast.cmpop, left: Types,
                      right: Types) -> None:
        """An error: ``<``, ``<=``, ``>``, ``>=`` between types that no value pair can order;
        every evaluation fails closed, so the rule blocks (or fires for) every deal."""
        lk, rk = _kinds(left) - {"null"}, _kinds(right) - {"null"}
        hint = "compare values of the same type (the deal schema says which)"
        if {frozenset(lk), frozenset(rk)} == {frozenset({"string"}), frozenset({"number"})}:
            text = next((n for n in (node.left, *node.comparators)
                         if isinstance(n, ast.Constant) and isinstance(n.value, str)), None)
            if isinstance(text, ast.Constant) and _NUMBER.fullmatch(str(text.value).strip()):
                number = str(text.value).strip()
                hint = f"write the number without quotes: {number}, not {text.value!r}"
            else:
                hint = "compare a number with a number: the deal schema says which fields are"
        elif "string" in lk | rk and (lk | rk) & {"date", "datetime"}:
            hint = "convert the text with date(...) or datetime(...)"
        word = _CMP_WORD[type(op)]
        self.problems.append(Problem(
            self.where(node), "expr-type-always-fails",
            f"{_show(left)} and {_show(right)} can never be compared with {word}: every "
            "evaluation of this rule fails (fails closed, whatever the deal)", hint,
            severity="error"))


def type_warnings(analysis: Analysis, known: Mapping[str, frozenset[str]],
                  where: Callable[[ast.AST], Location]) -> list[Problem]:
    """Type problems of a checked expression under a deal schema: ``expr-type-mismatch``
    warnings and ``expr-type-always-fails`` errors."""
    if analysis.tree is None:
        return []
    checker = _TypeChecker(analysis, known, where)
    checker.infer(analysis.tree.body)
    return checker.problems
