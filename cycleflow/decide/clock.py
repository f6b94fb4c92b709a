"""The moments a decision reads: the caller's ``now`` resolved, the wall clock an event is
written at, and a moment as the ISO text events and records carry."""

from __future__ import annotations

from datetime import datetime, timezone

from cycleflow.decide.deal import parse_time
from cycleflow.errors import DealError, UsageError


def iso(moment: datetime) -> str:
    """``moment`` as ISO-8601 text, UTC written ``Z``."""
    return moment.isoformat().replace("+00:00", "Z")


def wall_clock() -> datetime:
    """The wall-clock time an event is written: unlike ``at``, which is the caller's
    ``now`` and can be set to any time, this the caller cannot choose."""
    return datetime.now(timezone.utc)


def resolve_now(now: datetime | str | None) -> datetime:
    """The moment of a decision: the given time (ISO text or datetime; naive is UTC) or now."""
    if now is None:
        return datetime.now(timezone.utc)
    if isinstance(now, str):
        try:
            return parse_time(now, "now")
        except DealError as err:
            raise UsageError(str(err)) from None
    if not isinstance(now, datetime):
        raise UsageError(
            f"now must be a datetime or ISO-8601 text such as '2026-11-26T12:00:00Z', "
            f"not {type(now).__name__} {now!r}"
        )
    return now if now.tzinfo else now.replace(tzinfo=timezone.utc)
