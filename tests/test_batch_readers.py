"""Batch readers: every record gives exactly one item, in order, with its line; none is dropped."""

from __future__ import annotations

import csv
import gzip
import io
import os
import re
import zlib
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cycleflow.batch.readers import (
    DuplicateTracker,
    RecordItem,
    iter_files,
    iter_records,
    parse_jsonl_line,
)
from cycleflow.batch.typing import CellError, RowTyper, convert_cell, field_types_from_schema

DATA = Path(__file__).parent / "data" / "deals"

TYPES = {
    "amount": frozenset({"number"}),
    "discount_pct": frozenset({"number"}),
    "steps": frozenset({"array", "object"}),
    "contract_signed": frozenset({"boolean"}),
    "decision_maker": frozenset({"string", "null"}),
    "seats": frozenset({"integer"}),
}


def read(path: Path | str, **kw: object) -> list[RecordItem]:
    return list(iter_records([str(path)], **kw))  # type: ignore[arg-type]


def read_bytes(data: bytes, **kw: object) -> list[RecordItem]:
    return list(iter_records(["-"], stdin=io.BytesIO(data), **kw))  # type: ignore[arg-type]


def summary(items: list[RecordItem]) -> list[tuple[int, str | None]]:
    """(position, deal id or the error) per item."""
    return [(i.position, i.record.get("id") if i.record else f"ERR {i.error}") for i in items]


# --------------------------------------------------------------------------- the shared samples


def test_sample_ragged_csv_every_data_row_has_one_item() -> None:
    path = DATA / "batch-ragged.csv"
    raw = path.read_bytes()
    # Count the data rows by hand: physical lines, minus the header, the blank line 18 and
    # line 7 (the second line of D-C06's quoted name).
    physical = raw.split(b"\n")
    assert len(physical) == 25 and physical[17].strip() == b""
    expected_positions = [n for n in range(2, 26) if n not in (7, 18)]
    items = read(path, field_types=TYPES)
    assert [i.position for i in items] == expected_positions
    assert all(i.source == str(path) for i in items)
    by_line = {i.position: i for i in items}
    assert by_line[4].error == "row has 3 fields, header has 8"
    assert by_line[5].error == "row has 10 fields, header has 8"
    assert by_line[6].record is not None and by_line[6].record["name"] == "Multi\nline Ltd"
    assert by_line[3].record is not None and by_line[3].record["name"] == "Acme, Inc."
    for line in (8, 9):  # "1,000" and "1.000,50" are refused, not guessed
        err = by_line[line].error
        assert err is not None and "amount" in err and f"line {line}" in err
        assert "thousands separators" in err
    assert by_line[10].record is not None and "amount" not in by_line[10].record  # empty: absent
    assert by_line[11].record is not None and by_line[11].record["amount"] == 100
    assert "NaN is not allowed" in (by_line[12].error or "")
    assert "Infinity is not allowed" in (by_line[13].error or "")
    assert "out of range" in (by_line[14].error or "")
    assert by_line[16].record is not None and len(by_line[16].record["name"]) > 100_000
    assert by_line[17].record is not None and "\x00" in by_line[17].record["name"]
    assert by_line[20].record is not None and "id" not in by_line[20].record
    assert by_line[21].record is not None
    assert by_line[21].record["steps"] == ["first_contact", "needs_analysis"]
    assert by_line[2].record is not None and by_line[2].record["amount"] == 12000
    # The unclosed quote on line 23 is reported there, and the two lines after it still read.
    assert "unclosed quote" in (by_line[23].error or "")
    assert by_line[24].record is not None and by_line[24].record["id"] == "D-C24"
    assert by_line[25].record is not None and by_line[25].record["owner"] == "ann"


def test_sample_bom_header() -> None:
    items = read(DATA / "bom-header.csv", field_types=TYPES)
    assert summary(items) == [(2, "D-B02"), (3, "D-B03")]
    assert items[0].record is not None and items[0].record["amount"] == 12000


def test_samples_are_the_shared_ones_when_available() -> None:
    shared = Path(__file__).parents[1].parent / "shared" / "adversarial-sample" / "deals"
    if not shared.is_dir():
        pytest.skip("no ../shared beside the project")
    for f in shared.iterdir():
        assert (DATA / f.name).read_bytes() == f.read_bytes(), f.name


def test_own_samples() -> None:
    items = read(DATA / "mixed.jsonl")
    assert [i.position for i in items] == [1, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14]
    errors = {i.position: i.error or "" for i in items}
    assert errors[3].startswith("truncated JSON")
    assert errors[4].startswith("NaN is not allowed")
    assert errors[5].startswith("Infinity is not allowed")
    assert errors[6] == "expected an object, got list"
    assert errors[7] == "expected an object, got string"
    assert "out of range" in errors[9]
    assert errors[11].startswith("invalid JSON")
    assert re.fullmatch(r"invalid UTF-8 at byte \d+ of the line \(the file may be in a Windows "
                        r"or Latin-1 encoding: re-export it as UTF-8\)", errors[13])
    assert items[-1].record == {"id": "J-14"}

    items = read(DATA / "array.json")
    assert summary(items)[:2] == [(2, "A-01"), (3, "A-02")]
    assert [i.position for i in items] == [2, 3, 8, 9, 10, 11, 12]
    assert items[2].error == "expected an object, got number"
    assert (items[3].error or "").startswith("NaN is not allowed")
    assert (items[4].error or "").startswith("invalid JSON")
    assert items[5].error == "expected an object, got list"
    assert items[6].record == {"id": "A-07"}

    items = read(DATA / "multi.yaml")
    assert [i.position for i in items] == [2, 6, 9, 11, 15]
    assert items[0].record is not None
    assert items[0].record["stage_entered_at"] == "2026-01-05T09:00:00Z"  # stays a string
    assert "NaN is not allowed" in (items[1].error or "")
    assert items[2].error == "expected an object, got string"
    assert items[3].record == {"id": "Y-04", "stage": "won"}
    assert (items[4].error or "").startswith("invalid YAML")


# --------------------------------------------------------------------------- JSON Lines


def test_jsonl_truncated_line_in_the_middle_and_the_rest_still_read(tmp_path: Path) -> None:
    p = tmp_path / "d.jsonl"
    p.write_bytes(b'{"id": "a"}\n{"id": "b", "amount": 1\n{"id": "c"}\n\n\n{"id": "d"}\n')
    items = read(p)
    assert summary(items)[0] == (1, "a")
    assert items[1].position == 2 and (items[1].error or "").startswith("truncated JSON")
    assert summary(items)[2:] == [(3, "c"), (6, "d")]


def test_jsonl_nan_infinity(tmp_path: Path) -> None:
    p = tmp_path / "d.jsonl"
    p.write_bytes(b'{"a": NaN}\n{"a": -Infinity}\n{"a": Infinity}\n')
    errors = [i.error for i in read(p)]
    assert errors[0] is not None and errors[0].startswith("NaN is not allowed")
    assert errors[1] is not None and errors[1].startswith("Infinity is not allowed")
    assert errors[2] is not None and errors[2].startswith("Infinity is not allowed")


def test_jsonl_bad_utf8_in_the_middle(tmp_path: Path) -> None:
    p = tmp_path / "d.jsonl"
    p.write_bytes(b'{"id": "a"}\n{"id": "\xc3\x28"}\n{"id": "c"}\n')
    items = read(p)
    assert [i.position for i in items] == [1, 2, 3]
    assert items[1].error == ("invalid UTF-8 at byte 9 of the line (the file may be in a "
                              "Windows or Latin-1 encoding: re-export it as UTF-8)")
    assert items[2].record == {"id": "c"}


def test_non_object_records(tmp_path: Path) -> None:
    p = tmp_path / "d.jsonl"
    p.write_bytes(b'[1, 2]\n"x"\n3\nnull\ntrue\n{"id": 1}\n')
    assert [i.error for i in read(p)] == [
        "expected an object, got list",
        "expected an object, got string",
        "expected an object, got number",
        "expected an object, got null",
        "expected an object, got boolean",
        None,
    ]


def test_oversized_records(tmp_path: Path) -> None:
    big = b'{"id": "big", "pad": "' + b"x" * 5000 + b'"}'
    p = tmp_path / "d.jsonl"
    p.write_bytes(b'{"id": "a"}\n' + big + b"\n" + b'{"id": "c"}\n' + big)
    items = read(p, max_record_bytes=1000)
    assert [i.position for i in items] == [1, 2, 3, 4]
    assert items[1].error == "record over 1000 bytes" == items[3].error
    assert items[2].record == {"id": "c"}

    q = tmp_path / "d.json"
    q.write_bytes(b'[{"id": "a"},\n' + big + b',\n{"id": "c"}]')
    items = read(q, max_record_bytes=1000)
    assert [(i.position, i.error) for i in items] == [
        (1, None), (2, "record over 1000 bytes"), (3, None)]

    c = tmp_path / "d.csv"
    c.write_bytes(b"id,pad\na,x\nb," + b"y" * 5000 + b'\nc,"' + b"z\n" * 600 + b'"\nd,w\n')
    items = read(c, max_record_bytes=1000)
    assert items[0].record == {"id": "a", "pad": "x"}
    assert items[1].position == 3 and items[1].error == "record over 1000 bytes"
    assert items[2].position == 4 and "record over 1000 bytes" in (items[2].error or "")
    assert items[-1].record == {"id": "d", "pad": "w"}


def test_blank_and_bom_first_line(tmp_path: Path) -> None:
    p = tmp_path / "d.jsonl"
    p.write_bytes(b'\xef\xbb\xbf{"id": "a"}\r\n\r\n  \n{"id": "b"}')
    assert summary(read(p)) == [(1, "a"), (4, "b")]


def test_empty_file(tmp_path: Path) -> None:
    for name in ("e.jsonl", "e.json", "e.csv", "e.yaml", "e.jsonl.gz"):
        p = tmp_path / name
        p.write_bytes(gzip.compress(b"") if name.endswith(".gz") else b"")
        assert read(p) == [], name


def test_missing_file_and_the_batch_goes_on(tmp_path: Path) -> None:
    ok = tmp_path / "ok.jsonl"
    ok.write_bytes(b'{"id": "a"}\n')
    missing = str(tmp_path / "nope.jsonl")
    items = list(iter_records([missing, str(ok)]))
    assert items[0].source == missing and items[0].position == 0
    assert items[0].record is None and "cannot open" in (items[0].error or "")
    assert items[1].record == {"id": "a"}


def test_unreadable_file(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads any file")
    p = tmp_path / "locked.jsonl"
    p.write_bytes(b"{}\n")
    p.chmod(0)
    [item] = read(p)
    assert item.position == 0 and "cannot open" in (item.error or "")


# --------------------------------------------------------------------------- gzip, stdin, dirs


def test_gzip_by_suffix_and_by_magic(tmp_path: Path) -> None:
    body = b'{"id": "a"}\n{"id": "b"}\n'
    a = tmp_path / "deals.jsonl.gz"
    a.write_bytes(gzip.compress(body))
    b = tmp_path / "deals.data"  # no useful suffix: gzip by its magic, JSON Lines by sniffing
    b.write_bytes(gzip.compress(body))
    c = tmp_path / "deals.csv.gz"
    c.write_bytes(gzip.compress(b"id,amount\nx,5\n"))
    assert summary(read(a)) == [(1, "a"), (2, "b")]
    assert summary(read(b)) == [(1, "a"), (2, "b")]
    assert [i.record for i in read(c, field_types=TYPES)] == [{"id": "x", "amount": 5}]


def _readable(compressed: bytes) -> bytes:
    """What gunzip gets out of ``compressed`` before it stops (cut short or trailing bytes)."""
    return zlib.decompressobj(wbits=31).decompress(compressed)


@pytest.mark.parametrize("name", ["d.jsonl.gz", "d.json.gz", "d.csv.gz", "d.yaml.gz", "d.gz"])
@pytest.mark.parametrize("damage", ["cut", "trailing"])
def test_damaged_gzip_keeps_the_records_before_the_damage(
        tmp_path: Path, name: str, damage: str) -> None:
    """A gzip cut mid-stream gave one error item (position 0) and no record, even for the
    26 records gunzip reads; a valid gzip followed by bytes that are not gzip (gunzip warns
    and goes on) lost all of them. Now every record read whole before the damage is an
    item, then one error item at the line where the damage begins; the next source is read."""
    n = 3000 if name.startswith("d.yaml") else 80_000  # past the sniffed head and a read chunk
    ids = [f"D-{i:04d}" for i in range(n)]
    if name.startswith("d.json."):
        body = b"[\n" + b",\n".join(b'{"id": "%s"}' % i.encode() for i in ids) + b"\n]\n"
    elif name.startswith("d.csv"):
        body = b"id,stage\n" + b"".join(b"%s,won\n" % i.encode() for i in ids)
    elif name.startswith("d.yaml"):
        body = b"".join(b"- id: %s\n  stage: won\n" % i.encode() for i in ids)
    else:  # JSON Lines, by its suffix or sniffed
        body = b"".join(b'{"id": "%s"}\n' % i.encode() for i in ids)
    packed = gzip.compress(body)
    if damage == "cut":
        packed = packed[: len(packed) // 2]
    else:
        packed += b"trailing garbage\n"
    readable = _readable(packed)
    whole_lines = readable.count(b"\n")
    p = tmp_path / name
    p.write_bytes(packed)
    ok = tmp_path / "ok.jsonl"
    ok.write_bytes(b'{"id": "after"}\n')
    items = list(iter_records([str(p), str(ok)]))
    assert items[-1].record == {"id": "after"}
    *records, bad = items[:-1]
    assert all(i.ok for i in records) and not bad.ok and bad.source == str(p)
    got = [i.record["id"] for i in records if i.record]
    assert got == ids[: len(got)]  # in order, none skipped
    positions = [i.position for i in records]
    if damage == "trailing":
        assert len(got) == n and bad.position == whole_lines + 1
        assert "are not gzip" in (bad.error or "")
    else:
        assert "cut short" in (bad.error or "")
        first = {"d.json.gz": 2, "d.csv.gz": 2}.get(name, 1)
        per = 2 if name.startswith("d.yaml") else 1
        if name.startswith("d.yaml"):  # its last record read may be cut: dropped, and named
            assert bad.position == positions[-1] + per
            assert len(got) >= (whole_lines - 1) // per - 1
        else:
            assert len(got) == whole_lines - (first - 1)
            assert bad.position == whole_lines + 1
        assert positions == list(range(first, first + per * len(got), per))
    assert (bad.error or "").startswith(f"read error at line {bad.position}: ")


def test_gzip_cut_right_after_its_header(tmp_path: Path) -> None:
    p = tmp_path / "h.jsonl.gz"
    p.write_bytes(gzip.compress(b'{"id": "a"}\n')[:12])
    [item] = read(p)
    assert item.position == 1 and "cut short" in (item.error or "")


@pytest.mark.parametrize(
    ("data", "ids"),
    [
        (b'{"id": "a"}\n{"id": "b"}\n', ["a", "b"]),  # JSON Lines
        (b'[{"id": "a"},\n {"id": "b"}]', ["a", "b"]),  # JSON array
        (b'{\n  "id": "a"\n}\n', ["a"]),  # pretty JSON object
        (b"id,stage\na,qualified\nb,won\n", ["a", "b"]),  # CSV
        (b"- id: a\n- id: b\n", ["a", "b"]),  # YAML list
        (b"---\nid: a\n---\nid: b\n", ["a", "b"]),  # YAML documents
        (b"id: a\nstage: won\n", ["a"]),  # YAML mapping
    ],
)
def test_stdin_sniffing(data: bytes, ids: list[str]) -> None:
    items = read_bytes(data)
    assert [i.record.get("id") if i.record else i.error for i in items] == ids
    assert all(i.source == "<stdin>" for i in items)
    gz = read_bytes(gzip.compress(data))
    assert [i.record for i in gz] == [i.record for i in items]


UNKNOWN = " (format not recognised: read as JSON Lines, one record per line)"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        # was read as a CSV header: no item at all
        (b"garbage here\n", [(1, "ERR invalid JSON: Expecting value at column 1" + UNKNOWN)]),
        (b"garbage\n\nmore garbage", [(1, "ERR invalid JSON: Expecting value at column 1"
                                        + UNKNOWN), (3, "ERR invalid JSON: Expecting value "
                                                        "at column 1" + UNKNOWN)]),
        # was a CSV header 'oops' and three ragged rows
        (b'oops\n{"id": "a"}\n{"id": "b"}\n{"id": "c"}\n',
         [(1, "ERR invalid JSON: Expecting value at column 1"), (2, "a"), (3, "b"), (4, "c")]),
        (b'{"id": "a"}\noops\n{"id": "b"}\n', [(1, "a"), (2, "ERR invalid JSON: Expecting "
                                                        "value at column 1"), (3, "b")]),
        # a lone value that is not a record was a CSV header or an empty YAML document
        (b"null", [(1, "ERR expected an object, got null")]),
        (b"42\n", [(1, "ERR expected an object, got number")]),
        (b'"text"', [(1, "ERR expected an object, got string")]),
        (b"true\n", [(1, "ERR expected an object, got boolean")]),
        (b"--- null\n", [(1, "ERR expected an object, got null")]),
        (b"- ~\n- id: a\n", [(1, "ERR expected an object, got null"), (2, "a")]),
        # sniffed, yet no record: a header and nothing else, comments only
        (b"id,stage\n", [(1, "ERR not a record: read as a CSV header (the format was guessed), "
                                "and no row follows it; a deal file needs rows")]),
        (b"# notes\n---\n", [(1, "ERR not a record: read as YAML (the format was guessed), "
                                   "and it holds no record")]),
        (b"---\n", [(1, "ERR not a record: read as YAML (the format was guessed), "
                         "and it holds no record")]),
        # still what they were
        (b"id,stage\na,won\n", [(2, "a")]),
        (b"\n\n", []),
        (b"", []),
        (b"[]", []),
    ],
)
def test_sniffing_never_loses_a_record(tmp_path: Path, data: bytes,
                                       expected: list[tuple[int, str]]) -> None:
    """Standard input, or a file named .txt, whose format is guessed: a line that is no
    record, or text of no known format, gets an error item with its line."""
    assert summary(read_bytes(data)) == expected
    p = tmp_path / "deals.txt"
    p.write_bytes(data)
    assert summary(read(p)) == expected


def test_a_yaml_file_of_null_is_an_error_and_an_empty_one_is_not(tmp_path: Path) -> None:
    p = tmp_path / "x.yaml"
    p.write_bytes(b"null\n")
    assert summary(read(p)) == [(1, "ERR expected an object, got null")]
    p.write_bytes(b"# no deals yet\n---\n")
    assert read(p) == []  # named .yaml: an empty file of its format, no guess
    q = tmp_path / "x.csv"
    q.write_bytes(b"id,stage\n")
    assert read(q) == []


def test_stdin_format_override() -> None:
    items = list(iter_records(["-"], stdin=io.BytesIO(b'{"id": "a"}\n'), fmt="csv"))
    assert items == []  # only a header line: no record
    items = list(iter_records(["-"], stdin=io.BytesIO(b'id\n{"x"}\n'), fmt="csv"))
    assert [i.record for i in items] == [{"id": '{"x"}'}]


def test_directories_recursive_sorted(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "deep").mkdir(parents=True)
    (tmp_path / ".hidden").mkdir()
    (tmp_path / "b" / "1.jsonl").write_bytes(b'{"id": "b1"}\n')
    (tmp_path / "a" / "2.csv").write_bytes(b"id\na2\n")
    (tmp_path / "a" / "deep" / "3.yaml").write_bytes(b"- id: a3\n")
    (tmp_path / "a" / "1.json.gz").write_bytes(gzip.compress(b'{"id": "a1"}'))
    (tmp_path / "a" / "notes.txt").write_bytes(b"not a deal file")
    (tmp_path / ".hidden" / "x.jsonl").write_bytes(b'{"id": "hidden"}\n')
    files = [os.path.relpath(p, tmp_path) for p in iter_files(str(tmp_path))]
    assert files == ["a/1.json.gz", "a/2.csv", "a/deep/3.yaml", "b/1.jsonl"]
    items = read(tmp_path)
    assert [i.record.get("id") if i.record else None for i in items] == ["a1", "a2", "a3", "b1"]
    assert items[0].source == os.path.join(str(tmp_path), "a", "1.json.gz")


def test_several_sources_in_order(tmp_path: Path) -> None:
    a = tmp_path / "a.jsonl"
    a.write_bytes(b'{"id": "1"}\n')
    b = tmp_path / "b.csv"
    b.write_bytes(b"id\n2\n")
    items = list(iter_records([str(b), "-", str(a)], stdin=io.BytesIO(b'{"id": "s"}\n')))
    assert [(i.source, i.record and i.record["id"]) for i in items] == [
        (str(b), "2"), ("<stdin>", "s"), (str(a), "1")]


# --------------------------------------------------------------------------- JSON documents


@pytest.mark.parametrize("indent", [False, True])
def test_json_array_streams_elements_with_their_lines(tmp_path: Path, indent: bool) -> None:
    p = tmp_path / "big.json"
    n = 30_000  # more than one read chunk; one element per line, or pretty-printed
    option = orjson.OPT_INDENT_2 if indent else 0
    per = 10 if indent else 1  # lines per element
    with p.open("wb") as f:
        f.write(b"[\n")
        for i in range(n):
            sep = b",\n" if i < n - 1 else b"\n"
            doc = {"id": f"D{i}", "note": "a \"quoted\" ] text " * 3, "n": [1, {"x": "}"}]}
            f.write(orjson.dumps(doc, option=option) + sep)
        f.write(b"]\n")
    items = read(p)
    assert len(items) == n
    assert all(i.record is not None and i.record["id"] == f"D{k}" for k, i in enumerate(items))
    assert [i.position for i in items[:3]] == [2, 2 + per, 2 + 2 * per]
    assert items[-1].position == 2 + (n - 1) * per


def test_minified_json_numbers_records_by_index(tmp_path: Path) -> None:
    """All records of a minified array are on line 1, so they all got record 1 and could not
    be told apart. When records share a line, a record's position is its 1-based index in
    the source, and an error names the line and column its record starts at."""
    n = 30_000  # more than one read chunk on one line
    elements = [b'{"id": "M%d", "note": "}, {\\"x\\": ]"}' % i for i in range(n)]
    elements[7] = b'{"id": "bad", "x": tru}'
    elements[8] = b"42"
    body = b"[" + b",".join(elements) + b"]"
    p = tmp_path / "mini.json"
    p.write_bytes(body)
    items = read(p)
    assert [i.position for i in items] == list(range(1, n + 1))
    assert [i.record["id"] for i in items if i.record] == [
        f"M{i}" for i in range(n) if i not in (7, 8)]
    col = body.index(b'{"id": "bad"') + 1
    assert items[7].error == (f"invalid JSON: Expecting value at line 1 column {col + 19} "
                              f"(record 8 starts at line 1, column {col})")
    assert items[8].error == (f"expected an object, got number (record 9 starts at line 1, "
                              f"column {body.index(b',42,') + 2})")

    p.write_bytes(b'{"id": "a"} {"id": "b"}\n{"id": "c"}\n')  # top-level values count too
    assert summary(read(p)) == [(1, "a"), (2, "b"), (3, "c")]
    p.write_bytes(b'[{"id": "a"},\n {"id": "b"}, {"id": "c"},\n {"id": "d"}]')  # mixed layout
    assert summary(read(p)) == [(1, "a"), (2, "b"), (3, "c"), (4, "d")]
    p.write_bytes(b'[{"id": "a",\n  "n": 1}, {\n  "id": "b"}]')  # '}, {' but one per line
    assert summary(read(p)) == [(1, "a"), (2, "b")]
    p.write_bytes(b'[{"id": "a"}, {"id": "b"}, {"id": "c"')  # the unclosed record is number 3
    assert summary(read(p))[2][0] == 3

    cut = gzip.compress(body)
    p = tmp_path / "mini.json.gz"
    p.write_bytes(cut[: len(cut) // 2])
    *records, bad = read(p)
    assert [i.position for i in records] == list(range(1, len(records) + 1))
    assert len(records) > 100 and bad.position == len(records) + 1
    assert (bad.error or "").startswith("read error at line 1: the compressed data is cut short")


def test_json_truncated_array(tmp_path: Path) -> None:
    p = tmp_path / "t.json"
    p.write_bytes(b'[{"id": "a"},\n{"id": "b"},\n{"id": "c", "x": [1, 2')
    items = read(p)
    assert summary(items)[:2] == [(1, "a"), (2, "b")]
    assert items[2].position == 3 and (items[2].error or "").startswith("truncated JSON")
    p.write_bytes(b'[{"id": "a"},\n{"id": "b"}\n')
    items = read(p)
    assert len(items) == 3 and "not closed" in (items[2].error or "")
    assert items[1].record == {"id": "b"}


def test_json_string_across_read_chunks(tmp_path: Path) -> None:
    # A string longer than a read chunk, with escapes at the edges, must not confuse the scanner.
    body = '\\"' + "]," * 700_000 + '\\\\'
    p = tmp_path / "s.json"
    p.write_bytes(b'[{"id": "a", "s": "' + body.encode() + b'"}, {"id": "b"}]')
    items = read(p, max_record_bytes=2_000_000)
    assert [i.record and i.record["id"] for i in items] == ["a", "b"]
    items = read(p, max_record_bytes=1000)
    assert [i.error for i in items] == [
        "record over 1000 bytes (record 1 starts at line 1, column 2)", None]
    assert [i.position for i in items] == [1, 2]  # one line: numbered by index


def test_json_top_level_scalar(tmp_path: Path) -> None:
    p = tmp_path / "s.json"
    p.write_bytes(b'"just text"')
    [item] = read(p)
    assert item.position == 1 and "expected an object" in (item.error or "")


# --------------------------------------------------------------------------- CSV


def test_csv_multiline_cells_position_is_the_starting_line(tmp_path: Path) -> None:
    p = tmp_path / "m.csv"
    p.write_bytes(
        b'id,note,amount\r\na,"one\r\ntwo\r\nthree",1\r\nb,"say ""hi""\nthere",2\r\nc,plain,3\r\n'
    )
    items = read(p, field_types=TYPES)
    assert summary(items) == [(2, "a"), (5, "b"), (7, "c")]
    assert items[0].record is not None and items[0].record["note"] == "one\r\ntwo\r\nthree"
    assert items[1].record is not None and items[1].record["note"] == 'say "hi"\nthere'


def test_csv_ragged_and_stray_quote(tmp_path: Path) -> None:
    p = tmp_path / "r.csv"
    p.write_bytes(b'id,a,b\nx,1,2\ny,1\nz,"open,1,2\nw,1,2\nv,1,"2"\n')
    items = read(p)
    assert [(i.position, i.error is None) for i in items] == [
        (2, True), (3, False), (4, False), (5, True), (6, True)]
    assert items[1].error == "row has 2 fields, header has 3"
    assert "quote" in (items[2].error or "")


def test_csv_bad_utf8_names_the_line(tmp_path: Path) -> None:
    p = tmp_path / "u.csv"
    p.write_bytes(b"id,name\na,ok\nb,caf\xe9\nc,fine\n")
    items = read(p)
    assert [i.position for i in items] == [2, 3, 4]
    assert items[1].error == ("invalid UTF-8 at byte 6 of the line (the file may be in a "
                              "Windows or Latin-1 encoding: re-export it as UTF-8)")
    assert items[2].record == {"id": "c", "name": "fine"}


def test_csv_header_problems_reach_every_row(tmp_path: Path) -> None:
    p = tmp_path / "h.csv"
    p.write_bytes(b"id,amount,id\na,1,b\nc,2,d\n")
    items = read(p)
    assert [i.position for i in items] == [2, 3]
    assert all("repeats column 'id'" in (i.error or "") for i in items)


def test_csv_typing_through_field_types(tmp_path: Path) -> None:
    p = tmp_path / "t.csv"
    p.write_bytes(
        b"id,amount,contract_signed,steps,decision_maker,seats,other\n"
        b"a,12000.5,YES,first_contact;visit,,7,1\n"
        b"b,12000,false,,Ann,,x\n"
        b"c,1,maybe,,,,\n"
        b"d,1,1,,,7.5,\n"
    )
    items = read(p, field_types=TYPES)
    assert items[0].record == {
        "id": "a", "amount": 12000.5, "contract_signed": True,
        "steps": ["first_contact", "visit"], "decision_maker": None, "seats": 7, "other": "1",
    }
    assert items[1].record == {"id": "b", "amount": 12000, "contract_signed": False,
                               "decision_maker": "Ann", "other": "x"}
    assert "column 'contract_signed'" in (items[2].error or "")
    assert "line 4" in (items[2].error or "")
    assert "column 'seats'" in (items[3].error or "") and "integer" in (items[3].error or "")


@pytest.mark.parametrize(
    ("text", "types", "value"),
    [
        ("12000", {"number"}, 12000),
        ("12000.5", {"number"}, 12000.5),
        ("-3e2", {"number"}, -300.0),
        (" 7 ", {"integer"}, 7),
        ("True", {"boolean"}, True),
        ("no", {"boolean"}, False),
        ("0", {"boolean"}, False),
        ("a;b; c", {"array"}, ["a", "b", "c"]),
        ('["a", 1]', {"array"}, ["a", 1]),
        ('{"k": 1}', {"object"}, {"k": 1}),
        # was ['{"k": 1}']: the array reading won, and the schema refused the steps
        ('{"k": 1}', {"array", "object"}, {"k": 1}),
        (' {"a": {"at": "x"}} ', {"array", "object"}, {"a": {"at": "x"}}),
        ("a;b", {"array", "object"}, ["a", "b"]),
        ("Acme, Inc.;Globex", {"array"}, ["Acme, Inc.", "Globex"]),
        ('["Acme, Inc."]', {"array"}, ["Acme, Inc."]),
        ("a,b", {"array", "string"}, "a,b"),
        ("x", {"string", "null"}, "x"),
        ("", {"string", "null"}, None),
        ("1", {"string", "integer"}, 1),
        ("abc", {"string", "integer"}, "abc"),
    ],
)
def test_convert_cell(text: str, types: set[str], value: object) -> None:
    assert convert_cell("c", text, frozenset(types)) == value


@pytest.mark.parametrize(
    ("text", "types", "fragment"),
    [
        ("1,000", {"number"}, "thousands separators"),
        ("1.000,50", {"number"}, "thousands separators"),
        ("12,5", {"number"}, "decimal point"),
        ("NaN", {"number"}, "NaN is not allowed"),
        ("-inf", {"number"}, "Infinity is not allowed"),
        ("1e999", {"number"}, "out of range"),
        ("twelve", {"integer"}, "is not an integer"),
        ("7.5", {"integer"}, "is not an integer"),
        ("maybe", {"boolean"}, "is not a boolean"),
        ("[1,", {"array"}, "is not a JSON array"),
        ("[]", {"object"}, "is not a JSON object"),
        ('{"k": 1}', {"array"}, "is not a JSON array (it is written as an object)"),
        # was one item 'intro_call,discovery_call': four steps not done, and no hint why
        ("intro_call,discovery_call", {"array"}, "is a list written with commas: separate"),
        ("a, b", {"array", "object"}, "(a;b;c), or write a JSON array"),
        ("5" * 5000, {"number"}, "out of range: more than 4300 digits"),  # was a ValueError
        ("-" + "5" * 4301, {"integer"}, "out of range: more than 4300 digits"),
    ],
)
def test_convert_cell_refuses(text: str, types: set[str], fragment: str) -> None:
    with pytest.raises(CellError) as info:
        convert_cell("amount", text, frozenset(types))
    assert fragment in str(info.value) and "column 'amount'" in str(info.value)


def test_row_typer_and_empty_cells() -> None:
    typer = RowTyper(["id", "amount", "decision_maker", "free"], TYPES)
    assert typer(["a", "", "", ""]) == {"id": "a", "decision_maker": None}


def test_field_types_from_schema() -> None:
    schema = {
        "type": "object",
        "$defs": {
            "money": {"type": "number", "minimum": 0},
            "steps": {"anyOf": [{"type": "array"}, {"$ref": "#/$defs/stepmap"}]},
            "stepmap": {"type": "object"},
        },
        "definitions": {"flag": {"type": "boolean"}},
        "properties": {
            "amount": {"$ref": "#/$defs/money"},
            "steps": {"$ref": "#/$defs/steps"},
            "contract_signed": {"$ref": "#/definitions/flag"},
            "decision_maker": {"type": ["string", "null"]},
            "tier": {"enum": ["gold", "silver"]},
            "seats": {"type": "integer"},
            "anything": {},
        },
    }
    assert field_types_from_schema(schema) == {
        "amount": {"number"},
        "steps": {"array", "object"},
        "contract_signed": {"boolean"},
        "decision_maker": {"string", "null"},
        "tier": {"string"},
        "seats": {"integer"},
    }


def test_field_types_from_the_shipped_deal_schema() -> None:
    path = Path(__file__).parents[1] / "schemas" / "deal.schema.json"
    if not path.exists():
        pytest.skip("no shipped deal schema")
    types = field_types_from_schema(orjson.loads(path.read_bytes()))
    assert types and all(isinstance(v, frozenset) for v in types.values())


# --------------------------------------------------------------------------- YAML


def test_yaml_bad_file_then_the_next(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"- id: a\n- id: [unclosed\n")
    good = tmp_path / "good.yml"
    good.write_bytes(b"id: b\n")
    items = list(iter_records([str(bad), str(good)]))
    assert items[-1].record == {"id": "b"}
    errors = [i for i in items if i.record is None]
    assert len(errors) == 1 and (errors[0].error or "").startswith("invalid YAML")
    assert errors[0].position >= 2


def test_yaml_non_json_values(tmp_path: Path) -> None:
    p = tmp_path / "x.yaml"
    p.write_bytes(b"- {id: a, 1: x}\n- {id: b, at: !!timestamp 2026-01-01}\n- {id: c, v: .inf}\n")
    errors = [i.error or "" for i in read(p)]
    assert "is not a string" in errors[0]
    assert "no JSON equivalent" in errors[1]
    assert "Infinity is not allowed" in errors[2]


def test_yaml_value_that_cannot_be_constructed_costs_one_record(tmp_path: Path) -> None:
    """A scalar SafeLoader cannot construct (an int past Python's 4300-digit limit, a bad
    !!bool or !!timestamp) raised out of the reader and ended the batch; now it is that
    record's error, with its line, and the next records are read."""
    p = tmp_path / "x.yaml"
    p.write_bytes(b"- id: a\n- id: big\n  amount: " + b"5" * 5000 + b"\n- id: b\n"
                  b"- {id: c, ok: !!bool maybe}\n- {id: d, at: !!timestamp 2026-13-45}\n"
                  b"- {id: e, n: !!int twelve}\n- ? [unhashable]\n  : key\n- id: f\n")
    items = read(p)
    assert [i.position for i in items] == [1, 2, 4, 5, 6, 7, 8, 10]
    assert [i.record and i.record["id"] for i in items] == ["a", None, "b", None, None, None,
                                                             None, "f"]
    assert items[1].error == "invalid YAML: integer out of range: more than 4300 digits (line 3)"
    assert all(i.error and i.error.startswith("invalid YAML") for i in items if not i.ok)
    q = tmp_path / "docs.yaml"
    q.write_bytes(b"id: a\namount: " + b"9" * 4400 + b"\n---\nid: b\n")
    assert summary(read(q)) == [
        (1, "ERR invalid YAML: integer out of range: more than 4300 digits (line 2)"), (4, "b")]


def test_yaml_deal_scalars_are_typed_as_yaml_1_2_and_json_type_them(tmp_path: Path) -> None:
    """PyYAML's YAML 1.1 read country NO (Norway) and owner no as false, id 0030 as the
    octal number 24 (reported as deal "24"), and 1_000 or 1:20 as numbers."""
    p = tmp_path / "y11.yaml"
    p.write_bytes(b"- {id: 0030, owner: no, country: NO, opt: yes, on: on, n: 1_000, t: 1:20,"
                  b" ok: true, no_: False, i: 12, f: -3.5, e: 1e3, h: .5, z: 0, nil: ~,"
                  b" at: 2026-11-01T15:00:00Z}\n")
    [item] = read(p)
    assert item.record == {
        "id": "0030", "owner": "no", "country": "NO", "opt": "yes", "on": "on", "n": "1_000",
        "t": "1:20", "ok": True, "no_": False, "i": 12, "f": -3.5, "e": 1000.0, "h": 0.5,
        "z": 0, "nil": None, "at": "2026-11-01T15:00:00Z"}


def test_a_yaml_deal_key_given_twice_is_that_records_error(tmp_path: Path) -> None:
    """A second 'owner:' silently replaced the first, and the deal was judged compliant."""
    p = tmp_path / "dup.yaml"
    p.write_bytes(b"- id: A\n  owner: dana\n  owner: eve\n- {id: B, c: {x: 1, x: 2}}\n"
                  b"- base: &b {x: 1, y: 2}\n  id: C\n  merged: {<<: *b, x: 3}\n")
    items = read(p)
    assert [i.position for i in items] == [1, 4, 5]
    assert items[0].error == ("invalid YAML: the key 'owner' is given twice (first on line 2); "
                              "keep one (line 3)")
    assert items[1].error == ("invalid YAML: the key 'x' is given twice (first on line 4); "
                              "keep one")
    assert items[2].record is not None and items[2].record["merged"] == {"x": 3, "y": 2}


def test_yaml_alias_bomb_is_one_bounded_error(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    p = tmp_path / "bomb.yaml"
    p.write_text("\n".join(lines) + "\n")
    [item] = read(p)
    assert item.error == "record over 1000000 bytes"


def test_yaml_bad_utf8(tmp_path: Path) -> None:
    p = tmp_path / "x.yaml"
    p.write_bytes(b"- id: a\n- id: caf\xe9\n")
    [item] = read(p)
    assert item.position == 2 and "invalid UTF-8" in (item.error or "")


# --------------------------------------------------------------------------- duplicates


def test_duplicate_tracker() -> None:
    tracker = DuplicateTracker()
    items = [
        RecordItem("a.csv", 2, {"id": "D1"}, None),
        RecordItem("a.csv", 3, {"id": "D2"}, None),
        RecordItem("b.jsonl", 7, {"id": "D1"}, None),
        RecordItem("b.jsonl", 8, {"name": "no id"}, None),
        RecordItem("b.jsonl", 9, None, "bad"),
        RecordItem("c.json", 1, {"id": "D1"}, None),
    ]
    messages = [tracker.check(i) for i in items]
    assert messages == [None, None, "duplicate deal id 'D1': first seen at a.csv:2", None, None,
                        "duplicate deal id 'D1': first seen at a.csv:2"]
    assert len(tracker) == 2
    # Seeing the same record again (a retry) is not a duplicate of itself.
    assert tracker.check(items[0]) is None


def test_duplicates_in_the_ragged_sample() -> None:
    tracker = DuplicateTracker()
    flagged = [(i.position, m) for i in read(DATA / "batch-ragged.csv")
               if (m := tracker.check(i)) is not None]
    assert flagged == [(19, f"duplicate deal id 'D-C02': first seen at {DATA}/batch-ragged.csv:2")]


def test_parse_jsonl_line_agrees_with_the_file_reader() -> None:
    lines = (DATA / "mixed.jsonl").read_bytes().split(b"\n")
    from_file = read(DATA / "mixed.jsonl")
    one_by_one = [parse_jsonl_line(raw, str(DATA / "mixed.jsonl"), n)
                  for n, raw in enumerate(lines, 1) if raw.strip()]
    assert one_by_one == from_file
    assert parse_jsonl_line(b'{"a": "' + b"x" * 50 + b'"}\r\n', "s", 3, 20).error == (
        "record over 20 bytes")
    assert parse_jsonl_line(b"\xef\xbb\xbf{}", "s", 1).record == {}


# --------------------------------------------------------------------------- properties


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"")), max_size=30))
def test_jsonl_records_in_equal_items_out(lines: list[bytes]) -> None:
    data = b"\n".join(lines)
    items = read_bytes(data, fmt="jsonl")
    physical = re.split(rb"\r\n|\r|\n", data)  # a lone CR ends a line too
    expected = [n for n, line in enumerate(physical, 1) if line.strip()]
    assert [i.position for i in items] == expected
    assert all((i.record is None) != (i.error is None) for i in items)


@settings(max_examples=60, deadline=None)
@given(st.lists(
    st.lists(st.text(alphabet=st.characters(categories=("L", "M", "N", "P", "S", "Z", "Cc", "Cf"),
                                            blacklist_characters="\r\x00"), max_size=12),
             min_size=3, max_size=3),
    max_size=15,
))
def test_csv_round_trip_positions(rows: list[list[str]]) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["id", "note", "other"])
    positions = []
    line = 2
    kept = []
    for row in rows:
        if not any(cell.strip() for cell in row) and len("".join(row)) == 0:
            continue  # an all-empty row is written as a blank-looking line
        text = io.StringIO()
        csv.writer(text, lineterminator="\n").writerow(row)
        chunk = text.getvalue()
        if not chunk.strip():
            continue
        buf.write(chunk)
        positions.append(line)
        kept.append(row)
        line += chunk.count("\n")
    items = read_bytes(buf.getvalue().encode(), fmt="csv")
    assert [i.position for i in items] == positions
    for item, row in zip(items, kept, strict=True):
        assert item.record == {k: v for k, v in zip(["id", "note", "other"], row, strict=True)
                               if v != ""}


_TYPE_SETS = st.sampled_from([None, {"string"}, {"string", "null"}, {"number"},
                              {"number", "null"}, {"integer"}, {"integer", "null"},
                              {"boolean"}, {"boolean", "null"}, {"null"}, {"array"},
                              {"object", "null"}, {"number", "string"}, {"integer", "boolean"}])
_CELLS = st.one_of(st.sampled_from(["", " ", "0", "-1", "1.5", "1e3", "1,000", "1_000", "true",
                                    "No", "[1]", "a;b", '{"a": 1}', "inf", "NaN", " 7 "]),
                   st.text(max_size=8))


@settings(max_examples=500, deadline=None)
@given(st.lists(st.tuples(_TYPE_SETS, _CELLS), min_size=1, max_size=6))
def test_row_typer_types_each_cell_as_convert_cell_does(columns: list[tuple]) -> None:
    """RowTyper picks a converter per column; each must agree with convert_cell, errors too."""
    from cycleflow.batch.typing import _ABSENT

    header = [f"c{i}" for i in range(len(columns))]
    types = {h: frozenset(t) for h, (t, _) in zip(header, columns, strict=True) if t is not None}
    row = [cell for _, cell in columns]
    expected: dict[str, object] = {}
    failure: str | None = None
    for h, cell in zip(header, row, strict=True):
        if h not in types:
            if cell != "":
                expected[h] = cell
            continue
        try:
            value = convert_cell(h, cell, types[h])
        except CellError as err:
            failure = str(err)
            break
        if value is not _ABSENT:  # what convert_cell says means "leave the field out"
            expected[h] = value
    if failure is not None:
        with pytest.raises(CellError) as caught:
            RowTyper(header, types)(row)
        assert str(caught.value) == failure
    else:
        assert RowTyper(header, types)(row) == expected


# --------------------------------------------------------------------------- nesting


def test_records_nested_past_max_depth_are_error_items_in_every_format() -> None:
    """MAX_DEPTH levels are read; one more is an error item, and the next record is read.
    YAML nested 50,000 deep crashed the process in libyaml's composer (SIGSEGV)."""
    from cycleflow.batch.readers import MAX_DEPTH, MAX_FLOW_DEPTH, TOO_DEEP

    def lists(depth: int) -> bytes:  # a value making its record `depth` levels deep
        return b"[" * (depth - 1) + b"]" * (depth - 1)

    def maps(depth: int) -> bytes:
        return b'{"a": ' * (depth - 1) + b"1" + b"}" * (depth - 1)

    for depth in (MAX_DEPTH, MAX_DEPTH + 1, 50_000):
        deep = depth > MAX_DEPTH
        for value in (lists(depth), maps(depth)):
            line = b'{"id": "d", "x": ' + value + b"}"
            cases = {
                "jsonl": line + b'\n{"id": "ok"}\n',
                "json": b"[" + line + b',\n{"id": "ok"}]',
                "yaml": b"--- " + line + b'\n--- {"id": "ok"}\n',
            }
            for fmt, data in cases.items():
                items = list(iter_records(["-"], stdin=io.BytesIO(data), fmt=fmt))  # type: ignore[arg-type]
                if fmt == "yaml" and depth > MAX_FLOW_DEPTH:  # libyaml would be quadratic
                    assert [i.position for i in items] == [1]
                    assert "this file was not read" in (items[0].error or "")
                    continue
                assert [(i.position, i.error) for i in items] == [
                    (1, TOO_DEEP if deep else None), (2, None)], fmt
            assert (parse_jsonl_line(line, "s", 1).error == TOO_DEEP) is deep
            yaml_list = b"- id: d\n  x: " + value + b"\n- id: ok\n"
            errors = [i.error for i in read_bytes(yaml_list)]
            if depth > MAX_FLOW_DEPTH:
                assert len(errors) == 1 and "nest more than" in (errors[0] or "")
            else:
                assert errors == [TOO_DEEP if deep else None, None]
        if depth < 1000:  # a CSV cell holds the value; the record is one level above it
            cell = lists(depth).replace(b'"', b'""')
            data = b'id,steps\nd,"' + cell + b'"\nok,[]\n'
            items = read_bytes(data, field_types=TYPES)
            assert [(i.position, i.error) for i in items] == [
                (2, TOO_DEEP if deep else None), (3, None)]


def test_yaml_nested_past_the_flow_limit_is_refused_at_once() -> None:
    """libyaml's scanner is quadratic in flow nesting: 50,000 levels took 6 s, and a
    megabyte of '[' minutes; the file is refused at the line where nesting passes the limit."""
    import time

    from cycleflow.batch.readers import MAX_FLOW_DEPTH

    bomb = b"--- {id: a}\n--- [" + b"[" * 1_000_000 + b"\n"
    began = time.monotonic()
    items = list(iter_records(["-"], stdin=io.BytesIO(bomb), fmt="yaml"))  # type: ignore[arg-type]
    assert time.monotonic() - began < 5
    assert [(i.position, str(MAX_FLOW_DEPTH) in (i.error or "")) for i in items] == [(2, True)]
    fine = b"- {id: a, steps: [x, y]}\n" * (MAX_FLOW_DEPTH + 1)  # many brackets, none deep
    assert [i.error for i in read_bytes(fine)] == [None] * (MAX_FLOW_DEPTH + 1)


# --------------------------------------------------------------------------- special files


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_a_named_pipe_in_a_folder_is_skipped_and_one_named_is_read(tmp_path: Path) -> None:
    """A FIFO named x.jsonl inside a folder made `check folder/` wait forever for a writer.
    A folder walk takes regular files only; a FIFO named on the command line is read."""
    import threading

    folder = tmp_path / "d"
    folder.mkdir()
    os.mkfifo(folder / "x.jsonl")
    (folder / "y.jsonl").write_bytes(b'{"id": "y"}\n')
    os.symlink(folder / "y.jsonl", folder / "z.jsonl")  # a link to a regular file is one
    os.symlink(folder / "x.jsonl", folder / "w.jsonl")  # a link to the pipe is not
    os.symlink(folder / "nowhere.jsonl", folder / "v.jsonl")  # reading it says why
    files = [os.path.basename(p) for p in iter_files(str(folder))]
    assert files == ["v.jsonl", "y.jsonl", "z.jsonl"]
    items = read(folder)
    assert summary(items)[1:] == [(1, "y"), (1, "y")]
    assert items[0].position == 0 and "cannot open" in (items[0].error or "")

    def feed() -> None:
        with open(folder / "x.jsonl", "wb") as pipe:
            pipe.write(b'{"id": "piped"}\n')

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    assert summary(read(folder / "x.jsonl")) == [(1, "piped")]
    writer.join(5)
