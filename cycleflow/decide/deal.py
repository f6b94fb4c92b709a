"""Reading the reserved parts of a deal record: stage, time in stage, steps done.

The deal record *is* the state (DESIGN.md); these helpers read it without
changing it and turn malformed reserved keys into :class:`DealError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timezone
from typing import Any

from cycleflow.errors import DealError


def parse_time(value: Any, what: str) -> datetime:
    """An ISO-8601 time (``Z`` accepted; a bare date is midnight UTC; naive is UTC)."""
    if type(value) is str and value[-1:] == "Z":  # the common form, e.g. 2026-11-01T09:00:00Z
        try:
            moment = datetime.fromisoformat(value[:-1] + "+00:00")
            if moment.tzinfo is not None:  # "2026-11-12Z", a date, reads naive: below
                return moment
        except ValueError:
            pass  # the general path gives the precise error
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise DealError(f"{what} is not an ISO-8601 time: {value!r}") from None
    else:
        raise DealError(f"{what} must be an ISO-8601 string, got {type(value).__name__}")
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def steps_done(deal: Mapping[str, Any]) -> frozenset[str]:
    """The ids of the process steps a deal has done (a list of ids, or a map id → details)."""
    raw = deal.get("steps")
    if raw is None:
        return frozenset()
    if type(raw) is list or isinstance(raw, (list, tuple)):
        try:
            return frozenset(raw)  # non-text items can never match a step id
        except TypeError:
            raise DealError("steps must be a list of step ids") from None
    if type(raw) is dict or isinstance(raw, Mapping):  # details null, false (or 0): not done
        # a str subclass (an app's StrEnum) is its text, as in the list form and the stage
        return frozenset([k if type(k) is str else str.__str__(k) if isinstance(k, str)
                          else str(k) for k, v in raw.items()
                          if v is not None and v is not False and v != False])  # noqa: E712
    raise DealError(f"steps must be a list or a map, got {type(raw).__name__}")


def deal_id(deal: Any) -> str | None:
    """The deal's id as a string, or None when absent."""
    if type(deal) is dict or isinstance(deal, Mapping):
        value = deal.get("id")
        return None if value is None else str(value)
    return None


def lookup(deal: Mapping[str, Any], dotted: str) -> tuple[bool, Any]:
    """``(found, value)`` for a dotted field path such as ``customer.name``."""
    node: Any = deal
    for part in dotted.split("."):
        if (type(node) is dict or isinstance(node, Mapping)) and part in node:
            node = node[part]
        else:
            return False, None
    return True, node
