"""Sinks under load and in company: threads, isolation, structlog routing, masking, capture."""

from __future__ import annotations

import copy
import sys
import threading
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import orjson
import pytest
import structlog
from hypothesis import given, settings
from hypothesis import strategies as st

from cycleflow.audit import (
    AuditError,
    AuditSink,
    JsonlSink,
    Masker,
    MemorySink,
    SqliteSink,
    StructlogSink,
    add_fields,
    capture_audit,
    drop_none,
    history,
    keep_events,
    mask_event,
    mask_sensitive,
    mask_values,
    open_sink,
    verify,
)

THREADS, EMITS, PER = 8, 500, 4


def batch(thread: int, n: int, per: int = PER) -> list[dict[str, Any]]:
    decision = f"{thread:08x}{n:024x}"
    return [
        {"event": "rule.evaluated", "at": "2026-03-01T10:00:00+00:00", "decision_id": decision,
         "deal": f"D-{thread}", "rule": f"r{i}", "outcome": "pass",
         "values": {"deal.amount": n, "thread": thread, "i": i}}
        for i in range(per)
    ]


def hammer(sink: AuditSink) -> None:
    errors: list[BaseException] = []
    start = threading.Barrier(THREADS)

    def work(t: int) -> None:
        try:
            start.wait()
            for n in range(EMITS):
                sink.emit(batch(t, n))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(THREADS)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors


def check_batches_contiguous(records: list[dict[str, Any]]) -> None:
    """Every decision's events are adjacent and in order: batches never interleave."""
    assert len(records) == THREADS * EMITS * PER
    assert [r["seq"] for r in records] == list(range(len(records)))
    seen: set[str] = set()
    for start in range(0, len(records), PER):
        group = records[start:start + PER]
        ids = {r["decision_id"] for r in group}
        assert len(ids) == 1 and ids.isdisjoint(seen)
        assert [r["values"]["i"] for r in group] == list(range(PER))
        seen |= ids
    per_thread: dict[int, list[int]] = {}
    for r in records[::PER]:
        per_thread.setdefault(r["values"]["thread"], []).append(r["values"]["deal.amount"])
    assert all(v == list(range(EMITS)) for v in per_thread.values())  # nothing lost


def test_threads_through_one_jsonl_sink(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    with JsonlSink(log) as sink:
        hammer(sink)
    result = verify(log)
    assert result.ok and result.records == THREADS * EMITS * PER
    check_batches_contiguous([orjson.loads(line) for line in log.read_bytes().splitlines()])


def test_threads_through_one_sqlite_sink(tmp_path: Path) -> None:
    import sqlite3

    db = tmp_path / "audit.db"
    with SqliteSink(db) as sink:
        hammer(sink)
    result = verify(f"sqlite:{db}")
    assert result.ok and result.records == THREADS * EMITS * PER
    with sqlite3.connect(db) as conn:
        query = "SELECT record FROM audit_log ORDER BY seq"
        rows = [orjson.loads(r[0]) for r in conn.execute(query)]
    check_batches_contiguous(rows)


def test_two_sqlite_sinks_on_one_database_share_the_chain(tmp_path: Path) -> None:
    """The head is re-read inside each write transaction, so writers cannot fork the chain."""
    db = tmp_path / "audit.db"
    with SqliteSink(db) as a, SqliteSink(db) as b:
        for n in range(20):
            (a if n % 2 else b).emit(batch(n % 2, n))
    assert verify(db).ok and verify(db).records == 80


def test_a_second_writer_on_one_jsonl_log_is_refused(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    with JsonlSink(log) as sink:
        with pytest.raises(AuditError, match="already open for writing"):
            JsonlSink(log)
        sink.emit(batch(0, 0))
    with JsonlSink(log) as again:  # the lock goes with close
        again.emit(batch(0, 1))
    assert verify(log).records == 8


def test_two_sinks_in_one_process_are_isolated(tmp_path: Path) -> None:
    with JsonlSink(tmp_path / "a.jsonl") as a, JsonlSink(tmp_path / "b.jsonl") as b, \
            capture_audit() as cap_a, capture_audit() as cap_b:
        a.emit(batch(1, 0))
        cap_a.emit(batch(1, 0))
        b.emit(batch(2, 0, per=2))
        cap_b.emit(batch(2, 0, per=2))
    assert verify(tmp_path / "a.jsonl").records == 4
    assert verify(tmp_path / "b.jsonl").records == 2
    assert history(tmp_path / "a.jsonl", "D-2") == []
    assert {e["deal"] for e in cap_a.events} == {"D-1"}
    assert {e["deal"] for e in cap_b.events} == {"D-2"}


def test_memory_sink_keeps_batches_and_copies() -> None:
    sink = MemorySink()
    events = batch(1, 0)
    sink.emit(events)
    sink.emit(batch(1, 1, per=1))
    events[0]["rule"] = "changed later"
    assert len(sink.batches) == 2 and len(sink.events) == 5
    assert sink.events[0]["rule"] == "r0"
    assert list(sink.decisions()) == [f"{1:08x}{0:024x}", f"{1:08x}{1:024x}"]
    assert len(sink.of(rule="r0")) == 2
    sink.clear()
    assert sink.events == []


def test_capture_audit_is_a_sink_and_closes() -> None:
    with capture_audit(processors=[mask_sensitive(["deal.amount"])]) as captured:
        assert isinstance(captured, AuditSink)
        captured.emit(batch(3, 7))
        assert captured.batches[-1][0]["values"]["deal.amount"] == "***"
    with pytest.raises(AuditError, match="closed"):
        captured.emit(batch(3, 8))


def test_closed_sinks_refuse_events(tmp_path: Path) -> None:
    for sink in (JsonlSink(tmp_path / "a.jsonl"), SqliteSink(tmp_path / "a.db"), MemorySink()):
        sink.close()
        sink.close()  # idempotent
        with pytest.raises(AuditError, match="closed"):
            sink.emit(batch(0, 0))


def test_open_sink_specs(tmp_path: Path) -> None:
    with open_sink(f"sqlite:{tmp_path / 'a.db'}") as s1:
        assert isinstance(s1, SqliteSink)
    with open_sink(f"jsonl:{tmp_path / 'a.jsonl'}") as s2, \
            open_sink(str(tmp_path / "b.log"), fsync=True) as s3:
        assert isinstance(s2, JsonlSink) and isinstance(s3, JsonlSink)
        s3.emit(batch(0, 0))
    assert verify(tmp_path / "b.log").ok


def test_fsync_sinks_write_valid_chains(tmp_path: Path) -> None:
    with JsonlSink(tmp_path / "a.jsonl", fsync=True) as a, SqliteSink(tmp_path / "a.db",
                                                                      fsync=True) as b:
        for n in range(5):
            a.emit(batch(0, n))
            b.emit(batch(0, n))
    assert verify(tmp_path / "a.jsonl").records == 20 == verify(tmp_path / "a.db").records


def test_empty_batches_write_nothing(tmp_path: Path) -> None:
    with JsonlSink(tmp_path / "a.jsonl") as sink:
        sink.emit([])
    assert (tmp_path / "a.jsonl").read_bytes() == b""


def test_failed_write_leaves_no_torn_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    log = tmp_path / "a.jsonl"
    sink = JsonlSink(log)
    sink.emit(batch(0, 0))
    real_write = os.write
    calls = {"n": 0}

    def flaky(fd: int, data: Any) -> int:
        calls["n"] += 1
        if calls["n"] == 1:
            return real_write(fd, bytes(data)[:50])  # a partial write ...
        raise OSError(28, "No space left on device")  # ... then the disk fills

    monkeypatch.setattr(os, "write", flaky)
    with pytest.raises(AuditError, match="No space left.*no event of this decision"):
        sink.emit(batch(0, 1))
    monkeypatch.setattr(os, "write", real_write)
    sink.emit(batch(0, 2))  # the chain continues from the last recorded batch
    sink.close()
    result = verify(log)
    assert result.ok and result.records == 8


# ------------------------------------------------------------- processors


def test_mask_sensitive_without_salt_redacts_everywhere() -> None:
    event: dict[str, Any] = {
        "event": "rule.evaluated", "deal": "D-1",
        "values": {"deal.customer.contact_email": "ann@example.com", "deal.amount": 5,
                   "deal.customer": {"contact_email": "ann@example.com", "name": "ACME"}},
        "message": "contact ann@example.com is not verified",
    }
    out = mask_sensitive(["deal.customer.contact_email"])(None, "emit", dict(event))
    assert out["values"]["deal.customer.contact_email"] == "***"
    assert out["values"]["deal.customer"] == {"contact_email": "***", "name": "ACME"}
    assert out["values"]["deal.amount"] == 5
    assert out["message"] == "contact *** is not verified"
    assert "ann@example.com" not in orjson.dumps(out).decode()
    assert event["values"]["deal.customer.contact_email"] == "ann@example.com"  # input untouched


def test_mask_sensitive_with_salt_hashes_stably() -> None:
    mask = mask_sensitive(["deal.customer.contact_email"], salt=b"s3cret")
    a = mask(None, "emit", {"values": {"deal.customer.contact_email": "ann@example.com"}})
    b = mask(None, "emit", {"values": {"deal.customer.contact_email": "ann@example.com"}})
    c = mask_sensitive(["deal.customer.contact_email"], salt=b"other")(
        None, "emit", {"values": {"deal.customer.contact_email": "ann@example.com"}})
    value = a["values"]["deal.customer.contact_email"]
    assert value.startswith("sha256:") and len(value) == len("sha256:") + 16
    assert value == b["values"]["deal.customer.contact_email"]
    assert value != c["values"]["deal.customer.contact_email"]


def test_mask_whole_parent_and_nested_top_level_fields() -> None:
    event: dict[str, Any] = {
        "values": {"deal.customer.contact_email.domain": "example.com"},
        "actor": {"id": "ann", "email": "ann@example.com"},
    }
    mask_values(event, ["deal.customer.contact_email", "actor.email"])
    assert event["values"]["deal.customer.contact_email.domain"] == "***"
    assert event["actor"] == {"id": "ann", "email": "***"}


def test_sink_processors_apply_before_chaining(tmp_path: Path) -> None:
    log = tmp_path / "a.jsonl"
    procs = [mask_sensitive(["deal.amount"]), add_fields(app="crm"), drop_none,
             keep_events(where=lambda e: e.get("rule") != "r1")]
    with JsonlSink(log, processors=procs) as sink:
        events = batch(0, 0)
        events[0]["severity"] = None
        sink.emit(events)
    records = [orjson.loads(line) for line in log.read_bytes().splitlines()]
    assert [r["rule"] for r in records] == ["r0", "r2", "r3"]
    assert all(r["values"]["deal.amount"] == "***" and r["app"] == "crm" for r in records)
    assert "severity" not in records[0]
    assert verify(log).ok


def test_keep_events_by_name() -> None:
    sink = MemorySink(processors=[keep_events(["transition.blocked"])])
    sink.emit([{"event": "rule.evaluated"}, {"event": "transition.blocked"}])
    assert [e["event"] for e in sink.events] == ["transition.blocked"]


def test_a_failing_processor_records_nothing(tmp_path: Path) -> None:
    def boom(_l: Any, _m: str, _e: MutableMapping[str, Any]) -> Any:
        raise ValueError("bad")

    with JsonlSink(tmp_path / "a.jsonl", processors=[boom]) as sink, \
            pytest.raises(AuditError, match="audit processor boom failed"):
        sink.emit(batch(0, 0))
    with JsonlSink(tmp_path / "b.jsonl", processors=[structlog.processors.JSONRenderer()]) as s2, \
            pytest.raises(AuditError, match="not an event dict"):
        s2.emit(batch(0, 0))
    assert (tmp_path / "a.jsonl").read_bytes() == b""


# ------------------------------------------------------------- structlog


def test_structlog_sink_with_a_processor_chain() -> None:
    seen: list[dict[str, Any]] = []

    def collect(_l: Any, method: str, event: MutableMapping[str, Any]) -> Any:
        seen.append({"method": method, **event})
        raise structlog.DropEvent

    sink = StructlogSink([mask_sensitive(["deal.amount"]), collect])
    sink.emit(batch(5, 1, per=2))
    assert [e["event"] for e in seen] == ["rule.evaluated", "rule.evaluated"]
    assert seen[0]["method"] == "info" and seen[0]["values"]["deal.amount"] == "***"
    assert seen[0]["deal"] == "D-5"


def test_structlog_sink_with_a_bound_logger_and_renderer() -> None:
    from structlog.testing import CapturingLogger

    out = CapturingLogger()
    logger = structlog.wrap_logger(
        out, processors=[structlog.processors.JSONRenderer(sort_keys=True)],
        wrapper_class=structlog.BoundLogger, context_class=dict, app="crm")
    events = batch(1, 0, per=1)
    events[0].update({"from": "prospect", "to": "qualified"})  # "from" is a Python keyword
    with StructlogSink(logger) as sink:
        sink.emit(events)
    (call,) = out.calls
    assert call.method_name == "info"
    record = orjson.loads(call.args[0])
    assert record["event"] == "rule.evaluated" and record["app"] == "crm"
    assert (record["from"], record["to"]) == ("prospect", "qualified")


def test_structlog_sink_leaves_global_configuration_alone() -> None:
    before = structlog.get_config()
    sink = StructlogSink([lambda _l, _m, e: e], logger=structlog.ReturnLogger())
    sink.emit(batch(0, 0, per=1))
    assert structlog.get_config() == before
    assert not structlog.is_configured()


def test_structlog_sink_bad_logger() -> None:
    with pytest.raises(AuditError, match="no method"):
        StructlogSink(object())


SENSITIVE = ("deal.customer.contact_email", "actor.email", "deal.customer.contact_phone")
keys = st.sampled_from([
    "deal.customer.contact_email", "deal.customer", "deal", "deal.customer.contact_email.x",
    "deal.amount", "actor", "actor.email", "deal.customer.contact_phone", "deal.cust",
])
leaf = st.none() | st.integers() | st.text(max_size=12)
nested = st.recursive(
    leaf, lambda inner: st.dictionaries(st.sampled_from(
        ["customer", "contact_email", "contact_phone", "email", "name", "x"]), inner, max_size=3),
    max_leaves=6)


@settings(max_examples=200, deadline=None)
@given(values=st.dictionaries(keys, nested, max_size=4), deal=nested, actor=nested,
       message=st.text(max_size=30))
def test_masker_and_mask_event_agree(values: dict[str, Any], deal: Any, actor: Any,
                                     message: str) -> None:
    event = {"event": "rule.evaluated", "values": values, "deal": deal, "actor": actor,
             "message": message}
    for salt in (None, b"k"):
        a = Masker(SENSITIVE, salt=salt)(copy.deepcopy(event))
        b = mask_event(copy.deepcopy(event), SENSITIVE, salt=salt)
        assert a == b
        assert mask_values(copy.deepcopy(event), list(SENSITIVE), salt=salt) == b


def test_space_reserved_ahead_is_invisible_and_given_back(tmp_path: Path) -> None:
    """JsonlSink reserves blocks ahead (Linux): the size stays the bytes written, a reopened
    log continues the chain where the last line ends, and close releases the reservation."""
    log = tmp_path / "audit.jsonl"
    sink = JsonlSink(log)
    sink.emit([{"event": "a", "values": {"n": i}} for i in range(50)])
    written = log.stat().st_size
    assert written == len(log.read_bytes()) and log.read_bytes().endswith(b"}\n")
    if sys.platform.startswith("linux"):
        assert sink._reserved > written  # the reservation happened
        assert log.stat().st_blocks * 512 >= 4 * 1024 * 1024
    sink.close()
    assert log.stat().st_size == written
    assert log.stat().st_blocks * 512 < written + 64 * 1024  # given back on close
    with JsonlSink(log) as again:
        again.emit([{"event": "b"}])
    assert verify(log).ok and verify(log).records == 51


def _in_child(work: Any) -> int:
    """Run ``work()`` in a forked child; its exit status (0 when it returned True)."""
    import os

    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            code = 0 if work() else 1
        finally:
            os._exit(code)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


@pytest.mark.skipif(sys.platform == "win32", reason="needs fork")
def test_a_forked_child_cannot_write_the_parents_jsonl_log_nor_cut_it(tmp_path: Path) -> None:
    """gunicorn --preload, Celery prefork: the sink is built in the parent. Children
    inherited its file, lock and place in the chain, and each wrote its own copy of the
    chain (verify: BROKEN). A child's emit is now refused, and its close() leaves the
    file's length alone (cutting to its stale size destroyed the parent's later records)."""
    log = tmp_path / "audit.jsonl"
    sink = JsonlSink(log)
    sink.emit(batch(0, 0))

    import os

    go_on, parent_wrote = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        refused = False
        try:
            sink.emit(batch(1, 0))
        except AuditError as err:
            refused = "opened by process" in str(err) and "after the fork" in str(err)
        os.read(go_on, 1)  # close only after the parent has written more
        sink.close()
        os._exit(0 if refused else 1)
    sink.emit(batch(0, 1))
    os.write(parent_wrote, b"x")
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
    sink.emit(batch(0, 2))
    sink.close()
    assert verify(str(log)).ok
    assert len(log.read_bytes().splitlines()) == 3 * PER
    assert log.stat().st_size == len(log.read_bytes())  # not cut by the child's close


@pytest.mark.skipif(sys.platform == "win32", reason="needs fork")
def test_a_forked_child_writes_a_sqlite_log_through_its_own_connection(tmp_path: Path) -> None:
    """SQLite forbids using a connection across fork; a child opens its own, and the chain
    stays one chain shared by parent and children."""
    db = tmp_path / "audit.db"
    sink = SqliteSink(db)
    sink.emit(batch(0, 0))

    def child() -> bool:
        for n in range(5):
            sink.emit(batch(1, n))
        sink.close()
        return True

    assert _in_child(child) == 0
    assert _in_child(child) == 0
    sink.emit(batch(0, 1))
    sink.close()
    result = verify(f"sqlite:{db}")
    assert result.ok, result


def test_a_jsonl_sink_dropped_without_close_releases_its_file_and_warns(
        tmp_path: Path) -> None:
    """A sink dropped unclosed kept its descriptor, its writer lock (the log could not be
    reopened in that process) and 4 MB of reserved disk, silently."""
    import gc
    import os

    log = tmp_path / "audit.jsonl"
    sink = JsonlSink(log)
    sink.emit(batch(0, 0))
    fd = sink._fd
    with pytest.warns(ResourceWarning, match="was not closed"):
        del sink
        gc.collect()
    with pytest.raises(OSError):
        os.fstat(fd)  # the descriptor is closed
    assert os.stat(log).st_blocks * 512 < 1024 * 1024  # the reserved space was given back
    with JsonlSink(log) as again:  # the lock is free
        again.emit(batch(0, 1))
    assert verify(str(log)).ok


def test_a_failing_structlog_processor_delivers_no_event_of_the_batch() -> None:
    """Three events of a decision reached the logger before the fourth's processor
    failed; docs/audit.md says a failing sink records nothing of that batch."""
    from structlog import DropEvent
    from structlog.processors import JSONRenderer

    class Collect:
        def __init__(self) -> None:
            self.lines: list[str] = []

        def info(self, line: str) -> None:
            self.lines.append(line)

    def fail_fourth(logger: Any, method: str, event: dict[str, Any]) -> dict[str, Any]:
        if event["values"].get("i") == 3:
            raise RuntimeError("log backend down")
        return event

    def drop_second(logger: Any, method: str, event: dict[str, Any]) -> dict[str, Any]:
        if event["values"].get("i") == 1:
            raise DropEvent
        return event

    out = Collect()
    sink = StructlogSink([fail_fourth, JSONRenderer(sort_keys=True)], logger=out)
    with pytest.raises(AuditError, match="no event of this decision was logged"):
        sink.emit(batch(0, 0, per=5))
    assert out.lines == []
    sink = StructlogSink([drop_second, JSONRenderer(sort_keys=True)], logger=out)
    sink.emit(batch(0, 1, per=3))
    assert [orjson.loads(x)["values"]["i"] for x in out.lines] == [0, 2]
    assert orjson.loads(out.lines[0])["event"] == "rule.evaluated"


def test_a_callers_wrong_arguments_are_audit_or_usage_errors(tmp_path: Path) -> None:
    """Each was a raw TypeError from deep inside (or, for emit(None) on a JSON Lines
    sink and fingerprint(None, gate), silent success)."""
    from cycleflow import Engine, UsageError

    engine = Engine(Path(__file__).resolve().parent.parent / "policies"
                    / "standard-sales-cycle.yaml")
    for call, words in ((lambda: engine.fingerprint({}, ["x"]), "unknown gate"),
                        (lambda: engine.fingerprint(None, "discount_desk"), "needs the deal")):
        with pytest.raises(UsageError, match=words):
            call()
    with pytest.raises(UsageError, match="did you mean 'discount_desk'"):
        engine.fingerprint({}, "discount_dsk")
    for make in (lambda: JsonlSink(None), lambda: SqliteSink(3)):
        with pytest.raises(AuditError, match="needs a file path"):
            make()
    with JsonlSink(tmp_path / "a.jsonl") as jsonl, MemorySink() as memory, \
            SqliteSink(tmp_path / "a.db") as sqlite:
        for sink in (jsonl, memory, sqlite):
            for bad in (None, [1], "events", {"event": "x"}):
                with pytest.raises(AuditError, match="list of event dicts"):
                    sink.emit(bad)
        jsonl.emit(({"event": "x"},))  # a tuple of dicts is fine
    assert verify(str(tmp_path / "a.jsonl")).ok


@pytest.mark.skipif(sys.platform == "win32", reason="needs fork")
@pytest.mark.parametrize("kind", ["jsonl", "sqlite"])
def test_a_child_forked_while_another_thread_writes_does_not_hang(
        tmp_path: Path, kind: str) -> None:
    """A threaded service that forks: the child inherited the sink's lock (and SQLite's
    own mutexes) held by the writing thread and hung for good in emit() or close()."""
    import os
    import signal

    sink: Any = (JsonlSink(tmp_path / "a.jsonl", fsync=True) if kind == "jsonl"
                 else SqliteSink(tmp_path / "a.db", fsync=True))
    stop = threading.Event()

    def write() -> None:
        n = 0
        while not stop.is_set():
            sink.emit(batch(9, n))
            n += 1

    writer = threading.Thread(target=write)
    writer.start()
    try:
        for n in range(6):
            pid = os.fork()
            if pid == 0:  # pragma: no cover - the child
                signal.alarm(10)  # a hang ends the child with SIGALRM, failing the test
                try:
                    sink.emit(batch(n, 0))
                    code = 0 if kind == "sqlite" else 1  # a JSONL child must be refused
                except AuditError:
                    code = 0 if kind == "jsonl" else 1
                sink.close()
                os._exit(code)
            assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0, n
    finally:
        stop.set()
        writer.join()
    sink.close()
    log = str(tmp_path / "a.jsonl") if kind == "jsonl" else f"sqlite:{tmp_path / 'a.db'}"
    assert verify(log).ok


@pytest.mark.skipif(sys.platform == "win32", reason="needs fork")
def test_forked_children_do_not_keep_the_jsonl_writer_lock(tmp_path: Path) -> None:
    """Children of a pre-fork server kept a copy of the descriptor, so the log could not be
    reopened (a restarted writer was refused) while any child lived."""
    import os

    log = tmp_path / "a.jsonl"
    sink = JsonlSink(log)
    sink.emit(batch(0, 0))
    ready, release = os.pipe()
    started, up = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child: lives on without touching the sink
        os.write(up, b"x")  # (the fork hook has run by the time child code runs)
        os.read(ready, 1)
        os._exit(0)
    try:
        os.read(started, 1)
        sink.close()
        with JsonlSink(log) as again:  # while the child is alive
            again.emit(batch(0, 1))
    finally:
        os.write(release, b"x")
        os.waitpid(pid, 0)
    assert verify(str(log)).ok


def test_opening_sinks_adds_no_fork_handler_for_the_life_of_the_process(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each sink registered its own at-fork hooks, which os can never remove: a service
    opening a sink per job grew its fork handlers, and every fork ran them all."""
    import os

    added: list[Any] = []
    monkeypatch.setattr(os, "register_at_fork", lambda **hooks: added.append(hooks),
                        raising=False)
    for n in range(20):
        JsonlSink(tmp_path / f"{n}.jsonl").close()
        SqliteSink(tmp_path / f"{n}.db").close()
    assert added == []


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # on purpose
def test_an_unclosed_jsonl_sink_is_released_even_when_warnings_are_errors(
        tmp_path: Path) -> None:
    import gc
    import warnings

    log = tmp_path / "a.jsonl"
    sink = JsonlSink(log)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)
        del sink
        gc.collect()  # the warning is raised (and reported as unraisable) after the release
    with JsonlSink(log) as again:
        again.emit(batch(0, 0))
