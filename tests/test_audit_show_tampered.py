"""``audit show`` and ``cycleflow report`` say when the log they read does not verify.

An auditor found ``audit show`` printed an edited log's history without a word. The
history is still shown (it is evidence), with a warning on stderr and exit 1.
"""

from __future__ import annotations

from pathlib import Path

import orjson
from click.testing import CliRunner
from shipped import NOW, POLICY, REP, deal

from cycleflow import Engine, load_policy
from cycleflow.audit import JsonlSink
from cycleflow.cli.main import cli


def written(tmp_path: Path) -> Path:
    log = tmp_path / "audit.jsonl"
    with JsonlSink(log) as sink:
        engine = Engine(load_policy(POLICY), audit=sink)
        engine.decide(deal(), "advance", REP, now=NOW)
        engine.decide(deal(discount_pct=25), "advance", REP, now=NOW)
    return log


def edit(log: Path) -> None:
    """Change the outcome of the last decision, as someone hiding it would."""
    lines = log.read_bytes().splitlines(keepends=True)
    lines[-1] = lines[-1].replace(b'"outcome":"needs_approval"', b'"outcome":"allowed"')
    log.write_bytes(b"".join(lines))


def test_show_of_an_intact_log_says_nothing_more(tmp_path: Path) -> None:
    log = written(tmp_path)
    result = CliRunner().invoke(cli, ["audit", "show", str(log), "--deal", "D-1"])
    assert result.exit_code == 0 and result.stderr == ""


def test_show_of_an_edited_log_warns_and_exits_1_after_printing(tmp_path: Path) -> None:
    log = written(tmp_path)
    edit(log)
    count = len(log.read_bytes().splitlines())
    for fmt in ("text", "json"):
        result = CliRunner().invoke(
            cli, ["audit", "show", str(log), "--deal", "D-1", "--format", fmt])
        assert result.exit_code == 1, result.output
        assert f"BROKEN at line {count}: hash mismatch" in result.stderr
        assert "does not verify" in result.stderr
        assert "D-1" in result.stdout  # the history is still shown
    shown = orjson.loads(result.stdout)
    assert shown[-1]["outcome"] == "allowed"


def test_report_warns_on_an_edited_log(tmp_path: Path) -> None:
    log = written(tmp_path)
    args = ["report", str(log), "-o", str(tmp_path / "r.html")]
    clean = CliRunner().invoke(cli, args)
    assert clean.exit_code == 0, clean.output
    assert "does not verify" not in clean.stderr
    edit(log)
    result = CliRunner().invoke(cli, args)
    assert "does not verify" in result.stderr and "hash mismatch" in result.stderr
