"""Compiled rule expressions: the public face of the expr stage.

``compile_expression`` runs the sandbox once at load and returns an
:class:`Expression` with a fast generated evaluator and the simpleeval
reference beside it; both raise only ``RuleError`` at run time.
"""

from __future__ import annotations

import ast
import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from cycleflow.errors import Location, PolicyError, Problem, RuleError
from cycleflow.expr import codegen, reference, runtime
from cycleflow.expr.sandbox import Analysis, FieldRead, analyze
from cycleflow.expr.typecheck import type_warnings

KnownFields = Mapping[str, frozenset[str]]
Locate = Callable[[int], Location]


@dataclass(frozen=True, slots=True)
class EvalContext:
    """Everything one evaluation may read: the record, the actor, the stage and a fixed clock."""

    deal: Mapping[str, Any]
    actor: Mapping[str, Any]
    stage: str
    now: datetime
    today: date

    @classmethod
    def at(cls, deal: Mapping[str, Any], now: datetime, *,
           actor: Mapping[str, Any] | None = None, stage: str | None = None) -> EvalContext:
        """A context whose ``today`` is ``now.date()`` and stage defaults to ``deal["stage"]``."""
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        chosen = stage if stage is not None else str(deal.get("stage", ""))
        return cls(deal, actor if actor is not None else {}, chosen, now, now.date())


@dataclass(frozen=True)
class Expression:
    """A checked rule expression, compiled once; evaluate it per record."""

    source: str
    location: Location
    fields: frozenset[str]
    actor_fields: frozenset[str]
    functions: frozenset[str]
    _rule: codegen.CompiledRule = field(repr=False, compare=False)
    _tree: ast.Expression = field(repr=False, compare=False)
    _reads: tuple[tuple[str, bool, str, tuple[Any, ...]], ...] = field(repr=False, compare=False)
    python_source: str = field(default="", repr=False, compare=False)
    analysis: Analysis | None = field(default=None, repr=False, compare=False)

    def evaluate(self, ctx: EvalContext) -> Any:
        """The value for one record, via the compiled code (the fast path)."""
        return self._rule(ctx.deal, ctx.actor, ctx.stage, ctx.now, ctx.today)

    @property
    def evaluator(self) -> Callable[..., Any]:
        """The compiled function ``(deal, actor, stage, now, today) -> value``, for hot loops."""
        return self._rule

    def evaluate_reference(self, ctx: EvalContext) -> Any:
        """The value for one record, via simpleeval (slow; defines what evaluate must return)."""
        return reference.evaluate(self._tree, ctx.deal, ctx.actor, ctx.stage, ctx.now, ctx.today)

    @property
    def value_keys(self) -> frozenset[str]:
        """The keys :meth:`read_values` may return (``deal.customer.name``, ``actor.id``…)."""
        return frozenset(name for name, _, _, _ in self._reads)

    def read_values(self, ctx: EvalContext) -> dict[str, Any]:
        """The fields this expression reads, for audit events; absent ones as ``"<missing>"``."""
        values: dict[str, Any] = {}
        for name, from_deal, root_name, steps in self._reads:
            if name in values:
                continue
            try:
                value = runtime.walk(ctx.deal if from_deal else ctx.actor, root_name, steps)
            except RuleError:
                values[name] = runtime.MISSING_TEXT
                continue
            try:
                values[name] = copy.deepcopy(value) if isinstance(value, (list, dict)) else value
            except RecursionError:  # a field nested thousands deep: say so, do not fail
                values[name] = "<nested too deeply to record>"
        return values

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle as source and location; the receiving process recompiles."""
        return (compile_expression, (self.source, self.location))


def _value_read(read: FieldRead) -> tuple[str, bool, str, tuple[Any, ...]]:
    """What ``read_values`` needs of one field read, worked out once at compile time."""
    fld = read.field
    steps = read.steps[: len(fld.split("."))] if fld else ()
    return f"{read.root}.{fld}", read.root == "deal", read.root, steps


def _analyze(source: str, location: Location, known_fields: KnownFields | None,
             locate: Locate | None) -> Analysis:
    analysis = analyze(source, location, known_fields, locate, reference.evaluate_constant)
    if analysis.ok and known_fields is not None and analysis.where is not None:
        analysis.problems.extend(type_warnings(analysis, known_fields, analysis.where))
    return analysis


def check_expression(
    source: str,
    location: Location,
    *,
    known_fields: KnownFields | None = None,
    locate: Locate | None = None,
) -> tuple[Problem, ...]:
    """All problems: errors and warnings (``expr-type-mismatch``); never raises."""
    return tuple(_analyze(source, location, known_fields, locate).problems)


def compile_expression(
    source: str,
    location: Location,
    *,
    known_fields: KnownFields | None = None,
    locate: Locate | None = None,
) -> Expression:
    """Check and compile an expression; raises PolicyError carrying all its errors."""
    analysis = _analyze(source, location, known_fields, locate)
    errors = [p for p in analysis.problems if p.severity == "error"]
    if errors:
        raise PolicyError(errors)
    assert analysis.tree is not None
    rule, python_source = codegen.generate(analysis)
    reads = tuple(_value_read(r) for r in analysis.reads.values())
    return Expression(
        source=source,
        location=location,
        fields=analysis.fields_of("deal"),
        actor_fields=analysis.fields_of("actor"),
        functions=frozenset(analysis.functions),
        _rule=rule,
        _tree=analysis.tree,
        _reads=reads,
        python_source=python_source,
        analysis=analysis,
    )
