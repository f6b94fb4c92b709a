"""JsonlSink: the hash-chained JSON Lines audit log (the command line's ``--audit FILE``).

One canonical line per event, appended with one ``write`` per decision under a
lock; reopening reads only the tail to continue the chain, and refuses to build
on a torn last line unless asked to repair it. ``rotate`` (or ``rotate_bytes``)
moves the log aside as a segment and continues the same chain in a fresh file.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import sys
import threading
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Final

import orjson

from cycleflow.audit.base import GENESIS, AuditError, Processor, SinkBase, check_events
from cycleflow.audit.chain import check_record, seal_lines
from cycleflow.audit.forking import watch
from cycleflow.audit.logfile import MAX_LINE, is_compressed
from cycleflow.audit.segments import CONTINUED, NEXT_SUFFIX, segment_path

try:  # POSIX only; elsewhere the single-writer rule is documented but not enforced
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

_CHUNK: Final = 64 * 1024
_TORN_HEAD: Final = 1 << 20   # how much of a torn line is held to describe it
_RESERVE: Final = 4 * 1024 * 1024
_FALLOC_FL_KEEP_SIZE: Final = 1


def _space_reserver() -> Any:
    """Linux ``fallocate(fd, FALLOC_FL_KEEP_SIZE, offset, length)``, or None where absent.

    Appending into blocks reserved ahead is several times cheaper than making the file
    grow block by block (measured here: 5.8 µs vs 22 µs per 9 KB write). KEEP_SIZE leaves
    the file's size alone, so readers and crash recovery never see the reservation.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes
        import ctypes.util

        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        fallocate = libc.fallocate
    except (OSError, AttributeError):  # pragma: no cover - no libc or no fallocate
        return None
    fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_longlong, ctypes.c_longlong]
    fallocate.restype = ctypes.c_int
    return fallocate


_DECISION_ID: Final = re.compile(rb'"decision_id":"([^"\\]{1,128})"')
_sync = getattr(os, "fdatasync", os.fsync)


@dataclass(frozen=True, slots=True)
class _Tail:
    """What the end of an existing log says: where the chain continues and what is damaged."""

    seq: int                 # next seq to write
    prev: str                # hash of the last good record
    good_end: int            # byte offset just after the last good complete line
    torn: bytes              # the start (at most _TORN_HEAD bytes) of a torn last line
    damaged_line: int | None  # 1-based line number of the damage, if any
    reason: str | None       # why the tail is damaged, if it is
    torn_size: int = 0       # the torn last line's full length (it may be far longer)


def _count_lines(fd: int, upto: int) -> int:
    """Number of newlines in the first ``upto`` bytes (only used on the error path)."""
    count, offset = 0, 0
    while offset < upto:
        chunk = os.pread(fd, min(1 << 20, upto - offset), offset)
        if not chunk:
            break
        count += chunk.count(b"\n")
        offset += len(chunk)
    return count


def _last_newline(fd: int, end: int) -> int:
    """The offset just after the last newline before ``end`` (0 when there is none), found
    chunk by chunk without keeping the bytes: a tail of zeros left by a power loss can be
    gigabytes long."""
    start = end
    while start > 0:
        begin = max(0, start - _CHUNK)
        found = os.pread(fd, start - begin, begin).rfind(b"\n")
        if found >= 0:
            return begin + found + 1
        start = begin
    return 0


def _torn_reason(head: bytes, size: int) -> str:
    """Why the bytes after the last newline are a torn line, zeros named as such (``head``
    is the start of the ``size`` bytes: only what was read is called zeros)."""
    if head and not head.strip(b"\x00"):
        zeros = (f"{size} zero bytes" if len(head) == size
                 else f"{size} bytes, the first {len(head)} of them zero bytes,")
        return (f"torn last line: {zeros} where a record should be (a crash or power loss "
                "before the data reached the disk)")
    return "torn last line (no newline)"


def _scan_tail(fd: int) -> _Tail:
    """Find the last complete line from the end, without reading a torn tail into memory,
    and judge it."""
    size = os.fstat(fd).st_size
    if size == 0:
        return _Tail(0, GENESIS, 0, b"", None, None)
    good_end = _last_newline(fd, size)       # just after the last complete line
    torn_size = size - good_end
    torn = os.pread(fd, min(torn_size, _TORN_HEAD), good_end) if torn_size else b""
    if not good_end:  # no complete line at all: the whole file is one torn line
        return _Tail(0, GENESIS, 0, torn, 1, _torn_reason(torn, torn_size), torn_size)
    line_start = _last_newline(fd, good_end - 1)
    if good_end - line_start > MAX_LINE:
        number = _count_lines(fd, line_start) + 1
        return _Tail(0, GENESIS, good_end, torn, number,
                     f"last complete line: over {MAX_LINE} bytes, not a record the sink "
                     "writes", torn_size)
    line = os.pread(fd, good_end - 1 - line_start, line_start)
    try:
        obj: Any = orjson.loads(line)
        problem = check_record(obj, line)
    except orjson.JSONDecodeError:
        problem = ("zero bytes where a record should be" if line and not line.strip(b"\x00")
                   else "not valid JSON")
    if problem is not None:
        number = _count_lines(fd, line_start) + 1
        return _Tail(0, GENESIS, good_end, torn, number, f"last complete line: {problem}",
                     torn_size)
    seq = int(obj["seq"])
    if torn_size:
        number = _count_lines(fd, good_end) + 1  # the physical line: seq + 2 only if no
        return _Tail(  # line was removed before it (an error path, so the count is cheap)
            seq + 1, str(obj["hash"]), good_end, torn, number, _torn_reason(torn, torn_size),
            torn_size,
        )
    return _Tail(seq + 1, str(obj["hash"]), good_end, b"", None, None)


def _first_seq(fd: int) -> int:
    """The seq of the log's first record (the log is open and its chain was checked)."""
    size, data = 4096, b""
    while b"\n" not in data:
        data = os.pread(fd, size, 0)
        if len(data) < size:
            break
        size *= 4
    try:
        first: Any = orjson.loads(data.split(b"\n", 1)[0])
        return int(first["seq"])
    except (orjson.JSONDecodeError, TypeError, KeyError, ValueError):
        raise AuditError(
            "cannot rotate: the log's first line is not a chained record (run `cycleflow "
            "audit verify` on it); the log is unchanged"
        ) from None


def _refuse_long_lines(path: str, data: bytes) -> None:
    """No line over the bound the readers hold a line to (logfile.MAX_LINE) is written:
    verify would call it "not a record the sink writes" and the log broken. The decision
    fails instead, its events unwritten, saying which field to keep out of rules."""
    for line in data.split(b"\n"):
        if len(line) + 1 > MAX_LINE:
            raise AuditError(
                f"audit log {path}: an event of {len(line) + 1} bytes is over the "
                f"{MAX_LINE} bytes a log line may hold (a rule read a huge field: keep such "
                "fields out of rules); no event of this decision was recorded")


def _undo_rotation(path: str, fd: int) -> None:
    """Undo a rotation a crash cut short before the new file took the log's name: drop the
    new file, and the segment's name when it is still a second name of the log (the
    segment would hold the records again, and every later one)."""
    nxt = path + NEXT_SUFFIX
    if not os.path.lexists(nxt):
        return
    os.unlink(nxt)
    if os.fstat(fd).st_size == 0:
        return
    with contextlib.suppress(AuditError, OSError):
        segment = segment_path(path, _first_seq(fd))
        if os.path.samefile(segment, path):
            os.unlink(segment)


def _finish_rotation(path: str) -> None:
    """A rotation that moved the log to its segment (on a file system without hard links)
    but crashed before the new file took its name: give the new file the name now."""
    nxt = path + NEXT_SUFFIX
    if not os.path.exists(path) and os.path.exists(nxt):
        os.rename(nxt, path)


class JsonlSink(SinkBase):
    """Appends hash-chained canonical JSON lines to ``path``; thread-safe, one writer process.

    ``fsync=True`` makes each emit durable against power loss before it returns.
    ``repair=True`` cuts a torn last line (saved beside the log) and chains an
    ``audit.repaired`` record saying so; any other damage still raises AuditError.
    ``rotate_bytes=N`` rotates the log (see :meth:`rotate`) before an emit once it holds
    N bytes or more, so no file grows past N by more than one decision.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        fsync: bool = False,
        processors: Sequence[Processor] = (),
        repair: bool = False,
        rotate_bytes: int | None = None,
    ) -> None:
        if not isinstance(path, (str, os.PathLike)):
            raise AuditError(f"JsonlSink needs a file path, not {type(path).__name__}")
        if rotate_bytes is not None and (type(rotate_bytes) is not int or rotate_bytes <= 0):
            raise AuditError(
                f"rotate_bytes must be a positive number of bytes, not {rotate_bytes!r}"
            )
        self.path = os.fspath(path)
        self._fsync = fsync
        self._rotate_at = rotate_bytes
        self._rotate_asked = False
        self._processors = tuple(processors)
        self._lock = threading.Lock()
        self._broken: str | None = None
        self._fd = -1
        self._pid = os.getpid()  # a forked child shares the file and the lock: it may not write
        _finish_rotation(self.path)
        created = not os.path.exists(self.path)
        if not created and is_compressed(self.path):
            raise AuditError(
                f"audit log {self.path} is compressed (gzip, xz, bzip2 or zstd): a sink appends "
                "to an uncompressed log (verify, show and report read compressed ones)"
            )
        fd = self._open_locked()
        try:
            tail = _scan_tail(fd)
            saved = self._handle_damage(fd, tail, repair) if tail.reason is not None else None
            _undo_rotation(self.path, fd)
            if created and fsync:
                self._sync_dir()
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        self._seq, self._prev = tail.seq, tail.prev
        self._size = os.fstat(fd).st_size
        self._fallocate = _space_reserver()
        self._reserved = self._size  # the file has blocks reserved up to here
        watch(self)  # a child lets go of the file at once (see _after_fork_in_child)
        if saved is not None:
            self._record_repair(tail, saved)

    @property
    def seq(self) -> int:
        """The seq the next record will get (= records in the log)."""
        return self._seq

    @property
    def head(self) -> str:
        """The hash of the last record written (``GENESIS`` for an empty log)."""
        return self._prev

    def _open_locked(self) -> int:
        """The log opened for appending, under the writer lock. A writer rotating the log
        between our open and our lock leaves us holding its old file, now a segment: the
        lock is taken again on the file the path names then (never on a segment)."""
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT
                             | getattr(os, "O_CLOEXEC", 0), 0o644)
            except OSError as exc:
                raise AuditError(f"cannot open audit log {self.path}: {exc.strerror}") from exc
            try:
                self._take_lock(fd)
                held, named = os.fstat(fd), os.stat(self.path)
            except BaseException:
                os.close(fd)
                raise
            if (held.st_dev, held.st_ino) == (named.st_dev, named.st_ino):
                return fd
            os.close(fd)
        raise AuditError(f"audit log {self.path} was replaced three times while opening it: "
                         "another writer is rotating it (a log has one writer)")

    def _take_lock(self, fd: int) -> None:
        if fcntl is None:  # pragma: no cover
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            raise AuditError(
                f"audit log {self.path} is already open for writing by another sink or process; "
                "a log has one writer (use a separate log per process, or SqliteSink)"
            ) from exc

    def _sync_dir(self) -> None:
        try:
            dfd = os.open(os.path.dirname(os.path.abspath(self.path)), os.O_RDONLY)
        except OSError:  # pragma: no cover - platform without directory fds
            return
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)

    def _handle_damage(self, fd: int, tail: _Tail, repair: bool) -> tuple[str, str]:
        """Raise for a damaged tail, or cut a torn line off (returning where it was saved
        and the SHA-256 of its bytes)."""
        hint = f"run `cycleflow audit verify {self.path}`"
        if not tail.reason or not tail.reason.startswith("torn"):
            raise AuditError(
                f"audit log {self.path} is damaged at line {tail.damaged_line}: {tail.reason}; "
                f"{hint} to find the first bad record (this cannot be repaired automatically)"
            )
        if not repair:
            raise AuditError(
                f"audit log {self.path} is damaged at line {tail.damaged_line}: {tail.reason}, "
                f"{tail.torn_size} bytes left by an interrupted write; {hint}, then reopen with "
                f"repair=True (or `cycleflow audit repair {self.path}`) to cut the torn line"
            )
        saved = self._save_torn(fd, tail)
        os.ftruncate(fd, tail.good_end)
        _sync(fd)
        return saved

    def _save_torn(self, fd: int, tail: _Tail) -> tuple[str, str]:
        """Keep the cut bytes beside the log, so repair loses nothing an investigator may
        want; copied in chunks (a tail of zeros can be huge). Returns the copy's path and
        the SHA-256 of the bytes."""
        base = f"{self.path}.torn-line-{tail.damaged_line}"
        name, n = base, 1
        while os.path.exists(name):
            n += 1
            name = f"{base}.{n}"
        digest = hashlib.sha256()
        with open(name, "xb") as fh:
            offset, end = tail.good_end, tail.good_end + tail.torn_size
            while offset < end:
                chunk = os.pread(fd, min(_CHUNK * 16, end - offset), offset)
                if not chunk:
                    break
                fh.write(chunk)
                digest.update(chunk)
                offset += len(chunk)
            fh.flush()
            os.fsync(fh.fileno())
        return name, digest.hexdigest()

    def _record_repair(self, tail: _Tail, saved: tuple[str, str]) -> None:
        """Chain an ``audit.repaired`` record: the one event the sink writes on its own.

        It names the decision the torn line belonged to: complete lines of that decision
        just before it were written but the decision was never returned to its caller.
        """
        found = _DECISION_ID.search(tail.torn)
        interrupted = found.group(1).decode(errors="replace") if found else None
        path, sha256 = saved
        self.emit([{
            "event": "audit.repaired",
            "at": datetime.now(timezone.utc).isoformat(),
            "outcome": "repaired",
            "message": (
                f"cut a torn last line (line {tail.damaged_line}, {tail.torn_size} bytes) "
                f"left by an interrupted write; the bytes are saved in {path}"
                + (f"; decision {interrupted} was interrupted and never acknowledged"
                   if interrupted else "")
            ),
            "values": {
                "line": tail.damaged_line,
                "bytes": tail.torn_size,
                "sha256": sha256,
                "saved_to": path,
                "interrupted_decision": interrupted,
            },
        }])

    def emit(self, events: Sequence[Mapping[str, Any]]) -> None:
        """Chain and append ``events`` with one write (and fsync if asked) before returning."""
        # without processors the events are sealed as given (seal_lines never edits them)
        batch: Sequence[Mapping[str, Any]]
        if self._processors:
            batch = self._prepare(self._processors, events)
        else:
            if type(events) is not list:  # the engine's own batches skip this check
                check_events(events)
            batch = events
        if not batch:
            self._check_open()
            return
        if self._pid != os.getpid():  # before the lock: another thread may have held it
            raise AuditError(self._forked())  # when the process forked
        with self._lock:
            self._check_open()
            if self._broken is not None:
                raise AuditError(self._broken)
            if self._rotate_asked or (
                    self._rotate_at is not None and self._size >= self._rotate_at):
                self._rotate_asked = False
                self._rotate_when_full()
            try:
                data, seq, prev = seal_lines(batch, self._seq, self._prev)
            except (TypeError, AttributeError):  # an event that is not a dict (a caller's)
                check_events(batch)
                raise
            if len(data) > MAX_LINE:  # rare: a rule read a huge field
                _refuse_long_lines(self.path, data)
            self._write(data)
            self._seq, self._prev = seq, prev
            if self._fsync:
                try:
                    _sync(self._fd)
                except OSError as exc:
                    self._broken = (
                        f"audit log {self.path}: fsync failed ({exc.strerror}); durability of "
                        "the log is unknown, open a new sink after checking the disk"
                    )
                    raise AuditError(self._broken) from exc

    def _unchanged(self) -> None:
        """Refuse to write to a log another program truncated, appended to or deleted since
        this sink wrote it (logrotate's copytruncate, a cleanup job): the lines would land
        at the wrong place or vanish with the file, and cutting the file back to the sink's
        idea of its size would fill it with zero bytes."""
        st = os.fstat(self._fd)
        if st.st_nlink == 0:
            raise AuditError(
                f"audit log {self.path} was deleted while this sink had it open: events "
                "written now would vanish with the file, so nothing was written; restore the "
                "file, or open a new sink (which starts a new log)")
        if st.st_size != self._size:
            raise AuditError(
                f"audit log {self.path} changed under this sink: it holds {st.st_size} bytes "
                f"where the sink had written {self._size} (truncated, e.g. by logrotate's "
                "copytruncate, or written by another program), so nothing was written; rotate "
                "with --audit-rotate, JsonlSink.rotate() or `cycleflow audit rotate`, and run "
                f"`cycleflow audit verify {self.path}` before opening a new sink")

    def _write(self, data: bytes) -> None:
        """Write all of ``data`` or, on failure, cut the file back so no torn line remains."""
        self._unchanged()
        if self._fallocate is not None and self._size + len(data) > self._reserved:
            want = max(_RESERVE, len(data))
            if self._fallocate(self._fd, _FALLOC_FL_KEEP_SIZE, self._size, want) == 0:
                self._reserved = self._size + want
            else:  # a file system without fallocate: plain appends from now on
                self._fallocate = None
        view = memoryview(data)
        done = 0
        try:
            while done < len(data):
                done += os.write(self._fd, view[done:])
        except OSError as exc:
            try:
                os.ftruncate(self._fd, self._size)
            except OSError:
                self._broken = (
                    f"audit log {self.path}: a failed write left a partial line that could not "
                    f"be removed; run `cycleflow audit verify {self.path}`"
                )
            raise AuditError(
                f"cannot write audit log {self.path}: {exc.strerror}; "
                "no event of this decision was recorded"
            ) from exc
        self._size += len(data)

    def rotate(self) -> str | None:
        """Move the log aside as a segment and continue its chain in a fresh file at ``path``.

        The segment is named after its first record's seq (``audit.jsonl`` →
        ``audit.000000052311.jsonl``); the new file starts with an ``audit.continued``
        record chained after the segment's last one. Returns the segment's path, or None
        for an empty log. Verify, show and report read the files together in any order.
        """
        if self._pid != os.getpid():
            raise AuditError(self._forked())
        with self._lock:
            self._check_open()
            if self._broken is not None:
                raise AuditError(self._broken)
            return self._rotate()

    def rotate_soon(self) -> None:
        """Rotate before the next emit: what a signal handler (logrotate's ``postrotate``
        sending SIGHUP) calls. :meth:`rotate` there could wait forever for the sink's lock,
        held by the emit the signal interrupted in the same thread."""
        self._rotate_asked = True

    def _rotate_when_full(self) -> None:
        """``rotate_bytes``'s rotation, before an emit. If it fails (a file already has the
        segment's name, the directory is read-only) the decision's events are still
        written here, and rotation waits for an explicit :meth:`rotate`: a log that cannot
        rotate must not stop the decisions it records. Said once, as a warning."""
        try:
            self._rotate()
        except AuditError as exc:
            self._rotate_at = None
            warnings.warn(f"{exc}; the log grows past rotate_bytes until it is rotated",
                          RuntimeWarning, stacklevel=4)

    def _rotate(self) -> str | None:
        """:meth:`rotate` under the lock. The new file is written and synced under a
        temporary name first, and the segment is a hard link of the log until the new file
        replaces it in one rename: the log's path always names a whole log, whenever a crash
        comes (a leftover temporary file is removed when the log is next opened)."""
        self._unchanged()
        if self._size == 0:
            return None
        first = _first_seq(self._fd)
        segment = segment_path(self.path, first)
        event = {
            "event": CONTINUED,
            "at": datetime.now(timezone.utc).isoformat(),
            "outcome": "continued",
            "message": (
                f"the log continues from {os.path.basename(segment)}, which holds records "
                f"{first} to {self._seq - 1}"
            ),
            "values": {
                "segment": os.path.basename(segment),
                "first_seq": first,
                "records": self._seq - first,
            },
        }
        data, seq, prev = seal_lines([event], self._seq, self._prev)
        nxt = self.path + NEXT_SUFFIX
        try:
            fd = os.open(nxt, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC
                         | getattr(os, "O_CLOEXEC", 0), 0o644)
        except OSError as exc:
            raise AuditError(f"cannot rotate audit log {self.path}: {exc.strerror}") from exc
        linked = moved = False
        try:
            self._take_lock(fd)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            _sync(fd)
            if self._reserved > self._size:
                os.ftruncate(self._fd, self._size)
            _sync(self._fd)
            if os.path.lexists(segment) and not os.path.samefile(segment, self.path):
                raise AuditError(
                    f"cannot rotate audit log {self.path}: {segment} already exists and is "
                    "another file (move it away; a rotation never overwrites a segment)"
                )
            if not os.path.lexists(segment):
                try:
                    os.link(self.path, segment)
                    linked = True
                except OSError:  # no hard links here (FAT, some network shares): move it
                    os.rename(self.path, segment)
                    moved = True
            os.rename(nxt, self.path)
        except BaseException as exc:
            if not os.path.lexists(nxt):  # interrupted right after the rename: it is done
                self._adopt(fd, len(data), seq, prev)
                raise
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(nxt)
            with contextlib.suppress(OSError):  # put the log back as it was
                if linked:
                    os.unlink(segment)
                elif moved:
                    os.rename(segment, self.path)
            if isinstance(exc, OSError):
                raise AuditError(f"cannot rotate audit log {self.path}: {exc.strerror}; "
                                 "the log is unchanged") from exc
            raise
        self._adopt(fd, len(data), seq, prev)  # from here on the rotation has taken place
        try:
            self._sync_dir()
        except OSError as exc:
            raise AuditError(
                f"rotated audit log {self.path} (its records are in {segment}), but syncing "
                f"the directory failed ({exc.strerror}): a power loss now could undo the "
                "renames") from exc
        return segment

    def _adopt(self, fd: int, size: int, seq: int, prev: str) -> None:
        """Write to the file a rotation put at the log's path from now on."""
        old, self._fd = self._fd, fd
        self._seq, self._prev = seq, prev
        self._size = self._reserved = size
        with contextlib.suppress(OSError):
            os.close(old)

    def _forked(self) -> str:
        return (
            f"audit log {self.path} was opened by process {self._pid}, not this one "
            f"({os.getpid()}): a forked process shares its file and lock but not its place "
            "in the chain, so two writers would fork the chain. Open the sink after the fork "
            "(e.g. in gunicorn's post_fork or Celery's worker_process_init), one log per "
            "process, or use SqliteSink, which many processes can share"
        )

    def close(self) -> None:
        """Close the file (releasing the writer lock); safe to call twice."""
        if self._pid != os.getpid():  # a forked child: its copy went at the fork, and only
            self._closed = True  # the opening process owns the file's length (cutting it
            return  # to a child's stale view would destroy the parent's later records)
        with self._lock:
            if self._fd >= 0:
                if self._reserved > self._size:
                    with contextlib.suppress(OSError):  # give back the blocks reserved ahead,
                        if os.fstat(self._fd).st_size == self._size:  # never growing a file
                            os.ftruncate(self._fd, self._size)  # another program cut short
                os.close(self._fd)
                self._fd = -1
            self._closed = True

    def __del__(self) -> None:
        """A sink dropped without close() still releases its file, lock and reserved space
        (first: with warnings as errors, the warning would otherwise stop the release)."""
        if getattr(self, "_fd", -1) >= 0:
            with contextlib.suppress(Exception):
                self.close()
            warnings.warn(
                f"audit sink for {self.path} was not closed: close it, or use it in a "
                "`with` block", ResourceWarning, source=self, stacklevel=2,
            )

    def __enter__(self) -> JsonlSink:
        return self

    def _before_fork(self) -> None:
        """Nothing to wait for: a child never writes (its emit is refused)."""

    def _after_fork_in_parent(self) -> None:
        """The parent keeps the file and its place in the chain."""

    def _after_fork_in_child(self) -> None:
        """Right after the fork, in the child: drop the child's copy of the descriptor, so
        the writer lock goes with the parent's (children kept the log locked against a
        restarted writer), and take a fresh lock (one held by another thread at the fork
        would never be released here). The child's emit() is refused; close() a no-op."""
        if self._fd < 0:
            return
        self._lock = threading.Lock()
        with contextlib.suppress(OSError):
            os.close(self._fd)  # no truncation: the file's length is the parent's
        self._fd = -1


__all__ = ["JsonlSink"]
