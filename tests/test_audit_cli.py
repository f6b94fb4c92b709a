"""``cycleflow audit verify|show|repair`` through click's CliRunner, on a standalone group."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from cycleflow.audit import JsonlSink, SqliteSink
from cycleflow.cli.audit_cmd import audit


def decision(deal: str, n: int, at: str, outcome: str = "blocked") -> list[dict[str, Any]]:
    did = f"{n:032x}"
    base = {"at": at, "decision_id": did, "deal": deal, "policy": "b2b-standard",
            "policy_version": "2026.11", "policy_sha256": "ab" * 32, "actor": "ann",
            "trigger": "advance", "from": "qualified", "to": "negotiation"}
    return [
        {**base, "event": "transition.requested", "outcome": "requested"},
        {**base, "event": "rule.evaluated", "rule": "deep_discount", "kind": "risk",
         "outcome": "fail", "severity": "high", "values": {"deal.discount_pct": 25},
         "message": "Discount above 20% needs director approval"},
        {**base, "event": f"transition.{outcome}", "outcome": outcome},
    ]


@pytest.fixture
def log(tmp_path: Path) -> Path:
    path = tmp_path / "audit.jsonl"
    with JsonlSink(path) as sink:
        # written out of time order on purpose: show keeps log order (``at`` can be backdated)
        sink.emit(decision("D-7", 2, "2026-03-02T09:00:00+00:00", "allowed"))
        sink.emit(decision("D-8", 3, "2026-03-01T12:00:00+00:00"))
        sink.emit(decision("D-7", 1, "2026-03-01T09:00:00+00:00"))
    return path


def run(*args: str) -> Any:
    return CliRunner().invoke(audit, list(args))


def test_verify_intact(log: Path) -> None:
    result = run("verify", str(log))
    assert result.exit_code == 0
    assert "intact, 9 records" in result.output


def test_verify_broken_names_the_line(log: Path) -> None:
    data = log.read_bytes().splitlines(keepends=True)
    data[4] = data[4].replace(b"25", b"15")
    log.write_bytes(b"".join(data))
    result = run("verify", str(log))
    assert result.exit_code == 1
    assert "BROKEN at line 5" in result.output and "edited" in result.output


def test_verify_torn_gives_a_hint(log: Path) -> None:
    log.write_bytes(log.read_bytes()[:-10])
    result = run("verify", str(log))
    assert result.exit_code == 1
    assert "BROKEN at line 9: torn last line" in result.output
    assert "cycleflow audit repair" in result.output
    repaired = run("repair", str(log))
    assert repaired.exit_code == 0 and "intact, 9 records" in repaired.output
    assert run("verify", str(log)).exit_code == 0


def test_verify_json(log: Path) -> None:
    result = run("verify", "--format", "json", str(log))
    assert result.exit_code == 0
    body = orjson.loads(result.output)
    assert body["ok"] is True and body["records"] == 9 and body["first_bad"] is None


@pytest.mark.parametrize("target", ["missing.jsonl", ".", "sqlite:missing.db"])
def test_verify_unreadable_exits_2_without_traceback(tmp_path: Path, target: str) -> None:
    spec = f"sqlite:{tmp_path / 'missing.db'}" if target.startswith("sqlite:") else str(
        tmp_path / target)
    result = run("verify", spec)
    assert result.exit_code == 2
    assert "cycleflow audit: error:" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "missing.db").exists()


def test_verify_unreadable_permissions(tmp_path: Path) -> None:
    import os

    if os.geteuid() == 0:
        pytest.skip("root reads everything")
    path = tmp_path / "locked.jsonl"
    path.write_text("")
    path.chmod(0)
    result = run("verify", str(path))
    assert result.exit_code == 2 and "Traceback" not in result.output


def test_verify_sqlite(tmp_path: Path) -> None:
    db = tmp_path / "audit.db"
    with SqliteSink(db) as sink:
        sink.emit(decision("D-1", 1, "2026-03-01T09:00:00+00:00"))
    assert run("verify", f"sqlite:{db}").exit_code == 0
    assert run("verify", str(db)).exit_code == 0  # recognised by its header
    shown = run("show", f"sqlite:{db}", "--deal", "D-1", "--format", "json")
    assert shown.exit_code == 0 and len(orjson.loads(shown.output)) == 3


def test_show_text_is_a_table_in_log_order(log: Path) -> None:
    result = run("show", str(log), "--deal", "D-7")
    assert result.exit_code == 0
    out = result.output
    assert "deal D-7: 6 events in 2 decisions" in out
    assert "D-8" not in out and "2026-03-01T12:00" not in out
    assert out.index("2026-03-02T09:00") < out.index("2026-03-01T09:00")
    assert "deep_discount (risk)" in out and "deal.discount_pct=25" in out
    assert "advance: qualified → negotiation" in out
    assert "fail [high]" in out and "Traceback" not in out


def test_show_json_is_an_array_in_log_order(log: Path) -> None:
    result = run("show", str(log), "--deal", "D-7", "--format", "json")
    assert result.exit_code == 0
    events = orjson.loads(result.output)
    assert [e["decision_id"][-1] for e in events] == ["2", "2", "2", "1", "1", "1"]
    assert [e["seq"] for e in events] == [0, 1, 2, 6, 7, 8]
    assert {e["deal"] for e in events} == {"D-7"}
    assert events[0]["event"] == "transition.requested"


def test_show_unknown_deal(log: Path) -> None:
    assert run("show", str(log), "--deal", "nobody").output.startswith("no audit events")
    assert orjson.loads(run("show", str(log), "--deal", "nobody", "--format", "json").output) == []


def test_show_missing_log(tmp_path: Path) -> None:
    result = run("show", str(tmp_path / "none.jsonl"), "--deal", "D-1")
    assert result.exit_code == 2 and "does not exist" in result.output


def test_show_tolerates_a_torn_tail_but_says_the_log_does_not_verify(log: Path) -> None:
    log.write_bytes(log.read_bytes()[:-10])
    result = CliRunner().invoke(
        audit, ["show", str(log), "--deal", "D-7", "--format", "json"])
    assert result.exit_code == 1 and len(orjson.loads(result.stdout)) == 5
    assert "line 9: torn last line" in result.stderr
    assert "torn by an interrupted write" in result.stderr  # a crash's sign, not an edit's
    assert "tampered" not in result.stderr


def test_repair_refuses_sqlite(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    SqliteSink(db).close()
    result = run("repair", f"sqlite:{db}")
    assert result.exit_code == 2 and "only JSON Lines" in result.output


def test_repair_of_a_missing_log_creates_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "nonexistent.jsonl"
    result = run("repair", str(missing))
    assert result.exit_code == 2
    assert f"audit log {missing} does not exist" in result.output
    assert "intact" not in result.output and "Traceback" not in result.output
    assert not missing.exists() and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", [["show", "--deal", "D-1"], ["repair"]])
def test_a_directory_is_called_a_directory(tmp_path: Path, command: list[str]) -> None:
    result = run(command[0], str(tmp_path), *command[1:])
    assert result.exit_code == 2
    assert f"audit log {tmp_path} is a directory" in result.output
    assert "does not exist" not in result.output


def test_a_compressed_log_is_verified_and_shown_like_the_plain_one(
        log: Path, tmp_path: Path) -> None:
    """report read .jsonl.gz, but verify called it BROKEN at line 1 and show found nothing."""
    import gzip

    packed = tmp_path / "audit.jsonl.gz"
    packed.write_bytes(gzip.compress(log.read_bytes()))
    plain, compressed = run("verify", str(log)), run("verify", str(packed))
    assert compressed.exit_code == 0, compressed.output
    assert compressed.output.split(":", 1)[1] == plain.output.split(":", 1)[1]
    shown = run("show", str(packed), "--deal", "D-7", "--format", "json")
    assert orjson.loads(shown.output) == orjson.loads(
        run("show", str(log), "--deal", "D-7", "--format", "json").output)
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(packed.read_bytes()[:-20])
    damaged = run("verify", str(cut))
    assert damaged.exit_code == 2 and "compressed" in damaged.output, damaged.output
    with pytest.raises(Exception, match=r"is compressed \(gzip"):
        JsonlSink(packed)  # appending plain lines to it would ruin it


def test_a_plain_path_to_a_sqlite_log_opens_the_sqlite_sink(tmp_path: Path) -> None:
    """--audit audit.db (no sqlite: prefix) on a SQLite audit database said it was a
    damaged JSON Lines log; verify and show already sniff the header."""
    from cycleflow.audit import open_sink, verify

    db = tmp_path / "audit.db"
    with SqliteSink(db) as sink:
        sink.emit(decision("D-1", 1, "2026-03-01T09:00:00+00:00"))
    with open_sink(str(db)) as again:
        assert isinstance(again, SqliteSink)
        again.emit(decision("D-1", 2, "2026-03-02T09:00:00+00:00"))
    assert verify(db).ok and verify(db).records == 6
    with open_sink(str(tmp_path / "new.db")) as fresh:  # a new file: JSON Lines, as before
        assert isinstance(fresh, JsonlSink)


def test_repair_changes_nothing_it_cannot_repair_and_says_so(log: Path) -> None:
    """repair printed 'repaired the tail' on an intact or edited log it left unchanged, and
    exit 2 (an unreadable log) for one with garbage appended."""
    before = log.read_bytes()
    intact = run("repair", str(log))
    assert intact.exit_code == 0 and intact.output.startswith("nothing to repair")
    lines = before.splitlines(keepends=True)
    lines[4] = lines[4].replace(b'"fail"', b'"pass"')
    for damaged in (b"".join(lines), before + b"garbage\n"):
        log.write_bytes(damaged)
        result = run("repair", str(log))
        assert result.exit_code == 1, result.output
        assert "not repaired" in result.output and "unchanged" in result.output
        assert log.read_bytes() == damaged
    log.write_bytes(before[:-10])
    torn = run("repair", str(log))
    assert torn.exit_code == 0 and "cut the torn line 9" in torn.output
    assert (log.parent / "audit.jsonl.torn-line-9").exists()


def test_show_filters_whole_decisions_by_period_actor_and_outcome(tmp_path: Path) -> None:
    """An auditor asked for "the blocked moves of this deal in November, and who asked":
    show took only --deal. Filters pick whole decisions, so each keeps its reasons."""
    import json

    from cycleflow import Engine, load_policy

    root = Path(__file__).resolve().parent.parent
    deal = json.loads((root / "examples" / "deal-discount.json").read_text("utf-8"))
    path = tmp_path / "a.jsonl"
    with JsonlSink(path) as sink:
        engine = Engine(load_policy(root / "policies" / "standard-sales-cycle.yaml"),
                        audit=sink)
        engine.decide(deal, "win", {"id": "ann", "roles": []}, now="2026-10-30T23:00:00Z")
        engine.decide(deal, "win", {"id": "bob", "roles": []}, now="2026-11-02T09:00:00+08:00")
        engine.decide(deal, "jump", {"id": "ann", "roles": []}, now="2026-11-20T09:00:00Z")

    def decisions(*options: str) -> list[tuple[str, str]]:
        result = CliRunner().invoke(audit, ["show", str(path), "--deal", deal["id"],
                                            "--format", "json", *options])
        assert result.exit_code == 0, result.output
        events = orjson.loads(result.stdout)
        return [(e["actor"], e["event"]) for e in events if e["event"] != "rule.evaluated"
                and e["event"] != "transition.requested"]

    november = decisions("--since", "2026-11-01T00:00:00Z", "--until", "2026-12-01")
    assert november == [("bob", "transition.needs_approval"), ("ann", "transition.not_permitted")]
    assert decisions("--actor", "ann") == [("ann", "transition.needs_approval"),
                                          ("ann", "transition.not_permitted")]
    assert decisions("--outcome", "not_permitted") == [("ann", "transition.not_permitted")]
    assert decisions("--until", "2026-11-01T07:00:00+08:00") == [
        ("ann", "transition.needs_approval")]  # 23:00 UTC on 30 Oct is before it
    bad = CliRunner().invoke(audit, ["show", str(path), "--deal", deal["id"], "--since", "soon"])
    assert bad.exit_code == 2 and "--since" in bad.output
