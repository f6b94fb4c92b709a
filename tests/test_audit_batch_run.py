"""An audited ``check`` run is bounded in the log by batch.started and batch.finished.

A run killed at 30% left a log that verified intact with nothing to show it was cut
short, and nothing tied a run's events together: "did last night's check cover every
deal?" could not be answered from the log (SRE review).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from cycleflow.analytics.report import ReportOptions, build_report
from cycleflow.audit import verify
from cycleflow.cli.main import cli

ROOT = Path(__file__).resolve().parent.parent
POLICY = str(ROOT / "policies" / "standard-sales-cycle.yaml")
DEALS = str(ROOT / "examples" / "deals.jsonl")
NOW = "2026-11-26T12:00:00Z"


def records(log: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in log.read_bytes().splitlines()]


def check(log: Path, out: Path) -> Any:
    return CliRunner().invoke(cli, ["check", "-p", POLICY, DEALS, "--now", NOW, "--audit",
                                    str(log), "--format", "json", "-o", str(out)])


def test_a_run_is_bounded_by_started_and_finished_with_its_counts(tmp_path: Path) -> None:
    log, out = tmp_path / "audit.jsonl", tmp_path / "out.json"
    result = check(log, out)
    assert result.exit_code == 1, result.output
    events = records(log)
    first, last = events[0], events[-1]
    assert (first["event"], first["outcome"]) == ("batch.started", "started")
    assert (last["event"], last["outcome"]) == ("batch.finished", "finished")
    assert first["values"]["run"] == last["values"]["run"]
    assert first["values"]["inputs"] == [DEALS]
    report = json.loads(out.read_text())
    verdicts = [v["verdict"] for v in report["verdicts"]]
    assert last["values"]["records"] == len(verdicts) == 56
    for kind in ("compliant", "violation", "error"):
        assert last["values"][kind] == verdicts.count(kind)
    assert sum(e["event"] == "deal.checked" for e in events) == 56
    assert "recorded_at" in first and "recorded_at" in last
    assert verify(log).ok


def test_each_run_has_its_own_id(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    check(log, tmp_path / "a.json")
    check(log, tmp_path / "b.json")
    runs = [e["values"]["run"] for e in records(log) if e["event"] == "batch.started"]
    assert len(runs) == 2 and runs[0] != runs[1]


class _Stopped(Exception):
    """What ends the run half-way in the test below."""


def test_an_interrupted_run_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import cycleflow.report

    real = cycleflow.report.write_report

    def interrupted(fmt: str, verdicts: Any, *args: Any, **kwargs: Any) -> Any:
        def some() -> Any:
            for n, verdict in enumerate(verdicts):
                if n == 10:  # as SIGTERM unwinds a run (a KeyboardInterrupt would stop pytest)
                    raise _Stopped
                yield verdict
        return real(fmt, some(), *args, **kwargs)

    monkeypatch.setattr(cycleflow.report, "write_report", interrupted)
    log = tmp_path / "audit.jsonl"
    result = check(log, tmp_path / "out.json")
    assert result.exit_code == 70  # an internal error, as guarded() reports one
    events = records(log)
    assert (events[-1]["event"], events[-1]["outcome"]) == ("batch.finished", "interrupted")
    assert "records" not in events[-1]["values"]
    assert sum(e["event"] == "deal.checked" for e in events) < 56


def test_the_report_does_not_count_a_run_as_a_decision(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    check(log, tmp_path / "out.json")
    [judged] = build_report(str(log), ReportOptions())["generated_from"]["judged_by"]
    assert judged["decisions"] == 56


def test_jobs_with_audit_is_said_to_be_unused(tmp_path: Path) -> None:
    """--audit ran in one process while --jobs 2 was silently ignored (6x slower)."""
    result = CliRunner().invoke(cli, ["check", "-p", POLICY, DEALS, "--now", NOW, "--audit",
                                      str(tmp_path / "a.jsonl"), "-j", "2", "-o",
                                      str(tmp_path / "out.txt")])
    assert result.exit_code == 1
    assert "--jobs 2 is not used with --audit" in result.stderr
