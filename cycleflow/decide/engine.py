"""The engine: a pure function of (policy, deal, trigger, actor, now) → decision.

One :class:`Engine` is built per policy and shared freely across threads: it
holds only immutable plans, plus an optional audit sink that serialises its
own writes. The deal record is the state; the engine never mutates it.
"""

from __future__ import annotations

import copy
import threading
import uuid
from dataclasses import replace
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from cycleflow.compile.compiled import CompiledPolicy, MovePlan, RestPlan, RiskUse, compile_policy
from cycleflow.decide.approvals import GateResult, evaluate_gate, fingerprint
from cycleflow.decide.deal import deal_id, lookup, parse_time, steps_done
from cycleflow.decide.decision import (
    MISSING,
    ApprovalNeeded,
    Decision,
    RuleCheck,
    Verdict,
    Violation,
)
from cycleflow.errors import DealError, RuleError, TransitionBlocked, UsageError
from cycleflow.expr import EvalContext, Expression
from cycleflow.model.build import did_you_mean
from cycleflow.model.policy import Criterion, Gate, Policy

Actor = Mapping[str, Any]
EMPTY_ACTOR: Mapping[str, Any] = {"id": None, "roles": []}


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _now(now: datetime | str | None) -> datetime:
    if now is None:
        return datetime.now(timezone.utc)
    if isinstance(now, str):
        try:
            return parse_time(now, "now")
        except DealError as err:
            raise UsageError(str(err)) from None
    return now if now.tzinfo else now.replace(tzinfo=timezone.utc)


class _Run:
    """The working state of one decision or verdict: what failed, what warned, what it read."""

    __slots__ = ("ctx", "lang", "trace", "violations", "warnings", "needs", "checks", "fresh_now")

    def __init__(self, ctx: EvalContext, lang: str, trace: bool) -> None:
        self.ctx = ctx
        self.lang = lang
        self.trace = trace
        self.violations: list[Violation] = []
        self.warnings: list[Violation] = []
        self.needs: dict[str, list[str]] = {}
        self.checks: list[RuleCheck] = []
        self.fresh_now: set[str] = set()   # gates whose approvals must be fresh now, not at entry

    def values(self, expr: Expression) -> dict[str, Any]:
        return expr.read_values(self.ctx)

    def test(self, rule: str, kind: str, severity: str, expr: Expression, message: str,
             effect: str | None = None) -> bool | None:
        """Evaluate one expression: True/False, or None when it failed closed (already recorded)."""
        try:
            result = bool(expr.evaluate(self.ctx))
        except RuleError as err:
            values = self.values(expr)
            self.violations.append(Violation(rule, "field", severity, err.reason, values))
            if self.trace:
                self.checks.append(RuleCheck(rule, kind, "error", severity, err.reason,
                                             expr.source, values, effect))
            return None
        if self.trace:
            self.checks.append(RuleCheck(rule, kind, "pass" if result == (kind != "risk") else
                                         "fail", severity, message, expr.source,
                                         self.values(expr), effect))
        return result

    def criterion(self, kind: str, c: Criterion) -> None:
        message = c.message.get(self.lang)
        if self.test(c.id, kind, c.severity, c.when, message) is False:
            self.violations.append(Violation(c.id, kind, c.severity, message, self.values(c.when)))

    def risk(self, use: RiskUse) -> None:
        r = use.risk
        message = r.message.get(self.lang)
        effect = f"approve {r.gate}" if r.action == "approve" else r.action
        if not self.test(r.id, "risk", r.severity, r.when, message, effect):
            return
        values = self.values(r.when)
        if r.action == "block":
            self.violations.append(Violation(r.id, "risk", r.severity, message, values))
        elif r.action == "warn":
            self.warnings.append(Violation(r.id, "risk", r.severity, message, values))
        elif r.gate is not None:
            self.needs.setdefault(r.gate, []).append(r.id)
            if use.checkpoint == "always":
                self.fresh_now.add(r.gate)

    def steps(self, steps: Sequence[Any], done: frozenset[str], stage_of: str) -> None:
        for step in steps:
            ok = step.id in done
            label = step.label.get(self.lang)
            if self.trace:
                self.checks.append(RuleCheck(step.id, "step", "pass" if ok else "fail", "high",
                                             f"step '{label}' done", None, {"steps": sorted(done)}))
            if not ok:
                self.violations.append(Violation(
                    step.id, "step", "high",
                    f"required step '{label}' of stage '{step.stage}' is not done",
                    {"deal.steps": sorted(done)}))

    def gates(self, gates: Mapping[str, Gate], deal: Mapping[str, Any], actor: Actor | None,
              now: datetime, as_violation: bool,
              entered: datetime | None = None) -> list[ApprovalNeeded]:
        """Judge every gate asked for; at rest, gates needed only to enter are judged as of entry."""
        out: list[ApprovalNeeded] = []
        for gid, because in self.needs.items():
            valid_at = entered if entered is not None and gid not in self.fresh_now else None
            result: GateResult = evaluate_gate(gates[gid], deal, actor, now, valid_at)
            gate = result.gate
            if self.trace:
                self.checks.append(RuleCheck(gid, "approval", "pass" if result.satisfied else
                                             "fail", "high", f"{gate.count} approval(s) from "
                                             f"{', '.join(gate.roles)}", None,
                                             {"approvers": list(result.approvers)}))
            if result.satisfied:
                continue
            need = ApprovalNeeded(gid, gate.roles, gate.count, len(result.approvers),
                                  result.reasons, tuple(because))
            out.append(need)
            if as_violation:
                label = gate.label.get(self.lang) if gate.label else gid
                self.violations.append(Violation(
                    gid, "approval", "high",
                    f"needs {need.missing} more approval(s) from {label} "
                    f"({' or '.join(gate.roles)}): " + "; ".join(result.reasons),
                    {"approvers": list(result.approvers)}))
        return out


class Engine:
    """Judges deals against one compiled policy; safe to share across threads.

    ``audit`` is any object with ``emit(events)`` (see :mod:`cycleflow.audit`);
    when given, every decision's events are written before it is returned.
    """

    def __init__(self, policy: Policy | CompiledPolicy, *, audit: Any = None,
                 lang: str = "en", validate_deals: bool = True) -> None:
        self.compiled = policy if isinstance(policy, CompiledPolicy) else compile_policy(policy)
        self.policy: Policy = self.compiled.policy
        self.audit = audit
        self.lang = lang
        self._validator: Callable[[Any], None] | None = None
        if validate_deals and self.policy.deal_schema is not None:
            from cycleflow.validate.deal_schema import compile_deal_validator
            self._validator = compile_deal_validator(self.policy.deal_schema,
                                                     self.policy.stages[0].location)
        self._bind_lock = threading.Lock()
        self._bind_machine: Any = None
        self._masker: Callable[[dict[str, Any]], dict[str, Any]] | None = None
        if self.policy.sensitive:
            self._masker = _make_masker(self.policy.sensitive)

    # ----------------------------------------------------------------- helpers

    def _context(self, deal: Mapping[str, Any], actor: Actor | None, now: datetime) -> EvalContext:
        return EvalContext(deal=deal, actor=actor or EMPTY_ACTOR, stage=str(deal.get("stage")),
                           now=now, today=now.date())

    def _validate(self, deal: Any) -> None:
        if not isinstance(deal, Mapping):
            raise DealError(f"a deal must be an object, got {type(deal).__name__}")
        stage = deal.get("stage")
        if stage is None:
            raise DealError("the deal has no 'stage'")
        if stage not in self.compiled.rests:
            hint = did_you_mean(str(stage), self.compiled.stage_ids)
            raise DealError(f"unknown stage {stage!r}" + (f" ({hint})" if hint else ""))
        if self._validator is not None:
            import fastjsonschema
            try:
                self._validator(deal)
            except fastjsonschema.JsonSchemaException as err:
                raise DealError(f"does not match deal_schema: {err.message}") from None

    def fingerprint(self, deal: Mapping[str, Any], gate: str) -> str:
        """The fingerprint an approval of ``gate`` on this deal should record."""
        try:
            return fingerprint(self.compiled.gates[gate], deal)
        except KeyError:
            raise UsageError(f"unknown gate {gate!r}") from None

    # ----------------------------------------------------------------- decide

    def decide(self, deal: Mapping[str, Any], trigger: str, actor: Actor | None = None, *,
               now: datetime | str | None = None) -> Decision:
        """May ``actor`` move ``deal`` with ``trigger`` at ``now``? Every violation, not the first."""
        moment = _now(now)
        did = uuid.uuid4().hex
        source = deal.get("stage") if isinstance(deal, Mapping) else None
        try:
            self._validate(deal)
        except DealError as err:
            decision = Decision("not_permitted", deal_id(deal), trigger, _s(source), None,
                                violations=(Violation("deal", "field", "high", err.message),),
                                decision_id=did, at=_iso(moment))
            return self._emit_decision(decision, actor)
        plan = self.compiled.moves.get((str(source), trigger))
        if plan is None:
            return self._emit_decision(self._not_permitted(deal, trigger, did, moment), actor)
        run = _Run(self._context(deal, actor, moment), self.lang, trace=True)
        self._run_move(run, plan, deal, actor, moment)
        needs = run.gates(self.compiled.gates, deal, actor, moment, as_violation=False)
        if run.violations:
            outcome = "blocked"
        elif needs:
            outcome = "needs_approval"
        else:
            outcome = "allowed"
        decision = Decision(outcome, deal_id(deal), trigger, plan.source.id, plan.target.id,
                            tuple(run.violations), tuple(run.warnings), tuple(needs),
                            tuple(run.checks), (), did, _iso(moment))
        return self._emit_decision(decision, actor)

    def _run_move(self, run: _Run, plan: MovePlan, deal: Mapping[str, Any], actor: Actor | None,
                  now: datetime) -> None:
        if plan.steps:
            try:
                done = steps_done(deal)
            except DealError as err:
                run.violations.append(Violation("steps", "field", "high", err.message))
                done = frozenset()
            run.steps(plan.steps, done, plan.source.id)
        for kind, criterion in plan.criteria:
            run.criterion(kind, criterion)
        for name in plan.transition.require:
            found, value = lookup(deal, name)
            ok = found and value not in (None, "", [], {})
            if run.trace:
                run.checks.append(RuleCheck(f"require.{name}", "field", "pass" if ok else "fail",
                                            "high", f"deal.{name} is given", None,
                                            {f"deal.{name}": value if found else MISSING}))
            if not ok:
                run.violations.append(Violation(
                    f"require.{name}", "field", "high",
                    f"'{plan.transition.trigger}' requires deal.{name}",
                    {f"deal.{name}": value if found else MISSING}))
        for use in plan.risks:
            run.risk(use)
        for gate in plan.gates:
            run.needs.setdefault(gate.id, []).append(f"transition {plan.transition.trigger}")

    def _not_permitted(self, deal: Mapping[str, Any], trigger: str, did: str,
                       moment: datetime) -> Decision:
        stage = str(deal.get("stage"))
        allowed = self.compiled.triggers_from.get(stage, ())
        if trigger in self.policy.triggers:
            message = (f"'{trigger}' is not permitted from stage '{stage}'" +
                       (f"; from here: {', '.join(allowed)}" if allowed else
                        "; no trigger leaves this stage"))
        else:
            hint = did_you_mean(trigger, self.policy.triggers)
            message = f"the policy has no trigger '{trigger}'" + (f" ({hint})" if hint else "")
        return Decision("not_permitted", deal_id(deal), trigger, stage, None,
                        violations=(Violation("transition", "transition", "high", message,
                                              {"stage": stage, "trigger": trigger}),),
                        decision_id=did, at=_iso(moment))

    # ----------------------------------------------------------------- check

    def check(self, deal: Mapping[str, Any], *, now: datetime | str | None = None,
              explain: bool = False) -> Verdict:
        """Judge a deal at rest: entry criteria, earlier steps, standing risks, time, approvals."""
        moment = _now(now)
        try:
            self._validate(deal)
            plan = self.compiled.rests[deal["stage"]]
            run = _Run(self._context(deal, None, moment), self.lang,
                       trace=explain or self.audit is not None)
            self._run_rest(run, plan, deal, moment)
            entered = deal.get("stage_entered_at")
            needs = run.gates(self.compiled.gates, deal, None, moment, as_violation=True,
                              entered=parse_time(entered, "stage_entered_at") if entered else None)
        except DealError as err:
            verdict = Verdict("error", deal_id(deal), _s(deal.get("stage")) if isinstance(
                deal, Mapping) else None, error=err.message)
            return self._emit_verdict(verdict, moment)
        verdict = Verdict("violation" if run.violations else "compliant", deal_id(deal),
                          plan.stage.id, tuple(run.violations), tuple(run.warnings), tuple(needs),
                          None, tuple(run.checks))
        return self._emit_verdict(verdict, moment)

    def _run_rest(self, run: _Run, plan: RestPlan, deal: Mapping[str, Any], now: datetime) -> None:
        for criterion in plan.entry:
            run.criterion("entry", criterion)
        if plan.steps:
            run.steps(plan.steps, steps_done(deal), plan.stage.id)
        limit = plan.stage.max_days
        if limit is not None:
            rule = f"max_days.{plan.stage.id}"
            entered = deal.get("stage_entered_at")
            if entered is None:
                run.violations.append(Violation(rule, "field", "medium",
                                                "missing field deal.stage_entered_at",
                                                {"deal.stage_entered_at": MISSING}))
            else:
                days = (now - parse_time(entered, "stage_entered_at")).total_seconds() / 86400
                over = days > limit.days
                values = {"deal.stage_entered_at": entered, "days_in_stage": round(days, 1),
                          "max_days": limit.days}
                if run.trace:
                    run.checks.append(RuleCheck(rule, "time", "fail" if over else "pass",
                                                "medium", f"at most {limit.days:g} days in "
                                                f"{plan.stage.id}", None, values))
                if over:
                    v = Violation(rule, "time", "medium",
                                  f"{days:.0f} days in stage '{plan.stage.label.get(run.lang)}', "
                                  f"over the limit of {limit.days:g}", values)
                    (run.warnings if limit.action == "warn" else run.violations).append(v)
        for use in plan.risks:
            run.risk(use)

    # ----------------------------------------------------------------- apply

    def apply(self, deal: Mapping[str, Any], trigger: str, actor: Actor | None = None, *,
              now: datetime | str | None = None) -> dict[str, Any]:
        """The deal after ``trigger``: a new record, or :class:`TransitionBlocked` with the decision."""
        moment = _now(now)
        decision = self.decide(deal, trigger, actor, now=moment)
        if not decision.allowed:
            raise TransitionBlocked(decision)
        moved = copy.deepcopy(dict(deal))
        moved["stage"] = decision.target
        moved["stage_entered_at"] = _iso(moment)
        if self.audit is not None:
            base = self._base(decision.decision_id, moment, decision.deal, actor, trigger,
                              decision.source, decision.target)
            self.audit.emit([self._event(base, "transition.applied", outcome="applied")])
        return moved

    # ----------------------------------------------------------------- bind

    def bind(self, obj: Any, *, record: Callable[[Any], Mapping[str, Any]] | None = None) -> Any:
        """Attach the policy's machine to an app object: ``obj.advance(actor=...)`` obeys the policy.

        The object keeps its stage in ``obj.stage``. A refused trigger raises
        :class:`TransitionBlocked` and leaves the object unchanged. The machine
        is built once per engine; each object is added to it as a model.
        """
        machine = self._machine_for_binding()
        reader = record or _default_record
        current = getattr(obj, "stage", None) or self.policy.initial_stage.id
        if current not in self.compiled.rests:
            raise UsageError(f"object is in unknown stage {current!r}")
        obj.__dict__["_cycleflow_record"] = reader
        machine.add_model(obj, initial=current)
        return obj

    def _machine_for_binding(self) -> Any:
        with self._bind_lock:
            if self._bind_machine is None:
                from transitions.extensions import LockedMachine

                def guard(event: Any) -> bool:
                    return self._guard(event)

                def entered(event: Any) -> None:
                    now = event.kwargs.get("now")
                    moment = _now(now)
                    event.model.stage_entered_at = _iso(moment)

                machine = LockedMachine(
                    model=None, states=list(self.compiled.stage_ids),
                    initial=self.policy.initial_stage.id, auto_transitions=False,
                    send_event=True, model_attribute="stage",
                )
                for t in self.policy.transitions:
                    machine.add_transition(t.trigger, list(t.sources), t.target,
                                           conditions=[guard], after=[entered])
                self._bind_machine = machine
            return self._bind_machine

    def _guard(self, event: Any) -> bool:
        obj = event.model
        reader: Callable[[Any], Mapping[str, Any]] = obj.__dict__.get(
            "_cycleflow_record", _default_record)
        deal = dict(reader(obj))
        deal["stage"] = event.state.name
        decision = self.decide(deal, event.event.name, event.kwargs.get("actor"),
                               now=event.kwargs.get("now"))
        obj.__dict__["last_decision"] = decision
        if not decision.allowed:
            raise TransitionBlocked(decision)
        return True

    # ----------------------------------------------------------------- audit

    def _base(self, did: str, moment: datetime, deal_ref: str | None, actor: Actor | None,
              trigger: str | None, source: str | None, target: str | None) -> dict[str, Any]:
        """The fields every event of one decision shares, built once per decision."""
        return {
            "at": _iso(moment), "decision_id": did, "deal": deal_ref, "policy": self.policy.id,
            "policy_version": self.policy.version, "policy_sha256": self.policy.sha256,
            "actor": actor.get("id") if actor else None, "trigger": trigger,
            "from": source, "to": target,
        }

    def _event(self, base: Mapping[str, Any], name: str, *, rule: str | None = None,
               kind: str | None = None, outcome: str | None = None,
               severity: str | None = None, values: Mapping[str, Any] | None = None,
               message: str | None = None) -> dict[str, Any]:
        event = {"event": name, **base, "rule": rule, "kind": kind, "outcome": outcome,
                 "severity": severity, "values": dict(values) if values else {},
                 "message": message}
        return self._masker(event) if self._masker else event

    def _emit_decision(self, decision: Decision, actor: Actor | None) -> Decision:
        if self.audit is None:
            return decision
        base = self._base(decision.decision_id, parse_time(decision.at, "at"), decision.deal,
                          actor, decision.trigger, decision.source, decision.target)
        events = [self._event(base, "transition.requested", outcome="requested")]
        for c in decision.checks:
            events.append(self._event(base, "rule.evaluated", rule=c.rule, kind=c.kind,
                                      outcome=c.outcome, severity=c.severity, values=c.values,
                                      message=c.message))
        for v in decision.violations:
            if v.kind in ("field", "transition"):
                events.append(self._event(base, "rule.evaluated", rule=v.rule, kind=v.kind,
                                          outcome="error" if v.kind == "field" else "fail",
                                          severity=v.severity, values=v.values,
                                          message=v.message))
        events.append(self._event(base, f"transition.{decision.outcome}",
                                  outcome=decision.outcome))
        self.audit.emit(events)
        return replace(decision, events=tuple(events))

    def _emit_verdict(self, verdict: Verdict, moment: datetime) -> Verdict:
        if self.audit is None:
            return verdict
        base = self._base(uuid.uuid4().hex, moment, verdict.deal, None, None, verdict.stage, None)
        events = [self._event(base, "rule.evaluated", rule=c.rule, kind=c.kind,
                              outcome=c.outcome, severity=c.severity, values=c.values,
                              message=c.message) for c in verdict.checks]
        events.append(self._event(base, "deal.checked", outcome=verdict.verdict,
                                  message=verdict.error))
        self.audit.emit(events)
        return verdict


def _s(value: Any) -> str | None:
    return None if value is None else str(value)


def _default_record(obj: Any) -> Mapping[str, Any]:
    if isinstance(obj, Mapping):
        return obj
    return {k: v for k, v in vars(obj).items() if not k.startswith("_") and not callable(v)}


def _make_masker(paths: Sequence[str]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    from cycleflow.audit.masking import Masker

    masker: Callable[[dict[str, Any]], dict[str, Any]] = Masker(paths)
    return masker
