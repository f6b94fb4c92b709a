"""The periodic evaluation report: one streaming pass over an audit log → stage, rule, gate,
owner and weekly figures (see docs/evaluation.md for how each figure is derived).

The pass keeps a few integers per deal and per rule, never the events: memory grows with
the number of deals, not of events. Each event is decoded with orjson and dispatched on
its ``event`` name; the common ``rule.evaluated`` path touches one small list.
"""

from __future__ import annotations

import csv
import math
import os
import sqlite3
import statistics
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any

import orjson

from cycleflow.audit.logfile import GZIP_ERRORS, open_log
from cycleflow.audit.verify import LogSpec
from cycleflow.errors import AuditError, UsageError
from cycleflow.model.policy import Policy

UNKNOWN_OWNER = "(unknown)"
_CHUNK = 1 << 22
#: How many unreadable line numbers the report names (the count covers them all).
BAD_LINES_NAMED = 5


# --------------------------------------------------------------------------- reading


def iter_event_lines(spec: str) -> Iterator[bytes | str]:
    """The raw records of an audit log, in log order: a JSON Lines file (plain or gzip, xz,
    bzip2-compressed, recognised by its first bytes) or ``sqlite:PATH``. A line over the
    reading bound (e.g. a power loss's run of NUL bytes) is measured, not loaded, and comes
    as an unreadable placeholder, so it is counted and named like any bad line."""
    from cycleflow.audit.logfile import read_lines
    from cycleflow.audit.verify import parse_spec

    kind, path = parse_spec(spec)
    if os.path.isdir(path):
        raise UsageError(f"audit log {path} is a directory, not a log file")
    if not os.path.isfile(path):
        raise UsageError(f"audit log {path} does not exist or is not a file")
    if kind == "sqlite":
        from cycleflow.audit.sqlite import TABLE, connect_readonly

        conn = connect_readonly(path)
        try:
            cursor = conn.execute(f"SELECT record FROM {TABLE} ORDER BY seq")
            while True:
                rows = cursor.fetchmany(10000)
                if not rows:
                    break
                for (record,) in rows:
                    yield record
        except sqlite3.Error as err:
            raise UsageError(f"cannot read audit database {path}: {err}") from None
        finally:
            conn.close()
        return
    overlong = b"\x00 line over the reading bound\n"  # not JSON: counted unreadable
    try:
        with open_log(path, buffering=_CHUNK) as fh:
            for line in read_lines(fh):
                yield line if isinstance(line, bytes) else overlong
    except (OSError, *GZIP_ERRORS) as err:
        reason = getattr(err, "strerror", None) or err
        raise UsageError(f"cannot read audit log {path}: {reason}") from None
    except AuditError as err:  # a zstd log: says how to decompress it
        raise UsageError(str(err)) from None


def read_owners(sources: Sequence[str]) -> dict[str, str]:
    """``deal id → owner`` from deal files (any format ``cycleflow check`` reads)."""
    from cycleflow.batch.readers import iter_records

    owners: dict[str, str] = {}
    for item in iter_records(list(sources)):
        rec = item.record
        if rec is None:
            if item.position == 0:
                raise UsageError(f"--deals: {item.source}: {item.error}")
            continue
        if rec.get("id") is not None and rec.get("owner") is not None:
            owners[str(rec["id"])] = str(rec["owner"])
    return owners


# --------------------------------------------------------------------------- helpers


def _text(value: Any) -> str | None:
    """A field of an event as text (None stays None)."""
    return None if value is None else value if type(value) is str else str(value)


def median(values: Sequence[float]) -> float | None:
    """The median (mean of the two middle values for an even count); None when empty."""
    return float(statistics.median(values)) if values else None


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile: the value at rank ceil(p/100 · n) of the sorted values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return float(ordered[rank - 1])


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _r(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def _moment(at: str) -> datetime:
    """An event's ``at`` as an aware datetime (no offset reads as UTC)."""
    try:
        moment = datetime.fromisoformat(at.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"audit event has an unreadable time: {at!r}") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def _as_utc(at: str) -> str:
    """``at`` as UTC text (``…Z``), so that slicing out its day and comparing it with the
    period's bounds mean the same instant; UTC and offset-less times are kept as they are."""
    moment = _moment(at)
    if not moment.utcoffset():
        return at
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def _epoch(at: str) -> float:
    return _moment(at).timestamp()


def parse_bound(text: str | None, what: str) -> str | None:
    """``--from`` / ``--to``: an ISO date or time, normalised to a UTC ``YYYY-MM-DDTHH:MM:SS``."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"{what} is not an ISO-8601 date or time: {text!r}") from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment.isoformat(timespec="seconds")


# --------------------------------------------------------------------------- the pass


@dataclass(slots=True)
class _DealState:
    """What the pass remembers about one deal."""

    stage: str | None
    entered: float | None
    seen: set[str]
    seen_in: set[str]
    owner: str | None
    blocked: int
    checked_bad: int
    in_period: bool
    outcome: str | None


@dataclass
class ReportOptions:
    """What to report on: the period (UTC, ``[from, to)``), the policy, deal owners."""

    policy: Policy | None = None
    owners: Mapping[str, str] = field(default_factory=dict)
    start: str | None = None
    end: str | None = None


class Collector:
    """Accumulates the figures from raw audit records, one at a time."""

    def __init__(self, options: ReportOptions) -> None:
        self.opt = options
        policy = options.policy
        self.effects: dict[str, str] = {}
        self.gate_count: dict[str, int] = {}
        self.stage_order: list[str] = []
        self.outcomes: dict[str, str | None] = {}
        self.max_days: dict[str, float] = {}
        self.final: set[str] = set()  # stages no deal leaves: no time limit applies there
        if policy is not None:
            for stage in sorted(policy.stages, key=lambda s: s.index):
                self.stage_order.append(stage.id)
                self.outcomes[stage.id] = stage.outcome
                if stage.final:
                    self.final.add(stage.id)
                if stage.max_days is not None:
                    self.max_days[stage.id] = stage.max_days.days
                    self.effects[f"max_days.{stage.id}"] = stage.max_days.action
                for c in stage.entry:
                    self.effects[c.id] = "block"
                for s in stage.steps:
                    self.effects[s.id] = "block"
            for t in policy.transitions:
                for c in t.when:
                    self.effects[c.id] = "block"
                for f in t.require:
                    self.effects[f"require.{f}"] = "block"
            for r in policy.risks:
                self.effects[r.id] = f"approve {r.gate}" if r.action == "approve" else r.action
            for g in policy.gates:
                self.effects[g.id] = "approval"
                self.gate_count[g.id] = g.count
        # rule -> [evaluated, fired, blocked, led to approval, kind]
        self.rules: dict[str, list[Any]] = {}
        self.deals: dict[str, _DealState] = {}
        self.entered: dict[str, int] = {}
        self.lost_from: dict[str, int] = {}
        self.durations: dict[str, list[float]] = {}
        self.over_done: dict[str, int] = {}
        # gate -> [requests, grants, refusals, decision times (days)]
        self.gates: dict[str, list[Any]] = {}
        self.episodes: dict[tuple[str, str], list[Any]] = {}   # (deal, gate) -> [t0, grants]
        self.weeks: dict[str, dict[str, int]] = {}
        self.week_rules: dict[tuple[str, str], int] = {}
        self._week_of: dict[str, str] = {}
        self.events = 0
        self.in_period = 0
        self.first_at: str | None = None
        self.last_at: str | None = None
        self.bad_lines = 0
        self.bad_line_numbers: list[int | str] = []   # the first BAD_LINES_NAMED of them
        self._decision: Any = None
        self._fired: list[tuple[str, str]] = []
        # (policy id, version, sha256) → decisions in the period it judged: one log spans
        # every version shipped while it was written, and the figures pool them
        self.judged_by: dict[tuple[Any, Any, Any], int] = {}

    # ------------------------------------------------------------------ small pieces

    def week(self, at: str) -> str:
        """The Monday (``YYYY-MM-DD``) of the ISO week ``at`` falls in."""
        day = at[:10]
        label = self._week_of.get(day)
        if label is None:
            try:
                d = date.fromisoformat(day)
            except ValueError:
                d = date(1970, 1, 1)
            label = (d - timedelta(days=d.weekday())).isoformat()
            self._week_of[day] = label
        return label

    def bump(self, week: str, key: str, n: int = 1) -> None:
        """Add ``n`` to a weekly counter."""
        row = self.weeks.get(week)
        if row is None:
            row = self.weeks[week] = {}
        row[key] = row.get(key, 0) + n

    def deal(self, deal_id: str) -> _DealState:
        """The state kept for a deal (created on first sight)."""
        state = self.deals.get(deal_id)
        if state is None:
            state = _DealState(None, None, set(), set(), self.opt.owners.get(deal_id), 0, 0,
                               False, None)
            self.deals[deal_id] = state
        return state

    def _rule(self, rule: str, kind: Any) -> list[Any]:
        stats = self.rules.get(rule)
        if stats is None:
            stats = self.rules[rule] = [0, 0, 0, 0, kind]
        return stats

    def _stage_seen(self, name: str) -> None:
        if name not in self.outcomes:
            self.stage_order.append(name)
            self.outcomes[name] = "lost" if "lost" in name else None

    # ------------------------------------------------------------------ the pass

    def feed(self, lines: Iterable[bytes | str], source: str | None = None) -> None:
        """Consume raw records (one JSON object each, numbered from 1). A line that is not an
        event (not JSON, no event name or ISO-8601 time, a rule event lacking its fields) is
        counted, the first few numbered, and skipped: one bad line never ends the report.
        ``source`` names the file of a rotated log the lines come from, in those numbers."""
        loads = orjson.loads
        start, end = self.opt.start, self.opt.end
        bounded = start is not None or end is not None
        rules = self.rules
        checked_at = utc_at = ""  # the last time read, and it in UTC: a decision shares it
        for number, line in enumerate(lines, 1):
            try:
                e = loads(line)
                name = e["event"]
                at = e["at"]
                if type(name) is not str or type(at) is not str:
                    raise TypeError
                if at != checked_at:
                    utc_at = _as_utc(at)
                    checked_at = at
                at = utc_at  # periods and weeks are in UTC, whatever offset the log used
                if name == "rule.evaluated" and (
                    type(e["rule"]) is not str or "outcome" not in e or "trigger" not in e
                    or not isinstance(e.get("deal", 0), (str, type(None)))
                ):
                    raise TypeError
            except (orjson.JSONDecodeError, KeyError, TypeError, UsageError):
                if line.strip():
                    self.bad_lines += 1
                    if len(self.bad_line_numbers) < BAD_LINES_NAMED:
                        self.bad_line_numbers.append(
                            number if source is None else f"{source}:{number}")
                continue
            self.events += 1
            if name.startswith(("batch.", "audit.")):  # a run's bounds, a sink's own record:
                continue  # no decision, and audit.* is timed by the wall clock, not the caller
            if bounded:
                key = at[:19]
                inside = (start is None or key >= start) and (end is None or key < end)
            else:
                inside = True
            if inside:
                self.in_period += 1
                if self.first_at is None or at < self.first_at:
                    self.first_at = at
                if self.last_at is None or at > self.last_at:
                    self.last_at = at
            did = e.get("decision_id")
            if did != self._decision:
                self._decision = did
                self._fired = []
                if inside and e.get("policy_sha256") is not None:  # not a sink's own record
                    # as text: an edited log's list or object here must not end the report
                    judged = (_text(e.get("policy")), _text(e.get("policy_version")),
                              _text(e["policy_sha256"]))
                    self.judged_by[judged] = self.judged_by.get(judged, 0) + 1
            if name == "rule.evaluated":
                if not inside:
                    continue
                rule = e["rule"]
                stats = rules.get(rule)
                if stats is None:
                    stats = self._rule(rule, e.get("kind"))
                stats[0] += 1
                outcome = e["outcome"]
                if outcome == "pass":
                    if stats[4] == "approval" and e["trigger"] is not None:
                        self._close(e["deal"], rule, at, "pass")
                    continue
                stats[1] += 1
                week = self.week(at)
                wk = (week, rule)
                self.week_rules[wk] = self.week_rules.get(wk, 0) + 1
                self.bump(week, "rule_fired")
                if e["trigger"] is not None:
                    self._fired.append((rule, stats[4]))
                    if stats[4] == "approval":
                        self._open(e["deal"], rule, at)
                continue
            self._other(name, e, at, inside)

    def _other(self, name: str, e: Mapping[str, Any], at: str, inside: bool) -> None:
        deal_id = e.get("deal")
        if deal_id is None:
            return
        state = self.deal(str(deal_id))
        if state.owner is None:
            values = e.get("values")
            if isinstance(values, Mapping):
                owner = values.get("owner", values.get("deal.owner"))
                if isinstance(owner, str):
                    state.owner = owner
        if inside:
            state.in_period = True
        if name == "transition.applied" or name == "deal.created":
            self._enter(state, e, at, inside, created=name == "deal.created")
            return
        if not inside:
            return
        week = self.week(at)
        if name == "transition.requested":
            self.bump(week, "requested")
            if state.stage is None and e.get("from"):
                state.stage = str(e["from"])
                self._stage_seen(state.stage)
        elif name == "transition.blocked":
            self.bump(week, "blocked")
            state.blocked += 1
            for rule, _kind in self._fired:
                effect = self.effects.get(rule)
                if effect is None or effect == "block":
                    self.rules[rule][2] += 1
        elif name == "transition.needs_approval":
            self.bump(week, "needs_approval")
            for rule, kind in self._fired:
                effect = self.effects.get(rule)
                if (effect is not None and effect.startswith("approve")) or kind == "approval" \
                        or (effect is None and kind == "risk"):
                    self.rules[rule][3] += 1
        elif name == "transition.allowed":
            self.bump(week, "allowed")
        elif name == "transition.not_permitted":
            self.bump(week, "not_permitted")
        elif name == "deal.checked":
            self.bump(week, "checked")
            if e.get("from") and state.outcome is None:  # a check says where the deal is
                if state.stage != str(e["from"]):  # moved outside the log: entry unknown
                    state.stage, state.entered = str(e["from"]), None
                self._stage_seen(state.stage)
            if e.get("outcome") == "violation":
                state.checked_bad += 1
                self.bump(week, "checked_violation")
        elif name == "approval.requested":
            self._open(str(deal_id), str(e.get("rule")), at)
        elif name == "approval.granted":
            self._close(str(deal_id), str(e.get("rule")), at, "granted")
        elif name == "approval.refused":
            self._close(str(deal_id), str(e.get("rule")), at, "refused")

    def _enter(self, state: _DealState, e: Mapping[str, Any], at: str, inside: bool,
               created: bool) -> None:
        target = e.get("to")
        if not isinstance(target, str):
            return
        self._stage_seen(target)
        moment = _epoch(at)
        source = e.get("from") if not created else None
        if isinstance(source, str) and state.entered is not None and inside:
            days = (moment - state.entered) / 86400
            self.durations.setdefault(source, []).append(days)
            limit = self.max_days.get(source)
            if limit is not None and days > limit:
                self.over_done[source] = self.over_done.get(source, 0) + 1
        state.stage = target
        state.entered = moment
        state.seen.add(target)
        outcome = self.outcomes.get(target)
        already = state.outcome  # a deal counts as won (or lost) once, however many such stages
        if outcome is not None:
            state.outcome = outcome
        if not inside:
            return
        state.seen_in.add(target)
        self.entered[target] = self.entered.get(target, 0) + 1
        week = self.week(at)
        if created:
            self.bump(week, "created")
        if outcome == "won":
            if already != "won":
                self.bump(week, "won")
        elif outcome == "lost":
            self.bump(week, "lost")
            if isinstance(source, str):
                self.lost_from[source] = self.lost_from.get(source, 0) + 1
        self.bump(week, f"entered:{target}")

    def _gate(self, gate: str) -> list[Any]:
        stats = self.gates.get(gate)
        if stats is None:
            stats = self.gates[gate] = [0, 0, 0, [], 0]
        return stats

    def _open(self, deal_id: str, gate: str, at: str) -> None:
        key = (deal_id, gate)
        if key in self.episodes:
            return
        self.episodes[key] = [at, 0]
        inside = self._inside(at)
        if inside:
            self._gate(gate)[0] += 1
            self.bump(self.week(at), "approval_requests")

    def _close(self, deal_id: str, gate: str, at: str, how: str) -> None:
        key = (deal_id, gate)
        episode = self.episodes.get(key)
        if episode is None:
            return
        if how == "granted":
            episode[1] += 1
            if episode[1] < self.gate_count.get(gate, 1):
                return
        del self.episodes[key]
        if not self._inside(at):
            return
        stats = self._gate(gate)
        if how == "refused":
            stats[2] += 1
            self.bump(self.week(at), "approval_refusals")
        else:
            stats[1] += 1
            self.bump(self.week(at), "approval_grants")
        stats[3].append((_epoch(at) - _epoch(episode[0])) / 86400)

    def _inside(self, at: str) -> bool:
        key = at[:19]
        return (self.opt.start is None or key >= self.opt.start) and (
            self.opt.end is None or key < self.opt.end)

    # ------------------------------------------------------------------ the result

    def result(self) -> dict[str, Any]:
        """The report as one JSON-ready dict."""
        policy = self.opt.policy
        end_at = self.opt.end or (self.last_at[:19] if self.last_at else None)
        end_epoch = _epoch(end_at + "Z") if end_at else None
        for key, episode in self.episodes.items():
            if self._inside(episode[0]):
                self._gate(key[1])[4] += 1
        return {
            "generated_from": {
                "events": self.events, "events_in_period": self.in_period,
                "unreadable_lines": self.bad_lines,
                "first_unreadable_lines": list(self.bad_line_numbers),
                "policy": None if policy is None else {"id": policy.id,
                                                       "version": policy.version},
                "period": {"from": self.opt.start or self.first_at,
                           "to": self.opt.end or self.last_at},
                "judged_by": [{"id": k[0], "version": k[1], "sha256": k[2], "decisions": n}
                              for k, n in self.judged_by.items()],
                "warnings": self._version_warnings(),
            },
            "stages": self._stages(end_epoch),
            "rules": self._rules(),
            "never_fired": self._never_fired(),
            "gates": self._gates(),
            "owners": self._owners(),
            "weeks": self._weeks(),
            "week_rules": self._week_rules(),
        }

    def _version_warnings(self) -> list[str]:
        """What the reader must know when the period's decisions were not all judged by one
        policy, or not by the one given with ``-p`` (whose rules and limits the report uses)."""
        out: list[str] = []
        if len(self.judged_by) > 1:
            out.append(
                f"the period holds decisions judged by {len(self.judged_by)} policies ("
                + "; ".join(f"{k[0]} {k[1]} ({str(k[2] or '?')[:8]}): {n:,} decision"
                            f"{'s' if n != 1 else ''}" for k, n in self.judged_by.items())
                + "): the figures pool them; report each period of a version with "
                "--from/--to to compare them")
        policy = self.opt.policy
        if policy is not None and self.judged_by:
            other = sum(n for k, n in self.judged_by.items() if k[2] != policy.sha256)
            if other:
                out.append(
                    f"{other:,} of {sum(self.judged_by.values()):,} decisions in the period "
                    f"were judged by another policy than -p ({policy.id} {policy.version}, "
                    f"{policy.sha256[:8]}); its effects, limits and never-fired list are "
                    "read from -p")
        return out

    def _next_stage(self, stage: str) -> str | None:
        order = self.stage_order
        if stage not in order or self.outcomes.get(stage) is not None:
            return None
        for later in order[order.index(stage) + 1:]:
            if self.outcomes.get(later) != "lost":
                return later
        return None

    def _stages(self, end_epoch: float | None) -> list[dict[str, Any]]:
        open_over: dict[str, int] = {}
        converted: dict[str, int] = {}
        for state in self.deals.values():
            if (state.stage is not None and state.entered is not None and end_epoch is not None
                    and state.stage in self.max_days and state.stage not in self.final
                    and (end_epoch - state.entered) / 86400 > self.max_days[state.stage]):
                open_over[state.stage] = open_over.get(state.stage, 0) + 1
            for stage in state.seen_in:
                nxt = self._next_stage(stage)
                if nxt is not None and nxt in state.seen:
                    converted[stage] = converted.get(stage, 0) + 1
        labels = {}
        if self.opt.policy is not None:
            labels = {s.id: s.label.get("en") for s in self.opt.policy.stages}
        out = []
        for stage in self.stage_order:
            durations = self.durations.get(stage, [])
            entered = self.entered.get(stage, 0)
            nxt = self._next_stage(stage)
            limit = self.max_days.get(stage)
            out.append({
                "stage": stage, "label": labels.get(stage, stage),
                "outcome": self.outcomes.get(stage), "entered": entered,
                "next": nxt, "converted": converted.get(stage, 0) if nxt else None,
                "conversion": _ratio(converted.get(stage, 0), entered) if nxt else None,
                "lost_from": self.lost_from.get(stage, 0),
                "exits_timed": len(durations),
                "median_days": _r(median(durations)),
                "p90_days": _r(percentile(durations, 90)),
                "box": _box(durations), "histogram": _histogram(durations),
                "max_days": limit,
                "over_max_days": None if limit is None else
                self.over_done.get(stage, 0) + open_over.get(stage, 0),
                "over_max_days_closed": None if limit is None else self.over_done.get(stage, 0),
                "over_max_days_open": None if limit is None else open_over.get(stage, 0),
            })
        return out

    def _rules(self) -> list[dict[str, Any]]:
        out = []
        for rule, (evaluated, fired, blocked, approval, kind) in sorted(
                self.rules.items(), key=lambda kv: (-kv[1][1], kv[0])):
            out.append({"rule": rule, "kind": kind, "effect": self.effects.get(rule),
                        "evaluated": evaluated, "fired": fired,
                        "fire_rate": _ratio(fired, evaluated), "blocked": blocked,
                        "led_to_approval": approval})
        return out

    def _never_fired(self) -> list[dict[str, Any]] | None:
        if self.opt.policy is None:
            return None
        out = []
        for rule in self.opt.policy.rule_ids():
            stats = self.rules.get(rule)
            if stats is None or stats[1] == 0:
                out.append({"rule": rule, "effect": self.effects.get(rule),
                            "evaluated": 0 if stats is None else stats[0]})
        return out

    def _gates(self) -> list[dict[str, Any]]:
        names = list(self.gates)
        if self.opt.policy is not None:
            names = list(dict.fromkeys([g.id for g in self.opt.policy.gates] + names))
        out = []
        for gate in names:
            requests, grants, refusals, times, pending = self.gates.get(gate, [0, 0, 0, [], 0])
            out.append({"gate": gate, "requests": requests, "grants": grants,
                        "refusals": refusals, "pending": pending,
                        "grant_rate": _ratio(grants, grants + refusals),
                        "median_days_to_decision": _r(median(times)),
                        "p90_days_to_decision": _r(percentile(times, 90))})
        return out

    def _owners(self) -> list[dict[str, Any]]:
        rows: dict[str, dict[str, int]] = {}
        for state in self.deals.values():
            if not state.in_period:
                continue
            owner = state.owner or UNKNOWN_OWNER
            row = rows.setdefault(owner, {"deals": 0, "won": 0, "lost": 0, "open": 0,
                                          "blocked_decisions": 0, "deals_with_violations": 0,
                                          "checks_with_violations": 0})
            row["deals"] += 1
            # where the deal went, or (a log of checks only) where the last check found it
            now_in = self.outcomes.get(state.stage) if state.stage is not None else None
            won = any(self.outcomes.get(s) == "won" for s in state.seen_in) or now_in == "won"
            lost = any(self.outcomes.get(s) == "lost" for s in state.seen_in) or now_in == "lost"
            row["won"] += won
            row["lost"] += lost and not won
            row["open"] += state.outcome is None and not (won or lost)
            row["blocked_decisions"] += state.blocked
            row["checks_with_violations"] += state.checked_bad
            row["deals_with_violations"] += bool(state.blocked or state.checked_bad)
        return [{"owner": owner, **row, "conversion": _ratio(row["won"], row["won"] + row["lost"])}
                for owner, row in sorted(rows.items())]

    def _weeks(self) -> list[dict[str, Any]]:
        keys = ("created", "won", "lost", "requested", "allowed", "blocked", "needs_approval",
                "not_permitted", "rule_fired", "checked", "checked_violation",
                "approval_requests", "approval_grants", "approval_refusals")
        out = []
        for week in sorted(self.weeks):
            row = self.weeks[week]
            item: dict[str, Any] = {"week": week}
            item.update({k: row.get(k, 0) for k in keys})
            decided = row.get("allowed", 0) + row.get("blocked", 0) + row.get(
                "needs_approval", 0)
            item["blocked_rate"] = _ratio(row.get("blocked", 0), decided)
            item["win_rate"] = _ratio(row.get("won", 0), row.get("won", 0) + row.get("lost", 0))
            for stage in self.stage_order:
                item[f"entered:{stage}"] = row.get(f"entered:{stage}", 0)
            out.append(item)
        return out

    def _week_rules(self) -> list[dict[str, Any]]:
        return [{"week": w, "rule": r, "fired": n} for (w, r), n in sorted(self.week_rules.items())]


def _box(values: Sequence[float]) -> dict[str, float] | None:
    if not values:
        return None
    ordered = sorted(values)
    return {"min": round(ordered[0], 2), "q1": round(percentile(ordered, 25) or 0, 2),
            "median": round(median(ordered) or 0, 2), "q3": round(percentile(ordered, 75) or 0, 2),
            "p90": round(percentile(ordered, 90) or 0, 2), "max": round(ordered[-1], 2)}


def _histogram(values: Sequence[float]) -> dict[str, Any] | None:
    if not values:
        return None
    top = percentile(values, 99) or 0.0
    width = max(1, math.ceil(top / 24)) if top > 0 else 1
    bins = [0] * (max(1, math.ceil(top / width)) + 1)
    for v in values:
        bins[max(0, min(len(bins) - 1, int(v // width)))] += 1
    return {"width_days": width, "counts": bins}


def build_report(log: LogSpec, options: ReportOptions, *, each: bool = False
                 ) -> dict[str, Any]:
    """One streaming pass over ``log`` (or over the files of a rotated log, oldest first;
    with ``each``, over several logs of their own in the order given) → the report dict."""
    from cycleflow.audit.segments import in_chain_order
    from cycleflow.audit.verify import jsonl_files

    collector = Collector(options)
    if each and not isinstance(log, (str, os.PathLike)):  # logs of their own, any kind
        specs = [os.fspath(one) for one in log]
        for spec in specs:
            collector.feed(iter_event_lines(spec),
                           source=os.path.basename(spec) if len(specs) > 1 else None)
        return collector.result()
    try:
        several = jsonl_files(log)
    except AuditError as err:
        raise UsageError(str(err)) from None
    if several is None:
        one = log if isinstance(log, (str, os.PathLike)) else next(iter(log))
        collector.feed(iter_event_lines(os.fspath(one)))
        return collector.result()
    for path in several:
        if not os.path.isfile(path):
            raise UsageError(f"audit log {path} does not exist or is not a file")
    try:
        ordered = in_chain_order(several)
    except AuditError as err:
        raise UsageError(str(err)) from None
    for path in ordered:
        collector.feed(iter_event_lines(path), source=os.path.basename(path))
    return collector.result()


# --------------------------------------------------------------------------- CSV


def _cell(value: Any) -> Any:
    """A CSV cell a spreadsheet shows as text: text starting with = + - @ (or a tab or CR)
    would run as a formula in Excel or Sheets, so it gets a leading apostrophe (OWASP)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def write_csv(report: Mapping[str, Any], directory: str) -> list[str]:
    """One CSV per table (stages, rules, never_fired, gates, owners, weeks, week_rules)."""
    os.makedirs(directory, exist_ok=True)
    written = []
    for table in ("stages", "rules", "never_fired", "gates", "owners", "weeks", "week_rules"):
        rows = report.get(table) or []
        path = os.path.join(directory, f"{table}.csv")
        flat = [{k: _cell(v) for k, v in row.items() if not isinstance(v, (dict, list))}
                for row in rows]
        columns = list(dict.fromkeys(k for row in flat for k in row))
        with open(path, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=columns)
            writer.writeheader()
            writer.writerows(flat)
        written.append(path)
    return written


__all__ = ["Collector", "ReportOptions", "build_report", "iter_event_lines", "median",
           "parse_bound", "percentile", "read_owners", "write_csv"]
