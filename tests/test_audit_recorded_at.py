"""``recorded_at``: the wall-clock time a decision was written, beside the ``at`` its caller
chose. An auditor found a decision could be backdated (``--now``) and nothing recorded when
it was really written, while ``audit show`` ordered events by the claimed ``at``."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson
from click.testing import CliRunner
from shipped import POLICY, REP, deal

from cycleflow import Engine, load_policy
from cycleflow.audit import JsonlSink, capture_audit, history
from cycleflow.cli.audit_cmd import audit

BACKDATED = "2020-01-01T00:00:00Z"
STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def recorded(event: dict[str, object]) -> datetime:
    text = event["recorded_at"]
    assert isinstance(text, str) and STAMP.fullmatch(text), text
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_one_event_per_decision_carries_the_wall_clock_time() -> None:
    before = datetime.now(timezone.utc) - timedelta(seconds=1)
    with capture_audit() as captured:
        engine = Engine(load_policy(POLICY), audit=captured)
        engine.decide(deal(stage="prospect"), "advance", REP, now=BACKDATED)
        engine.check(deal(), now=BACKDATED)
    after = datetime.now(timezone.utc) + timedelta(seconds=1)
    moved, checked = captured.batches
    for batch, name in ((moved, "transition.requested"), (checked, "deal.checked")):
        stamped = [e for e in batch if "recorded_at" in e]
        assert [e["event"] for e in stamped] == [name]
        assert before <= recorded(stamped[0]) <= after
        assert all(e["at"] == BACKDATED for e in batch)
        keys = list(stamped[0])
        assert keys[keys.index("at") + 1] == "recorded_at"


def test_apply_records_the_move_with_its_own_wall_clock_time() -> None:
    with capture_audit() as captured:
        Engine(load_policy(POLICY), audit=captured).apply(
            deal(stage="prospect"), "advance", REP, now=BACKDATED)
    stamped = [e["event"] for e in captured.events if "recorded_at" in e]
    assert stamped == ["transition.requested", "transition.applied"]


def test_show_lists_events_in_log_order_with_the_recorded_time(tmp_path: Path) -> None:
    """A backdated decision written last is shown last, and the table shows when each
    decision was really written."""
    log = tmp_path / "audit.jsonl"
    with JsonlSink(log) as sink:
        engine = Engine(load_policy(POLICY), audit=sink)
        engine.decide(deal(stage="prospect"), "advance", REP, now="2026-11-26T12:00:00Z")
        engine.decide(deal(stage="prospect"), "advance", REP, now=BACKDATED)
    events = history(log, "D-1")
    assert [e["seq"] for e in events] == sorted(e["seq"] for e in events)
    assert events[0]["at"] == "2026-11-26T12:00:00Z" and events[-1]["at"] == BACKDATED
    result = CliRunner().invoke(audit, ["show", str(log), "--deal", "D-1"])
    assert result.exit_code == 0, result.output
    assert "recorded" in result.output
    written = events[0]["recorded_at"]
    assert isinstance(written, str) and written[:10] in result.output
    text = result.output
    assert text.index("2026-11-26T12:00") < text.index("2020-01-01T00:00")
    shown = orjson.loads(CliRunner().invoke(
        audit, ["show", str(log), "--deal", "D-1", "--format", "json"]).output)
    assert [e["seq"] for e in shown] == [e["seq"] for e in events]


def test_an_engine_given_a_clock_records_its_time() -> None:
    """A simulator records at simulated time, so the same seed gives byte-identical logs
    (recorded_at read the wall clock and broke that promise)."""
    fixed = datetime(2030, 1, 2, 3, 4, 5, 678901, tzinfo=timezone(timedelta(hours=8)))
    with capture_audit() as captured:
        engine = Engine(load_policy(POLICY), audit=captured, clock=lambda: fixed)
        engine.decide(deal(), "advance", REP, now="2026-11-26T12:00:00Z")
        engine.check(deal(), now="2026-11-26T12:00:00Z")
    stamped = [e["recorded_at"] for e in captured.events if "recorded_at" in e]
    assert stamped == ["2030-01-01T19:04:05.678Z"] * 2
    try:
        Engine(load_policy(POLICY), clock="now")  # type: ignore[arg-type]
    except Exception as err:  # a usage error naming what a clock is
        assert "clock must be a function" in str(err)
    else:
        raise AssertionError("a clock that is not callable was accepted")
