"""Rotated JSON Lines logs: one hash chain kept in several files, read back as one log.

A log written for a year must be split (for shipping, retention, compression) without
losing what the chain proves: every file but the oldest starts with an
``audit.continued`` record chained after the previous file's last one, and verify,
show and report take the files in any order.
"""

from __future__ import annotations

import gzip
import os
import random
import shutil
import threading
from pathlib import Path
from typing import Any

import orjson
import pytest
from audit_events import decision
from click.testing import CliRunner

from cycleflow.analytics.report import ReportOptions, build_report
from cycleflow.audit import AuditError, JsonlSink, history, verify
from cycleflow.audit.segments import CONTINUED, NEXT_SUFFIX, in_chain_order, segment_path
from cycleflow.cli.audit_cmd import audit
from cycleflow.cli.common import parse_size
from cycleflow.cli.main import cli
from cycleflow.errors import UsageError

ROOT = Path(__file__).resolve().parent.parent
POLICY = str(ROOT / "policies" / "standard-sales-cycle.yaml")
DEALS = str(ROOT / "examples" / "deals.jsonl")


def files_of(tmp: Path) -> list[str]:
    """The log's files, as a shell glob ``audit*`` would give them (sorted by name)."""
    return sorted(str(p) for p in tmp.iterdir() if p.name.startswith("audit"))


@pytest.fixture
def rotated(tmp_path: Path) -> Path:
    """A log of 40 decisions (120 events) rotated at 10 kB: several segments."""
    with JsonlSink(tmp_path / "audit.jsonl", rotate_bytes=10_000) as sink:
        for n in range(40):
            sink.emit(decision(f"D-{n % 3}", n))
    return tmp_path


def test_rotate_bytes_splits_the_log_into_segments_named_by_first_seq(rotated: Path) -> None:
    files = files_of(rotated)
    segments = [f for f in files if not f.endswith("audit.jsonl")]
    assert len(segments) >= 3
    for path in segments:  # each holds at least the limit and at most one decision more
        assert 10_000 <= os.path.getsize(path) < 10_000 + 3_000
        first = orjson.loads(Path(path).read_bytes().split(b"\n", 1)[0])
        assert path == segment_path(str(rotated / "audit.jsonl"), first["seq"])
    result = verify(files)
    assert result.ok, result.describe()
    # 120 events plus one audit.continued record opening each file after the first
    assert result.records == 120 + len(segments)
    assert result.segments == tuple(files)  # zero-padded names sort in chain order
    assert f"and {len(segments)} earlier segment(s): intact" in result.describe()


def test_each_file_after_the_first_opens_with_a_continued_record(rotated: Path) -> None:
    files = files_of(rotated)
    previous_last = None
    for path in files:
        lines = [orjson.loads(x) for x in Path(path).read_bytes().splitlines()]
        if previous_last is None:
            assert lines[0]["seq"] == 0
        else:
            opening = lines[0]
            assert opening["event"] == CONTINUED
            assert opening["seq"] == previous_last["seq"] + 1
            assert opening["prev"] == previous_last["hash"]
            assert opening["values"]["records"] == previous_last["seq"] + 1 - (
                opening["values"]["first_seq"])
        previous_last = lines[-1]


def test_files_are_verified_in_chain_order_whatever_order_they_are_given(
    rotated: Path,
) -> None:
    files = files_of(rotated)
    shuffled = files[::-1]
    random.Random(7).shuffle(shuffled)
    assert verify(shuffled).ok
    assert in_chain_order(shuffled) == files


def test_compressed_segments_verify_with_the_rest(rotated: Path) -> None:
    files = files_of(rotated)
    oldest = Path(files[0])
    with gzip.open(f"{oldest}.gz", "wb") as gz:
        gz.write(oldest.read_bytes())
    oldest.unlink()
    result = verify([f"{oldest}.gz", *files[1:]])
    assert result.ok, result.describe()
    assert result.records == verify(files_of(rotated)).records


def test_the_newest_file_alone_verifies_and_says_what_it_continues(rotated: Path) -> None:
    result = verify(rotated / "audit.jsonl")
    assert result.ok
    assert result.first_seq > 0
    previous = Path(files_of(rotated)[-2]).name
    assert result.follows == previous
    text = result.describe()
    assert f"it continues {previous}, which was not given" in text
    assert f"(seq {result.first_seq} to" in text


def test_a_missing_middle_segment_is_named_with_the_records_it_held(rotated: Path) -> None:
    files = files_of(rotated)
    gone = files[1]
    first_gone = orjson.loads(Path(gone).read_bytes().split(b"\n", 1)[0])["seq"]
    result = verify([f for f in files if f != gone])
    assert not result.ok
    assert result.path == files[2]
    assert result.first_bad == 1
    assert f"records {first_gone} to" in str(result.reason)
    assert "missing" in str(result.reason)


def test_a_segment_given_twice_is_an_overlap(rotated: Path) -> None:
    files = files_of(rotated)
    copy = files[1] + ".copy"
    shutil.copy(files[1], copy)
    result = verify([*files, copy])
    assert not result.ok
    assert "overlap" in str(result.reason)


def test_a_file_of_another_log_among_the_segments_is_refused(
    rotated: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    other = tmp_path_factory.mktemp("other") / "audit.jsonl"
    with JsonlSink(other, rotate_bytes=3_000) as sink:
        for n in range(8):
            sink.emit(decision("X", n))
    others = [str(p) for p in other.parent.iterdir()]
    mixed = [*files_of(rotated), max(others)]  # a segment of another chain
    result = verify(mixed)
    assert not result.ok
    assert result.first_bad == 1


def test_an_edited_continued_record_is_a_hash_mismatch(rotated: Path) -> None:
    path = rotated / "audit.jsonl"
    lines = path.read_bytes().split(b"\n")
    lines[0] = lines[0].replace(b'"records":', b'"records":1')
    path.write_bytes(b"\n".join(lines))
    alone = verify(path)
    assert not alone.ok and alone.first_bad == 1 and "hash mismatch" in str(alone.reason)
    together = verify(files_of(rotated))
    assert not together.ok and together.path == str(path)


def test_a_log_cut_at_the_front_is_still_broken(tmp_path: Path) -> None:
    """Only an audit.continued record may start a file past seq 0: deleting the first
    lines of an unrotated log is found as before."""
    path = tmp_path / "audit.jsonl"
    with JsonlSink(path) as sink:
        for n in range(3):
            sink.emit(decision("D", n))
    path.write_bytes(b"".join(path.read_bytes().splitlines(keepends=True)[3:]))
    result = verify(path)
    assert not result.ok
    assert result.first_bad == 1
    assert "seq 3 where 0 was expected" in str(result.reason)


def test_a_writer_reopened_after_a_rotation_continues_the_chain(rotated: Path) -> None:
    before = verify(files_of(rotated))
    with JsonlSink(rotated / "audit.jsonl", rotate_bytes=10_000) as sink:
        sink.emit(decision("D-9", 99))
        assert sink.rotate() is not None
        sink.emit(decision("D-9", 100))
    after = verify(files_of(rotated))
    assert after.ok, after.describe()
    assert after.records == before.records + 3 + 1 + 3


def test_rotate_returns_none_for_an_empty_log(tmp_path: Path) -> None:
    with JsonlSink(tmp_path / "audit.jsonl") as sink:
        assert sink.rotate() is None
    assert os.listdir(tmp_path) == ["audit.jsonl"]


def test_rotation_never_overwrites_another_file_and_leaves_the_log_as_it_was(
    tmp_path: Path,
) -> None:
    path = tmp_path / "audit.jsonl"
    squatter = Path(segment_path(str(path), 0))
    squatter.write_bytes(b"someone else's file\n")
    with JsonlSink(path) as sink:
        sink.emit(decision("D", 1))
        with pytest.raises(AuditError, match="already exists"):
            sink.rotate()
        sink.emit(decision("D", 2))  # the sink still writes, to the same file
    assert squatter.read_bytes() == b"someone else's file\n"
    assert not (tmp_path / ("audit.jsonl" + NEXT_SUFFIX)).exists()
    result = verify(path)
    assert result.ok and result.records == 6


def test_a_crash_before_the_new_file_took_the_name_is_undone_on_reopen(tmp_path: Path) -> None:
    """A crash after the segment link but before the rename leaves the log whole, a hard
    link of it under the segment's name, and a temporary file: reopening drops the
    temporary file and a later rotation reuses the link."""
    path = tmp_path / "audit.jsonl"
    with JsonlSink(path) as sink:
        sink.emit(decision("D", 1))
    os.link(path, segment_path(str(path), 0))
    (tmp_path / ("audit.jsonl" + NEXT_SUFFIX)).write_bytes(b'{"seq":3,"half written')
    with JsonlSink(path) as sink:
        assert not (tmp_path / ("audit.jsonl" + NEXT_SUFFIX)).exists()
        # the segment's name, a second name of the log, went too: it would hold every
        # record twice (show duplicated them, report counted them twice)
        assert os.listdir(tmp_path) == ["audit.jsonl"]
        sink.emit(decision("D", 2))
        assert sink.rotate() == segment_path(str(path), 0)
        sink.emit(decision("D", 3))
    result = verify(files_of(tmp_path))
    assert result.ok, result.describe()
    assert result.records == 9 + 1


def test_a_crash_after_the_log_was_moved_aside_is_finished_on_reopen(tmp_path: Path) -> None:
    """Without hard links a rotation moves the log, then renames the new file: a crash
    between the two leaves only the segment and the new file, which reopening adopts."""
    path = tmp_path / "audit.jsonl"
    with JsonlSink(path) as sink:
        sink.emit(decision("D", 1))
        segment = sink.rotate()
        sink.emit(decision("D", 2))
    assert segment is not None
    os.rename(path, str(path) + NEXT_SUFFIX)  # the state between the two renames
    with JsonlSink(path) as sink:
        sink.emit(decision("D", 3))
    result = verify([segment, str(path)])
    assert result.ok, result.describe()
    assert result.records == 9 + 1


@pytest.mark.parametrize("bad", [0, -5, 1.5, "10MB", True])
def test_rotate_bytes_must_be_a_positive_whole_number(tmp_path: Path, bad: Any) -> None:
    with pytest.raises(AuditError, match="rotate_bytes"):
        JsonlSink(tmp_path / "audit.jsonl", rotate_bytes=bad)
    assert not (tmp_path / "audit.jsonl").exists()


def test_threads_writing_through_rotations_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    with JsonlSink(path, rotate_bytes=20_000) as sink:
        def work(t: int) -> None:
            for n in range(60):
                sink.emit(decision(f"T-{t}", t * 1000 + n))
        threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    files = files_of(tmp_path)
    result = verify(files)
    assert result.ok, result.describe()
    assert result.records == 4 * 60 * 3 + len(files) - 1
    for t in range(4):  # every decision's three lines are together, in one file
        events = history(files, f"T-{t}")
        assert len(events) == 180
        assert [e["event"] for e in events[:3]] == [
            "transition.requested", "rule.evaluated", "transition.blocked"]


def test_history_and_report_read_the_segments_as_one_log(rotated: Path, tmp_path: Path) -> None:
    files = files_of(rotated)
    events = history(list(reversed(files)), "D-1")
    assert len(events) == 13 * 3  # decisions 1, 4, ..., 37
    assert [e["seq"] for e in events] == sorted(e["seq"] for e in events)
    report = build_report(files, ReportOptions())
    meta = report["generated_from"]
    assert meta["events"] == 120 + len(files) - 1
    assert meta["unreadable_lines"] == 0
    with pytest.raises(UsageError, match="does not exist"):
        build_report([*files, str(rotated / "nope.jsonl")], ReportOptions())


def test_a_bad_line_in_a_segment_is_named_by_file_and_line(rotated: Path) -> None:
    files = files_of(rotated)
    second = Path(files[1])
    second.write_bytes(second.read_bytes() + b"not json\n")
    meta = build_report(files, ReportOptions())["generated_from"]
    assert meta["unreadable_lines"] == 1
    lines = len(second.read_bytes().splitlines())
    assert meta["first_unreadable_lines"] == [f"{second.name}:{lines}"]


# --------------------------------------------------------------------------- command line


def test_cli_verify_show_and_rotate(rotated: Path) -> None:
    runner = CliRunner()
    files = files_of(rotated)
    ok = runner.invoke(audit, ["verify", *files])
    assert ok.exit_code == 0, ok.output
    assert "intact" in ok.stdout
    broken = runner.invoke(audit, ["verify", *(f for f in files if f != files[1])])
    assert broken.exit_code == 1
    assert "missing" in broken.stdout
    shown = runner.invoke(audit, ["show", *files, "--deal", "D-2", "--format", "json"])
    assert shown.exit_code == 0, shown.output
    assert len(orjson.loads(shown.stdout)) == 13 * 3
    rotated_out = runner.invoke(audit, ["rotate", str(rotated / "audit.jsonl")])
    assert rotated_out.exit_code == 0, rotated_out.output
    assert "continues the chain at seq" in rotated_out.stdout
    assert runner.invoke(audit, ["verify", *files_of(rotated)]).exit_code == 0
    assert len(files_of(rotated)) == len(files) + 1


def test_cli_rotate_refuses_a_log_a_writer_holds(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    with JsonlSink(path) as sink:
        sink.emit(decision("D", 1))
        result = CliRunner().invoke(audit, ["rotate", str(path)])
    assert result.exit_code == 2
    assert "already open for writing" in result.stderr
    assert os.listdir(tmp_path) == ["audit.jsonl"]


def test_check_audit_rotate_writes_segments_that_verify(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    runner = CliRunner()
    for _ in range(2):
        result = runner.invoke(cli, [
            "check", "-p", POLICY, DEALS, "--now", "2026-11-26T12:00:00Z", "--audit", str(log),
            "--audit-rotate", "40kB", "--format", "json", "-o", str(tmp_path / "out.json"),
        ])
        assert result.exit_code in (0, 1), result.output
    files = files_of(tmp_path)
    assert len(files) > 3
    checked = verify(files)
    assert checked.ok, checked.describe()
    # two runs of 56 deals, one deal.checked each, plus the rules they read
    deal_checked = sum(
        1 for f in files for line in Path(f).read_bytes().splitlines()
        if b'"event":"deal.checked"' in line)
    assert deal_checked == 2 * 56


@pytest.mark.parametrize("args, message", [
    (["--audit-rotate", "10q"], "give a size such as 100MB"),
    (["--audit-rotate", "0"], "more than 0 bytes"),
    (["--audit-rotate", "1MB"], "needs --audit FILE"),
])
def test_check_audit_rotate_usage_errors(tmp_path: Path, args: list[str], message: str) -> None:
    audit_args = [] if "needs" in message else ["--audit", str(tmp_path / "a.jsonl")]
    result = CliRunner().invoke(cli, ["check", "-p", POLICY, DEALS, *audit_args, *args])
    assert result.exit_code == 2
    assert message in result.stderr
    assert not (tmp_path / "a.jsonl").exists()


def test_a_sqlite_log_is_not_rotated(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, [
        "check", "-p", POLICY, DEALS, "--audit", f"sqlite:{tmp_path / 'a.db'}",
        "--audit-rotate", "1MB"])
    assert result.exit_code == 2
    assert "not rotated" in result.stderr


@pytest.mark.parametrize("text, size", [
    ("500000", 500_000), ("100MB", 100_000_000), ("1.5G", 1_500_000_000),
    ("64MiB", 64 * 1024 ** 2), ("10 kb", 10_000), ("1_000", 1000), ("2T", 2 * 10 ** 12),
])
def test_parse_size(text: str, size: int) -> None:
    assert parse_size(text, "--audit-rotate") == size


@pytest.mark.parametrize("text", ["", "MB", "-1MB", "1PB", "१००", "0.0001", "1ib", "5iB"])
def test_parse_size_refuses(text: str) -> None:
    with pytest.raises(UsageError, match="--audit-rotate"):
        parse_size(text, "--audit-rotate")


def test_a_log_that_cannot_rotate_by_size_still_records_every_decision(
    tmp_path: Path,
) -> None:
    """rotate_bytes's rotation failing (a file already holds the segment's name) must not
    fail the decisions the log records: their events are written, and it is said once."""
    path = tmp_path / "audit.jsonl"
    squatter = Path(segment_path(str(path), 0))
    squatter.write_bytes(b"someone else's file\n")
    with JsonlSink(path, rotate_bytes=1_000) as sink:
        sink.emit(decision("D", 0))
        with pytest.warns(RuntimeWarning, match="already exists.*grows past rotate_bytes"):
            sink.emit(decision("D", 1))
        sink.emit(decision("D", 2))  # no second warning, no rotation attempt
        with pytest.raises(AuditError, match="already exists"):
            sink.rotate()  # an explicit rotation still says why it cannot
    assert squatter.read_bytes() == b"someone else's file\n"
    result = verify(path)
    assert result.ok and result.records == 9
