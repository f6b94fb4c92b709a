"""A policy's ``timezone``: rules' ``today`` is the business's calendar date, whatever offset
the caller's ``now`` carries. Without it a web handler passing local time and a worker
passing UTC judged the same instant differently near midnight (embedding review)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from cycleflow import Engine, PolicyError, load_policy

POLICY = """\
cycleflow: 1
id: zoned
version: "1"
{zone}stages:
  open: {{initial: true}}
  won: {{final: true}}
transitions:
  - trigger: win
    from: open
    to: won
    when:
      - id: not_closed_early
        when: not has(deal.close_date) or date(deal.close_date) <= today
risks:
  - id: close_date_past
    when: has(deal.close_date) and date(deal.close_date) < today
    at: [always]
    then: warn
    message: the close date has passed
"""

DEAL = {"id": "Z-1", "stage": "open", "close_date": "2026-11-26"}
SHANGHAI = timezone(timedelta(hours=8))
# one instant: 01:00 on 27 November in Shanghai is 17:00 on 26 November in UTC
LOCAL = datetime(2026, 11, 27, 1, 0, tzinfo=SHANGHAI)
UTC = LOCAL.astimezone(timezone.utc)


def engine(tmp_path: Path, zone: str | None) -> Engine:
    path = tmp_path / "zoned.yaml"
    path.write_text(POLICY.format(zone=f"timezone: {zone}\n" if zone else ""), "utf-8")
    return Engine(load_policy(path))


def warned(e: Engine, now: datetime) -> list[str]:
    v = e.check(DEAL, now=now)
    assert e.check_record(DEAL, now, 1, "x") == v.to_dict(record=1, source="x")
    return [w.rule for w in v.warnings]


def test_the_same_instant_is_judged_alike_in_the_policys_zone(tmp_path: Path) -> None:
    shanghai = engine(tmp_path, "Asia/Shanghai")
    assert warned(shanghai, LOCAL) == warned(shanghai, UTC) == ["close_date_past"]
    berlin = engine(tmp_path, "Europe/Berlin")  # 18:00 on the 26th there: not past
    assert warned(berlin, LOCAL) == warned(berlin, UTC) == []
    # a move reads the same today
    early = {**DEAL, "close_date": "2026-11-27"}
    assert shanghai.decide(early, "win", None, now=UTC).outcome == "allowed"
    assert berlin.decide(early, "win", None, now=LOCAL).outcome == "blocked"


def test_without_a_zone_today_follows_the_offset_passed(tmp_path: Path) -> None:
    plain = engine(tmp_path, None)
    assert warned(plain, LOCAL) == ["close_date_past"]
    assert warned(plain, UTC) == []


@pytest.mark.parametrize(("written", "hint"), [
    ("Asia/Shangai", "did you mean 'Asia/Shanghai'?"),
    ("asia/shanghai", "did you mean 'Asia/Shanghai'?"),
    ("Nowhere/At_All", "write a zone such as"),
])
def test_an_unknown_zone_is_a_load_error_with_its_place(
        tmp_path: Path, written: str, hint: str) -> None:
    with pytest.raises(PolicyError) as err:
        engine(tmp_path, written)
    (problem,) = err.value.problems
    assert problem.code == "unknown-timezone"
    assert (problem.location.line, problem.location.column) == (4, 11)
    assert hint in (problem.suggestion or "")


@pytest.mark.parametrize("written", [
    "localtime",  # the host's own zone: the policy would judge differently on each machine
    "posixrules", "right/UTC", "posix/Asia/Tokyo",  # files of the zone folder, not zones
    # zoneinfo alone recursed once per '/' (RecursionError: lint exited 70)
    pytest.param("a/" * 300 + "b", id="300-slashes"),
])
def test_only_zones_the_database_lists_are_taken(tmp_path: Path, written: str) -> None:
    with pytest.raises(PolicyError) as err:
        engine(tmp_path, written)
    assert [p.code for p in err.value.problems] == ["unknown-timezone"]


def test_a_machine_without_a_zone_database_is_told_what_to_install(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import zoneinfo

    monkeypatch.setattr(zoneinfo, "available_timezones", set)
    with pytest.raises(PolicyError) as err:
        engine(tmp_path, "UTC")
    (problem,) = err.value.problems
    assert "no zone database" in problem.message
    assert problem.suggestion == "install one: pip install tzdata"


def test_a_policy_built_by_hand_with_an_unknown_zone_is_a_usage_error(tmp_path: Path) -> None:
    """load_policy refuses it with file:line:col; a Policy made in code meets the engine."""
    from dataclasses import replace

    from cycleflow import UsageError

    policy = replace(engine(tmp_path, "UTC").policy, timezone="Mars/Olympus")
    with pytest.raises(UsageError, match="unknown time zone 'Mars/Olympus'"):
        Engine(policy)
