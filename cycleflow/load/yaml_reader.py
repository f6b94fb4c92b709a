"""The safe YAML reader: policy text in, a plain data tree and a source map out.

Policy files are untrusted. This module never constructs Python objects from YAML: it reads
PyYAML's event stream (libyaml's parser when present, for speed, else PyYAML's own
pure-Python parser) and composes the tree itself, without recursion, so that it can refuse,
with a located :class:`~cycleflow.errors.Problem`, everything a policy must not contain:
oversized or non-UTF-8 files, several documents, tags, alias bombs, deep nesting, duplicate
keys, non-string keys, merge keys (``<<``, refused rather than supported) and plain scalars
whose meaning differs between YAML 1.1 and 1.2 (``no``, ``on``, ``0030``, ``1:20``, ``1_000``).
Scalars are resolved with the YAML 1.2 core schema; dates stay strings.
"""

from __future__ import annotations

import codecs
import hashlib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import yaml
from yaml.events import (
    AliasEvent,
    DocumentStartEvent,
    Event,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)

from cycleflow.errors import (
    FULL_WIDTH,
    FULL_WIDTH_ADVICE,
    Location,
    PolicyError,
    Problem,
    full_width_message,
)
from cycleflow.load.source_map import Entry, SourceMap

_CParser: Any
try:  # libyaml's event parser, when PyYAML was built with it: about ten times faster
    from yaml._yaml import CParser as _CParser
except ImportError:  # pragma: no cover - depends on how PyYAML was installed
    _CParser = None

_USE_LIBYAML = _CParser is not None  # tests switch this off to exercise the Python parser


@dataclass(frozen=True, slots=True)
class Limits:
    """Resource caps for reading one policy file (bytes, nesting, alias uses, expanded nodes)."""

    max_bytes: int = 2_000_000
    max_depth: int = 64
    max_aliases: int = 100
    max_nodes: int = 200_000
    #: Whether errors may quote the document (False for a file a policy names: an include
    #: of a secret file must not print it in lint's output)
    quote_content: bool = True


@dataclass(frozen=True)
class Document:
    """A policy file read safely: plain data, where each value came from, and its digest."""

    data: Any
    source_map: SourceMap
    text: str
    sha256: str
    file: str


def read_yaml_text(
    text: str | bytes, *, file: str, limits: Limits = Limits()  # noqa: B008 - frozen, shared
) -> Document:
    """Read policy text (str, or raw bytes that must be UTF-8) into a Document, or raise."""
    if isinstance(text, str):
        if len(text) > limits.max_bytes:
            raise _too_large(file, limits)
        try:
            raw = text.encode("utf-8")
        except UnicodeEncodeError as err:
            where = _location_of_index(text, err.start, file)
            raise PolicyError.at(
                where, "yaml-encoding",
                f"the text contains U+{ord(text[err.start]):04X}, a lone surrogate that is "
                "not a character and cannot be stored as UTF-8",
                "remove it; it usually comes from a broken copy and paste",
            ) from None
    else:
        raw = bytes(text)
    return _read_bytes(raw, file, limits)


def read_yaml_file(
    path: str | os.PathLike[str], *, limits: Limits = Limits()  # noqa: B008 - frozen, shared
) -> Document:
    """Read a policy file into a Document; its size is checked before its content is read."""
    file = os.fspath(path)
    try:
        with open(file, "rb") as handle:
            if os.fstat(handle.fileno()).st_size > limits.max_bytes:
                raise _too_large(file, limits)
            raw = handle.read(limits.max_bytes + 1)  # a pipe or /proc file may lie about size
    except OSError as err:
        raise PolicyError.at(
            Location(file), "yaml-unreadable",
            f"cannot read the policy file: {err.strerror or err}",
            "check the path and the file's permissions",
        ) from None
    return _read_bytes(raw, file, limits)


# ---------------------------------------------------------------------------------------
# bytes -> text


def _read_bytes(raw: bytes, file: str, limits: Limits) -> Document:
    """Check size and encoding, compose the tree, and wrap it up as a Document."""
    if len(raw) > limits.max_bytes:
        raise _too_large(file, limits)
    text = _decode(raw, file)
    _check_printable(text, file)
    data, root = _Composer(text, file, limits).run()
    source_map = SourceMap(file, root, text)
    return Document(data, source_map, text, hashlib.sha256(raw).hexdigest(), file)


def _too_large(file: str, limits: Limits) -> PolicyError:
    """The error for a file over ``limits.max_bytes``."""
    return PolicyError.at(
        Location(file, 1, 1), "yaml-too-large",
        f"the policy file is larger than the limit of {limits.max_bytes:,} bytes",
        "split it into fragments with include:, or raise the limit if the file is trusted",
    )


def _decode(raw: bytes, file: str) -> str:
    """UTF-8 (an optional BOM is dropped) or a yaml-encoding error at the first bad byte."""
    body = raw[len(codecs.BOM_UTF8):] if raw.startswith(codecs.BOM_UTF8) else raw
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as err:
        good = body[: err.start].decode("utf-8")
        where = _location_of_index(good, len(good), file)
        suggestion = "save the file with UTF-8 encoding"
        if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            suggestion = "the file looks like UTF-16; save it with UTF-8 encoding"
        raise PolicyError.at(
            where, "yaml-encoding",
            f"the file is not valid UTF-8: byte 0x{body[err.start]:02X} "
            f"at line {where.line}, column {where.column} cannot be decoded",
            suggestion,
        ) from None


# Characters YAML forbids anywhere in a stream (the same set PyYAML's reader rejects).
_NON_PRINTABLE = re.compile(
    "[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
)


def _check_printable(text: str, file: str) -> None:
    """Refuse control characters (NUL, escape, ...) with their position."""
    match = _NON_PRINTABLE.search(text)
    if match is None:
        return
    code = ord(match.group())
    what = "a NUL byte; is this a binary file?" if code == 0 else "a control character"
    raise PolicyError.at(
        _location_of_index(text, match.start(), file), "yaml-encoding",
        f"the file contains U+{code:04X} ({what}), which YAML does not allow",
        "remove the character; a policy must be plain UTF-8 text",
    )


_LINE_BREAK = re.compile("\r\n|[\n\r\x85\u2028\u2029]")


def _location_of_index(text: str, index: int, file: str) -> Location:
    """The 1-based line and column of ``text[index]``."""
    line, start = 0, 0
    for match in _LINE_BREAK.finditer(text, 0, index):
        line += 1
        start = match.end()
    return Location(file, line + 1, index - start + 1)


# ---------------------------------------------------------------------------------------
# scalar resolution: YAML 1.2 core schema, with YAML 1.1 readings reported


_CORE = "tag:yaml.org,2002:"
_SCALAR_TAGS = {_CORE + name for name in ("str", "int", "float", "bool", "null")}
_NULLS = frozenset(("", "~", "null", "Null", "NULL"))
_YAML11_BOOLS = {"y": True, "yes": True, "on": True, "n": False, "no": False, "off": False}
_INT_DEC = re.compile(r"[-+]?[0-9]+")
_INT_OCT = re.compile(r"0o[0-7]+")
_INT_HEX = re.compile(r"0x[0-9a-fA-F]+")
_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
_FLOAT_INF = re.compile(r"[-+]?\.(?:inf|Inf|INF)")
_FLOAT_NAN = re.compile(r"\.(?:nan|NaN|NAN)")
_LEADING_ZERO = re.compile(r"[-+]?0[0-9]+")
_SEXAGESIMAL = re.compile(r"[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?")
_YAML11_NUMBER = re.compile(
    r"[-+]?(?:0b[01_]+|0x[0-9a-fA-F_]+|[0-9][0-9_]*(?:\.[0-9_]*)?(?:[eE][-+][0-9]+)?"
    r"|\.[0-9_]+(?:[eE][-+][0-9]+)?)"
)
_NUMBER_START = frozenset("0123456789+-.")
_MAX_INT_DIGITS = 4000  # below Python's int/str conversion limit


# A scalar's value and, if its reading is doubtful, the problem (code, message, suggestion).
_Resolved = tuple[Any, "tuple[str, str, str] | None"]


def _shorten(raw: str, limit: int = 40) -> str:
    """A scalar as shown in a message: long ones cut short."""
    return raw if len(raw) <= limit else raw[: limit - 3] + "..."


def _resolve_plain(raw: str) -> _Resolved:
    """Resolve an untagged plain scalar by the YAML 1.2 core schema, flagging 1.1 readings."""
    low = raw.lower()
    if low == "true" or low == "false":
        return low == "true", None
    if raw in _NULLS:
        return None, None
    if low in _YAML11_BOOLS:
        reading = "true" if _YAML11_BOOLS[low] else "false"
        return raw, (
            "yaml11-boolean",
            f"'{raw}' is ambiguous: YAML 1.1 tools read it as the boolean {reading}, "
            f"YAML 1.2 as the text '{raw}'",
            f'write "{raw}" in quotes for the text, or {reading} for a boolean',
        )
    if raw[0] not in _NUMBER_START:
        return raw, None
    if raw.isascii() and raw.isdigit() and (raw[0] != "0" or len(raw) == 1) and len(raw) < 20:
        return int(raw), None  # the common case, without regular expressions
    return _resolve_number(raw)


def _resolve_number(raw: str) -> _Resolved:
    """Numbers, and number-like text whose YAML 1.1 reading differs from its 1.2 one."""
    shown = _shorten(raw)
    quote = f'write "{shown}" in quotes if it is text, or write the number plainly'
    if _INT_DEC.fullmatch(raw):
        if len(raw) > _MAX_INT_DIGITS:
            return raw, (
                "yaml-number", f"the number has more than {_MAX_INT_DIGITS} digits",
                f"numbers this long are not supported; {quote}",
            )
        if _LEADING_ZERO.fullmatch(raw):
            digits = raw.lstrip("+-")
            octal = all(c in "01234567" for c in digits)
            then = f"the octal number {int(raw, 8)}" if octal else "text"
            return raw, (
                "yaml11-number",
                f"'{shown}' is ambiguous: YAML 1.1 tools read it as {then}, "
                f"YAML 1.2 as the number {int(raw)}",
                quote,
            )
        return int(raw), None
    if _INT_OCT.fullmatch(raw):
        return int(raw[2:], 8), None
    if _INT_HEX.fullmatch(raw):
        return int(raw[2:], 16), None
    if _FLOAT.fullmatch(raw):
        return float(raw), None
    if _FLOAT_INF.fullmatch(raw):
        return (float("-inf") if raw[0] == "-" else float("inf")), None
    if _FLOAT_NAN.fullmatch(raw):
        return float("nan"), None
    if _SEXAGESIMAL.fullmatch(raw):
        return raw, (
            "yaml11-number",
            f"'{shown}' is ambiguous: YAML 1.1 tools read it as a base-60 number, "
            "YAML 1.2 as text",
            quote,
        )
    if _YAML11_NUMBER.fullmatch(raw):
        return raw, (
            "yaml11-number",
            f"'{shown}' is ambiguous: YAML 1.1 tools read it as a number, YAML 1.2 as text",
            quote,
        )
    return raw, None


def _resolve_tagged(raw: str, tag: str) -> _Resolved:
    """A scalar with an explicit core tag (!!str, !!int, ...): its value must fit the tag."""
    name = tag[len(_CORE):]
    if name == "str":
        return raw, None
    value, problem = _resolve_plain(raw) if raw else (None, None)
    if problem is not None:
        return value, problem
    fits = {
        "null": value is None,
        "bool": isinstance(value, bool),
        "int": isinstance(value, int) and not isinstance(value, bool),
        "float": isinstance(value, (int, float)) and not isinstance(value, bool),
    }[name]
    if not fits:
        return raw, (
            "yaml-tag", f"'{_shorten(raw)}' is not a valid !!{name}",
            "tags are not needed in policies; remove the tag",
        )
    if name == "float":
        assert isinstance(value, (int, float))
        return float(value), None
    return value, None


# ---------------------------------------------------------------------------------------
# composing the tree from events, iteratively


class _EventSource(Protocol):
    """What the composer needs from a PyYAML parser (pure-Python or libyaml)."""

    def get_event(self) -> Event | None: ...

    def dispose(self) -> None: ...


class _Node:
    """A composed node: its data, its source entry, and its expanded size and height."""

    __slots__ = ("kind", "data", "entry", "size", "height", "merge")

    def __init__(self, kind: str, data: Any, entry: Entry, size: int, height: int) -> None:
        self.kind = kind  # "scalar", "seq" or "map"
        self.data = data
        self.entry = entry
        self.size = size  # nodes after expanding aliases
        self.height = height  # nested collections after expanding aliases
        self.merge = False  # a plain "<<"


class _Frame:
    """An open collection on the composer's stack; for mappings, the key awaiting its value."""

    __slots__ = (
        "node", "anchor", "is_list", "data", "children", "has_key", "key", "key_line", "key_column"
    )

    def __init__(self, node: _Node, anchor: str | None) -> None:
        self.node = node
        self.anchor = anchor
        self.is_list = node.kind == "seq"
        self.data: Any = node.data
        self.children: Any = node.entry.children
        self.has_key = False
        self.key: str | None = None  # None: the key was refused, drop the value
        self.key_line = -1
        self.key_column = -1


class _Fatal(Exception):
    """Stops composing; the problem is already recorded."""


_OPEN = object()  # an anchor whose node is still being composed
_KIND_NAMES = {"seq": "a list", "map": "a mapping"}


class _Composer:
    """Builds data and source entries from parser events with an explicit stack."""

    def __init__(self, text: str, file: str, limits: Limits) -> None:
        self.text = text
        self.file = file
        self.limits = limits
        self.problems: list[Problem] = []
        self.stack: list[_Frame] = []
        self.anchors: dict[str, object] = {}
        self.root: _Node | None = None
        self.nodes = 0
        self.aliases = 0
        self.documents = 0

    def run(self) -> tuple[dict[str, Any], Entry]:
        """Compose the single document; raise PolicyError with every problem found."""
        parser: _EventSource = (
            _CParser(self.text) if _USE_LIBYAML and _CParser is not None
            else yaml.SafeLoader(self.text)
        )
        try:
            self._compose(parser)
        except _Fatal:
            raise PolicyError(self.problems) from None
        except yaml.MarkedYAMLError as err:
            self.problems.append(_full_width_problem(err, self.text, self.file)
                                 or _syntax_problem(err, self.text, self.file))
            raise PolicyError(self.problems) from None
        except yaml.YAMLError as err:  # ReaderError: not expected after the checks above
            self.problems.append(Problem(
                Location(self.file, 1, 1), "yaml-syntax", f"the file cannot be read as YAML: {err}"
            ))
            raise PolicyError(self.problems) from None
        finally:
            parser.dispose()
        root = self.root
        if root is None or (root.kind == "scalar" and root.entry.raw == "" and root.data is None):
            self.problems.append(Problem(
                Location(self.file, 1, 1), "yaml-empty", "the policy file is empty",
                "a policy needs at least 'cycleflow: 1', 'id:', 'version:' and 'stages:'",
            ))
        elif root.kind != "map":
            raw = _shorten(root.entry.raw or "")
            what = _KIND_NAMES.get(root.kind) or (
                f"the single value '{raw}'" if self.limits.quote_content
                else f"a single value of {len(root.entry.raw or '')} characters")
            self.problems.append(Problem(
                self._where(root.entry.line, root.entry.column), "yaml-not-mapping",
                f"the policy must be a mapping of keys to values, but the document is {what}",
                "start the file with top-level keys such as 'cycleflow: 1' and 'id: ...'",
            ))
        if self.problems:
            raise PolicyError(self.problems)
        assert root is not None and isinstance(root.data, dict)
        return root.data, root.entry

    # -- events ------------------------------------------------------------------------

    def _compose(self, parser: _EventSource) -> None:
        """Consume events until the stream ends, stopping early on a fatal problem."""
        handlers: dict[type[Any], Callable[[Any], None]] = {
            ScalarEvent: self._scalar,
            MappingStartEvent: self._start_mapping,
            SequenceStartEvent: self._start_sequence,
            MappingEndEvent: self._end,
            SequenceEndEvent: self._end,
            AliasEvent: self._alias,
            DocumentStartEvent: self._document,
        }
        get_event = parser.get_event
        while True:
            event = get_event()
            handler = handlers.get(type(event))
            if handler is not None:
                handler(event)
            elif event is None or isinstance(event, StreamEndEvent):
                return

    def _document(self, event: DocumentStartEvent) -> None:
        """A document starts: only one is allowed per file."""
        self.documents += 1
        if self.documents > 1:
            self._fatal(
                event.start_mark, "yaml-multiple-documents",
                "the file holds more than one YAML document (a second one starts here)",
                "keep one policy per file: remove this '---' or split the file",
            )

    def _scalar(self, event: ScalarEvent) -> None:
        """A scalar: resolve it, check its tag, attach it."""
        mark: Any = event.start_mark  # parsers always give marks; stubs say Optional
        self.nodes += 1
        if self.nodes > self.limits.max_nodes:
            self._count_node(mark)
        raw: str = event.value
        style = event.style or ""
        tag = event.tag
        entry = Entry(mark.line, mark.column, mark.index)
        entry.style = style
        end_mark: Any = event.end_mark
        entry.text_end = end_mark.index
        entry.raw = raw
        resolved: _Resolved
        if tag is None:
            resolved = _resolve_plain(raw) if style == "" else (raw, None)
        elif tag == "!":
            resolved = raw, None
        elif tag in _SCALAR_TAGS:
            resolved = _resolve_tagged(raw, tag)
        else:
            self._tag_problem(mark, tag)
            resolved = raw, None
        value, problem = resolved
        if problem is not None:
            self._problem(mark, *problem)
        node = _Node("scalar", value, entry, 1, 0)
        node.merge = raw == "<<" and style == "" and tag is None
        if event.anchor is not None:
            self.anchors[event.anchor] = node
        self._attach(node)

    def _start_mapping(self, event: MappingStartEvent) -> None:
        """Open a mapping."""
        self._start(event, "map")

    def _start_sequence(self, event: SequenceStartEvent) -> None:
        """Open a sequence."""
        self._start(event, "seq")

    def _start(self, event: MappingStartEvent | SequenceStartEvent, kind: str) -> None:
        """Open a mapping or sequence, after checking its tag and the nesting depth."""
        mark = event.start_mark
        self.nodes += 1
        self._count_node(mark)
        tag = event.tag
        if tag is not None and tag != "!" and tag != _CORE + kind:
            self._tag_problem(mark, tag)
        if len(self.stack) >= self.limits.max_depth:
            self._too_deep(mark)
        entry = Entry(*_mark_position(mark))
        data: dict[str, Any] | list[Any]
        if kind == "map":
            data, entry.children = {}, {}
        else:
            data, entry.children = [], []
        if event.anchor is not None:
            self.anchors[event.anchor] = _OPEN
        self.stack.append(_Frame(_Node(kind, data, entry, 1, 1), event.anchor))

    def _end(self, event: Event) -> None:
        """Close the innermost collection and attach it to its parent."""
        frame = self.stack.pop()
        if frame.anchor is not None:
            self.anchors[frame.anchor] = frame.node
        self._attach(frame.node)

    def _alias(self, event: AliasEvent) -> None:
        """An alias: counted, sized from its anchor's memo (never expanded to check), copied."""
        mark = event.start_mark
        self.aliases += 1
        name = event.anchor or ""
        if self.aliases > self.limits.max_aliases:
            self._fatal(
                mark, "yaml-alias-limit",
                f"the file uses more than {self.limits.max_aliases} aliases (*{name})",
                "write the values out; policies should not rely on aliases",
            )
        target = self.anchors.get(name)
        if target is None:
            self._fatal(
                mark, "yaml-syntax", f"the alias *{name} refers to no anchor &{name} before it",
                f"define &{name} before using *{name}, or write the value out",
            )
        if target is _OPEN:
            self._fatal(
                mark, "yaml-alias-limit",
                f"the alias *{name} is used inside the value it names, so it would expand "
                "forever",
                "remove the self-reference",
            )
        assert isinstance(target, _Node)
        if self.nodes + target.size > self.limits.max_nodes:
            self._fatal(
                mark, "yaml-alias-limit",
                f"the alias *{name} would expand the document past "
                f"{self.limits.max_nodes:,} values (an alias bomb)",
                "write the values out instead of nesting aliases",
            )
        if len(self.stack) + target.height > self.limits.max_depth:
            self._too_deep(mark)
        self.nodes += target.size
        line, column, _ = _mark_position(mark)
        entry = Entry.alias_of(target.entry, line, column)
        node = _Node(target.kind, _copy_tree(target.data), entry, target.size, target.height)
        self._attach(node)

    # -- building ----------------------------------------------------------------------

    def _attach(self, node: _Node) -> None:
        """Put a finished node into its parent: list item, mapping key, or mapping value."""
        if not self.stack:
            self.root = node
            return
        frame = self.stack[-1]
        parent = frame.node
        parent.size += node.size
        if node.height + 1 > parent.height:
            parent.height = node.height + 1
        if frame.is_list:
            frame.data.append(node.data)
            frame.children.append(node.entry)
        elif not frame.has_key:
            self._take_key(frame, node)
        else:
            frame.has_key = False
            key = frame.key
            if key is not None:
                frame.data[key] = node.data
                entry = node.entry
                entry.key_line = frame.key_line
                entry.key_column = frame.key_column
                frame.children[key] = entry

    def _take_key(self, frame: _Frame, node: _Node) -> None:
        """Check a mapping key: a string, not ``<<``, not seen before in this mapping."""
        entry = node.entry
        frame.has_key = True
        frame.key = None
        frame.key_line, frame.key_column = entry.line, entry.column
        where = self._where(entry.line, entry.column)
        if node.kind != "scalar":
            self.problems.append(Problem(
                where, "yaml-key-type",
                f"a mapping key must be a string, not {_KIND_NAMES[node.kind]}",
                "use a plain word as the key",
            ))
        elif node.merge:
            self.problems.append(Problem(
                where, "yaml-merge-key", "merge keys (<<) are not allowed in policies",
                "write the merged keys out in full",
            ))
        elif not isinstance(node.data, str):
            shown = "null" if node.data is None else type(node.data).__name__
            self.problems.append(Problem(
                where, "yaml-key-type",
                f"a mapping key must be a string, but '{_shorten(entry.raw or '')}' is read "
                f"as {shown}",
                f'write the key in quotes: "{_shorten(entry.raw or "")}"',
            ))
        else:
            children = frame.node.entry.children
            assert isinstance(children, dict)
            first = children.get(node.data)
            if first is not None:
                self.problems.append(Problem(
                    where, "yaml-duplicate-key",
                    f"duplicate key '{node.data}' (first given on line {first.key_line + 1})",
                    "remove one of them; the later one would silently replace the earlier",
                ))
            else:
                frame.key = node.data

    # -- limits and problems -----------------------------------------------------------

    def _count_node(self, mark: Any) -> None:
        """Stop if the nodes counted so far exceed ``max_nodes``."""
        if self.nodes > self.limits.max_nodes:
            self._fatal(
                mark, "yaml-too-large",
                f"the policy has more than {self.limits.max_nodes:,} values",
                "split it into fragments with include:",
            )

    def _too_deep(self, mark: Any) -> None:
        """Stop: nesting beyond ``max_depth``."""
        self._fatal(
            mark, "yaml-too-deep",
            f"the values are nested more than {self.limits.max_depth} levels deep",
            "flatten the structure; a policy never needs this depth",
        )

    def _tag_problem(self, mark: Any, tag: str) -> None:
        """Record a refused tag (!!python/..., !custom, !!binary, ...)."""
        shown = "!!" + tag[len(_CORE):] if tag.startswith(_CORE) else tag
        self._problem(
            mark, "yaml-tag", f"tags are not allowed in policies (found {shown})",
            "remove the tag; write the value as plain YAML",
        )

    def _where(self, line: int, column: int) -> Location:
        """A 1-based Location from 0-based mark coordinates."""
        return Location(self.file, line + 1, column + 1)

    def _problem(self, mark: Any, code: str, message: str, suggestion: str) -> None:
        """Record a problem and go on composing."""
        line, column, _ = _mark_position(mark)
        self.problems.append(Problem(self._where(line, column), code, message, suggestion))

    def _fatal(self, mark: Any, code: str, message: str, suggestion: str) -> None:
        """Record a problem and stop composing."""
        self._problem(mark, code, message, suggestion)
        raise _Fatal


def _mark_position(mark: Any) -> tuple[int, int, int]:
    """A mark's 0-based line, column and character index; zeros if the parser gave none."""
    if mark is None:
        return 0, 0, 0
    return int(mark.line), int(mark.column), int(mark.index)


def _copy_tree(data: Any) -> Any:
    """A deep copy of plain dicts and lists, without recursion, so alias uses share nothing."""
    if not isinstance(data, (dict, list)):
        return data
    top: dict[Any, Any] | list[Any] = {} if isinstance(data, dict) else []
    work: list[tuple[Any, Any]] = [(data, top)]
    while work:
        source, target = work.pop()
        items = source.items() if isinstance(source, dict) else enumerate(source)
        for key, value in items:
            if isinstance(value, (dict, list)):
                value_copy: Any = {} if isinstance(value, dict) else []
                work.append((value, value_copy))
                value = value_copy
            if isinstance(target, dict):
                target[key] = value
            else:
                target.append(value)
    return top


# ---------------------------------------------------------------------------------------
# syntax errors in plain English


_NOUNS = {
    "block mapping": "indented mapping", "flow mapping": "{...} mapping",
    "block collection": "indented block", "flow sequence": "[...] list",
    "block sequence": "list", "quoted scalar": "quoted text", "double-quoted scalar":
    "double-quoted text", "single-quoted scalar": "single-quoted text", "plain scalar": "text",
    "simple key": "key", "node": "value", "block scalar": "block text", "alias": "alias",
    "anchor": "anchor", "tag": "tag", "directive": "directive",
}


def _syntax_problem(err: yaml.MarkedYAMLError, text: str, file: str) -> Problem:
    """Turn a PyYAML/libyaml scanner or parser error into a located, readable Problem."""
    mark = err.problem_mark or err.context_mark
    line, column, index = (mark.line, mark.column, mark.index) if mark else (0, 0, 0)
    problem = (err.problem or "").strip()
    here = text[index] if 0 <= index < len(text) else ""
    line_start = text.rfind("\n", 0, index) + 1
    indentation = text[line_start:index + 1]
    indentation = indentation[: len(indentation) - len(indentation.lstrip(" \t"))]
    message, suggestion = _explain(problem, here, "\t" in indentation or here == "\t")
    context_mark = err.context_mark
    context = (err.context or "").strip()
    for prefix in ("while parsing ", "while scanning "):
        if context.startswith(prefix):
            thing = context[len(prefix):].removeprefix("a ").removeprefix("an ")
            noun = _NOUNS.get(thing)
            if noun and context_mark is not None and context_mark.line != line:
                message += f" (in the {noun} that starts on line {context_mark.line + 1})"
            if suggestion is None and noun in ("quoted text", "double-quoted text",
                                                "single-quoted text", "[...] list",
                                                "{...} mapping") and context_mark is not None:
                suggestion = f"close the {noun} opened on line {context_mark.line + 1}"
    return Problem(Location(file, line + 1, column + 1), "yaml-syntax", message, suggestion)


def _first_error(text: str) -> int | None:
    """The character index of the first syntax error of ``text``, or None if it parses
    (events only: no tree is built and no alias expanded)."""
    parser: _EventSource = (
        _CParser(text) if _USE_LIBYAML and _CParser is not None else yaml.SafeLoader(text)
    )
    try:
        while True:
            event = parser.get_event()
            if event is None or isinstance(event, StreamEndEvent):
                return None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        return int(mark.index) if mark is not None else 0
    except yaml.YAMLError:
        return 0
    finally:
        parser.dispose()


def _full_width_problem(err: yaml.MarkedYAMLError, text: str, file: str) -> Problem | None:
    """A syntax error caused by full-width punctuation (``max_days： 20``), located at that
    character: the parsers report it a line later, as a missing ':' or a misplaced ': '.

    The candidates are the full-width characters on the error's line, the non-blank line
    before it and the line where the failing construct starts; one counts as the cause when
    writing its half-width form instead moves the first error past it (or removes it).
    """
    mark = err.problem_mark or err.context_mark
    if mark is None:
        return None
    index = min(int(mark.index), len(text))
    starts = [index]
    before = text.rfind("\n", 0, index)
    while before > 0:  # the previous line that holds something
        start = text.rfind("\n", 0, before) + 1
        line = text[start:before].strip()
        if line and not line.startswith("#"):
            starts.append(start)
            break
        before = start - 1
    if err.context_mark is not None:
        starts.append(int(err.context_mark.index))
    lines: set[tuple[int, int]] = set()
    for at in starts:
        start = text.rfind("\n", 0, at) + 1
        end = text.find("\n", at)
        lines.add((start, len(text) if end < 0 else end))
    candidates = sorted(i for start, end in lines for i in range(start, end)
                        if text[i] in FULL_WIDTH)
    for i in candidates[:20]:
        half = FULL_WIDTH[text[i]][1]
        if half == ":" and i + 1 < len(text) and text[i + 1] not in " \t\r\n":
            half = ": "
        fixed = text[:i] + half + text[i + 1:]
        after = _first_error(fixed)
        if after is None or after > max(index, i) + len(half):
            return Problem(_location_of_index(text, i, file), "yaml-syntax",
                           full_width_message(text[i]), FULL_WIDTH_ADVICE)
    return None


def _explain(problem: str, here: str, tab: bool) -> tuple[str, str | None]:
    """A plain-English message and suggestion for a PyYAML/libyaml problem text."""
    if tab and ("tab" in problem or "cannot start any token" in problem):
        return ("a tab character is used for indentation; YAML allows only spaces there",
                "indent with spaces, not tabs")
    if "cannot start any token" in problem:
        return (f"the character {here!r} cannot start a value here",
                "put the value in quotes")
    if "mapping values are not allowed" in problem:
        return ("a ': ' is not allowed here",
                "put the value in quotes if it contains ': ', or check this line's indentation")
    if "expected <block end>" in problem or "did not find expected key" in problem or (
        "expected '-' indicator" in problem
    ):
        return ("this line's indentation does not match the lines around it",
                "line it up with the other keys or items at its level, using spaces")
    if "could not find expected ':'" in problem:
        return ("a key here is missing its ':'", "write 'key: value'")
    if "end of stream" in problem:
        return ("the file ends before a quote or bracket is closed", None)
    if "expected ',' or" in problem:
        return ("a [...] list or {...} mapping is missing a ',' or its closing bracket", None)
    if "unknown escape" in problem:
        return ("unknown escape sequence in double-quoted text",
                "use single quotes, or write a backslash as \\\\")
    if "tag handle" in problem or "while parsing a tag" in problem:
        return ("a malformed tag", "tags are not allowed in policies; remove it")
    if "alphabetic or numeric character" in problem:
        return ("a malformed anchor (&) or alias (*)",
                "put values that start with & or * in quotes")
    if "expected node content" in problem or "expected the node content" in problem:
        return ("a value is missing here", None)
    if "block sequence entries are not allowed" in problem:
        return ("a '- ' list item is not allowed here", "check this line's indentation")
    text = problem or "the YAML is malformed"
    return (f"invalid YAML: {text}", None)
