"""Logs of their own, one per worker process, read together with --each.

The guide recommends one log per forked worker, but ``audit show w/*.jsonl --deal X`` took
the files for segments of one rotated log and said "BROKEN … a file of another log?",
exit 1 (SRE review).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson
from click.testing import CliRunner

from cycleflow import Engine, load_policy
from cycleflow.audit import JsonlSink
from cycleflow.cli.audit_cmd import audit
from cycleflow.cli.main import cli

ROOT = Path(__file__).resolve().parent.parent
POLICY = load_policy(str(ROOT / "policies" / "standard-sales-cycle.yaml"))
DEAL = json.loads((ROOT / "examples" / "deal-negotiation.json").read_text())
REP = {"id": "ann", "roles": ["sales_rep"]}
START = datetime(2026, 11, 20, 9, tzinfo=timezone.utc)


def ticking(minutes: list[int]) -> Iterator[datetime]:
    for m in minutes:
        yield START + timedelta(minutes=m)


def worker_logs(tmp_path: Path) -> list[str]:
    """Three workers' logs; worker w decided at minutes w, w + 3 (interleaved in time)."""
    paths = []
    for w in range(3):
        path = tmp_path / f"audit-{w}.jsonl"
        times = ticking([w, w + 3])
        with JsonlSink(path) as sink:
            engine = Engine(POLICY, audit=sink, clock=lambda times=times: next(times))
            for _ in range(2):
                engine.decide(DEAL, "win", REP, now="2026-11-20T10:00:00Z")
        paths.append(str(path))
    return paths


def test_verify_each_checks_every_log_on_its_own(tmp_path: Path) -> None:
    logs = worker_logs(tmp_path)
    runner = CliRunner()
    each = runner.invoke(audit, ["verify", "--each", *logs])
    assert each.exit_code == 0, each.output
    assert each.stdout.count(": intact, ") == 3
    together = runner.invoke(audit, ["verify", *logs])
    assert together.exit_code == 1
    assert "--each" in together.stdout
    Path(logs[1]).write_text(Path(logs[1]).read_text().replace('"ann"', '"eve"', 1))
    broken = runner.invoke(audit, ["verify", "--each", "--format", "json", *logs])
    assert broken.exit_code == 1
    assert [r["ok"] for r in orjson.loads(broken.stdout)] == [True, False, True]
    mixed = runner.invoke(audit, ["verify", "--each", "--expect-head", "a" * 64, *logs])
    assert mixed.exit_code == 2


def test_show_each_merges_the_workers_decisions_in_written_order(tmp_path: Path) -> None:
    logs = worker_logs(tmp_path)
    shown = CliRunner().invoke(audit, ["show", "--each", *logs, "--deal", DEAL["id"],
                                       "--format", "json"])
    assert shown.exit_code == 0, shown.output
    events = orjson.loads(shown.stdout)
    firsts = [e["recorded_at"] for e in events if e["event"] == "transition.requested"]
    assert len(firsts) == 6 and firsts == sorted(firsts)
    decisions = [e["decision_id"] for e in events]
    # each decision's events stay together
    assert all(decisions.index(d) + decisions.count(d) - 1 == len(decisions) - 1
               - decisions[::-1].index(d) for d in set(decisions))


def test_report_each_covers_every_worker(tmp_path: Path) -> None:
    logs = worker_logs(tmp_path)
    out = tmp_path / "r.json"
    result = CliRunner().invoke(cli, ["report", "--each", *logs, "-o",
                                      str(tmp_path / "r.html"), "--json", str(out)])
    assert result.exit_code == 0, result.output
    meta = json.loads(out.read_text())["generated_from"]
    total = sum(len(Path(p).read_bytes().splitlines()) for p in logs)
    assert meta["events"] == total
    assert meta["judged_by"][0]["decisions"] == 6
