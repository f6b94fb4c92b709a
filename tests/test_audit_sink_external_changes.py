"""A JsonlSink refuses to write to a log another program truncated, appended to or deleted.

logrotate's copytruncate under a live sink made the next lines start the file at seq 1300
and ``close()`` pad it with 900 KB of zero bytes (it cut the file back to its own stale
idea of the size), which the next writer called a torn line to repair; a deleted log
swallowed 1,000 acknowledged decisions (SRE review).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from cycleflow.audit import AuditError, JsonlSink, verify


def events(n: int) -> list[dict[str, Any]]:
    return [{"event": "rule.evaluated", "decision_id": f"{n:032x}", "deal": "D-1",
             "rule": "r", "outcome": "pass", "values": {"deal.amount": n}}]


def test_a_log_truncated_under_the_sink_is_refused_and_never_padded(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    sink = JsonlSink(path)
    for n in range(5):
        sink.emit(events(n))
    os.truncate(path, 0)  # what copytruncate does after copying
    with pytest.raises(AuditError, match="changed under this sink: it holds 0 bytes"):
        sink.emit(events(5))
    with pytest.raises(AuditError, match="copytruncate"):
        sink.rotate()
    sink.close()
    assert path.read_bytes() == b""  # no event written at offset 0, no zero bytes
    assert os.listdir(tmp_path) == ["audit.jsonl"]  # and no segment


def test_a_log_another_program_appended_to_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    with JsonlSink(path) as sink:
        sink.emit(events(1))
        with path.open("ab") as other:
            other.write(b'{"not": "ours"}\n')
        with pytest.raises(AuditError, match="written by another program"):
            sink.emit(events(2))
    assert path.read_bytes().count(b"\n") == 2


def test_a_deleted_log_is_refused_instead_of_swallowing_events(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    with JsonlSink(path) as sink:
        sink.emit(events(1))
        os.remove(path)
        with pytest.raises(AuditError, match="was deleted while this sink had it open"):
            sink.emit(events(2))
    assert not path.exists()


def test_an_untouched_log_still_takes_every_emit(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    with JsonlSink(path) as sink:
        for n in range(50):
            sink.emit(events(n))
    result = verify(path)
    assert result.ok and result.records == 50
    assert b"\x00" not in path.read_bytes()
