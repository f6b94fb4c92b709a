"""Values orjson refuses, made writable: shared by the reports and the audit chain.

Only odd inputs carry them (a YAML ``"\\ud800"`` escape, a CSV or YAML integer
beyond 64 bits, a Python caller's value), so callers try orjson first and scrub
only after a refusal: the common record pays nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

_INT_RANGE: Final = range(-(2**63), 2**64)  # what orjson writes as an integer


def scrub(value: Any) -> Any:
    """``value`` with lone surrogates in its strings (and keys) replaced by U+FFFD, and
    integers orjson cannot write (beyond 64 bits) as floats, as reading JSON gives them
    (as their digits when even a float cannot hold them).

    Sets become lists in a stable order, so the same value always encodes the same way.
    """
    if isinstance(value, str):
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if isinstance(value, Mapping):
        return {scrub(k) if isinstance(k, str) else k: scrub(v) for k, v in value.items()}
    if isinstance(value, (set, frozenset)):
        return [scrub(v) for v in sorted(value, key=repr)]
    if isinstance(value, (list, tuple)):
        return [scrub(v) for v in value]
    if type(value) is int and value not in _INT_RANGE:
        return _big_int(value)
    return value


def _big_int(value: int) -> float | str:
    """A float when one holds it (as reading JSON gives it), else its exact digits as text."""
    try:
        return float(value)
    except OverflowError:  # beyond 1.8e308: no JSON reader keeps it as a number either
        try:
            return str(value)
        except ValueError:  # beyond Python's 4,300-digit limit for int → str
            return f"<integer of {value.bit_length()} bits>"


__all__ = ["scrub"]
