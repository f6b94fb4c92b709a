"""audit stage of the cycleflow data flow: decision events → processors → hash-chained sinks.

The engine builds one decision's events and calls ``sink.emit(events)`` once,
before returning the decision. Sinks: :class:`JsonlSink` (JSON Lines file),
:class:`SqliteSink`, :class:`StructlogSink` (any structlog chain) and
:class:`MemorySink` / :func:`capture_audit` for tests. :func:`verify` checks a
log's chain, :func:`history` reads one deal back. Nothing here is global: each
sink owns its file, lock and processors. See ``docs/audit.md``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from cycleflow.audit.base import (
    CHAIN_FIELDS,
    EVENT_FIELDS,
    EVENT_NAMES,
    GENESIS,
    STAMPED_FIELDS,
    AuditError,
    AuditSink,
    Processor,
)
from cycleflow.audit.chain import canonical, digest
from cycleflow.audit.history import history, history_json, history_table
from cycleflow.audit.jsonl import JsonlSink
from cycleflow.audit.masking import Masker, mask_event, mask_value, mask_values
from cycleflow.audit.memory import MemorySink, StructlogSink, capture_audit
from cycleflow.audit.processors import add_fields, drop_none, keep_events, mask_sensitive
from cycleflow.audit.sqlite import SqliteSink
from cycleflow.audit.verify import LogSpec, VerifyResult, parse_spec, verify


def open_sink(
    spec: str | os.PathLike[str],
    *,
    fsync: bool = False,
    processors: Sequence[Processor] = (),
    rotate_bytes: int | None = None,
) -> JsonlSink | SqliteSink:
    """The sink a ``--audit`` value names: ``sqlite:PATH`` → SqliteSink, else JsonlSink.

    ``jsonl:PATH`` names a JSON Lines log; a plain ``PATH`` too, unless it is an existing
    SQLite audit database (sniffed by its header, as ``verify`` and ``show`` do).
    ``rotate_bytes`` rotates a JSON Lines log at that size (a database is not rotated).
    """
    text = os.fspath(spec)
    kind, rest = parse_spec(text)
    if not rest:
        raise AuditError(f"audit log {text!r} names no file: write PATH or sqlite:PATH")
    if kind == "sqlite":
        if rotate_bytes is not None:
            raise AuditError(f"audit log {text}: a SQLite log is not rotated (one database "
                             "holds the chain); rotation is for JSON Lines logs")
        return SqliteSink(rest, fsync=fsync, processors=processors)
    return JsonlSink(rest, fsync=fsync, processors=processors, rotate_bytes=rotate_bytes)


__all__ = [
    "CHAIN_FIELDS", "EVENT_FIELDS", "EVENT_NAMES", "GENESIS", "STAMPED_FIELDS", "AuditError",
    "AuditSink", "JsonlSink", "LogSpec", "Masker", "MemorySink", "Processor", "SqliteSink",
    "StructlogSink", "VerifyResult",
    "add_fields", "canonical", "capture_audit", "digest", "drop_none", "history",
    "history_json", "history_table", "keep_events", "mask_event", "mask_sensitive",
    "mask_value", "mask_values", "open_sink", "verify",
]
