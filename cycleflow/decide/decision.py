"""What the engine returns: violations, approval needs, decisions and verdicts.

Each is a frozen value with a ``to_dict`` giving the JSON shape of DESIGN.md,
so the command line, reports and embedding apps all see the same thing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from enum import Enum
from typing import Any, Final, Literal

from cycleflow.expr.runtime import MISSING_TEXT

Outcome = Literal["allowed", "blocked", "needs_approval", "not_permitted"]
VerdictKind = Literal["compliant", "violation", "error"]
Kind = Literal["entry", "step", "risk", "approval", "time", "transition", "field"]

MISSING: Final = MISSING_TEXT  # what a check shows for a field the deal lacks: one marker


_PLAIN: Final = frozenset({str, int, float, bool, type(None)})


def json_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` as JSON can hold them: what a rule read from a Python caller's deal (a
    date, a Decimal, an enum, a set) as text or lists; a JSON deal's values as they are."""
    for value in values.values():
        kind = type(value)
        if kind is float and value - value != 0.0:  # NaN, Infinity: no JSON number holds them
            return {k: _jsonable(v) for k, v in values.items()}
        if kind in _PLAIN or (kind is list and _PLAIN.issuperset(map(type, value))):
            continue
        return {k: _jsonable(v) for k, v in values.items()}
    return dict(values)


def _jsonable(value: Any) -> Any:
    if type(value) is float and value - value != 0.0:
        return str(value)  # 'nan', 'inf': what a report can write
    if type(value) in _PLAIN:
        return value
    if isinstance(value, Enum):
        return _jsonable(value.value)
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.isoformat() + "Z"  # naive is UTC, as the engine reads it
    if isinstance(value, (date, time)):  # datetime too
        return value.isoformat()
    if isinstance(value, (Decimal, timedelta)):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (set, frozenset)):
        return sorted((_jsonable(v) for v in value), key=repr)
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, str):  # a subclass: its plain text
        return str.__str__(value)
    if isinstance(value, (int, float)):  # a subclass (bool was plain above)
        return float(value) if isinstance(value, float) else int(value)
    return str(value)


@dataclass(frozen=True, slots=True)
class Violation:
    """One rule that did not hold (or a warning): which, what kind, how bad, why, on what values."""

    rule: str
    kind: Kind
    severity: str
    message: str
    values: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape used in decisions and verdicts."""
        return {
            "rule": self.rule,
            "kind": self.kind,
            "severity": self.severity,
            "message": self.message,
            "values": json_values(self.values),
        }


@dataclass(frozen=True, slots=True)
class ApprovalNeeded:
    """A gate whose approvals are missing or void, and what would satisfy it."""

    gate: str
    roles: tuple[str, ...]
    count: int
    have: int
    reasons: tuple[str, ...] = ()
    because: tuple[str, ...] = ()  # the risks or transition that require the gate

    @property
    def missing(self) -> int:
        """How many more valid approvals are needed."""
        return max(self.count - self.have, 0)

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape used in decisions and verdicts."""
        return {
            "gate": self.gate,
            "roles": list(self.roles),
            "count": self.count,
            "have": self.have,
            "missing": self.missing,
            "reasons": list(self.reasons),
            "because": list(self.because),
        }


@dataclass(frozen=True, slots=True)
class RuleCheck:
    """One rule evaluation, kept for ``explain`` and for audit events."""

    rule: str
    kind: Kind
    outcome: Literal["pass", "fail", "error", "skip"]
    severity: str
    message: str
    expression: str | None = None
    values: Mapping[str, Any] = field(default_factory=dict)
    effect: str | None = None  # for risks: block | warn | approve <gate>

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return {
            "rule": self.rule,
            "kind": self.kind,
            "outcome": self.outcome,
            "severity": self.severity,
            "message": self.message,
            "expression": self.expression,
            "values": json_values(self.values),
            "effect": self.effect,
        }


@dataclass(frozen=True)
class Decision:
    """The engine's answer to "may this deal take this trigger now, by this actor?"."""

    outcome: Outcome
    deal: str | None
    trigger: str
    source: str | None
    target: str | None
    violations: tuple[Violation, ...] = ()
    warnings: tuple[Violation, ...] = ()
    approvals_needed: tuple[ApprovalNeeded, ...] = ()
    checks: tuple[RuleCheck, ...] = ()
    events: tuple[Mapping[str, Any], ...] = ()
    decision_id: str = ""
    at: str = ""

    @property
    def allowed(self) -> bool:
        """True when the transition may proceed."""
        return self.outcome == "allowed"

    def to_dict(self) -> dict[str, Any]:
        """The JSON object ``cycleflow decide`` prints."""
        return {
            "outcome": self.outcome,
            "deal": self.deal,
            "trigger": self.trigger,
            "from": self.source,
            "to": self.target,
            "violations": [v.to_dict() for v in self.violations],
            "warnings": [v.to_dict() for v in self.warnings],
            "approvals_needed": [a.to_dict() for a in self.approvals_needed],
            "events": [{**e, "values": json_values(e.get("values") or {})} for e in self.events],
            "decision_id": self.decision_id,
            "at": self.at,
        }


@dataclass(frozen=True)
class Verdict:
    """The engine's judgement of a deal at rest in its stage."""

    verdict: VerdictKind
    deal: str | None
    stage: str | None
    violations: tuple[Violation, ...] = ()
    warnings: tuple[Violation, ...] = ()
    approvals_needed: tuple[ApprovalNeeded, ...] = ()
    error: str | None = None
    checks: tuple[RuleCheck, ...] = ()

    @property
    def compliant(self) -> bool:
        """True when no rule was violated and the record could be judged."""
        return self.verdict == "compliant"

    def to_dict(self, *, record: int | None = None, source: str | None = None) -> dict[str, Any]:
        """The JSON object of one ``check --format jsonl`` line."""
        out: dict[str, Any] = {
            "deal": self.deal,
            "record": record,
            "stage": self.stage,
            "verdict": self.verdict,
            "violations": [v.to_dict() for v in self.violations],
            "warnings": [v.to_dict() for v in self.warnings],
            "approvals_needed": [a.to_dict() for a in self.approvals_needed],
        }
        if source is not None:
            out["source"] = source
        if self.error is not None:
            out["error"] = self.error
        return out
