"""CSV cells are text: type them by what the policy's ``deal_schema`` declares.

``field_types`` maps a top-level field to the JSON types its schema allows
(``{"amount": {"number"}, "steps": {"array", "object"}}``). A cell is tried
against the declared types, most specific first: integer, number, boolean,
array, object, then string. Nothing is guessed: ``"1,000"`` and
``"1.000,50"`` are not numbers (thousands separators and decimal commas
differ by locale), ``NaN``/``inf`` are refused, and a cell that fits none of
the declared types is an error naming its column. An empty cell is an absent
field, or ``null`` where the schema allows null. Columns the schema does not
type stay strings.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import orjson

__all__ = [
    "CellError",
    "RowTyper",
    "convert_cell",
    "field_types_from_schema",
]

_INT = re.compile(r"[+-]?\d+")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_TRUE = frozenset({"true", "yes", "1"})
_FALSE = frozenset({"false", "no", "0"})
_NON_FINITE = re.compile(r"[+-]?(?:nan|inf|infinity)", re.IGNORECASE)
_LOCALE_NUMBER = re.compile(r"[+-]?\d{1,3}(?:[,.' \u00a0]\d{3})+(?:[.,]\d+)?|[+-]?\d+,\d+")

_ABSENT = object()


class CellError(ValueError):
    """A CSV cell does not fit the types its column declares."""

    def __init__(self, column: str, value: str, reason: str) -> None:
        self.column = column
        self.value = value
        self.reason = reason
        shown = value if len(value) <= 40 else value[:37] + "..."
        super().__init__(f"column {column!r}: {shown!r} {reason}")


def _number_reason(text: str, noun: str = "a number") -> str:
    if _NON_FINITE.fullmatch(text):
        word = "NaN" if text.lower().lstrip("+-").startswith("n") else "Infinity"
        return f"is not {noun}: {word} is not allowed"
    if _LOCALE_NUMBER.fullmatch(text):
        return (
            f"is not {noun}: write plain digits with '.' as the decimal point and no "
            "thousands separators (e.g. 1000 or 1000.50)"
        )
    return f"is not {noun}"


def _digits(column: str, text: str, s: str) -> int:
    """``int(s)`` for a cell of digits; past Python's digit limit a CellError, not a ValueError."""
    try:
        return int(s)
    except ValueError:
        limit = sys.get_int_max_str_digits()
        raise CellError(column, text, f"is out of range: more than {limit} digits") from None


def _to_int(column: str, text: str) -> int:
    s = text.strip()
    if _INT.fullmatch(s):
        return _digits(column, text, s)
    raise CellError(column, text, _number_reason(s, "an integer"))


def _to_number(column: str, text: str) -> int | float:
    s = text.strip()
    if _INT.fullmatch(s):
        return _digits(column, text, s)
    if _NUMBER.fullmatch(s):
        value = float(s)
        if math.isinf(value):
            raise CellError(column, text, "is out of range for a number")
        return value
    raise CellError(column, text, _number_reason(s))


def _to_bool(column: str, text: str) -> bool:
    s = text.strip().lower()
    if s in _TRUE:
        return True
    if s in _FALSE:
        return False
    raise CellError(column, text, "is not a boolean (true/false, yes/no, 1/0)")


def _to_array(column: str, text: str) -> list[Any]:
    s = text.strip()
    if s.startswith("{"):  # an object is no list of one string: let "object" have it
        raise CellError(column, text, "is not a JSON array (it is written as an object)")
    if s.startswith("["):
        try:
            value = orjson.loads(s)
        except orjson.JSONDecodeError as err:
            raise CellError(column, text, f"is not a JSON array: {err.msg}") from None
        if isinstance(value, list):
            return value
        raise CellError(column, text, "is not a JSON array")
    return [part.strip() for part in s.split(";") if part.strip()]


def _to_object(column: str, text: str) -> dict[str, Any]:
    try:
        value = orjson.loads(text.strip())
    except orjson.JSONDecodeError as err:
        raise CellError(column, text, f"is not a JSON object: {err.msg}") from None
    if isinstance(value, dict):
        return value
    raise CellError(column, text, "is not a JSON object")


_ORDER: tuple[tuple[str, Callable[[str, str], Any]], ...] = (
    ("integer", _to_int),
    ("number", _to_number),
    ("boolean", _to_bool),
    ("array", _to_array),
    ("object", _to_object),
)


def convert_cell(column: str, text: str, types: frozenset[str] | None) -> Any:
    """The typed value of one cell; ``_ABSENT`` (module private) never escapes: see RowTyper.

    Raises :class:`CellError` when the cell fits none of ``types``. An empty
    cell gives ``None`` when ``types`` allows null; callers drop it otherwise.
    """
    if text == "" or (types and "string" not in types and not text.strip()):
        return None if types and "null" in types else _ABSENT
    if not types or types == {"string"}:
        return text
    first: CellError | None = None
    for name, conv in _ORDER:
        if name in types:
            if name == "integer" and "number" in types:
                continue  # the number converter keeps integers as int
            try:
                return conv(column, text)
            except CellError as err:
                first = first or err
    if "string" in types:
        return text
    if first is not None:
        raise first
    # Only "null" (or unknown type names) declared: the text cannot be typed.
    allowed = ", ".join(sorted(types))
    raise CellError(column, text, f"does not fit the declared type ({allowed})")


def _converter(column: str, types: frozenset[str] | None) -> Callable[[str], Any]:
    """``convert_cell`` for one column, specialised for the common declared types.

    Same results and errors as :func:`convert_cell`; the common cases skip its generic
    walk over the type names (measured: about a third of reading a CSV row).
    """
    if types is None:
        return lambda cell: cell if cell != "" else _ABSENT
    blank = None if "null" in types else _ABSENT
    plain = types - {"null"}
    if plain == {"string"}:
        return lambda cell: cell if cell != "" else blank
    single: Callable[[str, str], Any] | None = {
        "number": _to_number, "integer": _to_int, "boolean": _to_bool
    }.get(next(iter(plain))) if len(plain) == 1 else None
    if single is not None:
        conv = single

        def typed(cell: str) -> Any:
            if cell == "" or not cell.strip():
                return blank
            return conv(column, cell)

        return typed
    return lambda cell: convert_cell(column, cell, types)


class RowTyper:
    """Turns one CSV row (a list of cells) into a deal record, per the header and field types.

    Built once per file; a converter is chosen per column, not per cell.
    """

    __slots__ = ("_columns",)

    def __init__(
        self, header: Sequence[str], field_types: Mapping[str, frozenset[str]] | None
    ) -> None:
        ft = field_types or {}
        self._columns: tuple[tuple[str, Callable[[str], Any]], ...] = tuple(
            (name, _converter(name, ft.get(name))) for name in header
        )

    def __call__(self, row: Sequence[str]) -> dict[str, Any]:
        """The record; raises :class:`CellError` for the first cell that does not fit."""
        record: dict[str, Any] = {}
        for (name, conv), cell in zip(self._columns, row, strict=False):
            value = conv(cell)
            if value is not _ABSENT:
                record[name] = value
        return record


def field_types_from_schema(schema: Mapping[str, Any]) -> dict[str, frozenset[str]]:
    """Top-level field → declared JSON types, from a deal schema's ``properties``.

    Local ``$ref``s (into ``$defs`` or ``definitions``) are followed, as are
    ``anyOf``/``oneOf`` unions; ``enum``/``const`` give the types of their
    values. Fields whose type cannot be told are left out (their cells stay
    strings).
    """
    from cycleflow.validate.deal_schema import known_fields

    return {name: types for name, types in known_fields(schema).items()
            if "." not in name and types}
