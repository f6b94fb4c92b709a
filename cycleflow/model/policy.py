"""The policy model: frozen dataclasses that every later stage reads.

The model is what a policy *means*, independent of the YAML it came from;
each piece keeps its :class:`~cycleflow.errors.Location` so later stages
(lint, tests, graph) can point back at the file.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from cycleflow.errors import Location
from cycleflow.expr import Expression

SEVERITIES: tuple[str, ...] = ("low", "medium", "high", "critical")
Severity = Literal["low", "medium", "high", "critical"]
Action = Literal["block", "warn", "approve"]


@dataclass(frozen=True, slots=True)
class Label:
    """Text in several languages; English is always present."""

    texts: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, raw: Any, default: str = "") -> Label:
        """Build from a policy value: a plain string (English) or a language map."""
        if isinstance(raw, Mapping):
            return cls(tuple((str(k), str(v)) for k, v in raw.items()))
        if raw is None:
            return cls((("en", default),))
        return cls((("en", str(raw)),))

    def get(self, lang: str = "en") -> str:
        """The text in ``lang`` (``zh-CN`` falls back to ``zh``), else English, else any text."""
        texts = dict(self.texts)
        for code in (lang, lang.split("-")[0], "en"):
            if code in texts:
                return texts[code]
        return self.texts[0][1] if self.texts else ""

    def as_dict(self) -> dict[str, str]:
        """A plain ``{lang: text}`` map."""
        return dict(self.texts)


@dataclass(frozen=True, slots=True)
class Criterion:
    """A named condition that must hold: a stage-entry or transition criterion."""

    id: str
    when: Expression
    message: Label
    severity: Severity
    location: Location


@dataclass(frozen=True, slots=True)
class Step:
    """A required process step, done before a deal leaves its stage forward."""

    id: str
    label: Label
    stage: str
    location: Location
    formerly: tuple[str, ...] = ()  # ids it had before a rename (deals may still say them)


@dataclass(frozen=True, slots=True)
class TimeLimit:
    """``max_days``: how long a deal may sit in a stage before it is flagged."""

    days: float
    action: Literal["block", "warn"]
    location: Location


@dataclass(frozen=True, slots=True)
class Stage:
    """One stage of the sales cycle; ``index`` is its place in the policy's order."""

    id: str
    label: Label
    description: Label | None
    index: int
    initial: bool
    final: bool
    outcome: Literal["won", "lost"] | None
    entry: tuple[Criterion, ...]
    steps: tuple[Step, ...]
    max_days: TimeLimit | None
    location: Location
    formerly: tuple[str, ...] = ()  # ids it had before a rename (deals may still say them)


@dataclass(frozen=True, slots=True)
class Transition:
    """A trigger that moves a deal from one of ``sources`` to ``target``."""

    trigger: str
    sources: tuple[str, ...]
    target: str
    label: Label | None
    when: tuple[Criterion, ...]
    require: tuple[str, ...]
    approve: tuple[str, ...]
    check_steps: bool | None
    location: Location


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """Where a risk is checked: ``always``, ``enter S``, ``leave S`` or ``on T``."""

    kind: Literal["always", "enter", "leave", "on"]
    target: str | None = None

    def __str__(self) -> str:
        return self.kind if self.target is None else f"{self.kind} {self.target}"


@dataclass(frozen=True, slots=True)
class Risk:
    """A risk control: when ``when`` holds at a checkpoint, block, warn or ask a gate."""

    id: str
    label: Label | None
    when: Expression
    at: tuple[Checkpoint, ...]
    severity: Severity
    action: Action
    gate: str | None
    message: Label
    location: Location


@dataclass(frozen=True, slots=True)
class Gate:
    """An approval gate: who may approve, how many, and what voids an approval."""

    id: str
    label: Label | None
    roles: tuple[str, ...]
    count: int
    separate_from: tuple[str, ...]
    valid_days: float | None
    binds: tuple[str, ...]
    location: Location
    #: deal fields naming who must approve (``deal.owner_manager``); empty: anyone in a role
    approvers: tuple[str, ...] = ()
    #: gates that must be satisfied first: this gate's approvals count only after theirs
    after: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SourceFile:
    """A file the policy was read from, with the SHA-256 of its bytes.

    ``role`` is ``policy`` (the main file), ``include`` (a fragment) or
    ``deal_schema``; ``name`` is the file's path relative to the main file's
    folder, ``/``-separated and normalised (``../schemas/deal.schema.json``):
    the form :func:`policy_digest` records, the same on every machine and from
    every working directory. ``path`` is the path the file was read from.
    """

    path: str
    sha256: str
    role: str = "policy"
    name: str = ""

    def digest_line(self) -> str:
        """The line this file contributes to the policy's combined hash."""
        return f"{self.role} {self.name} {self.sha256}\n"


def policy_digest(files: Iterable[SourceFile]) -> str:
    """The SHA-256 of a whole policy: of the lines ``"<role> <name> <sha256 of the bytes>\n"``
    of its files, in load order (the main file, each include, then the deal schema).

    A change to any file that makes up the policy (not only the main file) changes it,
    so the ``policy_sha256`` of an audit event tells which rules were in force; the
    names are relative, so the same files hash the same wherever they are checked out.
    """
    h = hashlib.sha256()
    for f in files:
        h.update(f.digest_line().encode("utf-8"))
    return h.hexdigest()


@dataclass(frozen=True)
class Policy:
    """A whole, checked policy: the single input of the compiler."""

    id: str
    version: str
    title: Label | None
    description: Label | None
    path: str
    sha256: str
    """The combined hash of every file in ``sources`` (:func:`policy_digest`)."""
    sources: tuple[SourceFile, ...]
    """The main file, each include and the deal schema, each with its own hash."""
    stages: tuple[Stage, ...]
    transitions: tuple[Transition, ...]
    risks: tuple[Risk, ...]
    gates: tuple[Gate, ...]
    sensitive: tuple[str, ...] = ()
    deal_schema_path: str | None = None
    deal_schema: Mapping[str, Any] | None = field(default=None, compare=False, hash=False)
    known_fields: Mapping[str, frozenset[str]] | None = field(
        default=None, compare=False, hash=False
    )
    timezone: str | None = None
    """The IANA time zone whose calendar date is ``today`` in rules (None: ``now``'s offset)."""

    def stage(self, stage_id: str) -> Stage:
        """The stage with this id (KeyError if none)."""
        for stage in self.stages:
            if stage.id == stage_id:
                return stage
        raise KeyError(stage_id)

    def gate(self, gate_id: str) -> Gate:
        """The gate with this id (KeyError if none)."""
        for gate in self.gates:
            if gate.id == gate_id:
                return gate
        raise KeyError(gate_id)

    @property
    def initial_stage(self) -> Stage:
        """The one stage marked ``initial``."""
        return next(s for s in self.stages if s.initial)

    @property
    def triggers(self) -> tuple[str, ...]:
        """Every trigger name, in first-declared order."""
        return tuple(dict.fromkeys(t.trigger for t in self.transitions))

    def rule_ids(self) -> tuple[str, ...]:
        """Every rule id the engine can report, for coverage and SARIF rule lists."""
        ids: list[str] = []
        for stage in self.stages:
            ids.extend(c.id for c in stage.entry)
            ids.extend(s.id for s in stage.steps)
            if stage.max_days is not None:
                ids.append(f"max_days.{stage.id}")
        for transition in self.transitions:
            ids.extend(c.id for c in transition.when)
            ids.extend(f"require.{f}" for f in transition.require)
        ids.extend(r.id for r in self.risks)
        ids.extend(g.id for g in self.gates)
        return tuple(dict.fromkeys(ids))
