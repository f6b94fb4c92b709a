"""``audit show`` and ``report`` take ``--no-verify``, and ``report`` exits 1 on a log that
does not verify.

Both verified the whole log before every call: 8 s for one deal's history on a 1 GB log,
and a SQLite log's 1 ms indexed lookup waited behind a 5 s verify. ``--no-verify`` skips
the chain check and says so in one stderr line. ``report`` on a tampered log exited 0 (a
stderr warning only), so a cron job checking exit codes never saw the tampering.
"""

from __future__ import annotations

from pathlib import Path

import orjson
from click.testing import CliRunner, Result
from shipped import NOW, POLICY, REP, deal

from cycleflow import Engine, load_policy
from cycleflow.audit import JsonlSink, SqliteSink
from cycleflow.cli.main import cli


def write(sink: JsonlSink | SqliteSink, rotate: bool = False) -> None:
    """Two decisions about D-1 (the second needs approval) and one about D-2."""
    engine = Engine(load_policy(POLICY), audit=sink)
    engine.decide(deal(), "advance", REP, now=NOW)
    if rotate and isinstance(sink, JsonlSink):
        sink.rotate()
    engine.decide(deal(discount_pct=25), "advance", REP, now=NOW)
    engine.decide(deal(id="D-2"), "advance", REP, now=NOW)


def jsonl_log(tmp_path: Path) -> Path:
    log = tmp_path / "audit.jsonl"
    with JsonlSink(log) as sink:
        write(sink)
    return log


def edit(log: Path) -> None:
    """Hide the approval the second decision about D-1 needed, as a tamperer would."""
    data = log.read_bytes()
    assert b'"outcome":"needs_approval"' in data
    log.write_bytes(data.replace(b'"outcome":"needs_approval"', b'"outcome":"allowed"'))


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def note(*logs: str) -> str:
    return (f"not verified (--no-verify): run `cycleflow audit verify {' '.join(logs)}` "
            "to check the chain")


# audit show --no-verify


def test_show_no_verify_prints_the_history_and_says_it_was_not_verified(tmp_path: Path) -> None:
    log = str(jsonl_log(tmp_path))
    checked = run("audit", "show", log, "--deal", "D-1", "--format", "json")
    unchecked = run("audit", "show", log, "--deal", "D-1", "--format", "json", "--no-verify")
    assert unchecked.exit_code == 0, unchecked.output
    assert unchecked.stdout == checked.stdout  # the same history
    assert unchecked.stderr.splitlines() == [note(log)]


def test_show_no_verify_on_an_edited_log_exits_0_and_does_not_claim_it_verified(
        tmp_path: Path) -> None:
    log = jsonl_log(tmp_path)
    edit(log)
    result = run("audit", "show", str(log), "--deal", "D-1", "--no-verify")
    assert result.exit_code == 0, result.output
    assert "D-1" in result.stdout
    assert result.stderr.splitlines() == [note(str(log))]
    checked = run("audit", "show", str(log), "--deal", "D-1")  # without it: still caught
    assert checked.exit_code == 1 and "does not verify" in checked.stderr


def test_show_no_verify_reads_a_sqlite_log(tmp_path: Path) -> None:
    db = tmp_path / "audit.db"
    with SqliteSink(db) as sink:
        write(sink)
    result = run("audit", "show", f"sqlite:{db}", "--deal", "D-2", "--format", "json",
                 "--no-verify")
    assert result.exit_code == 0, result.output
    shown = orjson.loads(result.stdout)
    assert shown and {e["deal"] for e in shown} == {"D-2"}
    assert result.stderr.splitlines() == [note(f"sqlite:{db}")]


def test_show_no_verify_reads_every_file_of_a_rotated_log(tmp_path: Path) -> None:
    with JsonlSink(tmp_path / "audit.jsonl") as sink:
        write(sink, rotate=True)
    files = sorted(str(p) for p in tmp_path.iterdir())
    assert len(files) == 2
    whole = run("audit", "show", *files, "--deal", "D-1", "--format", "json")
    result = run("audit", "show", *reversed(files), "--deal", "D-1", "--format", "json",
                 "--no-verify")
    assert result.exit_code == 0, result.output
    assert result.stdout == whole.stdout
    assert len({e["decision_id"] for e in orjson.loads(result.stdout)}) == 2
    assert result.stderr.splitlines() == [note(*reversed(files))]


# report: exit codes and --no-verify


def test_report_exit_code_says_whether_the_log_verifies(tmp_path: Path) -> None:
    log = jsonl_log(tmp_path)
    out = tmp_path / "report.html"
    assert run("report", str(log), "-o", str(out)).exit_code == 0
    edit(log)
    out.unlink()
    result = run("report", str(log), "-o", str(out))
    assert result.exit_code == 1, result.output
    assert out.stat().st_size > 0  # the report is still written: the log is evidence
    assert "does not verify" in result.stderr and "hash mismatch" in result.stderr


def test_report_no_verify_exits_0_on_an_edited_log_and_says_so(tmp_path: Path) -> None:
    log = jsonl_log(tmp_path)
    edit(log)
    out = tmp_path / "report.html"
    result = run("report", str(log), "-o", str(out), "--no-verify")
    assert result.exit_code == 0, result.output
    assert out.stat().st_size > 0
    assert "does not verify" not in result.stderr
    said = [line for line in result.stderr.splitlines()
            if "(--no-verify)" in line or "warning" in line]
    assert said == [f"report: {note(str(log))}"]


def test_report_on_a_rotated_log_with_a_missing_segment_exits_1(tmp_path: Path) -> None:
    with JsonlSink(tmp_path / "audit.jsonl") as sink:
        engine = Engine(load_policy(POLICY), audit=sink)
        for n in range(3):
            engine.decide(deal(id=f"D-{n}"), "advance", REP, now=NOW)
            sink.rotate()
    files = sorted(str(p) for p in tmp_path.iterdir() if p.name.startswith("audit"))
    assert len(files) == 4
    out = str(tmp_path / "report.html")
    assert run("report", *reversed(files), "-o", out).exit_code == 0
    gap = [files[0], *files[2:]]  # the second segment was not given
    result = run("report", *gap, "-o", out)
    assert result.exit_code == 1, result.output
    assert "missing" in result.stderr
    assert run("report", *gap, "-o", out, "--no-verify").exit_code == 0


def test_report_tells_a_log_without_a_chain_from_a_chain_stripped_at_its_start(
        tmp_path: Path) -> None:
    """Events never chained (not written by a cycleflow sink) cannot be verified: a warning,
    exit 0. A chained log whose first record lost its chain fields is a broken chain."""
    log = jsonl_log(tmp_path)
    records = [orjson.loads(line) for line in log.read_bytes().splitlines()]
    plain = tmp_path / "plain.jsonl"
    plain.write_bytes(b"".join(
        orjson.dumps({k: v for k, v in r.items() if k not in ("seq", "prev", "hash")}) + b"\n"
        for r in records))
    out = str(tmp_path / "r.html")
    result = run("report", str(plain), "-o", out)
    assert result.exit_code == 0, result.output
    assert "carries no hash chain" in result.stderr
    lines = log.read_bytes().splitlines(keepends=True)
    first = {k: v for k, v in records[0].items() if k not in ("seq", "prev", "hash")}
    log.write_bytes(orjson.dumps(first) + b"\n" + b"".join(lines[1:]))
    result = run("report", str(log), "-o", out)
    assert result.exit_code == 1, result.output
    assert "does not verify" in result.stderr and "carries no hash chain" not in result.stderr
