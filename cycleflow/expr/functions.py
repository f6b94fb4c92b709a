"""The function library rule expressions may call; nothing else is callable.

Each function is pure, bounded and never reads the real clock: the clock
functions receive the evaluation's ``now``/``today`` from the evaluator.
``has`` and ``default`` are special forms the evaluators handle themselves.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date as _date
from datetime import datetime as _datetime
from datetime import timedelta, timezone
from types import MappingProxyType
from typing import Any

from cycleflow.errors import RuleError
from cycleflow.expr.limits import MAX_DATE_TEXT, MAX_MEMBERSHIP_WORK, MAX_ROUND_DIGITS
from cycleflow.expr.messages import rule_error
from cycleflow.expr.runtime import check_number, size_of, type_name

_DAY = timedelta(days=1)
_COLLECTIONS = (list, tuple, set, frozenset)


def _need(ok: bool, func: str, what: str, value: Any) -> None:
    if not ok:
        raise rule_error("rt_arg", func=func, what=what, kind=type_name(value))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def fn_len(value: Any) -> int:
    """Length of a string, list or object."""
    _need(isinstance(value, (str, Mapping, *_COLLECTIONS)), "len", "a string or list", value)
    return len(value)


def fn_abs(value: Any) -> Any:
    """Absolute value of a number or duration."""
    _need(_is_number(value) or isinstance(value, timedelta), "abs", "a number", value)
    return abs(value)


def _extreme(name: str, pick: Callable[..., Any], args: tuple[Any, ...]) -> Any:
    items: Any = args
    if len(args) == 1:
        items = args[0]
        _need(isinstance(items, _COLLECTIONS), name, "a list or several values", items)
        if not items:
            raise rule_error("rt_empty", func=name)
    # each item is compared once, at the cost of what it holds: 1,150 references to one
    # 200,000-item list took a second per rule
    if size_of(items, MAX_MEMBERSHIP_WORK) > MAX_MEMBERSHIP_WORK:
        raise rule_error("rt_inputs_large", func=name)
    return pick(items)


def fn_min(*args: Any) -> Any:
    """Smallest of several values, or of one list."""
    return _extreme("min", builtins.min, args)


def fn_max(*args: Any) -> Any:
    """Largest of several values, or of one list."""
    return _extreme("max", builtins.max, args)


def fn_round(value: Any, ndigits: Any = None) -> Any:
    """Round half to even, to an integer or to ``ndigits`` decimals."""
    _need(_is_number(value), "round", "a number", value)
    if ndigits is None:
        return builtins.round(value)
    whole = isinstance(ndigits, int) and not isinstance(ndigits, bool)
    _need(whole, "round", "whole digits", ndigits)
    if abs(ndigits) > MAX_ROUND_DIGITS:
        raise rule_error("rt_round_digits", limit=str(MAX_ROUND_DIGITS))
    return check_number(builtins.round(value, ndigits))


def fn_lower(text: Any) -> str:
    """Lower-case text."""
    _need(isinstance(text, str), "lower", "a string", text)
    return str(text).lower()


def fn_upper(text: Any) -> str:
    """Upper-case text."""
    _need(isinstance(text, str), "upper", "a string", text)
    return str(text).upper()


def _affixes(func: str, affix: Any) -> str | tuple[str, ...]:
    if isinstance(affix, str):
        return affix
    _need(isinstance(affix, (list, tuple)), func, "a string or a list of strings", affix)
    for item in affix:
        _need(isinstance(item, str), func, "a list of strings", item)
    return tuple(affix)


def fn_startswith(text: Any, prefix: Any) -> bool:
    """True when ``text`` starts with ``prefix`` (or one of a list of prefixes)."""
    _need(isinstance(text, str), "startswith", "a string", text)
    return str(text).startswith(_affixes("startswith", prefix))


def fn_endswith(text: Any, suffix: Any) -> bool:
    """True when ``text`` ends with ``suffix`` (or one of a list of suffixes)."""
    _need(isinstance(text, str), "endswith", "a string", text)
    return str(text).endswith(_affixes("endswith", suffix))


def fn_contains(container: Any, item: Any) -> bool:
    """``item in container``: substring for text, membership for lists and object keys."""
    if isinstance(container, str):
        _need(isinstance(item, str), "contains", "a string to look for in a string", item)
        return item in container
    kinds = (Mapping, *_COLLECTIONS)
    _need(isinstance(container, kinds), "contains", "a string or list", container)
    return item in container


def _membership(name: str, items: Any, pool: Any) -> tuple[Any, Any]:
    _need(isinstance(items, _COLLECTIONS), name, "a list as first argument", items)
    _need(isinstance(pool, (str, Mapping, *_COLLECTIONS)), name, "a list as second argument", pool)
    # each item may be compared with every element, and comparing lists or text costs
    # what they hold: 600 copies of a 200,000-item list took minutes at 360,000 comparisons
    budget = MAX_MEMBERSHIP_WORK // max(len(pool), 1)  # size_of stops once past it
    if len(items) > budget or size_of(items, budget) > budget:
        raise rule_error("rt_inputs_large", func=name)
    if isinstance(pool, str):
        for item in items:
            _need(isinstance(item, str), name, "strings to look for in a string", item)
    return items, pool


def fn_any_in(items: Any, pool: Any) -> bool:
    """True when at least one element of ``items`` is in ``pool``."""
    items, pool = _membership("any_in", items, pool)
    return builtins.any(item in pool for item in items)


def fn_all_in(items: Any, pool: Any) -> bool:
    """True when every element of ``items`` is in ``pool`` (true for an empty list)."""
    items, pool = _membership("all_in", items, pool)
    return builtins.all(item in pool for item in items)


def _aware(value: _datetime) -> _datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


def _parse_datetime(text: str) -> _datetime:
    if len(text) > MAX_DATE_TEXT:
        raise rule_error("rt_date_long")
    cleaned = text.strip()
    if cleaned[-1:] in ("Z", "z"):
        cleaned = cleaned[:-1] + "+00:00"
    try:
        return _aware(_datetime.fromisoformat(cleaned))
    except ValueError:
        raise rule_error("rt_not_datetime", text=repr(text)) from None


def _instant(func: str, value: Any) -> _date:
    """A date (for date-only input) or an aware datetime, from text, a date or a datetime."""
    if type(value) is str:  # the common cases first: a plain date, a UTC time ending in Z
        try:
            if len(value) == 10:
                return _date.fromisoformat(value)
            if value[-1:] == "Z" and len(value) <= MAX_DATE_TEXT:
                found = _datetime.fromisoformat(value[:-1] + "+00:00")
                if found.tzinfo is not None:  # "2026-11-12Z", a date, reads naive: below
                    return found
        except ValueError:
            pass  # the general path below gives the precise error
    if isinstance(value, _datetime):
        return _aware(value)
    if isinstance(value, _date):
        return value
    _need(isinstance(value, str), func, "an ISO-8601 date text, date or datetime", value)
    text = str(value).strip()
    if len(text) == 10:
        try:
            return _date.fromisoformat(text)
        except ValueError:
            raise rule_error("rt_not_date", text=repr(text)) from None
    return _parse_datetime(text)


def fn_date(value: Any) -> _date:
    """The calendar date of an ISO text, date or datetime (as written, no time-zone shift)."""
    found = _instant("date", value)
    return found.date() if isinstance(found, _datetime) else found


def fn_datetime(value: Any) -> _datetime:
    """An aware datetime from ISO text ('Z' accepted), a datetime or a date; naive means UTC."""
    found = _instant("datetime", value)
    if isinstance(found, _datetime):
        return found
    return _datetime(found.year, found.month, found.day, tzinfo=timezone.utc)


def _duration(func: str, unit: str, amount: Any) -> timedelta:
    _need(_is_number(amount), func, "a number", amount)
    return timedelta(**{unit: amount})


def fn_days(amount: Any) -> timedelta:
    """A duration of ``amount`` days, to add to or compare with dates."""
    return _duration("days", "days", amount)


def fn_hours(amount: Any) -> timedelta:
    """A duration of ``amount`` hours."""
    return _duration("hours", "hours", amount)


def _whole_days(delta: timedelta) -> int:
    """Whole days in ``delta``, truncated toward zero."""
    if delta < timedelta(0):
        return -((-delta) // _DAY)
    return delta // _DAY


def _span(func: str, start: Any, end: Any) -> int:
    first = _instant(func, start)
    last = _instant(func, end)
    if isinstance(first, _datetime) != isinstance(last, _datetime):
        first = fn_datetime(first)
        last = fn_datetime(last)
    return _whole_days(last - first)


def fn_days_between(start: Any, end: Any) -> int:
    """Whole days from ``start`` to ``end`` (negative when ``end`` is earlier)."""
    return _span("days_between", start, end)


def fn_days_since(value: Any, now: _datetime, today: _date) -> int:
    """Whole days from ``value`` to the evaluation's now (a date counts from today)."""
    found = _instant("days_since", value)  # now and today are of the same kinds as found
    return _whole_days(now - found if isinstance(found, _datetime) else today - found)


def fn_days_until(value: Any, now: _datetime, today: _date) -> int:
    """Whole days from the evaluation's now to ``value`` (a date counts from today)."""
    found = _instant("days_until", value)
    return _whole_days(found - now if isinstance(found, _datetime) else found - today)


def _special_form(*args: Any) -> Any:
    raise RuleError("has() and default() are evaluated by the evaluator itself")


@dataclass(frozen=True, slots=True)
class Function:
    """One library function: its implementation, arity and documentation."""

    name: str
    impl: Callable[..., Any]
    min_args: int
    max_args: int | None
    summary: str
    example: str
    returns: str | None = None
    clock: bool = False
    special: bool = False

    def arity(self) -> str:
        """Human form of the accepted argument count, for error messages."""
        if self.max_args == self.min_args:
            return f"{self.min_args} argument{'s' if self.min_args != 1 else ''}"
        if self.max_args is None:
            return f"at least {self.min_args} argument{'s' if self.min_args != 1 else ''}"
        return f"{self.min_args} to {self.max_args} arguments"


def _library(*functions: Function) -> Mapping[str, Function]:
    return MappingProxyType({f.name: f for f in functions})


FUNCTIONS: Mapping[str, Function] = _library(
    Function("len", fn_len, 1, 1, "length of a string, list or object", "len(deal.tags) > 0",
             "integer"),
    Function("abs", fn_abs, 1, 1, "absolute value", "abs(deal.margin_pct) < 5", "number"),
    Function("min", fn_min, 1, None, "smallest value", "min(deal.quotes) >= 1000"),
    Function("max", fn_max, 1, None, "largest value", "max(deal.amount, 0) > 0"),
    Function("round", fn_round, 1, 2, "round half to even", "round(deal.amount / 1000) == 120",
             "number"),
    Function("lower", fn_lower, 1, 1, "lower-case text", "lower(deal.region) == 'emea'", "string"),
    Function("upper", fn_upper, 1, 1, "upper-case text", "upper(deal.currency) == 'EUR'", "string"),
    Function("startswith", fn_startswith, 2, 2, "text starts with a prefix",
             "startswith(deal.sku, 'SVC-')", "boolean"),
    Function("endswith", fn_endswith, 2, 2, "text ends with a suffix",
             "endswith(deal.email, ['.gov', '.mil'])", "boolean"),
    Function("contains", fn_contains, 2, 2, "substring or membership test",
             "contains(actor.roles, 'sales_director')", "boolean"),
    Function("any_in", fn_any_in, 2, 2, "some element of the first list is in the second",
             "any_in(deal.countries, ['IR', 'KP'])", "boolean"),
    Function("all_in", fn_all_in, 2, 2, "every element of the first list is in the second",
             "all_in(deal.products, ['crm', 'erp'])", "boolean"),
    Function("date", fn_date, 1, 1, "calendar date of ISO text or a datetime",
             "date(deal.close_date) <= today", "date"),
    Function("datetime", fn_datetime, 1, 1, "aware datetime of ISO text",
             "datetime(deal.stage_entered_at) < now - days(30)", "datetime"),
    Function("days", fn_days, 1, 1, "a duration in days", "date(deal.signed_on) + days(30) < today",
             "duration"),
    Function("hours", fn_hours, 1, 1, "a duration in hours",
             "datetime(deal.submitted_at) + hours(48) < now", "duration"),
    Function("days_since", fn_days_since, 1, 1, "whole days from a date to now",
             "days_since(deal.stage_entered_at) > 30", "integer", clock=True),
    Function("days_until", fn_days_until, 1, 1, "whole days from now to a date",
             "days_until(deal.close_date) < 7", "integer", clock=True),
    Function("days_between", fn_days_between, 2, 2, "whole days from the first date to the second",
             "days_between(deal.quote_date, deal.close_date) <= 90", "integer"),
    Function("has", _special_form, 1, 1, "the field is present and not null",
             "has(deal.budget) and deal.budget > 0", "boolean", special=True),
    Function("default", _special_form, 2, 2, "the field, or a default when missing or null",
             "default(deal.discount_pct, 0) > 20", special=True),
)
"""Every function a rule expression may call, by name (read-only)."""
