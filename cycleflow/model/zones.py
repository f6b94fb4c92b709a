"""Time zones a policy may name: the IANA database, as the platform or ``tzdata`` has it.

Only a name the database lists is opened. ``zoneinfo`` alone would open any path under
the zone folder (``posix/...``, ``right/...``), follow ``localtime`` to the host's own
zone (so a policy would judge differently on each machine), and recurse once per ``/``
looking for a ``tzdata`` package.
"""

from __future__ import annotations

import zoneinfo
from datetime import tzinfo

#: Names the database folder holds that are not zones a policy can mean: the host's own
#: zone, and the default rules of POSIX TZ strings (both links that vary by machine).
_HOST_LINKS = frozenset({"localtime", "posixrules"})


def available_timezones() -> list[str]:
    """Every zone a policy may name, sorted; empty when the machine has no zone database."""
    return sorted(zoneinfo.available_timezones() - _HOST_LINKS)


def zone_of(name: str) -> tzinfo:
    """The zone ``name`` names (``Asia/Shanghai``, ``UTC``); ValueError, saying why, for any
    other text or when no zone database is installed."""
    zones = available_timezones()
    if name not in zones:
        if not zones:
            raise ValueError("no time zone database was found on this machine: "
                             "install one (pip install tzdata)")
        raise ValueError(f"unknown time zone {name!r}")
    return zoneinfo.ZoneInfo(name)
