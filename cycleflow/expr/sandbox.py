"""The load-time sandbox: parse an expression and check every node against an allow-list.

Nothing is evaluated that this module did not accept. It reports every
problem of an expression (located, with a suggestion), records which fields
and functions it reads, and folds constant parts so that oversized or failing
constants are refused before any deal is seen.
"""

from __future__ import annotations

import ast
import builtins
import difflib
import io
import math
import re
import tokenize
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from types import MappingProxyType
from typing import Any, Final

from cycleflow.errors import (
    FULL_WIDTH,
    FULL_WIDTH_ADVICE,
    CycleflowError,
    Location,
    Problem,
    full_width_message,
)
from cycleflow.expr.functions import FUNCTIONS
from cycleflow.expr.limits import (
    MAX_CONSTANT_CHARS,
    MAX_DEPTH,
    MAX_INT_BITS,
    MAX_LITERAL_ITEMS,
    MAX_SOURCE_CHARS,
)
from cycleflow.expr.runtime import DATE_ATTRS, DATETIME_ATTRS, Step, join_path

NAMES: Final = ("deal", "actor", "stage", "now", "today")
"""The names an expression may use, besides True, False and None."""

RECORD_NAMES: Final = frozenset({"deal", "actor"})
CLOCK_ATTRS: Final = MappingProxyType({"now": DATETIME_ATTRS, "today": DATE_ATTRS})
RESERVED_FIELDS: Final = frozenset(
    {"id", "stage", "stage_entered_at", "steps", "approvals", "owner"}
)
"""Top-level deal keys every deal may carry, known even when a deal schema omits them."""

_BINOPS: Final = MappingProxyType({
    ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/",
    ast.FloorDiv: "//", ast.Mod: "%", ast.Pow: "**",
})
_UNARYOPS: Final = MappingProxyType({ast.Not: "not", ast.USub: "-", ast.UAdd: "+"})
_CMPOPS: Final = MappingProxyType({
    ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=",
    ast.In: "in", ast.NotIn: "not in",
})
_REFUSED_OPS: Final = MappingProxyType({
    ast.LShift: "<<", ast.RShift: ">>", ast.BitOr: "|", ast.BitXor: "^", ast.BitAnd: "&",
    ast.MatMult: "@", ast.Invert: "~", ast.Is: "is", ast.IsNot: "is not",
})
_NODE_WORDS: Final[Mapping[type[ast.AST], tuple[str, str | None]]] = MappingProxyType({
    ast.Lambda: ("lambda functions are not allowed", None),
    ast.ListComp: ("comprehensions are not allowed", "use any_in() or all_in()"),
    ast.SetComp: ("comprehensions are not allowed", "use any_in() or all_in()"),
    ast.DictComp: ("comprehensions are not allowed", "use any_in() or all_in()"),
    ast.GeneratorExp: ("comprehensions are not allowed", "use any_in() or all_in()"),
    ast.NamedExpr: ("assignment (:=) is not allowed", None),
    ast.JoinedStr: ("f-strings are not allowed", "join text with +"),
    ast.FormattedValue: ("f-strings are not allowed", "join text with +"),
    ast.Dict: ("dict literals are not allowed", None),
    ast.Starred: ("unpacking with * is not allowed", None),
    ast.Yield: ("yield is not allowed", None),
    ast.YieldFrom: ("yield is not allowed", None),
    ast.Await: ("await is not allowed", None),
    ast.Slice: ("slices are not allowed", None),
})
_METHOD_HINTS: Final = MappingProxyType({
    "get": "use default(deal.x, value)",
    "format": "join text with +",
    "count": "to read a field named 'count' write deal.count without parentheses",
    "items": "to read a field named 'items' write deal.items without parentheses",
    "keys": "use has(deal.x) to test for a field",
})
#: Spreadsheet and Salesforce formula functions people write out of habit (any case):
#: what to write instead. Names the library has in lower case are suggested as such.
_FORMULA_HINTS: Final = MappingProxyType({
    "not": "write 'not x': not is an operator",
    "and": "write 'a and b': and is an operator",
    "or": "write 'a or b': or is an operator",
    "isblank": "write 'not has(deal.x)': has is true for a present, non-null field",
    "isnull": "write 'not has(deal.x)': has is true for a present, non-null field",
    "blankvalue": "write 'default(deal.x, value)'",
    "nullvalue": "write 'default(deal.x, value)'",
    "ispickval": "write 'deal.x == \"value\"': a picklist value is text",
    "includes": "write '\"value\" in deal.x': a multi-select value is a list",
    "text": "compare the field itself: a picklist value is already text",
    "today": "write 'today', a name without ()",
    "now": "write 'now', a name without ()",
    "if": "write 'a if condition else b', or split the rule in two",
    "case": "write 'a if condition else b', or split the rule in two",
    "begins": "write 'startswith(text, prefix)'",
    "datevalue": "write 'date(deal.x)'",
    "ischanged": "a rule judges one record, not a change: keep the earlier value in a field "
                 "(deal.prior_close_date) and compare with it, or use an approval's binds",
    "priorvalue": "a rule judges one record, not a change: keep the earlier value in a field "
                  "(deal.prior_close_date) and compare with it, or use an approval's binds",
    "regex": "use startswith, endswith or contains: rules have no regular expressions",
})
_CONSTANT_TYPES: Final = (bool, int, float, str, type(None))
_EMBEDDABLE: Final = (bool, int, float, str, type(None), date, datetime, timedelta)


@dataclass(frozen=True, slots=True)
class FieldRead:
    """One ``deal.…``/``actor.…`` chain: its root name, its steps and its display path."""

    root: str
    steps: tuple[Step, ...]
    path: str

    @property
    def field(self) -> str:
        """The dotted field path without the root, up to the first integer index."""
        parts: list[str] = []
        for key, _ in self.steps:
            if isinstance(key, int):
                break
            parts.append(key)
        return ".".join(parts)


@dataclass
class Analysis:
    """What the sandbox learned about one expression."""

    source: str
    tree: ast.Expression | None = None
    problems: list[Problem] = field(default_factory=list)
    reads: dict[ast.AST, FieldRead] = field(default_factory=dict)
    functions: set[str] = field(default_factory=set)
    folded: dict[ast.AST, Any] = field(default_factory=dict)
    where: Callable[[ast.AST], Location] | None = None

    @property
    def ok(self) -> bool:
        """True when no error-severity problem was found."""
        return not any(p.severity == "error" for p in self.problems)

    def fields_of(self, root: str) -> frozenset[str]:
        """The dotted field paths read under ``root`` (``deal`` or ``actor``)."""
        return frozenset(r.field for r in self.reads.values() if r.root == root and r.field)


def did_you_mean(word: str, candidates: Iterator[str] | list[str] | frozenset[str]) -> str | None:
    """A "did you mean" suggestion for a misspelt name, or None."""
    matches = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f"did you mean {matches[0]!r}?" if matches else None


def _non_ascii_note(word: str) -> str:
    odd = [c for c in word if ord(c) > 127]
    if not odd:
        return ""
    return f" (it contains the non-ASCII character {odd[0]!r} U+{ord(odd[0]):04X})"


class _Positions:
    """Maps AST positions (line, UTF-8 byte column) of the parsed text to file Locations."""

    def __init__(self, text: str, lead: int, locate: Callable[[int], Location]) -> None:
        self.lines = text.split("\n")
        self.starts: list[int] = []
        offset = lead
        for line in self.lines:
            self.starts.append(offset)
            offset += len(line) + 1
        self.locate = locate

    def offset(self, lineno: int, byte_col: int) -> int:
        """The character offset in the original source of (lineno, byte column)."""
        index = min(max(lineno, 1), len(self.lines)) - 1
        line = self.lines[index].encode("utf-8")
        chars = len(line[:byte_col].decode("utf-8", errors="ignore"))
        return self.starts[index] + chars

    def at(self, lineno: int, byte_col: int) -> Location:
        """The Location of (lineno, byte column)."""
        return self.locate(self.offset(lineno, byte_col))

    def node(self, node: ast.AST) -> Location:
        """The Location where ``node`` starts."""
        return self.at(getattr(node, "lineno", 1), getattr(node, "col_offset", 0))

    def attr(self, node: ast.Attribute) -> Location:
        """The Location of the attribute name in ``x.name``."""
        end_line = node.end_lineno or node.lineno
        end_col = node.end_col_offset or 0
        return self.at(end_line, max(end_col - len(node.attr.encode("utf-8")), 0))


def _max_bracket_depth(text: str) -> tuple[int, int]:
    """The deepest bracket nesting in ``text``, and where it first goes over MAX_DEPTH."""
    depth = best = where = 0
    lines = text.split("\n")
    starts = [0]
    for line in lines[:-1]:
        starts.append(starts[-1] + len(line) + 1)
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type != tokenize.OP:
                continue
            if tok.string in "([{":
                depth += 1
                if depth > best:
                    best = depth
                    if best == MAX_DEPTH + 1:
                        row, col = tok.start
                        where = starts[min(row, len(starts)) - 1] + col
            elif tok.string in ")]}":
                depth -= 1
    except (tokenize.TokenError, SyntaxError, IndentationError):
        pass
    return best, where


def _too_deep(body: ast.AST) -> ast.AST | None:
    """The first node nested deeper than MAX_DEPTH, or None (iterative, so it cannot crash)."""
    found: list[ast.AST] = []
    stack: list[tuple[ast.AST, int]] = [(body, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            found.append(node)
            continue
        for child in ast.iter_child_nodes(node):
            if not isinstance(child, (ast.expr_context, ast.operator, ast.boolop, ast.unaryop,
                                      ast.cmpop)):
                stack.append((child, depth + 1))
    if not found:
        return None
    return min(found, key=lambda n: (getattr(n, "lineno", 0), getattr(n, "col_offset", 0)))


def _subscript_key(node: ast.expr) -> str | int | None:
    """The constant key of ``x[key]``: a string or a (possibly negative) integer."""
    if isinstance(node, ast.Constant) and type(node.value) in (str, int):
        value: str | int = node.value  # type: ignore[assignment]
        return value
    if (
        isinstance(node, ast.UnaryOp)
        and isinstance(node.op, ast.USub)
        and isinstance(node.operand, ast.Constant)
        and type(node.operand.value) is int
    ):
        number: int = node.operand.value
        return -number
    return None


def constant_too_large(value: Any) -> str | None:
    """Why a constant value is over the literal limits, or None when it fits."""
    if isinstance(value, str) and len(value) > MAX_CONSTANT_CHARS:
        return f"a text of {len(value)} characters (limit {MAX_CONSTANT_CHARS})"
    if isinstance(value, (list, tuple, set, frozenset)):
        if len(value) > MAX_LITERAL_ITEMS:
            return f"a list of {len(value)} items (limit {MAX_LITERAL_ITEMS})"
        for item in value:
            reason = constant_too_large(item)
            if reason:
                return reason
    if type(value) is int and value.bit_length() > MAX_INT_BITS:
        return f"a number of {value.bit_length()} bits (limit {MAX_INT_BITS})"
    return None


def embeddable(value: Any) -> bool:
    """True when a folded constant is immutable and can be shared by every evaluation."""
    if isinstance(value, tuple):
        return all(embeddable(v) for v in value)
    return isinstance(value, _EMBEDDABLE)


class _Checker:
    """Walks a parsed expression once, recording problems, reads and functions."""

    def __init__(
        self,
        analysis: Analysis,
        pos: _Positions,
        known_fields: Mapping[str, frozenset[str]] | None,
    ) -> None:
        self.a = analysis
        self.pos = pos
        self.known = known_fields

    def problem(self, where: Location, code: str, message: str, suggestion: str | None = None,
                ) -> None:
        self.a.problems.append(Problem(where, code, message, suggestion))

    # -- dispatch -----------------------------------------------------------------

    def visit(self, node: ast.AST) -> None:
        if isinstance(node, ast.Expression):
            self.visit(node.body)
        elif isinstance(node, ast.BoolOp):
            for value in node.values:
                self.visit(value)
        elif isinstance(node, ast.BinOp):
            self.binop(node)
        elif isinstance(node, ast.UnaryOp):
            if type(node.op) not in _UNARYOPS:
                self.refused_op(node, node.op)
            self.visit(node.operand)
        elif isinstance(node, ast.Compare):
            self.compare(node)
        elif isinstance(node, ast.IfExp):
            self.visit(node.test)
            self.visit(node.body)
            self.visit(node.orelse)
        elif isinstance(node, ast.Call):
            self.call(node)
        elif isinstance(node, (ast.Attribute, ast.Subscript)):
            self.chain(node)
        elif isinstance(node, ast.Name):
            self.name(node)
        elif isinstance(node, ast.Constant):
            self.constant(node)
        elif isinstance(node, (ast.List, ast.Tuple, ast.Set)):
            self.literal(node)
        else:
            message, suggestion = _NODE_WORDS.get(
                type(node), (f"{type(node).__name__} is not allowed in a rule expression", None)
            )
            self.problem(self.pos.node(node), "expr-forbidden-node", message, suggestion)

    # -- operators ------------------------------------------------------------------

    def refused_op(self, node: ast.AST, op: ast.AST) -> None:
        symbol = _REFUSED_OPS.get(type(op), type(op).__name__)
        suggestion = None
        if isinstance(op, ast.Is):
            suggestion = "use =="
        elif isinstance(op, ast.IsNot):
            suggestion = "use !="
        self.problem(self.pos.node(node), "expr-forbidden-operator",
                     f"the operator '{symbol}' is not allowed", suggestion)

    def binop(self, node: ast.BinOp) -> None:
        if type(node.op) not in _BINOPS:
            self.refused_op(node, node.op)
        elif (
            isinstance(node.op, ast.Mod)
            and isinstance(node.left, ast.Constant)
            and isinstance(node.left.value, (str, bytes))
        ):
            self.problem(self.pos.node(node), "expr-string-format",
                         "'%' string formatting is not allowed", "join text with +")
        self.visit(node.left)
        self.visit(node.right)

    def compare(self, node: ast.Compare) -> None:
        for op in node.ops:
            if type(op) not in _CMPOPS:
                self.refused_op(node, op)
        self.visit(node.left)
        for comparator in node.comparators:
            self.visit(comparator)

    # -- names and values ------------------------------------------------------------

    def name(self, node: ast.Name) -> None:
        ident = node.id
        if ident in NAMES:
            return
        where = self.pos.node(node)  # only for a problem: locating costs the text before it
        if ident.startswith("_"):
            self.problem(where, "expr-private-name", f"the name {ident!r} is not allowed",
                         "names starting with '_' are never available")
            return
        if ident in FUNCTIONS:
            self.problem(where, "expr-function-value",
                         f"the function {ident!r} can only be called", f"write {ident}(...)")
            return
        aliases = {"true": "True", "false": "False", "null": "None", "none": "None"}
        suggestion: str | None
        if ident.lower() in aliases:
            suggestion = f"did you mean {aliases[ident.lower()]!r}?"
        elif self.known is not None and ident in self.known:
            suggestion = f"did you mean 'deal.{ident}'?"
        else:
            suggestion = did_you_mean(ident, [*NAMES, "True", "False", "None"])
            if suggestion is None:
                suggestion = f"read deal fields as deal.{ident}; names: {', '.join(NAMES)}"
        self.problem(where, "expr-unknown-name",
                     f"unknown name {ident!r}{_non_ascii_note(ident)}", suggestion)

    def constant(self, node: ast.Constant) -> None:
        value = node.value
        if not isinstance(value, _CONSTANT_TYPES):
            self.problem(self.pos.node(node), "expr-bad-constant",
                         f"{type(value).__name__} literals are not allowed")
        elif isinstance(value, float) and not math.isfinite(value):
            self.problem(self.pos.node(node), "expr-bad-constant", "this number is out of range")
        else:
            reason = constant_too_large(value)
            if reason:
                self.problem(self.pos.node(node), "expr-constant-too-large",
                             f"literal too large: {reason}")

    def literal(self, node: ast.List | ast.Tuple | ast.Set) -> None:
        if len(node.elts) > MAX_LITERAL_ITEMS:
            self.problem(self.pos.node(node), "expr-constant-too-large",
                         f"literal too large: {len(node.elts)} items (limit {MAX_LITERAL_ITEMS})")
            return
        for element in node.elts:
            self.visit(element)

    # -- field chains -----------------------------------------------------------------

    def chain(self, node: ast.Attribute | ast.Subscript) -> None:
        links: list[ast.Attribute | ast.Subscript] = []
        cursor: ast.expr = node
        while isinstance(cursor, (ast.Attribute, ast.Subscript)):
            links.append(cursor)
            cursor = cursor.value
        links.reverse()
        root = cursor
        root_name = root.id if isinstance(root, ast.Name) else None
        is_clock_call = (
            isinstance(root, ast.Call)
            and isinstance(root.func, ast.Name)
            and root.func.id in ("date", "datetime")
        )
        self.visit(root)
        steps: list[Step] = []
        path = root_name or "value"
        good = True
        for link in links:
            if isinstance(link, ast.Attribute):
                key: str | int | None = link.attr
                good &= self.attribute(link, root_name, is_clock_call)
            else:
                key = _subscript_key(link.slice)
                if key is None or isinstance(key, bool):
                    good = False
                    if isinstance(link.slice, ast.Slice):
                        self.problem(self.pos.node(link.slice), "expr-forbidden-node",
                                     "slices are not allowed")
                    else:
                        self.problem(self.pos.node(link.slice), "expr-dynamic-subscript",
                                     "a subscript must be a constant text or whole number",
                                     'write deal["field"] or deal.list[0]')
                    self.visit(link.slice)
                elif root_name not in RECORD_NAMES:
                    good = False
                    self.problem(self.pos.node(link), "expr-forbidden-subscript",
                                 "only deal and actor fields can be subscripted")
            if key is not None:
                steps.append((key, isinstance(link, ast.Attribute)))
                path = join_path(path, key, isinstance(link, ast.Attribute))
        if good and root_name in RECORD_NAMES:
            read = FieldRead(str(root_name), tuple(steps), path)
            self.a.reads[node] = read
            if root_name == "deal":
                self.check_field(node, read)

    def attribute(self, link: ast.Attribute, root_name: str | None, is_clock_call: bool) -> bool:
        attr = link.attr
        if attr.startswith("_") or attr.startswith("func_"):
            where = self.pos.attr(link)
            suggestion = None
            if root_name in RECORD_NAMES:
                suggestion = f'to read a field with this name write {root_name}["{attr}"]'
            self.problem(where, "expr-private-attribute",
                         f"the attribute {attr!r} is not allowed", suggestion)
            return False
        if root_name in RECORD_NAMES:
            return True
        if root_name is not None and root_name not in NAMES:
            return False  # the unknown name is reported already
        allowed: frozenset[str] | None = CLOCK_ATTRS.get(root_name or "")
        if is_clock_call:
            allowed = DATETIME_ATTRS
        if allowed is not None and attr in allowed:
            return True
        where = self.pos.attr(link)
        if allowed is not None:
            self.problem(where, "expr-forbidden-attribute",
                         f"{attr!r} cannot be read here; allowed: {', '.join(sorted(allowed))}",
                         did_you_mean(attr, allowed))
        else:
            self.problem(where, "expr-forbidden-attribute",
                         f"the attribute {attr!r} cannot be read here",
                         "attributes can only be read on deal, actor, now and today")
        return False

    def check_field(self, node: ast.AST, read: FieldRead) -> None:
        if self.known is None:
            return
        path = read.field
        if not path or path in self.known or path.split(".")[0] in RESERVED_FIELDS:
            return
        parts = path.split(".")
        for cut in range(len(parts) - 1, 0, -1):
            prefix = ".".join(parts[:cut])
            if prefix in self.known:
                opaque = "object" in self.known[prefix] and not any(
                    k.startswith(prefix + ".") for k in self.known
                )
                if opaque:
                    return
                break
        close = difflib.get_close_matches(path, [*self.known, *RESERVED_FIELDS], n=1,
                                          cutoff=0.6)  # suggested as it is written: deal.x
        self.problem(self.pos.node(node), "expr-unknown-field",
                     f"the deal schema does not declare the field deal.{path}",
                     f"did you mean 'deal.{close[0]}'?" if close else None)

    # -- calls ----------------------------------------------------------------------------

    def call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Attribute):
            hint = _METHOD_HINTS.get(func.attr)
            if func.attr in FUNCTIONS and not FUNCTIONS[func.attr].special:
                hint = f"write {func.attr}(x, ...) instead of x.{func.attr}(...)"
            self.problem(self.pos.attr(func), "expr-method-call",
                         f"method calls are not allowed (.{func.attr}(...))",
                         hint or "only the library functions can be called")
            if func.attr.startswith("_") or func.attr.startswith("func_"):
                self.problem(self.pos.attr(func), "expr-private-attribute",
                             f"the attribute {func.attr!r} is not allowed")
            self.visit(func.value)
            self.visit_args(node)
            return
        if not isinstance(func, ast.Name):
            self.problem(self.pos.node(node), "expr-bad-call",
                         "only library functions can be called, by name")
            self.visit(func)
            self.visit_args(node)
            return
        name = func.id
        spec = FUNCTIONS.get(name)
        if spec is None:
            if name.startswith("_"):
                self.problem(self.pos.node(func), "expr-private-name",
                             f"the name {name!r} is not allowed")
            elif name in NAMES:
                self.problem(self.pos.node(func), "expr-bad-call", f"{name} cannot be called")
            elif name.lower() in FUNCTIONS or name.lower() in _FORMULA_HINTS:
                self.problem(self.pos.node(func), "expr-unknown-function",
                             f"unknown function {name!r}",
                             _FORMULA_HINTS.get(name.lower())
                             or f"write '{name.lower()}(...)': function names are lower case")
            elif hasattr(builtins, name):
                self.problem(self.pos.node(func), "expr-unknown-function",
                             f"unknown function {name!r}: Python built-ins are not available",
                             "see docs/expressions.md for the function library")
            else:
                self.problem(self.pos.node(func), "expr-unknown-function",
                             f"unknown function {name!r}{_non_ascii_note(name)}",
                             did_you_mean(name, list(FUNCTIONS))
                             or "see docs/expressions.md for the function library")
            self.visit_args(node)
            return
        self.a.functions.add(name)
        count = len(node.args) + len(node.keywords)
        if node.keywords:
            self.problem(self.pos.node(node.keywords[0].value), "expr-bad-arguments",
                         f"{name}() takes positional arguments only")
        if count < spec.min_args or (spec.max_args is not None and count > spec.max_args):
            self.problem(self.pos.node(node), "expr-bad-arguments",
                         f"{name}() takes {spec.arity()}, not {count}",
                         f"for example: {spec.example}")
        if spec.special and node.args:
            first = node.args[0]
            if not (isinstance(first, (ast.Attribute, ast.Subscript)) and self._is_record(first)):
                self.problem(self.pos.node(first), "expr-bad-arguments",
                             f"{name}() takes a field such as deal.budget as its first argument",
                             f"for example: {spec.example}")
        self.visit_args(node)

    def _is_record(self, node: ast.expr) -> bool:
        while isinstance(node, (ast.Attribute, ast.Subscript)):
            node = node.value
        return isinstance(node, ast.Name) and node.id in RECORD_NAMES

    def visit_args(self, node: ast.Call) -> None:
        for arg in node.args:
            self.visit(arg)
        for keyword in node.keywords:
            if keyword.arg is None:
                self.problem(self.pos.node(keyword.value), "expr-forbidden-node",
                             "unpacking with ** is not allowed")
            self.visit(keyword.value)


class _Folder:
    """Evaluates the constant parts of a checked expression once, at load."""

    def __init__(self, analysis: Analysis, pos: _Positions,
                 evaluate: Callable[[ast.expr], Any]) -> None:
        self.a = analysis
        self.pos = pos
        self.evaluate = evaluate

    def fold(self, node: ast.expr) -> bool:
        """True when ``node`` is constant (and its value is recorded in ``folded``)."""
        if isinstance(node, ast.Constant):
            self.a.folded[node] = node.value
            return True
        if isinstance(node, ast.Name) or node in self.a.reads:
            return False
        if isinstance(node, (ast.Attribute, ast.Subscript)):
            self.fold(node.value)
            return False
        children = [c for c in ast.iter_child_nodes(node) if isinstance(c, ast.expr)]
        results = [self.fold(c) for c in children]
        if isinstance(node, ast.Call):
            spec = FUNCTIONS.get(node.func.id) if isinstance(node.func, ast.Name) else None
            if spec is None or spec.special or spec.clock:
                return False
            results = results[1:]  # the function's name is not a value
        if not all(results):
            return False
        try:
            value = self.evaluate(node)
        except CycleflowError as exc:
            self.a.problems.append(Problem(
                self.pos.node(node), "expr-constant-error",
                f"this constant part always fails: {exc}", "fix or remove it"))
            return False
        reason = constant_too_large(value)
        if reason:
            self.a.problems.append(Problem(
                self.pos.node(node), "expr-constant-too-large",
                f"this constant part builds {reason}"))
            return False
        self.a.folded[node] = value
        return True


_DISPLAYS: Final = MappingProxyType(
    {ast.Tuple: "tuple", ast.List: "list", ast.Set: "set", ast.Dict: "map"}
)


def _collection_condition(node: ast.expr) -> ast.expr | None:
    """A tuple, list, set or map literal whose truth decides the rule, or None.

    ``deal.budget > 100,000`` parses as the tuple ``(deal.budget > 100, 0)``, and a tuple
    with items is true whatever the deal: such a criterion never fails, such a risk always
    fires. Looks through ``and``/``or``, ``not`` and ``x if c else y``, whose results are
    their operands' truth.
    """
    if type(node) in _DISPLAYS:
        return node
    if isinstance(node, ast.BoolOp):
        for value in node.values:
            found = _collection_condition(value)
            if found is not None:
                return found
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return _collection_condition(node.operand)
    if isinstance(node, ast.IfExp):
        return _collection_condition(node.body) or _collection_condition(node.orelse)
    return None


def _not_a_condition(node: ast.expr, pos: _Positions) -> Problem:
    kind = _DISPLAYS[type(node)]
    items = getattr(node, "elts", None) or getattr(node, "keys", None) or []
    if isinstance(node, ast.Tuple) and len(items) > 1:
        return Problem(
            pos.node(items[1]), "expr-not-a-condition",
            f"this condition is a {kind} of {len(items)} values, which is always true: "
            "a comma separates values, so it is never checked as written",
            "write numbers without a thousands separator (100000 or 100_000), use '.' for "
            "decimals, and join conditions with 'and' / 'or'")
    truth = "always false" if not items else "always true"
    return Problem(
        pos.node(node), "expr-not-a-condition",
        f"this condition is a {kind}, which is {truth} whatever the deal",
        "join conditions with 'and' / 'or', or test membership with 'in [...]'")


_QUOTED: Final = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")
_OTHER_LANGUAGES: Final = (  # what people write from SQL, JavaScript or Excel, and the fix
    (re.compile(r"&&"), "write 'and' instead of '&&'"),
    (re.compile(r"\|\|"), "write 'or' instead of '||'"),
    (re.compile(r"!(?!=)"), "write 'not' instead of '!'"),
    (re.compile(r"\b(AND|OR|NOT)\b"), "write and, or, not in lower case"),
    (re.compile(r"(?<![=!<>])=(?!=)"), "compare with '==' (a single '=' assigns)"),
    (re.compile(r"<>"), "write '!=' instead of '<>'"),
)


def _syntax_hint(text: str) -> str:
    """What to write instead, for the usual slips; the general rule otherwise."""
    code = _QUOTED.sub("''", text)  # a '&&' inside a text literal is no slip
    for pattern, hint in _OTHER_LANGUAGES:
        if pattern.search(code):
            return hint
    if "\n" in text.strip() and not text.lstrip().startswith("("):
        return ("an expression over several lines must be inside ( ); or write it with "
                "YAML's folded style, 'when: >-', which joins the lines")
    return "a rule is one expression: no statements, ';', imports or assignments"


_PERCENT: Final = re.compile(
    r"(?<![\w.])(\d+(?:\.\d+)?)\s*[%\uff05]"
    r"(?=\s*(?:$|[)\],<>=!]|(?:and|or|if|else)\b))")


def _typing_slip(text: str) -> tuple[int, str, str] | None:
    """Where a syntax error comes from a typing slip, and what to say: a full-width
    character typed in Chinese input mode (``“IR”``, ``（``, ``，``), or a percent sign
    after a number (``> 20%``). Characters inside quoted text are never blamed."""
    code = _QUOTED.sub(lambda m: "'" + " " * (len(m.group()) - 2) + "'", text)
    percent = _PERCENT.search(code)
    wide = next((i for i, c in enumerate(code) if c in FULL_WIDTH), None)
    if percent is not None and (wide is None or percent.start() <= wide
                                or code[wide] == "\uff05"):
        number = percent.group(1)
        return (percent.end() - 1,
                f"write {number}, not {number}{code[percent.end() - 1]} "
                "(percent fields hold the number)",
                f"a percentage field holds the number: {number} for {number}%")
    if wide is not None:
        return wide, full_width_message(code[wide]), FULL_WIDTH_ADVICE
    return None


def analyze(
    source: str,
    location: Location,
    known_fields: Mapping[str, frozenset[str]] | None,
    locate: Callable[[int], Location] | None,
    evaluate_constant: Callable[[ast.expr], Any],
    condition: bool = False,
) -> Analysis:
    """Parse and check ``source``; the result holds every problem found.

    ``condition``: the expression decides a rule (a ``when:``), so a tuple, list or set
    as the value whose truth is taken is an error (it is true whatever the deal).
    """
    analysis = Analysis(source)
    where: Callable[[int], Location] = locate or location.shifted
    if not isinstance(source, str):
        analysis.problems.append(Problem(location, "expr-syntax", "an expression must be text"))
        return analysis
    if len(source) > MAX_SOURCE_CHARS:
        analysis.problems.append(Problem(
            where(0), "expr-too-long",
            f"expression of {len(source)} characters (limit {MAX_SOURCE_CHARS})"))
        return analysis
    text = source.lstrip()
    lead = len(source) - len(text)
    if not text.strip():
        analysis.problems.append(Problem(where(0), "expr-syntax", "empty expression"))
        return analysis
    depth, peak = _max_bracket_depth(text)
    if depth > MAX_DEPTH:
        analysis.problems.append(Problem(
            where(lead + peak), "expr-too-deep",
            f"brackets nested {depth} deep (limit {MAX_DEPTH})", "simplify the expression"))
        return analysis
    pos = _Positions(text, lead, where)
    analysis.where = pos.node
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        if exc.lineno and exc.offset:
            line = text.split("\n")[min(exc.lineno, len(pos.starts)) - 1]
            offset = pos.starts[min(exc.lineno, len(pos.starts)) - 1] + min(exc.offset - 1,
                                                                            len(line))
        else:
            offset = len(source.rstrip()) if exc.lineno else 0
        message = exc.msg if exc.offset else f"{exc.msg} (the expression ends too early?)"
        hint = _syntax_hint(text)
        typed = _typing_slip(text)
        if typed is not None:
            at, message, hint = typed
            offset = lead + at
        analysis.problems.append(Problem(
            where(offset), "expr-syntax", f"syntax error: {message}", hint))
        return analysis
    except (ValueError, RecursionError, MemoryError) as exc:
        analysis.problems.append(Problem(
            where(lead), "expr-syntax" if isinstance(exc, ValueError) else "expr-too-deep",
            f"cannot parse the expression: {exc or type(exc).__name__}"))
        return analysis
    deepest = _too_deep(tree.body)
    if deepest is not None:
        analysis.problems.append(Problem(
            pos.node(deepest), "expr-too-deep",
            f"expression nested more than {MAX_DEPTH} levels deep", "simplify the expression"))
        return analysis
    _Checker(analysis, pos, known_fields).visit(tree)
    display = _collection_condition(tree.body) if condition else None
    if display is not None and analysis.ok:
        analysis.problems.append(_not_a_condition(display, pos))
    analysis.problems.sort(key=lambda p: (p.location.line, p.location.column))
    if analysis.ok:
        constant = _Folder(analysis, pos, evaluate_constant).fold(tree.body)
        if constant and analysis.ok and not (
            isinstance(tree.body, ast.Constant) and isinstance(tree.body.value, bool)
        ):
            analysis.problems.append(Problem(
                pos.node(tree.body), "expr-constant",
                "this expression does not depend on the deal, actor, stage or clock",
                "write True or False if a constant is meant"))
    analysis.tree = tree
    return analysis
