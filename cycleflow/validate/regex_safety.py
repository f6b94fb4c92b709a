"""Deal-schema patterns that could take exponential time, and a linear-time matcher for them.

Python's ``re`` backtracks: ``^(a+)+$`` on thirty ``a`` and a ``!`` runs for minutes, and
the value comes from a deal record. A pattern is suspect when an unbounded repetition
holds another repetition or an alternation (the classic shapes: ``(a+)+``, ``(a|aa)*``,
``(.*a){20}``). Suspect patterns are matched by RE2 (``google-re2``), which runs in
linear time; the others keep ``re``, which is 20 times cheaper per call on short text.
"""

from __future__ import annotations

import importlib
import re
import sys
from typing import Any, Final

# the parser re itself uses (re._parser from 3.11, sre_parse before)
_sre_parse: Any = importlib.import_module("re._parser" if sys.version_info >= (3, 11)
                                          else "sre_parse")

_REPEATS: Final = ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT")
_MAXREPEAT: Final = getattr(_sre_parse, "MAXREPEAT", 4294967295)
_WIDE: Final = 10  # a repetition of more than this many is treated like * or +


def may_backtrack(pattern: str) -> bool:
    """Whether ``re`` could take exponential time on some text for ``pattern``: an
    unbounded (or wide) repetition whose body repeats or branches. Conservative: a safe
    pattern such as ``^([a-z]+-)*[a-z]+$`` is suspect too, and is merely matched by RE2."""
    try:
        tree = _sre_parse.parse(pattern)
    except (re.error, RecursionError, OverflowError):
        return False  # not a valid pattern: the schema check reports it
    return _suspect(tree, inside=False)


def _suspect(items: Any, inside: bool) -> bool:
    """Whether a parsed pattern repeats or branches inside a wide repetition (``inside``)."""
    for op, av in items:
        name = str(op)
        if name in _REPEATS:
            _low, high, body = av
            if inside and high > 1:
                return True  # a repetition inside a wide repetition
            if _suspect(body, inside or high == _MAXREPEAT or high > _WIDE):
                return True
            continue
        if name == "BRANCH" and inside:
            return True  # alternatives inside a wide repetition
        if any(_suspect(child, inside) for child in _children(name, av)):
            return True
    return False


def _children(name: str, av: Any) -> list[Any]:
    """The sub-patterns of one parsed item (groups, alternatives, look-arounds)."""
    if name == "BRANCH":
        return list(av[1])
    if name == "SUBPATTERN":
        return [av[-1]]
    if name in ("ASSERT", "ASSERT_NOT"):
        return [av[1]]
    if name == "GROUPREF_EXISTS":
        return [b for b in av[1:] if b is not None]
    return []


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
        raise ValueError(
            f"pattern {pattern!r} can take exponential time with Python's regular "
            f"expressions, and RE2 cannot match it in linear time ({err})"
        ) from None


__all__ = ["LinearPattern", "may_backtrack", "safe_compile"]
