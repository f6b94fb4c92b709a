"""Run-time helpers shared by the compiled and the reference evaluators.

Both paths read fields and do bounded arithmetic through these functions, so
they agree by construction; every failure leaves here as a ``RuleError``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any, Final

from cycleflow.errors import MissingField, RuleError
from cycleflow.expr.limits import MAX_EXPONENT, MAX_INT_BITS, MAX_SEQUENCE
from cycleflow.expr.messages import from_type_error, rule_error

Step = tuple[str | int, bool]
"""One step of a field path: the key, and whether it was written ``.key`` (True) or ``[key]``."""


class _Missing:
    """The type of :data:`MISS`; a unique, immutable marker."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "MISS"


MISS: Final = _Missing()
"""Marks a hoisted field read that did not succeed on the fast path."""

MISSING_TEXT: Final = "<missing>"
_ABSENT: Final = object()
"""What ``read_values`` reports for a field the record does not carry."""

DATE_ATTRS: Final = frozenset({"year", "month", "day"})
"""Attributes readable on a date (``today.year``)."""

DATETIME_ATTRS: Final = DATE_ATTRS | {"hour", "minute", "second"}
"""Attributes readable on a datetime (``now.hour``)."""

_SIZED: Final = (str, list, tuple)


def type_name(value: Any) -> str:
    """A user-facing name of a value's type, in the words of the docs."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, (list, tuple, set, frozenset)):
        return "list"
    if isinstance(value, datetime):
        return "datetime"
    if isinstance(value, date):
        return "date"
    return type(value).__name__


def join_path(path: str, key: str | int, is_attr: bool) -> str:
    """``deal.a`` + ``b`` → ``deal.a.b``; integer subscripts render as ``[0]``."""
    if is_attr or isinstance(key, str):
        return f"{path}.{key}"
    return f"{path}[{key}]"


def step(value: Any, key: str | int, is_attr: bool, parent: str) -> Any:
    """Read one key of ``value`` (the value at ``parent``) with the language's rules.

    Objects are read by key (never by attribute, so ``deal.items`` is the key
    ``items``); a missing key or a null parent is a :class:`MissingField`.
    """
    if isinstance(value, dict):
        # dict.get, not value[key]: a defaultdict's __missing__ would add the key to the
        # caller's deal and make a missing field read as present
        found = dict.get(value, key, _ABSENT)
        if found is _ABSENT:
            raise MissingField(join_path(parent, key, is_attr))
        return found
    if isinstance(value, Mapping):
        try:
            return value[key]
        except KeyError:
            raise MissingField(join_path(parent, key, is_attr)) from None
    if value is None:
        raise MissingField(join_path(parent, key, is_attr))
    if is_attr:
        if isinstance(value, datetime) and key in DATETIME_ATTRS:
            return getattr(value, str(key))
        if isinstance(value, date) and key in DATE_ATTRS:
            return getattr(value, str(key))
        raise rule_error("rt_not_object", key=str(key), parent=parent, kind=type_name(value))
    if isinstance(key, int) and isinstance(value, Sequence):
        try:
            return value[key]
        except IndexError:
            raise rule_error("rt_index", key=str(key), parent=parent) from None
    raise rule_error("rt_read_index", key=repr(key), parent=parent, kind=type_name(value))


def walk(root: Any, root_name: str, steps: tuple[Step, ...]) -> Any:
    """Follow ``steps`` from ``root`` (named ``root_name``); the slow, precise path."""
    value = root
    path = root_name
    for key, is_attr in steps:
        value = step(value, key, is_attr, path)
        path = join_path(path, key, is_attr)
    return value


def read_optional(root: Any, root_name: str, steps: tuple[Step, ...]) -> Any:
    """Like :func:`walk`, but a missing field reads as None (for ``has`` and ``default``).

    Plain dicts take a fast path with no exceptions; anything else takes the precise walk.
    """
    value = root
    for key, _ in steps:
        if type(value) is not dict:
            try:
                return walk(root, root_name, steps)
            except MissingField:
                return None
        value = value.get(key)
        if value is None:
            return None
    return value


def has_field(root: Any, root_name: str, steps: tuple[Step, ...]) -> bool:
    """True when the field is present and not null; never raises MissingField."""
    return read_optional(root, root_name, steps) is not None


def detached(exc: BaseException) -> RuleError:
    """:func:`wrap`, cut loose from tracebacks and chained exceptions, for keeping in a list.

    A kept exception whose traceback reaches the frame that keeps it is a reference
    cycle: one per failed rule, left for the garbage collector (measured: 1.5x slower
    batches). The RuleError's message is all the engine uses.
    """
    err = wrap(exc)
    err.__traceback__ = None
    err.__context__ = None
    err.__cause__ = None
    return err


def wrap(exc: BaseException) -> RuleError:
    """Turn any exception raised while evaluating into a clean RuleError."""
    if isinstance(exc, RuleError):
        return exc
    if isinstance(exc, ZeroDivisionError):
        return rule_error("rt_div_zero")
    if isinstance(exc, OverflowError):  # Python's words ("too large to convert to C int")
        return rule_error("rt_range")    # mean nothing to a policy author
    if isinstance(exc, RecursionError):
        return rule_error("rt_deep")
    if isinstance(exc, MemoryError):
        return rule_error("rt_too_large", what="result")
    if isinstance(exc, TypeError):
        return from_type_error(exc)
    if isinstance(exc, IndexError):
        return RuleError(f"index out of range: {exc}")
    if isinstance(exc, ValueError):
        return RuleError(f"invalid value: {exc}")
    return RuleError(f"cannot evaluate: {type(exc).__name__}: {exc}")


def _too_large(what: str) -> RuleError:
    return rule_error("rt_too_large", what=what)


def check_number(result: Any) -> Any:
    """Refuse integers over MAX_INT_BITS and non-finite floats produced by a step."""
    kind = type(result)
    if kind is int:
        if result.bit_length() > MAX_INT_BITS:
            raise _too_large("number")
    elif kind is float and not math.isfinite(result):
        raise rule_error("rt_range")
    return result


def _seq_len(value: Any) -> int:
    return len(value) if isinstance(value, _SIZED) else -1


def size_of(value: Any, budget: int = MAX_SEQUENCE) -> int:
    """Characters and items in ``value``, nested ones included and a repeated one counted
    each time (what hashing or comparing it may touch); stops once past ``budget``.

    ``(deal.x,) * 1000000`` is a million items, but ``((deal.x,) * 1000000,) * 1000000``
    is 10^12 of them behind a length of a million: hashing it ran for hours.
    """
    if isinstance(value, str):
        return len(value)
    if not isinstance(value, (list, tuple, set, frozenset, dict)):
        return 1
    total = len(value)
    stack = [iter(value.values() if isinstance(value, dict) else value)]
    while stack and total <= budget:
        for item in stack[-1]:
            if isinstance(item, str):
                total += len(item)
            elif isinstance(item, (list, tuple, set, frozenset, dict)):
                total += len(item)
                stack.append(iter(item.values() if isinstance(item, dict) else item))
                break
            if total > budget:
                break
        else:
            stack.pop()
    return total


def op_add(a: Any, b: Any) -> Any:
    """``a + b`` with strings and lists bounded to MAX_SEQUENCE, nested items included."""
    sized = isinstance(a, _SIZED) and isinstance(b, _SIZED)
    if sized and (len(a) + len(b) > MAX_SEQUENCE or size_of(a) + size_of(b) > MAX_SEQUENCE):
        raise _too_large("joined text or list")
    return check_number(a + b)


def op_sub(a: Any, b: Any) -> Any:
    """``a - b`` with the number bounds."""
    return check_number(a - b)


def op_mul(a: Any, b: Any) -> Any:
    """``a * b``: repeated text/lists bounded to MAX_SEQUENCE, integers to MAX_INT_BITS."""
    if isinstance(b, int) and _seq_len(a) >= 0:
        if _seq_len(a) * b > MAX_SEQUENCE or b > 0 and size_of(a) * b > MAX_SEQUENCE:
            raise _too_large("repeated text or list")
    elif isinstance(a, int) and _seq_len(b) >= 0:
        if _seq_len(b) * a > MAX_SEQUENCE or a > 0 and size_of(b) * a > MAX_SEQUENCE:
            raise _too_large("repeated text or list")
    elif (
        isinstance(a, int)
        and isinstance(b, int)
        and a.bit_length() + b.bit_length() > MAX_INT_BITS + 1
    ):
        raise _too_large("number")
    return check_number(a * b)


def op_div(a: Any, b: Any) -> Any:
    """``a / b``; division by zero and overflow become RuleError."""
    return check_number(a / b)


def op_floordiv(a: Any, b: Any) -> Any:
    """``a // b``; division by zero becomes RuleError."""
    return check_number(a // b)


def op_mod(a: Any, b: Any) -> Any:
    """``a % b`` for numbers only: ``%`` never formats strings."""
    if isinstance(a, (str, bytes)):
        raise rule_error("rt_operands", op="%", left=type_name(a), right=type_name(b))
    return check_number(a % b)


def op_pow(a: Any, b: Any) -> Any:
    """``a ** b`` with |b| ≤ MAX_EXPONENT and a result of at most MAX_INT_BITS."""
    if isinstance(b, (int, float)):
        if not abs(b) <= MAX_EXPONENT:
            raise rule_error("rt_exponent", exponent=repr(b), limit=str(MAX_EXPONENT))
        whole = isinstance(a, int) and isinstance(b, int)
        if whole and b > 0 and a.bit_length() * b > MAX_INT_BITS:
            raise _too_large("power")
    result = a**b
    if isinstance(result, complex):
        raise rule_error("rt_power_real")
    return check_number(result)
