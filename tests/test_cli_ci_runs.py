"""`cycleflow check` as a CI step meets it: cancelled runs, closed pipes, where the report
goes, and inputs that are not there. Each test is a defect a CI engineer's review found."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
POLICY = str(ROOT / "policies" / "standard-sales-cycle.yaml")
DEALS = ROOT / "examples" / "deals.jsonl"
NOW = "2026-11-26T12:00:00Z"


def check(*args: str, cwd: Path = ROOT, stdin: bytes | None = None,
          ) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "cycleflow", "check", "-p", POLICY,
                           "--now", NOW, *args], input=stdin, capture_output=True, cwd=cwd,
                          timeout=120)


def _big(tmp_path: Path, n: int = 150_000) -> Path:
    lines = DEALS.read_bytes().splitlines()
    body = b"\n".join(lines[i % len(lines)].replace(b'"id": "', b'"id": "%d-' % i, 1)
                      for i in range(n))
    path = tmp_path / "big.jsonl"
    path.write_bytes(body + b"\n")
    return path


def _alive_in_group(pgid: int) -> list[int]:
    """Processes of process group ``pgid`` that still run (zombies excluded)."""
    alive = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) "
        if int(fields[2]) == pgid and fields[0] != "Z":
            alive.append(int(entry))
    return alive


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize(("sig", "code", "said"), [(signal.SIGTERM, 143, b"terminated"),
                                                   (signal.SIGHUP, 129, b"terminated"),
                                                   (signal.SIGINT, 130, b"interrupted")])
def test_a_cancelled_parallel_run_leaves_no_worker_and_no_partial_report(
        tmp_path: Path, sig: int, code: int, said: bytes) -> None:
    """Cancelled by a CI runner (SIGTERM) or Ctrl-C, a `--jobs 2` junit run left its two
    workers alive for ever, holding stdout open (a wrapper reading it never saw its end),
    and an empty r.xml.partial."""
    big = _big(tmp_path)
    out = tmp_path / "r.xml"
    proc = subprocess.Popen(
        [sys.executable, "-m", "cycleflow", "check", "-p", POLICY, str(big), "--now", NOW,
         "--format", "junit", "--jobs", "2", "-o", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, start_new_session=True)
    try:
        time.sleep(2.5)
        if sig != signal.SIGINT:
            proc.send_signal(sig)  # the parent alone, as runners, timeouts and a closed
            # terminal's hang-up do
        else:
            os.killpg(proc.pid, signal.SIGINT)  # a terminal's Ctrl-C: the whole group
        stdout, err = proc.communicate(timeout=30)  # EOF on stdout: nobody holds it open
        assert proc.returncode == code, err
        assert err.strip().endswith(b"cycleflow: " + said), err
        deadline = time.monotonic() + 10
        while _alive_in_group(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _alive_in_group(proc.pid) == []
        assert not list(tmp_path.glob("r.xml*"))
    finally:
        for pid in _alive_in_group(proc.pid):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_workers_die_with_a_parent_killed_outright(tmp_path: Path) -> None:
    """SIGKILL leaves no chance to clean up: the kernel must stop the workers."""
    big = _big(tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "cycleflow", "check", "-p", POLICY, str(big), "--now", NOW,
         "--format", "text", "--jobs", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=ROOT, start_new_session=True)
    try:
        time.sleep(2.5)
        proc.kill()
        proc.communicate(timeout=30)
        deadline = time.monotonic() + 10
        while _alive_in_group(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _alive_in_group(proc.pid) == []
    finally:
        for pid in _alive_in_group(proc.pid):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize(("fmt", "jobs"), [("jsonl", "1"), ("text", "2"), ("jsonl", "2")])
def test_a_reader_that_stops_early_makes_the_run_fail_and_never_hang(
        tmp_path: Path, fmt: str, jobs: str) -> None:
    """`check ... | head -1` exited 0 ("all compliant") with violations unread, and about
    three runs in five of `--format text -j 2 | head -1` hung for good."""
    big = _big(tmp_path, 60_000)
    for _ in range(3):
        proc = subprocess.Popen(
            [sys.executable, "-m", "cycleflow", "check", "-p", POLICY, str(big), "--now", NOW,
             "--format", fmt, "--jobs", jobs],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
        assert proc.stdout is not None
        proc.stdout.readline()
        proc.stdout.close()  # what head does after its line
        try:
            err = proc.communicate(timeout=60)[1]
        except subprocess.TimeoutExpired:
            proc.kill()
            raise AssertionError("check hung after its reader closed the pipe") from None
        assert proc.returncode == 141, err
        assert b"Traceback" not in err and b"Exception ignored" not in err, err


def test_a_report_inside_an_input_folder_is_refused(tmp_path: Path) -> None:
    """`check crm -o crm/export.jsonl` replaced the deal file; `-o crm/verdicts.jsonl`
    was read back as 56 error records by the next run over crm."""
    crm = tmp_path / "crm"
    crm.mkdir()
    shutil.copy(DEALS, crm / "export.jsonl")
    before = (crm / "export.jsonl").read_bytes()
    for target in ("export.jsonl", "verdicts.jsonl", "sub/verdicts.json.gz"):
        proc = check(str(crm), "--format", "jsonl", "-o", str(crm / target))
        assert proc.returncode == 2, proc.stderr
        assert b"inside the input folder" in proc.stderr
    assert (crm / "export.jsonl").read_bytes() == before
    assert sorted(p.name for p in crm.iterdir()) == ["export.jsonl"]
    ok = check(str(crm), "--format", "junit", "-o", str(crm / "report.xml"))
    assert ok.returncode == 1 and (crm / "report.xml").exists()  # not a deal file's name


def test_a_report_onto_the_file_behind_standard_input_is_refused(tmp_path: Path) -> None:
    deals = tmp_path / "deals.jsonl"
    shutil.copy(DEALS, deals)
    with deals.open("rb") as fh:
        proc = subprocess.run(
            [sys.executable, "-m", "cycleflow", "check", "-p", POLICY, "--now", NOW, "-",
             "-o", str(deals)], stdin=fh, capture_output=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 2 and b"standard input" in proc.stderr, proc.stderr
    assert deals.read_bytes() == DEALS.read_bytes()


def test_dash_as_the_output_means_standard_output(tmp_path: Path) -> None:
    proc = check(str(DEALS), "--format", "jsonl", "-o", "-", cwd=tmp_path)
    assert proc.returncode == 1 and proc.stdout.count(b"\n") == 56
    assert not (tmp_path / "-").exists()


def test_a_folder_of_files_without_a_deal_suffix_is_named_not_silently_empty(
        tmp_path: Path) -> None:
    folder = tmp_path / "dir"
    folder.mkdir()
    (folder / "bad-deal.txt").write_bytes(DEALS.read_bytes().splitlines()[3] + b"\n")
    (folder / ".hidden").write_text("x")
    if hasattr(os, "mkfifo"):
        os.mkfifo(folder / "feed.jsonl")  # read, it would block the batch for ever
    proc = check(str(folder))
    assert b"not read: " + str(folder / "bad-deal.txt").encode() in proc.stderr
    assert b".hidden" not in proc.stderr
    if hasattr(os, "mkfifo"):
        assert (b"not read: " + str(folder / "feed.jsonl").encode()
                + b" (not a regular file: a pipe or a device)") in proc.stderr


def test_a_report_that_cannot_be_written_names_the_file_the_user_gave(tmp_path: Path) -> None:
    proc = check(str(DEALS), "-o", "nodir/sub/r.xml", "--format", "junit", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.decode().strip() == (
        "cycleflow: error: cannot write report nodir/sub/r.xml: the folder nodir/sub does "
        "not exist")
    if os.path.exists("/dev/full"):
        proc = check(str(DEALS), "-o", "/dev/full", "--format", "junit")
        assert proc.returncode == 2
        assert b"cannot write report /dev/full: No space left on device" in proc.stderr


def test_audit_show_and_explain_cut_short_by_their_reader_exit_141(tmp_path: Path) -> None:
    """rich exits 1 by itself on a closed pipe: `audit show ... | head` read as a failure
    of another kind than the cut-short report it was."""
    import json

    from cycleflow import Engine, load_policy
    from cycleflow.audit import JsonlSink

    log = tmp_path / "audit.jsonl"
    deal = json.loads((ROOT / "examples" / "deal-discount.json").read_text("utf-8"))
    with JsonlSink(log) as sink:
        engine = Engine(load_policy(POLICY), audit=sink)
        for _ in range(400):
            engine.decide(deal, "win", {"id": "ann", "roles": ["sales_rep"]}, now=NOW)
    proc = subprocess.Popen(
        [sys.executable, "-m", "cycleflow", "audit", "show", str(log), "--deal", deal["id"]],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    assert proc.stdout is not None
    proc.stdout.close()  # gone before the history is printed
    err = proc.communicate(timeout=60)[1]
    assert proc.returncode == 141, err
    assert b"Traceback" not in err
