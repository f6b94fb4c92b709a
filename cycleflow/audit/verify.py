"""Check an audit log's hash chain, streaming, and say where it first breaks.

Works on JSON Lines logs and SQLite audit databases; memory use is constant in
the size of the log (one line or row at a time).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import IO, Any, Final, Literal, NamedTuple, TypeAlias

import orjson

from cycleflow.audit.base import GENESIS, AuditError
from cycleflow.audit.chain import check_record, digest
from cycleflow.audit.logfile import LongLine, read_lines, read_to_end, reading_log
from cycleflow.audit.segments import continues, in_chain_order
from cycleflow.audit.sqlite import INDEXED, TABLE, column, connect_readonly
from cycleflow.errors import UsageError

LogKind = Literal["jsonl", "sqlite"]
#: One log: a path or ``sqlite:PATH`` spec, or the files of a rotated JSON Lines log.
LogSpec: TypeAlias = "str | os.PathLike[str] | Sequence[str | os.PathLike[str]]"
_SQLITE_MAGIC: Final = b"SQLite format 3\x00"
_ANCHOR: Final = re.compile(r"[0-9a-f]{16,64}")


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """The verdict on one log: intact or not, how many records verify, where it first breaks.

    ``first_bad`` is 1-based: the line number in a JSON Lines log, the row position
    (seq + 1) in a SQLite log. ``records`` counts the verified prefix. ``head`` is the
    hash of the last verified record: keep it elsewhere to detect a later cut at a
    line boundary, which no chain can see on its own. ``anchored`` says whether the
    head given as ``expect_head`` was found (None when none was given).

    A rotated log is verified across its files: ``segments`` lists them in chain order
    and ``path`` is the one the verdict is about (the first bad one, else the newest).
    ``first_seq`` is the seq the verified chain starts at; ``follows`` names the segment
    before it when the oldest file given continues one that was not given.
    """

    ok: bool
    records: int
    first_bad: int | None = None
    reason: str | None = None
    head: str = GENESIS
    torn: bool = False
    path: str = ""
    kind: LogKind = "jsonl"
    anchored: bool | None = None
    first_seq: int = 0
    follows: str | None = None
    segments: tuple[str, ...] = ()

    def describe(self) -> str:
        """One human sentence: what the command line prints."""
        unit = "line" if self.kind == "jsonl" else "row"
        if self.ok:
            found = "; the expected head is in it" if self.anchored else ""
            name = self.path
            if len(self.segments) > 1:
                name = f"{self.path} and {len(self.segments) - 1} earlier segment(s)"
            span = f" (seq {self.first_seq} to {self.first_seq + self.records - 1})" \
                if self.first_seq else ""
            before = (f"; it continues {self.follows}, which was not given (give every "
                      "segment to check the whole chain)") if self.follows else ""
            return f"{name}: intact, {self.records} records{span}, head {self.head}{found}{before}"
        if self.first_bad is None:  # the chain holds, but the anchored head is not in it
            return f"{self.path}: BROKEN: {self.reason} ({self.records} records verify)"
        return (
            f"{self.path}: BROKEN at {unit} {self.first_bad}: {self.reason} "
            f"({self.records} records before it verify)"
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form for ``audit verify --format json``."""
        return {
            "path": self.path, "kind": self.kind, "ok": self.ok, "records": self.records,
            "first_bad": self.first_bad, "reason": self.reason, "head": self.head,
            "torn": self.torn, "anchored": self.anchored, "first_seq": self.first_seq,
            "follows": self.follows, "segments": list(self.segments or (self.path,)),
        }


class _Start(NamedTuple):
    """Where a segment's chain must continue: the seq and prev after the files before it,
    the seq the verified chain began at, and the file that ended it."""

    expected: int
    prev: str
    chain_start: int
    previous: str
    follows: str | None


def parse_spec(path_or_spec: str | os.PathLike[str]) -> tuple[LogKind, str]:
    """Split ``sqlite:PATH`` / ``jsonl:PATH`` / ``PATH`` (sniffing SQLite files by their header)."""
    spec = os.fspath(path_or_spec)
    if spec.startswith("sqlite:"):
        return "sqlite", spec[len("sqlite:"):]
    if spec.startswith("jsonl:"):
        return "jsonl", spec[len("jsonl:"):]
    try:
        with open(spec, "rb") as fh:
            if fh.read(len(_SQLITE_MAGIC)) == _SQLITE_MAGIC:
                return "sqlite", spec
    except OSError:
        pass
    return "jsonl", spec


def _describe_seq(seq: Any, expected: int) -> str:
    if isinstance(seq, int) and seq > expected:
        return (
            f"seq {seq} where {expected} was expected: "
            "a record is missing (removed) or the records were reordered"
        )
    return (
        f"seq {seq} where {expected} was expected: "
        "the records were reordered or a record was duplicated"
    )


def _judge(obj: Any, line: bytes, expected: int, prev: str, where: str) -> str | None:
    """Why a record parsed from ``line`` does not continue the chain at (expected, prev)."""
    problem = check_record(obj, line)
    if problem is not None:
        return problem
    if obj["seq"] != expected:
        return _describe_seq(obj["seq"], expected)
    if obj["prev"] != prev:
        return (
            f"prev does not match the hash of the {where} before it: "
            "that record was edited or replaced, or records were removed or reordered"
        )
    return None


def _verify_jsonl(path: str, anchor: str | None = None,
                  found: list[str] | None = None, start: _Start | None = None) -> VerifyResult:
    with reading_log(path, "; verify an uncompressed copy") as fh:
        result = _walk_lines(fh, path, anchor, found if found is not None else [], start)
        if not result.ok:  # a damaged archive, not an edit, when its checksum fails
            read_to_end(fh)
        return result


def _walk_lines(
    fh: IO[bytes], path: str, anchor: str | None = None, found: list[str] | None = None,
    start: _Start | None = None,
) -> VerifyResult:
    """The chain check of a JSON Lines log, over its lines (plain or decompressed); the
    hash of a verified record starting with ``anchor`` is appended to ``found``.

    ``start`` is where the files before this segment left the chain; without it the
    file must begin the chain (seq 0), or continue one (an ``audit.continued`` record)."""
    expected, prev, chain_start, previous, follows = start or (0, GENESIS, 0, "", None)

    def bad(reason: str, number: int, *, torn: bool = False) -> VerifyResult:
        return VerifyResult(False, expected - chain_start, number, reason, prev, torn, path,
                            "jsonl", None, chain_start, follows)

    number = 0
    for number, line in enumerate(read_lines(fh), start=1):
        if isinstance(line, LongLine):
            return bad(_long_line(line), number, torn=not line.ended)
        if not line.endswith(b"\n"):
            if line.startswith(b"\x00"):
                return bad(_zeros(len(line), _nul_prefix(line), ended=False), number, torn=True)
            return bad(
                f"torn last line ({len(line)} bytes without a newline): "
                "the log was cut in the middle of a line, e.g. by a crash during a write",
                number, torn=True,
            )
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError:
            if line.startswith(b"\x00"):
                return bad(_zeros(len(line) - 1, _nul_prefix(line), ended=True), number)
            return bad("not valid JSON" if line.strip() else "empty line", number)
        if number == 1 and continues(obj):
            if start is None:  # the oldest file given continues a segment not given
                expected = chain_start = obj["seq"]
                prev = str(obj.get("prev"))  # the head it continues, hashed into this record:
                if anchor is not None and found is not None and prev.startswith(anchor):
                    found.append(prev)  # an anchor taken before the rotation is in it
                values = obj.get("values")
                follows = str(values.get("segment")) if isinstance(values, dict) else "?"
            elif obj["seq"] != expected:
                return bad(_segment_gap(obj["seq"], expected, previous), number)
        elif number == 1 and start is not None and obj.get("seq") == 0:
            return bad(f"it starts a chain at seq 0, after {previous}: the oldest segment "
                       "given twice (e.g. compressed and not), or a log of its own (logs of "
                       "their own, one per worker, are read with --each)", number)
        elif number == 1 and start is not None and type(obj.get("seq")) is int \
                and obj["seq"] < expected:
            return bad(_segment_gap(obj["seq"], expected, previous), number)
        elif number == 1 and start is not None:
            return bad(f"it does not continue {previous}: its first record is not an "
                       "audit.continued record (a file of another log? Logs of their own, one "
                       "per worker, are read with --each)", number)
        problem = _judge(obj, line, expected, prev, "line")
        if problem is not None:
            if number == 1 and start is not None and obj.get("prev") != prev:
                problem = (f"its first record does not continue {previous}: prev is not the "
                           "hash of that file's last record (a segment was edited or replaced)")
            return bad(problem, number)
        expected += 1
        prev = obj["hash"]
        if anchor is not None and found is not None and not found and prev.startswith(anchor):
            found.append(prev)
    if number == 0 and start is not None:
        return bad(f"it is empty, but it was given as a segment after {previous}", 1)
    return VerifyResult(True, expected - chain_start, None, None, prev, False, path, "jsonl",
                        None, chain_start, follows)


def _nul_prefix(line: bytes) -> int:
    """How many NUL bytes ``line`` starts with."""
    return len(line) - len(line.lstrip(b"\x00"))


def _zeros(size: int, nuls: int, *, ended: bool) -> str:
    """Why a line of ``size`` bytes (newline not counted) starting with ``nuls`` NUL bytes
    is no record: the file got its length but not its data, as a power loss with fsync off
    leaves it (not an edit: nobody tampers by writing zeros)."""
    what = f"{nuls} bytes of NUL bytes (zeros) where a record should be"
    if nuls < size:
        what += f", then {size - nuls} other bytes"
    reason = f"{what}: a crash or power loss before the data reached the disk"
    if not ended:
        reason += " (a torn last line: no newline ends it)"
    return reason


def _size(limit: int) -> str:
    """``limit`` bytes in the unit people say: 16 MiB, 64 KiB, 100 bytes."""
    for unit, scale in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if limit >= scale and limit % scale == 0:
            return f"{limit // scale} {unit}"
    return f"{limit} bytes"


def _long_line(line: LongLine) -> str:
    """Why a line over the reading bound is no record (it was measured, not loaded)."""
    if line.nul_prefix:
        return _zeros(line.size, line.nul_prefix, ended=line.ended)
    where = "" if line.ended else ", the last line, without a newline"
    return (f"line over {_size(line.limit)}: not a record the sink writes "
            f"({line.size} bytes{where})")


def _segment_gap(seq: int, expected: int, previous: str) -> str:
    """Why a segment does not start where the files before it left the chain."""
    if seq > expected:
        return (f"it starts at seq {seq} but {previous} ends at seq {expected - 1}: records "
                f"{expected} to {seq - 1} are missing (a segment was not given, or was removed)")
    return (f"it starts at seq {seq}, inside {previous}, which ends at seq {expected - 1}: "
            "the files overlap (the same segment given twice, e.g. compressed and not?)")


def _verify_segments(paths: Sequence[str], anchor: str | None,
                     found: list[str]) -> VerifyResult:
    """The chain across the files of a rotated log, in chain order, to the first break."""
    for path in paths:
        if not os.path.exists(path):
            raise AuditError(f"audit log {path} does not exist")
        if os.path.isdir(path):
            raise AuditError(f"audit log {path} is a directory, not a log file")
    ordered = in_chain_order(paths)
    start: _Start | None = None
    result = VerifyResult(False, 0)
    for path in ordered:
        result = _verify_jsonl(path, anchor, found, start)
        if not result.ok:
            break
        start = _Start(result.first_seq + result.records, result.head, result.first_seq,
                       path, result.follows)
    return replace(result, segments=tuple(ordered))


def _rows(path: str) -> Iterator[tuple[Any, ...]]:
    conn = connect_readonly(path)
    try:
        yield from conn.execute(
            f"SELECT seq, prev, hash, record, {', '.join(INDEXED)} FROM {TABLE} ORDER BY seq"
        )
    finally:
        conn.close()


def _verify_sqlite(path: str, anchor: str | None = None,
                   found: list[str] | None = None) -> VerifyResult:
    expected, prev = 0, GENESIS

    def bad(reason: str) -> VerifyResult:
        return VerifyResult(False, expected, expected + 1, reason, prev, False, path, "sqlite")

    for seq, row_prev, row_hash, record, *indexed in _rows(path):
        if seq != expected:
            return bad(_describe_seq(seq, expected))
        text = str(record)
        if digest(text.encode()) != row_hash:
            return bad("hash mismatch: the record was edited after it was written")
        try:
            obj = orjson.loads(text)
        except orjson.JSONDecodeError:
            return bad("not valid JSON")
        obj["hash"] = row_hash
        line = text.encode()[:-1] + b',"hash":"' + str(row_hash).encode() + b'"}'
        problem = _judge(obj, line, expected, prev, "row")
        if problem is not None:
            return bad(problem)
        if obj["seq"] != seq or row_prev != obj["prev"]:
            return bad("the seq or prev column disagrees with the record")
        for name, value in zip(INDEXED, indexed, strict=True):
            if column(obj.get(name)) != value:
                return bad(f"the {name} column disagrees with the record (edited index column)")
        expected += 1
        prev = row_hash
        if anchor is not None and found is not None and not found and prev.startswith(anchor):
            found.append(prev)
    return VerifyResult(True, expected, None, None, prev, False, path, "sqlite")


def _anchor(expect_head: str) -> str:
    """``expect_head`` as a lowercase hex prefix of 16 to 64 digits, or a usage error."""
    text = expect_head.strip().lower()
    if not _ANCHOR.fullmatch(text):
        raise UsageError(
            f"expected head {expect_head!r}: give the hash verify printed (64 hex digits; "
            "a prefix of at least 16 is accepted)"
        )
    return text


def jsonl_files(log: LogSpec) -> list[str] | None:
    """The files of ``log`` when it is several (a rotated JSON Lines log), else None;
    AuditError when one of several is a SQLite database (a database is not rotated)."""
    if isinstance(log, (str, os.PathLike)):
        return None
    specs = [os.fspath(p) for p in log]
    if not specs:
        raise AuditError("no audit log given")
    if len(specs) == 1:
        return None
    paths = []
    for spec in specs:
        kind, path = parse_spec(spec)
        if kind != "jsonl":
            raise AuditError(f"{path} is a SQLite audit database: several files make one log "
                             "only as the segments of a rotated JSON Lines log")
        paths.append(path)
    return paths


def verify(log: LogSpec, *, expect_head: str | None = None) -> VerifyResult:
    """Check the whole chain of a JSON Lines or SQLite log; AuditError if it cannot be read.

    ``log`` may be the files of a rotated JSON Lines log, in any order: the chain is
    checked across them, oldest first. ``expect_head`` is a head stored elsewhere earlier
    (an anchor): the log must hold a verified record with that hash (or hash prefix),
    else it is not ok: it was rewritten (every hash recomputed) or cut before that
    record, which the chain alone cannot show.
    """
    anchor = None if expect_head is None else _anchor(expect_head)
    found: list[str] = []
    several = jsonl_files(log)
    if several is not None:
        result = _verify_segments(several, anchor, found)
    else:
        one = log if isinstance(log, (str, os.PathLike)) else next(iter(log))
        kind, path = parse_spec(one)
        if not os.path.exists(path):
            raise AuditError(f"audit log {path} does not exist")
        if os.path.isdir(path):
            raise AuditError(f"audit log {path} is a directory, not a log file")
        result = (_verify_jsonl(path, anchor, found) if kind == "jsonl"
                  else _verify_sqlite(path, anchor, found))
    if anchor is None:
        return result
    if found or not result.ok:
        return replace(result, anchored=bool(found))
    return replace(
        result, ok=False, anchored=False,
        reason=f"no record has the expected head {anchor}: the log was rewritten or "
               "truncated before that point (its chain verifies, but not the record "
               "anchored elsewhere)",
    )


__all__ = ["LogSpec", "VerifyResult", "jsonl_files", "parse_spec", "verify"]
