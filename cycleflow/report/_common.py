"""What every report format shares: the findings of a verdict, and text made safe to show."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from cycleflow.jsonsafe import scrub
from cycleflow.textsafe import visible as visible  # re-exported for the report writers

Level = Literal["violation", "approval", "warning", "error"]

#: The rule id of results about records that could not be judged.
INPUT_ERROR_RULE = "cycleflow/unjudged-record"


def dumps(value: Any) -> bytes:
    """Compact JSON bytes for any verdict-like value: orjson, with fallbacks that never raise."""
    try:
        return orjson.dumps(value, default=_fallback, option=orjson.OPT_NON_STR_KEYS)
    except TypeError:
        return orjson.dumps(scrub(value), default=_fallback, option=orjson.OPT_NON_STR_KEYS)


def _fallback(value: Any) -> Any:
    """What orjson cannot write itself: sets and tuples as lists, anything else as text."""
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)


def as_text(value: Any) -> str:
    """A message as text: strings as they are, ``{"en": ...}`` maps by English, else JSON."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, Mapping):
        for key in ("en", *value.keys()):
            if isinstance(value.get(key), str):
                return str(value[key])
    try:
        return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        return str(value)


@dataclass(frozen=True, slots=True)
class Finding:
    """One line of a report: a violation, a missing approval, a warning, or a record error."""

    level: Level
    rule: str
    kind: str
    severity: str
    message: str
    values: Any = None


def findings(verdict: Mapping[str, Any]) -> Iterator[Finding]:
    """Every finding of one verdict, in order: error, violations, missing approvals, warnings.

    A missing approval is listed only when no violation already names its gate.
    """
    if verdict.get("verdict") not in ("compliant", "violation"):
        message = as_text(verdict.get("error")) or "the record could not be judged"
        yield Finding("error", INPUT_ERROR_RULE, "input", "error", message)
    named: set[str] = set()
    for v in _list(verdict.get("violations")):
        rule = str(v.get("rule") or "?")
        named.add(rule)
        yield Finding(
            "violation",
            rule,
            str(v.get("kind") or ""),
            str(v.get("severity") or ""),
            as_text(v.get("message")),
            v.get("values"),
        )
    for gate in _list(verdict.get("approvals_needed")):
        gid = str(gate.get("gate") or "?")
        if gid in named:
            continue
        yield Finding("approval", gid, "approval", "high", approval_text(gate), None)
    for w in _list(verdict.get("warnings")):
        yield Finding(
            "warning",
            str(w.get("rule") or "?"),
            str(w.get("kind") or ""),
            str(w.get("severity") or ""),
            as_text(w.get("message")),
            w.get("values"),
        )


def approval_text(gate: Mapping[str, Any]) -> str:
    """``approval gate G: 1 more of sales_director (have 0 of 1): reason``."""
    roles = gate.get("roles") or []
    roles_text = ", ".join(str(r) for r in roles) if isinstance(roles, list) else str(roles)
    missing = gate.get("missing")
    count, have = gate.get("count"), gate.get("have")
    text = f"approval gate {gate.get('gate')}: needs"
    text += f" {missing} more" if missing is not None else ""
    text += f" of {roles_text}" if roles_text else ""
    if count is not None:
        text += f" (have {have if have is not None else 0} of {count})"
    reasons = gate.get("reasons")
    if reasons:
        text += ": " + "; ".join(as_text(r) for r in _plain_list(reasons))
    return text


def _list(value: Any) -> list[Mapping[str, Any]]:
    if not isinstance(value, list):
        return []
    return [x for x in value if isinstance(x, Mapping)]


def _plain_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def location(verdict: Mapping[str, Any]) -> str:
    """``source:record`` (``source`` alone when the record number is unknown or 0)."""
    source = str(verdict.get("source") or "")
    record = verdict.get("record")
    if isinstance(record, int) and record > 0:
        return f"{source}:{record}" if source else f"record {record}"
    return source


def deal_name(verdict: Mapping[str, Any]) -> str:
    """The deal id, or ``(no id)``."""
    deal = verdict.get("deal")
    return "(no id)" if deal is None or deal == "" else str(deal)
