"""The like-for-like baseline: bench/handwritten.py's rule checks plus the deal-schema checks.

``Engine.check`` (and ``check_record``, what ``cycleflow check`` runs per record)
validates every deal against the policy's deal schema (schemas/deal.schema.json)
before judging it, and a deal that breaks the schema gets the verdict "error".
bench/handwritten.py does only the rule checks, so comparing the engine with it
alone charges the engine for work the baseline skips.  This module is what a
competent developer would write by hand to do the *same* work, for speed:
``valid(deal)`` mirrors every keyword of the deal schema with plain checks
(``type(x) is str``, frozensets for enums, precompiled regexes for ``pattern``,
``date-time`` and ``date``), and ``check(deal, now)`` is ``("error", [])`` for a
deal that breaks it, else ``handwritten.check(deal, now)``.

The semantics are the engine's (jsonschema Draft 2020-12 with format checking):
``True`` is not a number, ``1.0`` is an integer, NaN and Infinity are not numbers,
``date-time`` is strict RFC 3339 (``T``/``t`` separator, seconds, ``Z``/``z`` or an
offset, a real calendar day, no year 0, no trailing newline), ``date`` is a real
YYYY-MM-DD, ``email`` needs an ``@``, and ``pattern`` is ``re.search`` (so
``^...$`` lets one trailing newline through, as in jsonschema).  Unknown keys
are allowed everywhere except as step ids in a steps map.  It uses neither
jsonschema nor cycleflow: it is a baseline.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import handwritten

_M: Any = object()  # an absent key
_INF = float("inf")  # `0 <= x < _INF` is False for NaN and Infinity too

STAGES = frozenset(("prospect", "qualified", "negotiation", "won", "closed", "lost"))
STEP_IDS = frozenset((
    "customer_development", "customer_visit", "product_introduction", "needs_analysis",
    "solution_design", "quotation_negotiation", "contract_signing", "order_execution",
    "after_sales_service",
))
SCREENINGS = frozenset(("cleared", "pending", "flagged"))
SOURCES = frozenset(
    ("inbound", "outbound", "referral", "partner", "trade_show", "existing_customer"))

_DATE = r"(?!0000)\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])"
_TIME = r"[Tt](?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d+)?(?:[Zz]|[+-](?:[01]\d|2[0-3]):[0-5]\d)"
_datetime_shape = re.compile(_DATE + _TIME, re.ASCII).fullmatch
_date_shape = re.compile(_DATE, re.ASCII).fullmatch
# `pattern` is re.search with the schema's own regex, as jsonschema applies it
_country = re.compile(r"^[A-Z]{2}$").search
_currency = re.compile(r"^[A-Z]{3}$").search
_gate = re.compile(r"^[a-z][a-z0-9_]*$").search

_MONTH_DAYS = (0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _day_exists(text: str) -> bool:
    """Whether the YYYY-MM-DD at the start of ``text`` (already shaped, day 01-31) exists.
    Callers skip it for days 01-28, which every month has."""
    day, month = int(text[8:10]), int(text[5:7])
    if day <= _MONTH_DAYS[month]:
        return True
    year = int(text[:4])
    return month == 2 and day == 29 and year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _is_datetime(value: Any) -> bool:
    return type(value) is str and _datetime_shape(value) is not None and (
        value[8:10] <= "28" or _day_exists(value))


def _is_text(value: Any) -> bool:
    """A string of at least one character (minLength 1)."""
    return type(value) is str and value != ""


def _approval_ok(item: Any) -> bool:
    if type(item) is not dict:
        return False
    g = item.get
    v = g("gate", _M)
    if type(v) is not str or _gate(v) is None:
        return False
    if not _is_text(g("by", _M)) or not _is_text(g("role", _M)):
        return False
    if not _is_datetime(g("at", _M)):
        return False
    v = g("fingerprint", _M)
    if v is not _M and not _is_text(v):
        return False
    v = g("values", _M)
    if v is not _M and type(v) is not dict:
        return False
    v = g("comment", _M)
    if v is not _M and type(v) is not str:
        return False
    v = g("status", _M)
    return v is _M or type(v) is str


def _customer_ok(customer: Any) -> bool:
    if type(customer) is not dict:
        return False
    g = customer.get
    v = g("name", _M)
    if v is not _M and not _is_text(v):
        return False
    v = g("industry", _M)
    if v is not _M and type(v) is not str:
        return False
    v = g("country", _M)
    if v is not _M and (type(v) is not str or _country(v) is None):
        return False
    v = g("screening", _M)
    if v is not _M and (type(v) is not str or v not in SCREENINGS):
        return False
    v = g("contact_name", _M)
    if v is not _M and type(v) is not str:
        return False
    v = g("contact_email", _M)
    if v is not _M and (type(v) is not str or "@" not in v):
        return False
    v = g("contact_phone", _M)
    return v is _M or type(v) is str


def _steps_ok(steps: Any) -> bool:
    if type(steps) is list:  # step ids, each once
        try:  # a number, True or None is in no set of texts
            if not STEP_IDS.issuperset(steps):
                return False
        except TypeError:  # an unhashable item (a list, an object): not a step id
            return False
        return len(set(steps)) == len(steps)
    if type(steps) is dict:  # step id -> {at, by}
        for step, done in steps.items():
            if type(step) is not str or step not in STEP_IDS or type(done) is not dict:
                return False
            v = done.get("at", _M)
            if v is not _M and not _is_datetime(v):
                return False
            v = done.get("by", _M)
            if v is not _M and not _is_text(v):
                return False
        return True
    return False


def valid(deal: Any) -> bool:
    """Whether ``deal`` satisfies schemas/deal.schema.json (as the engine validates it)."""
    if type(deal) is not dict:
        return False
    g = deal.get
    # required (a missing key reads as _M, which fails each check)
    v = g("stage", _M)
    if type(v) is not str or v not in STAGES:
        return False
    v = g("id", _M)
    if type(v) is not str or v == "":
        return False
    v = g("owner", _M)
    if type(v) is not str or v == "":
        return False
    v = g("stage_entered_at", _M)
    if type(v) is not str or _datetime_shape(v) is None or (
            v[8:10] > "28" and not _day_exists(v)):
        return False
    # optional
    v = g("steps", _M)
    if v is not _M and not _steps_ok(v):
        return False
    v = g("approvals", _M)
    if v is not _M:
        if type(v) is not list:
            return False
        for item in v:
            if not _approval_ok(item):
                return False
    v = g("created_at", _M)
    if v is not _M and (type(v) is not str or _datetime_shape(v) is None or (
            v[8:10] > "28" and not _day_exists(v))):
        return False
    v = g("customer", _M)
    if v is not _M and not _customer_ok(v):
        return False
    v = g("amount", _M)
    if v is not _M and not ((type(v) is int or type(v) is float) and 0 <= v < _INF):
        return False
    v = g("currency", _M)
    if v is not _M and (type(v) is not str or _currency(v) is None):
        return False
    v = g("discount_pct", _M)
    if v is not _M and not ((type(v) is int or type(v) is float) and 0 <= v <= 100):
        return False
    v = g("margin_pct", _M)
    if v is not _M and not ((type(v) is int or type(v) is float) and -100 <= v <= 100):
        return False
    v = g("budget", _M)
    if v is not _M and not ((type(v) is int or type(v) is float) and 0 <= v < _INF):
        return False
    v = g("close_date", _M)
    if v is not _M and (type(v) is not str or _date_shape(v) is None or (
            v[8:10] > "28" and not _day_exists(v))):
        return False
    v = g("decision_maker", _M)
    if v is not _M and v is not None and type(v) is not str:
        return False
    v = g("lost_reason", _M)
    if v is not _M and type(v) is not str:
        return False
    v = g("contract_signed", _M)
    if v is not _M and type(v) is not bool:
        return False
    v = g("signed_at", _M)
    if v is not _M and (type(v) is not str or _date_shape(v) is None or (
            v[8:10] > "28" and not _day_exists(v))):
        return False
    v = g("product", _M)
    if v is not _M and type(v) is not str:
        return False
    v = g("source", _M)
    if v is not _M and (type(v) is not str or v not in SOURCES):
        return False
    v = g("payment_terms_days", _M)
    return v is _M or (type(v) is int and v >= 0) or (
        type(v) is float and v.is_integer() and v >= 0)


def check(deal: Any, now: datetime) -> tuple[str, list[str]]:
    """``handwritten.check(deal, now)``, or ``("error", [])`` for a deal that breaks the schema."""
    if not valid(deal):
        return "error", []
    return handwritten.check(deal, now)
