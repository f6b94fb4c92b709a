"""Run a batch check on a Dask cluster, partition by partition, with the serial result.

Three entry points:

:func:`check_on_dask`
    what ``cycleflow check --dask ADDRESS`` runs. The client reads the inputs
    (so ``-`` and every format work), sends batches of records to the
    workers, and yields the verdicts in input order with duplicate deal ids
    flagged exactly as the serial runner flags them. Only a bounded number
    of batches is in flight, so the client's memory stays flat.
:func:`check_bag`
    a ``dask.bag.Bag`` of deal records in, a bag of verdict dicts out.
:func:`check_dataframe`
    a ``dask.dataframe.DataFrame`` of deals (one row per deal) in, a
    dataframe of verdict columns out, on the same index.

Every worker process loads and compiles the policy once and then reuses its
engine (:func:`worker_engine`, cached per process by the policy's digest).
The policy travels as a :class:`PolicyBundle`: the bytes of every file it
consists of (main file, includes, deal schema), read in the client. A worker
loads the policy from its original path when that path holds the same bytes
there (a shared filesystem); otherwise it writes the shipped bytes to a
private temporary folder and loads them from there, so workers need no shared
filesystem. Workers do need cycleflow itself installed, at the client's
version.

Dask and distributed are optional (``pip install "cycleflow[dask]"``); they
are imported only when one of these functions runs.
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import importlib
import logging
import math
import operator
import os
import pickle
import shutil
import tempfile
import uuid
import warnings
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence, Sized
from dataclasses import dataclass, field
from datetime import date, datetime, time
from itertools import islice
from typing import TYPE_CHECKING, Any, cast

from cycleflow.batch.readers import (
    MAX_RECORD_BYTES,
    DuplicateTracker,
    RecordItem,
    byte_splittable,
    is_blank_line,
    parse_jsonl_line,
)
from cycleflow.batch.runner import flag_duplicate, judge
from cycleflow.batch.typing import CellError, RowTyper
from cycleflow.errors import CycleflowError, UsageError

if TYPE_CHECKING:
    import dask.bag
    import dask.dataframe

    from cycleflow.batch.parallel import BatchOptions
    from cycleflow.decide.engine import Engine
    from cycleflow.model.policy import Policy

__all__ = [
    "BATCH_SIZE",
    "BLOCK_BYTES",
    "CONNECT_TIMEOUT",
    "FRAME_COLUMNS",
    "PolicyBundle",
    "check_bag",
    "check_dataframe",
    "check_on_dask",
    "policy_bundle",
    "worker_engine",
]

#: Records per task sent from the client to a worker by :func:`check_on_dask`.
BATCH_SIZE = 10_000
#: Bytes of a plain JSON Lines file per task (workers parse them).
BLOCK_BYTES = 4 * 1024 * 1024
#: Seconds to wait for a scheduler before ``--dask ADDRESS`` gives up.
CONNECT_TIMEOUT = 5.0
WORKERS_TIMEOUT = 60.0  # how long a scheduler with no workers may take to get one
#: The columns of :func:`check_dataframe`'s result, in order.
FRAME_COLUMNS = ("record", "deal", "stage", "verdict", "violations", "warnings",
                 "approvals_needed", "error")
#: How rule ids are joined in :func:`check_dataframe`'s text columns.
JOIN = ","
JSONL_SUFFIXES = (".jsonl", ".ndjson")

_INSTALL_HINT = 'Dask is not installed: pip install "cycleflow[dask]"'


def _dask(module: str) -> Any:
    """Import an optional Dask module, or raise UsageError naming the extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise UsageError(_INSTALL_HINT) from None


# --------------------------------------------------------------------------- the policy


@dataclass(frozen=True, eq=False)
class PolicyBundle:
    """Every file of one policy as bytes, so a worker can load it with or without shared disk.

    Two bundles are equal (and hash equal) when their digests are, which is
    what keys the per-process engine cache.
    """

    path: str
    """The main policy file's absolute path on the client."""
    main: str
    """The main file's path relative to the bundle's root folder."""
    files: tuple[tuple[str, bytes], ...]
    """``(path relative to the root, content)`` of the main file, includes and deal schema."""
    originals: tuple[str, ...]
    """The absolute client paths of ``files``, in the same order."""
    policy_sha256: str
    """The loaded policy's ``sha256`` on the client; a worker's load must agree."""
    sha256: str = field(default="")
    """The bundle's digest: ``policy_sha256``, the policy's combined hash over every
    file's relative name and bytes (``policy_bundle`` checks the bytes match it)."""

    def __post_init__(self) -> None:
        if not self.sha256:
            object.__setattr__(self, "sha256", self.policy_sha256)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PolicyBundle) and other.sha256 == self.sha256

    def __hash__(self) -> int:
        return hash(self.sha256)

    def __dask_tokenize__(self) -> str:
        """Dask names tasks by this digest instead of hashing the file contents."""
        return self.sha256

    def local_path(self) -> str:
        """A path to the main file on this machine: the original if it is intact, else a copy."""
        pairs = zip(self.originals, self.files, strict=True)
        if all(_same_bytes(orig, data) for orig, (_, data) in pairs):
            return self.path
        root = tempfile.mkdtemp(prefix=f"cycleflow-policy-{self.sha256[:12]}-")
        atexit.register(shutil.rmtree, root, True)
        for rel, data in self.files:
            target = os.path.join(root, rel)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "wb") as fh:
                fh.write(data)
        return os.path.join(root, self.main)


def _same_bytes(path: str, data: bytes) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(len(data) + 1) == data
    except OSError:
        return False


def policy_bundle(policy_path: str | os.PathLike[str],
                  policy: Policy | None = None) -> PolicyBundle:
    """Load the policy in the client (PolicyError if invalid) and read all its files' bytes."""
    if policy is None:
        from cycleflow.api import load_policy

        policy = load_policy(policy_path)
    hashes = {os.path.abspath(s.path): s.sha256 for s in policy.sources if s.path}
    paths = list(hashes)
    main = os.path.abspath(policy.path)
    if main not in paths:
        paths.insert(0, main)
    root = os.path.commonpath([os.path.dirname(p) for p in paths])
    files: list[tuple[str, bytes]] = []
    for p in paths:
        try:
            with open(p, "rb") as fh:
                data = fh.read()
        except OSError as err:
            raise UsageError(f"cannot read policy file {p}: {err.strerror}") from None
        if p in hashes and hashlib.sha256(data).hexdigest() != hashes[p]:
            raise UsageError(f"policy file {p} changed after the policy was loaded; run again")
        files.append((os.path.relpath(p, root), data))
    return PolicyBundle(path=main, main=os.path.relpath(main, root), files=tuple(files),
                        originals=tuple(paths), policy_sha256=policy.sha256)


@functools.lru_cache(maxsize=8)
def worker_engine(bundle: PolicyBundle, lang: str = "en") -> Engine:
    """The engine for this policy in this process: loaded and compiled once, then reused."""
    from cycleflow.api import load_policy
    from cycleflow.decide.engine import Engine

    policy = load_policy(bundle.local_path())
    if policy.sha256 != bundle.policy_sha256:
        raise CycleflowError(f"the policy loaded on this worker ({policy.sha256[:12]}) differs "
                             f"from the client's ({bundle.policy_sha256[:12]})")
    return Engine(policy, lang=lang)


@dataclass(frozen=True)
class _Settings:
    """What every record is judged with, besides the policy."""

    now: datetime
    trigger: str | None
    actor: dict[str, Any] | None
    lang: str


def _settings(now: datetime | str, trigger: str | None, actor: Mapping[str, Any] | None,
              lang: str) -> _Settings:
    from cycleflow.decide.clock import resolve_now

    return _Settings(resolve_now(now), trigger, None if actor is None else dict(actor), lang)


# a RecordItem's fields, in order (its deal id only where a reader found one)
Row = tuple[str, int, Any, "str | None"] | tuple[str, int, Any, "str | None", "str | None"]


def _judge_rows(bundle: PolicyBundle, settings: _Settings, rows: list[Row]) -> list[dict[str, Any]]:
    """On a worker: the verdict of every ``(source, position, record, error)`` row, in order."""
    engine = worker_engine(bundle, settings.lang)
    return [judge(engine, RecordItem(*row), now=settings.now, trigger=settings.trigger,
                  actor=settings.actor) for row in rows]


def _judge_blob(bundle: PolicyBundle, settings: _Settings, blob: bytes) -> bytes:
    """On a worker: judge pickled ``(source, position, record, error)`` rows.

    Returns the pickled ``(verdicts, [(source, position), ...])``. Dask walks
    every argument of a submitted task looking for futures, which for 10,000
    nested records costs more than judging them; one opaque bytes object each
    way skips that walk.
    """
    rows: list[Row] = pickle.loads(blob)
    verdicts = _judge_rows(bundle, settings, rows)
    return pickle.dumps((verdicts, [(r[0], r[1]) for r in rows]),
                        protocol=pickle.HIGHEST_PROTOCOL)


def _judge_jsonl(bundle: PolicyBundle, settings: _Settings, source: str, first_line: int,
                 data: bytes, max_record_bytes: int) -> bytes:
    """On a worker: parse and judge whole JSON Lines lines, as :func:`iter_records` would.

    Blank lines are skipped; every other line is one record at its line number.
    """
    rows: list[Row] = []
    for n, raw in enumerate(data.split(b"\n"), first_line):
        if not is_blank_line(raw, n):
            item = parse_jsonl_line(raw, source, n, max_record_bytes)
            rows.append((item.source, item.position, item.record, item.error, item.deal))
    verdicts = _judge_rows(bundle, settings, rows)
    return pickle.dumps((verdicts, [(r[0], r[1]) for r in rows]),
                        protocol=pickle.HIGHEST_PROTOCOL)


# --------------------------------------------------------------------------- --dask ADDRESS


def check_on_dask(address: str, sources: Sequence[str], options: BatchOptions, *,
                  batch_size: int = BATCH_SIZE, block_bytes: int = BLOCK_BYTES,
                  max_in_flight: int | None = None) -> Iterator[dict[str, Any]]:
    """Every record's verdict, judged on the Dask cluster at ``address``, in input order.

    ``address`` is a scheduler address (``tcp://host:8786``), or ``local`` /
    ``local:N`` for a cluster of N worker processes on this machine (every
    core when N is left out). The output equals the serial ``--jobs 1``
    output, duplicate-id warnings included.

    The client reads the inputs. A plain (uncompressed) JSON Lines file is
    sent as raw blocks of about ``block_bytes`` ending at a line end, which
    the workers parse; every other source (CSV, JSON, YAML, gzip, ``-``,
    directories) is read into records here and sent in batches of
    ``batch_size``. At most ``max_in_flight`` tasks are out at a time
    (default: two per worker thread), so memory stays flat. Raises
    UsageError when Dask is missing or the scheduler cannot be reached
    within :data:`CONNECT_TIMEOUT` seconds.
    """
    from cycleflow.api import load_policy
    from cycleflow.batch.parallel import field_types
    from cycleflow.decide.engine import Engine

    if batch_size < 1 or block_bytes < 1:
        raise UsageError("batch_size and block_bytes must be at least 1")
    policy = load_policy(options.policy_path)
    bundle = policy_bundle(options.policy_path, policy)
    types = field_types(Engine(policy, lang=options.lang, validate_deals=False))
    settings = _settings(options.now, options.trigger, options.actor, options.lang)
    client, cluster = _connect(address)
    pending: deque[Any] = deque()
    try:
        limit = max_in_flight or max(2, 2 * sum(client.nthreads().values()))
        run = uuid.uuid4().hex[:12]
        seen = DuplicateTracker()
        jobs = _jobs(sources, types, options.max_record_bytes, batch_size, block_bytes)
        for n, (fn, *args) in enumerate(jobs):
            pending.append(client.submit(fn, bundle, settings, *args, pure=False,
                                         key=f"cycleflow-check-{run}-{n}"))
            while len(pending) >= limit:
                yield from _flagged(_result(pending.popleft()), seen)
        while pending:
            yield from _flagged(_result(pending.popleft()), seen)
    finally:
        for future in pending:
            future.cancel()
        pending.clear()
        _close(client, cluster)


def _jobs(sources: Sequence[str], types: Mapping[str, frozenset[str]] | None,
          max_record_bytes: int, batch_size: int, block_bytes: int
          ) -> Iterator[tuple[Any, ...]]:
    """The tasks for every source in order: ``(worker function, *arguments)``."""
    from cycleflow.batch.readers import iter_records

    for src in sources:
        if _plain_jsonl(src):
            for first_line, data in _jsonl_blocks(src, block_bytes):
                yield _judge_jsonl, src, first_line, data, max_record_bytes
            continue
        items = iter_records([src], field_types=types, max_record_bytes=max_record_bytes)
        for batch in _batches(items, batch_size):
            yield _judge_blob, pickle.dumps(
                [(i.source, i.position, i.record, i.error, i.deal) for i in batch],
                protocol=pickle.HIGHEST_PROTOCOL)


def _plain_jsonl(source: str) -> bool:
    """A readable, uncompressed file named ``.jsonl`` / ``.ndjson``."""
    if source == "-" or not source.endswith(JSONL_SUFFIXES) or not os.path.isfile(source):
        return False
    return byte_splittable(source)  # gzip, UTF-16/32, a lone CR: the reader must read it


def _jsonl_blocks(path: str, size: int) -> Iterator[tuple[int, bytes]]:
    """``(first line number, bytes)`` blocks of about ``size`` bytes, each ending at a line end."""
    with open(path, "rb") as fh:
        line = 1
        while data := fh.read(size):
            if not data.endswith(b"\n"):
                data += fh.readline()
            yield line, data
            line += data.count(b"\n")


def _batches(items: Iterable[RecordItem], size: int) -> Iterator[list[RecordItem]]:
    it = iter(items)
    while batch := list(islice(it, size)):
        yield batch


def _result(future: Any) -> Iterator[tuple[dict[str, Any], tuple[str, int]]]:
    try:
        verdicts: list[dict[str, Any]]
        wheres: list[tuple[str, int]]
        verdicts, wheres = pickle.loads(future.result())
    except CycleflowError:
        raise
    except Exception as err:
        if not _is_cluster_failure(err):
            raise
        raise CycleflowError(f"the Dask cluster failed a batch: {_one_line(err)}") from None
    return zip(verdicts, wheres, strict=True)


def _flagged(pairs: Iterable[tuple[dict[str, Any], tuple[str, int]]],
             seen: DuplicateTracker) -> Iterator[dict[str, Any]]:
    """The same duplicate-id warning as :func:`cycleflow.batch.runner.run_check`, in order."""
    for verdict, (source, position) in pairs:
        yield flag_duplicate(verdict, seen, source, position)


def _is_cluster_failure(err: BaseException) -> bool:
    """Whether ``err`` is the cluster failing (workers killed, the scheduler lost), which is
    exit 2 with one line, not an internal error."""
    import asyncio
    import concurrent.futures

    distributed = _dask("distributed")
    # a future cancelled because the scheduler connection was lost raises
    # FutureCancelledError, a concurrent.futures.CancelledError
    failures = (distributed.KilledWorker, _dask("distributed.comm.core").CommClosedError,
                OSError, TimeoutError, asyncio.CancelledError,
                concurrent.futures.CancelledError)
    return isinstance(err, failures)


def _one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


def _connect(address: str) -> tuple[Any, Any]:
    """A distributed Client for ``address`` and the LocalCluster it started, if any."""
    distributed = _dask("distributed")
    Client, LocalCluster = distributed.Client, distributed.LocalCluster  # noqa: N806
    address = address.strip()
    if address == "local" or address.startswith("local:"):
        count = address.partition(":")[2]
        if count and (not count.isdigit() or int(count) < 1):
            raise UsageError(f"--dask {address}: use local or local:N with N a number of "
                             "worker processes, at least 1")
        workers = int(count) if count else (os.cpu_count() or 1)
        try:
            with warnings.catch_warnings():  # e.g. "port in use": nothing for the user to do
                warnings.simplefilter("ignore")
                cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                       host="127.0.0.1", dashboard_address="127.0.0.1:0",
                                       silence_logs=logging.ERROR)
        except Exception as err:
            raise UsageError(f"cannot start a local Dask cluster: {_one_line(err)}") from None
        try:
            return Client(cluster, set_as_default=False), cluster
        except Exception as err:
            cluster.close()
            raise UsageError(f"cannot connect to the local Dask cluster: {_one_line(err)}") \
                from None
    if not address:
        raise UsageError("--dask needs an address: tcp://HOST:8786, local or local:N")
    hint = "give tcp://HOST:PORT of a running scheduler, or local:N"
    try:  # a bad scheme fails here, before a half-made Client can complain from __del__
        scheme, location = _dask("distributed.comm").parse_address(address)
        _dask("distributed.comm.registry").get_backend(scheme)
        if scheme in ("tcp", "tls"):  # no port: Client fails half-made and later complains
            _dask("distributed.comm.addressing").parse_host_port(location)
    except ValueError as err:
        raise UsageError(f"--dask {address}: {_one_line(err)} ({hint})") from None
    workers = _probe_scheduler(address, hint) if scheme == "tcp" else -1  # -1: unknown
    try:
        client = Client(address, timeout=CONNECT_TIMEOUT, set_as_default=False)
    except Exception as err:
        raise UsageError(f"cannot reach the Dask scheduler at {address}: {_one_line(err)} "
                         f"({hint})") from None
    if workers == 0:  # an adaptive cluster may be starting some: wait, but not forever
        try:
            client.wait_for_workers(1, timeout=WORKERS_TIMEOUT)
        except Exception:
            _close(client, None)
            raise UsageError(f"the Dask scheduler at {address} has no workers (waited "
                             f"{WORKERS_TIMEOUT:g} s): start some with 'dask worker "
                             f"{address}'") from None
    return client, None


def _probe_scheduler(address: str, hint: str) -> int:
    """How many workers the scheduler at ``address`` has, asked in one bounded exchange.

    The Client's own timeout covers only the TCP connect: something that accepts the
    connection but is no scheduler (the dashboard port, a web server) hung it for good.
    """
    import asyncio

    connect = _dask("distributed.comm").connect

    async def identity() -> Any:
        comm = await connect(address, timeout=CONNECT_TIMEOUT)
        try:
            await comm.write({"op": "identity", "reply": True})
            return await comm.read()
        finally:
            comm.abort()

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:  # called from a running event loop (a notebook): the Client's own checks apply
        return -1
    try:
        reply = asyncio.run(asyncio.wait_for(identity(), CONNECT_TIMEOUT))
    except (TimeoutError, asyncio.TimeoutError):
        raise UsageError(f"{address} did not answer as a Dask scheduler within "
                         f"{CONNECT_TIMEOUT:g} s (a dashboard or another service? {hint})") \
            from None
    except OSError as err:
        raise UsageError(f"cannot reach the Dask scheduler at {address}: {_one_line(err)} "
                         f"({hint})") from None
    except Exception:  # it answered, but not in Dask's protocol (a web server, say)
        raise UsageError(f"{address} is not a Dask scheduler: its answer is not Dask's "
                         f"protocol ({hint})") from None
    if not isinstance(reply, dict) or reply.get("type") != "Scheduler":
        raise UsageError(f"{address} is not a Dask scheduler ({hint})")
    workers = reply.get("workers")
    return len(workers) if isinstance(workers, dict) else 1


def _close(client: Any, cluster: Any) -> None:
    try:
        client.close()
    finally:
        if cluster is not None:
            cluster.close()


# --------------------------------------------------------------------------- dask collections


def check_bag(bag: dask.bag.Bag, policy_path: str | os.PathLike[str], *,
              now: datetime | str, trigger: str | None = None,
              actor: Mapping[str, Any] | None = None, lang: str = "en",
              source: str = "bag") -> dask.bag.Bag:
    """A bag of verdict dicts, one per element of ``bag``, in the bag's order.

    An element is a deal record (a dict), or a :class:`RecordItem`, or a
    ``(source, position, record[, error])`` tuple as :func:`iter_records`
    yields, or a line of JSON Lines text (``str`` or ``bytes``, as
    ``db.read_text`` gives), read as ``cycleflow check`` reads a line: a line
    that is not a deal gets an ``error`` verdict and a blank one none. A plain
    record or line is reported at ``source`` and its 1-based position in the
    whole bag. Each verdict is what ``cycleflow check --format jsonl``
    prints for that record; duplicate deal ids are not flagged (that needs
    one pass over the whole input in order; :func:`check_on_dask` does it).
    The policy is loaded here first, so an invalid policy raises PolicyError
    before anything runs.

    A dict element may come from pandas (``df.to_bag(format="dict")``): a
    float NaN, pandas NA or NaT in it, at any depth of its dicts, is left out
    of the record (they are never JSON values, only pandas' missing cells),
    and pandas and numpy values become plain ones as in
    :func:`check_dataframe` (timestamps included). A ``None`` stays JSON
    null: in a dict read from JSON, null is meaningful (a field the schema
    refuses null for makes an ``error`` verdict, where an absent one may not).
    """
    db = _dask("dask.bag")
    delayed = _dask("dask").delayed
    bundle = policy_bundle(policy_path)
    settings = _settings(now, trigger, actor, lang)
    parts: list[Any] = cast(Any, bag).to_delayed()
    out = [delayed(_check_bag_partition)(part, offset, bundle, settings, source)
           for part, offset in zip(parts, _offsets(parts, delayed), strict=True)]
    result: dask.bag.Bag = db.from_delayed(out)
    return result


def _offsets(parts: list[Any], delayed: Any) -> list[Any]:
    """How many elements come before each partition: a chain of cheap count tasks."""
    offsets: list[Any] = [0]
    for part in parts[:-1]:
        offsets.append(delayed(operator.add)(offsets[-1], delayed(_count)(part)))
    return offsets


def _count(part: Iterable[Any]) -> int:
    return len(part) if isinstance(part, Sized) else sum(1 for _ in part)


def _check_bag_partition(part: Iterable[Any], offset: int, bundle: PolicyBundle,
                         settings: _Settings, source: str) -> list[dict[str, Any]]:
    rows: list[Row] = []
    dates: frozenset[str] | None = None  # the schema's date fields, once a dict needs them
    for n, element in enumerate(part, offset + 1):
        if isinstance(element, RecordItem):
            rows.append((element.source, element.position, element.record, element.error))
        elif isinstance(element, tuple) and len(element) in (3, 4):
            src, pos, rec, *err = element
            rows.append((str(src), int(pos), rec, err[0] if err else None))
        elif isinstance(element, (str, bytes)):  # a line of text, as db.read_text gives
            raw = element.encode("utf-8", "surrogatepass") if isinstance(element, str) else element
            if not is_blank_line(raw, n):  # blank lines are not records, as in `check`
                item = parse_jsonl_line(raw, source, n, MAX_RECORD_BYTES)
                rows.append((item.source, item.position, item.record, item.error, item.deal))
        elif isinstance(element, dict):
            if dates is None:
                dates = _frame_schema(bundle, settings.lang)[1]
            try:
                record = _plain(element, dates, keep_none=True)
            except CellError as err:
                rows.append((source, n, None, str(err)))
            else:
                rows.append((source, n, record, None))
        else:
            rows.append((source, n, element, None))
    return _judge_rows(bundle, settings, rows)


def check_dataframe(df: dask.dataframe.DataFrame, policy_path: str | os.PathLike[str], *,
                    now: datetime | str, trigger: str | None = None,
                    actor: Mapping[str, Any] | None = None, lang: str = "en",
                    source: str = "dataframe") -> dask.dataframe.DataFrame:
    """Judge every row of ``df`` as a deal; a dataframe of verdicts on the same index.

    Each row becomes a record: its columns are the deal's fields, and a cell
    that is missing (None, NaN, NaT, NA) is left out of the record, as an
    empty CSV cell is; so is a missing value inside a cell's dicts (and lists
    of dicts), as Arrow fills a struct's absent keys (Parquet). Text cells
    are typed through the policy's ``deal_schema`` exactly as CSV cells are
    (:mod:`cycleflow.batch.typing`: a ``string`` column ``"1500"`` is the
    number 1500 where the schema declares a number, ``NULL`` is null where
    it allows null, a cell that fits no declared type is an ``error``
    verdict naming its column), and columns named with dots nest as in a
    CSV (``pd.json_normalize`` output reads as the deals it came from).
    numpy scalars and arrays become Python numbers and lists. Timestamps
    become ISO-8601 strings: a naive one is UTC and written with ``Z`` (the
    engine reads naive times as UTC everywhere); in a field the schema
    declares ``format: date`` a timestamp at midnight is written as its date,
    and one past midnight is an ``error`` verdict naming the field. The
    record's position is the row's 1-based position in the whole dataframe.

    Columns (:data:`FRAME_COLUMNS`): ``record`` (int), ``deal``, ``stage``,
    ``verdict`` (compliant / violation / error), ``violations``,
    ``warnings`` and ``approvals_needed`` (rule or gate ids joined with
    ``,``, empty when none), ``error`` (None unless the verdict is error).
    Duplicate deal ids are not flagged; ``df.deal.duplicated()`` finds them.
    """
    dd = _dask("dask.dataframe")
    delayed = _dask("dask").delayed
    bundle = policy_bundle(policy_path)
    settings = _settings(now, trigger, actor, lang)
    parts: list[Any] = cast(Any, df).to_delayed()
    out = [delayed(_check_frame_partition)(part, offset, bundle, settings, source)
           for part, offset in zip(parts, _offsets(parts, delayed), strict=True)]
    result: dask.dataframe.DataFrame = dd.from_delayed(out, meta=_frame_meta(),
                                                       divisions=df.divisions)
    return result


def _frame_meta() -> Any:
    pd = _dask("pandas")

    return pd.DataFrame({c: pd.Series([], dtype="int64" if c == "record" else object)
                         for c in FRAME_COLUMNS})


def _check_frame_partition(part: Any, offset: int, bundle: PolicyBundle,
                           settings: _Settings, source: str) -> Any:
    """On a worker: one pandas partition of deals in, its verdict columns out, same index."""
    pd = _dask("pandas")

    columns = [str(c) for c in part.columns]
    types, dates = _frame_schema(bundle, settings.lang)
    typer = RowTyper(columns, types)
    rows: list[Row] = []
    for n, values in enumerate(part.itertuples(index=False, name=None), offset + 1):
        try:
            record = typer.record((i, _cell(v, columns[i], dates))
                                  for i, v in enumerate(values) if not _missing(v))
        except CellError as err:
            rows.append((source, n, None, str(err)))
        else:
            rows.append((source, n, record, None))
    verdicts = _judge_rows(bundle, settings, rows)
    data: dict[str, list[Any]] = {c: [] for c in FRAME_COLUMNS}
    for v in verdicts:
        data["record"].append(v["record"])
        data["deal"].append(v.get("deal"))
        data["stage"].append(v.get("stage"))
        data["verdict"].append(v["verdict"])
        for key in ("violations", "warnings", "approvals_needed"):
            data[key].append(JOIN.join(_rule_id(x) for x in v.get(key, ())))
        data["error"].append(v.get("error"))
    frame = pd.DataFrame({c: pd.Series(data[c], dtype="int64" if c == "record" else object)
                          for c in FRAME_COLUMNS})
    frame.index = part.index
    return frame


def _rule_id(finding: Any) -> str:
    if isinstance(finding, Mapping):
        for key in ("rule", "gate", "id"):
            if finding.get(key) is not None:
                return str(finding[key])
    return str(finding)


def _missing(value: Any, *, none: bool = True) -> bool:
    """Whether a value is pandas' missing value: NaN, NA, NaT (and None, if ``none``)."""
    if value is None:
        return none
    if isinstance(value, float):
        return math.isnan(value)
    if isinstance(value, str | int | dict | list):
        return False
    pd = _dask("pandas")

    return value is pd.NA or value is pd.NaT or (
        type(value).__module__ == "numpy" and getattr(value, "shape", None) == ()
        and bool(pd.isna(value)))


@functools.lru_cache(maxsize=8)
def _frame_schema(bundle: PolicyBundle, lang: str
                  ) -> tuple[Mapping[str, frozenset[str]] | None, frozenset[str]]:
    """On a worker: the field types text cells are typed by (those of a CSV), and the
    fields the policy's deal schema declares ``format: date``."""
    from cycleflow.batch.parallel import field_types

    engine = worker_engine(bundle, lang)
    schema = engine.policy.deal_schema
    return field_types(engine), _date_fields(schema) if schema else frozenset()


def _date_fields(schema: Mapping[str, Any]) -> frozenset[str]:
    """The field paths (nested ones with dots) whose schema declares ``format: date``."""
    from cycleflow.validate.deal_schema import resolve_ref

    found: set[str] = set()

    def branches(node: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
        for key in ("anyOf", "oneOf", "allOf"):
            listed = node.get(key)
            for b in listed if isinstance(listed, list) else ():
                if isinstance(b, Mapping):
                    yield b

    def is_date(node: Mapping[str, Any], depth: int) -> bool:
        node = resolve_ref(node, schema)
        if node.get("format") == "date":
            return True
        return depth < 8 and any(is_date(b, depth + 1) for b in branches(node))

    def walk(node: Mapping[str, Any], prefix: str, depth: int) -> None:
        node = resolve_ref(node, schema)
        if depth > 8:
            return
        props = node.get("properties")
        for name, sub in props.items() if isinstance(props, Mapping) else ():
            if isinstance(sub, Mapping):
                if is_date(sub, 0):
                    found.add(f"{prefix}{name}")
                walk(sub, f"{prefix}{name}.", depth + 1)
        for b in branches(node):
            walk(b, prefix, depth + 1)

    walk(schema, "", 0)
    return frozenset(found)


def _cell(value: Any, path: str | None, dates: frozenset[str], *,
          keep_none: bool = False) -> Any:
    """A dataframe cell as the plain JSON-like value a record read from a file would hold.

    ``path`` names the field the value is (``customer.since``; None inside a list), for
    the fields declared ``format: date``. Inside dicts a missing value is left out (None
    too, unless ``keep_none``); inside lists it is None.
    """
    if type(value).__module__ == "numpy":  # np.float64 and np.str_ too: plain ones out
        if type(value).__name__ == "datetime64":
            value = _dask("pandas").Timestamp(value)
        elif hasattr(value, "tolist"):
            value = value.tolist()
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, datetime):
        return _timestamp(value, path, dates)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [None if _missing(v) else _cell(v, None, dates, keep_none=keep_none)
                for v in value]
    if isinstance(value, dict):
        return _plain(value, dates, path, keep_none=keep_none)
    return value


def _plain(record: Mapping[Any, Any], dates: frozenset[str], path: str | None = "", *,
           keep_none: bool) -> dict[Any, Any]:
    """A dict with pandas' missing values left out (None too, unless ``keep_none``) and
    every value plain, as :func:`_cell` makes it; ``path`` is the dict's field path
    ("" for a record, None inside a list)."""
    return {k: _cell(v, None if path is None else f"{path}.{k}" if path else str(k), dates,
                     keep_none=keep_none)
            for k, v in record.items() if not _missing(v, none=not keep_none)}


def _timestamp(value: datetime, path: str | None, dates: frozenset[str]) -> str:
    """A timestamp as the deal schema reads it: its date in a ``format: date`` field (if at
    midnight), otherwise ISO-8601, ``Z`` for UTC; a naive timestamp is UTC."""
    text = value.isoformat()
    if path is not None and path in dates:
        if value.time() == time() and not getattr(value, "nanosecond", 0):
            return value.date().isoformat()
        raise CellError(path, text, "is not a date: the deal schema declares the field "
                        "format date, and this timestamp is not at midnight")
    offset = value.utcoffset()
    if offset is None:
        return text + "Z"
    if not offset and text.endswith("+00:00"):
        return text[:-6] + "Z"
    return text
