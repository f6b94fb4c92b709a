"""The fast path: generate Python source from a checked tree and compile it once.

Only nodes the sandbox accepted reach this module, and each becomes a fixed
shape of code: field reads are hoisted plain dict indexing (a failed read
falls back to the precise, error-raising walk at the point of use), bounded
arithmetic calls the helpers in ``runtime``, everything else is plain Python.
The function runs with empty builtins and sees only the names given here.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

from cycleflow.errors import RuleError
from cycleflow.expr import runtime
from cycleflow.expr.functions import FUNCTIONS
from cycleflow.expr.sandbox import Analysis, FieldRead, embeddable

CompiledRule = Callable[[Any, Any, Any, Any, Any], Any]
"""``f(deal, actor, stage, now, today)``."""

_BINOP_HELPERS: Mapping[type[ast.AST], str] = MappingProxyType({
    ast.Add: "_op_add", ast.Sub: "_op_sub", ast.Mult: "_op_mul", ast.Div: "_op_div",
    ast.FloorDiv: "_op_floordiv", ast.Mod: "_op_mod", ast.Pow: "_op_pow",
})
_UNARY: Mapping[type[ast.AST], str] = MappingProxyType(
    {ast.Not: "not ", ast.USub: "-", ast.UAdd: "+"}
)
_CMP: Mapping[type[ast.AST], str] = MappingProxyType({
    ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=",
    ast.In: "in", ast.NotIn: "not in",
})


class _Generator:
    """Turns one checked tree into the source of ``f(deal, actor, stage, now, today)``."""

    def __init__(self, analysis: Analysis) -> None:
        self.a = analysis
        self.globals: dict[str, Any] = {
            "__builtins__": {},
            "Exception": Exception,
            "_MISS": runtime.MISS,
            "_type": type,
            "_dict": dict,
            "_RuleError": RuleError,
            "_wrap": runtime.wrap,
            "_detached": runtime.detached,
            "_walk": runtime.walk,
            "_opt": runtime.read_optional,
            "_has": runtime.has_field,
            "_step": runtime.step,
            "_op_add": runtime.op_add,
            "_op_sub": runtime.op_sub,
            "_op_mul": runtime.op_mul,
            "_op_div": runtime.op_div,
            "_op_floordiv": runtime.op_floordiv,
            "_op_mod": runtime.op_mod,
            "_op_pow": runtime.op_pow,
        }
        self.slots: dict[tuple[str, tuple[runtime.Step, ...]], str] = {}
        self.hoisted: list[str] = []
        self.root_tests: set[str] = set()
        self.temps = 0

    def constant(self, value: Any) -> str:
        if isinstance(value, (bool, int, float, str, type(None))) and not isinstance(value, tuple):
            return repr(value)
        name = f"_k{len(self.globals)}"
        self.globals[name] = value
        return name

    def slot(self, read: FieldRead) -> tuple[str, str]:
        """The hoisted variable holding ``read`` (or MISS), and the literal of its steps."""
        steps = repr(read.steps)
        key = (read.root, read.steps)
        if key not in self.slots:
            var = f"_r{len(self.slots)}"
            self.slots[key] = var
            if all(type(k) is str for k, _ in read.steps):
                # plain dict lookups: a missing key costs no exception (anything else → MISS)
                source = read.root
                for k, _ in read.steps:
                    is_dict = f"_{read.root}_is_dict" if source == read.root else None
                    if is_dict and is_dict not in self.root_tests:  # once per root
                        self.root_tests.add(is_dict)
                        self.hoisted.append(f"    {is_dict} = _type({source}) is _dict")
                    test = is_dict or f"_type({source}) is _dict"
                    self.hoisted.append(
                        f"    {var} = {source}.get({k!r}, _MISS) if {test} else _MISS"
                    )
                    source = var
            else:  # an index on the way (deal.approvals[0].by): the language's own walk
                self.hoisted += [
                    "    try:",
                    f"        {var} = _walk({read.root}, {read.root!r}, {steps})",
                    "    except Exception:",
                    f"        {var} = _MISS",
                ]
        return self.slots[key], steps

    def temp(self) -> str:
        self.temps += 1
        return f"_t{self.temps}"

    def expr(self, node: ast.expr) -> str:
        if node in self.a.folded and embeddable(self.a.folded[node]):
            return self.constant(self.a.folded[node])
        read = self.a.reads.get(node)
        if read is not None:
            var, steps = self.slot(read)
            return f"({var} if {var} is not _MISS else _walk({read.root}, {read.root!r}, {steps}))"
        if isinstance(node, ast.Name):
            return node.id
        if isinstance(node, ast.Constant):
            return self.constant(node.value)
        if isinstance(node, ast.BoolOp):
            joiner = " and " if isinstance(node.op, ast.And) else " or "
            return "(" + joiner.join(self.expr(v) for v in node.values) + ")"
        if isinstance(node, ast.BinOp):
            helper = _BINOP_HELPERS[type(node.op)]
            return f"{helper}({self.expr(node.left)}, {self.expr(node.right)})"
        if isinstance(node, ast.UnaryOp):
            return f"({_UNARY[type(node.op)]}{self.expr(node.operand)})"
        if isinstance(node, ast.Compare):
            parts = [self.expr(node.left)]
            for op, right in zip(node.ops, node.comparators, strict=True):
                parts += [_CMP[type(op)], self.expr(right)]
            return "(" + " ".join(parts) + ")"
        if isinstance(node, ast.IfExp):
            return (f"({self.expr(node.body)} if {self.expr(node.test)} "
                    f"else {self.expr(node.orelse)})")
        if isinstance(node, ast.Call):
            return self.call(node)
        if isinstance(node, ast.Attribute):
            where = ast.unparse(node.value)
            return f"_step({self.expr(node.value)}, {node.attr!r}, True, {where!r})"
        if isinstance(node, ast.List):
            return "[" + ", ".join(self.expr(e) for e in node.elts) + "]"
        if isinstance(node, ast.Tuple):
            return "(" + "".join(self.expr(e) + ", " for e in node.elts) + ")"
        if isinstance(node, ast.Set):
            # one element at a time, as simpleeval does: an unhashable element fails first
            return "{" + ", ".join(f"*({self.expr(e)},)" for e in node.elts) + "}"
        raise AssertionError(f"unchecked node reached the code generator: {ast.dump(node)}")

    def call(self, node: ast.Call) -> str:
        assert isinstance(node.func, ast.Name)
        name = node.func.id
        spec = FUNCTIONS[name]
        if spec.special:
            read = self.a.reads[node.args[0]]
            var, steps = self.slot(read)
            fallback = f"({read.root}, {read.root!r}, {steps})"
            # a top-level key of a plain dict root that reads as MISS is simply absent:
            # no walk is needed to know has() is false and default() takes its default
            absent = (f"_{read.root}_is_dict" if len(read.steps) == 1
                      and type(read.steps[0][0]) is str else None)
            if name == "has":
                if absent:
                    return (f"({var} is not None if {var} is not _MISS else "
                            f"False if {absent} else _has{fallback})")
                return f"({var} is not None if {var} is not _MISS else _has{fallback})"
            temp = self.temp()
            default = self.expr(node.args[1])
            # found and null: the default, without walking the path again
            return (f"({var} if {var} is not _MISS and {var} is not None else "
                    f"{default} if {var} is None{f' or {absent}' if absent else ''} else "
                    f"({temp} if ({temp} := _opt{fallback}) is not None else {default}))")
        helper = f"_fn_{name}"
        self.globals[helper] = spec.impl
        args = [self.expr(a) for a in node.args]
        if spec.clock:
            args += ["now", "today"]
        return f"{helper}({', '.join(args)})"

    def source(self) -> str:
        assert self.a.tree is not None
        body = self.expr(self.a.tree.body)
        lines = ["def _rule(deal, actor, stage, now, today):", *self.hoisted]
        lines += [
            "    try:",
            f"        return {body}",
            "    except _RuleError:",
            "        raise",
            "    except Exception as _e:",
            "        raise _wrap(_e) from None",
        ]
        return "\n".join(lines) + "\n"


Kernel = Callable[[Any, Any, Any, Any, Any], list[Any]]
"""``k(deal, actor, stage, now, today)`` → what fired, in order (see :func:`generate_kernel`)."""


def _kernel_source(gen: _Generator, rules: Sequence[tuple[Analysis, bool]]) -> str:
    body: list[str] = []
    for index, (analysis, fires_when_true) in enumerate(rules):
        gen.a = analysis
        assert analysis.tree is not None
        test = gen.expr(analysis.tree.body)
        body += [
            "    try:",
            f"        if {'' if fires_when_true else 'not '}{test}:",
            f"            _fired({index})",
            "    except Exception as _e:",
            f"        _fired(({index}, _detached(_e)))",
        ]
    head = [
        "def _kernel(deal, actor, stage, now, today):",
        "    _out = []",
        "    _fired = _out.append",
    ]
    return "\n".join([*head, *gen.hoisted, *body, "    return _out"]) + "\n"


def generate_kernel(rules: Sequence[tuple[Analysis, bool]]) -> tuple[Kernel, str]:
    """One function running many rules, with field reads shared: the batch hot path.

    ``rules`` is ``(analysis, fires_when_true)`` per rule (a risk fires when true, a
    criterion when false). The function returns, in rule order, the index of each rule
    that fired and ``(index, RuleError)`` for each that could not be evaluated; an empty
    list when nothing fired. Each rule's semantics are exactly those of :func:`generate`.
    """
    if not rules:
        return (lambda deal, actor, stage, now, today: []), ""
    gen = _Generator(rules[0][0])
    source = _kernel_source(gen, rules)
    code = compile(source, "<cycleflow kernel>", "exec")
    namespace = gen.globals
    exec(code, namespace)  # noqa: S102 - source generated from allow-listed trees only
    kernel: Kernel = namespace["_kernel"]
    return kernel, source


def generate(analysis: Analysis) -> tuple[CompiledRule, str]:
    """Compile a checked analysis into a function, with its generated source for debugging."""
    gen = _Generator(analysis)
    source = gen.source()
    code = compile(source, "<cycleflow rule>", "exec")
    namespace = gen.globals
    exec(code, namespace)  # noqa: S102 - source generated from an allow-listed tree only
    rule: CompiledRule = namespace["_rule"]
    return rule, source
