"""Rotated JSON Lines logs: one hash chain kept in several files (segments).

``JsonlSink.rotate`` renames the log to a segment named after its first record's seq
(``audit.jsonl`` → ``audit.000000000000.jsonl``) and continues the chain in a fresh
file at the log's path, whose first record is an ``audit.continued`` event: its ``seq``
and ``prev`` carry on from the segment's last record. Readers take the files of one
log in any order (a shell glob, compressed or not) and put them in chain order here.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, Final

import orjson

from cycleflow.audit.logfile import read_lines, reading_log

#: The event that opens a segment continuing a chain (never the first record of a log).
CONTINUED: Final = "audit.continued"

#: The suffix of the file a rotation writes before it takes the log's name.
NEXT_SUFFIX: Final = ".next"


def segment_path(path: str, first_seq: int) -> str:
    """The name a rotation gives the log at ``path`` whose first record has ``first_seq``:
    the seq zero-padded before the extension, so names sort in chain order and keep it."""
    head, name = os.path.split(path)
    stem, dot, ext = name.rpartition(".")
    if not stem:  # no extension (or a dot file): append the seq
        return os.path.join(head, f"{name}.{first_seq:012d}")
    return os.path.join(head, f"{stem}.{first_seq:012d}{dot}{ext}")


def first_record(path: str) -> dict[str, Any] | None:
    """The first record of a JSON Lines log (plain or gzip, xz, bzip2), or None when it has
    none that parses (a first line over the reading bound is not loaded); AuditError when
    the file cannot be read."""
    with reading_log(path) as fh:
        line = next(read_lines(fh), b"")
    if not isinstance(line, bytes):
        return None
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    return obj if isinstance(obj, dict) else None


def continues(record: Any) -> bool:
    """Whether ``record`` opens a segment that continues a chain (an ``audit.continued``
    record after seq 0), so a reader may start the chain at its seq and prev."""
    return (
        isinstance(record, dict)
        and record.get("event") == CONTINUED
        and type(record.get("seq")) is int
        and record["seq"] > 0
    )


def in_chain_order(paths: Sequence[str]) -> list[str]:
    """The files of one log, oldest segment first: sorted by their first record's seq, so
    a glob's order (or ``.gz`` names) does not matter. A file whose first line does not
    parse keeps its place after the others, where the chain check names it."""
    keyed = []
    for index, path in enumerate(paths):
        first = first_record(path)
        seq = first.get("seq") if first is not None else None
        keyed.append(((0, seq, index) if type(seq) is int else (1, 0, index), path))
    return [path for _, path in sorted(keyed)]


__all__ = ["CONTINUED", "NEXT_SUFFIX", "continues", "first_record", "in_chain_order",
           "segment_path"]
