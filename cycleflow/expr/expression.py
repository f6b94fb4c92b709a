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
    _reads: tuple[
        tuple[str, bool, str, tuple[Any, ...], tuple[str, ...] | None], ...
    ] = field(repr=False, compare=False)
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
        return frozenset(read[0] for read in self._reads)

    def read_values(self, ctx: EvalContext) -> dict[str, Any]:
        """The fields this expression reads, for audit events; absent ones as ``"<missing>"``."""
        return self.values_of(ctx.deal, ctx.actor)

    def values_of(self, deal: Mapping[str, Any], actor: Mapping[str, Any],
                  *_: Any) -> dict[str, Any]:
        """:meth:`read_values` from an evaluator's arguments as they are, with no context
        built (the engine's hot path).

        Plain dicts along a path of text keys are read directly (the case of every JSON
        deal); anything else takes the precise walk of the language's rules.
        """
        values: dict[str, Any] = {}
        for name, from_deal, root_name, steps, keys in self._reads:
            if name in values:
                continue
            value = root = deal if from_deal else actor
            if keys is not None:
                for key in keys:
                    if type(value) is not dict:
                        break
                    value = value.get(key, _ABSENT)
                    if value is _ABSENT:
                        break
                else:
                    values[name] = _copy(value) if isinstance(value, (list, dict)) else value
                    continue
                if value is _ABSENT:
                    values[name] = runtime.MISSING_TEXT
                    continue
            try:
                value = runtime.walk(root, root_name, steps)
            except RuleError:
                values[name] = runtime.MISSING_TEXT
                continue
            values[name] = _copy(value) if isinstance(value, (list, dict)) else value
        return values

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle as source and location; the receiving process recompiles."""
        return (compile_expression, (self.source, self.location))


def _value_read(
    read: FieldRead,
) -> tuple[str, bool, str, tuple[Any, ...], tuple[str, ...] | None]:
    """What ``read_values`` needs of one field read, worked out once at compile time:
    its name, root, steps, and the steps' keys when all are text (the dict fast path)."""
    fld = read.field
    steps = read.steps[: len(fld.split("."))] if fld else ()
    text = [k for k, _ in steps if isinstance(k, str)]
    keys = tuple(text) if len(text) == len(steps) else None
    return f"{read.root}.{fld}", read.root == "deal", read.root, steps, keys


_ABSENT: Any = object()


def _copy(value: Any) -> Any:
    """A deep copy of a list or dict read into ``values``, or a note if it nests too deeply.

    Something inside that cannot be copied (a mappingproxy, a lock) is recorded in a
    plain form instead of failing the decision that wanted the values.
    """
    try:
        return copy.deepcopy(value)
    except RecursionError:  # a field nested thousands deep: say so, do not fail
        return "<nested too deeply to record>"
    except Exception:  # noqa: BLE001 - any object may refuse deepcopy in its own way
        try:
            return _plain(value)
        except RecursionError:
            return "<nested too deeply to record>"


def _plain(value: Any) -> Any:
    """``value`` with Mappings as dicts and sequences as lists; what cannot be copied as text."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    try:
        return copy.deepcopy(value)
    except Exception:  # noqa: BLE001
        return repr(value)


def _analyze(source: str, location: Location, known_fields: KnownFields | None,
             locate: Locate | None, condition: bool = False) -> Analysis:
    analysis = analyze(source, location, known_fields, locate, reference.evaluate_constant,
                       condition)
    if analysis.ok and known_fields is not None and analysis.where is not None:
        analysis.problems.extend(type_warnings(analysis, known_fields, analysis.where))
    return analysis


def check_expression(
    source: str,
    location: Location,
    *,
    known_fields: KnownFields | None = None,
    locate: Locate | None = None,
    condition: bool = False,
) -> tuple[Problem, ...]:
    """All problems: errors and warnings (``expr-type-mismatch``); never raises.

    ``condition=True`` for a rule's ``when:``: a tuple, list or set as the condition is an
    error (``expr-not-a-condition``; ``deal.budget > 100,000`` is such a tuple).
    """
    return tuple(_analyze(source, location, known_fields, locate, condition).problems)


def compile_expression(
    source: str,
    location: Location,
    *,
    known_fields: KnownFields | None = None,
    locate: Locate | None = None,
    condition: bool = False,
) -> Expression:
    """Check and compile an expression; raises PolicyError carrying all its errors.

    ``condition=True`` for a rule's ``when:`` (see :func:`check_expression`).
    """
    analysis = _analyze(source, location, known_fields, locate, condition)
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
