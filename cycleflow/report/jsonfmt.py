"""JSON Lines and JSON reports: verdicts as DESIGN.md shapes them, streamed in input order."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, BinaryIO

import orjson

from cycleflow.report._common import dumps as _dumps
from cycleflow.report.summary import Summary

__all__ = ["write_json", "write_jsonl"]

_OPTS = orjson.OPT_NON_STR_KEYS
_BATCH = 512


def write_jsonl(verdicts: Iterable[Mapping[str, Any]], out: BinaryIO) -> int:
    """One JSON object per line, per verdict, in order; returns how many were written."""
    n = 0
    buf: list[bytes] = []
    dumps = orjson.dumps
    for v in verdicts:
        try:
            line = dumps(v, option=_OPTS)
        except TypeError:
            line = _dumps(v)
        buf.append(line)
        n += 1
        if len(buf) >= _BATCH:
            out.write(b"\n".join(buf) + b"\n")
            buf.clear()
    if buf:
        out.write(b"\n".join(buf) + b"\n")
    return n


def _summary_dict(summary: Summary | Mapping[str, Any]) -> Mapping[str, Any]:
    return summary.to_dict() if isinstance(summary, Summary) else summary


def write_json(
    verdicts: Iterable[Mapping[str, Any]],
    out: BinaryIO,
    policy: Mapping[str, Any],
    summary: Summary | Mapping[str, Any] | None = None,
) -> Summary:
    """One document ``{"policy", "summary", "verdicts": [...]}``, written as it streams.

    With ``summary`` given it is written first; without, the summary is counted
    on the way and written after the verdicts (``{"policy", "verdicts",
    "summary"}``: same keys, so readers see the same document). Returns the
    counted summary either way.
    """
    counted = Summary()
    out.write(b'{"policy":' + _dumps(dict(policy)))
    if summary is not None:
        out.write(b',\n"summary":' + _dumps(_summary_dict(summary)))
    out.write(b',\n"verdicts":[')
    first = True
    add = counted.add
    for v in verdicts:
        add(v)
        out.write((b"\n" if first else b",\n") + _dumps(v))
        first = False
    out.write(b"]" if first else b"\n]")
    if summary is None:
        out.write(b',\n"summary":' + _dumps(counted.to_dict()))
    out.write(b"}\n")
    return counted
