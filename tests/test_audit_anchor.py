"""Anchoring: ``audit verify --expect-head HASH`` checks a log against a head kept elsewhere.

An auditor found that a log rewritten with every hash recomputed (or cut at a line
boundary) verified as intact, and that verify printed only 16 hex of the head.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from cycleflow.audit import GENESIS, JsonlSink, SqliteSink, verify
from cycleflow.audit.chain import seal_batch
from cycleflow.cli.audit_cmd import audit


def events(n: int) -> list[dict[str, Any]]:
    return [{"event": "deal.checked", "at": "2026-03-01T09:00:00Z", "deal": f"D-{i}",
             "outcome": "compliant", "values": {}} for i in range(n)]


def write(path: Path, kind: str, batches: list[list[dict[str, Any]]]) -> str:
    sink = SqliteSink(path) if kind == "sqlite" else JsonlSink(path)
    with sink:
        for batch in batches:
            sink.emit(batch)
    return f"sqlite:{path}" if kind == "sqlite" else str(path)


def rewrite(path: Path, records: list[dict[str, Any]]) -> None:
    """A determined rewriter: new content, every hash recomputed, a valid chain."""
    sealed, _, _ = seal_batch(records, 0, GENESIS)
    path.write_bytes(b"".join(s.line for s in sealed))


def run(*args: str) -> Any:
    return CliRunner().invoke(audit, list(args))


@pytest.mark.parametrize("kind", ["jsonl", "sqlite"])
def test_a_head_kept_elsewhere_is_found_in_the_grown_log(tmp_path: Path, kind: str) -> None:
    spec = write(tmp_path / "audit.log", kind, [events(3)])
    head = verify(spec).head
    write(tmp_path / "audit.log", kind, [events(2)])  # the log grows after the anchor
    for anchor in (head, head[:16], head.upper()):
        result = run("verify", spec, "--expect-head", anchor)
        assert result.exit_code == 0, result.output
        assert "intact, 5 records" in result.output and "expected head is in it" in result.output
    body = orjson.loads(run("verify", spec, "--expect-head", head, "--format", "json").output)
    assert body["ok"] is True and body["anchored"] is True


def test_a_recomputed_chain_fails_against_its_anchor(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    write(log, "jsonl", [events(4)])
    head = verify(log).head
    forged = events(4)
    forged[1]["outcome"] = "violation"
    rewrite(log, forged)
    assert run("verify", str(log)).exit_code == 0  # the chain alone cannot tell
    result = run("verify", str(log), "--expect-head", head)
    assert result.exit_code == 1, result.output
    assert "rewritten or truncated before that point" in result.output
    assert head in result.output
    assert verify(log, expect_head=head).anchored is False


def test_a_cut_at_a_line_boundary_fails_against_its_anchor(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    write(log, "jsonl", [events(4)])
    head = verify(log).head
    log.write_bytes(b"".join(log.read_bytes().splitlines(keepends=True)[:3]))
    result = run("verify", str(log), "--expect-head", head)
    assert result.exit_code == 1 and "truncated" in result.output


@pytest.mark.parametrize("anchor", ["abc", "z" * 64, "0" * 65, ""])
def test_a_malformed_anchor_is_a_usage_error(tmp_path: Path, anchor: str) -> None:
    log = tmp_path / "audit.jsonl"
    write(log, "jsonl", [events(1)])
    result = run("verify", str(log), "--expect-head", anchor)
    assert result.exit_code == 2 and "at least 16" in result.output


def test_verify_prints_the_whole_head(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    write(log, "jsonl", [events(2)])
    head = verify(log).head
    assert len(head) == 64 and f"head {head}" in run("verify", str(log)).output
