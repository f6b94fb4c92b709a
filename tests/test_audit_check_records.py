"""``check --audit`` accounts for every input record, and each ``deal.checked`` event
names the line it judged. An auditor found that a record the reader could not parse
(invalid JSON, not an object, over the size cap) left no event at all."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
from click.testing import CliRunner
from shipped import NOW, POLICY, deal

from cycleflow.audit import verify
from cycleflow.cli.main import cli


def checked(log: Path) -> list[dict[str, Any]]:
    events = [orjson.loads(line) for line in log.read_bytes().splitlines()]
    return [e for e in events if e["event"] == "deal.checked"]


def test_every_record_gets_a_deal_checked_event_naming_its_line(tmp_path: Path) -> None:
    deals = tmp_path / "deals.jsonl"
    big = json.dumps(deal(id="D-BIG", notes="x" * 5000))
    deals.write_text("\n".join([
        json.dumps(deal(id="D-1")),
        '{"id": "D-2", "stage": ',          # invalid JSON
        "[1, 2, 3]",                          # not an object
        big,                                  # over --max-record-bytes
        json.dumps(deal(id="D-5", stage="nowhere")),  # read, but cannot be judged
    ]) + "\n", "utf-8")
    log = tmp_path / "audit.jsonl"
    result = CliRunner().invoke(cli, [
        "check", "-p", str(POLICY), str(deals), "--format", "jsonl", "--now", NOW,
        "--audit", str(log), "--max-record-bytes", "4000"])
    assert result.exit_code == 2, result.output
    verdicts = [json.loads(line) for line in result.output.splitlines()]
    assert [v["verdict"] for v in verdicts] == ["compliant", "error", "error", "error", "error"]
    events = checked(log)
    assert [e["values"] for e in events] == [
        {"source": str(deals), "record": n} for n in range(1, 6)]
    assert [e["outcome"] for e in events] == ["compliant", "error", "error", "error", "error"]
    for event, verdict in zip(events[1:4], verdicts[1:4], strict=True):
        assert event["deal"] is None and event["message"] == verdict["error"]
        assert event["recorded_at"]
    assert "4000" in events[3]["message"]
    assert events[4]["deal"] == "D-5" and "nowhere" in events[4]["message"]
    assert verify(log).ok

