"""A batch whose audit log cannot be written stops, exit 2, saying where.

On a full disk a nightly ``check --audit`` went on: every later record became an
``error`` verdict ("cannot write audit log"), the run exited 1 like any night with
violations, stderr was empty, and the log verified intact while covering a fifth of
the deals (SRE review).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from cycleflow.audit import verify

resource = pytest.importorskip("resource")

ROOT = Path(__file__).resolve().parent.parent
POLICY = ROOT / "policies" / "standard-sales-cycle.yaml"
DEALS = ROOT / "examples" / "deals.jsonl"


def _small_files() -> None:
    """In the child: files may not grow past 100 kB, so the audit log fills up (Python
    ignores SIGXFSZ, so a write past the limit fails with EFBIG as on a full disk)."""
    resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))


def test_a_full_audit_log_stops_the_batch_with_exit_2(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    run = subprocess.run(
        [sys.executable, "-m", "cycleflow", "check", "-p", str(POLICY), str(DEALS),
         "--now", "2026-11-26T12:00:00Z", "--audit", str(log), "--format", "jsonl"],
        capture_output=True, preexec_fn=_small_files, timeout=120, check=False)
    assert run.returncode == 2, run.stderr
    stderr = run.stderr.decode()
    assert "cannot write audit log" in stderr and "File too large" in stderr
    assert "the batch stopped there" in stderr
    checked = [orjson.loads(line) for line in log.read_bytes().splitlines()
               if b'"event":"deal.checked"' in line]
    stopped_at = int(stderr.split("at record ")[1].split(" ")[0])
    assert 1 < stopped_at < 56
    # every record before the stop is in the log, once, and the log verifies
    assert [e["values"]["record"] for e in checked] == list(range(1, stopped_at))
    assert verify(log).ok
    assert b"cannot write audit log" not in run.stdout  # no record was blamed for it
