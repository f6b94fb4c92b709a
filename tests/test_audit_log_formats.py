"""Audit logs in the forms they are archived and damaged in: compressed with xz, bzip2 or
zstd, and with a huge line (a power loss's run of NUL bytes) where records should be.

An xz log was reported as tampered ("BROKEN at line 1: not valid JSON", exit 1): the
worst false page, when the truth is a compression only gzip was read in. A log with
400 MB of NUL bytes appended made ``verify`` and ``audit show`` hold all of it at once.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from audit_events import decision
from click.testing import CliRunner

from cycleflow.analytics.report import ReportOptions, build_report
from cycleflow.audit import AuditError, JsonlSink, history, logfile, verify
from cycleflow.audit.segments import first_record
from cycleflow.cli.audit_cmd import audit
from cycleflow.errors import UsageError


def write_log(path: Path, decisions: int = 6) -> Path:
    """A log as the sink writes it: ``decisions`` decisions, alternating two deals."""
    with JsonlSink(path) as sink:
        for n in range(decisions):
            sink.emit(decision(f"D-{n % 2}", n))
    return path


def zstd_frame(data: bytes) -> bytes:
    """``data`` as one zstd frame of raw (stored) blocks: what ``zstd`` writes for data it
    cannot shrink. Built by hand: Python 3.11 has no zstd module."""
    assert 256 <= len(data) < 65536 + 256
    out = bytearray(b"\x28\xb5\x2f\xfd")
    out += b"\x60"  # single segment, 2-byte frame content size (stored as size - 256)
    out += (len(data) - 256).to_bytes(2, "little")
    blocks = [data[i:i + 65536] for i in range(0, len(data), 65536)]
    for index, block in enumerate(blocks):
        last = index == len(blocks) - 1
        out += (int(last) | len(block) << 3).to_bytes(3, "little")  # raw block
        out += block
    return bytes(out)


COMPRESSORS: dict[str, Callable[[bytes], bytes]] = {"xz": lzma.compress, "bz2": bz2.compress}


def run(*args: str) -> Any:
    return CliRunner().invoke(audit, list(args))


@pytest.fixture
def log(tmp_path: Path) -> Path:
    return write_log(tmp_path / "audit.jsonl")


# --------------------------------------------------------------------------- compression


@pytest.mark.parametrize("suffix", list(COMPRESSORS))
def test_an_xz_or_bzip2_log_verifies_and_reads_like_the_plain_one(
        log: Path, tmp_path: Path, suffix: str) -> None:
    packed = tmp_path / f"audit.jsonl.{suffix}"
    packed.write_bytes(COMPRESSORS[suffix](log.read_bytes()))
    plain, compressed = verify(log), verify(packed)
    assert compressed.ok, compressed.describe()
    assert (compressed.records, compressed.head) == (plain.records, plain.head) == (
        18, orjson.loads(log.read_bytes().splitlines()[-1])["hash"])
    assert history(packed, "D-1") == history(log, "D-1") != []

    verified = run("verify", str(packed))
    assert verified.exit_code == 0, verified.output
    assert verified.stdout == f"{packed}: intact, 18 records, head {plain.head}\n"
    shown = run("show", str(packed), "--deal", "D-1", "--format", "json")
    assert shown.exit_code == 0, shown.output
    assert orjson.loads(shown.stdout) == orjson.loads(
        run("show", str(log), "--deal", "D-1", "--format", "json").stdout)
    assert shown.stderr == ""  # no "may have been tampered with"

    figures = build_report([str(packed)], ReportOptions())
    assert figures["generated_from"]["events"] == 18
    assert figures["generated_from"]["unreadable_lines"] == 0


@pytest.mark.parametrize("suffix", list(COMPRESSORS))
def test_a_sink_refuses_to_append_to_an_xz_or_bzip2_log(
        log: Path, tmp_path: Path, suffix: str) -> None:
    packed = tmp_path / f"audit.jsonl.{suffix}"
    packed.write_bytes(COMPRESSORS[suffix](log.read_bytes()))
    before = packed.read_bytes()
    assert logfile.is_compressed(str(packed))
    with pytest.raises(AuditError, match="compressed"):
        JsonlSink(packed)  # plain lines after the compressed stream would ruin it
    assert packed.read_bytes() == before


@pytest.mark.parametrize("suffix", list(COMPRESSORS))
def test_a_cut_or_damaged_xz_or_bzip2_log_is_unreadable_not_tampered(
        log: Path, tmp_path: Path, suffix: str) -> None:
    packed = COMPRESSORS[suffix](log.read_bytes())
    cut = tmp_path / f"cut.jsonl.{suffix}"
    cut.write_bytes(packed[:-20])
    damaged = tmp_path / f"damaged.jsonl.{suffix}"
    flipped = bytearray(packed)
    flipped[len(flipped) // 2] ^= 0xFF
    damaged.write_bytes(bytes(flipped))
    for path in (cut, damaged):
        with pytest.raises(AuditError, match="compressed data is damaged or cut short"):
            verify(path)
        with pytest.raises(AuditError, match="compressed data is damaged or cut short"):
            history(path, "D-1")
        result = run("verify", str(path))
        assert result.exit_code == 2, result.output
        assert result.stdout == "" and "BROKEN" not in result.stderr
        assert len(result.stderr.splitlines()) == 1
        assert "damaged or cut short" in result.stderr and str(path) in result.stderr
        shown = run("show", str(path), "--deal", "D-1")
        assert shown.exit_code == 2 and "tampered" not in shown.output, shown.output


def test_a_damaged_gzip_log_is_unreadable_not_an_edited_record(log: Path,
                                                               tmp_path: Path) -> None:
    """gzip checks its data only at its end: a flipped byte first decodes to garbage,
    which the chain check called an edited record (exit 1, a false tamper alert)."""
    packed = bytearray(gzip.compress(log.read_bytes()))
    packed[len(packed) // 2] ^= 0xFF
    damaged = tmp_path / "damaged.jsonl.gz"
    damaged.write_bytes(bytes(packed))
    with pytest.raises(AuditError, match="damaged or cut short"):
        verify(damaged)
    result = run("verify", str(damaged))
    assert result.exit_code == 2 and result.stdout == "", result.output
    assert "damaged or cut short" in result.stderr


def test_an_edited_and_recompressed_log_is_still_broken(log: Path, tmp_path: Path) -> None:
    """Only damage to the compression is exit 2: an edit made before compressing is the
    chain's business, found at its line (exit 1)."""
    lines = log.read_bytes().splitlines(keepends=True)
    lines[4] = lines[4].replace(b"25", b"15")
    edited = tmp_path / "edited.jsonl.xz"
    edited.write_bytes(lzma.compress(b"".join(lines)))
    result = run("verify", str(edited))
    assert result.exit_code == 1, result.output
    assert "BROKEN at line 5: hash mismatch" in result.stdout


def test_a_zstd_log_says_to_decompress_it(log: Path, tmp_path: Path) -> None:
    packed = tmp_path / "audit.jsonl.zst"
    packed.write_bytes(zstd_frame(log.read_bytes()))
    before = packed.read_bytes()
    assert logfile.is_compressed(str(packed))
    with pytest.raises(AuditError, match=r"compressed with zstd, which cycleflow does not "
                                         r"read: decompress it first \(zstd -d "):
        verify(packed)
    with pytest.raises(AuditError, match="zstd"):
        history(packed, "D-1")
    with pytest.raises(UsageError, match="zstd -d"):
        build_report([str(packed)], ReportOptions())
    for args in (["verify", str(packed)], ["show", str(packed), "--deal", "D-1"]):
        result = run(*args)
        assert result.exit_code == 2, result.output  # never 1: nothing says it was tampered
        assert result.stdout == ""
        assert len(result.stderr.splitlines()) == 1
        assert f"zstd -d {packed}" in result.stderr and "BROKEN" not in result.stderr
    with pytest.raises(AuditError, match="compressed"):
        JsonlSink(packed)
    assert packed.read_bytes() == before


def test_compressed_segments_of_a_rotated_log_are_put_in_chain_order(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    with JsonlSink(path) as sink:
        sink.emit(decision("D-0", 0))
        older = sink.rotate()
        sink.emit(decision("D-1", 1))
        old = sink.rotate()
        sink.emit(decision("D-0", 2))
    assert older is not None and old is not None
    plain = verify([older, old, str(path)])
    assert plain.ok, plain.describe()
    xz, bz = f"{older}.xz", f"{old}.bz2"
    Path(xz).write_bytes(lzma.compress(Path(older).read_bytes()))
    Path(bz).write_bytes(bz2.compress(Path(old).read_bytes()))
    assert first_record(xz) == first_record(older)
    given = [str(path), bz, xz]  # newest first: the order comes from the first records
    result = verify(given)
    assert result.ok, result.describe()
    assert (result.records, result.head, result.segments) == (
        plain.records, plain.head, (xz, bz, str(path)))
    assert history(given, "D-0") == history([older, old, str(path)], "D-0")


# --------------------------------------------------------------------------- huge lines


def test_a_tail_of_nul_bytes_is_a_torn_line_of_zeros(log: Path) -> None:
    """What a power loss with fsync off leaves: the file's length grew, its data did not
    reach the disk. Reported as zeros (not "cut in the middle of a line"), still torn."""
    events = history(log, "D-1")
    size = 3 * 1024 * 1024
    with log.open("ab") as fh:
        fh.write(b"\x00" * size)
    result = verify(log)
    assert (result.ok, result.records, result.first_bad, result.torn) == (False, 18, 19, True)
    assert result.reason == (
        f"{size} bytes of NUL bytes (zeros) where a record should be: a crash or power loss "
        "before the data reached the disk (a torn last line: no newline ends it)")
    assert history(log, "D-1") == events
    cli = run("verify", str(log))
    assert cli.exit_code == 1 and "NUL bytes" in cli.stdout
    assert "cycleflow audit repair" in cli.stderr


def test_a_line_over_the_bound_is_measured_not_loaded(
        log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The bound is 16 MiB; lowered here so that a 3 MiB run of zeros is over it. It is
    read in pieces of the bound: memory stays near the bound, not the line."""
    monkeypatch.setattr(logfile, "MAX_LINE", 64 * 1024, raising=False)
    size = 3 * 1024 * 1024
    with log.open("ab") as fh:
        fh.write(b"\x00" * size)
    tracemalloc.start()
    try:
        result = verify(log)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1024 * 1024, peak
    assert (result.first_bad, result.records, result.torn) == (19, 18, True)
    assert result.reason is not None
    assert result.reason.startswith(f"{size} bytes of NUL bytes (zeros) where a record should be")
    assert len(history(log, "D-1")) == 9


def test_a_long_line_that_is_not_zeros_is_not_a_record(
        log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logfile, "MAX_LINE", 1024, raising=False)
    lines = log.read_bytes().splitlines(keepends=True)
    long_line = b'{"seq":' + b"7" * 5000 + b"}\n"
    log.write_bytes(b"".join([*lines[:5], long_line, *lines[5:]]))
    result = verify(log)
    assert (result.ok, result.first_bad, result.records, result.torn) == (False, 6, 5, False)
    assert result.reason == "line over 1 KiB: not a record the sink writes (5008 bytes)"
    # history reads past it (a record of the deal after it is still found)...
    assert [e["seq"] for e in history(log, "D-1")] == [3, 4, 5, 9, 10, 11, 15, 16, 17]
    # ...and the report counts it as one unreadable line, at its number
    meta = build_report([str(log)], ReportOptions())["generated_from"]
    assert (meta["events"], meta["unreadable_lines"], meta["first_unreadable_lines"]) == (
        18, 1, [6])
    log.write_bytes(b"".join(lines) + long_line[:-1])  # the same, torn: cut by repair
    torn = verify(log)
    assert torn.torn and torn.first_bad == 19
    assert torn.reason == ("line over 1 KiB: not a record the sink writes (5008 bytes, the "
                           "last line, without a newline)")


def test_lines_at_the_bound_are_read_whole(log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A line exactly as long as the bound (newline included) is an ordinary line, and so
    is a torn last line exactly as long as it; one byte more is over it."""
    lines = log.read_bytes().splitlines(keepends=True)
    bound = max(len(x) for x in lines)
    assert bound % 1024
    monkeypatch.setattr(logfile, "MAX_LINE", bound, raising=False)
    assert verify(log).ok
    log.write_bytes(b"".join(lines) + b"x" * bound)
    cut = verify(log)
    assert (cut.torn, cut.first_bad) == (True, 19)
    assert cut.reason is not None
    assert cut.reason.startswith(f"torn last line ({bound} bytes without a newline)")
    log.write_bytes(b"".join(lines) + b"x" * (bound + 1))
    over = verify(log)
    assert (over.torn, over.first_bad) == (True, 19)
    assert over.reason == (f"line over {bound} bytes: not a record the sink writes "
                           f"({bound + 1} bytes, the last line, without a newline)")


def test_a_first_line_over_the_bound_is_not_loaded_to_order_segments(
        log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Putting segments in chain order reads each file's first line: a file that starts
    with a run of zeros has no first record, found without holding the run."""
    monkeypatch.setattr(logfile, "MAX_LINE", 64 * 1024, raising=False)
    assert first_record(str(log)) == orjson.loads(log.read_bytes().splitlines()[0])
    log.write_bytes(b"\x00" * (3 * 1024 * 1024) + b"\n" + log.read_bytes())
    tracemalloc.start()
    try:
        first = first_record(str(log))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert first is None
    assert peak < 1024 * 1024, peak


@pytest.mark.parametrize("tail", [b"", b'ision_id":"x"}'], ids=["zeros", "zeros then data"])
def test_a_line_of_nul_bytes_before_more_records(log: Path, tail: bytes) -> None:
    """Zeros where a block of the file never reached the disk, then the data written after
    it: the first bad line is the zeros, and it is no torn last line."""
    lines = log.read_bytes().splitlines(keepends=True)
    log.write_bytes(b"".join([*lines[:7], b"\x00" * 4096 + tail + b"\n", *lines[7:]]))
    result = verify(log)
    assert (result.ok, result.first_bad, result.records, result.torn) == (False, 8, 7, False)
    assert result.reason is not None
    assert result.reason.startswith("4096 bytes of NUL bytes (zeros) where a record should be")
    assert ("then 14 other bytes" in result.reason) == bool(tail)
    assert result.reason.endswith("a crash or power loss before the data reached the disk")
    assert len(history(log, "D-0")) == 9
    shown = run("show", str(log), "--deal", "D-0", "--format", "json")
    assert shown.exit_code == 1 and len(orjson.loads(shown.stdout)) == 9
    assert "line 8" in shown.stderr and "NUL bytes" in shown.stderr


def test_the_sink_never_writes_a_line_the_readers_would_call_broken(tmp_path: Path) -> None:
    """verify calls a line over MAX_LINE "not a record the sink writes": a rule reading a
    17 MB field made the sink write one, and the log then failed verification."""
    from cycleflow.audit import AuditError, JsonlSink, verify
    from cycleflow.audit.logfile import MAX_LINE

    path = tmp_path / "audit.jsonl"
    with JsonlSink(path) as sink:
        sink.emit(decision("D-0", 0))
        before = path.read_bytes()
        huge = [{"event": "rule.evaluated", "deal": "D-1",
                 "values": {"deal.notes": "x" * MAX_LINE}}]
        with pytest.raises(AuditError, match="a log line may hold"):
            sink.emit(huge)
        assert path.read_bytes() == before
        sink.emit(decision("D-2", 2))
    assert verify(path).ok
