"""SqliteSink: the same hash chain in a SQLite table, for an embedded queryable log.

One row per event (seq primary key, canonical JSON, prev/hash, and indexed
copies of deal, decision_id, event, at, rule); one WAL transaction per emit.
The head is re-read inside each write transaction, so several processes may
share one database without forking the chain.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Mapping, Sequence
from typing import Any, Final
from urllib.parse import quote

from cycleflow.audit.base import GENESIS, AuditError, Processor, SinkBase
from cycleflow.audit.chain import Sealed, digest, seal_batch
from cycleflow.audit.forking import watch

TABLE: Final = "audit_log"
SCHEMA: Final = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    seq         INTEGER PRIMARY KEY,
    at          TEXT,
    deal        TEXT,
    decision_id TEXT,
    event       TEXT,
    rule        TEXT,
    prev        TEXT NOT NULL,
    hash        TEXT NOT NULL,
    record      TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS {TABLE}_deal ON {TABLE}(deal, at);
CREATE INDEX IF NOT EXISTS {TABLE}_decision ON {TABLE}(decision_id);
CREATE INDEX IF NOT EXISTS {TABLE}_event ON {TABLE}(event);
CREATE INDEX IF NOT EXISTS {TABLE}_at ON {TABLE}(at);
CREATE INDEX IF NOT EXISTS {TABLE}_rule ON {TABLE}(rule);
"""
#: The indexed columns, copied from the record (verify checks they agree with it).
INDEXED: Final = ("at", "deal", "decision_id", "event", "rule")
_INSERT: Final = f"INSERT INTO {TABLE} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
_HEAD: Final = f"SELECT seq, hash, record FROM {TABLE} ORDER BY seq DESC LIMIT 1"


def column(value: Any) -> str | None:
    """How a record field is stored in an indexed column: text, or NULL."""
    return None if value is None else value if isinstance(value, str) else str(value)


def connect_readonly(path: str) -> sqlite3.Connection:
    """Open an existing audit database read-only (never creating one by accident)."""
    if not os.path.exists(path):
        raise AuditError(f"audit log {path} does not exist")
    try:
        conn = sqlite3.connect(f"file:{quote(os.path.abspath(path))}?mode=ro", uri=True)
        conn.execute(f"SELECT 1 FROM {TABLE} LIMIT 1")
    except sqlite3.Error as exc:
        raise AuditError(f"{path} is not a readable cycleflow audit database: {exc}") from exc
    return conn


class SqliteSink(SinkBase):
    """Appends hash-chained rows to a SQLite database; thread-safe, WAL, one transaction per emit.

    ``fsync=True`` sets ``synchronous=FULL`` (durable against power loss); the default
    ``NORMAL`` survives a process crash, which is what WAL guarantees.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        fsync: bool = False,
        processors: Sequence[Processor] = (),
        timeout: float = 30.0,
    ) -> None:
        if not isinstance(path, (str, os.PathLike)):
            raise AuditError(f"SqliteSink needs a file path, not {type(path).__name__}")
        self.path = os.fspath(path)
        self._processors = tuple(processors)
        self._lock = threading.Lock()
        self._fsync, self._timeout = fsync, timeout
        self._conn = self._connect()
        self._pid = os.getpid()
        self._left: list[sqlite3.Connection] = []  # parents' connections, never used here
        self._held = False  # the lock is held across a fork (see _hold)
        watch(self)  # no thread may be inside SQLite at a fork (see _before_fork)

    def _connect(self) -> sqlite3.Connection:
        """A connection to the database, set up for appending (WAL, schema, head checked)."""
        try:
            conn = sqlite3.connect(
                self.path, timeout=self._timeout, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise AuditError(f"cannot open audit database {self.path}: {exc}") from exc
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={'FULL' if self._fsync else 'NORMAL'}")
            conn.executescript(SCHEMA)
            self._check_head(conn)
        except sqlite3.Error as exc:
            conn.close()
            raise AuditError(f"cannot use {self.path} as an audit database: {exc}") from exc
        except BaseException:
            conn.close()
            raise
        return conn

    def _check_head(self, conn: sqlite3.Connection) -> None:
        """Refuse to continue a chain whose last row does not match its own hash."""
        row = conn.execute(_HEAD).fetchone()
        if row is not None and digest(str(row[2]).encode()) != row[1]:
            raise AuditError(
                f"audit database {self.path} is damaged at seq {row[0]}: hash mismatch; "
                f"run `cycleflow audit verify sqlite:{self.path}`"
            )

    def emit(self, events: Sequence[Mapping[str, Any]]) -> None:
        """Chain ``events`` after the current head and insert them in one transaction."""
        batch = self._prepare(self._processors, events)
        if not batch:
            return
        with self._lock:
            self._check_open()
            if self._pid != os.getpid():  # a forked child: SQLite forbids using (or closing)
                self._left.append(self._conn)  # the parent's connection, so it opens its own
                self._conn = self._connect()
                self._pid = os.getpid()
            conn = self._conn
            failed_rollback: sqlite3.Error | None = None
            try:
                if conn.in_transaction:  # left open by an earlier emit whose rollback failed
                    conn.execute("ROLLBACK")
                conn.execute("BEGIN IMMEDIATE")
                try:
                    row = conn.execute(_HEAD).fetchone()
                    seq, prev = (int(row[0]) + 1, str(row[1])) if row else (0, GENESIS)
                    sealed, _, _ = seal_batch(batch, seq, prev)
                    rows = [_row(e, s) for e, s in zip(batch, sealed, strict=True)]
                    conn.executemany(_INSERT, rows)
                    conn.execute("COMMIT")
                except BaseException:
                    failed_rollback = _rollback(conn)  # never replaces the error being raised
                    raise
            except sqlite3.Error as exc:
                raise AuditError(_write_error(self.path, exc, failed_rollback)) from exc

    def close(self) -> None:
        """Close the connection; safe to call twice."""
        if self._pid != os.getpid():  # a forked child that never wrote: nothing of its own
            self._left.append(self._conn)
            self._closed = True
            return
        with self._lock:
            if not self._closed:
                self._conn.close()
            self._closed = True

    def __enter__(self) -> SqliteSink:
        return self

    def _before_fork(self) -> None:
        """Wait for a thread writing through this sink to finish. A child forked while
        another thread was inside SQLite inherits SQLite's mutexes held, and hangs in its
        first call (a threaded service that forks workers)."""
        self._held = self._lock.acquire(timeout=30)

    def _after_fork_in_parent(self) -> None:
        if self._held:
            self._held = False
            self._lock.release()

    def _after_fork_in_child(self) -> None:
        """The parent's lock (held across the fork) is not the child's."""
        self._lock = threading.Lock()
        self._held = False


def _rollback(conn: sqlite3.Connection) -> sqlite3.Error | None:
    """Roll back the open transaction, if SQLite has not already; the error if that fails.

    On some errors (``database or disk is full``, I/O errors, out of memory) SQLite ends
    the transaction itself, and a ``ROLLBACK`` then fails with "no transaction is active":
    that must not hide why the write failed.
    """
    if not conn.in_transaction:
        return None
    try:
        conn.execute("ROLLBACK")
    except sqlite3.Error as exc:
        return exc  # still open: the next emit rolls it back before it begins
    return None


def _write_error(path: str, exc: sqlite3.Error, failed_rollback: sqlite3.Error | None) -> str:
    """The AuditError message of a failed write: its cause, and what the user can do."""
    cause = str(exc)
    if (getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF == sqlite3.SQLITE_FULL:
        cause += (" (the disk holding it, or the database's size limit, is full: free space, "
                  "then retry the decision)")
    message = f"cannot write audit database {path}: {cause}; no event of this decision was recorded"
    if failed_rollback is not None:
        message += (f"; rolling the write back failed too ({failed_rollback}), so the sink "
                    "rolls it back before its next write")
    return message


def _row(event: Mapping[str, Any], sealed: Sealed) -> tuple[Any, ...]:
    return (
        sealed.seq,
        column(event.get("at")),
        column(event.get("deal")),
        column(event.get("decision_id")),
        column(event.get("event")),
        column(event.get("rule")),
        sealed.prev,
        sealed.hash,
        sealed.body.decode(),
    )


__all__ = ["SCHEMA", "TABLE", "SqliteSink", "connect_readonly"]
