"""The parallel runner: blocks of verdict lines from workers equal the serial run, byte for byte."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from cycleflow import Engine, load_policy
from cycleflow.batch import parallel
from cycleflow.batch.parallel import BatchOptions, parallel_blocks, plan_chunks, verdict_stream
from cycleflow.batch.readers import DuplicateTracker
from cycleflow.decide.engine import resolve_now
from cycleflow.report.summary import Summary

ROOT = Path(__file__).resolve().parent.parent
POLICY = str(ROOT / "policies" / "standard-sales-cycle.yaml")
NOW = resolve_now("2026-11-26T12:00:00Z")


def _hostile_file(path: Path) -> None:
    """Good deals, duplicate ids inside and across chunks, and every kind of bad line."""
    base = (ROOT / "examples" / "deals.jsonl").read_bytes().splitlines()
    lines = [b"\xef\xbb\xbf" + base[0]]  # a BOM on line 1
    for i in range(400):
        d = orjson.loads(base[i % len(base)])
        d["id"] = "DUP-A" if i in (3, 7) else "DUP-B" if i in (10, 390) else f"P-{i}"
        lines.append(orjson.dumps(d))
        if i == 50:
            lines += [b"", b"   ", b'{"id": "X", "stage": "prospect"', b"[1, 2]", b"NaN",
                      b'{"id": "N", "amount": NaN}', b"\xff\xfe bad utf-8", b'{"stage": 3}',
                      b'{"id": "big", "pad": "' + b"x" * 3000 + b'"}',
                      b'{"id": "P-2", "stage": "nowhere"}', b'{"id": 7, "stage": "prospect"}',
                      # nested past the limit (an error), then many brackets but shallow
                      b'{"id": "deep", "x": ' + b"[" * 150 + b"]" * 150 + b"}",
                      b'{"id": "wide", "stage": "prospect", "x": [' + b",".join(
                          [b"{}"] * 120) + b"]}", b"\t {} \t"]
    path.write_bytes(b"\r\n".join(lines[:5]) + b"\r\n" + b"\n".join(lines[5:]) + b"\n")


def test_parallel_blocks_equal_the_serial_run_with_many_small_chunks(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "deals.jsonl"
    _hostile_file(src)
    monkeypatch.setattr(parallel, "CHUNK_BYTES", 4096)  # dozens of chunks, ids cross them
    options = BatchOptions(policy_path=POLICY, now=NOW, jobs=2, max_record_bytes=2000)
    chunks = plan_chunks([str(src)])
    assert chunks is not None and len(chunks) > 20
    summary = Summary()
    got = b"".join(parallel_blocks(chunks, options, summary))
    engine = Engine(load_policy(POLICY))
    serial = list(verdict_stream(engine, [str(src)], BatchOptions(
        policy_path=POLICY, now=NOW, jobs=1, max_record_bytes=2000)))
    assert got == b"".join(orjson.dumps(v) + b"\n" for v in serial)
    expected = Summary()
    for v in serial:
        expected.add(v)
    assert (summary.total, summary.error, summary.warnings, summary.with_warnings) == (
        expected.total, expected.error, expected.warnings, expected.with_warnings)
    verdicts = [orjson.loads(x) for x in got.splitlines()]
    assert len(verdicts) == 1 + 400 + 12  # blank lines are not records
    flagged = [v["deal"] for v in verdicts
               if any(w["rule"] == "duplicate_id" for w in v["warnings"])]
    assert flagged == ["DUP-A", "P-2", "DUP-B"]
    errors = [v for v in verdicts if v["verdict"] == "error"]
    assert len(errors) == 12 and all(v["source"] == str(src) and v["record"] for v in errors)
    assert sum("nested more than 100" in v["error"] for v in errors) == 1
    wide = next(v for v in verdicts if v["deal"] == "wide")  # judged: the schema finds it
    assert "stage_entered_at" in wide["error"] and "nested" not in wide["error"]


def test_see_all_reports_what_see_reports_one_by_one() -> None:
    blocks = [(["a", "b", None, "c"], "f1", [1, 2, 3, 4]), (["d", "", "e"], "f1", [5, 6, 7]),
              (["f", "a", "f", None], "f2", [1, 2, 3, 4]), (["g"], "f2", [5])]
    one, many = DuplicateTracker(), DuplicateTracker()
    for ids, source, positions in blocks:
        expected = [(i, m) for i, (d, p) in enumerate(zip(ids, positions, strict=True))
                    if (m := one.see(d, source, p)) is not None]
        assert many.see_all(ids, source, positions) == expected
    assert len(one) == len(many) == 7
    assert many.see("c", "f3", 1) == "duplicate deal id 'c': first seen at f1:4"


def test_inputs_read_by_the_parent_are_judged_by_workers_identically(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """CSV, JSON arrays, YAML and gzip are read here and judged in workers in small
    batches, a bounded number in flight: the verdicts equal the serial run's, in order,
    duplicates across files included."""
    import gzip
    import shutil

    data = ROOT / "tests" / "data" / "deals"
    for name in ("array.json", "batch-ragged.csv", "bom-header.csv", "multi.yaml"):
        shutil.copy(data / name, tmp_path / name)
    base = (ROOT / "examples" / "deals.jsonl").read_bytes()
    with gzip.open(tmp_path / "more.jsonl.gz", "wb") as fh:
        fh.write(base + b"{truncated\n" + base.splitlines()[0] + b"\n")
    sources = [str(tmp_path / n) for n in sorted(p.name for p in tmp_path.iterdir())]
    monkeypatch.setattr(parallel, "BATCH_RECORDS", 7)  # many batches, the window fills
    engine = Engine(load_policy(POLICY))
    serial = [orjson.dumps(v) + b"\n" for v in verdict_stream(
        engine, sources, BatchOptions(policy_path=POLICY, now=NOW, jobs=1))]
    summary = Summary()
    got = b"".join(parallel.verdict_blocks(
        engine, sources, BatchOptions(policy_path=POLICY, now=NOW, jobs=2), summary))
    assert got == b"".join(serial)
    verdicts = [orjson.loads(x) for x in serial]
    assert summary.total == len(verdicts) > 60
    assert summary.error == sum(v["verdict"] == "error" for v in verdicts) >= 2
    assert any(w["rule"] == "duplicate_id" for v in verdicts for w in v["warnings"])
    assert {v["source"] for v in verdicts} == set(sources)


def test_blocks_are_submitted_a_bounded_number_ahead_of_the_reader(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A slow reader of the blocks (a pipe, a slow disk) must not let finished blocks pile
    up: at most two tasks per worker are in flight, however many tasks there are."""
    from concurrent.futures import Future

    submitted: list[int] = []

    class Inline:
        def __enter__(self) -> Inline:
            return self

        def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
            pass

        def __exit__(self, *exc: object) -> None:
            return None

        def submit(self, fn: object, task: int) -> Future[object]:
            submitted.append(task)
            future: Future[object] = Future()
            future.set_result((b"%d\n" % task, [f"D-{task}"], [task], "src", Summary()))
            return future

    monkeypatch.setattr(parallel, "_pool", lambda options, engine: Inline())
    options = BatchOptions(policy_path=POLICY, now=NOW, jobs=3)
    blocks = parallel._in_order(lambda t: t, range(100), options, Summary())
    for n, block in enumerate(blocks):
        assert block == b"%d\n" % n
        assert len(submitted) - (n + 1) <= 2 * options.jobs  # in flight when block n is read
    assert submitted == list(range(100))


def test_an_integer_beyond_64_bits_costs_no_record(tmp_path: Path) -> None:
    """YAML (and CSV) keep big integers exact; orjson cannot write them. A rule that fires on
    one reports it as a float, as a JSON input reads it, serially and in workers alike (it
    was an internal error that lost the whole batch)."""
    import subprocess
    import sys

    from cycleflow.report._common import dumps

    encoded = dumps({"v": -(10**30), "w": 2**64, "x": 2**63})  # (orjson 3.10+ writes 1e+30)
    assert encoded.replace(b"e+", b"e") == (
        b'{"v":-1e30,"w":1.8446744073709552e19,"x":9223372036854775808}')
    # beyond a float's range the digits are kept as text; beyond Python's int → str limit,
    # a description (both raised before: OverflowError, ValueError)
    assert dumps({"v": 10**400}) == b'{"v":"1' + b"0" * 400 + b'"}'
    assert dumps({"v": [10**5000]}) == b'{"v":["<integer of 16610 bits>"]}'
    policy = tmp_path / "no-schema.yaml"
    partner = ROOT / "tests" / "data" / "policies" / "partner-channel.yaml"
    policy.write_text("".join(line for line in partner.read_text("utf-8").splitlines(True)
                              if not line.startswith("deal_schema")), "utf-8")
    deals = tmp_path / "deals.yaml"
    deals.write_text("- {id: B-1, stage: proposal, list_price: -1000000000000000000000000000000}\n"
                     "- {id: B-2, stage: proposal, list_price: 5}\n", "utf-8")
    outs = []
    for jobs in ("1", "2"):
        proc = subprocess.run([sys.executable, "-m", "cycleflow", "check", "-p", str(policy),
                               str(deals), "--format", "jsonl", "--now", "2026-11-26T12:00:00Z",
                               "--jobs", jobs], capture_output=True, timeout=120)
        assert proc.returncode == 1, proc.stderr
        outs.append(proc.stdout)
    assert outs[0] == outs[1]
    first, second = (orjson.loads(x) for x in outs[0].splitlines())
    assert first["deal"] == "B-1" and second["deal"] == "B-2"
    assert {"deal.list_price": -1e30} in [v["values"] for v in first["violations"]]


# --------------------------------------------------------------------------- hostile inputs
# Each test: every record gets exactly one verdict, in order, the batch goes on, and one
# process and two workers write the same bytes.


def _deals() -> list[dict[str, object]]:
    return [orjson.loads(x) for x in (ROOT / "examples" / "deals.jsonl").read_bytes().splitlines()]


def _verdicts(sources: list[str], stdin: bytes | None = None,
              monkeypatch: pytest.MonkeyPatch | None = None) -> list[dict[str, object]]:
    """The verdicts of one process; asserts two workers write exactly the same bytes."""
    import io
    import sys

    from cycleflow.report._common import dumps

    def feed() -> None:
        if stdin is not None:
            assert monkeypatch is not None
            monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))

    engine = Engine(load_policy(POLICY))
    feed()
    serial = b"".join(dumps(v) + b"\n" for v in verdict_stream(
        engine, sources, BatchOptions(policy_path=POLICY, now=NOW, jobs=1)))
    feed()
    got = b"".join(parallel.verdict_blocks(
        engine, sources, BatchOptions(policy_path=POLICY, now=NOW, jobs=2), Summary()))
    assert got == serial
    return [orjson.loads(x) for x in serial.splitlines()]


def _csv_of(deals: list[dict[str, object]]) -> bytes:
    """Deals as CSV: nested values as JSON cells, as the CSV reader types them back."""
    import csv
    import io

    columns = list(dict.fromkeys(k for d in deals for k in d))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for d in deals:
        writer.writerow(["" if k not in d else orjson.dumps(d[k]).decode()
                         if not isinstance(d[k], str) else d[k] for k in columns])
    return out.getvalue().encode()


def test_a_number_beyond_pythons_digit_limit_costs_one_record(tmp_path: Path) -> None:
    """int('5' * 5000) raises ValueError (Python's 4300-digit limit): in a CSV cell or a YAML
    scalar it killed the whole batch (exit 70, no verdict); now that record is an error
    naming its line and the column, and every other record is judged."""
    import yaml

    base = _deals()
    deals = [dict(base[i % len(base)], id=f"D-{i}") for i in range(1001)]
    deals[500]["amount"] = "5" * 5000  # written as the digits, a CSV cell is text
    csv_file = tmp_path / "bigmid.csv"
    csv_file.write_bytes(_csv_of(deals))
    verdicts = _verdicts([str(csv_file)])
    assert [v["record"] for v in verdicts] == list(range(2, 1003))
    # the bad cell is not the id cell: the error verdict still names the deal
    assert [v["deal"] for v in verdicts] == [d["id"] for d in deals]
    bad = verdicts[500]
    assert bad["verdict"] == "error" and bad["source"] == str(csv_file) and bad["record"] == 502
    assert "line 502" in bad["error"] and "'amount'" in bad["error"]
    assert "4300 digits" in bad["error"]
    clean = tmp_path / "clean.csv"
    clean.write_bytes(_csv_of([d for i, d in enumerate(deals) if i != 500]))
    judged = [{**v, "record": 0, "source": ""} for v in verdicts]
    assert judged[:500] + judged[501:] == [
        {**v, "record": 0, "source": ""} for v in _verdicts([str(clean)])]

    yaml_file = tmp_path / "deals.yaml"
    docs = [*deals[:4], deals[500]]
    text = yaml.safe_dump_all(docs, allow_unicode=True, sort_keys=False)
    yaml_file.write_text(text.replace("'" + "5" * 5000 + "'", "5" * 5000), "utf-8")
    verdicts = _verdicts([str(yaml_file), str(csv_file)])
    assert len(verdicts) == 5 + 1001
    assert [v["deal"] for v in verdicts[:4]] == [d["id"] for d in docs[:4]]
    assert verdicts[4]["verdict"] == "error" and "4300 digits" in verdicts[4]["error"]
    assert verdicts[4]["record"] > verdicts[3]["record"]
    assert sum(v["verdict"] == "error" for v in verdicts[:5]) == 1
    assert [v["record"] for v in verdicts[5:]] == list(range(2, 1003))  # the batch went on


def _nested(deal: dict[str, object], depth: int) -> bytes:
    """The deal as one JSON line, with a field "x" of lists making it ``depth`` levels deep."""
    return orjson.dumps(deal)[:-1] + b',"x":' + b"[" * (depth - 1) + b"]" * (depth - 1) + b"}"


def test_deep_nesting_gets_the_same_verdict_from_workers(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A record nested 500 deep, read by the parent (stdin, gzip, YAML, JSON), could not be
    pickled to a worker: exit 70, no verdict at all. Nested ~325 deep, it was judged by a
    worker but was 'too complex' in one process (the RecursionError depends on the stack).
    Now any record deeper than MAX_DEPTH is an error item when read, the same everywhere."""
    import gzip

    from cycleflow.batch.readers import MAX_DEPTH, TOO_DEEP

    # (deeper than MAX_FLOW_DEPTH a YAML file is refused whole: test_batch_readers)
    depths = [2, MAX_DEPTH, MAX_DEPTH + 1, 250, 323, 324, 325, 500, 900]
    base = _deals()
    lines = [_nested(dict(base[i], id=f"N-{d}"), d) for i, d in enumerate(depths)]
    jsonl = b"".join(line + b"\n" for line in lines)
    for name, data in [("plain.jsonl", jsonl), ("packed.jsonl.gz", gzip.compress(jsonl)),
                       ("array.json", b"[\n" + b",\n".join(lines) + b"\n]\n"),
                       ("docs.yaml", b"".join(b"--- " + line + b"\n" for line in lines))]:
        (tmp_path / name).write_bytes(data)
    sources = [str(tmp_path / n) for n in ("plain.jsonl", "packed.jsonl.gz", "array.json",
                                           "docs.yaml")]
    for group in ([sources[0]], sources[1:]):  # workers parse the file / the parent reads
        verdicts = _verdicts(group)
        assert len(verdicts) == len(group) * len(depths)
        for n, v in enumerate(verdicts):
            deep = depths[n % len(depths)] > MAX_DEPTH
            assert (v.get("error") == TOO_DEEP) is deep, v
            assert v["deal"] == (None if deep else f"N-{depths[n % len(depths)]}")
    verdicts = _verdicts(["-"], stdin=jsonl, monkeypatch=monkeypatch)
    assert [v["record"] for v in verdicts] == list(range(1, len(depths) + 1))
    assert [v.get("error") == TOO_DEEP for v in verdicts] == [d > MAX_DEPTH for d in depths]



def test_json_nested_past_the_parsers_own_limit_costs_one_verdict(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A 300 KB line nested 150,000 deep (under the 1 MB record cap) made orjson 3.8
    segfault: one process died with no output, --jobs 2 lost every verdict. orjson 3.10
    refuses past 1,024 levels; each such record is one 'too deep' error, the batch goes on."""
    import gzip

    from cycleflow.batch.readers import TOO_DEEP

    depths = [2, 1025, 150_000, 3]
    base = _deals()
    lines = [_nested(dict(base[i], id=f"N-{d}"), d) for i, d in enumerate(depths)]
    jsonl = b"".join(line + b"\n" for line in lines)
    (tmp_path / "plain.jsonl").write_bytes(jsonl)
    (tmp_path / "packed.jsonl.gz").write_bytes(gzip.compress(jsonl))
    (tmp_path / "array.json").write_bytes(b"[\n" + b",\n".join(lines) + b"\n]\n")
    for group in ([str(tmp_path / "plain.jsonl")],
                  [str(tmp_path / "packed.jsonl.gz"), str(tmp_path / "array.json")]):
        verdicts = _verdicts(group)
        assert [v.get("error") == TOO_DEEP for v in verdicts] == [d > 100 for d in depths] * len(
            group)
    verdicts = _verdicts(["-"], stdin=jsonl, monkeypatch=monkeypatch)
    assert [v.get("error") == TOO_DEEP for v in verdicts] == [d > 100 for d in depths]

@pytest.mark.parametrize("first", [b"oops", b"null", b"garbage here, and more"])
def test_a_bad_first_line_on_stdin_costs_one_verdict(
        first: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    """Standard input was guessed to be CSV unless it began with '{': a first line of text
    became a header and every JSON line a ragged row; now lines that look like JSON make it
    JSON Lines, and the odd line is the one error."""
    lines = (ROOT / "examples" / "deals.jsonl").read_bytes().splitlines(keepends=True)
    verdicts = _verdicts(["-"], stdin=first + b"\n" + b"".join(lines), monkeypatch=monkeypatch)
    assert [v["record"] for v in verdicts] == list(range(1, len(lines) + 2))
    assert verdicts[0]["verdict"] == "error" and verdicts[0]["source"] == "<stdin>"
    assert [v["deal"] for v in verdicts[1:]] == [orjson.loads(x)["id"] for x in lines]
    assert all(v["verdict"] != "error" for v in verdicts[1:])


@pytest.mark.parametrize("damage", ["cut", "trailing"])
def test_a_damaged_gzip_keeps_the_verdicts_before_the_damage(tmp_path: Path, damage: str) -> None:
    """A gzip cut mid-stream, or followed by bytes that are not gzip, gave one error verdict
    with record 0 and none for the records before the damage."""
    import gzip
    import zlib

    body = (ROOT / "examples" / "deals.jsonl").read_bytes() * 3
    packed = gzip.compress(body)
    packed = packed[: len(packed) // 2] if damage == "cut" else packed + b"trailing garbage"
    whole = zlib.decompressobj(wbits=31).decompress(packed).count(b"\n")
    src = tmp_path / "deals.jsonl.gz"
    src.write_bytes(packed)
    after = tmp_path / "after.jsonl"
    after.write_bytes(body.splitlines(keepends=True)[0].replace(b"OPP-", b"AFTER-"))
    verdicts = _verdicts([str(src), str(after)])
    assert [v["record"] for v in verdicts] == [*range(1, whole + 2), 1]
    assert all(v["verdict"] != "error" for v in verdicts[:whole])
    bad = verdicts[whole]
    assert bad["verdict"] == "error" and bad["record"] == whole + 1 and bad["source"] == str(src)
    assert bad["error"].startswith(f"read error at line {whole + 1}: ")
    assert verdicts[-1]["deal"].startswith("AFTER-")  # the batch went on
    if damage == "trailing":
        assert whole == body.count(b"\n")


def test_records_of_a_minified_array_are_told_apart(tmp_path: Path) -> None:
    """Every record of a JSON array on one line got record 1: errors and duplicate-id warnings
    could not say which. Now record is the element's 1-based index in such a source."""
    deals = _deals()
    deals[5] = dict(deals[5], id=deals[2]["id"])  # a duplicate id
    src = tmp_path / "deals.json"
    src.write_bytes(orjson.dumps([*deals[:9], 7, *deals[9:]]))  # 7: not a record
    verdicts = _verdicts([str(src)])
    assert [v["record"] for v in verdicts] == list(range(1, len(deals) + 2))
    assert verdicts[9]["verdict"] == "error" and "got number (record 10 starts at line 1, " \
        "column " in verdicts[9]["error"]
    [warning] = [w for w in verdicts[5]["warnings"] if w["rule"] == "duplicate_id"]
    assert warning["message"].endswith(f"first seen at {src}:3")


def test_deals_written_as_csv_read_back_with_their_steps(tmp_path: Path) -> None:
    """A steps cell holding a JSON object (steps as a map of step → who and when), where the
    schema allows an array or an object, was read as a list of one string: every such deal
    was an error. Each deal written as a CSV row is judged as its JSON Lines line is."""
    # CSV cannot tell an absent field from an empty or null one: deals that have neither
    deals = [d for d in _deals() if "decision_maker" in d
             and all(v is not None and v != "" for v in d.values())]
    assert len(deals) > 30 and sum(isinstance(d.get("steps"), dict) for d in deals) > 2
    csv_file = tmp_path / "deals.csv"
    csv_file.write_bytes(_csv_of(deals))
    jsonl = tmp_path / "deals.jsonl"
    jsonl.write_bytes(b"".join(orjson.dumps(d) + b"\n" for d in deals))

    def judged(path: Path) -> list[dict[str, object]]:
        return [{k: v for k, v in x.items() if k not in ("record", "source")}
                for x in _verdicts([str(path)])]

    assert judged(csv_file) == judged(jsonl)


def test_forked_workers_reuse_the_parents_compiled_engine(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Workers forked from the parent judge with its engine: they never load the policy
    again (a worker that tried would fail here, as loading is made to raise)."""
    import multiprocessing as mp

    if "fork" not in mp.get_all_start_methods():
        pytest.skip("no fork on this platform: workers load the policy themselves")
    src = tmp_path / "deals.jsonl"
    src.write_bytes((ROOT / "examples" / "deals.jsonl").read_bytes())
    engine = Engine(load_policy(POLICY))
    serial = b"".join(orjson.dumps(v) + b"\n" for v in verdict_stream(
        engine, [str(src)], BatchOptions(policy_path=POLICY, now=NOW, jobs=1)))

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a worker loaded the policy again")

    monkeypatch.setattr("cycleflow.api.load_policy", refuse)
    options = BatchOptions(policy_path=POLICY, now=NOW, jobs=2)
    got = b"".join(parallel.verdict_blocks(engine, [str(src)], options, Summary()))
    assert got == serial


def test_a_gzip_file_named_jsonl_is_read_as_gzip_by_workers(tmp_path: Path) -> None:
    """Workers split a gzip file named .jsonl into byte ranges and judged the compressed
    bytes as lines ('invalid UTF-8'), where --jobs 1 decompressed it."""
    import gzip

    src = tmp_path / "deals.jsonl"
    src.write_bytes(gzip.compress((ROOT / "examples" / "deals.jsonl").read_bytes()))
    assert plan_chunks([str(src)]) is None
    engine = Engine(load_policy(POLICY))
    serial = b"".join(orjson.dumps(v) + b"\n" for v in verdict_stream(
        engine, [str(src)], BatchOptions(policy_path=POLICY, now=NOW, jobs=1)))
    got = b"".join(parallel.verdict_blocks(
        engine, [str(src)], BatchOptions(policy_path=POLICY, now=NOW, jobs=2), Summary()))
    assert got == serial and b'"verdict":"error"' not in got


@pytest.mark.parametrize("first", [b"\xef\xbb\xbf", b"\xef\xbb\xbf  \r"])
def test_a_byte_order_mark_alone_on_line_1_is_a_blank_line_in_every_mode(
        tmp_path: Path, first: bytes) -> None:
    """One process said 'truncated JSON' for it, workers (and Dask) 'blank line'."""
    src = tmp_path / "deals.jsonl"
    body = (ROOT / "examples" / "deals.jsonl").read_bytes().splitlines()[:3]
    src.write_bytes(first + b"\n" + b"\n".join(body) + b"\n")
    engine = Engine(load_policy(POLICY))
    serial = [v for v in verdict_stream(
        engine, [str(src)], BatchOptions(policy_path=POLICY, now=NOW, jobs=1))]
    assert [v["record"] for v in serial] == [2, 3, 4]
    got = b"".join(parallel.verdict_blocks(
        engine, [str(src)], BatchOptions(policy_path=POLICY, now=NOW, jobs=2), Summary()))
    assert got == b"".join(orjson.dumps(v) + b"\n" for v in serial)
