"""A log ending in zero bytes (a power loss with fsync off) is named as such and repaired
without reading the zeros into memory: opening a sink on a log with a 400 MB tail of
zeros used 869 MB (the backward scan doubled its buffer until it found a line end) and
called it a torn line without saying what it was (SRE review)."""

from __future__ import annotations

import hashlib
import tracemalloc
from pathlib import Path

import orjson
import pytest

from cycleflow.audit import AuditError, JsonlSink, verify

ZEROS = 20 * 1024 * 1024


def log_with_zero_tail(tmp_path: Path) -> Path:
    path = tmp_path / "audit.jsonl"
    with JsonlSink(path) as sink:
        for n in range(3):
            sink.emit([{"event": "rule.evaluated", "decision_id": f"{n:032x}", "deal": "D"}])
    with path.open("ab") as fh:
        fh.write(bytes(ZEROS))
    return path


def test_opening_names_the_zeros_in_bounded_memory(tmp_path: Path) -> None:
    path = log_with_zero_tail(tmp_path)
    tracemalloc.start()
    try:
        with pytest.raises(AuditError) as info:
            JsonlSink(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * 1024 * 1024, peak  # the tail is 20 MiB
    message = str(info.value)
    # only the first MiB was read, so only it is called zeros
    assert f"{ZEROS} bytes, the first 1048576 of them zero bytes, where a record should " \
        "be" in message
    assert "power loss" in message and "repair" in message


def test_repair_keeps_the_zeros_beside_the_log_and_continues(tmp_path: Path) -> None:
    path = log_with_zero_tail(tmp_path)
    with JsonlSink(path, repair=True) as sink:
        sink.emit([{"event": "rule.evaluated", "decision_id": "f" * 32, "deal": "D"}])
    saved = tmp_path / "audit.jsonl.torn-line-4"
    assert saved.read_bytes() == bytes(ZEROS)
    lines = path.read_bytes().splitlines()
    repaired = orjson.loads(lines[3])
    assert repaired["event"] == "audit.repaired"
    assert repaired["values"]["bytes"] == ZEROS
    assert repaired["values"]["sha256"] == hashlib.sha256(bytes(ZEROS)).hexdigest()
    result = verify(path)
    assert result.ok and result.records == 5
