"""Stage and step ids written as text inside rule expressions must name the policy's own.

``stage in ['prospect', 'negotiation']`` keeps loading after ``negotiation`` is renamed,
and the rule then never fires there again, without a word. References in ``from:`` and
``at:`` are checked when the policy loads; these are the same references, written in an
expression, and get the same check: a stage is the load error ``expr-unknown-stage``
(the engine refuses a deal in a stage the policy lacks, so the text can never match); a
step is the lint warning ``expr-unknown-step`` (a CRM may record steps the policy does
not ask for). Both say "did you mean".
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import replace

from cycleflow.errors import Problem
from cycleflow.expr import Expression
from cycleflow.expr.sandbox import Analysis, did_you_mean
from cycleflow.model.policy import Risk, Stage, Transition

_EQUALITY = (ast.Eq, ast.NotEq)
_MEMBERSHIP = (ast.In, ast.NotIn)
_WRITTEN_LIST = (ast.List, ast.Tuple, ast.Set)


def literal_problems(
    stages: Sequence[Stage], transitions: Iterable[Transition], risks: Iterable[Risk]
) -> list[Problem]:
    """A located problem for each text in a rule that is compared with the stage, or tested
    against the steps done, and names no stage or step of the policy."""
    stage_ids = [s.id for s in stages]
    step_ids = [step.id for s in stages for step in s.steps]
    former_stages = {old: s.id for s in stages for old in s.formerly}
    former_steps = {old: st.id for s in stages for st in s.steps for old in st.formerly}
    expressions: list[Expression] = [c.when for s in stages for c in s.entry]
    expressions += [c.when for t in transitions for c in t.when]
    expressions += [r.when for r in risks]
    out: list[Problem] = []
    for expr in expressions:
        analysis = expr.analysis
        if analysis is None or analysis.tree is None or analysis.where is None:
            continue
        finder = _Finder(analysis)
        for node, kind in finder.named(analysis.tree.body):
            known = stage_ids if kind == "stage" else step_ids
            value = node.value
            if not isinstance(value, str) or value in known:
                continue
            problem = _problem(analysis, node, kind, value, known)
            now_called = (former_stages if kind == "stage" else former_steps).get(value)
            if now_called is not None:  # deals saying it are read as the current id
                problem = replace(problem, suggestion=(
                    f"write '{now_called}': '{value}' is its former id (formerly), and a deal "
                    f"saying '{value}' is read as '{now_called}'"))
            out.append(problem)
    return out


def _problem(analysis: Analysis, node: ast.Constant, kind: str, value: str,
             known: Sequence[str]) -> Problem:
    assert analysis.where is not None
    suggestion = (did_you_mean(value, list(known))
                  or (f"{kind}s: {', '.join(known)}" if known else f"the policy has no {kind}s"))
    if kind == "stage":
        return Problem(
            analysis.where(node), "expr-unknown-stage",
            f"'{value}' is no stage of the policy: a deal's stage is never '{value}', so "
            "this comparison always comes out the same (a stage renamed or removed?)",
            suggestion)
    return Problem(
        analysis.where(node), "expr-unknown-step",
        f"'{value}' is no step of the policy: only a deal whose steps list it anyway "
        "matches (a step renamed or removed?)", suggestion, "warning")


class _Finder:
    """The text constants an expression compares with ``stage`` or tests in ``deal.steps``."""

    def __init__(self, analysis: Analysis) -> None:
        self.analysis = analysis

    def _is(self, node: ast.AST, name: str) -> bool:
        """Whether ``node`` reads the deal's ``name`` (``stage`` may be written bare, and
        ``default(deal.steps, [])`` reads the steps too)."""
        if name == "stage" and isinstance(node, ast.Name) and node.id == "stage":
            return True
        node = _unwrapped(node)
        read = self.analysis.reads.get(node)
        return (read is not None and read.root == "deal" and len(read.steps) == 1
                and read.field == name)

    def named(self, tree: ast.AST) -> Iterator[tuple[ast.Constant, str]]:
        for node in ast.walk(tree):
            if isinstance(node, ast.Compare):
                operands = [node.left, *node.comparators]
                for op, left, right in zip(node.ops, operands, operands[1:], strict=False):
                    yield from self._compared(op, left, right)
            elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                  and len(node.args) == 2):
                yield from self._called(node.func.id, node.args[0], node.args[1])

    def _compared(self, op: ast.cmpop, left: ast.expr,
                  right: ast.expr) -> Iterator[tuple[ast.Constant, str]]:
        if isinstance(op, _EQUALITY):
            for field, other in ((left, right), (right, left)):
                if self._is(field, "stage") and isinstance(other, ast.Constant):
                    yield other, "stage"
        elif isinstance(op, _MEMBERSHIP):
            if self._is(left, "stage") and isinstance(right, _WRITTEN_LIST):
                yield from _texts(right.elts, "stage")
            if self._is(right, "steps") and isinstance(left, ast.Constant):
                yield left, "step"

    def _called(self, name: str, first: ast.expr,
                second: ast.expr) -> Iterator[tuple[ast.Constant, str]]:
        if name == "contains":
            if self._is(first, "steps") and isinstance(second, ast.Constant):
                yield second, "step"
            if self._is(second, "stage") and isinstance(first, _WRITTEN_LIST):
                yield from _texts(first.elts, "stage")
        elif name in ("any_in", "all_in"):
            for steps, written in ((first, second), (second, first)):
                if self._is(steps, "steps") and isinstance(written, _WRITTEN_LIST):
                    yield from _texts(written.elts, "step")


def _unwrapped(node: ast.AST) -> ast.AST:
    """The field inside ``default(field, fallback)``: the text it is compared with must
    still be one the field can hold (the fallback is checked as written)."""
    while (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
           and node.func.id == "default" and node.args):
        node = node.args[0]
    return node


def enum_problems(expressions: Iterable[Expression],
                  enums: Mapping[str, Sequence[str]]) -> list[Problem]:
    """A lint warning (``expr-not-in-enum``) for each text a rule compares with a deal field
    whose values the deal schema lists (a picklist) when the list lacks it: ``deal.region
    == "Apac"`` where the schema allows APAC never matches, and the rule silently always
    or never applies. Stage and steps have their own checks."""
    out: list[Problem] = []
    for expr in expressions:
        analysis = expr.analysis
        if analysis is None or analysis.tree is None or analysis.where is None:
            continue
        for node, field in _picklist_texts(analysis, enums):
            allowed = list(enums[field])
            value = node.value
            if not isinstance(value, str) or value in allowed:
                continue
            folded = [a for a in allowed if a.casefold() == value.strip().casefold()]
            hint = (f"did you mean '{folded[0]}'? Texts compare exactly, case included"
                    if folded else did_you_mean(value, allowed))
            listed = ", ".join(allowed[:12]) + (", …" if len(allowed) > 12 else "")
            out.append(Problem(
                analysis.where(node), "expr-not-in-enum",
                f"'{value}' is not among the values the deal schema allows for deal.{field} "
                f"({listed}): no deal holds it, so this comparison always comes out the same",
                hint or f"write one of: {listed}", "warning"))
    return out


def _picklist_texts(analysis: Analysis, enums: Mapping[str, Sequence[str]]
                    ) -> Iterator[tuple[ast.Constant, str]]:
    """The text constants compared (``==``, ``!=``, ``in``/``not in`` a written list,
    ``contains``) with a deal field listed in ``enums``."""
    def field(node: ast.AST) -> str | None:
        read = analysis.reads.get(_unwrapped(node))
        if read is None or read.root != "deal" or read.field not in enums:
            return None
        if read.field in ("stage", "steps") or not enums[read.field]:
            return None  # stage and steps have their own checks; an enum of no texts is a
        return read.field  # type question (expr-type-mismatch)

    for node in ast.walk(analysis.tree) if analysis.tree is not None else ():
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            for op, left, right in zip(node.ops, operands, operands[1:], strict=False):
                if isinstance(op, _EQUALITY):
                    for name, other in ((field(left), right), (field(right), left)):
                        if name is not None and isinstance(other, ast.Constant):
                            yield other, name
                elif isinstance(op, _MEMBERSHIP) and isinstance(right, _WRITTEN_LIST):
                    name = field(left)
                    if name is not None:
                        yield from ((t, name) for t, _ in _texts(right.elts, ""))
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
              and node.func.id == "contains" and len(node.args) == 2
              and isinstance(node.args[0], _WRITTEN_LIST)):
            name = field(node.args[1])
            if name is not None:
                yield from ((t, name) for t, _ in _texts(node.args[0].elts, ""))


def _texts(items: Iterable[ast.expr], kind: str) -> Iterator[tuple[ast.Constant, str]]:
    for item in items:
        if isinstance(item, ast.Constant):
            yield item, kind
