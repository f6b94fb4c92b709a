"""A real writer process killed with SIGKILL mid-run leaves a log whose verified prefix holds.

The child appends decisions in a loop through a JsonlSink (fsync off) and prints
the last seq after each ``emit`` returns; the parent kills it at a random moment
and checks that everything acknowledged verifies and a torn tail is reported.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import cycleflow
from cycleflow.audit import AuditError, JsonlSink, verify

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")

CHILD = textwrap.dedent(
    """
    import sys
    from cycleflow.audit import JsonlSink

    path, pad_size, per = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    pad = "x" * pad_size
    with JsonlSink(path) as sink:
        n = 0
        while True:
            sink.emit([
                {"event": "rule.evaluated", "at": "2026-03-01T10:00:00+00:00",
                 "decision_id": "%032x" % n, "deal": "D-%d" % (n % 10), "rule": "r%d" % i,
                 "outcome": "pass", "values": {"n": n, "i": i, "pad": pad}}
                for i in range(per)
            ])
            sys.stdout.write("%d\\n" % (sink.seq - 1))
            sys.stdout.flush()
            n += 1
    """
)


def run_and_kill(
    tmp_path: Path, log: Path, pad: int, per: int, acks_before_kill: int, *, seed: int = 0
) -> int:
    """Start the writer, SIGKILL it after some acknowledged emits; return the last acked seq.

    The kill comes a random few milliseconds after the last ack read, so that with large
    batches it often lands inside the ``write`` of the next one.
    """
    script = tmp_path / "writer.py"
    script.write_text(CHILD)
    env = dict(os.environ)
    root = str(Path(cycleflow.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join([root, *filter(None, [env.get("PYTHONPATH")])])
    child = subprocess.Popen(
        [sys.executable, str(script), str(log), str(pad), str(per)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
    )
    assert child.stdout is not None
    acked = -1
    seen = 0
    deadline = time.monotonic() + 60
    try:
        while seen < acks_before_kill and time.monotonic() < deadline:
            line = child.stdout.readline()
            if not line:
                break
            acked = int(line)
            seen += 1
        time.sleep(random.Random(seed).uniform(0, 0.04))
        os.kill(child.pid, signal.SIGKILL)
        rest, err = child.communicate(timeout=30)
    finally:
        if child.poll() is None:  # pragma: no cover
            child.kill()
            child.wait()
    assert child.returncode == -signal.SIGKILL, err.decode(errors="replace")
    for line in rest.splitlines():  # acks still in the pipe were acknowledged too
        acked = int(line)
    assert acked >= 0, "the writer never acknowledged an emit"
    return acked


@pytest.mark.parametrize(
    ("pad", "per", "acks"),
    [(0, 8, 400), (200, 8, 150), (2_000_000, 4, 6)],
    ids=["small-batches", "medium-batches", "multi-megabyte-batches"],
)
def test_sigkill_mid_run_keeps_the_acknowledged_prefix(
    tmp_path: Path, pad: int, per: int, acks: int
) -> None:
    log = tmp_path / "audit.jsonl"
    acked = run_and_kill(tmp_path, log, pad, per, acks)
    result = verify(log)
    assert result.records >= acked + 1, (result, acked)
    if result.ok:
        with JsonlSink(log) as sink:  # a restart continues the chain
            assert sink.seq == result.records
        return
    # the only damage a crash may leave is a torn last line, reported at its position
    assert result.torn, result
    assert result.first_bad == result.records + 1
    with pytest.raises(AuditError, match=f"damaged at line {result.first_bad}"):
        JsonlSink(log)
    JsonlSink(log, repair=True).close()
    repaired = verify(log)
    assert repaired.ok and repaired.records == result.records + 1


def test_repeated_kills_and_restarts_keep_one_valid_chain(tmp_path: Path) -> None:
    """Kill, repair if needed, restart, several times: one chain, nothing acknowledged lost."""
    log = tmp_path / "audit.jsonl"
    floor = 0
    for _round in range(3):
        acked = run_and_kill(tmp_path, log, 300_000, 4, 5, seed=_round)
        result = verify(log)
        assert result.records >= acked + 1 >= floor
        if not result.ok:
            assert result.torn and result.first_bad == result.records + 1
            JsonlSink(log, repair=True).close()
        floor = verify(log).records
    assert verify(log).ok
