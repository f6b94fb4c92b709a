"""Where each value of a loaded YAML document came from, so later stages can locate problems.

The reader records one :class:`Entry` per node, arranged like the data tree, and a
:class:`SourceMap` answers "where is the value / key / character N of the value at this path".
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

from cycleflow.errors import Location

_LINE_BREAK = re.compile("\r\n|[\n\r\x85\u2028\u2029]")
_BREAKS = "\r\n\x85\u2028\u2029"

PathItem = str | int


class Entry:
    """One node of the source tree: where its value starts, where its key is, its children.

    Positions are 0-based (as PyYAML marks are); ``key_line`` is -1 when the node is not a
    mapping value. Scalars also keep their raw text, style and extent for ``locate_in_scalar``.
    """

    __slots__ = (
        "line", "column", "key_line", "key_column", "children",
        "style", "text_start", "text_end", "raw",
    )

    def __init__(self, line: int, column: int, index: int) -> None:
        self.line = line
        self.column = column
        self.key_line = -1
        self.key_column = -1
        self.children: dict[str, Entry] | list[Entry] | None = None
        self.style: str | None = None  # "" plain, "'", '"', "|", ">"; None for collections
        self.text_start = index
        self.text_end = index
        self.raw: str | None = None

    @classmethod
    def alias_of(cls, target: Entry, line: int, column: int) -> Entry:
        """An entry for an alias use: its own position, the anchored node's content."""
        entry = cls(line, column, target.text_start)
        entry.children = target.children
        entry.style = target.style
        entry.text_end = target.text_end
        entry.raw = target.raw
        return entry


@dataclass(frozen=True)
class SourceMap:
    """Maps paths (keys and indices from the root) of a document's data to file positions."""

    file: str
    root: Entry | None = field(default=None, repr=False, compare=False)
    text: str = field(default="", repr=False, compare=False)

    def locate(self, path: Sequence[PathItem]) -> Location:
        """Where the value at ``path`` starts; the nearest known ancestor if the path is unknown."""
        entry, _ = self._walk(path)
        if entry is None:
            return Location(self.file, 1, 1)
        return Location(self.file, entry.line + 1, entry.column + 1)

    def locate_key(self, path: Sequence[PathItem]) -> Location:
        """Where the mapping key ``path[-1]`` is written (for "unknown key"); else ``locate``."""
        entry, exact = self._walk(path)
        if entry is not None and exact and entry.key_line >= 0:
            return Location(self.file, entry.key_line + 1, entry.key_column + 1)
        return self.locate(path)

    def locate_in_scalar(self, path: Sequence[PathItem], offset: int) -> Location:
        """Where character ``offset`` of the scalar at ``path`` is in the file.

        Exact for plain, quoted and block scalars on the usual layouts; best effort otherwise.
        """
        entry, exact = self._walk(path)
        if entry is None or not exact or entry.raw is None or entry.style is None:
            return self.locate(path)
        index = scalar_char_index(
            self.text, entry.text_start, entry.text_end, entry.style, entry.raw, offset
        )
        return self._position(index)

    def _walk(self, path: Sequence[PathItem]) -> tuple[Entry | None, bool]:
        """The entry at ``path`` (exact=True), or the deepest ancestor found (exact=False)."""
        entry = self.root
        if entry is None:
            return None, False
        for item in path:
            children = entry.children
            child: Entry | None = None
            if isinstance(children, dict) and isinstance(item, str):
                child = children.get(item)
            elif (
                isinstance(children, list)
                and isinstance(item, int)
                and not isinstance(item, bool)
                and 0 <= item < len(children)
            ):
                child = children[item]
            if child is None:
                return entry, False
            entry = child
        return entry, True

    @cached_property
    def _line_starts(self) -> list[int]:
        """Index of the first character of each line, with YAML's line breaks."""
        return [0, *(m.end() for m in _LINE_BREAK.finditer(self.text))]

    def _position(self, index: int) -> Location:
        """The 1-based line and column of a character index, counted as PyYAML counts them."""
        starts = self._line_starts
        line = bisect.bisect_right(starts, index) - 1
        start = starts[line]
        column = index - start - self.text.count("\ufeff", start, index)
        return Location(self.file, line + 1, column + 1)


def scalar_char_index(text: str, start: int, end: int, style: str, raw: str, offset: int) -> int:
    """The index in ``text`` of character ``offset`` of a scalar whose node spans start..end.

    Walks the source and the scalar's value side by side: escapes and doubled quotes are
    stepped over exactly, folded line breaks match spaces, block indentation is skipped.
    """
    offset = max(0, min(offset, len(raw)))
    end = min(end, len(text))
    p = _skip_properties(text, start, end)
    indent = -1  # continuation lines: -1 strips all leading blanks, n strips n spaces
    if style in ("|", ">"):
        while p < end and text[p] not in _BREAKS:
            p += 1
        p = _after_break(text, p)
        indent = _block_indent(text, p, end, raw)
        p = _skip_indent(text, p, end, indent)
    elif style in ("'", '"'):
        p += 1
    for vi in range(offset + 1):
        if vi == len(raw):
            return min(p, end)
        char = raw[vi]
        while p < end:
            here = text[p]
            if style == '"' and here == "\\":
                nxt = text[p + 1] if p + 1 < end else ""
                if nxt and nxt in _BREAKS:  # escaped line break: produces nothing
                    p = _skip_indent(text, _after_break(text, p + 1), end, -1)
                    continue
                if vi == offset:
                    return p
                p += {"x": 4, "u": 6, "U": 10}.get(nxt, 2)
                break
            if style == "'" and here == "'" and text.startswith("''", p):
                if vi == offset:
                    return p
                p += 2
                break
            if here in _BREAKS:
                matched = char in " \n"
                if matched and vi == offset:
                    return p
                p = _skip_indent(text, _after_break(text, p), end, indent)
                if matched:
                    break
                continue
            if here == char:
                if vi == offset:
                    return p
                p += 1
                break
            p += 1
        else:
            return min(p, end)
    return min(p, end)


def _skip_properties(text: str, p: int, end: int) -> int:
    """Step over an anchor (&a) and/or tag (!t) written before a scalar's content."""
    while p < end and text[p] in "&!":
        while p < end and text[p] not in " \t" and text[p] not in _BREAKS:
            p += 1
        while p < end and (text[p] in " \t" or text[p] in _BREAKS):
            p += 1
    return p


def _after_break(text: str, p: int) -> int:
    """The index just after the line break at ``p`` (a CRLF pair counts as one break)."""
    if text.startswith("\r\n", p):
        return p + 2
    return p + 1 if p < len(text) and text[p] in _BREAKS else p


def _skip_indent(text: str, p: int, end: int, indent: int) -> int:
    """Skip leading blanks of a continuation line: all of them, or at most ``indent`` spaces."""
    if indent < 0:
        while p < end and text[p] in " \t":
            p += 1
        return p
    limit = p + indent
    while p < min(limit, end) and text[p] == " ":
        p += 1
    return p


def _block_indent(text: str, p: int, end: int, raw: str) -> int:
    """The content indentation of a block scalar starting at ``p``.

    The first non-blank line is copied into the value after its indentation, so the
    indentation is that line's leading spaces in the source less those in the value.
    """
    first = raw.lstrip("\n")
    kept = len(first) - len(first.lstrip(" "))
    while p < end:
        q = p
        while q < end and text[q] == " ":
            q += 1
        if q >= end or text[q] not in _BREAKS:
            return max(0, q - p - kept)
        p = _after_break(text, q)
    return 0
