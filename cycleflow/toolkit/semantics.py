"""Semantic checks of a loaded policy that are warnings, not load errors.

Unreachable stages, dead ends and gates nobody can satisfy do not stop a
policy from running, but they almost always mean the author meant something else.
"""

from __future__ import annotations

from cycleflow.errors import Problem
from cycleflow.model.policy import Policy


def semantic_problems(policy: Policy) -> list[Problem]:
    """Warnings about a policy that loads: reachability, dead ends, unused gates."""
    out: list[Problem] = []
    edges: dict[str, set[str]] = {s.id: set() for s in policy.stages}
    for t in policy.transitions:
        for s in t.sources:
            edges[s].add(t.target)
    reached = {policy.initial_stage.id}
    frontier = [policy.initial_stage.id]
    while frontier:
        for nxt in edges[frontier.pop()]:
            if nxt not in reached:
                reached.add(nxt)
                frontier.append(nxt)
    for stage in policy.stages:
        if stage.id not in reached:
            out.append(
                Problem(
                    stage.location,
                    "unreachable-stage",
                    f"stage '{stage.id}' cannot be reached from '{policy.initial_stage.id}'",
                    "add a transition into it or remove it",
                    "warning",
                )
            )
        if not stage.final and not edges[stage.id]:
            out.append(
                Problem(
                    stage.location,
                    "dead-end-stage",
                    f"stage '{stage.id}' is not final but no transition leaves it",
                    "add a transition out of it or mark it 'final: true'",
                    "warning",
                )
            )
    used = {r.gate for r in policy.risks if r.gate} | {
        g for t in policy.transitions for g in t.approve
    }
    for gate in policy.gates:
        if gate.id not in used:
            out.append(
                Problem(
                    gate.location,
                    "unused-gate",
                    f"approval gate '{gate.id}' is never required",
                    "reference it from a risk ('then: approve "
                    f"{gate.id}') or a transition ('approve: [{gate.id}]')",
                    "warning",
                )
            )
    return out
