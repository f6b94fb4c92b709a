"""Deal-schema patterns that could take more than linear time, and a linear-time matcher.

Python's ``re`` backtracks, and the text comes from a deal record (up to the 1 MB record
cap): ``^(a+)+$`` on thirty ``a`` and a ``!`` runs for minutes, ``^(a+){10}$`` or
``^\\d*\\d*...$`` grow as a high power of the length, and even ``[a-z]+@`` is quadratic
when it is searched for (not anchored): 40,000 characters took 2 s. A pattern is suspect
unless it has at most one unbounded repetition, not inside another repetition, and (if
it has one) is anchored at the start. Suspect patterns are matched by RE2
(``google-re2``) in linear time; the others keep ``re``, which is 20 times cheaper per
call on short text (``^[A-Z]{3}$``, ``^[a-z][a-z0-9_]*$``).
"""

from __future__ import annotations

import importlib
import re
import sys
from collections.abc import Iterator, Mapping
from typing import Any, Final

# the parser re itself uses (re._parser from 3.11, sre_parse before)
_sre_parse: Any = importlib.import_module("re._parser" if sys.version_info >= (3, 11)
                                          else "sre_parse")

_REPEATS: Final = ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT")
_MAXREPEAT: Final = getattr(_sre_parse, "MAXREPEAT", 4294967295)


def may_backtrack(pattern: str) -> bool:
    """Whether ``re`` could take more than linear time on some text for ``pattern`` (see the
    module docstring). Conservative: some safe patterns are suspect too, and are merely
    matched by RE2."""
    try:
        parsed = _sre_parse.parse(pattern)
    except (re.error, RecursionError, OverflowError):
        return False  # not a valid pattern: the schema check reports it
    tree = list(parsed)
    varying = _count_varying(tree)
    if varying == 0:
        return False
    multiline = bool(parsed.state.flags & re.MULTILINE)  # (?m)^ matches at every line
    return varying > 1 or nested(tree) or multiline or not _anchored(tree)


def nested(tree: Any, inside: bool = False) -> bool:
    """Whether a repetition or an alternation sits inside a repetition of more than one:
    the shapes whose time grows exponentially, or as a high power, with the text."""
    for op, av in tree:
        name = str(op)
        if name in _REPEATS:
            _low, high, body = av
            if inside and (high > 1 or _count_varying(body)):
                return True
            if nested(body, inside or high > 1):
                return True
            continue
        if name == "BRANCH" and inside:
            return True
        if any(nested(child, inside) for child in _children(name, av)):
            return True
    return False


def _count_varying(items: Any) -> int:
    """How many repetitions of varying count (``*``, ``+``, ``?``, ``{0,9}``) it holds."""
    count = 0
    for op, av in items:
        name = str(op)
        if name in _REPEATS:
            count += (av[0] != av[1]) + _count_varying(av[2])
        else:
            count += sum(_count_varying(child) for child in _children(name, av))
    return count


def _anchored(items: Any) -> bool:
    """Whether the pattern can only match at the start of the text (``^``, ``\\A``)."""
    for op, av in items:
        name = str(op)
        if name == "AT":
            return str(av) in ("AT_BEGINNING", "AT_BEGINNING_STRING")
        if name == "SUBPATTERN":
            return _anchored(av[-1])
        return False
    return False


def _children(name: str, av: Any) -> list[Any]:
    """The sub-patterns of one parsed item (groups, alternatives, look-arounds)."""
    if name == "BRANCH":
        return list(av[1])
    if name == "SUBPATTERN":
        return [av[-1]]
    if name == "ATOMIC_GROUP":
        return [av]
    if name in ("ASSERT", "ASSERT_NOT"):
        return [av[1]]
    if name == "GROUPREF_EXISTS":
        return [b for b in av[1:] if b is not None]
    return []


def exponential(pattern: str) -> bool:
    """Whether ``pattern`` nests repetitions (time exponential, or a high power, in the
    text's length), as opposed to a few repetitions in a row (a low power at worst)."""
    try:
        return nested(list(_sre_parse.parse(pattern)))
    except (re.error, RecursionError, OverflowError):
        return False


#: Keywords whose values are data, not schemas: a "pattern" key inside them is a value.
_DATA_KEYWORDS: Final = frozenset({"enum", "const", "default", "examples"})


def schema_patterns(schema: Any) -> Iterator[tuple[str, tuple[Any, ...]]]:
    """Every regular expression a JSON Schema matches text with (``pattern`` values and
    ``patternProperties`` keys), with the path to it."""
    stack: list[tuple[Any, tuple[Any, ...]]] = [(schema, ())]
    while stack:
        item, at = stack.pop()
        if isinstance(item, Mapping):
            if isinstance(item.get("pattern"), str):
                yield item["pattern"], (*at, "pattern")
            for key in item.get("patternProperties") or {}:
                if isinstance(key, str):
                    yield key, (*at, "patternProperties", key)
            stack.extend((v, (*at, k)) for k, v in item.items() if k not in _DATA_KEYWORDS)
        elif isinstance(item, list):
            stack.extend((v, (*at, i)) for i, v in enumerate(item))


class UnsafePattern(ValueError):
    """A pattern that could take exponential time, where RE2 cannot stand in for ``re``."""


class LinearPattern:
    """A compiled pattern matched by RE2 in linear time, with ``re``'s ``search`` call."""

    __slots__ = ("_rx", "pattern")

    def __init__(self, pattern: str) -> None:
        import re2  # type: ignore[import-untyped]

        options = re2.Options()
        options.log_errors = False  # a pattern RE2 cannot take is reported by the caller
        self.pattern = pattern
        self._rx = re2.compile(pattern, options)

    def search(self, text: str) -> Any:
        """A match object (truthy) or None, as ``re.Pattern.search``."""
        return self._rx.search(text)


def safe_compile(pattern: str) -> Any:
    """``re.compile(pattern)``, or an RE2 :class:`LinearPattern` when ``re`` could take
    exponential time on it. ValueError when it needs both (RE2 cannot take it: a
    back-reference or look-around inside a nested repetition)."""
    if not may_backtrack(pattern):
        return re.compile(pattern)
    try:
        return LinearPattern(pattern)
    except Exception as err:  # re2.error, and anything its binding raises
        raise UnsafePattern(
            f"pattern {pattern!r} can take exponential time with Python's regular "
            f"expressions, and RE2 cannot match it in linear time ({err})"
        ) from None


__all__ = ["LinearPattern", "UnsafePattern", "exponential", "may_backtrack", "nested",
           "safe_compile", "schema_patterns"]
