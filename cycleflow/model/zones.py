"""Time zones a policy may name: the IANA database, as the platform or ``tzdata`` has it."""

from __future__ import annotations

import zoneinfo
from datetime import tzinfo


def zone_of(name: str) -> tzinfo:
    """The zone ``name`` names (``Asia/Shanghai``, ``UTC``); ValueError for any other text."""
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError) as err:
        raise ValueError(f"unknown time zone {name!r}") from err


def available_timezones() -> list[str]:
    """Every zone name the database knows, sorted (for "did you mean")."""
    return sorted(zoneinfo.available_timezones())
