"""The hash chain: what verify accepts and rejects, reopening, torn tails and repair."""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cycleflow.audit import GENESIS, AuditError, JsonlSink, SqliteSink, canonical, verify
from cycleflow.errors import CycleflowError


def events(n: int, *, deal: str = "D-1", decision: str = "d" * 32) -> list[dict[str, Any]]:
    """``n`` realistic events of one decision."""
    return [
        {
            "event": "rule.evaluated", "at": "2026-03-01T10:00:00+00:00",
            "decision_id": decision, "deal": deal, "policy": "b2b-standard",
            "policy_version": "2026.11", "policy_sha256": "ab" * 32, "rule": f"rule_{i}",
            "kind": "entry", "outcome": "pass", "severity": "high", "actor": "ann",
            "trigger": "advance", "from": "prospect", "to": "qualified",
            "values": {"deal.budget": 1000 + i, "deal.discount_pct": 12.5},
            "message": "Budget must be confirmed before qualification.",
        }
        for i in range(n)
    ]


def write_log(path: Path, batches: int = 5, per: int = 4) -> None:
    with JsonlSink(path) as sink:
        for b in range(batches):
            sink.emit(events(per, decision=f"{b:032x}"))


def lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def test_intact_log_verifies(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    write_log(log)
    result = verify(log)
    assert result.ok and result.records == 20 and result.first_bad is None
    assert result.head == orjson.loads(lines(log)[-1])["hash"]


def test_record_format_is_the_documented_encoding(tmp_path: Path) -> None:
    """Format 2: the body is seq, prev, then the event's fields in order; the hash covers
    those bytes as written, and the line is the body with the hash spliced in last."""
    log = tmp_path / "audit.jsonl"
    write_log(log, batches=1, per=2)
    first, second = (orjson.loads(line) for line in lines(log))
    assert (first["seq"], first["prev"]) == (0, GENESIS)
    assert (second["seq"], second["prev"]) == (1, first["hash"])
    event = events(1, decision="0" * 32)[0]
    body = orjson.dumps({"seq": 0, "prev": GENESIS, **event})
    assert first["hash"] == hashlib.sha256(body).hexdigest()
    assert lines(log)[0] == body[:-1] + b',"hash":"' + first["hash"].encode() + b'"}\n'
    assert list(first) == ["seq", "prev", *event, "hash"]


def _format1_log(path: Path, batches: list[list[dict[str, Any]]]) -> str:
    """A log as the first release wrote it: sorted-key bodies. Returns its head."""
    prev, seq, out = GENESIS, 0, []
    for batch in batches:
        for event in batch:
            body = canonical({**event, "seq": seq, "prev": prev})
            prev = hashlib.sha256(body).hexdigest()
            out.append(body[:-1] + b',"hash":"' + prev.encode() + b'"}\n')
            seq += 1
    path.write_bytes(b"".join(out))
    return prev


def test_a_format1_log_still_verifies_continues_and_catches_edits(tmp_path: Path) -> None:
    log = tmp_path / "old.jsonl"
    head = _format1_log(log, [events(3, decision="a" * 32), events(2, decision="b" * 32)])
    assert verify(log).ok and verify(log).records == 5 and verify(log).head == head
    with JsonlSink(log) as sink:  # reopened: the chain continues in format 2
        assert sink.seq == 5 and sink.head == head
        sink.emit(events(2, decision="c" * 32))
    data = lines(log)
    assert data[4].startswith(b'{"actor"') and data[5].startswith(b'{"seq":5,"prev":"')
    result = verify(log)
    assert result.ok and result.records == 7
    data[2] = data[2].replace(b'"outcome":"pass"', b'"outcome":"fail"')
    log.write_bytes(b"".join(data))
    result = verify(log)
    assert not result.ok and result.first_bad == 3 and "edited" in (result.reason or "")


#: A format 1 record exactly as orjson 3.9 wrote it: 1e16, where orjson 3.10 writes 1e+16
#: (and a string holding "1e+16", which must stay as it is when re-encoding).
_ORJSON_39_RECORD = (
    b'{"deal":"D-1","event":"rule.evaluated","prev":"' + b"0" * 64 + b'","seq":0,'
    b'"values":{"deal.amount":1e16,"note":"1e+16 in text"},'
    b'"hash":"d477c19e4a166dee495292b5e40cd29e5ae0d76c2a4e3b168bae51cfef8770e7"}\n'
)


def test_a_format1_record_with_a_large_float_written_by_an_older_orjson_verifies(
        tmp_path: Path) -> None:
    """Re-encoding with orjson >= 3.10 gave 1e+16, so an intact old log was called edited."""
    log = tmp_path / "old.jsonl"
    log.write_bytes(_ORJSON_39_RECORD)
    result = verify(log)
    assert result.ok and result.records == 1, result.reason
    log.write_bytes(_ORJSON_39_RECORD.replace(b":1e16,", b":2e16,"))
    result = verify(log)
    assert not result.ok and result.first_bad == 1 and "edited" in (result.reason or "")
    log.write_bytes(_ORJSON_39_RECORD.replace(b'"1e+16 in', b'"1e16 in'))
    assert not verify(log).ok  # the exponent inside a string is text, never rewritten


def test_format2_line_edited_after_its_hash_or_reformatted_is_caught(tmp_path: Path) -> None:
    """The hash covers the bytes before it; bytes after it, or a re-encoding that keeps
    the same JSON value, are edits too."""
    log = tmp_path / "audit.jsonl"
    write_log(log, batches=1, per=3)
    good = lines(log)
    for n, damaged in (
        (2, good[1][:-3] + b'","x":1}\n'),  # a field added after the hash
        (1, orjson.dumps(orjson.loads(good[0]), option=orjson.OPT_SORT_KEYS) + b"\n"),
        (3, good[2].replace(b'"seq":2,', b'"seq": 2,')),  # same value, other bytes
        (2, good[1][:-1] + b"\r\n"),  # a line ending converted to CR LF
        (2, good[1][:-1] + b"\r\r\n"),
    ):
        data = list(good)
        data[n - 1] = damaged
        log.write_bytes(b"".join(data))
        result = verify(log)
        assert not result.ok and result.first_bad == n, damaged
        assert any(w in (result.reason or "") for w in ("edited", "an edit", "seq")), damaged


def test_edited_line_is_caught_at_its_line(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    write_log(log)
    data = lines(log)
    data[6] = data[6].replace(b'"deal.budget":1002', b'"deal.budget":9002')
    log.write_bytes(b"".join(data))
    result = verify(log)
    assert not result.ok and result.first_bad == 7 and result.records == 6
    assert "edited" in (result.reason or "")


def test_edit_with_recomputed_hash_is_caught_at_the_next_line(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    write_log(log)
    data = lines(log)
    obj = orjson.loads(data[3])
    obj["outcome"] = "fail"
    del obj["hash"]
    body = canonical(obj)
    data[3] = body[:-1] + b',"hash":"' + hashlib.sha256(body).hexdigest().encode() + b'"}\n'
    log.write_bytes(b"".join(data))
    result = verify(log)
    assert not result.ok and result.first_bad == 5 and "prev" in (result.reason or "")


def test_removed_line_is_a_gap(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    write_log(log)
    data = lines(log)
    del data[10]
    log.write_bytes(b"".join(data))
    result = verify(log)
    assert not result.ok and result.first_bad == 11 and result.records == 10
    assert "seq 11 where 10 was expected" in (result.reason or "")


def test_removed_first_line(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    write_log(log)
    log.write_bytes(b"".join(lines(log)[1:]))
    result = verify(log)
    assert not result.ok and result.first_bad == 1 and result.records == 0


def test_reordered_lines(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    write_log(log)
    data = lines(log)
    data[4], data[5] = data[5], data[4]
    log.write_bytes(b"".join(data))
    result = verify(log)
    assert not result.ok and result.first_bad == 5 and result.records == 4


def test_duplicated_line(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    write_log(log)
    data = lines(log)
    data.insert(8, data[7])
    log.write_bytes(b"".join(data))
    result = verify(log)
    assert not result.ok and result.first_bad == 9 and "duplicated" in (result.reason or "")


@pytest.mark.parametrize("cut", [1, 40, -2])
def test_truncated_mid_line_is_a_torn_last_line(tmp_path: Path, cut: int) -> None:
    log = tmp_path / "audit.jsonl"
    write_log(log)
    data = lines(log)
    keep = b"".join(data[:12]) + data[12][:cut]
    log.write_bytes(keep)
    result = verify(log)
    assert not result.ok and result.torn
    assert result.first_bad == 13 and result.records == 12
    assert "torn last line" in (result.reason or "")


def test_missing_final_newline_is_torn(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    write_log(log)
    log.write_bytes(log.read_bytes()[:-1])
    result = verify(log)
    assert not result.ok and result.torn and result.first_bad == 20 and result.records == 19


def test_truncation_at_a_line_boundary_is_a_shorter_intact_log(tmp_path: Path) -> None:
    """A documented non-guarantee: only an external anchor (the head hash) reveals it."""
    log = tmp_path / "audit.jsonl"
    write_log(log)
    full = verify(log)
    log.write_bytes(b"".join(lines(log)[:15]))
    cut = verify(log)
    assert cut.ok and cut.records == 15 and cut.head != full.head


@pytest.mark.parametrize(
    ("junk", "reason"),
    [(b"{not json\n", "not valid JSON"), (b"\n", "empty line"), (b"[1,2]\n", "not a JSON object"),
     (b'{"seq":3}\n', "no hash field")],
)
def test_bad_lines(tmp_path: Path, junk: bytes, reason: str) -> None:
    log = tmp_path / "audit.jsonl"
    write_log(log)
    data = lines(log)
    data.insert(3, junk)
    log.write_bytes(b"".join(data))
    result = verify(log)
    assert not result.ok and result.first_bad == 4 and result.reason == reason


def test_verify_unreadable_raises_audit_error(tmp_path: Path) -> None:
    with pytest.raises(AuditError, match="does not exist"):
        verify(tmp_path / "nope.jsonl")
    with pytest.raises(AuditError, match="directory"):
        verify(tmp_path)
    assert issubclass(AuditError, CycleflowError)


def test_empty_log_is_intact(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    JsonlSink(log).close()
    assert verify(log).ok and verify(log).records == 0


def test_reopen_continues_the_chain(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    write_log(log, batches=2)
    with JsonlSink(log) as sink:
        assert sink.seq == 8
        sink.emit(events(3))
    with JsonlSink(log) as sink:
        sink.emit(events(1))
    result = verify(log)
    assert result.ok and result.records == 12


def test_reopen_reads_only_the_tail(tmp_path: Path) -> None:
    """A long line before the last one must not matter, and the head is found past 64 KiB chunks."""
    log = tmp_path / "audit.jsonl"
    big = events(1)
    big[0]["message"] = "x" * 300_000
    with JsonlSink(log) as sink:
        sink.emit(events(50))
        sink.emit(big)
    with JsonlSink(log) as sink:
        assert sink.seq == 51
        sink.emit(big)
        sink.emit(events(2))
    assert verify(log).ok and verify(log).records == 54


def test_reopen_refuses_a_torn_tail_and_names_the_line(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    write_log(log)
    log.write_bytes(log.read_bytes()[:-30])
    with pytest.raises(AuditError, match=r"damaged at line 20: torn last line.*audit verify"):
        JsonlSink(log)
    assert log.read_bytes().endswith(b"\n") is False  # nothing was touched


def test_reopen_refuses_a_torn_only_line(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    log.write_bytes(b'{"event":"rule.eval')
    with pytest.raises(AuditError, match="damaged at line 1"):
        JsonlSink(log)


def test_reopen_refuses_an_edited_last_line_even_with_repair(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    write_log(log)
    log.write_bytes(log.read_bytes().replace(b'"deal.budget":1003', b'"deal.budget":1'))
    with pytest.raises(AuditError, match="damaged at line 20: last complete line: hash mismatch"):
        JsonlSink(log, repair=True)


def test_repair_cuts_the_torn_tail_saves_it_and_records_it(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    write_log(log)
    original = log.read_bytes()
    torn = lines(log)[-1][:-25]
    log.write_bytes(original[: -len(lines(log)[-1])] + torn)
    with JsonlSink(log, repair=True) as sink:
        assert sink.seq == 20  # 19 intact + the repair record
        sink.emit(events(2))
    result = verify(log)
    assert result.ok and result.records == 22
    repair = orjson.loads(lines(log)[19])
    assert repair["event"] == "audit.repaired" and repair["values"]["line"] == 20
    saved = Path(repair["values"]["saved_to"])
    assert saved.read_bytes() == torn
    assert repair["values"]["sha256"] == hashlib.sha256(torn).hexdigest()
    assert repair["values"]["interrupted_decision"] == f"{4:032x}"
    assert f"decision {4:032x} was interrupted" in repair["message"]


def test_repair_on_an_intact_log_changes_nothing(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    write_log(log)
    before = log.read_bytes()
    JsonlSink(log, repair=True).close()
    assert log.read_bytes() == before


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.dictionaries(st.text(min_size=1).filter(
    lambda k: k not in ("seq", "prev", "hash")), json_values, max_size=6), min_size=1, max_size=5))
def test_any_json_event_round_trips_through_the_chain(batch: list[dict[str, Any]]) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "audit.jsonl"
        with JsonlSink(log) as sink:
            sink.emit(batch)
        result = verify(log)
        assert result.ok and result.records == len(batch)
        stored = [orjson.loads(line) for line in lines(log)]
        for original, record in zip(batch, stored, strict=True):
            for key in ("seq", "prev", "hash"):
                record.pop(key)
            assert record == orjson.loads(orjson.dumps(original))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.dictionaries(st.text(min_size=1).filter(
    lambda k: k not in ("seq", "prev", "hash")), json_values, max_size=6), min_size=1, max_size=5),
    st.integers(0, 2**40))
def test_the_jsonl_hot_path_writes_exactly_the_sealed_records(batch: list[dict[str, Any]],
                                                              seq: int) -> None:
    """seal_batch leaves the caller's events untouched (JsonlSink passes them uncopied), and
    each record is seq, prev and the event, hashed over its body as written (format 2)."""
    from cycleflow.audit.chain import digest, join_lines, seal_batch, seal_lines

    before = orjson.dumps(batch)
    sealed, end, head = seal_batch(batch, seq, GENESIS)
    assert orjson.dumps(batch) == before
    assert end == seq + len(batch) and head == sealed[-1].hash
    prev = GENESIS
    for n, (event, record) in enumerate(zip(batch, sealed, strict=True)):
        assert record.body == orjson.dumps({"seq": seq + n, "prev": prev, **event})
        assert record.hash == digest(record.body) and record.prev == prev
        prev = record.hash
    assert join_lines(sealed) == b"".join(record.line for record in sealed)
    assert seal_lines(batch, seq, GENESIS) == (join_lines(sealed), end, head)


def test_reserved_fields_are_refused_on_the_hot_path_and_nothing_is_written(
        tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    with JsonlSink(log) as sink:
        sink.emit([{"event": "a"}])
        for key in ("seq", "prev", "hash"):
            with pytest.raises(AuditError, match=key):
                sink.emit([{"event": "b"}, {"event": "c", key: 1}])
        sink.emit([{"event": "d"}])
    assert [orjson.loads(x)["event"] for x in log.read_bytes().splitlines()] == ["a", "d"]
    assert verify(log).ok


def test_non_json_values_are_encoded_stably(tmp_path: Path) -> None:
    from datetime import date
    from decimal import Decimal

    log = tmp_path / "audit.jsonl"
    event = {"event": "rule.evaluated", "values": {
        "deal.amount": Decimal("12.50"), "deal.tags": {"b", "a"}, "deal.close": date(2026, 1, 2),
    }}
    with JsonlSink(log) as sink:
        sink.emit([event])
    record = orjson.loads(log.read_bytes())
    assert record["values"] == {"deal.amount": "12.50", "deal.tags": ["a", "b"],
                                "deal.close": "2026-01-02"}
    assert verify(log).ok


@pytest.mark.parametrize("kind", ["jsonl", "sqlite"])
def test_values_orjson_refuses_are_written_as_json_reads_them(tmp_path: Path, kind: str) -> None:
    """A YAML or CSV deal can hold an integer beyond 64 bits or a lone surrogate: the
    decision's events are still written (as a float and U+FFFD), and the chain verifies."""
    log = tmp_path / ("audit.jsonl" if kind == "jsonl" else "audit.db")
    odd = {"event": "rule.evaluated", "values": {"deal.amount": 10**30, "deal.note": "a\ud800b",
                                                 "deal.ids": {2**70, 1}}}
    with (JsonlSink(log) if kind == "jsonl" else SqliteSink(log)) as sink:
        sink.emit([{"event": "before"}, odd, {"event": "after"}])
    result = verify(log)
    assert result.ok and result.records == 3
    if kind == "jsonl":
        record = orjson.loads(log.read_bytes().splitlines()[1])
        assert record["values"] == {"deal.amount": 1e30, "deal.note": "a\ufffdb",
                                    "deal.ids": [1, float(2**70)]}


def test_an_event_that_cannot_be_encoded_is_refused_and_nothing_is_written(
    tmp_path: Path,
) -> None:
    log = tmp_path / "audit.jsonl"
    loop: dict[str, Any] = {}
    loop["self"] = loop
    with JsonlSink(log) as sink:
        sink.emit([{"event": "a"}])
        with pytest.raises(AuditError, match="cannot be encoded"):
            sink.emit([{"event": "b"}, {"event": "c", "values": loop}])
        sink.emit([{"event": "d"}])
    assert [orjson.loads(x)["event"] for x in log.read_bytes().splitlines()] == ["a", "d"]
    assert verify(log).ok


def test_reserved_fields_are_refused(tmp_path: Path) -> None:
    with JsonlSink(tmp_path / "a.jsonl") as sink, pytest.raises(AuditError, match="reserved"):
        sink.emit([{"event": "x", "seq": 5}])
    assert verify(tmp_path / "a.jsonl").records == 0


# ---------------------------------------------------------------- SQLite


def write_db(path: Path, batches: int = 5, per: int = 4) -> None:
    with SqliteSink(path) as sink:
        for b in range(batches):
            sink.emit(events(per, deal=f"D-{b % 2}", decision=f"{b:032x}"))


def test_sqlite_intact_and_reopen_continues(tmp_path: Path) -> None:
    db = tmp_path / "audit.db"
    write_db(db)
    write_db(db, batches=1)
    for spec in (f"sqlite:{db}", str(db)):
        result = verify(spec)
        assert result.ok and result.records == 24 and result.kind == "sqlite"
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        (n,) = conn.execute("SELECT count(*) FROM audit_log WHERE deal = 'D-1'").fetchone()
        assert n == 8
        indexes = {r[1] for r in conn.execute("PRAGMA index_list(audit_log)")}
        assert {"audit_log_deal", "audit_log_decision", "audit_log_event", "audit_log_at",
                "audit_log_rule"} <= indexes


@pytest.mark.parametrize(
    ("sql", "bad", "words"),
    [
        ("UPDATE audit_log SET record = replace(record, '1002', '9002') WHERE seq = 6", 7,
         "edited"),
        ("DELETE FROM audit_log WHERE seq = 9", 10, "missing"),
        ("UPDATE audit_log SET deal = 'D-9' WHERE seq = 3", 4, "deal column"),
        ("UPDATE audit_log SET seq = seq + 100 WHERE seq = 5", 6, "missing"),
    ],
)
def test_sqlite_tampering_is_caught(tmp_path: Path, sql: str, bad: int, words: str) -> None:
    db = tmp_path / "audit.db"
    write_db(db)
    with sqlite3.connect(db) as conn:
        conn.execute(sql)
    result = verify(f"sqlite:{db}")
    assert not result.ok and result.first_bad == bad and words in (result.reason or "")


def test_sqlite_swapped_rows_are_caught(tmp_path: Path) -> None:
    db = tmp_path / "audit.db"
    write_db(db)
    with sqlite3.connect(db) as conn:
        rows = {r[0]: r for r in conn.execute("SELECT * FROM audit_log WHERE seq IN (2, 3)")}
        conn.execute("DELETE FROM audit_log WHERE seq IN (2, 3)")
        conn.execute("INSERT INTO audit_log VALUES (2,?,?,?,?,?,?,?,?)", rows[3][1:])
        conn.execute("INSERT INTO audit_log VALUES (3,?,?,?,?,?,?,?,?)", rows[2][1:])
    result = verify(db)
    assert not result.ok and result.first_bad == 3


def test_sqlite_rows_in_format1_still_verify_and_the_chain_continues(tmp_path: Path) -> None:
    db = tmp_path / "audit.db"
    write_db(db, batches=1)
    with sqlite3.connect(db) as conn:  # rewrite the rows as the first release stored them
        prev = GENESIS
        for seq, record in list(conn.execute("SELECT seq, record FROM audit_log ORDER BY seq")):
            obj = orjson.loads(record)
            obj["prev"] = prev
            body = canonical(obj)
            prev = hashlib.sha256(body).hexdigest()
            conn.execute("UPDATE audit_log SET record = ?, prev = ?, hash = ? WHERE seq = ?",
                         (body.decode(), obj["prev"], prev, seq))
    assert verify(db).ok and verify(db).head == prev
    write_db(db, batches=1)
    result = verify(db)
    assert result.ok and result.records == 8
    with sqlite3.connect(db) as conn:
        kinds = [r[0][:7] for r in conn.execute("SELECT record FROM audit_log ORDER BY seq")]
        assert kinds == ['{"actor'] * 4 + ['{"seq":'] * 4
        conn.execute("UPDATE audit_log SET record = replace(record, 'pass', 'fail') "
                     "WHERE seq = 1")
    result = verify(db)
    assert not result.ok and result.first_bad == 2


def test_sqlite_refuses_to_continue_a_damaged_head(tmp_path: Path) -> None:
    db = tmp_path / "audit.db"
    write_db(db)
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE audit_log SET record = replace(record, 'pass', 'fail') "
                     "WHERE seq = 19")
    with pytest.raises(AuditError, match="damaged at seq 19"):
        SqliteSink(db)


def test_sqlite_verify_of_a_foreign_database(tmp_path: Path) -> None:
    db = tmp_path / "other.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (x)")
    with pytest.raises(AuditError, match="not a readable cycleflow audit database"):
        verify(db)
    assert not os.path.exists(tmp_path / "missing.db")
    with pytest.raises(AuditError, match="does not exist"):
        verify(f"sqlite:{tmp_path / 'missing.db'}")
    assert not os.path.exists(tmp_path / "missing.db")  # verify never creates a database


def test_a_torn_tail_is_named_by_its_physical_line_after_a_removed_line(
        tmp_path: Path) -> None:
    """The sink computed the torn line's number from seq, so with a line removed earlier it
    named line 20 of a 19-line file (and the side file and repair record carried it)."""
    log = tmp_path / "audit.jsonl"
    write_log(log)
    data = lines(log)
    del data[9]
    log.write_bytes(b"".join(data)[:-10])
    assert len(log.read_bytes().splitlines()) == 19
    with pytest.raises(AuditError, match=r"damaged at line 19: torn last line"):
        JsonlSink(log)
