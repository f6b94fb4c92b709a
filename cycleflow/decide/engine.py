"""The engine: a pure function of (policy, deal, trigger, actor, now) → decision.

One :class:`Engine` is built per policy and shared freely across threads: it
holds only immutable plans, plus an optional audit sink that serialises its
own writes. The deal record is the state; the engine never mutates it.
"""

from __future__ import annotations

import copy
import math
import os
import re
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from datetime import date, datetime, timezone
from decimal import Decimal
from enum import Enum
from typing import Any, Literal

from cycleflow.audit.base import AuditSink
from cycleflow.audit.masking import REDACTED, mask_value
from cycleflow.compile.compiled import CompiledPolicy, MovePlan, RestPlan, RiskUse, compile_policy
from cycleflow.decide.approvals import (
    GateResult,
    approval_record,
    evaluate_gate,
    fingerprint,
    who,
)
from cycleflow.decide.binding import Binder, last_decision
from cycleflow.decide.clock import iso, wall_clock
from cycleflow.decide.clock import resolve_now as resolve_now  # where callers have found it
from cycleflow.decide.deal import deal_id, lookup, parse_time, steps_done
from cycleflow.decide.decision import (
    MISSING,
    ApprovalNeeded,
    Decision,
    Kind,
    Outcome,
    RuleCheck,
    Verdict,
    Violation,
    json_values,
)
from cycleflow.decide.phrases import phrase
from cycleflow.decide.renames import Renames
from cycleflow.errors import (
    DealError,
    Location,
    MissingField,
    RuleError,
    TransitionBlocked,
    UsageError,
)
from cycleflow.expr import Expression
from cycleflow.expr.codegen import Kernel, generate_kernel
from cycleflow.expr.messages import reason_in
from cycleflow.model.build import did_you_mean
from cycleflow.model.policy import Criterion, Gate, Policy, Step
from cycleflow.model.zones import zone_of

Actor = Mapping[str, Any]
EMPTY_ACTOR: Mapping[str, Any] = {"id": None, "roles": []}


def _stamp(event: dict[str, Any], clock: Callable[[], datetime]) -> dict[str, Any]:
    """``event`` with ``recorded_at`` (UTC, milliseconds) right after ``at``: one event per
    decision carries it."""
    recorded = clock().astimezone(timezone.utc).isoformat(timespec="milliseconds")
    out: dict[str, Any] = {}
    for key, value in event.items():
        out[key] = value
        if key == "at":
            out["recorded_at"] = recorded.replace("+00:00", "Z")
    return out


def resolve_actor(actor: Actor | None) -> Actor | None:
    """The acting user, checked: a mapping whose ``roles`` is a list of role names.

    A role given as one string would otherwise pass ``contains(actor.roles, 'rep')``
    by substring ('prep_intern'); refusing it keeps approval rules from failing open.
    """
    if actor is None:
        return None
    if not isinstance(actor, Mapping):
        raise UsageError(
            "actor must be a mapping such as {'id': 'ann', 'roles': ['sales_rep']}, "
            f"not {type(actor).__name__} {actor!r}"
        )
    roles = actor.get("roles", ())
    if not isinstance(roles, (list, tuple, set, frozenset)) or not all(
        isinstance(r, str) for r in roles
    ):
        raise UsageError(
            f"actor roles must be a list of role names such as ['sales_rep'], not {roles!r}"
        )
    ident = actor.get("id")
    if ident is not None and (not isinstance(ident, (str, int)) or isinstance(ident, bool)):
        raise UsageError(f"actor id must be text (or a number), not {ident!r}")
    if (isinstance(ident, int) or isinstance(roles, (set, frozenset))
            or any(type(r) is not str for r in roles)):
        # approvals name their approver as text ("by": "42"): an id of 42 compared unequal,
        # so a requester approved their own request; judge the actor as text, roles in order
        actor = {**actor, "id": None if ident is None else str(ident),
                 "roles": sorted(str.__str__(r) for r in roles)}  # a StrEnum role: its text
    return actor


@dataclass(frozen=True, slots=True)
class _Rule:
    """A criterion or risk prepared for the hot path: message resolved, evaluator at hand."""

    id: str
    kind: Kind  # entry | transition | risk
    severity: str
    message: str
    expr: Expression
    fn: Callable[..., Any]
    action: str  # "violate_if_false" for criteria; block | warn | approve for risks
    gate: str | None
    always: bool
    effect: str | None

    @classmethod
    def criterion(cls, kind: Kind, c: Criterion, lang: str) -> _Rule:
        return cls(
            c.id,
            kind,
            c.severity,
            c.message.get(lang),
            c.when,
            c.when.evaluator,
            "violate_if_false",
            None,
            False,
            None,
        )

    @classmethod
    def risk(cls, use: RiskUse, lang: str) -> _Rule:
        r = use.risk
        effect = f"approve {r.gate}" if r.action == "approve" else r.action
        return cls(
            r.id,
            "risk",
            r.severity,
            r.message.get(lang),
            r.when,
            r.when.evaluator,
            r.action,
            r.gate,
            use.checkpoint == "always",
            effect,
        )


@dataclass(frozen=True, slots=True)
class _StepCheck:
    """The steps a plan requires, with their violation messages prepared."""

    required: frozenset[str]
    steps: tuple[tuple[str, str, str], ...]  # (step id, check message, violation message)

    @classmethod
    def of(
        cls, steps: Sequence[Step], lang: str, stage_labels: Mapping[str, str] | None = None
    ) -> _StepCheck:
        stage_labels = stage_labels or {}
        return cls(
            frozenset(s.id for s in steps),
            tuple(
                (
                    s.id,
                    phrase(lang, "checked_step", step=s.label.get(lang)),
                    phrase(
                        lang,
                        "step_missing",
                        step=s.label.get(lang),
                        stage=stage_labels.get(s.stage, s.stage),
                    ),
                )
                for s in steps
            ),
        )


def _hot(rules: tuple[_Rule, ...]) -> tuple[tuple[Callable[..., Any], bool, _Rule], ...]:
    """``(evaluator, is_criterion, rule)`` per rule: what :meth:`_Run.rules` loops over."""
    return tuple((r.fn, r.action == "violate_if_false", r) for r in rules)


def _kernel(rules: tuple[_Rule, ...]) -> Kernel | None:
    """The stage's rules generated as one function (None if an expression lacks its tree)."""
    analyses = [r.expr.analysis for r in rules]
    if any(a is None for a in analyses):
        return None
    return generate_kernel(
        [(a, r.action != "violate_if_false") for a, r in zip(analyses, rules, strict=True) if a]
    )[0]


class _Run:
    """The working state of one decision or verdict: what failed, what warned, what it read."""

    __slots__ = (
        "args",
        "trace",
        "violations",
        "warnings",
        "needs",
        "checks",
        "fresh_now",
        "lang",
        "hidden",
    )

    def __init__(self, args: tuple[Any, Any, Any, Any, Any], lang: str, trace: bool,
                 hidden: tuple[str, ...] = ()) -> None:
        self.args = args  # (deal, actor, stage, now, today): positional, for the hot path
        self.lang = lang
        self.trace = trace
        self.violations: list[Violation] = []
        self.warnings: list[Violation] = []
        self.needs: dict[str, list[str]] = {}
        self.checks: list[RuleCheck] = []
        self.fresh_now: set[str] = set()  # gates whose approvals must be fresh now, not at entry
        self.hidden = hidden  # sensitive paths: approval reasons name them, never quote


    def rules(self, hot: Sequence[tuple[Callable[..., Any], bool, _Rule]]) -> None:
        """Evaluate criteria and risks; a rule that cannot be evaluated fails closed.

        ``hot`` is ``(evaluator, is_criterion, rule)`` per rule: the loop does as little
        as possible for the common case of a rule that holds.
        """
        args = self.args
        trace = self.trace
        for fn, criterion, rule in hot:
            try:
                result = fn(*args)
            except RuleError as err:
                self._failed(rule, err)
                continue
            fired = not result if criterion else bool(result)
            if trace:
                self.checks.append(
                    RuleCheck(
                        rule.id,
                        rule.kind,
                        "fail" if fired else "pass",
                        rule.severity,
                        rule.message,
                        rule.expr.source,
                        rule.expr.values_of(*self.args),
                        rule.effect,
                    )
                )
            if fired:
                self._fired(rule)

    def kernel(self, kernel: Kernel, rules: tuple[_Rule, ...]) -> None:
        """Like :meth:`rules` without tracing: one generated call, then only what fired."""
        self.outcomes(kernel(*self.args), rules)

    def outcomes(self, fired: list[Any], rules: tuple[_Rule, ...]) -> None:
        """What a kernel returned: the effect of each rule that fired or could not run."""
        for item in fired:
            if type(item) is int:
                self._fired(rules[item])
            else:
                self._failed(rules[item[0]], item[1])

    def _failed(self, rule: _Rule, err: RuleError) -> None:
        """A rule that could not be evaluated: a blocking ``field`` violation naming why."""
        values = rule.expr.values_of(*self.args)
        # a missing field is the engine's own sentence, in the run's language
        reason = (phrase(self.lang, "missing_field", field=err.field)
                  if type(err) is MissingField else reason_in(err, self.lang))
        self.violations.append(Violation(rule.id, "field", rule.severity, reason, values))
        if self.trace:
            self.checks.append(
                RuleCheck(
                    rule.id,
                    rule.kind,
                    "error",
                    rule.severity,
                    reason,
                    rule.expr.source,
                    values,
                    rule.effect,
                )
            )

    def _fired(self, rule: _Rule) -> None:
        """A criterion that does not hold, or a risk that fires: its effect."""
        action = rule.action
        if action == "approve":
            self.needs.setdefault(rule.gate or "", []).append(rule.id)
            if rule.always:
                self.fresh_now.add(rule.gate or "")
            return
        v = Violation(
            rule.id, rule.kind, rule.severity, rule.message, rule.expr.values_of(*self.args)
        )
        (self.warnings if action == "warn" else self.violations).append(v)

    def steps(self, check: _StepCheck, done: frozenset[str]) -> None:
        if not self.trace and check.required <= done:
            return
        listed = sorted(done, key=str)  # once; each check or violation gets its own copy
        for sid, passed, message in check.steps:
            ok = sid in done
            if self.trace:
                self.checks.append(
                    RuleCheck(
                        sid,
                        "step",
                        "pass" if ok else "fail",
                        "high",
                        passed if ok else message,
                        None,
                        {"deal.steps": list(listed)},
                    )
                )
            if not ok:
                self.violations.append(
                    Violation(sid, "step", "high", message, {"deal.steps": list(listed)})
                )

    def gates(
        self,
        gates: Mapping[str, Gate],
        deal: Mapping[str, Any],
        actor: Actor | None,
        now: datetime,
        as_violation: bool,
        idle: Mapping[str, _IdleGate],
        entered: datetime | None = None,
    ) -> list[ApprovalNeeded]:
        """Judge the gates asked for; at rest, gates needed only to enter are judged at entry.

        ``idle`` holds each gate's sentences (every gate that needs an approval).
        """
        out: list[ApprovalNeeded] = []
        for gid, because in self.needs.items():
            known = idle.get(gid)
            if known is not None and not self.trace and not _mentions(deal, gid):
                # no approval for this gate at all (the usual case): sentences made once
                gate = known.result.gate
                out.append(ApprovalNeeded(gid, gate.roles, gate.count, 0, known.result.reasons,
                                          tuple(because)))
                if as_violation:
                    self.violations.append(
                        Violation(gid, "approval", "high", known.message, {"approvers": []}))
                continue
            valid_at = entered if entered is not None and gid not in self.fresh_now else None
            result: GateResult = evaluate_gate(gates[gid], deal, actor, now, valid_at, self.lang,
                                               self.hidden, moving=not as_violation, gates=gates)
            gate = result.gate
            if self.trace:
                # why other approvals did not count (separation of duties, expired, void):
                # the reasons name fields, never quote sensitive values (approvals.py)
                seen: dict[str, Any] = {"approvers": list(result.approvers)}
                if result.not_counted:
                    seen["not_counted"] = list(result.not_counted)
                self.checks.append(
                    RuleCheck(
                        gid,
                        "approval",
                        "pass" if result.satisfied else "fail",
                        "high",
                        phrase(
                            self.lang,
                            "checked_gate",
                            count=gate.count,
                            roles=", ".join(gate.roles),
                        ),
                        None,
                        seen,
                    )
                )
            have = len(result.approvers)
            if have >= gate.count:
                continue
            out.append(ApprovalNeeded(gid, gate.roles, gate.count, have, result.reasons,
                                      tuple(because)))
            if as_violation:
                # a gate short of approvals needs one or more: idle holds its sentences
                message = idle[gid].missing(gate.count - have, result.reasons)
                self.violations.append(
                    Violation(gid, "approval", "high", message,
                              {"approvers": list(result.approvers)})
                )
        return out


def _mentions(deal: Mapping[str, Any], gid: str) -> bool:
    """Whether the deal carries anything that may be an approval of gate ``gid``
    (anything it cannot tell is one: the full judgement then runs, and says why)."""
    raw = deal.get("approvals")
    if not raw:
        return False
    if type(raw) is not list:
        return True
    return any(type(item) is not dict or item.get("gate") == gid for item in raw)


@dataclass(frozen=True, slots=True)
class _IdleGate:
    """A gate's sentences made once per language: its judgement for a deal that carries no
    approval of it (most gates asked for have none yet), and its violation sentence with
    only the count and the reasons left to fill in."""

    result: GateResult
    template: str  # the "needs N more approval(s)" sentence, {missing} and {reasons} open
    message: str  # the sentence for a deal with no approval of the gate

    @classmethod
    def of(cls, gate: Gate, lang: str) -> _IdleGate:
        result = evaluate_gate(gate, {}, None, _EPOCH, None, lang)
        label = gate.label.get(lang) if gate.label else gate.id
        template = phrase(
            lang,
            "approval_missing",
            missing="{missing}",
            gate=_braced(label),
            roles=_braced(phrase(lang, "roles_joiner").join(gate.roles)),
            reasons="{reasons}",
        )
        message = template.format(missing=gate.count, reasons="; ".join(result.reasons))
        return cls(result, template, message)

    def missing(self, missing: int, reasons: Sequence[str]) -> str:
        """The sentence of this gate still short of ``missing`` approvals, in the language
        it was made in."""
        return self.template.format(missing=missing, reasons="; ".join(reasons))


def _braced(text: str) -> str:
    """``text`` as literal text of a format string."""
    return text.replace("{", "{{").replace("}", "}}")


@dataclass(frozen=True, slots=True)
class _RestProgram:
    """A RestPlan prepared in one language: what ``check`` runs for a stage."""

    plan: RestPlan
    rules: tuple[_Rule, ...]
    steps: _StepCheck
    overrun: str  # the stage label used in max_days messages
    hot: tuple[tuple[Callable[..., Any], bool, _Rule], ...] = ()  # see _hot
    kernel: Kernel | None = None  # all rules in one generated function, when not tracing

    def settled(self, deal: Mapping[str, Any], now: datetime) -> bool:
        """True when the deal has done every step this stage requires and, as of ``now``,
        entered the stage within its time limit: then only its rules can fault it.

        Steps and time are read as the full judgement reads them (``steps_done``,
        ``parse_time``); anything they refuse gives False, and the full judgement then
        says what is wrong.
        """
        try:
            if self.steps.required and not self.steps.required <= steps_done(deal):
                return False
            raw = deal.get("stage_entered_at")
            entered = parse_time(raw, "stage_entered_at") if raw is not None else None
        except DealError:
            return False
        limit = self.plan.stage.max_days
        if entered is None:
            return limit is None
        if entered > now:
            return False
        return limit is None or (now - entered).total_seconds() / 86400 <= limit.days

@dataclass(frozen=True, slots=True)
class _MoveProgram:
    """A MovePlan prepared in one language: what ``decide`` runs for a (stage, trigger)."""

    plan: MovePlan
    rules: tuple[_Rule, ...]
    steps: _StepCheck
    hot: tuple[tuple[Callable[..., Any], bool, _Rule], ...] = ()  # see _hot
    kernel: Kernel | None = None  # all rules in one generated function, when not tracing


class Engine:
    """Judges deals against one compiled policy; safe to share across threads.

    ``audit`` is any object with ``emit(events)`` (see :mod:`cycleflow.audit`);
    when given, every decision's events are written before it is returned.
    ``mask_salt`` (a secret) masks the policy's sensitive fields as a keyed hash,
    ``sha256:<16 hex>``, instead of ``***``, in events, decisions and reports alike: the
    same value masks the same way, so an investigator can correlate without the value.
    ``clock`` is what an event's ``recorded_at`` reads (default: the wall clock, UTC); a
    simulator passes its own calendar, so its logs stay reproducible.
    """

    def __init__(
        self,
        policy: Policy | CompiledPolicy | str | os.PathLike[str],
        *,
        audit: AuditSink | None = None,
        lang: str = "en",
        validate_deals: bool = True,
        mask_salt: bytes | str | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        if isinstance(policy, (str, os.PathLike)):  # a path: load it here
            from cycleflow.api import load_policy

            policy = load_policy(policy)
        if not isinstance(policy, (Policy, CompiledPolicy)):
            raise UsageError(
                "Engine needs a policy: Engine(load_policy('policy.yaml')) or a path to one, "
                f"not {type(policy).__name__}"
            )
        if isinstance(audit, type):  # the class: its emit would take the events as self
            raise UsageError(
                f"audit must be a sink instance, not the class {audit.__name__}: pass "
                f"{audit.__name__}(...), e.g. audit=JsonlSink(\"audit.jsonl\")"
            )
        if audit is not None and not callable(getattr(audit, "emit", None)):
            raise UsageError(
                f"audit must be a sink with an emit(events) method (see cycleflow.audit), "
                f"not {type(audit).__name__}"
            )
        if clock is not None and not callable(clock):
            raise UsageError(f"clock must be a function returning a datetime, not {clock!r}")
        self._clock: Callable[[], datetime] = clock or wall_clock
        if mask_salt is not None and (not isinstance(mask_salt, (bytes, str)) or not mask_salt):
            raise UsageError("mask_salt must be a non-empty secret (bytes or text), not "
                             f"{'an empty one' if not mask_salt else type(mask_salt).__name__}")
        self._mask_salt = mask_salt.encode() if isinstance(mask_salt, str) else mask_salt
        if lang is not None and not isinstance(lang, str):
            raise UsageError(f"lang must be a language code such as 'en' or 'zh-CN', not {lang!r}")
        # zh_CN (the locale form) is zh-CN to the label and sentence lookups
        lang = str.__str__(lang).replace("_", "-") if lang else "en"
        self.compiled = policy if isinstance(policy, CompiledPolicy) else compile_policy(policy)
        self.policy: Policy = self.compiled.policy
        try:  # load_policy checked it; a Policy built by hand may name anything
            self._zone = zone_of(self.policy.timezone) if self.policy.timezone else None
        except ValueError as err:
            raise UsageError(f"the policy's timezone: {err}") from None
        self.audit: AuditSink | None = audit
        self.lang = lang
        self._validator: Callable[[Any], str | None] | None = None
        if validate_deals and self.policy.deal_schema is not None:
            from cycleflow.validate.deal_schema import compile_deal_validator

            self._validator = compile_deal_validator(
                self.policy.deal_schema, Location(self.policy.deal_schema_path or self.policy.path)
            )
        self._masker: Callable[[dict[str, Any]], dict[str, Any]] | None = None
        # only events whose values read a sensitive field (or a parent of one) need masking
        self._sensitive = tuple(
            prefix
            for path in self.policy.sensitive
            for prefix in _prefixes(path if path.startswith("deal.") else f"deal.{path}")
        )
        if self.policy.sensitive:
            self._masker = _make_masker(self.policy.sensitive, self._mask_salt)
        self._renames = Renames.of(self.policy)  # formerly: None for most policies
        stage_labels = {st.id: st.label.get(lang) for st in self.policy.stages}
        self._idle_gates = {gid: _IdleGate.of(g, lang) for gid, g in self.compiled.gates.items()
                            if g.count > 0}
        self._rests = {
            sid: _RestProgram(
                plan,
                rules,
                _StepCheck.of(plan.steps, lang, stage_labels),
                plan.stage.label.get(lang),
                _hot(rules),
                _kernel(rules),
            )
            for sid, plan in self.compiled.rests.items()
            for rules in [
                tuple(_Rule.criterion("entry", c, lang) for c in plan.entry)
                + tuple(_Rule.risk(u, lang) for u in plan.risks)
            ]
        }
        # values keys known at compile time never to need masking: a set lookup per key
        # (a sibling of a sensitive field, deal.customer.screening, is clear)
        self._sensitive_paths = tuple(
            path if path.startswith("deal.") else f"deal.{path}" for path in self.policy.sensitive
        )
        self._clear_keys = frozenset(
            key for key in self._known_value_keys() if not _carries(key, self._sensitive_paths)
        )
        self._moves = {
            key: _MoveProgram(
                plan,
                rules,
                _StepCheck.of(plan.steps, lang, stage_labels),
                _hot(rules),
                _kernel(rules),
            )
            for key, plan in self.compiled.moves.items()
            for rules in [
                tuple(_Rule.criterion(kind, c, lang) for kind, c in plan.criteria)
                + tuple(_Rule.risk(u, lang) for u in plan.risks)
            ]
        }
        # the programs whose rules can read a sensitive field: only their runs are masked
        # (the rest cost nothing; the shipped policy's rules read none)
        clear = self._clear_keys
        self._private_moves = frozenset(
            key for key, m in self._moves.items()
            if any(not r.expr.value_keys <= clear for r in m.rules)
            or any(f"deal.{name}" not in clear for name in m.plan.transition.require)
        )
        self._private_rests = frozenset(
            sid for sid, r in self._rests.items()
            if any(not rule.expr.value_keys <= clear for rule in r.rules)
        )
        # what a bound object's record must carry beyond vars(obj) (properties, class values)
        self._record_fields = self._fields_read()
        self._bind_lock = threading.Lock()
        self._binder: Binder | None = None  # made on the first bind (see _binding)

    # ----------------------------------------------------------------- helpers

    def _known_value_keys(self) -> set[str]:
        """The ``values`` keys rule checks can carry: every field a rule reads, and the
        engine's own (steps, approvers, time in stage, required fields)."""
        keys = {"deal.steps", "approvers", "not_counted", "deal.stage_entered_at",
                "days_in_stage", "max_days", "now"}
        keys.update(f"deal.{name}" for t in self.policy.transitions for name in t.require)
        for plan in self.compiled.rests.values():
            for expr in [c.when for c in plan.entry] + [u.risk.when for u in plan.risks]:
                keys.update(expr.value_keys)
        for move in self.compiled.moves.values():
            for expr in [c.when for _, c in move.criteria] + [u.risk.when for u in move.risks]:
                keys.update(expr.value_keys)
        return keys

    def _fields_read(self) -> tuple[str, ...]:
        """The top-level deal fields the policy can read (rules, gates, ``require:``, the
        reserved keys, the deal schema's properties): what a bound object's record holds."""
        from cycleflow.validate.deal_schema import RESERVED

        names: set[str] = set(RESERVED) | {"owner"}
        exprs = [c.when for st in self.policy.stages for c in st.entry]
        exprs += [c.when for t in self.policy.transitions for c in t.when]
        exprs += [r.when for r in self.policy.risks]
        paths = [path for e in exprs for path in e.fields]
        paths += [name for t in self.policy.transitions for name in t.require]
        for gate in self.policy.gates:
            paths += [*gate.binds, *gate.approvers,
                      *(p for p in gate.separate_from if p != "requester")]
        paths += [name for name in self.policy.known_fields or ()]
        names.update(p.removeprefix("deal.").split(".")[0] for p in paths)
        return tuple(sorted(n for n in names if n.isidentifier() and not n.startswith("_")))

    def _args(
        self, deal: Mapping[str, Any], actor: Actor | None, now: datetime
    ) -> tuple[Any, Any, Any, Any, Any]:
        """What rule evaluators take: (deal, actor, stage, now, today)."""
        return (deal, actor or EMPTY_ACTOR, str(deal.get("stage")), now, self._today(now))

    def _today(self, now: datetime) -> date:
        """``today`` in rules: the date in the policy's ``timezone``, else in ``now``'s offset."""
        zone = self._zone
        return now.date() if zone is None else now.astimezone(zone).date()

    def _validate(self, deal: Any, checked: bool = False) -> None:
        """Refuse a deal the engine cannot judge; ``checked``: its deal schema already held."""
        if type(deal) is not dict and not isinstance(deal, Mapping):
            raise DealError(f"a deal must be an object, got {type(deal).__name__}")
        stage = deal.get("stage")
        if stage is None:
            raise DealError("the deal has no 'stage'")
        if type(stage) is not str:
            raise DealError(f"stage must be a stage id, got {type(stage).__name__}")
        if stage not in self.compiled.rests:
            hint = did_you_mean(str(stage), self.compiled.stage_ids)
            raise DealError(f"unknown stage {stage!r}" + (f" ({hint})" if hint else ""))
        if self._validator is not None and not checked:
            problem = self._validator(deal)
            if problem is not None:
                # a Mapping that is not a dict, or a tuple, is an object or array to the
                # rules: judge its JSON form (only on this failure path, so dicts pay nothing)
                problem = self._validator(plain) if (plain := _as_json(deal)) else problem
            if problem is not None:
                if self._sensitive_paths:
                    problem = _hide_sensitive(problem, deal, self._sensitive_paths,
                                              self._mask_salt)
                raise DealError(f"does not match deal_schema: {problem}")

    def fingerprint(self, deal: Mapping[str, Any], gate: str) -> str:
        """The fingerprint an approval of ``gate`` on this deal should record."""
        if not isinstance(deal, Mapping):
            raise UsageError(f"fingerprint needs the deal (a mapping), not {type(deal).__name__}")
        return fingerprint(self._gate(gate), deal)

    def approval(
        self,
        deal: Mapping[str, Any],
        gate: str,
        actor: Actor,
        *,
        now: datetime | str | None = None,
        role: str | None = None,
        comment: str | None = None,
    ) -> dict[str, Any]:
        """The approval record ``actor`` gives ``gate`` on this deal, to add to its
        ``approvals``: built from the app's verified identity, never from a client's payload
        (the engine trusts a record's role). See :func:`cycleflow.decide.approvals.
        approval_record` for what is refused."""
        return approval_record(self._gate(gate), deal, actor, resolve_now(now), role=role,
                               comment=comment, lang=self.lang)

    def _gate(self, gate: str) -> Gate:
        """The policy's gate ``gate``; a UsageError with a did-you-mean for an unknown one."""
        found = self.compiled.gates.get(gate) if isinstance(gate, str) else None
        if found is None:
            hint = did_you_mean(str(gate), list(self.compiled.gates))
            raise UsageError(f"unknown gate {gate!r}" + (f" ({hint})" if hint else ""))
        return found

    # ----------------------------------------------------------------- decide

    def decide(
        self,
        deal: Mapping[str, Any],
        trigger: str,
        actor: Actor | None = None,
        *,
        now: datetime | str | None = None,
        explain: bool = True,
    ) -> Decision:
        """May ``actor`` move ``deal`` by ``trigger`` at ``now``? Every violation, not the first.

        ``explain=False`` leaves ``Decision.checks`` empty (what passed is not recorded),
        which batches use; with an audit sink every check is recorded regardless.
        """
        return self._decide(deal, trigger, actor, now, explain, self.audit)

    def _decide(
        self,
        deal: Mapping[str, Any],
        trigger: str,
        actor: Actor | None,
        now: datetime | str | None,
        explain: bool,
        sink: AuditSink | None,
    ) -> Decision:
        """:meth:`decide`, its events sent to ``sink`` (None: a question nobody acts on)."""
        moment = resolve_now(now)
        actor = resolve_actor(actor)
        if not isinstance(trigger, str):
            raise UsageError(f"trigger must be a trigger name (text), not {trigger!r}")
        did = uuid.uuid4().hex
        deal = _plain_stage(deal)
        renamed: list[Violation] = []
        if self._renames is not None and isinstance(deal, Mapping):
            deal, renamed = self._renames.current(deal, self.lang)
        source = deal.get("stage") if isinstance(deal, Mapping) else None
        try:
            self._validate(deal)
        except DealError as err:
            # a record that breaks the deal schema, on a move its stage permits, is blocked
            # (it fails closed, like a field a rule cannot read); without a known stage,
            # or with a trigger the stage does not permit, the move is not permitted
            known = self._moves.get((source, trigger)) if type(source) is str else None
            decision = Decision(
                "blocked" if known else "not_permitted",
                deal_id(deal),
                trigger,
                _s(source),
                known.plan.target.id if known else None,
                violations=(Violation("deal", "field", "high", err.message),),
                warnings=tuple(renamed),
                decision_id=did,
                at=iso(moment),
            )
            return self._emit_decision(decision, actor, sink)
        program = self._moves.get((str(source), trigger))
        if program is None:
            refused = self._not_permitted(deal, trigger, did, moment)
            if renamed:
                refused = replace(refused, warnings=(*renamed, *refused.warnings))
            return self._emit_decision(refused, actor, sink)
        plan = program.plan
        run = _Run(self._args(deal, actor, moment), self.lang, explain or sink is not None,
                   self._sensitive_paths)
        run.warnings.extend(renamed)
        needs: list[ApprovalNeeded] = []
        try:
            self._run_move(run, program, deal)
            needs = run.gates(self.compiled.gates, deal, actor, moment, as_violation=False,
                              idle=self._idle_gates)
        except DealError as err:  # a malformed reserved key (approvals, times): fail closed
            run.violations.append(Violation("deal", "field", "high", err.message))
        if (str(source), trigger) in self._private_moves:  # (empty without sensitive fields)
            self._private(run)
        outcome: Outcome
        if run.violations:
            outcome = "blocked"
        elif needs:
            outcome = "needs_approval"
        else:
            outcome = "allowed"
        decision = Decision(
            outcome,
            deal_id(deal),
            trigger,
            plan.source.id,
            plan.target.id,
            tuple(run.violations),
            tuple(run.warnings),
            tuple(needs),
            tuple(run.checks),
            (),
            did,
            iso(moment),
        )
        return self._emit_decision(decision, actor, sink)

    def _run_move(self, run: _Run, program: _MoveProgram, deal: Mapping[str, Any]) -> None:
        plan = program.plan
        if program.steps.steps:
            try:
                done = steps_done(deal)
            except DealError as err:
                run.violations.append(Violation("steps", "field", "high", err.message))
                done = frozenset()
            run.steps(program.steps, done)
        if program.kernel is not None and not run.trace:
            run.kernel(program.kernel, program.rules)
        else:
            run.rules(program.hot)
        for name in plan.transition.require:
            found, value = lookup(deal, name)
            ok = found and _given(value)
            if run.trace:
                run.checks.append(
                    RuleCheck(
                        f"require.{name}",
                        "field",
                        "pass" if ok else "fail",
                        "high",
                        phrase(run.lang, "checked_field", field=name),
                        None,
                        {f"deal.{name}": value if found else MISSING},
                    )
                )
            if not ok:
                run.violations.append(
                    Violation(
                        f"require.{name}",
                        "field",
                        "high",
                        phrase(
                            run.lang, "field_required", trigger=plan.transition.trigger, field=name
                        ),
                        {f"deal.{name}": value if found else MISSING},
                    )
                )
        for gate in plan.gates:
            run.needs.setdefault(gate.id, []).append(f"transition {plan.transition.trigger}")

    def _not_permitted(
        self, deal: Mapping[str, Any], trigger: str, did: str, moment: datetime
    ) -> Decision:
        stage = str(deal.get("stage"))
        allowed = self.compiled.triggers_from.get(stage, ())
        lang = self.lang
        if trigger in self.policy.triggers:
            # the stage as the reader knows it (its label); triggers stay ids: a user types them
            shown = self._stage_label(stage)
            message = (
                phrase(lang, "not_permitted", trigger=trigger, stage=shown,
                       allowed=phrase(lang, "list_joiner").join(allowed))
                if allowed
                else phrase(lang, "not_permitted_final", trigger=trigger, stage=shown)
            )
        else:
            hint = did_you_mean(trigger, self.policy.triggers)
            message = phrase(lang, "no_trigger", trigger=trigger) + (f" ({hint})" if hint else "")
        return Decision(
            "not_permitted",
            deal_id(deal),
            trigger,
            stage,
            None,
            violations=(
                Violation(
                    "transition",
                    "transition",
                    "high",
                    message,
                    {"stage": stage, "trigger": trigger},
                ),
            ),
            decision_id=did,
            at=iso(moment),
        )

    def _stage_label(self, stage: str) -> str:
        """A stage's label in the engine's language (its id when the policy has no such stage)."""
        try:
            return self.policy.stage(stage).label.get(self.lang) or stage
        except KeyError:
            return stage

    # ----------------------------------------------------------------- check

    def check(
        self, deal: Mapping[str, Any], *, now: datetime | str | None = None, explain: bool = False
    ) -> Verdict:
        """Judge a deal at rest: entry criteria, earlier steps, standing risks, time, approvals."""
        return self._check(deal, resolve_now(now), explain, None)

    def _check(
        self,
        deal: Mapping[str, Any],
        moment: datetime,
        explain: bool,
        where: Mapping[str, Any] | None,
    ) -> Verdict:
        """:meth:`check`; ``where`` (the record's ``source`` and line) goes into the
        ``deal.checked`` event's values, so an event leads back to its input."""
        try:
            run, program, needs = self._judge_rest(deal, moment, explain or self.audit is not None)
        except DealError as err:
            renamed: list[Violation] = []
            if self._renames is not None and isinstance(deal, Mapping):
                deal, renamed = self._renames.current(_plain_stage(deal), self.lang)
            verdict = Verdict(  # a former stage id is named as the current one here too
                "error",
                deal_id(deal),
                _s(deal.get("stage")) if isinstance(deal, Mapping) else None,
                warnings=tuple(renamed),
                error=err.message,
            )
            return self._emit_verdict(verdict, moment, where)
        verdict = Verdict(
            "violation" if run.violations else "compliant",
            deal_id(deal),
            program.plan.stage.id,
            tuple(run.violations),
            tuple(run.warnings),
            tuple(needs),
            None,
            tuple(run.checks),
        )
        return self._emit_verdict(verdict, moment, where)

    def check_record(
        self,
        deal: Mapping[str, Any],
        now: datetime | str | None = None,
        record: int | None = None,
        source: str | None = None,
    ) -> dict[str, Any]:
        """``check(deal, now=now).to_dict(record=..., source=...)`` without the Verdict: batches.

        The result is the same dict, key for key; with an audit sink the events are
        written as by :meth:`check`.
        """
        if type(now) is not datetime or now.tzinfo is None:
            now = resolve_now(now)
        if self.audit is not None:
            where = {k: v for k, v in (("source", source), ("record", record)) if v is not None}
            return self._check(deal, now, False, where).to_dict(record=record, source=source)
        fired: list[Any] | None = None
        stage = deal.get("stage") if type(deal) is dict else None
        program = self._rests.get(stage) if type(stage) is str else None
        if program is not None and program.kernel is not None and (
                self._renames is None or not self._renames.touches(deal)) and (
                self._validator is None or self._validator(deal) is None):
            # the batch hot path: a valid deal whose rules all hold, whose steps are done
            # and whose time is within the limit is compliant, with nothing more to build
            zone = self._zone  # as _today, inline: the hot path
            today = now.date() if zone is None else now.astimezone(zone).date()
            fired = program.kernel(deal, EMPTY_ACTOR, stage, now, today)
            if not fired and program.settled(deal, now):
                value = deal.get("id")
                out: dict[str, Any] = {
                    "deal": None if value is None else str(value), "record": record,
                    "stage": stage, "verdict": "compliant", "violations": [],
                    "warnings": [], "approvals_needed": []}
                if source is not None:
                    out["source"] = source
                return out
        try:
            # what the kernel found is judged in full, without running it or validating again
            run, program, needs = self._judge_rest(deal, now, False, fired)
        except DealError:
            return self.check(deal, now=now).to_dict(record=record, source=source)
        value = deal.get("id")
        out = {
            "deal": None if value is None else str(value),
            "record": record,
            "stage": program.plan.stage.id,
            "verdict": "violation" if run.violations else "compliant",
            "violations": [v.to_dict() for v in run.violations] if run.violations else [],
            "warnings": [v.to_dict() for v in run.warnings] if run.warnings else [],
            "approvals_needed": [a.to_dict() for a in needs] if needs else [],
        }
        if source is not None:
            out["source"] = source
        return out

    def _judge_rest(
        self, deal: Mapping[str, Any], moment: datetime, trace: bool,
        fired: list[Any] | None = None,
    ) -> tuple[_Run, _RestProgram, list[ApprovalNeeded]]:
        """The work of ``check``: validate, run the stage's checks, judge the gates asked for.

        ``fired`` is what the stage's kernel returned for this deal, already validated.
        """
        if type(deal) is not dict or type(deal.get("stage")) is not str:
            deal = _plain_stage(deal)  # an app's StrEnum stage is its text
        renamed: list[Violation] = []
        if self._renames is not None and isinstance(deal, Mapping):
            deal, renamed = self._renames.current(deal, self.lang)
            if renamed:
                fired = None  # the kernel read the former ids: judge the current ones
        self._validate(deal, checked=fired is not None)
        program = self._rests[deal["stage"]]
        run = _Run(self._args(deal, None, moment), self.lang, trace, self._sensitive_paths)
        run.warnings.extend(renamed)
        entered = self._run_rest(run, program, deal, moment, fired)
        needs = (
            run.gates(self.compiled.gates, deal, None, moment, as_violation=True, entered=entered,
                      idle=self._idle_gates)
            if run.needs
            else []
        )
        if program.plan.stage.id in self._private_rests and (
                run.violations or run.warnings or run.checks):
            self._private(run)
        return run, program, needs

    def _private(self, run: _Run) -> None:
        """Mask the policy's sensitive fields in what a run will show (reports, explain,
        events): a rule's values, and its message where it quotes one (a rule that could not
        read deal.ssn as a date said so, SSN included, in every report format)."""
        masker, clear, sensitive = self._masker, self._clear_keys, self._sensitive
        assert masker is not None
        lists: tuple[list[Any], ...] = (run.violations, run.warnings, run.checks)
        for items in lists:
            for i, item in enumerate(items):
                values = item.values
                if values.keys() <= clear:  # the common case: keys known to be clear
                    continue
                if any(k not in clear and k.startswith(sensitive) for k in values):
                    shown = masker({"values": values, "message": item.message})
                    message = shown["message"]
                    if getattr(item, "outcome", None) == "error" or item.kind == "field":
                        # a rule that could not read a sensitive field may quote what it
                        # read, transformed or short ('987', upper(email)): hide every quote
                        message = _QUOTED.sub("'***'", message)
                    items[i] = replace(item, values=shown["values"], message=message)

    def _run_rest(
        self, run: _Run, program: _RestProgram, deal: Mapping[str, Any], now: datetime,
        fired: list[Any] | None = None,
    ) -> datetime | None:
        """Run a stage's checks (``fired``: its kernel's result, when already run); returns
        when the deal entered the stage, if it says."""
        if fired is not None:
            run.outcomes(fired, program.rules)
        elif program.kernel is not None and not run.trace:
            run.kernel(program.kernel, program.rules)
        else:
            run.rules(program.hot)
        if program.steps.steps:
            run.steps(program.steps, steps_done(deal))
        raw = deal.get("stage_entered_at")
        entered = parse_time(raw, "stage_entered_at") if raw is not None else None
        stage = program.plan.stage
        limit = stage.max_days
        if entered is not None and entered > now:
            # a deal cannot have entered its stage after the check: left alone, max_days
            # could never fire for it (as an approval dated in the future does not count)
            self._entered_later(run, program, raw, now)
            return None
        if limit is None:
            return entered
        rule = f"max_days.{stage.id}"
        if entered is None:
            run.violations.append(
                Violation(
                    rule,
                    "field",
                    "medium",
                    phrase(run.lang, "missing_field", field="deal.stage_entered_at"),
                    {"deal.stage_entered_at": MISSING},
                )
            )
            return None
        days = (now - entered).total_seconds() / 86400
        over = days > limit.days
        if run.trace or over:
            values = {
                "deal.stage_entered_at": raw,
                "days_in_stage": round(days, 1),
                "max_days": limit.days,
            }
            if run.trace:
                run.checks.append(
                    RuleCheck(
                        rule,
                        "time",
                        "fail" if over else "pass",
                        "medium",
                        phrase(run.lang, "checked_time", limit=limit.days, stage=stage.id),
                        None,
                        values,
                    )
                )
            if over:
                v = Violation(
                    rule,
                    "time",
                    "medium",
                    phrase(
                        run.lang, "over_limit", days=days, stage=program.overrun, limit=limit.days
                    ),
                    values,
                )
                (run.warnings if limit.action == "warn" else run.violations).append(v)
        return entered

    def _entered_later(
        self, run: _Run, program: _RestProgram, raw: Any, now: datetime
    ) -> None:
        """A ``stage_entered_at`` later than the check: a blocking ``field`` violation.

        Named ``max_days.<stage>`` when the stage has a time limit (the rule it defeats),
        else ``stage_entered_at``; severity medium, as for a missing entry time.
        """
        stage = program.plan.stage
        rule = f"max_days.{stage.id}" if stage.max_days is not None else "stage_entered_at"
        values: dict[str, Any] = {"deal.stage_entered_at": raw, "now": iso(now)}
        if stage.max_days is not None:
            values["max_days"] = stage.max_days.days
        message = phrase(run.lang, "entered_later", stage=program.overrun, at=raw, now=iso(now))
        run.violations.append(Violation(rule, "field", "medium", message, values))
        if run.trace:
            run.checks.append(
                RuleCheck(rule, "time" if stage.max_days is not None else "field", "error",
                          "medium", message, None, dict(values))
            )

    # ----------------------------------------------------------------- apply

    def apply(
        self,
        deal: Mapping[str, Any],
        trigger: str,
        actor: Actor | None = None,
        *,
        now: datetime | str | None = None,
    ) -> dict[str, Any]:
        """The deal after ``trigger``, as a new record; :class:`TransitionBlocked` if refused."""
        moment = resolve_now(now)
        decision = self.decide(deal, trigger, actor, now=moment)
        if not decision.allowed:
            raise TransitionBlocked(decision)
        try:
            moved = copy.deepcopy(dict(deal))
        except (TypeError, RecursionError, copy.Error):  # a lock, a socket, runaway nesting
            moved = dict(deal)  # still a new record; its nested values are the caller's
        moved["stage"] = decision.target
        moved["stage_entered_at"] = iso(moment)
        self._emit_applied(decision, actor, moment)
        return moved

    def _emit_applied(
        self, decision: Decision | None, actor: Actor | None, moment: datetime
    ) -> None:
        """The ``transition.applied`` event: the deal did move (apply, or a bound object)."""
        if self.audit is None or decision is None:
            return
        base = self._base(
            decision.decision_id,
            moment,
            decision.deal,
            actor,
            decision.trigger,
            decision.source,
            decision.target,
        )
        self.audit.emit([_stamp(self._event(base, "transition.applied", "applied"), self._clock)])

    # ----------------------------------------------------------------- bind

    def bind(self, obj: Any, *, record: Callable[[Any], Mapping[str, Any]] | None = None) -> Any:
        """Attach the policy's machine to an app object so ``obj.advance(actor=...)`` obeys it.

        The object keeps its stage in ``obj.stage``. A refused trigger (blocked, needing
        approval, or not permitted from the stage) raises :class:`TransitionBlocked` and
        leaves the object unchanged; ``obj.may_advance(actor=...)`` asks without acting
        (and without audit events). The machine is built once per engine and each object
        is added to it as a model, so it stays referenced until :meth:`unbind`.
        See :mod:`cycleflow.decide.binding`.
        """
        return self._binding().bind(obj, record=record)

    def bound(
        self, obj: Any, *, record: Callable[[Any], Mapping[str, Any]] | None = None
    ) -> AbstractContextManager[Any]:
        """:meth:`bind` for one ``with`` block (a request), then :meth:`unbind`, also when
        the block raises: the engine keeps no reference to the object, and the object's
        ``__dict__`` holds only its own fields again. Read :meth:`last_decision` inside."""
        return self._binding().bound(obj, record=record)

    def last_decision(self, obj: Any) -> Decision | None:
        """The decision of the last trigger tried on a bound object (allowed or refused)."""
        return last_decision(obj)

    def unbind(self, obj: Any) -> None:
        """Detach an object :meth:`bind` attached: its trigger methods go, and the engine no
        longer references it. Its ``stage`` and ``stage_entered_at`` stay."""
        self._binding().unbind(obj)

    def _machine_for_binding(self) -> Any:
        """The one machine bound objects are models of (built on first use)."""
        return self._binding().machine()

    def _binding(self) -> Binder:
        """This engine's binder, made on first use: an engine that never binds holds no
        machine and no reference cycle, so dropping it frees it at once (hot reload)."""
        with self._bind_lock:
            if self._binder is None:
                self._binder = Binder(self, self._record_fields)
            return self._binder

    def __copy__(self) -> Engine:
        """A shallow copy shares the compiled policy but binds objects of its own: a binder
        belongs to one engine (its sink, its machine)."""
        clone = object.__new__(type(self))
        clone.__dict__.update(self.__dict__)
        clone._bind_lock = threading.Lock()
        clone._binder = None
        return clone

    # ----------------------------------------------------------------- audit

    def _base(
        self,
        did: str,
        moment: datetime | str,
        deal_ref: str | None,
        actor: Actor | None,
        trigger: str | None,
        source: str | None,
        target: str | None,
    ) -> dict[str, Any]:
        """Every field of one decision's events, in event order; the shared ones filled in.

        Events are copies of it with the per-event fields set: copying a dict and setting
        keys it already has costs half of building a literal from ``**base`` (hot path).
        """
        return {
            "event": None,
            "at": moment if isinstance(moment, str) else iso(moment),
            "decision_id": did,
            "deal": deal_ref,
            "policy": self.policy.id,
            "policy_version": self.policy.version,
            "policy_sha256": self.policy.sha256,
            "actor": actor.get("id") if actor else None,
            "trigger": trigger,
            "from": source,
            "to": target,
            "rule": None,
            "kind": None,
            "outcome": None,
            "severity": None,
            "values": {},
            "message": None,
        }

    def _event(
        self, base: dict[str, Any], name: str, outcome: str, message: str | None = None
    ) -> dict[str, Any]:
        """A transition or summary event: it reads no field, so there is nothing to mask."""
        event = base.copy()
        event["event"] = name
        event["outcome"] = outcome
        event["values"] = {}
        event["message"] = message
        return event

    def _check_events(
        self, base: dict[str, Any], checks: Sequence[RuleCheck]
    ) -> list[dict[str, Any]]:
        """The ``rule.evaluated`` events of rule checks (the hot path of an audited decision).

        The checks are masked already (:meth:`_private` runs before any Decision or
        Verdict is built), so the events carry no sensitive value without a second pass.
        """
        events = []
        copy = base.copy
        for c in checks:
            event = copy()
            event["event"] = "rule.evaluated"
            event["rule"] = c.rule
            event["kind"] = c.kind
            event["outcome"] = c.outcome
            event["severity"] = c.severity
            # as JSON has them (a copy): what a Python caller's deal holds (a Decimal, a
            # date) would fail any sink that writes JSON itself
            event["values"] = json_values(c.values)
            event["message"] = c.message
            events.append(event)
        return events

    def _emit_decision(
        self, decision: Decision, actor: Actor | None, sink: AuditSink | None
    ) -> Decision:
        if sink is None:
            return decision
        base = self._base(
            decision.decision_id,
            decision.at,
            decision.deal,
            actor,
            decision.trigger,
            decision.source,
            decision.target,
        )
        checked = {c.rule for c in decision.checks}
        # what no rule check recorded: a trigger not permitted, a malformed deal
        unchecked = [
            RuleCheck(v.rule, v.kind, "fail", v.severity, v.message, None, v.values)
            for v in decision.violations
            if v.rule not in checked
        ]
        events = [_stamp(self._event(base, "transition.requested", "requested"), self._clock)]
        events += self._check_events(base, decision.checks)
        if unchecked:
            events += self._check_events(base, unchecked)
        events.append(self._event(base, f"transition.{decision.outcome}", decision.outcome))
        sink.emit(events)
        # the decision is still private to this call: attach its events in place rather
        # than build it again (a 12-field frozen dataclass costs more than its events' base)
        object.__setattr__(decision, "events", tuple(events))
        return decision

    def _emit_verdict(
        self, verdict: Verdict, moment: datetime, where: Mapping[str, Any] | None = None
    ) -> Verdict:
        if self.audit is None:
            return verdict
        base = self._base(uuid.uuid4().hex, moment, verdict.deal, None, None, verdict.stage, None)
        events = self._check_events(base, verdict.checks)
        checked = _stamp(self._event(base, "deal.checked", verdict.verdict, verdict.error),
                         self._clock)
        if where:
            checked["values"] = dict(where)
        events.append(checked)
        self.audit.emit(events)
        return verdict

    def record_batch(
        self,
        name: Literal["batch.started", "batch.finished"],
        outcome: str,
        values: Mapping[str, Any],
        *,
        now: datetime | str | None = None,
    ) -> None:
        """Log the start or end of a batch run (``check --audit``): its ``values`` name the
        run and, at the end, how many records it judged, so the log shows whether a run
        covered its input or was cut short. No-op without a sink."""
        if self.audit is None:
            return
        base = self._base(uuid.uuid4().hex, resolve_now(now), None, None, None, None, None)
        event = _stamp(self._event(base, name, outcome), self._clock)
        event["values"] = dict(values)
        self.audit.emit([event])

    def record_unreadable(
        self,
        message: str,
        *,
        now: datetime | str | None = None,
        source: str | None = None,
        record: int | None = None,
    ) -> None:
        """Log a ``deal.checked`` event with outcome ``error`` for a record that could not
        even be read (invalid JSON, not an object, over the size cap): a batch's log then
        accounts for every input record, not only those that parsed. No-op without a sink."""
        if self.audit is None:
            return
        base = self._base(uuid.uuid4().hex, resolve_now(now), None, None, None, None, None)
        event = _stamp(self._event(base, "deal.checked", "error", message), self._clock)
        event["values"] = {k: v for k, v in (("source", source), ("record", record))
                           if v is not None}
        self.audit.emit([event])


#: A quoted literal in an error message (repr's quotes, with escapes inside).
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)  # any moment: judging no approval reads none
_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")




def _given(value: Any) -> bool:
    """What ``require:`` accepts: a value that is present and not empty (text of only
    spaces is empty to an officer: "   " as a lost reason records no reason)."""
    if isinstance(value, str):
        return bool(who(value))  # "\u200b" or a BOM alone shows nothing either
    return value is not None and value != [] and value != {}




def _plain_stage(deal: Any) -> Any:
    """``deal`` with a stage given as a ``str`` subclass (an app's ``StrEnum``) as plain
    text, which is what the policy's stage ids are compared with (a copy; else as is)."""
    if isinstance(deal, Mapping):
        stage = deal.get("stage")
        if type(stage) is not str and isinstance(stage, str):
            return {**deal, "stage": str.__str__(stage)}
    return deal



def _s(value: Any) -> str | None:
    return None if value is None else str(value)



def _as_json(deal: Any) -> dict[str, Any] | None:
    """``deal`` as a JSON read would give it, or None when it holds nothing to convert (or
    nests too deeply to look): every Mapping a dict, every tuple a list, and the values an
    ORM holds as JSON has them: a finite Decimal a number, a date its ISO text (a naive
    datetime is UTC, as :func:`parse_time` reads it), an Enum its value. Only the schema
    check reads this form; the rules read the deal as given."""
    found = False

    def plain(value: Any) -> Any:
        nonlocal found
        if isinstance(value, Mapping):
            found = found or type(value) is not dict
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            found = found or type(value) is not list
            return [plain(v) for v in value]
        if isinstance(value, Enum):
            found = True
            return plain(value.value)
        if isinstance(value, Decimal):
            if not value.is_finite() or not math.isfinite(float(value)):
                return value  # NaN, Infinity, beyond a JSON number's range: refused as is
            found = True
            return int(value) if value == value.to_integral_value() else float(value)
        if isinstance(value, datetime):
            found = True
            moment = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
            return iso(moment)
        if isinstance(value, date):
            found = True
            return value.isoformat()
        if isinstance(value, str) and type(value) is not str:
            found = True
            return str.__str__(value)
        return value

    try:
        converted = plain(deal)
    except RecursionError:
        return None
    return converted if found else None


_INDEX = re.compile(r"\[\d+\]")


def _hide_sensitive(
    problem: str, deal: Any, paths: Sequence[str], salt: bytes | None = None
) -> str:
    """A schema problem with the values of sensitive fields it quotes replaced by ``***``
    (by their keyed hash with a ``salt``, as the masker writes them).

    The validator says ``deal.a.b: <repr of the value> <why>``; the value at that path
    (or a parent quoting it) is read back and its repr hidden, and any sensitive text of
    four characters or more quoted elsewhere too. The reason stays readable.
    """
    where, sep, rest = problem.partition(": ")
    field = _INDEX.sub("", where)
    if sep and _carries(field, paths):
        sub = field.removeprefix("deal").removeprefix(".")
        found, value = lookup(deal, sub) if sub else (True, deal)
        # a null is shown, as the masker shows it: its absence is no secret, and '***' made
        # it look like a value
        if found and value is not None:
            text = repr(value)  # validators quote it whole (jsonschema) or cut (ours)
            masked = REDACTED if salt is None else mask_value(value, salt)
            for shown in (text, text[:77] + "..."):
                rest = rest.replace(shown, masked, 1)  # a message naming keys only stays
    for path in paths:
        found, value = lookup(deal, path.removeprefix("deal."))
        if found and isinstance(value, str) and len(value) >= 4:
            rest = rest.replace(value, REDACTED if salt is None else mask_value(value, salt))
    return f"{where}{sep}{rest}"


def _carries(key: str, paths: Sequence[str]) -> bool:
    """Whether a ``values`` key can hold a sensitive field: the field, a part of it, a parent."""
    return any(
        key == path or key.startswith(path + ".") or path.startswith(key + ".") for path in paths
    )


def _prefixes(path: str) -> list[str]:
    """``deal.a.b`` → the keys a values map may use to carry it: ``deal.a.b`` and ``deal.a``."""
    parts = path.split(".")
    return [".".join(parts[:i]) for i in range(len(parts), 1, -1)]


def _make_masker(
    paths: Sequence[str], salt: bytes | None = None
) -> Callable[[dict[str, Any]], dict[str, Any]]:
    from cycleflow.audit.masking import Masker

    masker: Callable[[dict[str, Any]], dict[str, Any]] = Masker(paths, salt=salt)
    return masker
