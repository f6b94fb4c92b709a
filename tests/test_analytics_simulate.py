"""cycleflow simulate: reproducible, chain-valid histories driven through the real engine."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from cycleflow.analytics.simulate import SimOptions, simulate
from cycleflow.api import load_policy
from cycleflow.audit import verify
from cycleflow.cli.main import cli
from cycleflow.decide.engine import Engine

ROOT = Path(__file__).resolve().parent.parent
POLICY = ROOT / "policies" / "standard-sales-cycle.yaml"
PARTNER = ROOT / "tests" / "data" / "policies" / "partner-channel.yaml"


def _digest(directory: Path) -> dict[str, str]:
    return {name: hashlib.sha256((directory / name).read_bytes()).hexdigest()
            for name in ("deals.jsonl", "audit.jsonl")}


def _events(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def test_same_seed_gives_byte_identical_files(tmp_path: Path) -> None:
    runner = CliRunner()
    for out in ("a", "b"):
        result = runner.invoke(cli, ["simulate", "-p", str(POLICY), "--deals", "120", "--days",
                                     "180", "--seed", "11", "-o", str(tmp_path / out)])
        assert result.exit_code == 0, result.output
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    other = runner.invoke(cli, ["simulate", "-p", str(POLICY), "--deals", "120", "--days",
                                "180", "--seed", "12", "-o", str(tmp_path / "c")])
    assert other.exit_code == 0
    assert _digest(tmp_path / "c") != _digest(tmp_path / "a")


def test_rerun_into_the_same_directory_replaces_the_files(tmp_path: Path) -> None:
    policy = load_policy(POLICY)
    simulate(policy, str(tmp_path), SimOptions(deals=30, days=90, seed=5))
    first = _digest(tmp_path)
    simulate(policy, str(tmp_path), SimOptions(deals=30, days=90, seed=5))
    assert _digest(tmp_path) == first


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sim")
    simulate(load_policy(POLICY), str(out), SimOptions(deals=400, days=365, seed=3))
    return out


def test_the_audit_chain_verifies(history: Path) -> None:
    result = verify(str(history / "audit.jsonl"))
    assert result.ok, result.describe()
    assert result.records > 10_000


def test_history_is_realistic(history: Path) -> None:
    events = _events(history / "audit.jsonl")
    names = {str(e["event"]) for e in events}
    assert {"deal.created", "transition.applied", "transition.blocked",
            "transition.needs_approval", "approval.requested", "approval.granted",
            "approval.refused", "deal.checked"} <= names
    times = [str(e["at"]) for e in events]
    assert times == sorted(times), "events are written in time order"
    deals = _events(history / "deals.jsonl")
    assert len(deals) == 400
    stages = {str(d["stage"]) for d in deals}
    assert {"won", "lost", "prospect"} <= stages
    lost = [d for d in deals if d["stage"] == "lost"]
    assert lost and all(d.get("lost_reason") for d in lost)
    granted = [e for e in events if e["event"] == "approval.granted"]
    assert all(e["values"] for e in granted), "a granted approval records the bound values"
    with_approvals = [d for d in deals if d.get("approvals")]
    assert with_approvals
    for d in with_approvals:
        for approval in d["approvals"]:
            assert approval["values"], approval


def test_won_deals_satisfy_the_policy_when_they_were_won(history: Path) -> None:
    engine = Engine(load_policy(POLICY))
    deals = _events(history / "deals.jsonl")
    won = [d for d in deals if d["stage"] in ("won", "closed")]
    assert len(won) > 50
    assert any(d["stage"] == "closed" for d in won)
    for deal in won:
        verdict = engine.check(deal, now=str(deal["stage_entered_at"]))
        # at the moment of winning (or closing) every entry rule, step and approval held
        assert not [v for v in verdict.violations if v.kind in ("entry", "approval", "step")
                    ], deal["id"]


def test_another_policy_simulates_too(tmp_path: Path) -> None:
    summary = simulate(load_policy(PARTNER), str(tmp_path), SimOptions(deals=80, days=200,
                                                                      seed=2))
    assert summary.won > 0 and summary.lost > 0
    assert verify(str(tmp_path / "audit.jsonl")).ok


def test_bad_options_are_usage_errors(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["simulate", "-p", str(POLICY), "--deals", "0",
                                      "-o", str(tmp_path)])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    result = CliRunner().invoke(cli, ["simulate", "-p", str(POLICY), "--start", "yesterday",
                                      "-o", str(tmp_path)])
    assert result.exit_code == 2


@pytest.mark.parametrize(("start", "days"), [("9999-12-31T00:00:00Z", "30"),
                                             ("9999-09-01T00:00:00Z", "30"),
                                             ("2026-01-05T00:00:00Z", "99999999999")])
def test_a_period_past_year_9999_is_a_usage_error(tmp_path: Path, start: str, days: str) -> None:
    out = tmp_path / "simx"
    result = CliRunner().invoke(cli, ["simulate", "-p", str(POLICY), "-o", str(out),
                                      "--start", start, "--deals", "5", "--days", days])
    assert result.exit_code == 2, result.output
    assert "the simulated period must end before year 10000" in result.stderr
    assert "internal error" not in result.output and not out.exists()
