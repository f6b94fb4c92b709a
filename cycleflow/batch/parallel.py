"""Run a batch check in one process or across worker processes, output identical either way.

Workers each read their own share of the input (byte ranges of JSON Lines
files, aligned to line starts) instead of receiving pickled records from the
parent, which DESIGN.md measured as slower than one process. Each worker
returns its verdicts already encoded as JSON Lines plus the deal ids in
order; the parent writes chunks in input order and flags duplicate ids.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from cycleflow.batch.readers import (
    DuplicateTracker,
    iter_records,
    parse_jsonl_line,
)
from cycleflow.batch.runner import duplicate_warning, judge, run_check
from cycleflow.decide.engine import Engine
from cycleflow.report.summary import Summary

CHUNK_BYTES = 4 * 1024 * 1024
JSONL_SUFFIXES = (".jsonl", ".ndjson")


@dataclass(frozen=True)
class BatchOptions:
    """How to run a batch: the policy (workers load it themselves), time, trigger, workers."""

    policy_path: str
    now: datetime
    trigger: str | None = None
    actor: Mapping[str, Any] | None = None
    lang: str = "en"
    jobs: int = 1
    dask_address: str | None = None
    max_record_bytes: int = 1_000_000


def field_types(engine: Engine) -> dict[str, frozenset[str]] | None:
    """Top-level field types from the policy's deal schema, for typing CSV cells."""
    known = engine.policy.known_fields
    if known is None:
        return None
    return {k: v for k, v in known.items() if "." not in k}


def verdict_stream(
    engine: Engine, sources: Sequence[str], options: BatchOptions
) -> Iterator[dict[str, Any]]:
    """Every record's verdict dict, in input order."""
    if options.dask_address:
        from cycleflow.batch.dask_runner import check_on_dask

        yield from check_on_dask(options.dask_address, sources, options)
        return
    chunks = plan_chunks(sources) if options.jobs > 1 else None
    if not chunks:
        items = iter_records(
            list(sources),
            field_types=field_types(engine),
            max_record_bytes=options.max_record_bytes,
        )
        yield from run_check(
            engine, items, now=options.now, trigger=options.trigger, actor=options.actor
        )
        return
    for line in parallel_jsonl(chunks, options, Summary()):
        yield orjson.loads(line)


def parallel_jsonl(chunks: list[Chunk], options: BatchOptions, summary: Summary) -> Iterator[bytes]:
    """Encoded verdict lines (no line ending) from worker processes, in input order."""
    for block in parallel_blocks(chunks, options, summary):
        yield from block.splitlines()


def parallel_blocks(
    chunks: list[Chunk], options: BatchOptions, summary: Summary
) -> Iterator[bytes]:
    """Blocks of encoded verdict lines (each ending in a newline), in input order.

    Workers count their own verdicts; ``summary`` receives the merged counts. The
    parent only checks each block's deal ids for duplicates and, in the rare block that
    has one, decodes and re-encodes just the lines it must flag.
    """
    seen = DuplicateTracker()
    ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else None
    with ProcessPoolExecutor(
        max_workers=options.jobs, mp_context=ctx, initializer=_init_worker, initargs=(options,)
    ) as pool:
        for block, ids, positions, source, counted in pool.map(_run_chunk, chunks):
            summary.merge(counted)
            duplicates = seen.see_all(ids, source, positions)
            if duplicates:
                block = _flag_duplicates(block, ids, duplicates, summary)
            yield block


def _flag_duplicates(
    block: bytes, ids: list[str | None], duplicates: list[tuple[int, str]], summary: Summary
) -> bytes:
    """The block with the duplicate-id warning added to the lines that reuse an id."""
    lines = block.splitlines()
    for i, message in duplicates:
        deal = ids[i]
        assert deal is not None
        v = orjson.loads(lines[i])
        if not v["warnings"]:
            summary.with_warnings += 1
        v["warnings"].append(duplicate_warning(deal, message))
        summary.warnings += 1
        summary.warning_rules["duplicate_id"] += 1
        lines[i] = orjson.dumps(v)
    return b"\n".join(lines) + b"\n"


@dataclass(frozen=True, slots=True)
class Chunk:
    """A byte range of one file, starting at a line start, and the line number it starts on."""

    path: str
    start: int
    end: int
    first_line: int
    whole_file: bool = False


def plan_chunks(sources: Sequence[str]) -> list[Chunk] | None:
    """Split plain JSON Lines files into line-aligned byte ranges; None if any source can't be."""
    files: list[str] = []
    for src in sources:
        if src == "-" or not os.path.isfile(src) or not src.endswith(JSONL_SUFFIXES):
            return None
        files.append(src)
    chunks: list[Chunk] = []
    for path in files:
        size = os.path.getsize(path)
        with open(path, "rb") as fh:
            start, line = 0, 1
            while start < size:
                fh.seek(min(start + CHUNK_BYTES, size))
                fh.readline()
                end = min(fh.tell(), size)
                chunks.append(Chunk(path, start, end, line))
                fh.seek(start)
                line += fh.read(end - start).count(b"\n")
                start = end
    return chunks


# Per worker process only: set once by the pool initializer, read by _run_chunk.
_WORKER: dict[str, Any] = {}


def _init_worker(options: BatchOptions) -> None:
    """Per-process setup: each worker loads and compiles the policy once."""
    from cycleflow.api import load_policy

    _WORKER["engine"] = Engine(load_policy(options.policy_path), lang=options.lang)
    _WORKER["options"] = options


def _run_chunk(chunk: Chunk) -> tuple[bytes, list[str | None], list[int], str, Summary]:
    """One worker's share: its verdict lines as one block, their deal ids and positions."""
    engine: Engine = _WORKER["engine"]
    options: BatchOptions = _WORKER["options"]
    with open(chunk.path, "rb") as fh:
        fh.seek(chunk.start)
        data = fh.read(chunk.end - chunk.start)
    out = bytearray()  # one growing buffer: a list of 7,000 small lines cost ~2 µs a record
    ids: list[str | None] = []
    positions: list[int] = []
    summary = Summary()
    path, now, limit = chunk.path, options.now, options.max_record_bytes
    fast = options.trigger is None
    loads, dumps, check = orjson.loads, orjson.dumps, engine.check_record
    for n, raw in enumerate(data.split(b"\n")):
        if not raw.strip():
            continue
        position = chunk.first_line + n
        v: dict[str, Any] | None = None
        if fast and position != 1 and len(raw) <= limit:  # the common case, inline
            try:
                record = loads(raw)
                v = check(record, now, position, path) if type(record) is dict else None
            except Exception:  # anything unusual is judged again on the general path
                v = None
        if v is None:
            item = parse_jsonl_line(raw, path, position, limit)
            v = judge(engine, item, now=now, trigger=options.trigger, actor=options.actor)
        summary.add(v)
        out += dumps(v)
        out += b"\n"
        ids.append(v["deal"])
        positions.append(position)
    return bytes(out), ids, positions, chunk.path, summary
