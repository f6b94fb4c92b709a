"""Dask: checks on a local cluster give exactly the serial verdicts, in order, none dropped."""

from __future__ import annotations

import dataclasses
import gzip
import os
import sys
import time
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

distributed = pytest.importorskip("distributed")
db = pytest.importorskip("dask.bag")

from click.testing import CliRunner  # noqa: E402

from cycleflow.api import load_policy  # noqa: E402
from cycleflow.batch import dask_runner  # noqa: E402
from cycleflow.batch.dask_runner import (  # noqa: E402
    FRAME_COLUMNS,
    check_bag,
    check_dataframe,
    check_on_dask,
    policy_bundle,
    worker_engine,
)
from cycleflow.batch.parallel import BatchOptions, field_types, verdict_stream  # noqa: E402
from cycleflow.batch.readers import iter_records  # noqa: E402
from cycleflow.batch.runner import run_check  # noqa: E402
from cycleflow.cli.main import cli  # noqa: E402
from cycleflow.decide.engine import Engine, resolve_now  # noqa: E402
from cycleflow.errors import UsageError  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
POLICY = str(ROOT / "policies" / "standard-sales-cycle.yaml")
DEALS = str(ROOT / "examples" / "deals.jsonl")
N_DEALS = sum(1 for line in Path(DEALS).read_text("utf-8").splitlines() if line.strip())
NOW = "2026-11-26T12:00:00Z"
ACTOR = {"id": "zoe", "roles": ["sales_director"]}


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    """Two small worker processes: records really travel by pickle, engines really per process."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address="127.0.0.1:0",
                                  silence_logs=40) as c:
        yield c


@pytest.fixture(scope="module")
def client(cluster: Any) -> Iterator[Any]:
    with distributed.Client(cluster) as c:
        yield c


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(load_policy(POLICY))


@pytest.fixture
def bad_file(tmp_path: Path) -> str:
    """Malformed records, a blank line, and deal ids reused within the file and from DEALS."""
    deals = [orjson.loads(line) for line in Path(DEALS).read_bytes().splitlines()[:6]]
    lines = [
        orjson.dumps(deals[0]),                       # same id as DEALS line 1
        b'{"id": "BAD-1", "stage": "qualified", "budget": ',   # truncated JSON
        b"",
        b'{"id": "BAD-2", "stage": "qualified", "budget": NaN}',
        b"[1, 2, 3]",                                 # not an object
        b'{"id": "BAD-3", "stage": "nowhere"}',       # unknown stage
        b'{"id": "BAD-3", "stage": "prospect"}',      # duplicate within the file
        b'{"stage": "prospect"}',                     # no id at all
        orjson.dumps({**deals[3], "discount_pct": 35}),
        orjson.dumps(deals[5]),
        b'"just a string"',
        b'{"id": "BAD-1", "stage": "won"}',           # duplicate of an error record's id
    ]
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return str(path)


@pytest.fixture
def odd_jsonl(tmp_path: Path) -> str:
    """Byte-level oddities the workers' JSON Lines parser must read as the serial reader does."""
    record = Path(DEALS).read_bytes().splitlines()[1]
    big = orjson.dumps({"id": "BIG", "stage": "prospect", "pad": "x" * 1_100_000})
    path = tmp_path / "odd.ndjson"
    path.write_bytes(b"\xef\xbb\xbf" + record + b"\r\n   \r\n" + big + b"\n\t\n"
                     + b'{"id": "CRLF", "stage": "prospect"}\r\n' + b'{"id": "LAST"')
    return str(path)


@pytest.fixture
def gz_file(tmp_path: Path) -> str:
    """Compressed: read by the client, sent as records."""
    path = tmp_path / "more.jsonl.gz"
    path.write_bytes(gzip.compress(Path(DEALS).read_bytes()[:2000].rsplit(b"\n", 1)[0]))
    return str(path)


@pytest.fixture
def csv_file(tmp_path: Path) -> str:
    """A CSV typed through the deal schema in the client; one id repeats a JSONL id."""
    path = tmp_path / "deals.csv"
    path.write_text("id,stage,budget,amount,discount_pct\n"
                    "CSV-1,qualified,1000,900,5\n"
                    "OPP-2026-0407,prospect,,,\n"
                    "CSV-2,negotiation,abc,100,50\n", encoding="utf-8")
    return str(path)


def options(**kw: Any) -> BatchOptions:
    return BatchOptions(policy_path=POLICY, now=resolve_now(NOW), jobs=1, **kw)


def compute(collection: Any) -> Any:
    """A Dask collection's value (Dask's compute is untyped)."""
    return collection.compute()


def serial(engine: Engine, sources: list[str], opts: BatchOptions) -> list[dict[str, Any]]:
    return list(verdict_stream(engine, sources, opts))


# --------------------------------------------------------------------------- check_on_dask


def test_check_on_dask_equals_serial(cluster: Any, engine: Engine, bad_file: str,
                                     csv_file: str, odd_jsonl: str, gz_file: str) -> None:
    sources = [DEALS, bad_file, csv_file, odd_jsonl, gz_file]
    expected = serial(engine, sources, options())
    got = list(check_on_dask(cluster.scheduler_address, sources, options(),
                             batch_size=2, block_bytes=3000, max_in_flight=2))
    assert got == expected
    assert len(got) == N_DEALS + 11 + 3 + 4 + 3
    assert [v["record"] for v in got if v["source"] == odd_jsonl] == [1, 3, 5, 6]
    assert any("over 1000000 bytes" in (v.get("error") or "") for v in got)
    assert sum(v["verdict"] == "error" for v in got) >= 5
    dupes = [v for v in got if any(w["rule"] == "duplicate_id" for w in v["warnings"])]
    # BAD-1's first record was unreadable, so it has no id to be a duplicate of
    assert {v["deal"] for v in dupes} == {"BAD-3", *(deals_id(i) for i in (0, 1, 2, 3, 5))}


def deals_id(index: int) -> str:
    return str(orjson.loads(Path(DEALS).read_bytes().splitlines()[index])["id"])


def test_check_on_dask_with_trigger_and_actor(cluster: Any, engine: Engine) -> None:
    opts = options(trigger="advance", actor=ACTOR)
    expected = serial(engine, [DEALS], opts)
    got = list(check_on_dask(cluster.scheduler_address, [DEALS], opts, batch_size=20))
    assert got == expected
    assert len(got) == N_DEALS


def test_policy_reaches_workers_without_shared_disk(client: Any, tmp_path: Path) -> None:
    bundle = policy_bundle(POLICY)
    names = {rel for rel, _ in bundle.files}
    assert any(n.endswith("deal.schema.json") for n in names)  # the ../schemas file travels too
    gone = dataclasses.replace(bundle, originals=tuple(str(tmp_path / f"missing-{i}")
                                                       for i in range(len(bundle.files))))
    assert gone == bundle and hash(gone) == hash(bundle)
    copy = gone.local_path()
    assert copy != bundle.path and os.path.isfile(copy)
    assert load_policy(copy).sha256 == load_policy(POLICY).sha256
    assert bundle.local_path() == bundle.path

    def on_worker(b: Any) -> tuple[str, int, int]:
        first = worker_engine(b)
        again = worker_engine(b)
        return first.policy.sha256, id(first), id(again)

    shas = client.gather([client.submit(on_worker, gone, pure=False) for _ in range(4)])
    for sha, first, again in shas:
        assert sha == bundle.policy_sha256
        assert first == again  # one engine per process, reused


def test_check_on_dask_stops_cleanly_when_abandoned(cluster: Any) -> None:
    stream = check_on_dask(cluster.scheduler_address, [DEALS, DEALS], options(), batch_size=3)
    assert isinstance(stream, Generator)
    assert next(stream)["record"] == 1
    stream.close()  # cancels what is in flight, closes its client


# --------------------------------------------------------------------------- collections


def test_check_bag_of_items_equals_serial(client: Any, engine: Engine, bad_file: str) -> None:
    items = iter_records([DEALS, bad_file], field_types=field_types(engine))
    rows = [(i.source, i.position, i.record, i.error) for i in items]
    bag = db.from_sequence(rows, npartitions=4)
    got = compute(check_bag(bag, POLICY, now=NOW))
    expected = list(run_check(engine, iter_records([DEALS, bad_file]), now=resolve_now(NOW),
                              flag_duplicates=False))
    assert got == expected


def test_check_bag_of_plain_records(client: Any, engine: Engine) -> None:
    records = [orjson.loads(line) for line in Path(DEALS).read_bytes().splitlines()]
    bag = db.from_sequence(records, npartitions=5)
    got = compute(check_bag(bag, POLICY, now=NOW, source=DEALS, trigger="advance",
                    actor=ACTOR))
    assert got == serial(engine, [DEALS], options(trigger="advance", actor=ACTOR))
    assert [v["record"] for v in got] == list(range(1, N_DEALS + 1))



@pytest.mark.parametrize("as_bytes", [False, True])
def test_check_bag_of_text_lines_reads_them_as_check_does(
        client: Any, engine: Engine, bad_file: str, odd_jsonl: str, as_bytes: bool) -> None:
    """db.read_text gives lines: a bad line (truncated, NaN, over the size cap, a BOM on
    line 1) costs that line an error verdict, never the whole compute (the docs once
    parsed lines with orjson.loads, which fails the compute on the first bad one)."""
    for path in (bad_file, odd_jsonl):
        if as_bytes:
            bag = db.from_sequence(Path(path).read_bytes().split(b"\n"), npartitions=3)
        else:
            bag = db.read_text(path).repartition(3)
        got = compute(check_bag(bag, POLICY, now=NOW, source=path))
        expected = list(run_check(engine, iter_records([path]), now=resolve_now(NOW),
                                  flag_duplicates=False))
        assert got == expected
        assert any(v["verdict"] == "error" for v in got)
        assert any(v["verdict"] != "error" for v in got)

def test_check_dataframe_equals_serial(client: Any, engine: Engine) -> None:
    dd = pytest.importorskip("dask.dataframe")  # needs pyarrow
    dask = pytest.importorskip("dask")
    pd = pytest.importorskip("pandas")

    records = [orjson.loads(line) for line in Path(DEALS).read_bytes().splitlines()]
    frame = pd.DataFrame(records)
    assert frame.isna().to_numpy().any()  # rows without some fields: NaN cells are dropped
    frame.index = pd.RangeIndex(100, 100 + len(frame))
    # nested fields (steps, approvals) must stay lists: stop Dask turning objects into strings
    with dask.config.set({"dataframe.convert-string": False}):
        df = dd.from_pandas(frame, npartitions=3)
        got = compute(check_dataframe(df, POLICY, now=NOW))
    expected = serial(engine, [DEALS], options())
    assert list(got.columns) == list(FRAME_COLUMNS)
    assert list(got.index) == list(frame.index)
    assert list(got["record"]) == list(range(1, N_DEALS + 1))
    for (_, row), v in zip(got.iterrows(), expected, strict=True):
        assert row["deal"] == v["deal"]
        assert row["stage"] == v["stage"]
        assert row["verdict"] == v["verdict"]
        assert row["violations"] == ",".join(x["rule"] for x in v["violations"])
        assert row["warnings"] == ",".join(x["rule"] for x in v["warnings"])
        assert row["approvals_needed"] == ",".join(x["gate"] for x in v["approvals_needed"])
        assert pd.isna(row["error"])
    assert set(got["verdict"]) >= {"compliant", "violation"}


def test_check_dataframe_bad_rows_are_error_verdicts(client: Any) -> None:
    dd = pytest.importorskip("dask.dataframe")
    pd = pytest.importorskip("pandas")

    frame = pd.DataFrame({"id": ["A", "B", None], "stage": ["qualified", "nowhere", None],
                          "budget": [10.0, float("nan"), 3.0]})
    got = compute(check_dataframe(dd.from_pandas(frame, npartitions=2), POLICY, now=NOW))
    assert list(got["verdict"][1:]) == ["error", "error"]
    assert "unknown stage" in got["error"].iloc[1]
    assert pd.isna(got["deal"].iloc[2]) and got["record"].iloc[2] == 3
    assert list(got["record"]) == [1, 2, 3]


# --------------------------------------------------------------------------- command line


def run_cli(*args: str) -> Any:
    return CliRunner().invoke(cli, ["check", "-p", POLICY, *args, "--format", "jsonl",
                                    "--now", NOW, "--no-progress"])


def test_cli_dask_local_equals_jobs_1(bad_file: str) -> None:
    one = run_cli(DEALS, bad_file, "--jobs", "1")
    dask = run_cli(DEALS, bad_file, "--dask", "local:2")
    assert dask.stderr == ""
    assert dask.exit_code == one.exit_code == 1
    assert dask.stdout_bytes == one.stdout_bytes
    assert len(dask.stdout_bytes.splitlines()) == N_DEALS + 11


@pytest.mark.parametrize("address", ["tcp://127.0.0.1:1", "local:many", "nonsense://x:1"])
def test_cli_bad_address_is_a_usage_error(address: str,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dask_runner, "CONNECT_TIMEOUT", 1.0)
    start = time.monotonic()
    result = run_cli(DEALS, "--dask", address)
    assert time.monotonic() - start < 10
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cycleflow: error:"), result.stderr
    assert "Traceback" not in result.output


def test_without_dask_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(UsageError, match=r"cycleflow\[dask\]"):
        list(check_on_dask("local:1", [DEALS], options()))
    monkeypatch.setitem(sys.modules, "dask.bag", None)
    with pytest.raises(UsageError, match=r"cycleflow\[dask\]"):
        check_bag(None, POLICY, now=NOW)  # type: ignore[arg-type]


def test_cli_address_without_a_port_fails_once_and_quietly() -> None:
    """'bogus' made a half-built Client that, at exit, printed a traceback from __del__."""
    import subprocess

    proc = subprocess.run([sys.executable, "-m", "cycleflow", "check", "-p", POLICY, DEALS,
                           "--dask", "bogus"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "cycleflow: error: --dask bogus: missing port number in address 'bogus' (give "
        "tcp://HOST:PORT of a running scheduler, or local:N)"]


def test_a_lost_scheduler_is_a_cluster_failure_not_an_internal_error() -> None:
    """Futures cancelled because the scheduler connection was lost raised
    FutureCancelledError, which was not counted as a cluster failure: exit 70 'internal
    error ... please report it' instead of exit 2 'the Dask cluster failed'."""
    from distributed.client import FutureCancelledError

    from cycleflow.batch.dask_runner import _is_cluster_failure

    lost = FutureCancelledError("cycleflow-check-1", reason="scheduler-connection-lost")
    assert _is_cluster_failure(lost)
    assert _is_cluster_failure(distributed.KilledWorker("t", None, 3))
    assert not _is_cluster_failure(ValueError("a bug"))


def test_an_address_that_is_no_scheduler_fails_in_seconds(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Something that accepts TCP but never answers as a scheduler (the dashboard port, a
    web server) hung --dask for good: the Client's timeout covers only the connect."""
    import socket
    import threading

    from cycleflow.errors import UsageError

    monkeypatch.setattr(dask_runner, "CONNECT_TIMEOUT", 1.0)
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    accepted: list[socket.socket] = []
    threading.Thread(target=lambda: accepted.append(server.accept()[0]), daemon=True).start()
    started = time.monotonic()
    try:
        with pytest.raises(UsageError, match="did not answer as a Dask scheduler"):
            dask_runner._connect(f"tcp://127.0.0.1:{server.getsockname()[1]}")
    finally:
        server.close()
        for conn in accepted:
            conn.close()
    assert time.monotonic() - started < 10


def test_a_scheduler_without_workers_is_a_clear_error_after_a_bounded_wait(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A scheduler with no workers took the batch and waited forever."""
    from cycleflow.errors import UsageError

    monkeypatch.setattr(dask_runner, "WORKERS_TIMEOUT", 1.0)
    with distributed.LocalCluster(n_workers=0, processes=False, protocol="tcp://", host="127.0.0.1",
                                  dashboard_address=None) as empty:
        started = time.monotonic()
        with pytest.raises(UsageError, match="has no workers"):
            dask_runner._connect(empty.scheduler_address)
        assert time.monotonic() - started < 15
