"""Run a batch check in one process or across worker processes, output identical either way.

Workers each read their own share of plain JSON Lines files (byte ranges
aligned to line starts) instead of receiving pickled records from the parent,
which DESIGN.md measured as slower than one process. Inputs that cannot be
split by bytes (CSV with multi-line cells, JSON, YAML, gzip, standard input)
are read by the parent and sent in batches, a bounded number in flight. Each
worker returns its verdicts already encoded as JSON Lines plus the deal ids
in order; the parent writes blocks in input order and flags duplicate ids.
"""

from __future__ import annotations

import dataclasses
import multiprocessing as mp
import os
import signal
import sys
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from cycleflow.batch.readers import (
    MAX_RECORD_BYTES,
    DuplicateTracker,
    RecordItem,
    byte_splittable,
    is_blank_line,
    iter_records,
    may_nest_deep,
    parse_jsonl_line,
)
from cycleflow.batch.runner import duplicate_warning, judge, judge_record, run_check
from cycleflow.batch.typing import FieldTypes, field_types_from_schema
from cycleflow.decide.engine import Engine
from cycleflow.report._common import dumps as encode
from cycleflow.report.summary import Summary

CHUNK_BYTES = 4 * 1024 * 1024
BATCH_RECORDS = 2000  # records per batch sent to a worker when the parent reads the input
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
    max_record_bytes: int = MAX_RECORD_BYTES
    #: the secret salt of the engine's masking (workers that load the policy use it too)
    mask_salt: bytes | None = dataclasses.field(default=None, repr=False)  # a secret
    #: the process that starts the workers; they die with it (see _die_with_parent)
    parent_pid: int | None = dataclasses.field(default_factory=os.getpid)


def field_types(engine: Engine) -> FieldTypes | None:
    """Field types from the policy's deal schema, for typing CSV cells (nested ones too:
    a column ``customer.country`` is typed by the schema's type of that field)."""
    schema = engine.policy.deal_schema
    return None if schema is None else field_types_from_schema(schema)


def verdict_stream(
    engine: Engine, sources: Sequence[str], options: BatchOptions
) -> Generator[dict[str, Any], None, None]:
    """Every record's verdict dict, in input order."""
    if options.dask_address:
        from cycleflow.batch.dask_runner import check_on_dask

        yield from check_on_dask(options.dask_address, sources, options)
        return
    if options.jobs <= 1:
        yield from run_check(
            engine,
            _items(engine, sources, options),
            now=options.now,
            trigger=options.trigger,
            actor=options.actor,
        )
        return
    blocks = verdict_blocks(engine, sources, options, Summary())
    try:
        for block in blocks:
            for line in block.splitlines():
                yield orjson.loads(line)
    finally:
        blocks.close()  # closing this stream stops the workers now, not when collected


def verdict_blocks(
    engine: Engine, sources: Sequence[str], options: BatchOptions, summary: Summary
) -> Generator[bytes, None, None]:
    """Blocks of encoded verdict lines from ``options.jobs`` worker processes, in input order.

    Plain JSON Lines files are split into byte ranges each worker reads itself; any other
    input (CSV, JSON, YAML, gzip, standard input) is read here and sent to the workers
    in batches, at most two per worker in flight, so memory stays flat.
    """
    chunks = plan_chunks(sources)
    if chunks:
        yield from parallel_blocks(chunks, options, summary, engine)
    else:
        yield from parallel_records(_items(engine, sources, options), options, summary, engine)


def _items(engine: Engine, sources: Sequence[str], options: BatchOptions) -> Iterator[RecordItem]:
    return iter_records(
        list(sources), field_types=field_types(engine), max_record_bytes=options.max_record_bytes
    )


# What a worker returns for a share of the input: its verdict lines as one block, the
# deal id and position of each line, the source they all come from, and its counts.
_Share = tuple[bytes, list[str | None], list[int], str, Summary]


def _pool(options: BatchOptions, engine: Engine | None) -> ProcessPoolExecutor:
    """Worker processes, forked where the platform can: then each inherits ``engine``
    (compiled here already) instead of loading and compiling the policy again."""
    forking = "fork" in mp.get_all_start_methods()
    ctx = mp.get_context("fork") if forking else None
    inherit = engine if forking and engine is not None and engine.audit is None else None
    return ProcessPoolExecutor(
        max_workers=options.jobs,
        mp_context=ctx,
        initializer=_init_worker,
        initargs=(options, inherit),
    )


def _merge(share: _Share, seen: DuplicateTracker, summary: Summary) -> bytes:
    """A worker's block, with duplicate ids flagged; its counts go into ``summary``."""
    block, ids, positions, source, counted = share
    summary.merge(counted)
    duplicates = seen.see_all(ids, source, positions)
    return _flag_duplicates(block, ids, duplicates, summary) if duplicates else block


def parallel_blocks(
    chunks: list[Chunk], options: BatchOptions, summary: Summary, engine: Engine | None = None
) -> Iterator[bytes]:
    """Blocks of encoded verdict lines (each ending in a newline), in input order.

    Workers count their own verdicts; ``summary`` receives the merged counts. The
    parent only checks each block's deal ids for duplicates and, in the rare block that
    has one, decodes and re-encodes just the lines it must flag. ``engine``, when given,
    must be the policy of ``options`` compiled with its ``lang``: forked workers reuse it.
    """
    return _in_order(_run_chunk, chunks, options, summary, engine)


def parallel_records(
    items: Iterable[RecordItem],
    options: BatchOptions,
    summary: Summary,
    engine: Engine | None = None,
) -> Iterator[bytes]:
    """Like :func:`parallel_blocks`, for records read here: batches go to the workers."""
    return _in_order(_run_rows, _batches(items), options, summary, engine)


def _in_order(
    work: Callable[[Any], _Share],
    tasks: Iterable[Any],
    options: BatchOptions,
    summary: Summary,
    engine: Engine | None = None,
) -> Iterator[bytes]:
    """Each task's block, in task order, with at most two tasks per worker in flight.

    The bound keeps memory flat when the reader of the blocks is slower than the
    workers (a slow disk, a pipe): finished blocks never pile up.
    """
    seen = DuplicateTracker()
    window = 2 * options.jobs
    pool = _pool(options, engine)
    pending: deque[Future[_Share]] = deque()
    try:
        for task in tasks:
            pending.append(pool.submit(work, task))
            if len(pending) >= window:
                yield _merge(pending.popleft().result(), seen, summary)
        while pending:
            yield _merge(pending.popleft().result(), seen, summary)
    except BaseException:  # Ctrl-C, a closed pipe, a failed batch: stop the workers now
        _abandon(pool, pending)
        raise
    pool.shutdown(wait=True)


def _abandon(pool: ProcessPoolExecutor, pending: Iterable[Future[_Share]]) -> None:
    """Cancel what has not started and end the worker processes, without waiting for the
    batches they are in (waiting on them after Ctrl-C could hang the whole run)."""
    for future in pending:
        future.cancel()
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(timeout=5)


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
        lines[i] = encode(v)
    return b"\n".join(lines) + b"\n"


def _batches(items: Iterable[RecordItem]) -> Iterator[list[tuple[Any, ...]]]:
    """Items as plain rows, in batches of one source each (duplicates are tracked per source)."""
    batch: list[tuple[Any, ...]] = []
    for item in items:
        if batch and (item.source != batch[0][0] or len(batch) >= BATCH_RECORDS):
            yield batch
            batch = []
        batch.append((item.source, item.position, item.record, item.error, item.deal))
    if batch:
        yield batch


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
        # gzip, UTF-16/32, a lone CR: the reader decompresses, decodes, ends lines at CR;
        # byte ranges cut at LF can't
        if not byte_splittable(src):
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


# Per worker process only: set once by the pool initializer, read by _run_chunk/_run_rows.
_WORKER: dict[str, Any] = {}


def _init_worker(options: BatchOptions, engine: Engine | None = None) -> None:
    """Per-process setup: the engine inherited from the parent, or the policy compiled once.

    Workers ignore Ctrl-C: the terminal sends it to the whole process group, and the
    parent, which owns the run, stops them itself (no worker tracebacks, no hang).
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for name in ("SIGTERM", "SIGHUP"):  # a forked worker inherits the CLI's handlers
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_DFL)
    _die_with_parent(options.parent_pid)
    if engine is None or engine.lang != options.lang:
        from cycleflow.api import load_policy

        engine = Engine(load_policy(options.policy_path), lang=options.lang,
                        mask_salt=options.mask_salt)
    _WORKER["engine"] = engine
    _WORKER["options"] = options


def _die_with_parent(parent: int | None) -> None:
    """Linux: the kernel kills this worker when the process that started it dies, however
    it dies (SIGKILL, SIGTERM, a crash). Orphaned workers otherwise blocked for ever on a
    result pipe nobody reads, holding the run's stdout open, so whoever waited for its
    end (a CI step, a wrapper reading the pipe) hung."""
    if not sys.platform.startswith("linux") or parent is None:
        return
    try:
        import ctypes
        import ctypes.util

        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # pragma: no cover - no libc: the parent stops them
        return
    if os.getppid() != parent:  # the parent died before the request was made
        os._exit(1)


_PR_SET_PDEATHSIG = 1


def _run_rows(rows: list[tuple[Any, ...]]) -> _Share:
    """One worker's batch of records read by the parent."""
    return _judge_all((RecordItem(*row) for row in rows), rows[0][0])


def _run_chunk(chunk: Chunk) -> _Share:
    """One worker's byte range of a JSON Lines file, read here.

    The hot loop of a large batch: a line that parses to an object of ordinary size and
    nesting goes straight to the engine; anything else (blank, over the cap, a BOM, bad
    JSON, not an object, deep nesting, a --trigger run) takes :func:`parse_jsonl_line`
    and :func:`judge`, so every verdict is what the one-process path gives.
    """
    with open(chunk.path, "rb") as fh:
        fh.seek(chunk.start)
        data = fh.read(chunk.end - chunk.start)
    engine: Engine = _WORKER["engine"]
    options: BatchOptions = _WORKER["options"]
    limit, now, source = options.max_record_bytes, options.now, chunk.path
    if options.trigger is not None:
        items = (
            parse_jsonl_line(raw, source, chunk.first_line + n, limit)
            for n, raw in enumerate(data.split(b"\n"))
            if not is_blank_line(raw, chunk.first_line + n)
        )
        return _judge_all(items, source)
    out = bytearray()  # one growing buffer: a list of 7,000 small lines cost ~2 µs a record
    ids: list[str | None] = []
    positions: list[int] = []
    summary = Summary()
    loads, decode_error, deep = orjson.loads, orjson.JSONDecodeError, may_nest_deep
    position = chunk.first_line - 1
    for raw in data.split(b"\n"):
        position += 1
        if not raw or raw.isspace() or (position == 1 and is_blank_line(raw, 1)):
            continue
        try:
            value: Any = loads(raw) if len(raw) <= limit else None
        except decode_error:
            value = None
        if type(value) is dict and not deep(raw):
            v = judge_record(engine, value, position, source, now)
        else:
            v = judge(engine, parse_jsonl_line(raw, source, position, limit), now=now)
        summary.add(v)
        out += encode(v)
        out += b"\n"
        ids.append(v["deal"])
        positions.append(position)
    return bytes(out), ids, positions, source, summary


def _judge_all(items: Iterable[RecordItem], source: str) -> _Share:
    """Judge items of one source: their verdict lines as one block, ids, positions, counts."""
    engine: Engine = _WORKER["engine"]
    options: BatchOptions = _WORKER["options"]
    out = bytearray()
    ids: list[str | None] = []
    positions: list[int] = []
    summary = Summary()
    for item in items:
        v = judge(engine, item, now=options.now, trigger=options.trigger, actor=options.actor)
        summary.add(v)
        out += encode(v)
        out += b"\n"
        ids.append(v["deal"])
        positions.append(item.position)
    return bytes(out), ids, positions, source, summary
