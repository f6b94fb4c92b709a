"""A JSON Schema (draft 2020-12) validator compiled to Python source, for per-record checks.

``compile_validator(schema)`` walks the schema once and generates plain Python
code for it: one function for the root, one per ``$ref`` target that is
recursive (or too large to inline), one per ``anyOf``/``oneOf``/``not``/``if``/
``contains`` branch.  The generated code does no string formatting while an
instance is valid: error messages and their paths are built only on the
failure path.  It reads the instance and never writes to it.

Semantics follow ``jsonschema.Draft202012Validator`` with its format checker
(``True`` is not an integer, ``1.0`` is; ``enum``/``const``/``uniqueItems``
keep ``True`` and ``1`` apart), with one deliberate difference: ``date-time``
is strict RFC 3339 and refuses a trailing newline, which ``rfc3339-validator``
lets through.  ``email`` is checked as jsonschema does (the value contains
``@``).

A schema that uses a keyword this generator does not implement is never
checked partially: the whole schema falls back to a fastjsonschema validator,
and the returned callable says why in ``fallback_reason``.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from fractions import Fraction
from typing import Any, Protocol, cast
from urllib.parse import unquote

import fastjsonschema
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match
from referencing import Registry
from referencing.exceptions import Unresolvable

from cycleflow.validate.regex_safety import (
    UnsafePattern,
    exponential,
    safe_compile,
    schema_patterns,
)

__all__ = ["CompiledValidator", "compile_validator", "MAX_DEPTH"]

#: Instance depth beyond which a recursive (``$ref``) check gives up: "nested too deeply".
MAX_DEPTH = 200

_DIALECTS = frozenset(
    {
        "https://json-schema.org/draft/2020-12/schema",
        "https://json-schema.org/draft/2020-12/schema#",
    }
)

#: Keywords with no effect on validity (annotations and containers).
_ANNOTATIONS = frozenset(
    {
        "title",
        "description",
        "examples",
        "default",
        "$comment",
        "deprecated",
        "readOnly",
        "writeOnly",
        "$defs",
        "definitions",
        "contentEncoding",
        "contentMediaType",
        "contentSchema",
    }
)
_OBJECT_KEYS = frozenset(
    {
        "required",
        "properties",
        "additionalProperties",
        "patternProperties",
        "propertyNames",
        "minProperties",
        "maxProperties",
        "dependentRequired",
        "dependentSchemas",
    }
)
_ARRAY_KEYS = frozenset(
    {"items", "prefixItems", "minItems", "maxItems", "uniqueItems", "contains"}
)
_STRING_KEYS = frozenset({"minLength", "maxLength", "pattern", "format"})
_NUMBER_KEYS = frozenset(
    {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"}
)
_OTHER_KEYS = frozenset(
    {
        "$ref",
        "type",
        "enum",
        "const",
        "allOf",
        "anyOf",
        "oneOf",
        "not",
        "if",
        "then",
        "else",
        "minContains",
        "maxContains",
    }
)
_SUPPORTED = _OBJECT_KEYS | _ARRAY_KEYS | _STRING_KEYS | _NUMBER_KEYS | _OTHER_KEYS
_FORMATS = {
    "date-time": "_dt_fast({v}) is None and not _is_datetime({v})",
    "date": "_date_fast({v}) is None and not _is_date({v})",
    "email": "'@' not in {v}",
}

_MAX_INDENT = 14  # deeper schemas are split into functions (CPython nesting limits)
_INLINE_REFS = 4  # $ref targets are inlined up to this many levels, when not recursive
_LINE_BUDGET = 6000  # beyond this much generated code, $ref targets are called, not inlined


class CompiledValidator(Protocol):
    """``validator(instance)`` is None when valid, else a short message naming the path."""

    #: Why the schema was handed to fastjsonschema, or None when it was compiled here.
    fallback_reason: str | None
    #: The generated Python source ("" for a fallback validator).
    source: str
    #: "compiled", or the fallback that checks the schema: "fastjsonschema" or "jsonschema".
    engine: str

    def __call__(self, instance: Any, /) -> str | None: ...


# --------------------------------------------------------------------------- runtime helpers
# Pure functions, shared read-only by every generated validator.


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "<missing>"


_M = _Missing()

_TIME = r"[Tt](?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d+)?(?:[Zz]|[+-](?:[01]\d|2[0-3]):[0-5]\d)"
_YEAR_MONTH = r"(?!0000)\d{4}-(?:0[1-9]|1[0-2])-"
_DAY_1_28 = r"(?:0[1-9]|1\d|2[0-8])"
# Fast paths: days 01-28 exist in every month, so these need no calendar check.
_dt_fast = re.compile(_YEAR_MONTH + _DAY_1_28 + _TIME, re.ASCII).fullmatch
_date_fast = re.compile(_YEAR_MONTH + _DAY_1_28, re.ASCII).fullmatch
_DATETIME_ANY_DAY = re.compile(_YEAR_MONTH + r"(?:29|30|31)" + _TIME, re.ASCII)
_DATE_ANY_DAY = re.compile(_YEAR_MONTH + r"(?:29|30|31)", re.ASCII)


def _is_datetime(value: str) -> bool:
    """RFC 3339 date-time: 'T', seconds and offset required, a real calendar day, no year 0.

    Accepts lowercase 't'/'z' as RFC 3339 section 5.6 allows (and jsonschema does).
    """
    if _dt_fast(value) is not None:
        return True
    if _DATETIME_ANY_DAY.fullmatch(value) is None:
        return False
    try:
        date.fromisoformat(value[:10])
    except ValueError:
        return False
    return True


def _is_date(value: str) -> bool:
    """RFC 3339 full-date (YYYY-MM-DD) that exists in the calendar."""
    if _date_fast(value) is not None:
        return True
    if _DATE_ANY_DAY.fullmatch(value) is None:
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _freeze(value: Any) -> Any:
    """A hashable key with JSON Schema equality: True != 1, 1 == 1.0, deep for lists/dicts."""
    if isinstance(value, bool):
        return ("b", value)
    if isinstance(value, (int, float)):
        return ("n", value)
    if isinstance(value, str):
        return ("s", value)
    if value is None:
        return ("z",)
    if isinstance(value, Mapping):
        return ("d", frozenset((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, Sequence):
        return ("l", tuple(_freeze(v) for v in value))
    try:
        hash(value)
    except TypeError:
        return ("o", id(value))
    return ("o", value)


def _unique(items: list[Any]) -> bool:
    try:
        if len(set(items)) == len(items):  # set equality only merges more (True == 1)
            return True
    except TypeError:
        pass
    seen: set[Any] = set()
    for item in items:
        key = _freeze(item)
        if key in seen:
            return False
        seen.add(key)
    return True


def _all_in(allowed: frozenset[str], items: list[Any]) -> bool:
    """True when every item is one of ``allowed`` (text only: nothing else equals a str)."""
    try:
        return allowed.issuperset(items)
    except TypeError:  # an unhashable item: the item-by-item check names it
        return False


def _not_multiple(value: int | float, divisor: float) -> bool:
    """jsonschema's multipleOf for a float divisor."""
    quotient = value / divisor
    try:
        return int(quotient) != quotient
    except OverflowError:
        return (Fraction(value) / Fraction(divisor)).denominator != 1
    except ValueError:  # NaN
        return True


def _r(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _missing(instance: Mapping[str, Any], names: tuple[str, ...]) -> str:
    for name in names:
        if name not in instance:
            return f"{name!r} is a required property"
    return "a required property is missing"  # pragma: no cover - only called when one is


def _depends(instance: Mapping[str, Any], name: str, names: tuple[str, ...]) -> str:
    for other in names:
        if other not in instance:
            return f"{other!r} is a dependency of {name!r}"
    return f"a dependency of {name!r} is missing"  # pragma: no cover


def _count(check: Callable[[Any, int], Any], items: list[Any], depth: int) -> int:
    return sum(1 for item in items if check(item, depth) is None)


def _fmt(root: str, path: tuple[Any, ...], message: str) -> str:
    parts = [root]
    for seg in path:
        if isinstance(seg, int):
            parts.append(f"[{seg}]")
        elif isinstance(seg, str) and seg.isidentifier():
            parts.append("." + seg)
        else:
            parts.append(f"[{seg!r}]")
    return "".join(parts) + ": " + message


_HELPERS: dict[str, Any] = {
    "_M": _M,
    "_is_datetime": _is_datetime,
    "_is_date": _is_date,
    "_dt_fast": _dt_fast,
    "_date_fast": _date_fast,
    "_freeze": _freeze,
    "_unique": _unique,
    "_all_in": _all_in,
    "_not_multiple": _not_multiple,
    "_r": _r,
    "_missing": _missing,
    "_depends": _depends,
    "_count": _count,
    "_fmt": _fmt,
}


# --------------------------------------------------------------------------- code generator


class _Unsupported(Exception):
    """The schema needs something this generator does not implement."""


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _lit(value: Any) -> str:
    """A Python literal for a JSON number or string (finite floats round-trip through repr)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise _Unsupported(f"unexpected keyword value {_short(value)}")
    if isinstance(value, float) and value != value or value in (float("inf"), float("-inf")):
        raise _Unsupported(f"non-finite number {value!r}")
    return repr(value)


_TYPE_TESTS = {
    "string": "isinstance({v}, str)",
    "object": "isinstance({v}, dict)",
    "array": "isinstance({v}, list)",
    "boolean": "isinstance({v}, bool)",
    "null": "{v} is None",
    "number": "(isinstance({v}, (int, float)) and not isinstance({v}, bool))",
    "integer": (
        "(isinstance({v}, int) and not isinstance({v}, bool)"
        " or isinstance({v}, float) and {v}.is_integer())"
    ),
}


class _Fn:
    """One generated function: its lines, and whether it is the public entry point."""

    def __init__(self, header: str, top: bool) -> None:
        self.lines = [header]
        self.top = top


def _text_choices(items: Any) -> frozenset[str] | None:
    """The allowed texts of an items schema that is exactly ``{type: string, enum: [texts]}``."""
    if not isinstance(items, Mapping) or set(items) - _ANNOTATIONS != {"type", "enum"}:
        return None
    enum = items["enum"]
    if items["type"] != "string" or not isinstance(enum, list) or not enum:
        return None
    if not all(type(x) is str for x in enum):
        return None
    return frozenset(enum)


class _Gen:
    def __init__(self, root: Mapping[str, Any], finite: bool = False) -> None:
        self.root = root
        self.finite = finite
        self.consts: dict[str, Any] = {}
        self.funcs: list[list[str]] = []
        self.ref_names: dict[str, str] = {}
        self.n = 0
        self.total = 0

    # -- names, constants, failures

    def fresh(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}{self.n}"

    def const(self, value: Any) -> str:
        name = self.fresh("_c")
        self.consts[name] = value
        return name

    @staticmethod
    def path_expr(path: tuple[str, ...]) -> str:
        if not path:
            return "()"
        return "(" + ", ".join(path) + ("," if len(path) == 1 else "") + ")"

    def out(self, fn: _Fn, ind: int, line: str) -> None:
        fn.lines.append("    " * ind + line)

    def fail(self, fn: _Fn, ind: int, path: tuple[str, ...], message: str) -> None:
        p = self.path_expr(path)
        if fn.top:
            self.out(fn, ind, f"return _fmt(_ROOT, {p}, {message})")
        else:
            self.out(fn, ind, f"return ({p}, {message})")

    def fail_sub(self, fn: _Fn, ind: int, path: tuple[str, ...]) -> None:
        """Return the error ``e`` of a called function, prefixed with ``path``."""
        full = f"{self.path_expr(path)} + e[0]" if path else "e[0]"
        if fn.top:
            self.out(fn, ind, f"return _fmt(_ROOT, {full}, e[1])")
        elif path:
            self.out(fn, ind, f"return ({full}, e[1])")
        else:
            self.out(fn, ind, "return e")

    @staticmethod
    def depth(fn: _Fn, doff: int) -> str:
        if fn.top:
            return str(doff)
        return "depth" if doff == 0 else f"depth + {doff}"

    def call(
        self, fn: _Fn, ind: int, name: str, var: str, path: tuple[str, ...], doff: int
    ) -> None:
        self.out(fn, ind, f"e = {name}({var}, {self.depth(fn, doff)})")
        self.out(fn, ind, "if e is not None:")
        self.fail_sub(fn, ind + 1, path)

    # -- functions

    def resolve(self, ref: Any) -> tuple[str, Any]:
        base = self.root.get("$id")
        if isinstance(ref, str) and isinstance(base, str) and base and ref.startswith(base):
            rest = ref[len(base) :]
            if rest.startswith("#") and "#" not in base:
                ref = rest  # the root's own $id, spelled out (fastjsonschema rewrites refs so)
        if not isinstance(ref, str) or not ref.startswith("#"):
            raise _Unsupported(f"$ref {_short(ref)} (only local '#/...' references are compiled)")
        pointer = unquote(ref[1:])
        if pointer and not pointer.startswith("/"):
            raise _Unsupported(f"$ref {ref!r} (anchors are not compiled)")
        node: Any = self.root
        for raw in pointer.split("/")[1:] if pointer else []:
            part = raw.replace("~1", "/").replace("~0", "~")
            if isinstance(node, Mapping) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                raise _Unsupported(f"$ref {ref!r} does not resolve")
        if not isinstance(node, (Mapping, bool)):
            raise _Unsupported(f"$ref {ref!r} is not a schema")
        return "#" + pointer, node

    def new_function(
        self, name: str, schema: Any, stack: tuple[str, ...], guard_depth: bool
    ) -> None:
        fn = _Fn(f"def {name}(v0, depth):", top=False)
        if guard_depth:
            self.out(fn, 1, f"if depth > {MAX_DEPTH}:")
            self.out(fn, 2, "return ((), 'nested too deeply')")
        self.emit(fn, schema, "v0", (), 0, 1, stack)
        self.out(fn, 1, "return None")
        self.total += len(fn.lines)
        self.funcs.append(fn.lines)

    def ref_function(self, pointer: str, target: Any) -> str:
        name = self.ref_names.get(pointer)
        if name is None:
            name = self.fresh("_ref")
            self.ref_names[pointer] = name  # before generating: recursion ends here
            self.new_function(name, target, (pointer,), guard_depth=True)
        return name

    def sub_function(self, schema: Any, stack: tuple[str, ...]) -> str:
        """A function checking ``schema`` alone (for anyOf/oneOf/not/if/contains)."""
        if isinstance(schema, Mapping) and set(schema) - _ANNOTATIONS == {"$ref"}:
            pointer, target = self.resolve(schema["$ref"])
            return self.ref_function(pointer, target)
        name = self.fresh("_s")
        self.new_function(name, schema, stack, guard_depth=False)
        return name

    # -- schemas

    def emit(
        self,
        fn: _Fn,
        schema: Any,
        var: str,
        path: tuple[str, ...],
        doff: int,
        ind: int,
        stack: tuple[str, ...],
    ) -> None:
        """Emit statements that ``return`` an error when ``var`` fails ``schema``."""
        if schema is True:
            return
        if schema is False:
            self.fail(fn, ind, path, f"_r({var}) + ' is not allowed here (false schema)'")
            return
        if not isinstance(schema, Mapping):
            raise _Unsupported(f"schema {_short(schema)} is neither an object nor a boolean")
        for key in schema:
            if key in ("$schema", "$id") and schema is self.root:
                continue
            if key not in _SUPPORTED and key not in _ANNOTATIONS and not key.startswith("x-"):
                raise _Unsupported(f"keyword {key!r}")
        if ind > _MAX_INDENT:
            self.call(fn, ind, self.sub_function(schema, stack), var, path, doff)
            return

        if "$ref" in schema:
            pointer, target = self.resolve(schema["$ref"])
            if pointer in stack or len(stack) >= _INLINE_REFS or self.total > _LINE_BUDGET:
                self.call(fn, ind, self.ref_function(pointer, target), var, path, doff)
            else:
                self.emit(fn, target, var, path, doff, ind, (*stack, pointer))

        known: frozenset[str] | None = None
        if "type" in schema:
            types = schema["type"]
            names = [types] if isinstance(types, str) else list(types)
            if not names or any(t not in _TYPE_TESTS for t in names):
                raise _Unsupported(f"type {_short(types)}")
            tests = [n for n in names if not (n == "integer" and "number" in names)]
            cond = " or ".join(_TYPE_TESTS[t].format(v=var) for t in tests)
            self.out(fn, ind, f"if not ({cond}):")
            wanted = ", ".join(repr(t) for t in names)
            self.fail(fn, ind + 1, path, f"_r({var}) + {' is not of type ' + wanted!r}")
            known = frozenset(names)
            if self.finite and "number" in names:  # NaN compares false: a rule would pass
                self.out(fn, ind, f"if isinstance({var}, float) and {var} - {var} != 0.0:")
                self.fail(fn, ind + 1, path, f"_r({var}) + ' is not a finite number'")

        if "enum" in schema:
            self.emit_enum(fn, schema["enum"], var, path, ind, known)
        if "const" in schema:
            value = schema["const"]
            expected = f"{_short(value)} was expected"
            if isinstance(value, str):
                cond = f"not (isinstance({var}, str) and {var} == {value!r})"
            elif value is None or isinstance(value, bool):
                cond = f"{var} is not {value!r}"
            else:
                cond = f"_freeze({var}) != {self.const(_freeze(value))}"
            self.out(fn, ind, f"if {cond}:")
            self.fail(fn, ind + 1, path, repr(expected))

        groups: list[tuple[str, frozenset[str], frozenset[str]]] = [
            ("object", _OBJECT_KEYS, frozenset({"object"})),
            ("array", _ARRAY_KEYS, frozenset({"array"})),
            ("string", _STRING_KEYS, frozenset({"string"})),
            ("number", _NUMBER_KEYS, frozenset({"number", "integer"})),
        ]
        for group, keys, group_types in groups:
            if not keys & schema.keys():
                continue
            if known is not None and not known & group_types:
                continue  # the type check already refused every value these apply to
            guarded = known is None or not known <= group_types
            inner = ind
            mark = len(fn.lines)
            if guarded:
                test = _TYPE_TESTS["number" if group == "number" else group].format(v=var)
                self.out(fn, ind, f"if {test}:")
                inner = ind + 1
            before = len(fn.lines)
            getattr(self, f"emit_{group}")(fn, schema, var, path, doff, inner, stack)
            if len(fn.lines) == before:
                del fn.lines[mark:]

        self.emit_combinators(fn, schema, var, path, doff, ind, stack)

    def emit_enum(
        self,
        fn: _Fn,
        values: Any,
        var: str,
        path: tuple[str, ...],
        ind: int,
        known: frozenset[str] | None,
    ) -> None:
        if not isinstance(values, list):
            raise _Unsupported("enum is not a list")
        message = f"' is not one of ' + {_short(values, 200)!r}"
        if values and all(isinstance(x, str) for x in values):
            c = self.const(frozenset(values))
            if known == frozenset({"string"}):
                cond = f"{var} not in {c}"
            else:
                cond = f"not (isinstance({var}, str) and {var} in {c})"
        else:
            c = self.const(frozenset(_freeze(x) for x in values))
            cond = f"_freeze({var}) not in {c}"
        self.out(fn, ind, f"if {cond}:")
        self.fail(fn, ind + 1, path, f"_r({var}) + {message}")

    def emit_object(
        self,
        fn: _Fn,
        schema: Mapping[str, Any],
        var: str,
        path: tuple[str, ...],
        doff: int,
        ind: int,
        stack: tuple[str, ...],
    ) -> None:
        required = schema.get("required", [])
        if required:
            names = tuple(str(x) for x in required)
            self.out(fn, ind, "if " + " or ".join(f"{n!r} not in {var}" for n in names) + ":")
            self.fail(fn, ind + 1, path, f"_missing({var}, {names!r})")
        for key, op in (("minProperties", "<"), ("maxProperties", ">")):
            if key in schema:
                self.out(fn, ind, f"if len({var}) {op} {_lit(schema[key])}:")
                word = "few" if op == "<" else "many"
                self.fail(fn, ind + 1, path, f"_r({var}) + ' has too {word} properties'")
        for name, needs in (schema.get("dependentRequired") or {}).items():
            needs_t = tuple(str(x) for x in needs)
            if not needs_t:
                continue
            missing = " or ".join(f"{n!r} not in {var}" for n in needs_t)
            self.out(fn, ind, f"if {name!r} in {var} and ({missing}):")
            self.fail(fn, ind + 1, path, f"_depends({var}, {name!r}, {needs_t!r})")

        properties: Mapping[str, Any] = schema.get("properties") or {}
        for name, sub in properties.items():
            if sub is True:
                continue
            child = self.fresh("v")
            mark = len(fn.lines)
            self.out(fn, ind, f"{child} = {var}.get({name!r}, _M)")
            self.out(fn, ind, f"if {child} is not _M:")
            before = len(fn.lines)
            self.emit(fn, sub, child, (*path, repr(name)), doff + 1, ind + 1, stack)
            if len(fn.lines) == before:
                del fn.lines[mark:]

        patterns: Mapping[str, Any] = schema.get("patternProperties") or {}
        extra = schema.get("additionalProperties", True)
        if patterns or extra is not True:
            key, child = self.fresh("k"), self.fresh("v")
            self.out(fn, ind, f"for {key}, {child} in {var}.items():")
            conds = []
            if properties:
                conds.append(f"{key} not in {self.const(frozenset(properties))}")
            for pattern, sub in patterns.items():
                rx = self.const(safe_compile(pattern))
                conds.append(f"{rx}.search({key}) is None")
                self.out(fn, ind + 1, f"if {rx}.search({key}) is not None:")
                self.out(fn, ind + 2, "pass")
                self.emit(fn, sub, child, (*path, key), doff + 1, ind + 2, stack)
            if extra is not True:
                if conds:
                    self.out(fn, ind + 1, "if " + " and ".join(conds) + ":")
                    body = ind + 2
                else:
                    body = ind + 1
                if extra is False:
                    message = (
                        f"'Additional properties are not allowed (' + _r({key}) "
                        "+ ' was unexpected)'"
                    )
                    self.fail(fn, body, path, message)
                else:
                    self.out(fn, body, "pass")
                    self.emit(fn, extra, child, (*path, key), doff + 1, body, stack)
        if "propertyNames" in schema and schema["propertyNames"] is not True:
            key = self.fresh("k")
            self.out(fn, ind, f"for {key} in {var}:")
            self.out(fn, ind + 1, "pass")
            self.emit(fn, schema["propertyNames"], key, path, doff, ind + 1, stack)
        for name, sub in (schema.get("dependentSchemas") or {}).items():
            if sub is True:
                continue
            self.out(fn, ind, f"if {name!r} in {var}:")
            self.out(fn, ind + 1, "pass")
            self.emit(fn, sub, var, path, doff, ind + 1, stack)

    def emit_array(
        self,
        fn: _Fn,
        schema: Mapping[str, Any],
        var: str,
        path: tuple[str, ...],
        doff: int,
        ind: int,
        stack: tuple[str, ...],
    ) -> None:
        if "minItems" in schema:
            n = _lit(schema["minItems"])
            self.out(fn, ind, f"if len({var}) < {n}:")
            word = "should be non-empty" if schema["minItems"] == 1 else "is too short"
            self.fail(fn, ind + 1, path, f"_r({var}) + {' ' + word!r}")
        if "maxItems" in schema:
            self.out(fn, ind, f"if len({var}) > {_lit(schema['maxItems'])}:")
            self.fail(fn, ind + 1, path, f"_r({var}) + ' is too long'")
        prefix = schema.get("prefixItems") or []
        if not isinstance(prefix, list):
            raise _Unsupported("prefixItems is not a list")
        for idx, sub in enumerate(prefix):
            if sub is True:
                continue
            child = self.fresh("v")
            self.out(fn, ind, f"if len({var}) > {idx}:")
            self.out(fn, ind + 1, f"{child} = {var}[{idx}]")
            self.emit(fn, sub, child, (*path, str(idx)), doff + 1, ind + 1, stack)
        items = schema.get("items", True)
        if isinstance(items, list):
            raise _Unsupported("items given as a list (a draft 2019-09 form)")
        if items is False:
            self.out(fn, ind, f"if len({var}) > {len(prefix)}:")
            self.fail(fn, ind + 1, path, f"'expected at most {len(prefix)} items'")
        elif items is not True:
            idx_var, child = self.fresh("i"), self.fresh("v")
            mark, loop_ind = len(fn.lines), ind
            if prefix:
                self.out(fn, ind, f"for {idx_var} in range({len(prefix)}, len({var})):")
                self.out(fn, ind + 1, f"{child} = {var}[{idx_var}]")
            else:
                target = items
                if isinstance(items, Mapping) and set(items) - _ANNOTATIONS == {"$ref"}:
                    target = self.resolve(items["$ref"])[1]
                choices = _text_choices(target)
                if choices is not None:  # all items valid in one set operation, usually
                    self.out(fn, ind, f"if not _all_in({self.const(choices)}, {var}):")
                    loop_ind += 1
                self.out(fn, loop_ind, f"for {idx_var}, {child} in enumerate({var}):")
            before = len(fn.lines)
            self.emit(fn, items, child, (*path, idx_var), doff + 1, loop_ind + 1, stack)
            if len(fn.lines) == before:
                del fn.lines[mark:]
        if schema.get("uniqueItems") is True:
            self.out(fn, ind, f"if not _unique({var}):")
            self.fail(fn, ind + 1, path, f"_r({var}) + ' has non-unique elements'")
        if "contains" in schema:
            check = self.sub_function(schema["contains"], stack)
            low = schema.get("minContains", 1)
            high = schema.get("maxContains")
            count = self.fresh("n")
            self.out(fn, ind, f"{count} = _count({check}, {var}, {self.depth(fn, doff + 1)})")
            self.out(fn, ind, f"if {count} < {_lit(low)}:")
            self.fail(fn, ind + 1, path, f"_r({var}) + ' does not contain enough matching items'")
            if high is not None:
                self.out(fn, ind, f"if {count} > {_lit(high)}:")
                self.fail(fn, ind + 1, path, f"_r({var}) + ' contains too many matching items'")

    def emit_string(
        self,
        fn: _Fn,
        schema: Mapping[str, Any],
        var: str,
        path: tuple[str, ...],
        doff: int,
        ind: int,
        stack: tuple[str, ...],
    ) -> None:
        if "minLength" in schema:
            n = schema["minLength"]
            self.out(fn, ind, f"if len({var}) < {_lit(n)}:")
            word = "should be non-empty" if n == 1 else "is too short"
            self.fail(fn, ind + 1, path, f"_r({var}) + {' ' + word!r}")
        if "maxLength" in schema:
            self.out(fn, ind, f"if len({var}) > {_lit(schema['maxLength'])}:")
            self.fail(fn, ind + 1, path, f"_r({var}) + ' is too long'")
        if "pattern" in schema:
            pattern = schema["pattern"]
            rx = self.const(safe_compile(pattern))
            self.out(fn, ind, f"if {rx}.search({var}) is None:")
            self.fail(fn, ind + 1, path, f"_r({var}) + {' does not match ' + repr(pattern)!r}")
        if "format" in schema:
            name = schema["format"]
            check = _FORMATS.get(name) if isinstance(name, str) else None
            if check is None:
                raise _Unsupported(f"format {_short(name)}")
            self.out(fn, ind, "if " + check.format(v=var) + ":")
            self.fail(fn, ind + 1, path, f"_r({var}) + {' is not a ' + repr(name)!r}")

    def emit_number(
        self,
        fn: _Fn,
        schema: Mapping[str, Any],
        var: str,
        path: tuple[str, ...],
        doff: int,
        ind: int,
        stack: tuple[str, ...],
    ) -> None:
        bounds = (
            ("minimum", "<", "is less than the minimum of"),
            ("maximum", ">", "is greater than the maximum of"),
            ("exclusiveMinimum", "<=", "is less than or equal to the minimum of"),
            ("exclusiveMaximum", ">=", "is greater than or equal to the maximum of"),
        )
        for key, op, words in bounds:
            if key in schema:
                bound = _lit(schema[key])
                self.out(fn, ind, f"if {var} {op} {bound}:")
                self.fail(fn, ind + 1, path, f"_r({var}) + {f' {words} {bound}'!r}")
        if "multipleOf" in schema:
            divisor = schema["multipleOf"]
            lit = _lit(divisor)
            if isinstance(divisor, float):
                self.out(fn, ind, f"if _not_multiple({var}, {lit}):")
            else:
                self.out(fn, ind, f"if {var} % {lit}:")
            self.fail(fn, ind + 1, path, f"_r({var}) + {f' is not a multiple of {lit}'!r}")

    def emit_combinators(
        self,
        fn: _Fn,
        schema: Mapping[str, Any],
        var: str,
        path: tuple[str, ...],
        doff: int,
        ind: int,
        stack: tuple[str, ...],
    ) -> None:
        depth = self.depth(fn, doff)
        for sub in schema.get("allOf") or []:
            self.emit(fn, sub, var, path, doff, ind, stack)
        if "anyOf" in schema:
            names = [self.sub_function(sub, stack) for sub in schema["anyOf"]]
            cond = " and ".join(f"{n}({var}, {depth}) is not None" for n in names)
            self.out(fn, ind, f"if {cond}:")
            message = "' is not valid under any of the given schemas'"
            self.fail(fn, ind + 1, path, f"_r({var}) + {message}")
        if "oneOf" in schema:
            names = [self.sub_function(sub, stack) for sub in schema["oneOf"]]
            total = " + ".join(f"({n}({var}, {depth}) is None)" for n in names)
            self.out(fn, ind, f"if {total} != 1:")
            message = "' is not valid under exactly one of the given schemas'"
            self.fail(fn, ind + 1, path, f"_r({var}) + {message}")
        if "not" in schema:
            name = self.sub_function(schema["not"], stack)
            self.out(fn, ind, f"if {name}({var}, {depth}) is None:")
            message = f"' should not be valid under ' + {_short(schema['not'])!r}"
            self.fail(fn, ind + 1, path, f"_r({var}) + {message}")
        if "if" in schema and ("then" in schema or "else" in schema):
            name = self.sub_function(schema["if"], stack)
            self.out(fn, ind, f"if {name}({var}, {depth}) is None:")
            self.out(fn, ind + 1, "pass")
            self.emit(fn, schema.get("then", True), var, path, doff, ind + 1, stack)
            self.out(fn, ind, "else:")
            self.out(fn, ind + 1, "pass")
            self.emit(fn, schema.get("else", True), var, path, doff, ind + 1, stack)

    # -- whole schema

    def generate(self) -> str:
        top = _Fn("def validate(v0):", top=True)
        self.out(top, 1, "try:")
        self.out(top, 2, "pass")
        self.emit(top, self.root, "v0", (), 0, 2, ("#",))
        self.out(top, 1, "except RecursionError:")
        self.out(top, 2, "return _ROOT + ': nested too deeply'")
        self.out(top, 1, "return None")
        return "\n\n".join("\n".join(lines) for lines in [*self.funcs, top.lines]) + "\n"


# --------------------------------------------------------------------------- public API


def compile_validator(
    schema: Mapping[str, Any], *, root: str = "deal", finite: bool = False
) -> CompiledValidator:
    """Compile ``schema`` (JSON Schema draft 2020-12) once into a fast validator.

    The returned callable takes an instance and returns None when it is valid,
    else one message such as ``"deal.amount: 'lots' is not of type 'number'"``
    (``root`` names the instance in messages).  It keeps no state between
    calls, never changes the instance, and is safe to share between threads.
    ``finite=True`` also refuses NaN and Infinity where a number is declared: JSON
    cannot carry them, and a rule comparing NaN is false whichever way it asks
    (the fastjsonschema fallback does not apply it).

    ``fallback_reason`` on the callable is None when the schema was compiled
    here; otherwise it names the keyword (or ``$schema`` dialect, or reference)
    that made it delegate the whole schema to fastjsonschema.

    Raises ``jsonschema.exceptions.SchemaError`` for a draft 2020-12 schema that
    is invalid against its meta-schema; a schema in another dialect is passed to
    fastjsonschema, whose own errors propagate.
    """
    dialect = schema.get("$schema")
    if dialect is not None and dialect not in _DIALECTS:
        return _fallback(schema, f"$schema {dialect!r} is not draft 2020-12", root)
    Draft202012Validator.check_schema(schema)
    gen = _Gen(schema, finite)
    try:
        source = gen.generate()
        code = compile(source, "<cycleflow compiled schema>", "exec")
    except _Unsupported as err:
        return _fallback(schema, str(err), root)
    except (re.error, RecursionError, SyntaxError) as err:
        return _fallback(schema, f"{type(err).__name__}: {err}", root)
    namespace: dict[str, Any] = {name: fn for name, fn in _HELPERS.items() if name in source}
    namespace.update(gen.consts)
    namespace["_ROOT"] = root
    exec(code, namespace)  # noqa: S102 - our own generated code, from a schema walk
    validate = namespace["validate"]
    validate.fallback_reason = None
    validate.source = source
    validate.engine = "compiled"
    return cast(CompiledValidator, validate)


#: Keywords fastjsonschema 2.22 reads with their draft 2020-12 meaning.  It treats a
#: 2020-12 schema as draft 7: it ignores prefixItems, dependentRequired/Schemas,
#: min/maxContains, unevaluated*, $dynamicRef and any sibling of a $ref, and it asserts
#: content* and draft-7 ``dependencies``/``additionalItems``, which 2020-12 does not.
_FJS_SAFE = (
    frozenset(
        {
            "type", "enum", "const", "required", "properties", "additionalProperties",
            "patternProperties", "propertyNames", "items", "minItems", "maxItems",
            "uniqueItems", "contains", "minimum", "maximum", "exclusiveMinimum",
            "exclusiveMaximum", "multipleOf", "minLength", "maxLength", "pattern", "format",
            "allOf", "anyOf", "oneOf", "not", "if", "then", "else", "minProperties",
            "maxProperties", "$ref", "$id", "$schema",
        }
    )
    | _ANNOTATIONS
) - {"contentEncoding", "contentMediaType", "contentSchema"}  # fmt: skip
_ONE_SCHEMA = ("additionalProperties", "propertyNames", "items", "contains", "not", "if", "then",
               "else", "unevaluatedItems", "unevaluatedProperties", "contentSchema")  # fmt: skip
_SCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems")


def _fastjsonschema_misreads(schema: Any) -> str | None:
    """The first keyword fastjsonschema would read differently from draft 2020-12, if any."""
    if not isinstance(schema, Mapping):
        return None
    for key in schema:
        if key not in _FJS_SAFE and not key.startswith("x-"):
            return str(key)
    if "$ref" in schema and set(schema) - _ANNOTATIONS - {"$ref", "$id", "$schema"}:
        return "$ref with sibling keywords"
    subs: list[Any] = [schema[k] for k in _ONE_SCHEMA if k in schema]
    for k in _SCHEMA_MAPS:
        if isinstance(schema.get(k), Mapping):
            subs.extend(schema[k].values())
    for k in _SCHEMA_LISTS:
        if isinstance(schema.get(k), list):
            subs.extend(schema[k])
    for sub in subs:
        found = _fastjsonschema_misreads(sub)
        if found is not None:
            return found
    return None


class _NoFetching(dict[str, Callable[[str], Any]]):
    """fastjsonschema's URI handlers: one for every scheme, refusing. Without a handler for a
    scheme it calls urlopen (http, file, ftp...): a schema must never reach the network."""

    def __contains__(self, scheme: object) -> bool:
        return True

    def __getitem__(self, scheme: str) -> Callable[[str], Any]:
        return _refuse_fetch


def _refuse_fetch(uri: str) -> Any:
    raise fastjsonschema.JsonSchemaDefinitionException(
        f"the deal schema refers to another document ({uri}); nothing is fetched"
    )


def _refuse_backtracking(schema: Any) -> None:
    """The fallback validators match patterns with ``re``: refuse one that could take
    exponential time on a deal's value (the generated validator gives those to RE2)."""
    for pattern, _ in schema_patterns(schema):
        if exponential(pattern):
            raise UnsafePattern(
                f"pattern {pattern!r} nests repetitions, which can take exponential "
                "time on some values, and this schema is checked by a fallback "
                "validator that cannot hand it to RE2"
            )


def _fallback(schema: Mapping[str, Any], reason: str, root: str) -> CompiledValidator:
    _refuse_backtracking(schema)
    dialect = schema.get("$schema")
    misread = None
    if dialect is None or dialect in _DIALECTS:
        misread = _fastjsonschema_misreads(schema)
    if misread is not None:
        return _jsonschema_fallback(
            schema, f"{reason}; checked by jsonschema (fastjsonschema misreads {misread!r})", root
        )
    check = fastjsonschema.compile(
        copy.deepcopy(dict(schema)), handlers=_NoFetching(), use_formats=True, use_default=False
    )

    def validate(instance: Any, /) -> str | None:
        try:
            check(instance)
        except fastjsonschema.JsonSchemaValueException as err:
            name = err.name or "data"
            message = err.message or ""
            if message.startswith(name):
                message = message[len(name) :].strip()
            return f"{root}{name[4:] if name.startswith('data') else '.' + name}: {message}"
        except RecursionError:
            return f"{root}: nested too deeply"
        return None

    validate.fallback_reason = reason  # type: ignore[attr-defined]
    validate.source = ""  # type: ignore[attr-defined]
    validate.engine = "fastjsonschema"  # type: ignore[attr-defined]
    return cast(CompiledValidator, validate)


def _jsonschema_fallback(schema: Mapping[str, Any], reason: str, root: str) -> CompiledValidator:
    """Slow but exact: for schemas neither this generator nor fastjsonschema reads right."""
    checker = Draft202012Validator(  # an empty registry: a remote $ref is never retrieved
        schema, format_checker=Draft202012Validator.FORMAT_CHECKER, registry=Registry()
    )

    def validate(instance: Any, /) -> str | None:
        try:
            error = best_match(checker.iter_errors(instance))
        except RecursionError:
            return f"{root}: nested too deeply"
        except Unresolvable as err:
            return f"{root}: the deal schema refers to another document ({err}); nothing is fetched"
        if error is None:
            return None
        return _fmt(root, tuple(error.absolute_path), error.message)

    validate.fallback_reason = reason  # type: ignore[attr-defined]
    validate.source = ""  # type: ignore[attr-defined]
    validate.engine = "jsonschema"  # type: ignore[attr-defined]
    return cast(CompiledValidator, validate)
