"""Read deal records from files, directories and standard input, streaming and in order.

Records in equal items out: every record yields exactly one
:class:`RecordItem`, either with the parsed record or with a readable error
and the line it starts on, and one bad record never stops the batch. A
source that cannot be opened yields one error item with position 0. A source
damaged part-way (an I/O error, a gzip stream cut short or followed by bytes
that are not gzip) yields every record read whole before the damage, then
one error item at the line the damage begins on.

Formats (by suffix, ``.gz`` allowed on each; otherwise sniffed from the
first bytes, see :func:`_sniff`; ``fmt=`` overrides both). Text is UTF-8; a
source that starts with a UTF-16 or UTF-32 byte order mark (Excel's and
Windows tools' "Unicode") is decoded as it is read (workers that read JSON
Lines in byte ranges leave such files to this reader: see :func:`byte_splittable`).

``.jsonl`` / ``.ndjson``
    one object per line, each line parsed on its own; blank lines skipped; a
    line ends at LF, CRLF or a lone CR (JSON text holds no raw CR in a string,
    and line numbers count it). A
    line 1 that opens a JSON document (``[``, ``{`` alone) says so in its error.
``.json``
    one object, an array of objects, or several objects one after another.
    Arrays are streamed element by element (a scanner finds the element
    boundaries, orjson parses each element), so a large file is never held
    whole; an element that fails to parse is an error item and the next
    element is read. A record's position is the line it starts on, unless two
    records start on one line (minified JSON, an array on one line): then it
    is the record's 1-based index in the source (array elements and top-level
    values counted in order), so records can be told apart, and an error item
    names the line and column its record starts at. An object with neither ``id``
    nor ``stage`` that holds a list of objects under ``records``, ``results``,
    ``data`` and the like is an API response: an error item says how to extract
    its records (it is not unwrapped; YAML too). The choice is made on the
    first read chunk (1 MiB): in a larger file laid out one record per line at
    first, records that later share a line share its number.
``.csv``
    a header row, then one record per row; a UTF-8 BOM is stripped; lines end at
    LF, CRLF or a lone CR (old Mac exports), as Python's csv reads a file opened
    with ``newline=''``, and a CR inside a quoted cell stays in it; a quoted
    cell may span lines (the record's position is its first line); unnamed last
    columns (a delimiter ending every line) are no fields, and text in one is its
    row's error; an
    unclosed quote is reported at its line and the lines after it are read
    again as records; empty cells are absent fields; cells are typed through
    ``field_types`` (see :mod:`cycleflow.batch.typing`).
``.yaml`` / ``.yml``
    a list of deals, or one deal per document; timestamps stay strings;
    read whole, so a YAML source is capped at :data:`MAX_YAML_BYTES`. Each
    list item or document is constructed on its own: a value that cannot be
    (``!!bool maybe``, an integer past Python's 4,300-digit limit) costs only
    its record.

A record whose arrays and objects nest more than :data:`MAX_DEPTH` levels is
an error item in every format: judging it would recurse past Python's limit
at a depth that depends on the caller's stack (so one process and workers
would disagree), and pickling it to a worker would fail.

Memory stays constant in the number of records: the largest buffer is one
record (capped by ``max_record_bytes``) plus a read chunk.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import json
import math
import os
import re
import shlex
import stat
import sys
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO, Literal

import orjson
import yaml

from cycleflow.batch.typing import CellError, RowTyper

__all__ = [
    "MAX_DEPTH",
    "MAX_YAML_BYTES",
    "SUFFIXES",
    "DuplicateTracker",
    "Format",
    "RecordItem",
    "detect_format",
    "iter_files",
    "skipped_files",
    "iter_records",
    "byte_splittable",
    "is_blank_line",
    "is_gzip_header",
    "may_nest_deep",
    "parse_jsonl_line",
]

Format = Literal["json", "jsonl", "csv", "yaml"]

#: File suffixes read from directories, and the format each implies (``.gz`` may follow).
SUFFIXES: Mapping[str, Format] = {
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".csv": "csv",
    ".yaml": "yaml",
    ".yml": "yaml",
}

#: YAML is parsed a file at a time; larger YAML sources are refused with an error item.
MAX_YAML_BYTES = 64 * 1024 * 1024

#: Arrays and objects nested deeper than this (the record itself is level 1) make an error item.
MAX_DEPTH = 100
TOO_DEEP = f"record too complex to judge: nested more than {MAX_DEPTH} levels deep"

#: One record's size cap in bytes, unless the caller sets another (over it: an error item).
MAX_RECORD_BYTES = 1_000_000

STDIN_NAME = "<stdin>"
_CHUNK = 1 << 20
_SNIFF = 1 << 16
_SNIFF_LINES = 32  # lines of the head that sniffing looks at
#: Appended to the errors of an input whose format could not be told (see _sniff).
_UNKNOWN_FORMAT = " (format not recognised: read as JSON Lines, one record per line)"
_GZIP_MAGIC = b"\x1f\x8b"
_BOM = codecs.BOM_UTF8
_READ_ERRORS = (OSError, EOFError, zlib.error)


@dataclass(frozen=True, slots=True)
class RecordItem:
    """One record read from a source, or the reason it could not be read.

    ``position`` is the 1-based line the record starts on (JSON Lines, CSV
    including the header and multi-line cells, YAML, JSON), the line a read
    error begins on, or 0 for an error about a whole source (cannot be opened).
    In JSON where records share a line (minified), it is the record's 1-based
    index in the source instead, for every record of that source.
    """

    source: str
    position: int
    record: dict[str, Any] | None
    error: str | None
    #: the deal id of a record that could not be read, where it could be (a CSV row whose
    #: id cell is fine but another cell is not), so its error verdict still names the deal
    deal: str | None = None

    @property
    def ok(self) -> bool:
        """True when the record was read."""
        return self.record is not None

    @property
    def where(self) -> str:
        """``source:position`` (just ``source`` for position 0)."""
        return f"{self.source}:{self.position}" if self.position else self.source


_new = object.__new__
_set_source = vars(RecordItem)["source"].__set__
_set_position = vars(RecordItem)["position"].__set__
_set_record = vars(RecordItem)["record"].__set__
_set_error = vars(RecordItem)["error"].__set__
_set_deal = vars(RecordItem)["deal"].__set__


def _fast_item(source: str, position: int, record: dict[str, Any]) -> RecordItem:
    """``RecordItem(source, position, record, None)`` at half the cost, for the hot path.

    The frozen dataclass ``__init__`` goes through ``object.__setattr__`` per
    field; the slot descriptors are set directly here. Same object, same fields.
    """
    item: RecordItem = _new(RecordItem)
    _set_source(item, source)
    _set_position(item, position)
    _set_record(item, record)
    _set_error(item, None)
    _set_deal(item, None)
    return item


def _bad(source: str, position: int, message: str, deal: str | None = None) -> RecordItem:
    return RecordItem(source, position, None, message, deal)


# --------------------------------------------------------------------------- sources


def detect_format(name: str) -> Format | None:
    """The format implied by a file name's suffix (``.gz`` ignored), or None."""
    lower = name.lower()
    if lower.endswith(".gz"):
        lower = lower[:-3]
    return SUFFIXES.get(os.path.splitext(lower)[1])


def iter_files(directory: str) -> Iterator[str]:
    """Readable deal files under ``directory``, recursively, sorted by path.

    Files and folders whose names start with ``.`` are skipped, as are files
    without one of :data:`SUFFIXES` (optionally followed by ``.gz``) and anything
    but regular files: a named pipe would block the batch forever, a device never
    ends. (Named on the command line, a pipe or device is read, as stdin is.) A
    link that leads nowhere is kept, so that reading it reports why.
    """
    found: list[str] = []
    for root, dirs, files in os.walk(directory):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for f in files:
            if not f.startswith(".") and detect_format(f) is not None:
                path = os.path.join(root, f)
                if _regular_or_broken(path):
                    found.append(path)
    found.sort(key=lambda p: os.path.relpath(p, directory).replace(os.sep, "/"))
    yield from found


def skipped_files(directory: str) -> list[tuple[str, str]]:
    """``(path, why)`` for each file under ``directory`` that :func:`iter_files` leaves
    out: a name with no deal suffix (``export.txt``, ``deals``), or a deal file that is not
    a regular file (a named pipe would block the batch). A run names them, so a folder of
    them is not silently read as holding no records."""
    skipped: list[tuple[str, str]] = []
    for root, dirs, files in os.walk(directory):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for f in files:
            if f.startswith("."):
                continue
            path = os.path.join(root, f)
            if detect_format(f) is None:
                if os.path.isfile(path):
                    skipped.append((path, "suffix"))
            elif not _regular_or_broken(path):
                skipped.append((path, "not regular"))
    return sorted(skipped)


def _regular_or_broken(path: str) -> bool:
    """True for a regular file (through links), and for a path that cannot be stat'ed."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return True


def iter_records(
    sources: Sequence[str],
    *,
    field_types: Mapping[str, frozenset[str]] | None = None,
    max_record_bytes: int = MAX_RECORD_BYTES,
    stdin: BinaryIO | None = None,
    fmt: Format | None = None,
) -> Iterator[RecordItem]:
    """Every record of every source, in order: files, directories (recursive) and ``-``.

    ``field_types`` types CSV cells (see :func:`cycleflow.batch.typing.field_types_from_schema`);
    ``max_record_bytes`` caps one record's size; ``stdin`` replaces
    ``sys.stdin.buffer`` for ``-``; ``fmt`` forces one format for every source.
    """
    for source in sources:
        if source == "-":
            stream = stdin if stdin is not None else sys.stdin.buffer
            yield from _read_source(stream, STDIN_NAME, fmt, field_types, max_record_bytes)
        elif os.path.isdir(source):
            try:
                files = list(iter_files(source))
            except OSError as err:  # pragma: no cover - os.walk swallows most errors
                yield _bad(source, 0, f"cannot read directory: {err.strerror or err}")
                continue
            for path in files:
                yield from _read_path(path, fmt, field_types, max_record_bytes)
        else:
            yield from _read_path(source, fmt, field_types, max_record_bytes)


def _read_path(
    path: str,
    fmt: Format | None,
    field_types: Mapping[str, frozenset[str]] | None,
    limit: int,
) -> Iterator[RecordItem]:
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed in the finally below
    except OSError as err:
        yield _bad(path, 0, f"cannot open: {err.strerror or err}")
        return
    try:
        yield from _read_source(fh, path, fmt or detect_format(path), field_types, limit)
    finally:
        fh.close()


class _Prefixed(io.RawIOBase):
    """Bytes already read, then the rest of a stream: lets a sniffed stream be read whole.

    ``error`` stopped the read of ``head``: it is raised once the head is consumed, so
    the records before the damage are read first. The rest is read with ``read1`` where
    there is one, so one call never discards data decompressed before an error.
    """

    def __init__(self, head: bytes, rest: BinaryIO, error: BaseException | None = None) -> None:
        super().__init__()
        self._head = memoryview(head)
        self._read = getattr(rest, "read1", rest.read)
        self._error = error

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if self._head.nbytes:
            n = min(len(view), self._head.nbytes)
            view[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        if self._error is not None:
            raise self._error
        data = self._read(len(view))
        n = len(data)
        view[:n] = data
        return n


class _Decoded(io.RawIOBase):
    """A UTF-16 or UTF-32 stream as UTF-8 bytes, decoded a chunk at a time (its byte order
    mark dropped), so each format's reader reads it as it reads UTF-8.

    A code unit that is not text (half a surrogate pair, an odd byte left at the end of a
    file cut short) becomes bytes that are not UTF-8 either, so the line holding it gets
    the reader's usual error and the other lines are read. A read error is raised once
    what was decoded before it is consumed.
    """

    def __init__(self, stream: BinaryIO, encoding: str) -> None:
        super().__init__()
        self._read = getattr(stream, "read1", stream.read)
        self._decoder = codecs.getincrementaldecoder(encoding)(errors="surrogatepass")
        self._out = memoryview(b"")
        self._done = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        while not self._out.nbytes and not self._done:
            data = self._read(_CHUNK)
            self._done = not data
            try:
                text = self._decoder.decode(data, self._done)
            except UnicodeDecodeError:  # only when done: a code unit cut short
                text = "\udcff"  # encodes to bytes that are not UTF-8
            self._out = memoryview(text.encode("utf-8", "surrogatepass"))
        n = min(len(view), self._out.nbytes)
        view[:n] = self._out[:n]
        self._out = self._out[n:]
        return n


def _decoded_head(head: bytes, encoding: str, size: int = _SNIFF) -> bytes:
    """The UTF-8 of the whole lines of a UTF-16/32 ``head`` (cut at ``size``), for sniffing."""
    text = head.decode(encoding, "replace").encode("utf-8")
    return text[: text.rfind(b"\n") + 1] if len(head) >= size and b"\n" in text else text


def _read_head(stream: BinaryIO, size: int = _SNIFF) -> tuple[bytes, BaseException | None]:
    """Up to ``size`` bytes, and the read error that stopped short of them, if any.

    The bytes read before an error are kept: a damaged source still yields its records.
    """
    read = getattr(stream, "read1", stream.read)
    parts: list[bytes] = []
    got = 0
    try:
        while got < size:
            chunk = read(min(size - got, _CHUNK))
            if not chunk:
                break
            parts.append(chunk)
            got += len(chunk)
    except _READ_ERRORS as err:
        return b"".join(parts), err
    return b"".join(parts), None


def _sniff(head: bytes) -> tuple[Format, bool]:
    """Guess a format from the first bytes, and whether it is only a fallback.

    In order: ``[`` is JSON; ``{`` is JSON Lines, or JSON when pretty-printed; a first
    line that is a JSON value (``null``, ``42``) is JSON Lines, so it gets its error; YAML
    markers (``---``, ``- ``, ``key: value``) are YAML; when at least half of the first
    lines are JSON objects, JSON Lines (one bad line must not turn them into CSV rows); a
    first line with a comma is a CSV header. Anything else is read as JSON Lines, so every
    line gets an error item instead of vanishing as a CSV header; the flag says so.
    """
    text = head.removeprefix(_BOM).lstrip()
    if text.startswith(b"["):
        return "json", False
    if text.startswith(b"{"):
        first, nl, _ = text.partition(b"\n")
        first = first.strip()
        if not nl or first.endswith(b"}"):
            return "jsonl", False
        try:
            orjson.loads(first)
        except orjson.JSONDecodeError:
            # A pretty-printed document opens with a line such as '{' or '{"id": 1,'.
            return ("json" if first.endswith((b"{", b"[", b",", b":")) else "jsonl"), False
        return "jsonl", False
    lines = text.split(b"\n")
    if len(head) >= _SNIFF and len(lines) > 1:
        lines.pop()  # cut by the sniff window
    lines = [line.strip() for line in lines[:_SNIFF_LINES] if line.strip()]
    first = lines[0] if lines else b""
    if _parses(first):
        return "jsonl", False
    if (
        text.startswith((b"---", b"%YAML", b"- ", b"-\n", b"#"))
        or re.match(rb"^[A-Za-z_\"'][^,]*:(\s|$)", first) is not None
    ):
        return "yaml", False
    objects = sum(1 for line in lines if line.startswith(b"{") and _parses(line))
    if objects and 2 * objects >= len(lines):
        return "jsonl", False
    if b"," in first:
        return "csv", False
    return "jsonl", True


def _parses(line: bytes) -> bool:
    """Whether ``line`` is one JSON value."""
    try:
        orjson.loads(line)
    except orjson.JSONDecodeError:
        return False
    return bool(line)


def _read_source(
    raw: BinaryIO,
    source: str,
    fmt: Format | None,
    field_types: Mapping[str, frozenset[str]] | None,
    limit: int,
) -> Iterator[RecordItem]:
    """Decompress if gzip, sniff if needed, and hand the stream to the format's reader."""
    head, error = _read_head(raw)
    stream: BinaryIO = io.BufferedReader(_Prefixed(head, raw, error), _CHUNK)
    if is_gzip_header(head):
        gz: Any = gzip.GzipFile(fileobj=stream, mode="rb")
        head, error = _read_head(gz)
        stream = io.BufferedReader(_Prefixed(head, gz, error), _CHUNK)
    encoding = _wide_encoding(head)
    if encoding is not None:
        head = _decoded_head(head, encoding)
    kind, unknown = (fmt, False) if fmt else _sniff(head)
    if encoding is not None:
        stream = io.BufferedReader(_Decoded(stream, encoding), _CHUNK)
    if kind == "jsonl":
        yield from _read_jsonl(stream, source, limit, _UNKNOWN_FORMAT if unknown else "")
    elif kind == "json":
        yield from _JsonScanner(stream, source, limit).items()
    elif kind == "csv":
        yield from _read_csv(stream, source, limit, field_types, sniffed=fmt is None)
    elif kind == "yaml":
        yield from _read_yaml(stream, source, limit, sniffed=fmt is None)
    else:  # pragma: no cover - guarded by the Format type
        raise ValueError(f"unknown format {kind!r}")


#: Byte order marks of the encodings read besides UTF-8 (UTF-32 first: its LE mark
#: starts with UTF-16's).
_WIDE_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def _wide_encoding(head: bytes) -> str | None:
    """``utf-16`` or ``utf-32`` when ``head`` starts with its byte order mark, else None."""
    for bom, encoding in _WIDE_BOMS:
        if head.startswith(bom):
            return encoding
    return None


def byte_splittable(path: str) -> bool:
    """Whether workers may read the JSON Lines file at ``path`` in byte ranges cut after
    an LF, parsing each line on its own, and get what :func:`iter_records` gives.

    Not when it is gzip, starts with a UTF-16 or UTF-32 byte order mark (the reader
    decodes it), or holds a lone CR (the reader ends a line there, as at LF). Reads
    the file once; not when it cannot be read either: the reader reports why.
    """
    try:
        with open(path, "rb") as fh:
            carry = b""
            block = fh.read(_CHUNK)
            if is_gzip_header(block) or _wide_encoding(block) is not None:
                return False
            while block:
                data = carry + block if carry else block
                carry = b"\r" if data.endswith(b"\r") else b""  # maybe half a CRLF
                if carry:
                    data = data[:-1]
                # most files hold no CR at all: one memchr pass, no counting
                if b"\r" in data and data.count(b"\r") != data.count(b"\r\n"):
                    return False
                block = fh.read(_CHUNK)
    except OSError:
        return False
    return not carry


def is_gzip_header(head: bytes) -> bool:
    """A real gzip member header: magic, deflate method, no reserved flag bits (RFC 1952)."""
    return len(head) >= 10 and head.startswith(_GZIP_MAGIC) and head[2] == 8 and not head[3] & 0xE0


def _ends_cleanly(err: BaseException) -> bool:
    """Whether a read error came after complete, checked data: bytes after a gzip stream."""
    return isinstance(err, gzip.BadGzipFile) and str(err).startswith("Not a gzipped file")


def _read_failed(
    source: str, line: int, err: BaseException, position: int | None = None
) -> RecordItem:
    """The error item for a source damaged part-way at ``line``; ``position`` if not that."""
    if isinstance(err, EOFError):
        reason = f"the compressed data is cut short ({err})"
    elif _ends_cleanly(err):
        reason = f"the bytes after the end of the compressed data are not gzip ({err})"
    elif isinstance(err, (zlib.error, gzip.BadGzipFile)):
        reason = f"the compressed data is damaged ({err})"
    else:
        reason = getattr(err, "strerror", None) or str(err)
    return _bad(source, line if position is None else position, f"read error at line {line}: "
                f"{reason}; this line and the rest of the source were not read")


# --------------------------------------------------------------------------- JSON helpers


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    return type(value).__name__


def _not_object(value: Any) -> str:
    return f"expected an object, got {_type_name(value)}"


#: Keys under which API responses hold their records (Salesforce, HubSpot, Dynamics, ...).
_WRAPPER_KEYS = frozenset({"records", "results", "data", "items", "deals", "value", "rows",
                           "entries", "objects"})


def _wrapper(value: dict[str, Any], source: str) -> str | None:
    """The error for an API response read as one record: an object with neither ``id`` nor
    ``stage`` that holds a list of objects under a key such as ``records``; else None.

    It is not unwrapped: what else such a file holds (paging, a count) is not known.
    """
    if "stage" in value or "id" in value:
        return None
    for key, inner in value.items():
        if key in _WRAPPER_KEYS and type(inner) is list and inner and all(
                type(x) is dict for x in inner):
            n = len(inner)
            path = "FILE" if source == STDIN_NAME else shlex.quote(source)
            return (f"this object holds a list of {n} record{'s' if n != 1 else ''} under "
                    f"{key!r} and no deal fields ('id', 'stage'); extract them first, e.g. "
                    f"jq -c '.{key}[]' {path} > deals.jsonl")
    return None


def _too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether lists and dicts nest more than ``limit`` levels in ``value`` (iterative)."""
    stack = [(value, 1)]
    pop, push = stack.pop, stack.append
    while stack:
        v, depth = pop()
        if depth > limit:
            return True
        for x in v.values() if type(v) is dict else v:
            if type(x) is dict or type(x) is list:
                push((x, depth + 1))
    return False


def may_nest_deep(data: bytes, count: Any = bytes.count) -> bool:
    """Cheap pre-check: fewer brackets than :data:`MAX_DEPTH` cannot nest that deep."""
    return bool(count(data, b"[") + count(data, b"{") > MAX_DEPTH)


_NONFINITE = re.compile(rb"-?(?:NaN|Infinity)")
_WORD = frozenset(
    bytes([c]) for c in b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_\""
)


def _json_error(err: orjson.JSONDecodeError, data: bytes, line: int = 1, col: int = 1) -> str:
    """A readable reason for an orjson failure on ``data``, which starts at ``line``, ``col``."""
    msg = err.msg
    pos = err.pos
    if "depth" in msg or "recursion" in msg:  # orjson stops at 1,024 levels, past our limit
        return TOO_DEEP
    if "UTF-8" in msg:
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as uerr:
            return _utf8_error(data, uerr.start, line)
    for at in (pos, pos - 1, pos + 1):
        m = _NONFINITE.match(data, at) if at >= 0 else None
        if m is not None and (at == 0 or data[at - 1 : at] not in _WORD):
            word = m.group().lstrip(b"-").decode()
            return f"{word} is not allowed in JSON (not a number): {_at(data, at, line, col)}"
    if "infinity" in msg:
        return f"number out of range: {msg} {_at(data, pos, line, col)}"
    if "surrogate" in msg:  # Python's json reads these: orjson's words are the only ones
        return (f"invalid JSON: a \\u escape holds half a character (an unpaired surrogate, "
                f"as in a cut emoji) {_at(data, pos, line, col)}; fix or remove it")
    # The standard library names most syntax errors better ("Expecting ',' delimiter").
    try:
        json.loads(data.decode("utf-8", "replace"))
    except json.JSONDecodeError as jerr:
        msg, pos = jerr.msg, len(jerr.doc[: jerr.pos].encode("utf-8", "replace"))
        if msg.startswith("Invalid control character") and pos < len(data):
            code = data[pos]
            escape = _ESCAPES.get(code, f"\\u{code:04x}")
            return (f"invalid JSON: a control character (U+{code:04X}) inside a string "
                    f"{_at(data, pos, line, col)}; write it as an escape such as {escape}, "
                    "or remove it")
        msg = msg.removesuffix(" at")  # "... starting at" + " at column 8"
    except (ValueError, RecursionError):
        pass
    if pos >= len(data.rstrip()) or msg.startswith("Unterminated string"):  # it runs to the end
        return f"truncated JSON: {msg} {_at(data, pos, line, col)}"
    return f"invalid JSON: {msg} {_at(data, pos, line, col)}"


_ESCAPES = {8: "\\b", 9: "\\t", 10: "\\n", 12: "\\f", 13: "\\r"}


def _at(data: bytes, pos: int, line: int, first_col: int = 1) -> str:
    """``at column C`` (or ``at line L column C``) of ``pos`` in ``data``; it starts at
    ``first_col`` of ``line``."""
    pos = max(0, min(pos, len(data)))
    newlines = data.count(b"\n", 0, pos)
    col = pos - (data.rfind(b"\n", 0, pos) + 1) + 1
    if newlines:
        return f"at line {line + newlines} column {col}"
    col += first_col - 1
    return f"at line {line} column {col}" if first_col > 1 else f"at column {col}"


def _utf8_error(data: bytes, offset: int, line: int) -> str:
    newlines = data.count(b"\n", 0, offset)
    col = offset - (data.rfind(b"\n", 0, offset) + 1) + 1
    where = f"line {line + newlines} " if newlines else ""
    return (f"invalid UTF-8 at byte {col} of {where or 'the line'} (the file may be in a "
            "Windows or Latin-1 encoding: re-export it as UTF-8)")


# --------------------------------------------------------------------------- JSON Lines


def _skip_rest_of_line(readline: Callable[[int], bytes]) -> None:
    """Read up to the end of the current line with ``readline`` (a stream's, or _Lines')."""
    while True:
        part = readline(_CHUNK)
        if not part or part.endswith(b"\n"):
            return


def _lone_cr(line: bytes) -> bool:
    """Whether a line read up to LF holds a CR that is not its CRLF ending (or may not be:
    a CR last, where the read stopped, may be the first half of a CRLF)."""
    cr = line.find(b"\r")
    return cr >= 0 and not (cr == len(line) - 2 and line[-1] == 0x0A)


_LINE_END = re.compile(rb"\r\n?|\n")


class _Lines:
    """``readline(limit)`` that ends lines at LF, CRLF and a lone CR, as Python's universal
    newlines do (old Mac exports, Excel's "CSV (Macintosh)", notes pasted from them).

    The readers use the stream's own ``readline`` (LF only, in C, fast) until a line holds
    a lone CR, then this for the rest of the source, starting with that line. A lone CR
    ending a line is returned as LF, so one test (``endswith(b"\n")``) still tells a whole
    line from one cut by ``limit``; ``cr`` says that the last line ended in a lone CR. A
    CRLF cut by ``limit`` is returned up to its CR, as the stream's readline does. A read
    error is raised only when no whole line is left before it.
    """

    def __init__(self, head: bytes, stream: BinaryIO) -> None:
        self.buf = head
        self.pos = 0
        self.read = getattr(stream, "read1", stream.read)
        self.eof = False
        self.error: BaseException | None = None
        self.cr = False

    def _fill(self) -> bool:
        if self.eof:
            return False
        try:
            chunk = self.read(_CHUNK)
        except _READ_ERRORS as err:
            self.error, self.eof = err, True
            return False
        if not chunk:
            self.eof = True
            return False
        self.buf = self.buf[self.pos :] + chunk
        self.pos = 0
        return True

    def readline(self, limit: int) -> bytes:
        """The next line with its end (a lone CR as LF), at most ``limit`` bytes; b"" at the end."""
        while True:
            buf, pos = self.buf, self.pos
            m = _LINE_END.search(buf, pos, min(len(buf), pos + limit))
            if m is not None:
                end = m.end()
                self.cr = False
                if end - m.start() == 1 and buf[m.start()] == 0x0D:  # a CR without its LF
                    if end == len(buf) and self._fill():
                        continue  # the CR ends what was read: is an LF next?
                    if end == len(self.buf) or self.buf[end] != 0x0A:
                        self.pos, self.cr = end, True
                        return buf[pos : end - 1] + b"\n"
                self.pos = end  # LF, CRLF, or a CRLF cut by the limit after its CR
                return buf[pos:end]
            if len(buf) - pos >= limit:
                self.pos = pos + limit
                return buf[pos : self.pos]
            if not self._fill():
                if self.error is not None:  # this line was cut by the damage
                    raise self.error
                self.pos = len(buf)
                return buf[pos:]


def _read_jsonl(
    stream: BinaryIO, source: str, limit: int, hint: str = ""
) -> Iterator[RecordItem]:
    """One item per non-blank line; ``hint`` is appended to the error of a line not JSON."""
    readline: Callable[[int], bytes] = stream.readline
    loads = orjson.loads
    decode_error = orjson.JSONDecodeError
    item = _fast_item
    deep = may_nest_deep
    cap = limit + 2  # room for "\r\n"
    lineno = 0
    universal = False  # reading through _Lines: a lone CR was met
    try:
        while True:
            line = readline(cap)
            if not line:
                return
            if b"\r" in line and not universal and _lone_cr(line):
                try:  # a CR between JSON tokens is whitespace: a whole line that parses with
                    if not line.endswith(b"\n"):  # one is one record
                        raise decode_error("not a whole line", "", 0)
                    loads(line)
                except decode_error:  # no raw CR can sit in a string: it ends a line here
                    readline, universal = _Lines(line, stream).readline, True
                    continue
            lineno += 1
            try:
                value = loads(line)
            except decode_error as err:
                for bad in _jsonl_failure(readline, source, lineno, line, limit, err):
                    yield _bad(source, lineno, bad.error + hint) if hint and bad.error else bad
                continue
            if type(value) is dict and len(line) <= cap - 1 and not deep(line):
                yield item(source, lineno, value)
            else:
                if len(line) == cap and not line.endswith(b"\n"):
                    _skip_rest_of_line(readline)
                yield _jsonl_odd(source, lineno, line, value, limit)
    except _READ_ERRORS as err:
        yield _read_failed(source, lineno + 1, err)


def is_blank_line(line: bytes, position: int) -> bool:
    """Whether a JSON Lines line holds no record: only whitespace, or on line 1 a byte order
    mark and whitespace (every reading path, one process or many, skips the same lines)."""
    if not line.strip():
        return True
    return position == 1 and line.startswith(_BOM) and not line[len(_BOM):].strip()


def parse_jsonl_line(
    line: bytes, source: str, position: int, max_record_bytes: int = MAX_RECORD_BYTES
) -> RecordItem:
    """The item for one JSON Lines line (for workers that split a file into byte ranges).

    ``line`` may keep its line ending; a blank line gives an error item
    ("blank line"), so callers skip blank lines themselves, as
    :func:`iter_records` does.
    """
    body = line.rstrip(b"\r\n")
    if len(body) > max_record_bytes:
        return _bad(source, position, f"record over {max_record_bytes} bytes")
    if position == 1 and body.startswith(_BOM):
        body = body[len(_BOM) :]
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as err:
        if not body.strip():
            return _bad(source, position, "blank line")
        return _bad(source, position, _jsonl_error(err, body, position))
    if type(value) is dict:
        if may_nest_deep(body) and _too_deep(value):
            return _bad(source, position, TOO_DEEP)
        return _fast_item(source, position, value)
    return _bad(source, position, _not_object(value))


def _jsonl_failure(
    readline: Callable[[int], bytes],
    source: str,
    lineno: int,
    line: bytes,
    limit: int,
    err: orjson.JSONDecodeError,
) -> Iterator[RecordItem]:
    """The slow path of a JSON Lines line that did not parse: blank, BOM, oversized or bad."""
    if len(line) == limit + 2 and not line.endswith(b"\n"):
        _skip_rest_of_line(readline)
        yield _bad(source, lineno, f"record over {limit} bytes")
        return
    if is_blank_line(line, lineno):
        return
    if lineno == 1 and line.startswith(_BOM):
        line = line[len(_BOM) :]
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError as err2:
            err = err2
        else:
            yield _jsonl_odd(source, lineno, line, value, limit)
            return
    yield _bad(source, lineno, _jsonl_error(err, line.rstrip(b"\r\n"), lineno))


def _jsonl_error(err: orjson.JSONDecodeError, body: bytes, lineno: int) -> str:
    """Why a JSON Lines line is no JSON; on line 1, what a JSON document there means."""
    opening = body.strip()
    if lineno == 1 and (opening.startswith(b"[") or opening.startswith(b"{") and (
            opening.endswith((b"{", b"[")))):
        text = opening.decode("utf-8", "replace")
        return (f"line 1 is {_shown(text)}: this file looks like one JSON document (an array "
                "or pretty-printed JSON), not JSON Lines (one object per line); name it "
                ".json, or write one object per line")
    return _json_error(err, body)


def _jsonl_odd(source: str, lineno: int, line: bytes, value: Any, limit: int) -> RecordItem:
    """A parsed JSON Lines value that is not a plain, small enough object."""
    if type(value) is not dict:
        return _bad(source, lineno, _not_object(value))
    if len(line.rstrip(b"\r\n")) > limit:
        return _bad(source, lineno, f"record over {limit} bytes")
    if _too_deep(value):
        return _bad(source, lineno, TOO_DEEP)
    return RecordItem(source, lineno, value, None)


# --------------------------------------------------------------------------- JSON


# A complete string, or one of the structural bytes; a lone '"' means a string cut by the buffer.
_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{},"]', re.DOTALL)
_STRING_BODY = re.compile(rb'(?:[^"\\]|\\.)*', re.DOTALL)
_SPACE = re.compile(rb"[ \t\r\n]*")
# Where an element of an array of objects may end: '}' before ', {' or ']' (a guess: see
# _JsonScanner.packed_object).
_OBJECT_END = re.compile(rb"\}[ \t\r\n]*(?:,[ \t\r\n]*\{|\])")


class _JsonScanner:
    """Splits a JSON stream into top-level values, or the elements of top-level arrays."""

    def __init__(self, stream: BinaryIO, source: str, limit: int) -> None:
        # read1: one read that fails (a damaged gzip) must not discard the bytes before it
        self.read = getattr(stream, "read1", stream.read)
        self.source = source
        self.limit = limit
        self.buf = b""
        self.eof = False
        self.error: BaseException | None = None  # a read error met while peeking, raised later
        self.base = 0  # offset in the source of buf[0]
        self.line_pos = 0  # offset in buf up to which newlines are counted
        self.line_no = 1  # line number at line_pos
        self.line_start = 0  # offset in the source where line line_no begins
        self.no_newline = 0  # buf has no newline between a record's start and this offset
        # The record last yielded: its start and end in buf, and the column it starts at.
        self.rec_start = self.rec_end = self.rec_col = 0

    def fill(self) -> bool:
        """Read one more chunk; False at end of input."""
        if self.eof:
            return False
        if self.error is not None:
            raise self.error
        chunk = self.read(_CHUNK)
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        return True

    def line_of(self, offset: int) -> int:
        """The line number at ``offset`` (never below the last offset asked about)."""
        newlines = self.buf.count(b"\n", self.line_pos, offset)
        if newlines:
            self.line_no += newlines
            self.line_start = self.base + self.buf.rfind(b"\n", self.line_pos, offset) + 1
        self.line_pos = offset
        return self.line_no

    def column_of(self, offset: int) -> int:
        """The 1-based column (in bytes) of ``offset``, just after ``line_of(offset)``."""
        return self.base + offset - self.line_start + 1

    def trim(self, offset: int) -> int:
        """Drop buf[:offset] once it is large; returns how far offsets moved."""
        if offset < _CHUNK:
            return 0
        self.line_of(offset)
        self.buf = self.buf[offset:]
        self.line_pos -= offset
        self.no_newline = max(0, self.no_newline - offset)
        self.base += offset
        return offset

    def whole_line_object(self, pos: int) -> tuple[dict[str, Any], int] | None:
        """(object, end offset) when the rest of the line at ``pos`` is exactly one object.

        Where a search found no newline is remembered: in a minified array every element
        would otherwise search the same megabyte again.
        """
        stop = pos + self.limit + 2
        nl = self.buf.find(b"\n", max(pos, self.no_newline), stop)
        if nl < 0:
            self.no_newline = min(stop, len(self.buf))
            return None
        end = nl
        while end > pos and self.buf[end - 1] in b" \t\r":
            end -= 1
        if end > pos and self.buf[end - 1] == 0x2C:  # a trailing ','
            end -= 1
            while end > pos and self.buf[end - 1] in b" \t\r":
                end -= 1
        if end - pos > self.limit or self.buf[end - 1] != 0x7D:
            return None
        try:
            value = orjson.loads(self.buf[pos:end])
        except orjson.JSONDecodeError:
            return None
        if type(value) is not dict or (may_nest_deep(self.buf[pos:end]) and _too_deep(value)):
            return None
        return value, end

    def packed_object(self, pos: int) -> tuple[dict[str, Any], int] | None:
        """(object, end offset) when a '}' before ', {' or ']' ends the object at ``pos``.

        A span from ``pos`` that parses as one JSON value ends where the object does
        (its first '{' has one matching '}'), so a candidate that parses cannot be wrong;
        a few candidates are tried before the scanner walks the element token by token.
        """
        for n, m in enumerate(_OBJECT_END.finditer(self.buf, pos, pos + self.limit + 2)):
            if n == 8:
                return None
            end = m.start() + 1
            try:
                value = orjson.loads(self.buf[pos:end])
            except orjson.JSONDecodeError:
                continue
            if type(value) is not dict or (may_nest_deep(self.buf[pos:end]) and _too_deep(value)):
                return None
            return value, end
        return None

    def skip_space(self, pos: int) -> int:
        while True:
            end = _SPACE.match(self.buf, pos)
            pos = end.end() if end else pos
            if pos < len(self.buf) or not self.fill():
                return pos

    def value_end(self, start: int, in_array: bool) -> tuple[int, int, str | None]:
        """Scan the value at ``start``; (start, end, problem) with offsets after any trim.

        In an array the value ends before the ``,`` or ``]`` at its own depth;
        at top level it ends after its closing bracket. ``problem`` is
        "truncated" or "oversized" when the value could not be isolated whole.
        """
        depth = 0
        pos = start
        oversized = False
        in_string = False
        while True:
            if in_string:
                # Inside a string cut by the end of the buffer: walk its body.
                pos = _STRING_BODY.match(self.buf, pos).end()  # type: ignore[union-attr]
                if pos < len(self.buf) and self.buf[pos] == 0x22:
                    in_string = False
                    pos += 1
                    continue
                m = None
                resume = pos
            else:
                m = _TOKEN.search(self.buf, pos)
                if m is not None and m.end() - m.start() == 1 and self.buf[m.start()] == 0x22:
                    in_string = True
                    pos = m.end()
                    continue
                resume = len(self.buf)
            if m is None:
                if not oversized and resume - start > self.limit:
                    oversized = True
                if oversized:
                    shift = self.trim(resume)
                    start -= shift
                    resume -= shift
                if not self.fill():
                    if depth == 0 and not in_string and not oversized:
                        return start, len(self.buf), None  # complete, but the array is not
                    return start, len(self.buf), "oversized" if oversized else "truncated"
                pos = resume
                continue
            c = self.buf[m.start()]
            pos = m.end()
            if c in (0x7B, 0x5B):  # { [
                depth += 1
            elif c in (0x7D, 0x5D):  # } ]
                if depth == 0:
                    return start, m.start(), "oversized" if oversized else None
                depth -= 1
                if depth == 0 and not in_array:
                    return start, pos, "oversized" if oversized else None
            elif c == 0x2C and depth == 0:  # ,
                return start, m.start(), "oversized" if oversized else None
            if not oversized and pos - start > self.limit:
                oversized = True

    def items(self) -> Iterator[RecordItem]:
        """The records (or their errors), in order, numbered by line or, if packed, by index.

        The records of the first read chunk are held back until the numbering is chosen:
        by index when two of them start on one line (or the first record and the next).
        """
        records = self._items()
        held: list[tuple[RecordItem, int]] = []  # (item, the column its record starts at)
        error: BaseException | None = None
        try:
            for item in records:
                held.append((item, self.rec_col))
                if self.base + self.rec_end >= _CHUNK:
                    break
        except _READ_ERRORS as err:  # what is left in the buffer was cut by the damage
            error = err
        lines = {item.position for item, _ in held}
        packed = len(lines) < len(held) or (len(held) == 1 and error is None and self.shares_line())
        count = 0
        for item, col in held:
            count += 1
            yield self.indexed(item, count, col) if packed else item
        try:
            if error is None and not packed:
                yield from records  # the common case: no per-record work here
            elif error is None:
                for item in records:
                    count += 1
                    yield self.indexed(item, count, self.rec_col)
        except _READ_ERRORS as err:
            error = err
        if error is not None:
            line = self.line_of(len(self.buf))
            yield _read_failed(self.source, line, error, count + 1 if packed else None)

    def shares_line(self) -> bool:
        """Whether another record starts on the line where the last one starts and ends."""
        if b"\n" in self.buf[self.rec_start : self.rec_end]:
            return False
        pos, comma = self.rec_end, False
        while True:
            if pos >= len(self.buf):
                try:
                    if not self.fill():
                        return False
                except _READ_ERRORS as err:  # keep it for the reader, after this record
                    self.error = err
                    return False
                continue
            c = self.buf[pos]
            if c in b" \t\r" or (c == 0x2C and not comma):  # spaces, one ','
                comma = comma or c == 0x2C
                pos += 1
                continue
            return c not in b"\n]"

    def indexed(self, item: RecordItem, index: int, col: int) -> RecordItem:
        """``item`` at its index in the source; an error says where the record starts."""
        if item.error is None:
            return _fast_item(item.source, index, item.record or {})
        where = f" (record {index} starts at line {item.position}, column {col})"
        return _bad(item.source, index, item.error + where)

    def _items(self) -> Iterator[RecordItem]:
        """Every record or error item at its line; ``rec_*`` hold the span of the last one."""
        source, limit = self.source, self.limit
        self.fill()
        pos = 0
        if self.buf.startswith(_BOM):
            pos = len(_BOM)
        in_array = False
        expect_value = False
        while True:
            pos -= self.trim(pos)
            pos = self.skip_space(pos)
            if pos >= len(self.buf):
                if in_array:
                    yield self.at(pos, pos, _bad(
                        source,
                        self.line_of(pos),
                        "truncated JSON: the array is not closed at the end of the file",
                    ))
                return
            c = self.buf[pos]
            if not in_array:
                if c == 0x5B:  # [
                    in_array, expect_value = True, True
                    pos += 1
                    continue
                if c != 0x7B:  # not {
                    line = self.line_of(pos)
                    snippet = self.buf[pos : pos + 20].split(b"\n")[0].decode("utf-8", "replace")
                    yield self.at(pos, pos, _bad(
                        source,
                        line,
                        f"expected an object or an array of objects, found {snippet!r}; "
                        "the rest of this file was not read",
                    ))
                    return
            else:
                if c == 0x5D:  # ]
                    in_array = False
                    pos += 1
                    continue
                if c == 0x2C:  # ,
                    if expect_value:
                        yield self.at(pos, pos, _bad(
                            source, self.line_of(pos), "invalid JSON: missing value"))
                    expect_value = True
                    pos += 1
                    continue
                if not expect_value:
                    yield self.at(pos, pos, _bad(
                        source,
                        self.line_of(pos),
                        "invalid JSON: expected ',' or ']' between elements; "
                        "the rest of this file was not read",
                    ))
                    return
            line = self.line_of(pos)
            if in_array and c == 0x7B:
                # Fast paths: a line that parses whole, or a span up to a '}' before ', {'
                # or ']' that parses whole (minified), is the element.
                fast = self.whole_line_object(pos) or self.packed_object(pos)
                if fast is not None:
                    value, end = fast
                    expect_value = False
                    self.rec_start, self.rec_end = pos, end  # rec_col: errors only
                    pos = end
                    wrapper = None if "stage" in value else _wrapper(value, source)
                    if wrapper is not None:
                        yield self.at(self.rec_start, end, _bad(source, line, wrapper))
                        continue
                    yield _fast_item(source, line, value)
                    continue
            col = self.column_of(pos)
            start, end, problem = self.value_end(pos, in_array)
            expect_value = False
            if problem == "truncated":
                yield self.at(start, end, _bad(
                    source, line, "truncated JSON: the file ends inside this record"), col)
                return
            if problem == "oversized" or end - start > limit:
                item = _bad(source, line, f"record over {limit} bytes")
            else:
                data = self.buf[start:end]
                try:
                    value = orjson.loads(data)
                except orjson.JSONDecodeError as err:
                    item = _bad(source, line, _json_error(err, data.rstrip(), line, col))
                else:
                    if type(value) is not dict:
                        item = _bad(source, line, _not_object(value))
                    elif may_nest_deep(data) and _too_deep(value):
                        item = _bad(source, line, TOO_DEEP)
                    elif (wrapper := _wrapper(value, source)) is not None:
                        item = _bad(source, line, wrapper)
                    else:
                        item = RecordItem(source, line, value, None)
            yield self.at(start, end, item, col)
            pos = end

    def at(self, start: int, end: int, item: RecordItem, col: int = 0) -> RecordItem:
        """``item``, noting the span and column of its record for :meth:`items`."""
        self.rec_start, self.rec_end = start, end
        self.rec_col = col or self.column_of(start)
        return item


# --------------------------------------------------------------------------- CSV


def _open_quote_at_end(line: str, in_quote: bool) -> bool:
    """Whether a CSV line (excel dialect, as Python's csv reads it) ends inside a quoted cell."""
    i = 0
    n = len(line)
    while True:
        if in_quote:
            j = line.find('"', i)
            if j < 0:
                return True
            if j + 1 < n and line[j + 1] == '"':
                i = j + 2
                continue
            in_quote = False
            k = line.find(",", j + 1)
            if k < 0:
                return False
            i = k + 1
        elif i < n and line[i] == '"':
            in_quote = True
            i += 1
        else:
            k = line.find(",", i)
            if k < 0:
                return False
            i = k + 1


_Line = tuple[int, str, "str | None", int]  # (number, text, error, bytes)


def _header_hint(
    names: Sequence[str], line: int, field_types: Mapping[str, frozenset[str]] | None
) -> str | None:
    """Why a CSV header with no ``stage`` column makes every row an error, when it can be
    told: ``Stage`` written in another case, or a file separated by ``;`` or tabs."""
    known = {k.casefold(): k for k in sorted({"id", "stage", *(field_types or ())})}
    renames = [(n, known[n.casefold()]) for n in names
               if n.casefold() in known and known[n.casefold()] not in names]
    stage = next((n for n, k in renames if k == "stage"), None)
    if stage is not None:
        others = ", ".join(f"{n!r} to {k!r}" for n, k in renames if k != "stage")
        return (f"the header on line {line} has {stage!r} and no 'stage'; column names are "
                f"case-sensitive: rename {stage!r} to 'stage'"
                + (f" (and {others})" if others else ""))
    for name in names:
        if ";" in name or "\t" in name:
            words = ("';': the file looks semicolon-separated" if name.count(";")
                     >= name.count("\t") else "tabs: the file looks tab-separated")
            return (f"the header on line {line} has no 'stage' column but a name holding "
                    f"{words} ({_shown(name)}); re-export it with commas between the columns")
    return None


def _shown(text: str) -> str:
    """A cell's text quoted for a message, cut to 40 characters (as CellError shows it)."""
    return repr(text if len(text) <= 40 else text[:37] + "...")


class _CsvLines:
    """Physical lines with their numbers, decoded, with push-back for re-reading."""

    def __init__(self, stream: BinaryIO, limit: int) -> None:
        self.readline: Callable[[int], bytes] = stream.readline
        self.stream = stream
        self.limit = limit
        self.lineno = 0
        self.first: int | None = None  # the number of the first non-blank line
        self.open_from: int | None = None  # the first line of a record still being read
        self.replay: list[_Line] = []
        self.lines: _Lines | None = None  # after a lone CR: lines end at CR too

    def next(self) -> _Line | None:
        """The next line; its text is best-effort when ``error`` says it is unreadable.

        A lone CR ends a line, as Python's csv reads a file opened with ``newline=''``:
        the text keeps it, so a quoted cell keeps the CR in it.
        """
        if self.replay:
            return self.replay.pop()
        raw = self.readline(self.limit + 2)
        if not raw:
            return None
        if self.lines is None and b"\r" in raw and _lone_cr(raw):
            self.lines = _Lines(raw, self.stream)
            self.readline = self.lines.readline
            raw = self.readline(self.limit + 2)
        self.lineno += 1
        if len(raw) == self.limit + 2 and not raw.endswith(b"\n"):
            _skip_rest_of_line(self.readline)
            return self.lineno, "", f"record over {self.limit} bytes", len(raw)
        if self.lineno == 1 and raw.startswith(_BOM):
            raw = raw[len(_BOM) :]
        if self.first is None and raw.strip():
            self.first = self.lineno
        try:
            text = raw.decode("utf-8")
            error = None
        except UnicodeDecodeError as err:
            text = raw.decode("utf-8", "replace")
            error = _utf8_error(raw, err.start, self.lineno)
        if self.lines is not None and self.lines.cr:
            text = text[:-1] + "\r"  # the line ended in a lone CR, returned as LF
        return self.lineno, text, error, len(raw)

    def push_back(self, lines: list[_Line]) -> None:
        """Read ``lines`` again, in order, before anything new."""
        self.replay.extend(reversed(lines))


def _read_csv(
    stream: BinaryIO,
    source: str,
    limit: int,
    field_types: Mapping[str, frozenset[str]] | None,
    *,
    sniffed: bool = False,
) -> Iterator[RecordItem]:
    """CSV records; a ``sniffed`` input that is only a header line gets an error item for it.

    A ``.csv`` file holding just its header is an empty batch; text guessed to be CSV
    that has no row after its first line is more likely not a deal file at all.
    """
    lines = _CsvLines(stream, limit)
    found = False
    try:
        for item in _csv_records(lines, source, limit, field_types):
            found = True
            yield item
    except _READ_ERRORS as err:  # a record that spans lines began before the damage
        yield _read_failed(source, lines.open_from or lines.lineno + 1, err)
        return
    if sniffed and not found and lines.first is not None:
        yield _bad(source, lines.first, "not a record: read as a CSV header (the format was "
                   "guessed), and no row follows it; a deal file needs rows")


def _csv_records(
    lines: _CsvLines,
    source: str,
    limit: int,
    field_types: Mapping[str, frozenset[str]] | None,
) -> Iterator[RecordItem]:
    if csv.field_size_limit() < limit:
        # Process-wide, but only ever raised: our own per-record cap is the real bound.
        csv.field_size_limit(limit)
    header: list[str] | None = None
    header_error: str | None = None
    header_line = 0
    named = 0  # the columns before the unnamed ones a trailing delimiter makes
    typer = RowTyper((), field_types)
    recovering_until = 0  # lines up to this number are read one line per record
    while True:
        first = lines.next()
        if first is None:
            return
        start, text, error, size = first
        if error is None and not text.strip():
            continue  # blank line
        group = [first]
        lines.open_from = start
        single = start <= recovering_until
        in_quote = '"' in text and _open_quote_at_end(text.rstrip("\r\n"), False)
        broken: str | None = None  # the group cannot be one record: report and re-read
        if in_quote and single:
            broken = f"unclosed quote on line {start}"
        while in_quote and not single:
            nxt = lines.next()
            if nxt is None:
                broken = f"unclosed quote: the cell opened on line {start} never ends"
                break
            group.append(nxt)
            size += nxt[3]
            if size > limit:
                broken = f"record over {limit} bytes (or an unclosed quote on line {start})"
                break
            error = error or nxt[2]
            in_quote = _open_quote_at_end(nxt[1].rstrip("\r\n"), True)
        lines.open_from = None
        if broken is not None:
            if len(group) > 1:
                recovering_until = group[-1][0]
                lines.push_back(group[1:])
            yield _bad(source, start, broken)
            continue
        if error is not None:
            if header is None:
                header, header_error = [], f"the header on line {start} cannot be read: {error}"
            yield _bad(source, start, error)
            continue
        try:
            row = next(csv.reader([g[1] for g in group]), [])
        except csv.Error as err:
            if header is None:
                header, header_error = [], f"the header on line {start} cannot be read: {err}"
            yield _bad(source, start, f"invalid CSV: {err}")
            continue
        if header is None:
            header, header_line = [c.strip() for c in row], start
            # A delimiter ending every line makes unnamed last columns: their empty cells
            # are no field (a cell with text in one is its row's error, below).
            named = len(header)
            while named > 1 and not header[named - 1]:
                named -= 1
            seen: set[str] = set()
            for name in header[:named]:
                if not name:
                    header_error = f"the header on line {start} has an empty column name"
                elif name in seen:
                    header_error = f"the header on line {start} repeats column {name!r}"
                seen.add(name)
            if header_error is None and "stage" not in header:
                header_error = _header_hint(header[:named], start, field_types)
            typer = RowTyper(header[:named], field_types)
            continue
        if header_error is not None:
            yield _bad(source, start, header_error)
            continue
        if len(row) != len(header) and not named <= len(row) < len(header):
            message = (f"row has {len(row)} field{'s' if len(row) != 1 else ''}, "
                       f"header has {len(header)}")
            if len(group) > 1:
                message += f" (is a quote on line {start} left open?)"
                recovering_until = group[-1][0]
                lines.push_back(group[1:])
            yield _bad(source, start, message)
            continue
        if len(row) > named:
            filled = next((i for i in range(named, len(row)) if row[i].strip()), None)
            if filled is not None:
                yield _bad(source, start, f"line {start}: column {filled + 1} has no name in "
                           f"the header on line {header_line}, but this row has "
                           f"{_shown(row[filled])} in it; name the column in the header, or "
                           "leave its cells empty")
                continue
            del row[named:]
        try:
            record = typer(row)
        except CellError as err:
            at = header.index("id") if "id" in header[:named] else -1
            deal = row[at].strip() if 0 <= at < len(row) else ""
            yield _bad(source, start, f"line {start}, {err}", deal or None)
            continue
        # The record itself has no bracket in CSV: MAX_DEPTH of them may already nest too deep.
        if sum(g[1].count("[") + g[1].count("{") for g in group) >= MAX_DEPTH and _too_deep(record):
            yield _bad(source, start, TOO_DEEP)
            continue
        yield RecordItem(source, start, record, None)


# --------------------------------------------------------------------------- YAML

_YamlBase: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _TooDeep(Exception):
    """A YAML record nests more than MAX_DEPTH levels: its events were skipped, not composed."""


class _DealLoader(_YamlBase):  # type: ignore[misc]
    """Safe YAML, but timestamps stay strings, as they would in JSON.

    Nodes are composed by PyYAML's Python composer, with a depth bound, instead of
    libyaml's: that one recurses in C and crashed the process (SIGSEGV) on input nested
    some 50,000 levels. Past the bound the collection's events are skipped, and its
    record becomes an error item.
    """

    check_node = yaml.composer.Composer.check_node
    get_node = yaml.composer.Composer.get_node
    compose_document = yaml.composer.Composer.compose_document
    compose_scalar_node = yaml.composer.Composer.compose_scalar_node
    compose_sequence_node = yaml.composer.Composer.compose_sequence_node
    compose_mapping_node = yaml.composer.Composer.compose_mapping_node

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.anchors: dict[str, yaml.Node] = {}
        self.depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        """A node, or a stand-in for a collection nested too deep (from the document root)."""
        starts = (yaml.SequenceStartEvent, yaml.MappingStartEvent)
        if self.depth > MAX_DEPTH and self.check_event(*starts):
            first = self.get_event()
            level = 1
            while level:  # skip the collection's events: iterative, so any depth is safe
                event = self.get_event()
                level += isinstance(event, starts) - isinstance(
                    event, (yaml.SequenceEndEvent, yaml.MappingEndEvent))
            return yaml.ScalarNode(_TOO_DEEP_TAG, "", first.start_mark, event.end_mark)
        self.depth += 1
        try:
            node = yaml.composer.Composer.compose_node(self, parent, index)
        finally:
            self.depth -= 1
        return node

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        """A mapping whose keys are written once: a key given twice kept its last value
        without a word (a second ``owner:`` silently replaced the first), as JSON readers
        do but a deal file's author never means."""
        seen: dict[Any, yaml.Mark] = {}
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                key = key_node.value
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"the key {key!r} is given twice (first on line "
                        f"{seen[key].line + 1}); keep one", key_node.start_mark)
                seen[key] = key_node.start_mark
        mapping: dict[Any, Any] = super().construct_mapping(node, deep=deep)
        return mapping

    def construct_too_deep(self, node: yaml.Node) -> None:
        """The stand-in of a collection nested too deep: this record is an error."""
        raise _TooDeep(TOO_DEEP)

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        """An integer; past Python's digit limit a located YAML error, not a ValueError."""
        try:
            value: int = super().construct_yaml_int(node)
        except ValueError:
            limit = sys.get_int_max_str_digits()
            if not _DIGITS.fullmatch(str(node.value).replace("_", "")):
                raise
            raise yaml.constructor.ConstructorError(
                None, None, f"integer out of range: more than {limit} digits", node.start_mark
            ) from None
        return value


_DIGITS = re.compile(r"[-+]?[0-9]+")
_TOO_DEEP_TAG = "tag:cycleflow,2026:too-deep"
_DealLoader.add_constructor("tag:yaml.org,2002:int", _DealLoader.construct_yaml_int)
_DealLoader.add_constructor(_TOO_DEEP_TAG, _DealLoader.construct_too_deep)

def _deal_resolvers() -> dict[Any, list[tuple[str, re.Pattern[str]]]]:
    """How plain scalars of a deal file are typed: as YAML 1.2 and JSON type them, not as
    PyYAML's YAML 1.1. There ``country: NO`` (Norway) was ``false``, ``owner: no`` too,
    ``id: 0030`` the octal number 24, and ``1_000``, ``1:20`` numbers; now these are text,
    which is what a CRM export means. Timestamps stay text, as in JSON."""
    typed = {
        "tag:yaml.org,2002:bool": (_BOOL_12, "tTfF"),
        "tag:yaml.org,2002:int": (_INT_12, "-+0123456789"),
        "tag:yaml.org,2002:float": (_FLOAT_12, "-+0123456789."),
    }
    out: dict[Any, list[tuple[str, re.Pattern[str]]]] = {}
    for first, resolvers in _YamlBase.yaml_implicit_resolvers.items():
        kept = [(tag, rx) for tag, rx in resolvers
                if tag not in typed and tag != "tag:yaml.org,2002:timestamp"]
        if kept:
            out[first] = kept
    for tag, (rx, firsts) in typed.items():
        for first in firsts:
            out.setdefault(first, []).append((tag, rx))
    return out


_BOOL_12 = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_INT_12 = re.compile(r"^[-+]?(?:0|[1-9][0-9]*)$")
_FLOAT_12 = re.compile(r"^(?:[-+]?(?:\.[0-9]+|(?:0|[1-9][0-9]*)(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
                       r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$")
_DealLoader.yaml_implicit_resolvers = _deal_resolvers()


def _json_problem(value: Any, limit: int) -> str | None:
    """Why a constructed YAML value is not a JSON object of at most ``limit`` bytes, or None."""
    budget = limit
    stack: list[tuple[Any, str, int]] = [(value, "", 1)]
    while stack:
        v, path, depth = stack.pop()
        if depth > MAX_DEPTH and isinstance(v, (list, dict)):
            return TOO_DEEP
        if isinstance(v, str):
            budget -= len(v) + 3
        elif v is None or isinstance(v, (bool, int)):
            budget -= 6
        elif isinstance(v, float):
            if math.isnan(v):
                return f"NaN is not allowed (at {path or 'top'})"
            if math.isinf(v):
                return f"Infinity is not allowed (at {path or 'top'})"
            budget -= 8
        elif isinstance(v, list):
            budget -= 2 + len(v)
            stack.extend((x, f"{path}[{i}]", depth + 1) for i, x in enumerate(v))
        elif isinstance(v, dict):
            budget -= 2 + len(v)
            for k, x in v.items():
                if not isinstance(k, str):
                    return f"key {k!r} at {path or 'top'} is not a string (quote it)"
                stack.append((x, f"{path}.{k}" if path else k, depth + 1))
        else:
            return f"{type(v).__name__} value at {path or 'top'} has no JSON equivalent"
        if budget < 0:
            return f"record over {limit} bytes"
    return None


def _read_yaml(
    stream: BinaryIO, source: str, limit: int, *, sniffed: bool = False
) -> Iterator[RecordItem]:
    """One item per list item or document; ``sniffed`` text with no document gets an error.

    When the source is damaged part-way, the text up to the damage is parsed and its
    last record is dropped with the rest (it may be cut), and the error item is at its line;
    bytes that are not gzip after a complete gzip stream cut nothing.
    """
    data, error = _read_head(stream, MAX_YAML_BYTES + 1)
    cut = error is not None and not _ends_cleanly(error)
    if len(data) > MAX_YAML_BYTES:
        yield _bad(
            source,
            0,
            f"YAML source over {MAX_YAML_BYTES} bytes: split it or use JSON Lines; not read",
        )
        return
    if cut:
        data = data[: data.rfind(b"\n") + 1]  # whole lines only
    if data.startswith(_BOM):
        data = data[len(_BOM) :]
    deep = _flow_too_deep(data)
    if deep:
        yield _bad(source, deep, f"[ and {{ nest more than {MAX_FLOW_DEPTH} levels deep here "
                   "(YAML reading time grows with the square of it); this file was not read")
        return
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        yield _bad(source, line, _utf8_error(data, err.start, 1) + "; this file was not read")
        return
    loader = _DealLoader(text)
    held: RecordItem | None = None  # with damage, the last record waits: it may be cut
    found = False
    try:
        for item in _yaml_items(loader, source, limit):
            found = True
            if not cut:
                yield item
                continue
            if held is not None:
                yield held
            held = item
        if error is None and not found and sniffed and text.strip():
            yield _bad(source, 1, "not a record: read as YAML (the format was guessed), "
                       "and it holds no record")
    except yaml.YAMLError as err:
        if not cut:  # with damage, a syntax error at the cut is the damage's
            mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
            line = mark.line + 1 if mark is not None else 0
            yield _bad(source, line, f"{_yaml_problem(err)}; the rest of this file was not read")
    finally:
        loader.dispose()
    if error is not None:
        after = text.count("\n") + 1  # the damage begins after the last line read
        yield _read_failed(source, held.position if held else after, error)


#: Flow brackets nested this deep make libyaml's scanner quadratic (50,000 levels: 6 s,
#: 1 MB of them: minutes); no record comes near it (records stop at MAX_DEPTH).
MAX_FLOW_DEPTH = 10 * MAX_DEPTH
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}\n")


def _flow_too_deep(data: bytes) -> int | None:
    """The line where ``[``/``{`` first nest past :data:`MAX_FLOW_DEPTH`, or None.

    Brackets inside quoted text count too: that only errs on the side of refusing,
    and no real deal quotes a thousand unclosed brackets.
    """
    if data.count(b"[") + data.count(b"{") <= MAX_FLOW_DEPTH:
        return None
    depth, line = 0, 1
    for ch in data.translate(None, _NOT_BRACKETS):
        if ch == 10:
            line += 1
        elif ch in (91, 123):
            depth += 1
            if depth > MAX_FLOW_DEPTH:
                return line
        elif depth:
            depth -= 1
    return None


def yaml_records(text: str, source: str, limit: int = MAX_RECORD_BYTES) -> list[RecordItem]:
    """The records of one YAML text with the batch reader's bounds: nesting (block and
    flow), the record size cap (which an alias bomb exceeds while it is being measured, not
    after it was expanded), no timestamps. YAML syntax errors propagate."""
    deep = _flow_too_deep(text.encode("utf-8", "surrogatepass"))
    if deep:
        return [_bad(source, deep, f"[ and {{ nest more than {MAX_FLOW_DEPTH} levels deep "
                     "here; not read")]
    loader = _DealLoader(text)
    try:
        return list(_yaml_items(loader, source, limit))
    finally:
        loader.dispose()


def _yaml_items(loader: Any, source: str, limit: int) -> Iterator[RecordItem]:
    """An item per top-level list item or document; YAML syntax errors propagate."""
    while loader.check_node():
        node = loader.get_node()
        # An empty document ('---' alone) is skipped; 'null' is a value, and an error.
        if isinstance(node, yaml.SequenceNode) and node.tag == _SEQ_TAG:
            for item_node in node.value:  # one record per item, each constructed alone
                yield _yaml_item(source, loader, item_node, limit)
        elif node is not None and not (node.tag == _NULL_TAG and node.value == ""):
            yield _yaml_item(source, loader, node, limit)


_SEQ_TAG = "tag:yaml.org,2002:seq"
_NULL_TAG = "tag:yaml.org,2002:null"


def _yaml_problem(err: BaseException) -> str:
    """A readable reason for a YAML error, or for any failure constructing a value."""
    if isinstance(err, yaml.YAMLError):
        return f"invalid YAML: {getattr(err, 'problem', None) or err}"
    if isinstance(err, _TooDeep):
        return TOO_DEEP
    if isinstance(err, RecursionError):
        return "record too complex to read: RecursionError"
    return f"invalid YAML value: {type(err).__name__}: {err}"


def _yaml_item(source: str, loader: Any, node: yaml.Node, limit: int) -> RecordItem:
    """The item for one document or top-level list item: a failure costs only this record."""
    line = node.start_mark.line + 1
    try:
        value = loader.construct_document(node)
    except Exception as err:  # a bad tag or scalar (!!int x, !!bool maybe, 10**5000): one record
        # construct_document resets this state only when it succeeds.
        loader.constructed_objects, loader.recursive_objects = {}, {}
        loader.state_generators, loader.deep_construct = [], False
        mark = getattr(err, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None and mark.line + 1 != line else ""
        return _bad(source, line, _yaml_problem(err) + where)
    if not isinstance(value, dict):
        return _bad(source, line, _not_object(value))
    problem = _json_problem(value, limit) or _wrapper(value, source)
    if problem is not None:
        return _bad(source, line, problem)
    return RecordItem(source, line, value, None)


# --------------------------------------------------------------------------- duplicates


class DuplicateTracker:
    """Flags the second and later records that reuse a deal id.

    Memory: one dict entry per distinct id (about 100-150 bytes each); sources
    are interned, so locations cost one int.
    """

    __slots__ = ("_field", "_first", "_index", "_sources")

    def __init__(self, field: str = "id") -> None:
        self._field = field
        self._first: dict[str, int] = {}
        self._sources: list[str] = []
        self._index: dict[str, int] = {}

    def check(self, item: RecordItem) -> str | None:
        """A message naming the first occurrence when ``item`` reuses an id, else None."""
        if item.record is None:
            return None
        return self.see(item.record.get(self._field), item.source, item.position)

    def see(self, deal_id: Any, source: str, position: int) -> str | None:
        """Record one occurrence of ``deal_id``; the duplicate message if it was seen before."""
        if deal_id is None or deal_id == "" or isinstance(deal_id, (dict, list, bool)):
            return None
        key = deal_id if isinstance(deal_id, str) else str(deal_id)
        idx = self._source_index(source)
        packed = self._first.setdefault(key, (idx << 40) | position)
        first_idx, first_pos = packed >> 40, packed & ((1 << 40) - 1)
        if first_idx == idx and first_pos == position:
            return None
        return f"duplicate deal id {key!r}: first seen at {self._sources[first_idx]}:{first_pos}"

    def see_all(
        self, ids: Sequence[str | None], source: str, positions: Sequence[int]
    ) -> list[tuple[int, str]]:
        """:meth:`see` for a block of verdict ids: ``(index, message)`` per duplicate.

        A block with no duplicate (the usual case) is recorded with set and dict
        operations instead of one call per id.
        """
        keys = [d for d in ids if d]
        if len(set(keys)) == len(keys) and self._first.keys().isdisjoint(keys):
            base = self._source_index(source) << 40
            self._first.update({d: base | p for d, p in zip(ids, positions, strict=True) if d})
            return []
        found = []
        for i, (d, p) in enumerate(zip(ids, positions, strict=True)):
            message = self.see(d, source, p)
            if message is not None:
                found.append((i, message))
        return found

    def _source_index(self, source: str) -> int:
        idx = self._index.get(source)
        if idx is None:
            idx = self._index[source] = len(self._sources)
            self._sources.append(source)
        return idx

    def __len__(self) -> int:
        return len(self._first)
