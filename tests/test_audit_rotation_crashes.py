"""Rotation under interruptions, signals and a racing second writer (QA review).

An exception after the new file had taken the log's name "put the log back" by deleting
the segment, its records' only name; a hard link left by a crash made every record
appear twice; rotate() from a signal handler waited forever for the lock the interrupted
emit held; a second sink could lock the old file a rotation had just moved aside.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cycleflow.analytics.report import ReportOptions, build_report
from cycleflow.audit import AuditError, JsonlSink, SqliteSink, history, verify
from cycleflow.audit.segments import segment_path
from cycleflow.cli.audit_cmd import audit

STOP = KeyboardInterrupt  # what SIGINT (and the CLI's SIGTERM) raise in the main thread


def events(n: int, at: str = "2026-06-01T09:00:00Z") -> list[dict[str, Any]]:
    return [{"event": "deal.checked", "at": at, "decision_id": f"{n:032x}", "deal": "D-1",
             "outcome": "compliant", "policy_sha256": "ab" * 32}]


def files(tmp: Path) -> list[str]:
    return sorted(str(p) for p in tmp.iterdir() if p.name.startswith("audit"))


def test_a_failed_directory_sync_after_the_rename_keeps_the_rotation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = tmp_path / "audit.jsonl"
    with JsonlSink(path) as sink:
        for n in range(5):
            sink.emit(events(n))

        def eio() -> None:
            raise OSError(errno.EIO, "Input/output error")

        monkeypatch.setattr(sink, "_sync_dir", eio)
        with pytest.raises(AuditError, match="rotated audit log .* but syncing the directory"):
            sink.rotate()
        monkeypatch.undo()
        sink.emit(events(5))  # the sink writes to the new file
    result = verify(files(tmp_path))
    assert result.ok, result.describe()
    assert result.records == 5 + 1 + 1
    assert len(history(files(tmp_path), "D-1")) == 6


def test_an_interruption_right_after_the_rename_keeps_every_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """SIGTERM during the directory fsync deleted seq 0-28 of a real run."""
    path = tmp_path / "audit.jsonl"
    with JsonlSink(path) as sink:
        for n in range(5):
            sink.emit(events(n))

        def stop() -> None:
            raise STOP

        monkeypatch.setattr(sink, "_sync_dir", stop)
        with pytest.raises(STOP):
            sink.rotate()
        monkeypatch.undo()
        sink.emit(events(5))
    result = verify(files(tmp_path))
    assert result.ok and result.records == 7
    assert len(files(tmp_path)) == 2


def test_rotate_soon_from_a_signal_handler_never_hangs(tmp_path: Path) -> None:
    if not hasattr(signal, "SIGUSR1"):
        pytest.skip("no SIGUSR1 here")
    path = tmp_path / "audit.jsonl"
    sink = JsonlSink(path)
    previous = signal.signal(signal.SIGUSR1, lambda *_: sink.rotate_soon())
    stop = threading.Event()

    def sender() -> None:
        while not stop.is_set():
            os.kill(os.getpid(), signal.SIGUSR1)
            time.sleep(0.005)

    thread = threading.Thread(target=sender, daemon=True)
    thread.start()
    try:
        n = 0
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            sink.emit(events(n))
            n += 1
    finally:
        stop.set()
        thread.join()
        signal.signal(signal.SIGUSR1, previous)
        sink.close()
    logs = files(tmp_path)
    assert len(logs) > 2
    result = verify(logs)
    assert result.ok and result.records == n + len(logs) - 1


def test_a_second_writer_racing_a_rotation_never_locks_the_segment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = tmp_path / "audit.jsonl"
    first = JsonlSink(path)
    first.emit(events(0))
    real = JsonlSink._take_lock
    raced: list[bool] = []

    def rotate_then_lock(self: JsonlSink, fd: int) -> None:
        if self is not first and not raced:  # the second sink opened the old file: now
            raced.append(True)  # the writer rotates it away and lets go of its lock
            first.rotate()
        real(self, fd)

    monkeypatch.setattr(JsonlSink, "_take_lock", rotate_then_lock)
    with pytest.raises(AuditError, match="already open for writing"):
        JsonlSink(path)
    first.emit(events(1))
    first.close()
    result = verify(files(tmp_path))
    assert raced and result.ok and result.records == 3


def test_an_anchor_taken_before_a_rotation_is_found_in_the_newest_file(
    tmp_path: Path,
) -> None:
    path = tmp_path / "audit.jsonl"
    with JsonlSink(path) as sink:
        for n in range(3):
            sink.emit(events(n))
        anchor = sink.head
        sink.rotate()
        sink.emit(events(3))
    alone = verify(path, expect_head=anchor)
    assert alone.ok and alone.anchored, alone.describe()
    assert not verify(path, expect_head="f" * 64).ok


def test_the_first_segment_given_twice_is_an_overlap(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    with JsonlSink(path, rotate_bytes=300) as sink:
        for n in range(4):
            sink.emit(events(n))
    oldest = segment_path(str(path), 0)
    copy = tmp_path / "audit.000000000000.copy.jsonl"
    copy.write_bytes(Path(oldest).read_bytes())
    result = verify([*files(tmp_path)])
    assert not result.ok
    assert "the oldest segment given twice" in str(result.reason)


def test_report_period_ignores_the_sinks_own_records(tmp_path: Path) -> None:
    """audit.continued records carry the wall clock: the period ended 'today'."""
    path = tmp_path / "audit.jsonl"
    with JsonlSink(path, rotate_bytes=300) as sink:
        for n in range(4):
            sink.emit(events(n))
    period = build_report(files(tmp_path), ReportOptions())["generated_from"]["period"]
    assert period == {"from": "2026-06-01T09:00:00Z", "to": "2026-06-01T09:00:00Z"}


def test_report_each_takes_a_sqlite_log_too(tmp_path: Path) -> None:
    with JsonlSink(tmp_path / "w1.jsonl") as one:
        one.emit(events(1))
    with SqliteSink(tmp_path / "w2.db") as two:
        two.emit(events(2))
    meta = build_report([str(tmp_path / "w1.jsonl"), f"sqlite:{tmp_path / 'w2.db'}"],
                        ReportOptions(), each=True)["generated_from"]
    assert meta["events"] == 2


def test_audit_rotate_says_which_records_the_segment_holds(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    with JsonlSink(path) as sink:
        for n in range(3):
            sink.emit(events(n))
        sink.rotate()
        sink.emit(events(3))
    out = CliRunner().invoke(audit, ["rotate", str(path)])
    assert out.exit_code == 0, out.output
    assert f"{segment_path(str(path), 3)} holds records 3 to 4" in out.stdout
    assert "continues the chain at seq 5" in out.stdout
    assert json.loads(path.read_text())["seq"] == 5
