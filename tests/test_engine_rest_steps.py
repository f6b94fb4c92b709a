"""Which earlier stages' steps a deal at rest owes: those every permitted way in checked.

A renewal may go from qualification straight to proposal; ``decide`` allows it, so
``check`` of the renewal resting in proposal must not ask for discovery's steps (it did,
for every renewal, forever). Steps of a stage every way in passes through stay owed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cycleflow import Engine, load_policy

NOW = "2026-11-26T12:00:00Z"

POLICY = """\
cycleflow: 1
id: renewals
version: '1'
stages:
  prospecting: {initial: true, steps: [intro_call]}
  qualification: {steps: [bant]}
  discovery: {steps: [discovery_call]}
  proposal: {steps: [proposal_sent]}
  negotiation: {}
  won: {final: true, outcome: won}
  lost: {final: true, outcome: lost}
transitions:
  - {trigger: advance, from: prospecting, to: qualification}
  - {trigger: advance, from: qualification, to: discovery}
  - trigger: advance_renewal
    from: qualification
    to: proposal
    when:
      - {id: renewal_only, when: 'deal.record_type == "renewal"', message: Renewals only.}
  - {trigger: advance, from: discovery, to: proposal}
  - {trigger: advance, from: proposal, to: negotiation}
  - {trigger: fast_track, from: proposal, to: won, check_steps: false}
  - {trigger: win, from: negotiation, to: won}
  - {trigger: lose, from: '*', to: lost}
"""


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    path = tmp_path_factory.mktemp("rest") / "renewals.yaml"
    path.write_text(POLICY, encoding="utf-8")
    return Engine(load_policy(path), validate_deals=False)


def deal(stage: str, steps: list[str], record_type: str = "renewal") -> dict[str, Any]:
    return {"id": "OPP-1", "stage": stage, "stage_entered_at": "2026-11-20T00:00:00Z",
            "steps": steps, "record_type": record_type}


def owed(engine: Engine, stage: str, steps: list[str]) -> set[str]:
    return {v.rule for v in engine.check(deal(stage, steps), now=NOW).violations}


def test_a_renewal_that_skipped_discovery_is_compliant_at_rest(engine: Engine) -> None:
    moved = engine.decide(deal("qualification", ["intro_call", "bant"]), "advance_renewal",
                          {"id": "ann", "roles": []}, now=NOW)
    assert moved.outcome == "allowed"
    rest = engine.check(deal("proposal", ["intro_call", "bant"]), now=NOW)
    assert rest.verdict == "compliant", rest.violations


def test_steps_of_stages_every_way_in_passes_through_are_still_owed(engine: Engine) -> None:
    assert owed(engine, "proposal", []) == {"intro_call", "bant"}
    assert owed(engine, "discovery", ["intro_call"]) == {"bant"}
    assert owed(engine, "negotiation", ["intro_call", "bant"]) == {"proposal_sent"}


def test_a_move_that_does_not_check_steps_is_a_way_in_that_owes_none(engine: Engine) -> None:
    """won is reached from negotiation (proposal's steps checked on the way) and by
    fast_track, which leaves proposal without them: a won deal owes proposal's none."""
    assert owed(engine, "won", ["intro_call", "bant"]) == set()
    assert owed(engine, "won", ["bant"]) == {"intro_call"}


def test_the_shipped_policy_still_owes_every_earlier_stage(tmp_path: Path) -> None:
    shipped = Engine(load_policy(Path(__file__).resolve().parent.parent / "policies"
                                 / "standard-sales-cycle.yaml"))
    plan = shipped.compiled.rests["won"]
    earlier = [s for s in shipped.policy.stages
               if s.index < plan.stage.index and not s.final]
    assert [st.id for st in plan.steps] == [st.id for s in earlier for st in s.steps]
