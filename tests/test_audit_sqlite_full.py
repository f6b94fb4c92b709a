"""SqliteSink on a full disk says the disk is full, and keeps working once there is room.

On ``database or disk is full`` SQLite has already rolled the transaction back, so the
sink's own ``ROLLBACK`` failed with "cannot rollback - no transaction is active" and that
was the error the user saw; the real cause was buried in ``__cause__.__context__``. The
disk is filled for real here: ``PRAGMA max_page_count`` on the sink's connection makes
SQLite answer SQLITE_FULL exactly as a full disk does.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from shipped import NOW, POLICY, REP, deal

from cycleflow import Engine, load_policy
from cycleflow.audit import AuditError, SqliteSink, history, verify

Opened = list[sqlite3.Connection]


def events(deal_id: str, n: int = 20) -> list[dict[str, Any]]:
    """One decision's events, large enough to need new database pages."""
    return [{"event": "rule.evaluated", "at": NOW, "decision_id": f"d-{deal_id}",
             "deal": deal_id, "rule": f"r{i}", "outcome": "pass", "message": "x" * 400}
            for i in range(n)]


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> Iterator[Opened]:
    """Every SQLite connection opened during the test (the sink's among them)."""
    real = sqlite3.connect
    conns: Opened = []

    def connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        conn = real(*args, **kwargs)
        conns.append(conn)
        return conn

    monkeypatch.setattr(sqlite3, "connect", connect)
    yield conns


def limit(conns: Opened, pages: int | None) -> None:
    """Cap each connection's database at ``pages`` pages (None: its current size)."""
    for conn in conns:
        try:
            cap = pages or conn.execute("PRAGMA page_count").fetchone()[0]
            conn.execute(f"PRAGMA max_page_count={cap}").fetchone()
        except sqlite3.ProgrammingError:  # closed already (a reader's)
            continue


def test_a_full_database_names_the_cause_and_records_nothing(
        tmp_path: Path, opened: Opened) -> None:
    db = tmp_path / "audit.db"
    with SqliteSink(db) as sink:
        sink.emit(events("D-1"))
        limit(opened, None)  # the disk is full from here on
        with pytest.raises(AuditError) as caught:
            sink.emit(events("D-2"))
        message = str(caught.value)
        assert "database or disk is full" in message
        assert "no event of this decision was recorded" in message
        assert "cannot rollback" not in message
        assert "free space" in message  # what to do about it
        assert history(f"sqlite:{db}", "D-2") == []

        limit(opened, 1_000_000)  # space freed: the same sink writes again
        sink.emit(events("D-3"))
    result = verify(f"sqlite:{db}")
    assert result.ok, result.describe()
    assert result.records == 40
    assert [e["rule"] for e in history(f"sqlite:{db}", "D-3")] == [f"r{i}" for i in range(20)]


def test_a_decision_on_a_full_database_fails_with_the_cause(
        tmp_path: Path, opened: Opened) -> None:
    db = tmp_path / "audit.db"
    with SqliteSink(db) as sink:
        engine = Engine(load_policy(POLICY), audit=sink)
        engine.decide(deal(), "advance", REP, now=NOW)
        limit(opened, None)
        big = deal(id="D-2", decision_maker="y" * 20_000)  # its events need new pages
        with pytest.raises(AuditError, match="database or disk is full"):
            engine.decide(big, "advance", REP, now=NOW)
        limit(opened, 1_000_000)
        engine.decide(big, "advance", REP, now=NOW)
    assert verify(f"sqlite:{db}").ok


class FlakyConnection(sqlite3.Connection):
    """A connection whose next insert fails with SQLITE_FULL while SQLite keeps the
    transaction open, and whose next ROLLBACK fails too (an I/O error on the way)."""

    fail_insert = False
    fail_rollback = False

    def executemany(self, sql: str, params: Any, /) -> sqlite3.Cursor:
        if FlakyConnection.fail_insert:
            FlakyConnection.fail_insert = False
            raise sqlite3.OperationalError("database or disk is full")
        return super().executemany(sql, params)

    def execute(self, sql: str, params: Any = (), /) -> sqlite3.Cursor:
        if sql == "ROLLBACK" and FlakyConnection.fail_rollback:
            FlakyConnection.fail_rollback = False
            raise sqlite3.OperationalError("disk I/O error")
        return super().execute(sql, params)


@pytest.fixture
def flaky(monkeypatch: pytest.MonkeyPatch) -> type[FlakyConnection]:
    real: Callable[..., sqlite3.Connection] = sqlite3.connect
    monkeypatch.setattr(sqlite3, "connect",
                        lambda *a, **k: real(*a, **k, factory=FlakyConnection))
    return FlakyConnection


def test_a_failed_rollback_never_hides_the_error_and_is_cleared_by_the_next_write(
        tmp_path: Path, flaky: type[FlakyConnection]) -> None:
    db = tmp_path / "audit.db"
    with SqliteSink(db) as sink:
        sink.emit(events("D-1", 2))
        flaky.fail_insert = flaky.fail_rollback = True
        with pytest.raises(AuditError) as caught:
            sink.emit(events("D-2", 2))
        message = str(caught.value)
        assert "database or disk is full" in message.split(";")[0]
        assert "no event of this decision was recorded" in message
        sink.emit(events("D-3", 2))  # the transaction left open is not reused nor committed
    assert history(f"sqlite:{db}", "D-2") == []
    result = verify(f"sqlite:{db}")
    assert result.ok and result.records == 4, result.describe()
