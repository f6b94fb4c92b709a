"""Compile a policy model into what the engine runs: a state machine and per-stage rule plans.

The ``transitions`` machine is built once per policy, with
``auto_transitions=False`` and no string callbacks (policy text never reaches
``transitions`` as a name to resolve). The per-record path reads only the
plain tables derived from it here, so judging a deal builds nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from transitions import Machine

from cycleflow.model.policy import Criterion, Gate, Policy, Risk, Stage, Step, Transition

#: What a move's criterion is: an entry criterion of the target stage or the transition's own.
CriterionKind = Literal["entry", "transition"]


@dataclass(frozen=True, slots=True)
class RiskUse:
    """A risk as it applies at one checkpoint."""

    risk: Risk
    checkpoint: str


@dataclass(frozen=True, slots=True)
class MovePlan:
    """Everything ``decide`` evaluates for one (stage, trigger) pair, in order."""

    transition: Transition
    source: Stage
    target: Stage
    steps: tuple[Step, ...]
    criteria: tuple[tuple[CriterionKind, Criterion], ...]  # target entry, then transition
    risks: tuple[RiskUse, ...]
    gates: tuple[Gate, ...]  # always required by the transition itself


@dataclass(frozen=True, slots=True)
class RestPlan:
    """Everything ``check`` evaluates for a deal at rest in one stage."""

    stage: Stage
    entry: tuple[Criterion, ...]
    steps: tuple[Step, ...]
    risks: tuple[RiskUse, ...]


@dataclass(frozen=True)
class CompiledPolicy:
    """A policy ready to run: its model, its machine, and the tables derived from the machine."""

    policy: Policy
    machine: Machine
    moves: Mapping[tuple[str, str], MovePlan]
    rests: Mapping[str, RestPlan]
    triggers_from: Mapping[str, tuple[str, ...]]
    gates: Mapping[str, Gate]

    @property
    def stage_ids(self) -> tuple[str, ...]:
        """The stage ids in policy order."""
        return tuple(s.id for s in self.policy.stages)


def build_machine(policy: Policy) -> Machine:
    """The policy's stage machine on ``transitions``: states, triggers, nothing callable by name."""
    machine = Machine(
        model=None,
        states=[s.id for s in policy.stages],
        initial=policy.initial_stage.id,
        auto_transitions=False,
        send_event=True,
        ignore_invalid_triggers=False,
    )
    for t in policy.transitions:
        machine.add_transition(t.trigger, list(t.sources), t.target)
    return machine


def _table_from_machine(machine: Machine) -> dict[tuple[str, str], str]:
    """(source, trigger) → target, read back from the machine's own events."""
    table: dict[tuple[str, str], str] = {}
    for trigger, event in machine.events.items():
        for source, transitions in event.transitions.items():
            for tr in transitions:
                table.setdefault((source, trigger), str(tr.dest))
    return table


def _is_forward(source: Stage, target: Stage) -> bool:
    return target.index > source.index and target.outcome != "lost"


def standing(stage: Stage) -> set[str]:
    """``{"always"}``, unless ``stage`` is a lost outcome: losing a deal is always a compliant
    exit, so a standing control (a sanctioned customer, a discount awaiting approval) never
    blocks it nor keeps a lost deal in violation. A risk naming the lost stage (``enter
    closed_lost``) or the trigger (``on lose``) still applies."""
    return set() if stage.outcome == "lost" else {"always"}


def _risk_uses(policy: Policy, wanted: set[str]) -> tuple[RiskUse, ...]:
    uses: list[RiskUse] = []
    for risk in policy.risks:
        names = [str(cp) for cp in risk.at if str(cp) in wanted]
        if names:  # "always" wins: it asks more of approvals than "enter S"
            uses.append(RiskUse(risk, "always" if "always" in names else names[0]))
    return tuple(uses)


def _checked_on_every_path(
    policy: Policy, moves: Mapping[tuple[str, str], MovePlan]
) -> dict[str, frozenset[str]]:
    """Per stage, the stages whose steps every permitted way into it from the initial stage
    checked (a move leaving them with their steps). A deal at rest is asked for those
    only: a stage a permitted move skips (a renewal going past discovery), or leaves
    without its steps (``check_steps: false``), cannot owe its steps to every deal.

    A forward "must" data-flow over the transition table, to its fixed point. A stage no
    move reaches keeps every stage: the filter then leaves the earlier stages' steps."""
    everything = frozenset(s.id for s in policy.stages)
    done = {s.id: everything for s in policy.stages}
    done[policy.initial_stage.id] = frozenset()
    changed = True
    while changed:
        changed = False
        for (src, _), plan in moves.items():
            dest = plan.target.id
            if dest == policy.initial_stage.id:
                continue
            via = done[src] | {src} if plan.steps else done[src]
            met = done[dest] & via
            if met != done[dest]:
                done[dest] = met
                changed = True
    return done


def compile_policy(policy: Policy) -> CompiledPolicy:
    """Compile the model: one machine, one plan per move and per resting stage."""
    machine = build_machine(policy)
    table = _table_from_machine(machine)
    stages = {s.id: s for s in policy.stages}
    gates = {g.id: g for g in policy.gates}
    by_trigger: dict[tuple[str, str], Transition] = {}
    for t in policy.transitions:
        for s in t.sources:
            by_trigger.setdefault((s, t.trigger), t)

    moves: dict[tuple[str, str], MovePlan] = {}
    for (src, trigger), dest in table.items():
        t = by_trigger[(src, trigger)]
        source, target = stages[src], stages[dest]
        check = t.check_steps if t.check_steps is not None else _is_forward(source, target)
        crit: tuple[tuple[CriterionKind, Criterion], ...] = tuple(
            ("entry", c) for c in target.entry) + tuple(("transition", c) for c in t.when)
        wanted = {f"enter {dest}", f"leave {src}", f"on {trigger}"} | standing(target)
        moves[(src, trigger)] = MovePlan(
            transition=t,
            source=source,
            target=target,
            steps=source.steps if check else (),
            criteria=crit,
            risks=_risk_uses(policy, wanted),
            gates=tuple(gates[g] for g in t.approve),
        )

    checked = _checked_on_every_path(policy, moves)
    rests: dict[str, RestPlan] = {}
    for stage in policy.stages:
        earlier: tuple[Step, ...] = ()
        if stage.outcome != "lost":
            earlier = tuple(
                step
                for s in policy.stages
                if s.index < stage.index and not s.final and s.id in checked[stage.id]
                for step in s.steps
            )
        rests[stage.id] = RestPlan(
            stage=stage,
            entry=stage.entry,
            steps=earlier,
            risks=_risk_uses(policy, {f"enter {stage.id}"} | standing(stage)),
        )

    triggers_from: dict[str, list[str]] = {s.id: [] for s in policy.stages}
    for src, trigger in table:
        triggers_from[src].append(trigger)
    return CompiledPolicy(
        policy=policy,
        machine=machine,
        moves=moves,
        rests=rests,
        triggers_from={k: tuple(v) for k, v in triggers_from.items()},
        gates=gates,
    )
