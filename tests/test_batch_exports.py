"""CRM exports as they come: old-Mac line ends, UTF-16, trailing commas, API wrappers.

Each case is one a data engineer met: the batch must read the export as Python's own
readers do, or say in plain words what is wrong with the file and how to fix it.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from cycleflow import Engine, load_policy
from cycleflow.batch import parallel, readers
from cycleflow.batch.parallel import BatchOptions, verdict_stream
from cycleflow.batch.readers import RecordItem, iter_records
from cycleflow.decide.engine import resolve_now
from cycleflow.report.summary import Summary

ROOT = Path(__file__).resolve().parent.parent
EXPORTS = Path(__file__).parent / "data" / "exports"
POLICY = str(ROOT / "policies" / "standard-sales-cycle.yaml")
NOW = resolve_now("2026-11-26T12:00:00Z")
DEALS: list[dict[str, Any]] = [
    orjson.loads(line) for line in (ROOT / "examples" / "deals.jsonl").read_bytes().splitlines()
]


def read(path: Path | str, **kw: Any) -> list[RecordItem]:
    return list(iter_records([str(path)], **kw))


def read_bytes(data: bytes, **kw: Any) -> list[RecordItem]:
    return list(iter_records(["-"], stdin=io.BytesIO(data), **kw))


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def deals_csv(deals: list[dict[str, Any]], lineterminator: str = "\r\n",
              header: list[str] | None = None) -> str:
    """The deals as a CSV export: one column per field, objects and lists as JSON cells."""
    columns: list[str] = []
    for d in deals:
        columns += [k for k in d if k not in columns]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator=lineterminator)
    writer.writerow(header or columns)
    for d in deals:
        writer.writerow([_cell(d.get(k)) for k in columns])
    return buf.getvalue()


def deals_jsonl(deals: list[dict[str, Any]], ends: list[bytes]) -> bytes:
    """One deal per line, line ``i`` ending in ``ends[i % len(ends)]``."""
    return b"".join(orjson.dumps(d) + ends[i % len(ends)] for i, d in enumerate(deals))


def shape(items: list[RecordItem]) -> list[tuple[int, Any]]:
    """(position, record or error) per item."""
    return [(i.position, i.record if i.record is not None else f"ERR {i.error}") for i in items]


def serial_verdicts(src: Path) -> bytes:
    engine = Engine(load_policy(POLICY))
    return b"".join(orjson.dumps(v) + b"\n" for v in verdict_stream(
        engine, [str(src)], BatchOptions(policy_path=POLICY, now=NOW, jobs=1)))


def parallel_verdicts(src: Path) -> bytes:
    engine = Engine(load_policy(POLICY))
    return b"".join(parallel.verdict_blocks(
        engine, [str(src)], BatchOptions(policy_path=POLICY, now=NOW, jobs=2), Summary()))


# --------------------------------------------------------------------------- lone CR line ends


def test_csv_with_lone_cr_line_ends_reads_every_row(tmp_path: Path) -> None:
    """Excel's "CSV (Macintosh)" ends rows with a lone CR: one verdict for the whole file."""
    text = deals_csv(DEALS[:8], "\r")
    (tmp_path / "lf.csv").write_text(text.replace("\r", "\n"), "utf-8")
    (tmp_path / "cr.csv").write_text(text, "utf-8", newline="")
    cr, lf = read(tmp_path / "cr.csv"), read(tmp_path / "lf.csv")
    assert len(cr) == 8 and all(i.ok for i in cr)
    assert shape(cr) == shape(lf)
    assert [i.position for i in cr] == list(range(2, 10))


def test_csv_cr_in_a_quoted_cell_stays_and_one_outside_ends_the_row(tmp_path: Path) -> None:
    """As Python's csv.reader(open(path, newline='')) reads it, line numbers too."""
    data = (b"id,stage,note\n"
            b'L1,lost,"line one\rline two"\n'      # a CR inside quotes: part of the cell
            b"L2,lost,price\r"                     # a lone CR ends the row
            b"L3,lost,\n"
            b"L4,lost,unquoted\rcr inside\n")       # outside quotes: the row ends there
    path = tmp_path / "crcell.csv"
    path.write_bytes(data)
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        rows = [(reader.line_num, row) for row in reader]
    assert [n for n, _ in rows] == [1, 3, 4, 5, 6, 7]  # csv counts every line end
    items = read(path)
    assert shape(items) == [
        (2, {"id": "L1", "stage": "lost", "note": "line one\rline two"}),
        (4, {"id": "L2", "stage": "lost", "note": "price"}),
        (5, {"id": "L3", "stage": "lost"}),
        (6, {"id": "L4", "stage": "lost", "note": "unquoted"}),
        (7, "ERR row has 1 field, header has 3"),
    ]
    header = rows[0][1]
    assert [i.record for i in items[:4]] == [
        {k: v for k, v in zip(header, row, strict=True) if v} for _, row in rows[1:5]]


def test_a_big_csv_with_lone_cr_line_ends_is_read_past_the_record_cap() -> None:
    """The cap cut a 'line' at max_record_bytes: a CR-only file was one oversized line."""
    deals = [dict(DEALS[i % len(DEALS)], id=f"D-{i}") for i in range(5000)]
    data = deals_csv(deals, "\r").encode()
    assert len(data) > 2 * (1 << 20)
    items = read_bytes(data, fmt="csv", max_record_bytes=4000)
    assert [i.position for i in items] == list(range(2, 5002))
    assert [i.record["id"] for i in items if i.record] == [d["id"] for d in deals]


def test_csv_lone_cr_rows_two_workers_give_what_one_process_gives(tmp_path: Path) -> None:
    src = tmp_path / "cr.csv"
    src.write_text(deals_csv(DEALS, "\r"), "utf-8", newline="")
    serial = serial_verdicts(src)
    assert len(serial.splitlines()) == len(DEALS) and b'"verdict":"error"' not in serial
    assert parallel_verdicts(src) == serial


@pytest.mark.parametrize(("data", "splittable"), [
    (b'{"a": 1}\n{"a": 2}\n', True),
    (b'{"a": 1}\r\n{"a": 2}\r\n', True),
    (b'{"a": 1}\r{"a": 2}\n', False),
    (b'{"a": 1}\n{"a": 2}\r', False),  # a lone CR last
    (b"\xff\xfe" + '{"a": 1}\n'.encode("utf-16-le"), False),
    (b"\xfe\xff" + '{"a": 1}\n'.encode("utf-16-be"), False),
    ('{"a": 1}\n'.encode("utf-32"), False),
    (b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03" + b"x" * 20, False),
], ids=["lf", "crlf", "lone-cr", "lone-cr-last", "utf-16-le", "utf-16-be", "utf-32", "gzip"])
def test_byte_splittable_says_when_workers_may_cut_a_jsonl_file_at_lf(
        tmp_path: Path, data: bytes, splittable: bool) -> None:
    """What parallel's plan_chunks can ask before it splits a file into byte ranges."""
    src = tmp_path / "d.jsonl"
    src.write_bytes(data)
    assert readers.byte_splittable(str(src)) is splittable


def test_byte_splittable_sees_a_crlf_across_read_blocks(tmp_path: Path) -> None:
    src = tmp_path / "d.jsonl"
    for tail, splittable in ((b"\n{}\r\n", True), (b"{}\n", False)):
        src.write_bytes(b"{}" + b" " * ((1 << 20) - 3) + b"\r" + tail)
        assert readers.byte_splittable(str(src)) is splittable
    assert not readers.byte_splittable(str(tmp_path / "missing.jsonl"))  # the reader says why


# --------------------------------------------------------------------------- UTF-16 and UTF-32


WIDE = ["utf-16", "utf-16-le-bom", "utf-16-be-bom", "utf-32"]


def wide(text: str, encoding: str) -> bytes:
    """``text`` in ``encoding``, always with its byte order mark (as Excel and Notepad write)."""
    if encoding == "utf-16-le-bom":
        return b"\xff\xfe" + text.encode("utf-16-le")
    if encoding == "utf-16-be-bom":
        return b"\xfe\xff" + text.encode("utf-16-be")
    return text.encode(encoding)


@pytest.mark.parametrize("encoding", WIDE)
def test_a_utf16_csv_export_reads_as_its_utf8_twin(tmp_path: Path, encoding: str) -> None:
    """Excel's "Unicode text" and many Windows tools write UTF-16 with a byte order mark:
    every line was 'invalid UTF-8', and more verdicts than rows came out."""
    text = deals_csv(DEALS)
    (tmp_path / "utf8.csv").write_text(text, "utf-8", newline="")
    (tmp_path / "wide.csv").write_bytes(wide(text, encoding))
    expected = shape(read(tmp_path / "utf8.csv"))
    assert len(expected) == len(DEALS) and all(not str(r).startswith("ERR") for _, r in expected)
    assert shape(read(tmp_path / "wide.csv")) == expected
    assert shape(read_bytes(wide(text, encoding))) == expected  # sniffed, from stdin


@pytest.mark.parametrize("encoding", WIDE)
def test_utf16_json_and_yaml_read_as_their_utf8_twins(tmp_path: Path, encoding: str) -> None:
    text = json.dumps(DEALS[:5], indent=2, ensure_ascii=False)
    (tmp_path / "utf8.json").write_text(text, "utf-8")
    (tmp_path / "wide.json").write_bytes(wide(text, encoding))
    assert shape(read(tmp_path / "wide.json")) == shape(read(tmp_path / "utf8.json"))
    (tmp_path / "wide.yaml").write_bytes(wide("- id: Zoë\n  stage: won\n- id: b\n", encoding))
    assert shape(read(tmp_path / "wide.yaml")) == [
        (1, {"id": "Zoë", "stage": "won"}), (3, {"id": "b"})]


def test_a_big_gzipped_utf16_csv_with_lone_crs_and_emoji_across_read_chunks(
        tmp_path: Path) -> None:
    """Decoding goes chunk by chunk: a surrogate pair or a CRLF may fall across two."""
    deals = [dict(DEALS[i % len(DEALS)], id=f"D-{i}-😀") for i in range(2500)]
    text = deals_csv(deals, "\r")
    data = gzip.compress(wide(text, "utf-16"))
    (tmp_path / "big.csv.gz").write_bytes(data)
    assert len(wide(text, "utf-16")) > 2 * (1 << 20)
    items = read(tmp_path / "big.csv.gz", max_record_bytes=4000)
    assert [i.position for i in items] == list(range(2, 2502))
    assert [i.record["id"] for i in items if i.record] == [d["id"] for d in deals]


def test_broken_utf16_costs_only_the_lines_it_is_on(tmp_path: Path) -> None:
    """Half a surrogate pair, or an odd byte at the end (a file cut short): an error on that
    line, the other rows read."""
    data = wide("id,stage\na,won\nb,lost\nc,won\n", "utf-16-le-bom")
    lone = data.replace("b,".encode("utf-16-le"), "\ud800,".encode("utf-16-le", "surrogatepass"))
    (tmp_path / "lone.csv").write_bytes(lone)
    items = read(tmp_path / "lone.csv")
    assert [(i.position, i.ok) for i in items] == [(2, True), (3, False), (4, True)]
    assert "line 3" not in (items[1].error or "x") and items[1].error
    (tmp_path / "odd.csv").write_bytes(data[:-1])  # the last LF cut in half
    items = read(tmp_path / "odd.csv")
    assert [(i.position, i.ok) for i in items] == [(2, True), (3, True), (4, False)]


def test_a_utf16_csv_two_workers_give_what_one_process_gives(tmp_path: Path) -> None:
    src = tmp_path / "utf16.csv"
    src.write_bytes(wide(deals_csv(DEALS), "utf-16"))
    serial = serial_verdicts(src)
    assert len(serial.splitlines()) == len(DEALS) and b'"verdict":"error"' not in serial
    assert parallel_verdicts(src) == serial


# --------------------------------------------------------------------------- trailing delimiters


def test_a_trailing_comma_on_every_line_is_an_unnamed_empty_last_column() -> None:
    """Exports that end each line with the delimiter: every row was 'the header on line 1
    has an empty column name'."""
    items = read(EXPORTS / "trailing-comma.csv")
    assert shape(items) == [
        (2, {"id": "L1", "stage": "lost", "owner": "ann", "lost_reason": "no budget"}),
        (3, {"id": "L2", "stage": "lost", "owner": "ann", "lost_reason": 'multi\nline "reason"'}),
        (5, {"id": "L3", "stage": "lost", "owner": "bo"}),  # no cell at all for the unnamed column
        (6, "ERR line 6: column 5 has no name in the header on line 1, but this row has "
            "'price' in it; name the column in the header, or leave its cells empty"),
        (7, {"id": "L5", "stage": "lost", "owner": "bo", "lost_reason": "timing"}),
        (8, "ERR row has 3 fields, header has 5"),
        (9, "ERR row has 6 fields, header has 5"),
    ]


def test_several_unnamed_last_columns_and_one_in_the_middle(tmp_path: Path) -> None:
    p = tmp_path / "t.csv"
    p.write_bytes(b"id,stage,,\nA,won,,\nB,won, ,\nC,won,,x\n")
    assert shape(read(p)) == [
        (2, {"id": "A", "stage": "won"}), (3, {"id": "B", "stage": "won"}),
        (4, "ERR line 4: column 4 has no name in the header on line 1, but this row has 'x' "
            "in it; name the column in the header, or leave its cells empty")]
    p.write_bytes(b"id,,stage\nA,,won\n")  # in the middle: the header is wrong
    assert shape(read(p)) == [(2, "ERR the header on line 1 has an empty column name")]


def test_trailing_commas_through_the_batch_keep_the_verdicts(tmp_path: Path) -> None:
    plain, trailing = tmp_path / "plain.csv", tmp_path / "trailing.csv"
    text = deals_csv(DEALS, "\n")
    plain.write_text(text, "utf-8")
    trailing.write_text("".join(line + ",\n" for line in text.splitlines()), "utf-8")
    assert serial_verdicts(trailing).replace(b"trailing.csv", b"plain.csv") == serial_verdicts(
        plain)


# --------------------------------------------------------------------------- JSON named .jsonl

DOCUMENT = ("this file looks like one JSON document (an array or pretty-printed JSON), not "
            "JSON Lines (one object per line); name it .json, or write one object per line")


@pytest.mark.parametrize(("text", "first"), [
    (json.dumps(DEALS[:3], indent=2), "'['"),
    (json.dumps({"records": DEALS[:2]}, indent=4), "'{'"),
    ('{"records": [\n' + ",\n".join(json.dumps(d) for d in DEALS[:3]) + "\n]}\n",
     "'{\"records\": ['"),
    ("[" + ",\n".join(json.dumps(d) for d in DEALS[:3]) + "]\n",
     repr(("[" + json.dumps(DEALS[0]))[:37] + "...")),
], ids=["array", "object", "opening-line", "array-one-per-line"])
def test_a_json_document_named_jsonl_says_so_on_its_first_line(
        tmp_path: Path, text: str, first: str) -> None:
    """1,820 error verdicts for 56 deals, and none said why: one verdict per line stays (the
    suffix says JSON Lines), the first says what happened, in one process and in workers."""
    src = tmp_path / "deals.jsonl"
    src.write_text(text, "utf-8")
    items = read(src)
    lines = [n for n, line in enumerate(text.split("\n"), 1) if line.strip()]
    assert [i.position for i in items] == lines and not any(i.ok for i in items[:1])
    assert items[0].error == f"line 1 is {first}: {DOCUMENT}"
    assert all(DOCUMENT not in (i.error or "") for i in items[1:])
    serial = serial_verdicts(src)
    assert orjson.loads(serial.splitlines()[0])["error"] == items[0].error
    assert parallel_verdicts(src) == serial


def test_a_bad_first_jsonl_line_that_is_no_document_keeps_its_own_error(tmp_path: Path) -> None:
    src = tmp_path / "deals.jsonl"
    src.write_bytes(b'{"id": "a", "stage": "won"\n{"id": "b"}\n')
    assert read(src)[0].error == "truncated JSON: Expecting ',' delimiter at column 27"
    src.write_bytes(b"\xef\xbb\xbf[\n" + orjson.dumps(DEALS[0]) + b"\n]\n")  # a BOM first
    assert read(src)[0].error == f"line 1 is '[': {DOCUMENT}"


# --------------------------------------------------------------------------- API responses


def _wrapped(n: int, key: str, source: Path | str) -> str:
    return (f"this object holds a list of {n} records under {key!r} and no deal fields "
            f"('id', 'stage'); extract them first, e.g. jq -c '.{key}[]' {source} > deals.jsonl")


@pytest.mark.parametrize(("name", "n", "key"), [
    ("salesforce.json", 2, "records"), ("hubspot.json", 3, "results")])
def test_an_api_response_is_not_unwrapped_and_its_error_says_how_to(
        name: str, n: int, key: str) -> None:
    """Salesforce's {"records": [...]} and HubSpot's {"results": [...]} were one record,
    'the deal has no 'stage''."""
    src = EXPORTS / name
    [item] = read(src)
    assert (item.position, item.error) == (1, _wrapped(n, key, src))
    [verdict] = [orjson.loads(line) for line in serial_verdicts(src).splitlines()]
    assert verdict["verdict"] == "error" and verdict["error"] == _wrapped(n, key, src)


def test_api_responses_in_yaml_arrays_and_stdin(tmp_path: Path) -> None:
    data = b"[\n" + orjson.dumps({"data": DEALS[:1]}) + b",\n" + orjson.dumps(DEALS[1]) + b"]"
    assert shape(read_bytes(data)) == [(2, f"ERR {_wrapped(1, 'data', 'FILE')}".replace(
        "1 records", "1 record")), (3, DEALS[1])]
    packed = read_bytes(json.dumps([DEALS[0], {"data": DEALS[:1]}]).encode())
    assert packed[1].error == _wrapped(1, "data", "FILE").replace("1 records", "1 record") + (
        f" (record 2 starts at line 1, column {len(json.dumps(DEALS[0])) + 4})")
    src = tmp_path / "deals.yaml"
    src.write_text("items:\n  - id: a\n    stage: won\n  - id: b\n    stage: won\n", "utf-8")
    assert shape(read(src)) == [(1, f"ERR {_wrapped(2, 'items', src)}")]
    src = tmp_path / "my deals.json"
    src.write_text(json.dumps({"deals": DEALS[:2]}), "utf-8")
    assert read(src)[0].error == _wrapped(2, "deals", f"'{src}'")  # quoted for the shell


def test_a_deal_with_a_list_of_objects_is_still_a_deal() -> None:
    """Only an object with neither 'id' nor 'stage' is taken for a wrapper."""
    for deal in ({"id": "X", "items": [{"sku": "A"}]}, {"stage": "won", "data": [{"a": 1}]},
                 {"records": [1, 2]}, {"records": []}, {"note": "no list here"}):
        assert shape(read_bytes(json.dumps(deal).encode(), fmt="json")) == [(1, deal)]


# --------------------------------------------------------------------------- messages


@pytest.mark.parametrize(("sep", "words"), [
    (";", "';': the file looks semicolon-separated"),
    ("\t", "tabs: the file looks tab-separated"),
])
def test_a_semicolon_or_tab_separated_csv_says_so(tmp_path: Path, sep: str, words: str) -> None:
    """Every row was 'row has 8 fields, header has 1' (or, with no comma in a row, 'the deal
    has no 'stage''): a European Excel export, or Excel's tab-separated 'Unicode text'."""
    src = tmp_path / "deals.csv"
    src.write_text(f"id{sep}stage{sep}note\nA{sep}won{sep}x, y\nB{sep}won{sep}z\n", "utf-8")
    shown = repr(f"id{sep}stage{sep}note")
    expected = (f"ERR the header on line 1 has no 'stage' column but a name holding {words} "
                f"({shown}); re-export it with commas between the columns")
    assert shape(read(src)) == [(2, expected), (3, expected)]


def test_a_header_in_another_case_says_column_names_are_case_sensitive(tmp_path: Path) -> None:
    """'Stage', 'ID': every row was 'the deal has no 'stage''."""
    src = tmp_path / "deals.csv"
    text = deals_csv(DEALS[:3], header=None)
    header, _, rows = text.partition("\r\n")
    src.write_text(header.title() + "\r\n" + rows, "utf-8")
    types = {"amount": frozenset({"number"})}
    expected = ("ERR the header on line 1 has 'Stage' and no 'stage'; column names are "
                "case-sensitive: rename 'Stage' to 'stage' (and 'Id' to 'id', 'Amount' to "
                "'amount')")
    assert shape(read(src, field_types=types)) == [(2, expected), (3, expected), (4, expected)]
    src.write_text("ID,STAGE\nA,won\n", "utf-8")
    assert shape(read(src)) == [(2, "ERR the header on line 1 has 'STAGE' and no 'stage'; "
                                    "column names are case-sensitive: rename 'STAGE' to 'stage' "
                                    "(and 'ID' to 'id')")]
    src.write_text("id,stage,Amount\nA,won,1\n", "utf-8")  # has 'stage': judged as it is
    assert shape(read(src, field_types=types)) == [(2, {"id": "A", "stage": "won", "Amount": "1"})]


def test_json_errors_read_as_one_sentence(tmp_path: Path) -> None:
    """'invalid JSON: Invalid control character at at column 12'."""
    src = tmp_path / "odd.jsonl"
    src.write_bytes(b'{"id": "]]>\x01", broken\n{"id": "a\tb"}\n{"id": "open\n')
    assert [i.error for i in read(src)] == [
        "invalid JSON: a control character (U+0001) inside a string at column 12; write it "
        "as an escape such as \\u0001, or remove it",
        "invalid JSON: a control character (U+0009) inside a string at column 10; write it "
        "as an escape such as \\t, or remove it",
        "truncated JSON: Unterminated string starting at column 8",
    ]
    src.write_bytes(b'{"id": "\\ud83d", "stage": "won"}\n')
    assert read(src)[0].error == (
        "invalid JSON: a \\u escape holds half a character (an unpaired surrogate, as in a "
        "cut emoji) at column 9; fix or remove it")


# --------------------------------------------------------------------------- JSON Lines, pending
# (with parallel.plan_chunks and dask_runner._plain_jsonl asking readers.byte_splittable)

@pytest.mark.parametrize("ends", [[b"\r"], [b"\n", b"\r\n", b"\r"]], ids=["cr", "mixed"])
def test_jsonl_lone_cr_ends_a_line(tmp_path: Path, ends: list[bytes]) -> None:
    (tmp_path / "lf.jsonl").write_bytes(deals_jsonl(DEALS[:9], [b"\n"]))
    (tmp_path / "cr.jsonl").write_bytes(deals_jsonl(DEALS[:9], ends))
    cr, lf = read(tmp_path / "cr.jsonl"), read(tmp_path / "lf.jsonl")
    assert shape(cr) == shape(lf) and [i.position for i in cr] == list(range(1, 10))
    gz = tmp_path / "cr.jsonl.gz"
    gz.write_bytes(gzip.compress((tmp_path / "cr.jsonl").read_bytes()))
    assert shape(read(gz)) == shape(lf)


def test_jsonl_line_numbers_count_lone_crs(tmp_path: Path) -> None:
    # a whole line that parses with a CR in it holds one record (CR is JSON whitespace);
    # where the text around a CR is no record, the CR ends a line and lines count it
    data = b'{"id": "a"}\r\t\n{"id": "b"}\n{"id": \r"c"}\r\n\r{"id": "d"}\r'
    assert [(i.position, i.record or i.error) for i in read_bytes(data, fmt="jsonl")] == [
        (1, {"id": "a"}), (2, {"id": "b"}), (3, {"id": "c"}), (5, {"id": "d"})]
    data = b'{"id": "a"}\r{"id": "b"}\n{"id": "c"}\n'
    assert [(i.position, i.record or i.error) for i in read_bytes(data, fmt="jsonl")] == [
        (1, {"id": "a"}), (2, {"id": "b"}), (3, {"id": "c"})]


def test_jsonl_lone_cr_file_larger_than_the_record_cap_and_a_read_chunk(tmp_path: Path) -> None:
    """The cap cut a line at max_record_bytes: a CR-only file was one oversized 'line'."""
    deals = [dict(DEALS[i % len(DEALS)], id=f"D-{i}") for i in range(5000)]
    data = deals_jsonl(deals, [b"\r"])
    assert len(data) > 2 * (1 << 20)
    items = read_bytes(data, fmt="jsonl", max_record_bytes=4000)
    assert [i.position for i in items] == list(range(1, 5001))
    assert [i.record["id"] for i in items if i.record] == [d["id"] for d in deals]


def test_jsonl_over_the_cap_with_lone_crs_costs_one_line(tmp_path: Path) -> None:
    big = b'{"id": "big", "pad": "' + b"x" * 100 + b'"}'
    for end in (b"\r", b"\r\n", b"\n"):
        data = b'{"id": "a"}\r' + big + end + b'{"id": "b"}\r' + big[:48] + b'"}\r\n{"id": "c"}'
        items = read_bytes(data, fmt="jsonl", max_record_bytes=len(big) - 1)
        assert [(i.position, (i.record or {}).get("id") or i.error) for i in items] == [
            (1, "a"), (2, f"record over {len(big) - 1} bytes"), (3, "b"),
            (4, "big"), (5, "c")], end
    # a CRLF cut by the cap right after its CR
    line = b'{"id": "' + b"y" * 40 + b'"}'
    data = b"\r" + line + b"\r\n" + b'{"id": "z"}\n'
    items = read_bytes(data, fmt="jsonl", max_record_bytes=len(line) - 1)
    assert [(i.position, i.error or i.record) for i in items] == [
        (2, f"record over {len(line) - 1} bytes"), (3, {"id": "z"})]


@pytest.mark.parametrize("ends", [[b"\r"], [b"\n", b"\r\n", b"\r"]], ids=["cr", "mixed"])
def test_jsonl_lone_cr_two_workers_give_what_one_process_gives(
        tmp_path: Path, ends: list[bytes]) -> None:
    src = tmp_path / "deals.jsonl"
    src.write_bytes(deals_jsonl(DEALS, ends))
    serial = serial_verdicts(src)
    assert len(serial.splitlines()) == len(DEALS)
    assert parallel_verdicts(src) == serial


@pytest.mark.parametrize("encoding", WIDE)
def test_utf16_jsonl_reads_as_its_utf8_twin_in_one_process_and_in_workers(
        tmp_path: Path, encoding: str) -> None:
    """PowerShell 5's Out-File writes UTF-16: 58 'invalid UTF-8' verdicts for 56 deals."""
    text = deals_jsonl(DEALS, [b"\n"]).decode()
    (tmp_path / "utf8.jsonl").write_text(text, "utf-8")
    src = tmp_path / "wide.jsonl"
    src.write_bytes(wide(text, encoding))
    assert shape(read(src)) == shape(read(tmp_path / "utf8.jsonl"))
    serial = serial_verdicts(src)
    assert serial == serial_verdicts(tmp_path / "utf8.jsonl").replace(b"utf8.jsonl", b"wide.jsonl")
    assert parallel_verdicts(src) == serial


LATIN = " (the file may be in a Windows or Latin-1 encoding: re-export it as UTF-8)"


def test_latin1_bytes_suggest_the_encoding(tmp_path: Path) -> None:
    src = tmp_path / "cp1252.csv"
    src.write_bytes("id,stage,customer\r\nL1,won,Café Müller\r\nL2,won,plain\r\n".encode("cp1252"))
    assert shape(read(src)) == [(2, f"ERR invalid UTF-8 at byte 11 of the line{LATIN}"),
                                (3, {"id": "L2", "stage": "won", "customer": "plain"})]
    src = tmp_path / "cp1252.jsonl"
    src.write_bytes('{"id": "Café"}\n{"id": "b"}\n'.encode("cp1252"))
    assert read(src)[0].error == f"invalid UTF-8 at byte 12 of the line{LATIN}"
    assert parallel_verdicts(src) == serial_verdicts(src)


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_cell_error_keeps_the_rows_deal_id(tmp_path: Path, jobs: str) -> None:
    """'1,000' in the amount column: the error verdict named no deal, so it could not be
    joined back to the CRM record although its id cell was fine (data-engineer review)."""
    path = tmp_path / "deals.csv"
    path.write_text('id,stage,stage_entered_at,owner,amount\n'
                    'D-1,prospect,2026-11-01T10:00:00Z,ann,"1,000"\n'
                    ',prospect,2026-11-01T10:00:00Z,ann,"2,000"\n', "utf-8")
    run = subprocess.run([sys.executable, "-m", "cycleflow", "check", "-p", POLICY, str(path),
                          "--now", "2026-11-26T12:00:00Z", "--format", "jsonl", "--jobs", jobs],
                         capture_output=True, text=True, timeout=120)
    first, second = (json.loads(line) for line in run.stdout.splitlines())
    assert (first["deal"], first["verdict"], first["record"]) == ("D-1", "error", 2)
    assert "'1,000' is not a number" in first["error"]
    assert (second["deal"], second["verdict"]) == (None, "error")


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_cr_between_json_tokens_is_whitespace_not_a_line_end(tmp_path: Path,
                                                                jobs: str) -> None:
    """A valid record with ',\\r"owner"' inside became two error records and every later
    record number moved by one (QA pass): JSON allows CR as whitespace."""
    lines = (ROOT / "examples" / "deals.jsonl").read_bytes().splitlines(keepends=True)
    assert b', "owner"' in lines[3]
    lines[3] = lines[3].replace(b', "owner"', b',\r"owner"', 1)
    path = tmp_path / "deals.jsonl"
    path.write_bytes(b"".join(lines))
    run = subprocess.run([sys.executable, "-m", "cycleflow", "check", "-p", POLICY, str(path),
                          "--now", "2026-11-26T12:00:00Z", "--format", "jsonl", "--jobs", jobs],
                         capture_output=True, text=True, timeout=120)
    verdicts = [json.loads(line) for line in run.stdout.splitlines()]
    records = [json.loads(line) for line in lines if line.strip()]
    assert [v["deal"] for v in verdicts] == [r["id"] for r in records]
    assert [v["record"] for v in verdicts] == list(range(1, len(records) + 1))
    assert "error" not in {v["verdict"] for v in verdicts}
