"""CSV cells are text: type them by what the policy's ``deal_schema`` declares.

``field_types`` maps a field to the JSON types its schema allows
(``{"amount": {"number"}, "steps": {"array", "object"}, "customer.name": {"string"}}``);
a nested field is named by its path with dots, as ``Policy.known_fields`` names it. A
cell is tried against the declared types, most specific first: integer, number,
boolean, array, object, then string. Nothing is guessed: ``"1,000"`` and
``"1.000,50"`` are not numbers (thousands separators and decimal commas differ by
locale), ``NaN``/``inf`` are refused, and a cell that fits none of the declared types
is an error naming its column. An empty cell is an absent field, or ``null`` where the
schema allows null; where it allows null, a cell that is ``null``, ``NULL`` or ``Null``
(spaces around it ignored) is ``null`` too, as a database or CRM export writes it
(elsewhere it stays text, and a number or boolean column refuses it). Columns the
schema does not type stay strings.

Columns named with dots are nested fields, as a CRM export (Salesforce, HubSpot)
flattens them: ``customer.name`` and ``customer.country`` build
``{"customer": {"name": ..., "country": ...}}``, each cell typed by the schema's type
of that nested field, and ``a.b.c`` nests two levels. This holds for any dotted name,
declared or not, with two exceptions that stay one key as written: a name the deal
schema declares as a top-level property (``"ext.id": {...}`` in its ``properties``),
and a name with an empty part (``a.``, ``.b``, ``a..b``). Empty cells are left out, so
an object none of whose cells is filled is left out entirely; an empty cell that the
schema lets be null is null only inside an object another cell fills. A row is an
error (naming both columns) when it fills both a dotted column and a column holding
its whole object (``customer`` written as JSON text and ``customer.name``; an empty
``customer`` cell gives way). A dotted name under a field the schema declares as
something other than an object (``owner.email`` when ``owner`` is a string) is no
path: it stays one key, as every dotted name was before nesting.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import orjson

__all__ = [
    "CellError",
    "FieldTypes",
    "RowTyper",
    "column_path",
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
#: How an export writes null; read as null only where the schema allows null.
_NULL_TEXTS = frozenset({"null", "NULL", "Null"})


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
    if ";" not in s and "," in s:  # a spreadsheet habit: the list would silently be one
        raise CellError(  # item, and a Salesforce multi-select export uses ';'
            column, text, "is a list written with commas: separate the items with ';' "
            "(a;b;c), or write a JSON array (an item holding a comma: [\"Acme, Inc.\"])")
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
    if types and "null" in types and text.strip() in _NULL_TEXTS:
        return None
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
    if plain == {"string"} and "null" in types:
        return lambda cell: cell if cell != "" and cell.strip() not in _NULL_TEXTS else None
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
            if blank is None and cell.strip() in _NULL_TEXTS:
                return None
            return conv(column, cell)

        return typed
    return lambda cell: convert_cell(column, cell, types)


class FieldTypes(dict[str, frozenset[str]]):
    """Field → declared JSON types, nested fields named with dots (see the module docstring).

    ``dotted_names`` holds the top-level properties whose own name has a dot: a column
    so named is that one key, not a path. A plain mapping given as ``field_types`` is
    read as ``Policy.known_fields`` names fields: a dotted key whose first part is no
    key of its own is such a top-level property.
    """

    def __init__(self, types: Mapping[str, frozenset[str]] = {},  # noqa: B006
                 dotted_names: Iterable[str] = ()) -> None:
        super().__init__(types)
        self.dotted_names = frozenset(dotted_names)


def _dotted_names(field_types: Mapping[str, frozenset[str]] | None) -> frozenset[str]:
    if field_types is None:
        return frozenset()
    if isinstance(field_types, FieldTypes):
        return field_types.dotted_names
    return frozenset(k for k in field_types if "." in k and k.split(".")[0] not in field_types)


def column_path(name: str, dotted_names: frozenset[str] = frozenset()) -> tuple[str, ...]:
    """Where a column's value goes in the record: ``customer.name`` → ``("customer", "name")``.

    A name in ``dotted_names`` (a top-level property with a dot in its name) is one key,
    and heads the path of a longer name; a name with an empty part is one key.
    """
    if "." not in name:
        return (name,)
    head: tuple[str, ...] = ()
    rest = name
    for literal in sorted(dotted_names, key=len, reverse=True):
        if name == literal:
            return (name,)
        if name.startswith(literal + "."):
            head, rest = (literal,), name[len(literal) + 1:]
            break
    parts = head + tuple(rest.split("."))
    return parts if all(parts) else (name,)


def _nestable(path: tuple[str, ...], field_types: Mapping[str, frozenset[str]]) -> bool:
    """Whether no enclosing field of ``path`` is declared as something other than an object."""
    for k in range(1, len(path)):
        types = field_types.get(".".join(path[:k]))
        if types and "object" not in types:
            return False
    return True


class _Nesting:
    """How the cells of a row with dotted columns are put together (see RowTyper)."""

    __slots__ = ("_depth", "_names", "_nested", "_paths", "_prefixes")

    def __init__(self, header: Sequence[str], paths: Sequence[tuple[str, ...]],
                 field_types: Mapping[str, frozenset[str]]) -> None:
        self._names = tuple(header)
        self._paths = tuple(paths)
        self._depth = max(len(p) for p in paths)
        index = {p: i for i, p in enumerate(paths)}
        #: per dotted column: the columns that hold one of its enclosing objects whole
        self._prefixes = tuple(
            tuple(index[p[:k]] for k in range(1, len(p)) if p[:k] in index) for p in paths)
        self._nested = tuple(i for i, p in enumerate(paths) if len(p) > 1)

    def assemble(self, values: Sequence[Any], texts: Sequence[Any]) -> dict[str, Any]:
        """The record from each column's typed value (``_ABSENT`` when left out).

        ``texts`` are the cells as given: a ``None`` value from a blank text cell is
        weak (see the module docstring), any other value is a filled cell.
        """
        names, paths = self._names, self._paths
        weak = [v is None and isinstance(t, str) and not t.strip()
                for v, t in zip(values, texts, strict=True)]
        made: set[tuple[str, ...]] = set()  # the objects filled cells make
        for i in self._nested:
            if values[i] is _ABSENT or weak[i]:
                continue
            for j in self._prefixes[i]:
                if values[j] is not _ABSENT and not weak[j]:
                    raise CellError(names[i], _shown(texts[i]), (
                        f"clashes with column {names[j]!r}, which holds the whole of "
                        f"{'.'.join(paths[j])!r}: fill one of them"))
            p = paths[i]
            made.update(p[:k] for k in range(1, len(p)))
        record: dict[str, Any] = {}
        for i, value in enumerate(values):
            if value is _ABSENT:
                continue
            p = paths[i]
            if weak[i] and (p in made or (len(p) > 1 and p[:-1] not in made)):
                continue  # a blank cell gives way to the object, and makes none itself
            node = record
            for key in p[:-1]:
                node = node.setdefault(key, {})
            node[p[-1]] = value
        if self._depth > 2:
            self._check_depth(record, values, texts)
        return record

    def _check_depth(self, record: dict[str, Any], values: Sequence[Any],
                     texts: Sequence[Any]) -> None:
        """A record nested past the readers' limit by its column names is an error."""
        from cycleflow.batch.readers import MAX_DEPTH, _too_deep

        brackets = sum(t.count("[") + t.count("{") for t in texts if isinstance(t, str))
        if self._depth + brackets >= MAX_DEPTH and _too_deep(record):
            deepest = max((i for i, v in enumerate(values) if v is not _ABSENT),
                          key=lambda i: len(self._paths[i]))
            raise CellError(self._names[deepest], _shown(texts[deepest]),
                            f"makes the record nest more than {MAX_DEPTH} levels deep")


def _shown(cell: Any) -> str:
    return cell if isinstance(cell, str) else repr(cell)


class RowTyper:
    """Turns one CSV row (a list of cells) into a deal record, per the header and field types.

    Built once per file; a converter is chosen per column, not per cell. Dotted
    column names nest (see the module docstring).
    """

    __slots__ = ("_columns", "_nesting")

    def __init__(
        self, header: Sequence[str], field_types: Mapping[str, frozenset[str]] | None
    ) -> None:
        ft = field_types or {}
        self._columns: tuple[tuple[str, Callable[[str], Any]], ...] = tuple(
            (name, _converter(name, ft.get(name))) for name in header
        )
        dotted = _dotted_names(field_types)
        # a dotted name under a field the schema declares as no object ('amount.usd' beside
        # a number 'amount') is no nested field: it stays one key, as it was before nesting
        paths = [p if _nestable(p, ft) else (name,)
                 for name, p in ((name, column_path(name, dotted)) for name in header)]
        self._nesting = _Nesting(header, paths, ft) if any(len(p) > 1 for p in paths) else None

    def __call__(self, row: Sequence[str]) -> dict[str, Any]:
        """The record; raises :class:`CellError` for the first cell that does not fit."""
        if self._nesting is not None:
            texts = list(row[:len(self._columns)])
            texts += [""] * (len(self._columns) - len(texts))  # a short row: the rest empty
            values = [conv(cell) for (_, conv), cell in zip(self._columns, texts, strict=True)]
            return self._nesting.assemble(values, texts)
        record: dict[str, Any] = {}
        for (name, conv), cell in zip(self._columns, row, strict=False):
            value = conv(cell)
            if value is not _ABSENT:
                record[name] = value
        return record

    def record(self, cells: Iterable[tuple[int, Any]]) -> dict[str, Any]:
        """The record of a row given as ``(column index, value)`` for its present cells.

        A text value is typed as a CSV cell is; any other value is taken as it is.
        Columns left out of ``cells`` are absent. Dotted columns nest, as in a CSV row.
        """
        values: list[Any] = [_ABSENT] * len(self._columns)
        texts: list[Any] = [None] * len(self._columns)
        for i, value in cells:
            texts[i] = value
            values[i] = self._columns[i][1](value) if isinstance(value, str) else value
        if self._nesting is not None:
            return self._nesting.assemble(values, texts)
        return {name: v for (name, _), v in zip(self._columns, values, strict=True)
                if v is not _ABSENT}


def field_types_from_schema(schema: Mapping[str, Any]) -> FieldTypes:
    """Field → declared JSON types, from a deal schema's ``properties``; nested fields by path.

    Nested fields are named with dots (``customer.name``), as ``Policy.known_fields``
    names them. Local ``$ref``s (into ``$defs`` or ``definitions``) are followed, as are
    ``anyOf``/``oneOf`` unions; ``enum``/``const`` give the types of their values.
    Fields whose type cannot be told are left out (their cells stay strings). The
    top-level properties whose names have a dot are kept in ``dotted_names``.
    """
    from cycleflow.validate.deal_schema import known_fields

    return FieldTypes({name: types for name, types in known_fields(schema).items() if types},
                      (n for n in _top_level_names(schema) if "." in n))


def _top_level_names(schema: Mapping[str, Any]) -> set[str]:
    """The property names a schema declares at its top level (through ``$ref`` and
    ``anyOf``/``oneOf``/``allOf`` branches, as ``known_fields`` walks it)."""
    from cycleflow.validate.deal_schema import resolve_ref

    names: set[str] = set()
    todo: list[tuple[Any, int]] = [(schema, 0)]
    while todo:
        node, depth = todo.pop()
        node = resolve_ref(node, schema)
        if depth > 8:
            continue
        props = node.get("properties")
        if isinstance(props, Mapping):
            names.update(str(k) for k in props)
        for key in ("anyOf", "oneOf", "allOf"):
            branches = node.get(key)
            if isinstance(branches, list):
                todo.extend((b, depth + 1) for b in branches if isinstance(b, Mapping))
    return names
