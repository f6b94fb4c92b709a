"""Turn validated policy documents into the :class:`Policy` model.

Schema validation has already vouched for shapes; this pass resolves
references (stages, steps, gates), checks every expression, and collects
every problem it finds, located, before raising them together.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final, Literal, cast

from cycleflow.errors import Location, PolicyError, Problem, ProblemList
from cycleflow.expr import Expression, compile_expression
from cycleflow.load.policy_files import deal_schema_sha256
from cycleflow.load.yaml_reader import Document
from cycleflow.model.literals import literal_problems
from cycleflow.model.policy import (
    Checkpoint,
    Criterion,
    Gate,
    Label,
    Policy,
    Risk,
    Severity,
    SourceFile,
    Stage,
    Step,
    TimeLimit,
    Transition,
    policy_digest,
)
from cycleflow.model.zones import available_timezones

Path = tuple[str | int, ...]


def did_you_mean(word: str, options: Iterable[str]) -> str | None:
    """A "did you mean 'x'?" suggestion for a misspelt id, or None."""
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else None


@dataclass
class _Builder:
    """Per-build working state: the documents, the problems found so far."""

    main: Document
    known_fields: Mapping[str, frozenset[str]] | None
    problems: ProblemList

    def loc(self, doc: Document, path: Path) -> Location:
        return doc.source_map.locate(path)

    def problem(
        self,
        doc: Document,
        path: Path,
        code: str,
        message: str,
        suggestion: str | None = None,
        *,
        key: bool = False,
    ) -> None:
        where = doc.source_map.locate_key(path) if key else doc.source_map.locate(path)
        self.problems.add(Problem(where, code, message, suggestion))

    def expression(self, doc: Document, path: Path, source: Any) -> Expression | None:
        text = str(source)
        sm = doc.source_map

        def locate(offset: int) -> Location:
            return sm.locate_in_scalar(path, offset)

        try:
            return compile_expression(
                text, sm.locate(path), known_fields=self.known_fields, locate=locate,
                condition=True,
            )
        except PolicyError as err:
            self.problems.extend(err.problems)
            return None


def build_policy(
    main: Document,
    fragments: Sequence[Document] = (),
    *,
    deal_schema: Mapping[str, Any] | None = None,
    deal_schema_path: str | None = None,
    known_fields: Mapping[str, frozenset[str]] | None = None,
) -> Policy:
    """Build the model from the main document and its included fragments, or raise PolicyError."""
    b = _Builder(main, known_fields, ProblemList())
    docs = [main, *fragments]
    stages = _stages(b, docs)
    stage_ids = [s.id for s in stages]
    gates = _gates(b, docs)
    gate_ids = [g.id for g in gates]
    transitions = _transitions(b, docs, stages)
    risks = _risks(b, docs, stage_ids, gate_ids, [t.trigger for t in transitions])
    _check_initial(b, stages)
    _check_unique_ids(b, stages, transitions, risks, gates)
    _check_former_ids(b, stages)
    _check_gate_refs(b, docs, transitions, gate_ids)
    b.problems.extend(literal_problems(stages, transitions, risks))  # lint shows the warnings
    sensitive = tuple(str(s) for s in main.data.get("sensitive", ()) or ())
    _check_fields(b, main, ("sensitive",), sensitive)
    timezone = _timezone(b, main)
    b.problems.raise_if_errors()
    sources = _sources(main, fragments, deal_schema, deal_schema_path)
    data = main.data
    return Policy(
        id=str(data["id"]),
        version=str(data["version"]),
        title=Label.of(data["title"]) if "title" in data else None,
        description=Label.of(data["description"]) if "description" in data else None,
        path=main.file,
        sha256=policy_digest(sources),
        sources=sources,
        stages=tuple(stages),
        transitions=tuple(transitions),
        risks=tuple(risks),
        gates=tuple(gates),
        sensitive=sensitive,
        deal_schema_path=deal_schema_path,
        deal_schema=deal_schema,
        known_fields=known_fields,
        timezone=timezone,
    )


def _timezone(b: _Builder, doc: Document) -> str | None:
    """The policy's ``timezone``, which must name a zone of the IANA database."""
    name = doc.data.get("timezone")
    if name is None:
        return None
    name = str(name)
    zones = available_timezones()
    if name not in zones:
        close = difflib.get_close_matches(name, zones, n=1, cutoff=0.6) or [
            z for z in zones if z.lower() == name.lower()]
        b.problems.add(
            Problem(
                doc.source_map.locate(("timezone",)),
                "unknown-timezone",
                f"timezone {name!r} is not a zone of the IANA time zone database"
                + ("" if zones else " (no zone database was found on this machine)"),
                "install one: pip install tzdata" if not zones else
                f"did you mean '{close[0]}'?" if close else
                "write a zone such as 'Europe/Berlin' or 'Asia/Shanghai' (or 'UTC')",
            )
        )
    return name


def _sources(
    main: Document,
    fragments: Sequence[Document],
    deal_schema: Mapping[str, Any] | None,
    deal_schema_path: str | None,
) -> tuple[SourceFile, ...]:
    """Every file the policy is made of, in load order, named relative to the main file's
    folder, each with the hash of its bytes: what ``Policy.sha256`` combines."""
    base = os.path.dirname(os.path.abspath(main.file))

    def name(path: str) -> str:
        return os.path.relpath(os.path.abspath(path), base).replace(os.sep, "/")

    out = [SourceFile(main.file, main.sha256, "policy", name(main.file))]
    out.extend(SourceFile(d.file, d.sha256, "include", name(d.file)) for d in fragments)
    if deal_schema is not None and deal_schema_path is not None:
        where = main.source_map.locate(("deal_schema",))
        digest = deal_schema_sha256(deal_schema_path, deal_schema, where)
        out.append(SourceFile(deal_schema_path, digest, "deal_schema", name(deal_schema_path)))
    elif deal_schema is not None:  # given as data, not read from a file
        canonical = json.dumps(deal_schema, sort_keys=True, ensure_ascii=False)
        digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
        out.append(SourceFile("", digest, "deal_schema", "-"))
    return tuple(out)


def _criteria(b: _Builder, doc: Document, path: Path, raw: Any) -> tuple[Criterion, ...]:
    out: list[Criterion] = []
    for i, item in enumerate(raw or ()):
        expr = b.expression(doc, (*path, i, "when"), item["when"])
        if expr is None:
            continue
        out.append(
            Criterion(
                id=str(item["id"]),
                when=expr,
                message=Label.of(item.get("message"), default=f"{item['id']} does not hold"),
                severity=cast(Severity, item.get("severity", "high")),
                location=b.loc(doc, (*path, i)),
            )
        )
    return tuple(out)


def _stages(b: _Builder, docs: Sequence[Document]) -> list[Stage]:
    stages: list[Stage] = []
    seen: dict[str, Location] = {}
    for doc in docs:
        for sid, raw in (doc.data.get("stages") or {}).items():
            path: Path = ("stages", sid)
            if sid in seen:
                b.problem(
                    doc,
                    path,
                    "duplicate-stage",
                    f"stage '{sid}' is defined twice (first at {seen[sid]})",
                    key=True,
                )
                continue
            seen[sid] = doc.source_map.locate_key(path)  # "first at" names the stage key
            raw = raw or {}
            steps: list[Step] = []
            for i, step in enumerate(raw.get("steps") or ()):
                if isinstance(step, str):
                    steps.append(
                        Step(
                            step,
                            Label.of(step.replace("_", " ")),
                            sid,
                            b.loc(doc, (*path, "steps", i)),
                        )
                    )
                else:
                    steps.append(
                        Step(
                            str(step["id"]),
                            Label.of(step.get("label"), str(step["id"])),
                            sid,
                            b.loc(doc, (*path, "steps", i)),
                            tuple(str(x) for x in step.get("formerly") or ()),
                        )
                    )
            limit = raw.get("max_days")
            time_limit: TimeLimit | None = None
            if isinstance(limit, Mapping):
                time_limit = TimeLimit(
                    float(limit["days"]),
                    cast(Literal["block", "warn"], limit.get("then", "block")),
                    b.loc(doc, (*path, "max_days")),
                )
            elif limit is not None:
                time_limit = TimeLimit(float(limit), "block", b.loc(doc, (*path, "max_days")))
            final = bool(raw.get("final", False))
            outcome = raw.get("outcome")
            stages.append(
                Stage(
                    id=sid,
                    label=Label.of(raw.get("label"), sid),
                    description=Label.of(raw["description"]) if "description" in raw else None,
                    index=len(stages),
                    initial=bool(raw.get("initial", False)),
                    final=final,
                    outcome=outcome,
                    entry=_criteria(b, doc, (*path, "entry"), raw.get("entry")),
                    steps=tuple(steps),
                    max_days=time_limit,
                    location=b.loc(doc, path),
                    formerly=tuple(str(x) for x in raw.get("formerly") or ()),
                )
            )
    return stages


def _stage_ref(b: _Builder, doc: Document, path: Path, name: str, stage_ids: Sequence[str]) -> bool:
    if name in stage_ids:
        return True
    b.problem(
        doc,
        path,
        "unknown-stage",
        f"unknown stage '{name}'",
        did_you_mean(name, stage_ids) or "stages: " + ", ".join(stage_ids),
    )
    return False


def _transitions(
    b: _Builder, docs: Sequence[Document], stages: Sequence[Stage]
) -> list[Transition]:
    stage_ids = [s.id for s in stages]
    non_final = [s.id for s in stages if not s.final]
    out: list[Transition] = []
    for doc in docs:
        for i, raw in enumerate(doc.data.get("transitions") or ()):
            path: Path = ("transitions", i)
            src = raw["from"]
            sources: list[str] = []
            if src == "*":
                sources = list(non_final)
            else:
                items = [src] if isinstance(src, str) else list(src)
                for j, s in enumerate(items):
                    spath = (*path, "from") if isinstance(src, str) else (*path, "from", j)
                    if _stage_ref(b, doc, spath, str(s), stage_ids):
                        sources.append(str(s))
            target = str(raw["to"])
            if not _stage_ref(b, doc, (*path, "to"), target, stage_ids):
                continue
            for s in sources:
                if stages[stage_ids.index(s)].final:
                    b.problem(
                        doc,
                        (*path, "from"),
                        "from-final-stage",
                        f"transition '{raw['trigger']}' leaves final stage '{s}'",
                        "remove 'final: true' from the stage or drop this source",
                    )
            require = tuple(str(f) for f in raw.get("require") or ())
            _check_fields(b, doc, (*path, "require"), require)
            out.append(
                Transition(
                    trigger=str(raw["trigger"]),
                    sources=tuple(sources),
                    target=target,
                    label=Label.of(raw["label"]) if "label" in raw else None,
                    when=_criteria(b, doc, (*path, "when"), raw.get("when")),
                    require=require,
                    approve=tuple(str(g) for g in raw.get("approve") or ()),
                    check_steps=raw.get("check_steps"),
                    location=b.loc(doc, path),
                )
            )
    _check_ambiguous(b, out)
    return out


def _check_ambiguous(b: _Builder, transitions: Sequence[Transition]) -> None:
    """One trigger from one stage is one transition: two with different targets are
    ambiguous; two with the same target would leave the second one's criteria, gates
    and requirements unenforced (the engine knows one per stage and trigger)."""
    seen: dict[tuple[str, str], Transition] = {}
    for t in transitions:
        for s in t.sources:
            other = seen.get((s, t.trigger))
            if other is not None and other.target == t.target:
                b.problems.add(
                    Problem(
                        t.location,
                        "duplicate-transition",
                        f"'{t.trigger}' from '{s}' to '{t.target}' is declared twice "
                        f"(first at {other.location}); the engine would enforce only the "
                        "first one's criteria, approvals and required fields",
                        "merge the two into one transition (list every criterion under "
                        "one 'when:'), or give one another trigger",
                    )
                )
            elif other is not None:
                b.problems.add(
                    Problem(
                        t.location,
                        "ambiguous-transition",
                        f"trigger '{t.trigger}' from '{s}' goes to both "
                        f"'{other.target}' and '{t.target}': a trigger names one move, so "
                        "criteria cannot choose between targets",
                        f"give one of them a trigger of its own (e.g. '{t.trigger}_to_"
                        f"{t.target}'), whose when: criteria say who may take it; first "
                        f"declared at {other.location}",
                    )
                )
            seen.setdefault((s, t.trigger), t)


def _risks(
    b: _Builder,
    docs: Sequence[Document],
    stage_ids: Sequence[str],
    gate_ids: Sequence[str],
    triggers: Sequence[str],
) -> list[Risk]:
    out: list[Risk] = []
    for doc in docs:
        for i, raw in enumerate(doc.data.get("risks") or ()):
            path: Path = ("risks", i)
            expr = b.expression(doc, (*path, "when"), raw["when"])
            checkpoints: list[Checkpoint] = []
            for j, at in enumerate(raw.get("at") or ["always"]):
                kind, _, target = str(at).partition(" ")
                cp = Checkpoint(cast(Any, kind), target or None)
                if kind in ("enter", "leave"):
                    _stage_ref(b, doc, (*path, "at", j), target, stage_ids)
                elif kind == "on" and target not in triggers:
                    b.problem(
                        doc,
                        (*path, "at", j),
                        "unknown-trigger",
                        f"unknown trigger '{target}'",
                        did_you_mean(target, triggers),
                    )
                checkpoints.append(cp)
            then = str(raw["then"])
            action, _, gate = then.partition(" ")
            if action == "approve" and gate not in gate_ids:
                b.problem(
                    doc,
                    (*path, "then"),
                    "unknown-gate",
                    f"unknown approval gate '{gate}'",
                    did_you_mean(gate, gate_ids)
                    or (
                        "gates: " + ", ".join(gate_ids)
                        if gate_ids
                        else "declare it under approvals:"
                    ),
                )
            if expr is None:
                continue
            out.append(
                Risk(
                    id=str(raw["id"]),
                    label=Label.of(raw["label"]) if "label" in raw else None,
                    when=expr,
                    at=tuple(checkpoints),
                    severity=cast(Severity, raw.get("severity", "high")),
                    action=cast(Any, action),
                    gate=gate or None,
                    message=Label.of(raw.get("message"), default=f"risk {raw['id']}"),
                    location=b.loc(doc, path),
                )
            )
    return out


def _gates(b: _Builder, docs: Sequence[Document]) -> list[Gate]:
    out: list[Gate] = []
    for doc in docs:
        for gid, raw in (doc.data.get("approvals") or {}).items():
            path: Path = ("approvals", gid)
            binds = tuple(str(x) for x in raw.get("binds") or ())
            _check_fields(b, doc, (*path, "binds"), binds)
            separate = tuple(str(x) for x in raw.get("separate_from") or ())
            _check_fields(b, doc, (*path, "separate_from"), separate)
            approvers = tuple(str(x) for x in raw.get("approvers") or ())
            _check_fields(b, doc, (*path, "approvers"), approvers)
            valid = raw.get("valid_days")
            out.append(
                Gate(
                    id=str(gid),
                    label=Label.of(raw["label"]) if "label" in raw else None,
                    roles=tuple(str(r) for r in raw["roles"]),
                    count=int(raw.get("count", 1)),
                    separate_from=separate,
                    valid_days=float(valid) if valid is not None else None,
                    binds=binds,
                    location=b.loc(doc, path),
                    approvers=approvers,
                    after=tuple(str(x) for x in raw.get("after") or ()),
                )
            )
    _check_gate_order(b, docs, out)
    return out


def _circle(gid: str, waits: Mapping[str, Sequence[str]], path: list[str],
            done: set[str]) -> list[str] | None:
    """A circle of gates waiting for each other reachable from ``gid`` (depth first)."""
    if gid in path:
        return [*path[path.index(gid):], gid]
    if gid in done:
        return None
    path.append(gid)
    for nxt in waits[gid]:
        found = _circle(nxt, waits, path, done)
        if found:
            return found
    path.pop()
    done.add(gid)
    return None


def _check_gate_order(b: _Builder, docs: Sequence[Document], gates: Sequence[Gate]) -> None:
    """``after:`` names gates of the policy, and never in a circle (gates waiting for each
    other could never be approved)."""
    ids = [g.id for g in gates]
    for doc in docs:
        for gid, raw in (doc.data.get("approvals") or {}).items():
            for i, name in enumerate(raw.get("after") or ()):
                if name not in ids:
                    b.problem(doc, ("approvals", gid, "after", i), "unknown-gate",
                              f"unknown approval gate '{name}'", did_you_mean(str(name), ids))
                elif name == gid:
                    b.problem(doc, ("approvals", gid, "after", i), "gate-after-cycle",
                              f"gate '{gid}' is approved after itself: it can never be",
                              f"remove '{gid}' from its own after")
    waits = {g.id: [a for a in g.after if a in ids and a != g.id] for g in gates}
    done: set[str] = set()
    for gate in gates:
        circle = _circle(gate.id, waits, [], done)
        if circle:
            b.problems.add(Problem(
                gate.location, "gate-after-cycle",
                f"gates {' → '.join(circle)} each wait for the next: none can ever be "
                "approved", "remove one of them from the other's after"))
            return


def _check_initial(b: _Builder, stages: Sequence[Stage]) -> None:
    initial = [s for s in stages if s.initial]
    if not initial and stages:
        b.problems.add(
            Problem(
                stages[0].location,
                "no-initial-stage",
                "no stage is marked initial",
                f"add 'initial: true' to the first stage, '{stages[0].id}'",
            )
        )
    for extra in initial[1:]:
        b.problems.add(
            Problem(
                extra.location,
                "several-initial-stages",
                f"stage '{extra.id}' is initial, but so is '{initial[0].id}'",
                "exactly one stage is initial",
            )
        )


#: Rule ids the engine and the batch runner give their own findings, so a policy may not use
#: them for a rule, step or gate: violations, reports and SARIF name findings by id.
RESERVED_IDS: Final = MappingProxyType({
    "deal": "a deal record that breaks the deal schema or cannot be judged",
    "transition": "a trigger not permitted from the deal's stage",
    "steps": "a malformed steps field",
    "stage_entered_at": "an entry time later than the check",
    "duplicate_id": "a deal id already used by an earlier record",
    "renamed": "a deal saying a stage or step id the policy renamed (formerly)",
})


def _check_unique_ids(
    b: _Builder,
    stages: Sequence[Stage],
    transitions: Sequence[Transition],
    risks: Sequence[Risk],
    gates: Sequence[Gate],
) -> None:
    seen: dict[str, Location] = {}
    named: list[tuple[str, Location]] = []
    for s in stages:
        named.extend((c.id, c.location) for c in s.entry)
        named.extend((st.id, st.location) for st in s.steps)
    for t in transitions:
        named.extend((c.id, c.location) for c in t.when)
    named.extend((r.id, r.location) for r in risks)
    named.extend((g.id, g.location) for g in gates)
    for rid, where in named:
        if rid in RESERVED_IDS:
            b.problems.add(
                Problem(
                    where,
                    "reserved-id",
                    f"id '{rid}' is one the engine uses for its own findings "
                    f"({RESERVED_IDS[rid]}): a report could not tell the two apart",
                    f"choose another id, such as '{rid}_rule'",
                )
            )
        if rid in seen:
            b.problems.add(
                Problem(
                    where,
                    "duplicate-id",
                    f"id '{rid}' is used twice (first at {seen[rid]})",
                    "rule, step and gate ids are unique across the policy",
                )
            )
        else:
            seen[rid] = where


def _check_former_ids(b: _Builder, stages: Sequence[Stage]) -> None:
    """A former id (``formerly``) names one stage or step only, and none in use now: a deal
    saying it must be judged in exactly one place."""
    for kind, items in (("stage", [(s.id, s.formerly, s.location) for s in stages]),
                        ("step", [(st.id, st.formerly, st.location)
                                  for s in stages for st in s.steps])):
        current = {item_id for item_id, _, _ in items}
        claimed: dict[str, str] = {}
        for item_id, formerly, where in items:
            for old in formerly:
                if old in current:
                    b.problems.add(Problem(
                        where, "formerly-in-use",
                        f"{kind} '{item_id}' was formerly '{old}', but '{old}' is a {kind} of "
                        "the policy now: a deal saying it would be judged in two places",
                        f"remove '{old}' from formerly, or rename the {kind} '{old}'"))
                elif old in claimed:
                    b.problems.add(Problem(
                        where, "formerly-twice",
                        f"'{old}' is named in formerly of {kind}s '{claimed[old]}' and "
                        f"'{item_id}': a deal saying it could not be placed",
                        f"keep '{old}' in the formerly of one {kind}"))
                else:
                    claimed[old] = item_id


def _check_gate_refs(
    b: _Builder,
    docs: Sequence[Document],
    transitions: Sequence[Transition],
    gate_ids: Sequence[str],
) -> None:
    for t in transitions:
        for g in t.approve:
            if g not in gate_ids:
                b.problems.add(
                    Problem(
                        t.location,
                        "unknown-gate",
                        f"unknown approval gate '{g}'",
                        did_you_mean(g, gate_ids),
                    )
                )


def _check_fields(b: _Builder, doc: Document, path: Path, fields: Iterable[str]) -> None:
    """Fields named outside expressions (binds, require, sensitive, separate_from) must exist
    in deal_schema; "did you mean" is written as the key takes it (``deal.amount`` where the
    name was written with ``deal.``, plain ``lost_reason`` in require)."""
    if b.known_fields is None:
        return
    for i, name in enumerate(fields):
        if name in ("owner", "requester"):
            continue
        bare = name.removeprefix("deal.")
        if bare not in b.known_fields:
            close = difflib.get_close_matches(bare, list(b.known_fields), n=1, cutoff=0.6)
            shown = (f"deal.{close[0]}" if name.startswith("deal.") else close[0]) if close else ""
            b.problems.add(
                Problem(
                    doc.source_map.locate((*path, i)),
                    "unknown-field",
                    f"field 'deal.{bare}' is not declared in deal_schema",
                    f"did you mean '{shown}'?" if shown else None,
                )
            )
