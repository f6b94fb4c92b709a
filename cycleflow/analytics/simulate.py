"""A reproducible sales history: deals driven through the real engine, written as deals + audit log.

Everything random comes from one ``random.Random(seed)`` and every time from the
simulated calendar, so the same seed, policy and options give byte-identical
files. The simulator plays the CRM: it creates deals, does the process steps,
asks the engine for each move (``Engine.apply``), routes approval requests to a
generated team and records what the team decides. Engine events go through a
real :class:`~cycleflow.audit.JsonlSink`, so ``cycleflow audit verify`` accepts
the log; the CRM's own events (``deal.created``, ``approval.requested``,
``approval.granted``, ``approval.refused``) are chained in the same log.
"""

from __future__ import annotations

import hashlib
import heapq
import importlib
import math
import os
import random
import re
import uuid
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from types import MappingProxyType
from typing import Any

import orjson

from cycleflow.audit import JsonlSink
from cycleflow.decide.approvals import bound_values, named_approvers, who
from cycleflow.decide.decision import MISSING, Decision
from cycleflow.decide.engine import Engine
from cycleflow.errors import TransitionBlocked, UsageError
from cycleflow.model.policy import Gate, Policy, Stage, Transition
from cycleflow.validate.deal_schema import resolve_ref

DAY = 86400.0
DEFAULT_START = datetime(2026, 1, 5, tzinfo=timezone.utc)
CLOSE_DAYS = (45, 150)  # a new deal's expected close date: this many days after it is created

_FIRST = ("ann", "ben", "chloe", "dana", "eli", "fang", "gus", "hana", "ivo", "jia", "kofi",
          "lena", "mateo", "nora", "omar", "priya", "quinn", "rui", "sofia", "tariq", "uma",
          "wei", "xena", "yuki", "zoe")
_LEADS = ("grace", "hugo", "ivan", "jun", "karin", "liu", "mona", "nils")
_CUSTOMERS = ("Northwind", "Contoso", "Fabrikam", "Tailspin", "Lucerne", "Litware", "Adatum",
              "Proseware", "Wingtip", "Alpine Ski", "Coho", "Fourth Coffee", "Margie's Travel",
              "Trey Research", "Woodgrove", "Blue Yonder", "杭州云栖", "北京智航", "上海青禾",
              "深圳海岳")
_SUFFIX = ("Traders", "Logistics", "Health", "Energy", "Bank", "Retail", "Labs", "Foods",
           "Airlines", "Publishing", "Systems", "Group")
_INDUSTRIES = ("logistics", "healthcare", "energy", "banking", "retail", "software",
               "manufacturing", "aviation", "publishing", "food")
_COUNTRIES = ("US", "DE", "FR", "GB", "CN", "JP", "IE", "CH", "NL", "BR", "IN", "SG")
_SOURCES = ("inbound", "outbound", "referral", "partner", "trade_show", "existing_customer")
_PRODUCTS = ("cycleflow Cloud", "cycleflow Enterprise", "cycleflow Team")
_CONTACTS = ("Maria Lopez", "Sean Murphy", "Lea Müller", "Kenji Sato", "Amara Okafor",
             "赵敏", "王磊", "Priya Nair", "Tom Becker", "Inès Martin")
_LOST_REASONS = ("chose a competitor on price", "no budget this year", "project cancelled",
                 "went with the incumbent", "no decision made", "timing: revisit next year",
                 "requirements not met")
_ROLES = ("sales_director", "finance_director", "ceo")


@dataclass(frozen=True)
class SimOptions:
    """What to simulate: how many deals, over how many days, from which seed and start time."""

    deals: int = 500
    days: int = 365
    seed: int = 1
    start: datetime = DEFAULT_START
    weekly_checks: bool = True


@dataclass(frozen=True)
class SimSummary:
    """What a simulation produced."""

    deals: int
    won: int
    lost: int
    open: int
    events: int
    deals_path: str
    audit_path: str
    team: tuple[Mapping[str, Any], ...]
    warnings: tuple[str, ...] = ()
    """Fields the simulator could not fill validly (:func:`fill_warnings`)."""


@dataclass
class _Deal:
    """One simulated deal: its record (the engine's state) and what the CRM still knows."""

    record: dict[str, Any]
    owner: dict[str, Any]
    hidden: dict[str, Any]
    loses_in: str | None = None
    tries: int = 0
    pending: dict[str, int] = field(default_factory=dict)
    asked: set[str] = field(default_factory=set)
    closed: bool = False


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _set(record: MutableMapping[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node: MutableMapping[str, Any] = record
    for part in parts[:-1]:
        nxt = node.get(part)
        if not isinstance(nxt, MutableMapping):
            nxt = {}
            node[part] = nxt
        node = nxt
    node[parts[-1]] = value


def _get(record: Mapping[str, Any], dotted: str) -> Any:
    node: Any = record
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


class _Skip:
    """The marker for "no valid value": the field is left out rather than set wrongly."""

    __slots__ = ()


_SKIP = _Skip()
#: Strings tried, after the schema's own examples, for a field with a ``pattern``.
_PROBES = ("A", "AB", "ABC", "US", "CN", "a", "ab", "abc", "x1", "A1", "AB-123", "ABC-123",
           "0", "1", "12", "123", "1234", "12345", "123456", "2026-01-05", "ok", "yes")
_MAX_DEPTH = 8
#: A schema no value satisfies: the place of a key that ``additionalProperties: false`` forbids.
_NOTHING: Mapping[str, Any] = MappingProxyType({"not": {}})
#: Deal keys the simulator owns: the engine's state and the owner's id, never replaced.
_RESERVED = frozenset({"id", "stage", "stage_entered_at", "owner", "steps", "approvals"})


def _matches(pattern: str, key: str) -> bool:
    """Whether a ``patternProperties`` pattern matches ``key`` (False if Python cannot
    read the pattern)."""
    try:
        return re.search(pattern, key) is not None
    except re.error:
        return False


def _parts(node: Any, root: Mapping[str, Any], depth: int = 0) -> list[Mapping[str, Any]]:
    """A subschema and the ``allOf`` branches it applies in place, references followed."""
    found = resolve_ref(node, root)
    out = [found]
    if depth < _MAX_DEPTH:
        for sub in found.get("allOf", ()) or ():
            out.extend(_parts(sub, root, depth + 1))
    return out


def _type_names(parts: list[Mapping[str, Any]]) -> list[str]:
    """The JSON types the schema parts allow, in a stable order (guessed from keywords if
    the schema names none)."""
    named: list[str] = []
    for part in parts:
        t = part.get("type")
        for name in ([t] if isinstance(t, str) else t if isinstance(t, list) else []):
            if name not in named:
                named.append(str(name))
    if named:
        return named
    keys = {k for part in parts for k in part}
    if keys & {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"}:
        return ["number"]
    if keys & {"minLength", "maxLength", "pattern", "format"}:
        return ["string"]
    if keys & {"properties", "required"}:
        return ["object"]
    return []


#: Python's regular-expression parser (``re._parser``; typeshed has no stub for it).
re_parser: Any = importlib.import_module("re._parser")


def _from_pattern(pattern: str, rng: random.Random) -> str | None:
    """A string that the regular expression ``pattern`` matches, drawn from ``rng``, or None
    for what this small generator does not handle (look-arounds, back-references, negated
    classes): a field with a ``pattern`` and no ``examples`` still gets a valid value."""
    try:
        parsed = re_parser.parse(pattern)
    except (re.error, RecursionError, OverflowError):
        return None
    out: list[str] = []
    try:
        _emit(list(parsed), rng, out, 0)
    except _NoSample:
        return None
    text = "".join(out)
    return text if re.search(pattern, text) else None


class _NoSample(Exception):
    """A regular expression the pattern generator cannot draw from."""


_CLASSES = {"CATEGORY_DIGIT": "0123456789", "CATEGORY_WORD": "abcdefghijkmnpqrstuvwxyz",
            "CATEGORY_SPACE": " "}


def _emit(items: list[Any], rng: random.Random, out: list[str], depth: int) -> None:
    """Append a string matching the parsed items ``items`` to ``out``."""
    if depth > 20 or len(out) > 1000:
        raise _NoSample
    for op, arg in items:
        name = str(op)
        if name == "LITERAL":
            out.append(chr(arg))
        elif name == "ANY":
            out.append("x")
        elif name == "IN":
            out.append(_pick(arg, rng))
        elif name == "AT":
            continue
        elif name == "SUBPATTERN":
            _emit(list(arg[-1]), rng, out, depth + 1)
        elif name == "BRANCH":
            _emit(list(rng.choice(arg[1])), rng, out, depth + 1)
        elif name in ("MAX_REPEAT", "POSSESSIVE_REPEAT", "MIN_REPEAT"):
            low, high, sub = arg
            top = low + 3 if high is re_parser.MAXREPEAT else high
            for _ in range(rng.randint(max(low, min(1, top)), max(low, min(top, low + 3)))):
                _emit(list(sub), rng, out, depth + 1)
        else:  # look-arounds, back-references, NOT_LITERAL, conditionals
            raise _NoSample


def _pick(items: list[Any], rng: random.Random) -> str:
    """One character of a character class ``[...]``."""
    options: list[str] = []
    for op, arg in items:
        name = str(op)
        if name == "NEGATE":
            raise _NoSample
        if name == "LITERAL":
            options.append(chr(arg))
        elif name == "RANGE":
            options.extend(chr(c) for c in range(arg[0], min(arg[1], arg[0] + 25) + 1))
        elif name == "CATEGORY" and str(arg) in _CLASSES:
            options.extend(_CLASSES[str(arg)])
        else:
            raise _NoSample
    if not options:
        raise _NoSample
    return rng.choice(options)


class _Fields:
    """The deal schema's view of a field: is a value valid there, and which valid value to
    put there instead, so that a simulated deal never breaks the policy's deal schema."""

    def __init__(self, schema: Mapping[str, Any] | None, rng: random.Random) -> None:
        self.root: Mapping[str, Any] = schema or {}
        self.rng = rng
        self.validator: Any = None
        if schema is not None:
            from jsonschema import Draft202012Validator

            self.validator = Draft202012Validator(
                schema, format_checker=Draft202012Validator.FORMAT_CHECKER)

    def schemas(self, dotted: str) -> list[Mapping[str, Any]]:
        """Every subschema that applies to the field ``dotted`` (none: anything goes)."""
        if self.validator is None:
            return []
        current: list[Mapping[str, Any]] = _parts(self.root, self.root)
        for part in dotted.split("."):
            found: list[Mapping[str, Any]] = []
            for node in current:
                props = node.get("properties")
                if isinstance(props, Mapping) and part in props:
                    found.extend(_parts(props[part], self.root))
                    continue
                patterns = node.get("patternProperties")
                matched = [sub for pattern, sub in (
                    patterns.items() if isinstance(patterns, Mapping) else ())
                    if _matches(str(pattern), part)]
                if matched:
                    found.extend(p for sub in matched for p in _parts(sub, self.root))
                    continue
                extra = node.get("additionalProperties", node.get("unevaluatedProperties"))
                if extra is False:
                    found.append(_NOTHING)      # the schema admits no such key
                elif isinstance(extra, Mapping):
                    found.extend(_parts(extra, self.root))
            current = found
        return current

    def required(self) -> list[str]:
        """The top-level fields the schema requires."""
        return [str(k) for part in _parts(self.root, self.root)
                for k in part.get("required", ()) or ()]

    def valid(self, schemas: list[Mapping[str, Any]], value: Any) -> bool:
        """Whether ``value`` satisfies every one of ``schemas``."""
        return all(self.validator.evolve(schema=s).is_valid(value) for s in schemas)

    def conform(self, dotted: str, value: Any, moment: datetime) -> Any:
        """``value`` when the schema accepts it at ``dotted``, else a valid value near it,
        else ``_SKIP``."""
        schemas = self.schemas(dotted)
        if not schemas or self.valid(schemas, value):
            return value
        if isinstance(value, Mapping):
            repaired: dict[str, Any] = {}
            for key, sub in value.items():
                fixed = self.conform(f"{dotted}.{key}", sub, moment)
                if fixed is not _SKIP:
                    repaired[key] = fixed
            value = repaired
        return self.make(dotted, moment, value, near=True)

    def make(self, dotted: str, moment: datetime, prefer: Any = _SKIP, *,
             near: bool = False) -> Any:
        """A value the schema accepts at ``dotted`` (``prefer`` if it does, else with ``near``
        a number moved inside the bounds), else ``_SKIP``."""
        schemas = self.schemas(dotted)
        if not schemas or (prefer is not _SKIP and self.valid(schemas, prefer)):
            return prefer
        leaf = dotted.rsplit(".", 1)[-1]
        for candidate in self._candidates(schemas, leaf, moment, prefer, 0, near):
            if candidate is not _SKIP and self.valid(schemas, candidate):
                return candidate
        return _SKIP

    def _candidates(self, parts: list[Mapping[str, Any]], leaf: str, moment: datetime,
                    prefer: Any, depth: int, near: bool = False) -> list[Any]:
        """Values to try, best first: the preferred one, the schema's own, then generated."""
        out: list[Any] = [prefer]
        if near and isinstance(prefer, (int, float)) and not isinstance(prefer, bool):
            out.append(self._clamp(parts, prefer, isinstance(prefer, int)))
        for part in parts:
            if "const" in part:
                out.append(part["const"])
            enum = part.get("enum")
            if isinstance(enum, list) and enum:
                first = self.rng.randrange(len(enum))
                out.extend(enum[first:] + enum[:first])
            for key in ("examples", "default"):
                given = part.get(key)
                out.extend(given if key == "examples" and isinstance(given, list) else
                           [given] if key == "default" and given is not None else [])
        if depth < _MAX_DEPTH:
            for part in parts:
                for key in ("anyOf", "oneOf"):
                    for branch in part.get(key, ()) or ():
                        out.extend(self._candidates(_parts(branch, self.root), leaf, moment,
                                                    _SKIP, depth + 1)[1:])
        names = _type_names(parts)
        for name in names or ["string"]:
            out.extend(self._typed(name, parts, leaf, moment, depth, prefer))
        return out

    def _clamp(self, parts: list[Mapping[str, Any]], value: float, integer: bool) -> float:
        """``value`` moved inside the schema's bounds (an exclusive bound nudged inwards)."""
        low: float | None = None
        high: float | None = None
        for part in parts:
            for key, lower in (("minimum", True), ("exclusiveMinimum", True),
                               ("maximum", False), ("exclusiveMaximum", False)):
                given = part.get(key)
                if not isinstance(given, (int, float)) or isinstance(given, bool):
                    continue
                bound: float = given
                if key.startswith("exclusive"):
                    step = 1 if integer else max(abs(bound) * 1e-6, 1e-3)
                    bound = (math.floor(bound) + 1 if lower else math.ceil(bound) - 1
                             ) if integer else bound + step if lower else bound - step
                elif integer:
                    bound = math.ceil(bound) if lower else math.floor(bound)
                if lower:
                    low = bound if low is None else max(low, bound)
                else:
                    high = bound if high is None else min(high, bound)
        if low is not None and value < low:
            value = low
        if high is not None and value > high:
            value = high
        for part in parts:
            multiple = part.get("multipleOf")
            if (isinstance(multiple, (int, float)) and not isinstance(multiple, bool)
                    and multiple > 0 and math.isfinite(value)):
                value = math.ceil(value / multiple) * multiple
                if high is not None and value > high:
                    value -= multiple
        return int(value) if integer and float(value).is_integer() else value

    def _typed(self, name: str, parts: list[Mapping[str, Any]], leaf: str, moment: datetime,
               depth: int, prefer: Any = _SKIP) -> list[Any]:
        """Generated values of one JSON type that respect the schema's simple keywords."""
        rng = self.rng
        if name == "boolean":
            return [True, False]
        if name == "null":
            return [None]
        if name in ("integer", "number"):
            integer = name == "integer"
            low, high = self._clamp(parts, -math.inf, integer), self._clamp(parts, math.inf,
                                                                             integer)
            if math.isfinite(low) and math.isfinite(high) and low <= high:
                guess: float = (rng.randint(int(low), int(high)) if integer
                                else round(rng.uniform(low, high), 2))
            else:
                guess = (rng.randint(5, 30) if leaf.endswith(("_pct", "percent", "_rate"))
                         else rng.randint(10, 500) * 1000)
            return [self._clamp(parts, guess, integer), self._clamp(parts, 0, integer),
                    self._clamp(parts, 1, integer)]
        if name == "string":
            return self._strings(parts, leaf, moment)
        if name == "array":
            least = max([int(p.get("minItems", 0)) for p in parts] or [0])
            items = [p["items"] for p in parts if isinstance(p.get("items"), Mapping)]
            if not least:
                return [[]]
            if not items or depth >= _MAX_DEPTH:
                return []
            one = [c for c in self._candidates(_parts(items[0], self.root), leaf, moment,
                                               _SKIP, depth + 1) if c is not _SKIP]
            return [[one[0]] * least] if one else []
        if name == "object":
            made: dict[str, Any] = dict(prefer) if isinstance(prefer, Mapping) else {}
            for part in parts:
                given = part.get("properties")
                props: Mapping[str, Any] = given if isinstance(given, Mapping) else {}
                for key in part.get("required", ()) or ():
                    if key in made or depth >= _MAX_DEPTH:
                        continue
                    sub = _parts(props.get(key, {}), self.root)
                    value = next((c for c in self._candidates(sub, key, moment, _SKIP, depth + 1)
                                  if c is not _SKIP and self.valid(sub, c)), _SKIP)
                    if value is _SKIP:
                        return []
                    made[key] = value
            return [made]
        return []

    def _strings(self, parts: list[Mapping[str, Any]], leaf: str, moment: datetime) -> list[Any]:
        """Strings of the right format and length; for a pattern, a few probes that may match."""
        formats = {str(p["format"]) for p in parts if "format" in p}
        for name in sorted(formats):
            made = self._formatted(name, leaf, moment)
            if made is not None:
                return [made]
        named: list[Any] = ([_iso(moment)] if leaf.endswith("_at") else
                            [moment.date().isoformat()] if leaf.endswith("date") else [])
        least = max([int(p.get("minLength", 0)) for p in parts] or [0])
        most = min([int(p["maxLength"]) for p in parts if "maxLength" in p] or [10_000])
        text = f"{leaf.replace('_', ' ')} {self.rng.randint(100, 999)}"
        text = (text + "x" * least)[:max(least, len(text))][:most]
        patterns = [str(p["pattern"]) for p in parts if "pattern" in p]
        if patterns:
            drawn = [_from_pattern(pattern, self.rng) for pattern in patterns]
            return [*named, text, *[d for d in drawn if d is not None], *_PROBES]
        return [*named, text]

    def _formatted(self, name: str, leaf: str, moment: datetime) -> str | None:
        """A value of a common string ``format``, drawn from the simulation's generator
        (so a seed still gives the same files); None for a format not known here."""
        rng = self.rng
        host = re.sub(r"[^a-z0-9-]+", "-", leaf.lower()).strip("-") or "host"
        if name == "date":
            return moment.date().isoformat()
        if name == "date-time":
            return _iso(moment)
        if name == "time":
            return moment.strftime("%H:%M:%S") + "Z"
        if name in ("email", "idn-email"):
            return f"{host.replace('-', '.')}@example.com"
        if name == "uuid":
            return str(uuid.UUID(int=rng.getrandbits(128), version=4))
        if name == "ipv4":
            return f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
        if name == "ipv6":
            return f"2001:db8::{rng.randint(1, 0xFFFF):x}:{rng.randint(1, 0xFFFF):x}"
        if name in ("hostname", "idn-hostname"):
            return f"{host}-{rng.randint(100, 999)}.example.com"
        if name in ("uri", "iri", "uri-reference", "iri-reference", "url"):
            return f"https://example.com/{host}/{rng.randint(100, 999)}"
        return None


class _Ids:
    """Audit processor: replaces the engine's random decision ids with ids derived from the seed."""

    def __init__(self, seed: int) -> None:
        self.seed, self.count = seed, 0
        self.last: Any = object()
        self.current = ""

    def __call__(self, logger: Any, method: str, event: MutableMapping[str, Any]) -> Any:
        did = event.get("decision_id")
        if did != self.last:
            self.last = did
            self.count += 1
            self.current = hashlib.sha256(
                f"cycleflow-simulate:{self.seed}:{self.count}".encode()).hexdigest()[:32]
        event["decision_id"] = self.current
        return event


class Simulator:
    """Drives deals through one policy's engine on a simulated calendar."""

    def __init__(self, policy: Policy, options: SimOptions, sink: Any) -> None:
        self.policy = policy
        self.opt = options
        self.rng = random.Random(options.seed)
        self.sink = sink
        self.now = datetime.fromtimestamp(0, timezone.utc)  # the decision being simulated
        # events are recorded at simulated time: a seed gives byte-identical logs
        self.engine = Engine(policy, audit=sink, clock=lambda: self.now)
        self.fields = _Fields(policy.deal_schema, self.rng)
        self.end = options.days * DAY
        self.queue: list[tuple[float, int, int, str, str]] = []
        self.counter = 0
        self.deals: list[_Deal] = []
        self.events = 0
        self._path()
        self._team()

    # ------------------------------------------------------------ the policy's shape

    def _path(self) -> None:
        """The forward path (initial → … → won) and the way to lost from each stage."""
        stages = sorted(self.policy.stages, key=lambda s: s.index)
        self.lost: Stage | None = next((s for s in stages if s.outcome == "lost"), None)
        path: list[Stage] = [self.policy.initial_stage]
        self.forward: dict[str, Transition] = {}
        while not path[-1].final:
            here = path[-1]
            options = [(self.policy.stage(t.target), t) for t in self.policy.transitions
                       if (here.id in t.sources or "*" in t.sources)
                       and self.policy.stage(t.target).index > here.index
                       and self.policy.stage(t.target).outcome != "lost"]
            if not options:
                break
            target, transition = min(options, key=lambda o: o[0].index)
            self.forward[here.id] = transition
            path.append(target)
        self.path = path
        self.lose: dict[str, Transition] = {}
        if self.lost is not None:
            for t in self.policy.transitions:
                if t.target == self.lost.id:
                    for s in t.sources:
                        self.lose.setdefault(s, t)
                    if "*" in t.sources:
                        for st in stages:
                            if not st.final:
                                self.lose.setdefault(st.id, t)

    def _team(self) -> None:
        reps = max(4, min(len(_FIRST), self.opt.deals // 60 + 3))
        self.reps: list[dict[str, Any]] = [{"id": _FIRST[i], "roles": ["sales_rep"]}
                                           for i in range(reps)]
        roles = list(dict.fromkeys([*_ROLES, *(r for g in self.policy.gates for r in g.roles)]))
        leads: list[dict[str, Any]] = []
        names = iter(_LEADS + tuple(f"approver{i}" for i in range(100)))
        for role in roles:
            for _ in range(2 if role == "sales_director" else 1):
                leads.append({"id": next(names), "roles": [role]})
        self.leads = leads

    # ------------------------------------------------------------ scheduling

    def at(self, seconds: float) -> datetime:
        """The calendar time ``seconds`` after the start."""
        return self.opt.start + timedelta(seconds=round(seconds / 60) * 60)

    def schedule(self, when: float, deal: int, action: str, arg: str = "") -> None:
        """Queue an action for a deal (ties keep the order they were queued in)."""
        self.counter += 1
        heapq.heappush(self.queue, (round(when / 60) * 60.0, self.counter, deal, action, arg))

    def days(self, mean: float) -> float:
        """A positive delay in seconds, log-normally spread around ``mean`` days."""
        sigma = 0.6
        return max(0.05, self.rng.lognormvariate(math.log(mean) - sigma * sigma / 2, sigma)) * DAY

    def run(self) -> None:
        """Create the deals, then play every queued action in time order until the end."""
        starts = sorted(self.rng.uniform(0, self.end * 0.97) for _ in range(self.opt.deals))
        for n, t in enumerate(starts):
            self.schedule(t, n, "create")
        if self.opt.weekly_checks:
            t = 7 * DAY
            while t < self.end:
                self.schedule(t, -1, "check")
                t += 7 * DAY
        while self.queue:
            when, _, n, action, arg = heapq.heappop(self.queue)
            if when >= self.end:
                break
            if action == "create":
                self.create(n, when)
                continue
            if action == "check":
                self.check_all(when)
                continue
            deal = self.deals[n]
            if deal.closed and action != "after":
                continue
            getattr(self, f"do_{action}")(n, deal, when, arg)

    def emit(self, name: str, when: float, deal: _Deal, actor: str | None, *,
             rule: str | None = None, outcome: str | None = None, to: str | None = None,
             values: Mapping[str, Any] | None = None, message: str | None = None) -> None:
        """Record one CRM event in the chained log, shaped like the engine's events."""
        self.counter += 1
        self.sink.emit([{
            "event": name, "at": _iso(self.at(when)), "decision_id": f"crm-{self.counter}",
            "deal": deal.record["id"], "policy": self.policy.id,
            "policy_version": self.policy.version, "policy_sha256": self.policy.sha256,
            "rule": rule, "kind": "approval" if name.startswith("approval.") else None,
            "outcome": outcome, "severity": None, "actor": actor, "trigger": None,
            "from": deal.record.get("stage"), "to": to, "values": dict(values or {}),
            "message": message}])

    # ------------------------------------------------------------ the deal's life

    def create(self, n: int, when: float) -> None:
        """A new deal in the initial stage, with the facts the rep will learn later."""
        rng = self.rng
        owner = rng.choice(self.reps)
        size = rng.choice((1, 1, 1, 2, 2, 3, 5))
        budget = int(round(rng.lognormvariate(math.log(60000 * size), 0.7), -3)) + 5000
        discount = max(0, round(rng.gauss(14, 10)))
        amount = int(round(budget * rng.uniform(0.7, 1.05) * (1 - discount / 100), -2))
        created = self.at(when)
        record: dict[str, Any] = {
            "id": f"SIM-{n + 1:06d}", "stage": self.policy.initial_stage.id,
            "stage_entered_at": _iso(created), "owner": owner["id"],
            "created_at": _iso(created),
            "customer": {"name": f"{rng.choice(_CUSTOMERS)} {rng.choice(_SUFFIX)}",
                         "industry": rng.choice(_INDUSTRIES), "country": rng.choice(_COUNTRIES),
                         "screening": "pending", "contact_name": rng.choice(_CONTACTS)},
            "currency": rng.choice(("EUR", "USD", "CNY")), "source": rng.choice(_SOURCES),
            "product": rng.choice(_PRODUCTS), "steps": [],
        }
        close = created + timedelta(days=rng.randint(*CLOSE_DAYS))
        hidden = {
            "budget": budget, "decision_maker": rng.choice(_CONTACTS), "amount": amount,
            "close_date": close.date().isoformat(), "discount_pct": discount,
            "margin_pct": round(rng.uniform(8, 45), 1), "customer.screening":
                "flagged" if rng.random() < 0.015 else "cleared",
            "contract_signed": True, "payment_terms_days": rng.choice((30, 45, 60)),
        }
        self._conform_new(record, hidden, created)
        deal = _Deal(record, owner, hidden)
        self.deals.append(deal)
        self.emit("deal.created", when, deal, owner["id"], outcome="created",
                  to=record["stage"], values={"owner": owner["id"], **(
                      {"source": record["source"]} if "source" in record else {})})
        self.enter(n, deal, when)

    def _conform_new(self, record: dict[str, Any], hidden: dict[str, Any],
                     created: datetime) -> None:
        """Make a new deal's fields, and the facts the rep will fill in later, fit the deal
        schema: a value it refuses is replaced or dropped, a field it requires is added."""
        fields = self.fields
        if fields.validator is None:
            return
        for key in [k for k in record if k not in _RESERVED]:
            value = fields.conform(key, record[key], created)
            if value is _SKIP:
                del record[key]
            else:
                record[key] = value
        for key in fields.required():
            if key not in record and key not in _RESERVED:
                made = fields.make(key, created)
                if made is not _SKIP:
                    record[key] = made
        for key in list(hidden):
            value = fields.conform(key, hidden[key], created)
            if value is _SKIP:
                del hidden[key]
            else:
                hidden[key] = value

    def _put(self, record: MutableMapping[str, Any], dotted: str, value: Any,
             when: float) -> bool:
        """Set a field as a CRM that validates its input would: a value the deal schema
        refuses is replaced by one it accepts, or the field is left alone (False)."""
        moment = self.at(when)
        value = self.fields.conform(dotted, value, moment)
        if value is _SKIP:
            return False
        parts = dotted.split(".")
        node: MutableMapping[str, Any] = record
        for i, part in enumerate(parts[:-1]):
            nxt = node.get(part)
            if not isinstance(nxt, MutableMapping):
                nxt = self.fields.make(".".join(parts[:i + 1]), moment, {})
                if not isinstance(nxt, MutableMapping):
                    return False
                node[part] = nxt
            node = nxt
        node[parts[-1]] = value
        return True

    def _reveal_groups(self, position: int) -> tuple[str, ...]:
        """The facts a rep fills in before the move to the ``position``-th stage of the path."""
        groups = (("budget", "decision_maker"),
                  ("amount", "close_date", "discount_pct", "margin_pct", "customer.screening",
                   "payment_terms_days"),
                  ("contract_signed",))
        moves = max(1, len(self.path) - 1)
        upto = min(3, math.ceil(position * 3 / moves))
        return tuple(f for g in groups[:upto] for f in g)

    def enter(self, n: int, deal: _Deal, when: float) -> None:
        """Plan the work of the stage the deal just entered: steps, then a move or a loss."""
        stage = self.policy.stage(deal.record["stage"])
        deal.tries = 0
        deal.asked.clear()
        if stage.final:
            deal.closed = True
            t = when
            for step in stage.steps:
                t += self.days(12)
                self.schedule(t, n, "after", step.id)
            return
        position = next(i for i, s in enumerate(self.path) if s.id == stage.id)
        lose_p = (0.30, 0.24, 0.20, 0.15)[min(position, 3)]
        if stage.id not in self.forward or self.rng.random() < lose_p:
            deal.loses_in = stage.id
        t = when
        skipped = None
        steps = list(stage.steps)
        if steps and self.rng.random() < 0.07:
            skipped = self.rng.choice(steps).id
        for step in steps:
            t += self.days(4 + 2 * position)
            if step.id != skipped:
                self.schedule(t, n, "step", step.id)
            if deal.loses_in and self.rng.random() < 0.4:
                break
        if self.rng.random() < 0.08:
            t += self.days(45)          # the deal stalls
        t += self.days(2)
        self.schedule(t, n, "lose" if deal.loses_in else "advance")

    def do_step(self, n: int, deal: _Deal, when: float, step: str) -> None:
        """A process step is done."""
        steps = deal.record.setdefault("steps", [])
        if step not in steps:
            steps.append(step)

    def do_after(self, n: int, deal: _Deal, when: float, step: str) -> None:
        """A step of a final stage (order execution, after-sales) is done."""
        self.do_step(n, deal, when, step)

    def do_advance(self, n: int, deal: _Deal, when: float, _: str) -> None:
        """The owner asks the engine to move the deal forward."""
        stage = deal.record["stage"]
        transition = self.forward[stage]
        position = next(i for i, s in enumerate(self.path) if s.id == transition.target)
        if deal.tries == 0:
            for name in self._reveal_groups(position):
                if self.rng.random() < 0.06 and name != "customer.screening":
                    continue                    # forgotten: the engine will say so
                if name == "customer.screening" and self.rng.random() < 0.08:
                    continue                    # screening still pending
                if name in deal.hidden:
                    self._put(deal.record, name, deal.hidden[name], when)
            if transition.target == self.path[-1].id and "contract_signed" in deal.hidden:
                self._put(deal.record, "signed_at", self.at(when).date().isoformat(), when)
        self.move(n, deal, when, transition.trigger)

    def do_lose(self, n: int, deal: _Deal, when: float, _: str) -> None:
        """The deal is lost; the owner records why (or forgets to, the first time)."""
        if deal.record["stage"] not in self.lose:
            deal.closed = True
            return
        transition = self.lose[deal.record["stage"]]
        if deal.tries == 0 and self.rng.random() < 0.05:
            pass                            # forgets the reason: the `require` blocks
        else:
            for name in transition.require or ("lost_reason",):
                if not _get(deal.record, name):
                    self._put(deal.record, name, self._reason(deal), when)
        deal.loses_in = deal.record["stage"]
        self.move(n, deal, when, transition.trigger)

    def move(self, n: int, deal: _Deal, when: float, trigger: str) -> None:
        """Ask the engine; on success enter the new stage, else react to the decision."""
        try:
            self.now = self.at(when)
            moved = self.engine.apply(deal.record, trigger, deal.owner, now=self.now)
        except TransitionBlocked as blocked:
            self.react(n, deal, when, trigger, blocked.decision)
            return
        deal.record = moved
        self.enter(n, deal, when)

    def react(self, n: int, deal: _Deal, when: float, trigger: str, decision: Decision) -> None:
        """What the owner does after a refusal: fix the data, ask for approvals, or give up."""
        deal.tries += 1
        retry = "lose" if deal.loses_in == deal.record["stage"] else "advance"
        if decision.outcome == "needs_approval" and deal.tries <= 8:
            for need in decision.approvals_needed:
                if need.gate in deal.pending:
                    continue
                gate = self.policy.gate(need.gate)
                deal.pending[need.gate] = need.missing
                deal.asked.add(need.gate)
                self.emit("approval.requested", when, deal, deal.owner["id"], rule=need.gate,
                          outcome="requested", to=decision.target,
                          values=bound_values(gate, deal.record),
                          message="because " + ", ".join(need.because))
                t = when
                for _ in range(need.missing):
                    t += self.days(1.5 * gate.count)
                    self.schedule(t, n, "approve", need.gate)
            return
        if decision.outcome == "not_permitted" or deal.tries > 4:
            self._give_up(n, deal, when, decision)
            return
        changed = False
        for v in decision.violations:
            changed = self._fix(deal, v.rule, v.kind, v.values, when) or changed
        if not changed:
            self._give_up(n, deal, when, decision)
            return
        self.schedule(when + self.days(2), n, retry)

    def _fix(self, deal: _Deal, rule: str, kind: str, values: Mapping[str, Any],
             when: float) -> bool:
        """Repair what a violation names, when the CRM knows the truth; False if it cannot."""
        if kind == "step":
            steps = deal.record.setdefault("steps", [])
            if rule not in steps:
                steps.append(rule)
            return True
        if rule.startswith("require."):
            return self._put(deal.record, rule.removeprefix("require."), self._reason(deal), when)
        changed = False
        for key, value in values.items():
            if not key.startswith("deal."):
                continue
            name = key.removeprefix("deal.")
            if name == "customer.screening" and deal.hidden.get(name) == "flagged":
                deal.hidden["lost_reason"] = "customer failed compliance screening"
                return False
            truth = deal.hidden.get(name)
            if "reason" in name and kind != "risk":
                truth = self._reason(deal)
            if truth is not None and value != truth:
                changed = self._put(deal.record, name, truth, when) or changed
            elif kind == "risk" and isinstance(value, (int, float)) and "discount" in name:
                smaller = self.fields.conform(name, round(value * 0.8), self.at(when))
                if smaller is not _SKIP and smaller != value:   # a smaller concession
                    _set(deal.record, name, smaller)
                    deal.hidden[name] = smaller
                    changed = True
            elif kind != "risk" and truth is None and value in (MISSING, None, False, 0, ""):
                invented = self._invent(name, when)
                if invented is not None and self._put(deal.record, name, invented, when):
                    deal.hidden[name] = invented
                    changed = True
        return changed

    def _reason(self, deal: _Deal) -> str:
        reason = deal.hidden.get("lost_reason") or self.rng.choice(_LOST_REASONS)
        return str(reason)

    def _invent(self, name: str, when: float) -> Any:
        """A plausible value for a field the CRM never had, one the deal schema accepts (its
        enum, const, bounds, length, pattern, format; required keys of an object); None if
        there is none to be found."""
        guess = self._guess(name, when)
        made = self.fields.make(name, self.at(when), _SKIP if guess is None else guess)
        return None if made is _SKIP else made

    def _guess(self, name: str, when: float) -> Any:
        """A plausible value from the field's type and name alone."""
        types = (self.policy.known_fields or {}).get(name, frozenset())
        leaf = name.rsplit(".", 1)[-1]
        if "boolean" in types:
            return True
        if "number" in types or "integer" in types:
            if leaf.endswith(("_pct", "percent", "_rate")):
                return self.rng.randint(5, 30)
            return self.rng.randint(10, 500) * 1000
        if leaf.endswith("_at"):
            return _iso(self.at(when))
        if leaf.endswith("date"):
            return self.at(when).date().isoformat()
        if "string" in types or not types:
            return f"{leaf.replace('_', ' ')} {self.rng.randint(100, 999)}"
        return None

    def _give_up(self, n: int, deal: _Deal, when: float, decision: Decision) -> None:
        if deal.record["stage"] in self.lose and deal.loses_in != deal.record["stage"]:
            rules = ", ".join(v.rule for v in decision.violations[:2]) or decision.outcome
            deal.hidden.setdefault("lost_reason", f"could not proceed: {rules}")
            deal.loses_in = deal.record["stage"]
            deal.tries = 0
            self.schedule(when + self.days(5), n, "lose")
        else:
            deal.closed = True

    def do_approve(self, n: int, deal: _Deal, when: float, gate_id: str) -> None:
        """One approver decides on a pending request: grant (with the bound values) or refuse."""
        if gate_id not in deal.pending:
            return
        gate: Gate = self.policy.gate(gate_id)
        taken = {a.get("by") for a in deal.record.get("approvals", []) if a.get("gate") == gate_id}
        excluded = {deal.owner["id"], *taken}
        pool = [a for a in self.leads if a["id"] not in excluded
                and any(r in gate.roles for r in a["roles"])]
        if gate.approvers:  # the person the deal names approves; a deal naming nobody
            named = named_approvers(gate, deal.record)  # gets one, as a CRM assigns the
            if named:                                   # owner's manager
                pool = [a for a in pool if who(str(a["id"])) in named]
            elif pool and "." not in (field := gate.approvers[0].removeprefix("deal.")):
                deal.record[field] = self.rng.choice(pool)["id"]
                pool = [a for a in pool if a["id"] == deal.record[field]]
        if not pool:
            del deal.pending[gate_id]
            self._give_up(n, deal, when, Decision("blocked", None, "", None, None))
            return
        approver = self.rng.choice(pool)
        discount = deal.record.get("discount_pct")
        p_grant = 0.88 - (0.012 * max(0.0, float(discount) - 20)
                          if isinstance(discount, (int, float)) else 0.0)
        values = bound_values(gate, deal.record)
        if self.rng.random() < p_grant:
            deal.record.setdefault("approvals", []).append({
                "gate": gate_id, "by": approver["id"], "role": approver["roles"][0],
                "at": _iso(self.at(when)), "values": values})
            self.emit("approval.granted", when, deal, approver["id"], rule=gate_id,
                      outcome="granted", values=values)
            deal.pending[gate_id] -= 1
            if deal.pending[gate_id] <= 0:
                del deal.pending[gate_id]
            if not deal.pending:
                retry = "lose" if deal.loses_in == deal.record["stage"] else "advance"
                self.schedule(when + self.days(0.5), n, retry)
            return
        self.emit("approval.refused", when, deal, approver["id"], rule=gate_id,
                  outcome="refused", values=values, message="refused by the approver")
        del deal.pending[gate_id]
        bound = [b.removeprefix("deal.") for b in gate.binds]
        concede = [b for b in bound if "discount" in b
                   and isinstance(_get(deal.record, b), (int, float))]
        if concede and self.rng.random() < 0.6:
            for b in concede:
                lower = self.fields.conform(
                    b, max(0, round(float(_get(deal.record, b)) * 0.6)), self.at(when))
                if lower is not _SKIP:
                    _set(deal.record, b, lower)
                    deal.hidden[b] = lower
            deal.tries = 0
            self.schedule(when + self.days(3), n, "advance")
            return
        deal.hidden["lost_reason"] = f"approval refused ({gate_id})"
        deal.loses_in = deal.record["stage"]
        deal.tries = 0
        self.schedule(when + self.days(4), n, "lose")

    def check_all(self, when: float) -> None:
        """The weekly pipeline review: every open deal is checked at rest (audited)."""
        moment = self.now = self.at(when)
        for deal in self.deals:
            # a deal the team gave up on (stuck in 'won' without a closing approver, say) is
            # still open in the CRM: the review keeps checking it, so its time limit fires
            if not self.policy.stage(deal.record["stage"]).final:
                self.engine.check(deal.record, now=moment)


def _fields_read(policy: Policy) -> list[str]:
    """The deal fields the policy's rules read, in policy order (``require`` included)."""
    exprs = [c.when for st in policy.stages for c in st.entry]
    exprs += [c.when for t in policy.transitions for c in t.when]
    exprs += [r.when for r in policy.risks]
    names = [f for e in exprs for f in sorted(e.fields)]
    names += [f for t in policy.transitions for f in t.require]
    return list(dict.fromkeys(names))


def fill_warnings(policy: Policy, options: SimOptions = SimOptions()) -> tuple[str, ...]:  # noqa: B008
    """One warning per field the deal schema requires or the rules read for which the
    simulator finds no value the schema accepts (a ``pattern`` it cannot draw from, a
    format it does not know): without it every deal needing the field would be refused,
    silently. Uses its own generator, so the simulation's values do not change."""
    if policy.deal_schema is None:
        return ()
    fields = _Fields(policy.deal_schema, random.Random(options.seed))
    required = fields.required()
    out: list[str] = []
    for name in dict.fromkeys([*required, *_fields_read(policy)]):
        schemas = fields.schemas(name)
        if (name.split(".")[0] in _RESERVED or not schemas
                or any(s is _NOTHING for s in schemas)):
            continue
        if fields.make(name, options.start) is not _SKIP:
            continue
        why = "required by the deal schema" if name in required else "read by the rules"
        rules = [f"{k} {p[k]!r}" for p in schemas for k in ("pattern", "format") if k in p]
        what = f" ({', '.join(rules)})" if rules else ""
        out.append(
            f"cannot make a value of deal.{name}{what} that the deal schema accepts "
            f"({why}): simulated deals that need it will be refused; add an `examples` "
            "entry to the field in the deal schema")
    return tuple(out)


def simulate(policy: Policy, out_dir: str, options: SimOptions) -> SimSummary:
    """Run a simulation and write ``out_dir/deals.jsonl`` and ``out_dir/audit.jsonl``."""
    if options.deals < 1 or options.days < 1:
        raise UsageError("--deals and --days must be at least 1")
    if not any(s.final for s in policy.stages):
        raise UsageError(f"policy {policy.id} has no final stage: nothing to simulate towards")
    _check_calendar(options)
    os.makedirs(out_dir, exist_ok=True)
    audit_path = os.path.join(out_dir, "audit.jsonl")
    deals_path = os.path.join(out_dir, "deals.jsonl")
    tmp_audit = audit_path + ".partial"
    if os.path.exists(tmp_audit):
        os.remove(tmp_audit)
    sink = JsonlSink(tmp_audit, processors=[_Ids(options.seed)])
    try:
        sim = Simulator(policy, options, sink)
        sim.run()
        events = sink.seq
    finally:
        sink.close()
    tmp_deals = deals_path + ".partial"
    with open(tmp_deals, "wb") as fh:
        for deal in sim.deals:
            fh.write(orjson.dumps(deal.record, option=orjson.OPT_APPEND_NEWLINE))
    os.replace(tmp_audit, audit_path)
    os.replace(tmp_deals, deals_path)
    outcomes = [policy.stage(d.record["stage"]).outcome for d in sim.deals]
    won, lost = outcomes.count("won"), outcomes.count("lost")
    return SimSummary(len(sim.deals), won, lost, len(sim.deals) - won - lost, events,
                      deals_path, audit_path, tuple(sim.reps + sim.leads),
                      fill_warnings(policy, options))


def _check_calendar(options: SimOptions) -> None:
    """UsageError unless every simulated time, close dates included, is before year 10000."""
    try:
        options.start + timedelta(days=options.days + CLOSE_DAYS[1] + 1)
    except OverflowError:
        raise UsageError(
            f"--start {_iso(options.start)} plus --days {options.days} (and up to "
            f"{CLOSE_DAYS[1]} days for the deals' expected close dates) runs past year 9999: "
            "the simulated period must end before year 10000"
        ) from None


def parse_start(text: str | None) -> datetime:
    """``--start``: an ISO-8601 date or time (UTC when no zone is given)."""
    if text is None:
        return DEFAULT_START
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"--start is not an ISO-8601 date or time: {text!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


__all__ = ["SimOptions", "SimSummary", "Simulator", "fill_warnings", "parse_start", "simulate"]
