"""Semantic checks of a policy that are warnings (or notes), not load errors.

Unreachable stages, dead ends, gates nobody asks for, rules that can never be
evaluated and comparisons the deal schema says cannot work do not stop a policy
from running, but they almost always mean the author meant something else.

What these checks can decide from the policy alone is listed in
``docs/authoring.md`` (section "What lint detects, and what it cannot").
"""

from __future__ import annotations

import ast
import difflib
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from cycleflow.errors import Location, Problem
from cycleflow.expr import Expression, check_expression
from cycleflow.expr.sandbox import Analysis
from cycleflow.load.policy_files import shown_path
from cycleflow.load.yaml_reader import Document
from cycleflow.model.literals import enum_problems, literal_problems
from cycleflow.model.policy import Gate, Policy, Stage
from cycleflow.validate.deal_schema import field_enums

Path = tuple[str | int, ...]
KnownFields = Mapping[str, frozenset[str]]


def semantic_problems(policy: Policy, docs: Sequence[Document] = ()) -> list[Problem]:
    """Warnings about a policy that loads; ``docs`` (its raw files) enable type checks."""
    where = _Where(docs)
    out: list[Problem] = []
    out.extend(_graph_problems(policy, where))
    out.extend(_stage_problems(policy))
    out.extend(_constant_rules(policy))
    out.extend(_logic_traps(policy))
    out.extend(p for p in literal_problems(policy.stages, policy.transitions, policy.risks)
               if p.severity != "error")  # the errors stop the policy loading
    out.extend(_risk_checkpoints(policy, where))
    out.extend(_gate_problems(policy, where))
    if policy.deal_schema is not None:
        out.extend(enum_problems(_rule_expressions(policy), field_enums(policy.deal_schema)))
    out.extend(_stage_enum_problems(policy, where))
    out.extend(_step_enum_problems(policy, where))
    out.extend(_language_typos(docs))
    out.extend(_missing_languages(docs))
    out.extend(_placeholders(docs))
    out.extend(_control_characters(docs))
    if docs and policy.known_fields is not None:
        out.extend(expression_warnings(docs, policy.known_fields))
    out.sort(key=lambda p: (p.location.file != policy.path, p.location.file,
                            p.location.line, p.location.column))
    return out


class _Where:
    """Finer locations from the raw documents: a stage's or gate's key, a risk checkpoint."""

    def __init__(self, docs: Sequence[Document]) -> None:
        self.docs = {d.file: d for d in docs}

    def key(self, fallback: Location, path: Path) -> Location:
        doc = self.docs.get(fallback.file)
        return doc.source_map.locate_key(path) if doc is not None else fallback

    def value(self, fallback: Location, path: Path) -> Location:
        doc = self.docs.get(fallback.file)
        return doc.source_map.locate(path) if doc is not None else fallback

    def risk_index(self, fallback: Location, risk_id: str) -> int | None:
        doc = self.docs.get(fallback.file)
        risks = doc.data.get("risks") if doc is not None and isinstance(doc.data, Mapping) else None
        if isinstance(risks, list):
            for i, raw in enumerate(risks):
                if isinstance(raw, Mapping) and raw.get("id") == risk_id:
                    return i
        return None


# ---------------------------------------------------------------- the stage machine


def _graph_problems(policy: Policy, where: _Where) -> list[Problem]:
    out: list[Problem] = []
    edges: dict[str, set[str]] = {s.id: set() for s in policy.stages}
    for t in policy.transitions:
        for s in t.sources:
            edges[s].add(t.target)
    start = policy.initial_stage.id
    reached = {start}
    frontier = [start]
    while frontier:
        for nxt in edges[frontier.pop()]:
            if nxt not in reached:
                reached.add(nxt)
                frontier.append(nxt)
    for stage in policy.stages:
        at = where.key(stage.location, ("stages", stage.id))
        if stage.id not in reached:
            out.append(Problem(
                at, "unreachable-stage",
                f"stage '{stage.id}' cannot be reached from the initial stage '{start}'",
                "add a transition into it or remove it", "warning"))
        if not stage.final and not edges[stage.id]:
            out.append(Problem(
                at, "dead-end-stage",
                f"stage '{stage.id}' is not final but no transition leaves it",
                "add a transition out of it or mark it 'final: true'", "warning"))
    used = {r.gate for r in policy.risks if r.gate} | {
        g for t in policy.transitions for g in t.approve
    }
    for gate in policy.gates:
        if gate.id not in used:
            out.append(Problem(
                where.key(gate.location, ("approvals", gate.id)), "unused-gate",
                f"approval gate '{gate.id}' is never required",
                f"reference it from a risk ('then: approve {gate.id}') "
                f"or a transition ('approve: [{gate.id}]')", "warning"))
    return out


def _stage_problems(policy: Policy) -> list[Problem]:
    out: list[Problem] = []
    for stage in policy.stages:
        if stage.final and stage.steps:
            ids = ", ".join(s.id for s in stage.steps)
            out.append(Problem(
                stage.steps[0].location, "steps-on-final-stage",
                f"steps of final stage '{stage.id}' ({ids}) are never checked: steps are "
                "required before leaving a stage forward, and no transition leaves a final stage",
                "move them to the stage before, or record them outside the policy", "warning"))
        if stage.final and stage.max_days is not None:
            out.append(Problem(
                stage.max_days.location, "max-days-on-final-stage",
                f"max_days on final stage '{stage.id}' flags every closed deal once it is "
                f"{stage.max_days.days:g} days old",
                "remove max_days from the final stage", "warning"))
    return out


# ---------------------------------------------------------------- rules


def _constant(source: str) -> bool | None:
    """True/False when the expression is the literal True or False, else None."""
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError:
        return None
    body = tree.body
    if isinstance(body, ast.Constant) and isinstance(body.value, bool):
        return body.value
    return None


def _constant_rules(policy: Policy) -> list[Problem]:
    out: list[Problem] = []
    criteria = [(c, f"entry criterion of stage '{s.id}'") for s in policy.stages for c in s.entry]
    criteria += [(c, f"criterion of transition '{t.trigger}'")
                 for t in policy.transitions for c in t.when]
    for c, what in criteria:
        value = _constant(c.when.source)
        if value is True:
            out.append(Problem(
                c.when.location, "criterion-always-true",
                f"{what} '{c.id}' is always true: it never blocks anything",
                "remove it, or write the condition it stands for", "warning"))
        elif value is False:
            out.append(Problem(
                c.when.location, "criterion-always-false",
                f"{what} '{c.id}' is always false: it blocks every deal",
                "write the condition it stands for", "warning"))
    for r in policy.risks:
        value = _constant(r.when.source)
        if value is True:
            out.append(Problem(
                r.when.location, "risk-always-fires",
                f"risk '{r.id}' fires for every deal ({r.action} at every checkpoint)",
                "write the condition that makes the deal risky", "warning"))
        elif value is False:
            out.append(Problem(
                r.when.location, "risk-never-fires",
                f"risk '{r.id}' never fires", "remove it, or write its condition", "warning"))
    return out


def _rule_expressions(policy: Policy) -> list[Expression]:
    """Every ``when:`` of the policy: entry criteria, transition criteria, risks."""
    out = [c.when for s in policy.stages for c in s.entry]
    out += [c.when for t in policy.transitions for c in t.when]
    out += [r.when for r in policy.risks]
    return out


def _logic_traps(policy: Policy) -> list[Problem]:
    """Rules that run but rarely say what was meant: ``a or b and c`` without brackets,
    ``x in ('IRAN')`` (a substring test), a number or text used as the condition."""
    out: list[Problem] = []
    for expr in _rule_expressions(policy):
        analysis = expr.analysis
        if analysis is None or analysis.tree is None or analysis.where is None:
            continue
        traps = _Traps(analysis, analysis.where, policy.known_fields)
        traps.walk(analysis.tree.body)
        traps.condition(analysis.tree.body)
        out.extend(traps.problems)
    return out


class _Traps:
    """Finds the logic traps of one checked expression, located by its own positions."""

    def __init__(self, analysis: Analysis, where: Callable[[ast.AST], Location],
                 known: KnownFields | None) -> None:
        self.analysis = analysis
        self.where = where
        self.known = known
        self.text = analysis.source.lstrip()
        self.starts = [0]
        for line in self.text.split("\n")[:-1]:
            self.starts.append(self.starts[-1] + len(line) + 1)
        self.problems: list[Problem] = []

    def _index(self, lineno: int | None, col: int | None) -> int:
        """The character index in the parsed text of an AST (line, UTF-8 byte column)."""
        row = min(max((lineno or 1) - 1, 0), len(self.starts) - 1)
        line = self.text[self.starts[row]:].split("\n", 1)[0]
        return self.starts[row] + len(line.encode()[: col or 0].decode("utf-8", "ignore"))

    def bracketed(self, node: ast.expr) -> bool:
        """Whether ``node`` is written inside its own brackets: ``(b and c)``."""
        start = self._index(node.lineno, node.col_offset)
        end = self._index(node.end_lineno, node.end_col_offset)
        return (self.text[:start].rstrip().endswith("(")
                and self.text[end:].lstrip().startswith(")"))

    def walk(self, node: ast.AST) -> None:
        for child in ast.walk(node):
            if isinstance(child, ast.BoolOp):
                self.mixed(child)
            elif isinstance(child, ast.Compare):
                self.in_text(child)

    def mixed(self, node: ast.BoolOp) -> None:
        if any(isinstance(v, ast.BoolOp) and type(v.op) is not type(node.op)
               and not self.bracketed(v) for v in node.values):
            self.problems.append(Problem(
                self.where(node), "expr-and-or-without-brackets",
                "and binds tighter than or: add brackets to say which you mean",
                "write (a or b) and c, or a or (b and c)", "warning"))

    def in_text(self, node: ast.Compare) -> None:
        for op, right in zip(node.ops, node.comparators, strict=True):
            if (isinstance(op, (ast.In, ast.NotIn)) and isinstance(right, ast.Constant)
                    and isinstance(right.value, str) and self.bracketed(right)):
                shown = repr(right.value)
                self.problems.append(Problem(
                    self.where(right), "expr-in-bracketed-text",
                    f"({shown}) is one text in brackets, not a list: 'in' tests whether the "
                    f"value is part of the text {shown} (a substring), not whether it equals it",
                    f"write a list: [{shown}]", "warning"))

    def condition(self, node: ast.expr) -> None:
        """A number or text as the condition (or as an operand of and/or)."""
        if isinstance(node, ast.BoolOp):
            for value in node.values:
                self.condition(value)
            return
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id in ("len", "days_since", "days_until", "abs", "round")):
            name = node.func.id
            self.problems.append(Problem(
                self.where(node), "expr-value-as-condition",
                f"the condition is {name}(...), a number used as true/false: any result but "
                "0 counts as true", f"compare it, as in {name}(...) > 0", "warning"))
            return
        if isinstance(node, ast.BinOp):
            self.problems.append(Problem(
                self.where(node), "expr-value-as-condition",
                "the condition is arithmetic, a number used as true/false: any result but 0 "
                "counts as true", "compare the result, as in deal.amount * 2 > 1000",
                "warning"))
            return
        read = self.analysis.reads.get(node)
        if read is None or read.root != "deal" or self.known is None:
            return
        declared = set(self.known.get(read.field) or ()) - {"null"}
        name = f"deal.{read.field}"
        if declared and declared <= {"integer", "number"}:
            self.problems.append(Problem(
                self.where(node), "expr-value-as-condition",
                f"the condition is {name}, a number used as true/false: any number but 0 "
                "counts as true", f"compare it, as in {name} > 0, or test presence with "
                f"has({name})", "warning"))
        elif declared == {"string"}:
            self.problems.append(Problem(
                self.where(node), "expr-value-as-condition",
                f"the condition is {name}, a text used as true/false: any text but '' "
                "counts as true", f"compare it, as in {name} == '...', or test presence "
                f"with has({name})", "warning"))


def _risk_checkpoints(policy: Policy, where: _Where) -> list[Problem]:
    out: list[Problem] = []
    finals = {s.id for s in policy.stages if s.final}
    for r in policy.risks:
        for j, cp in enumerate(r.at):
            if cp.kind == "leave" and cp.target in finals:
                index = where.risk_index(r.location, r.id)
                at = r.location if index is None else where.value(r.location,
                                                                  ("risks", index, "at", j))
                out.append(Problem(
                    at, "risk-never-checked",
                    f"risk '{r.id}' is checked at 'leave {cp.target}', but '{cp.target}' is "
                    "final: no deal ever leaves it",
                    "check it at 'enter' a stage, 'on' a trigger or 'always'", "warning"))
    return out


# ---------------------------------------------------------------- approval gates


def _gate_problems(policy: Policy, where: _Where) -> list[Problem]:
    out: list[Problem] = []
    known = policy.known_fields
    for gate in policy.gates:
        at = where.key(gate.location, ("approvals", gate.id))
        out.extend(_gate_separation(gate, known, at))
        out.extend(_gate_approvers(gate, known, at))
        if gate.count > len(gate.roles):
            out.append(Problem(
                at, "gate-count-exceeds-roles",
                f"gate '{gate.id}' needs {gate.count} distinct approvers but names only "
                f"{len(gate.roles)} role(s): at least two approvers must share a role",
                "make sure enough people hold these roles, or lower 'count'", "info"))
    return out


def _gate_approvers(gate: Gate, known: KnownFields | None, at: Location) -> Iterator[Problem]:
    """A named approver's field must be able to hold a user id, and must not be a party the
    gate keeps separate (``approvers: [deal.owner]`` with ``separate_from: [owner]``)."""
    separate = {"deal.owner" if p == "owner" else p for p in gate.separate_from}
    for name in gate.approvers:
        if name in separate:
            yield Problem(
                at, "gate-approver-separated",
                f"gate '{gate.id}' takes the approval of the person named in {name} and keeps "
                f"approvals separate from {name}: no approval can ever count",
                f"remove {name} from approvers or from separate_from", "error")
        types = known.get(name.removeprefix("deal.")) if known is not None else None
        if types and not types & {"string", "array", "integer", "number"}:
            yield Problem(
                at, "gate-approver-type",
                f"gate '{gate.id}' takes the approver from {name}, which deal_schema declares "
                f"as {' or '.join(sorted(types))}: it cannot hold a user id, so no approval "
                "counts", "name a field holding a user id (a string) or a list of them",
                "warning")


def _gate_separation(gate: Gate, known: KnownFields | None, at: Location) -> Iterator[Problem]:
    parties: dict[str, str] = {}
    for name in gate.separate_from:
        person = "owner" if name in ("owner", "deal.owner") else name
        if person in parties:
            yield Problem(
                at, "gate-separation-duplicate",
                f"gate '{gate.id}' lists '{parties[person]}' and '{name}', the same person",
                "list each party once", "warning")
        parties[person] = name
        if known is None or not name.startswith("deal."):
            continue
        types = known.get(name.removeprefix("deal."))
        if types and "string" not in types:
            yield Problem(
                at, "gate-separation-type",
                f"gate '{gate.id}' keeps approvals separate from {name}, which deal_schema "
                f"declares as {' or '.join(sorted(types))}: it can never equal an approver's "
                "id, so this separation of duties is never enforced",
                "name a field holding a user id (a string)", "warning")


# ---------------------------------------------------------------- deal schema's stages


def _stage_enum_problems(policy: Policy, where: _Where) -> list[Problem]:
    """The policy's stages against the deal schema's ``stage`` enum: a stage it lacks makes
    every deal in that stage fail the schema (error); a value no stage has is a leftover
    or a typo (warning)."""
    from cycleflow.validate.deal_schema import enum_value_position, stage_enum

    if policy.deal_schema is None:
        return []
    allowed = stage_enum(policy.deal_schema)
    if allowed is None:
        return []
    main = where.docs.get(policy.path)
    shown = _schema_name(policy, where)
    out: list[Problem] = []
    ids = [s.id for s in policy.stages]
    for stage in policy.stages:
        if stage.id not in allowed:
            out.append(Problem(
                where.key(stage.location, ("stages", stage.id)), "stage-not-in-deal-schema",
                f"stage '{stage.id}' is not in the stage enum of deal_schema {shown}: every "
                "deal in this stage fails the deal schema",
                f"add '{stage.id}' to the schema's stage enum (properties.stage.enum)"))
    fallback = (main.source_map.locate(("deal_schema",)) if main is not None
                else Location(policy.path, 1, 1))
    text = _read_text(policy.deal_schema_path)
    former = {old for s in policy.stages for old in s.formerly}
    for value in allowed:
        if value in ids or value in former:  # a deal saying a former id is read as the
            continue  # current one before the schema is checked: harmless until migrated
        at = fallback
        found = enum_value_position(text, value) if text is not None else None
        if found is not None and policy.deal_schema_path is not None:
            at = Location(shown_path(policy.deal_schema_path), *found)
        hint = did_you_mean(value, ids)
        out.append(Problem(
            at, "deal-schema-unknown-stage",
            f"the stage enum of deal_schema {shown} lists '{value}', which is no stage of "
            "the policy: a deal in it is refused by the engine as an unknown stage",
            f"{hint} (rename it in the schema's stage enum)" if hint
            else "remove it from the schema's stage enum, or add the stage to the policy",
            "warning"))
    return out


def _schema_name(policy: Policy, where: _Where) -> str:
    """The deal schema as the policy names it (``deal_schema:``), for messages."""
    main = where.docs.get(policy.path)
    named = main.data.get("deal_schema") if main is not None and isinstance(
        main.data, Mapping) else None
    return str(named or policy.deal_schema_path or "deal_schema")


def _step_enum_problems(policy: Policy, where: _Where) -> list[Problem]:
    """The policy's steps against the step ids the deal schema allows in ``steps``: a step
    it lacks makes every deal that records the step fail the schema (an error, which names
    the schema's nearest unused id when the step looks renamed in the policy only). Ids the
    schema allows and no stage asks for are not reported: a shared schema may list steps
    of other policies, and a deal recording one is judged as if it were not done."""
    from cycleflow.validate.deal_schema import step_enums

    if policy.deal_schema is None:
        return []
    forms = step_enums(policy.deal_schema)
    if not forms:
        return []
    shown = _schema_name(policy, where)
    form_words = {"items": "the list form (steps.items)",
                  "propertyNames": "the map form (steps.propertyNames)"}
    ids = {step.id for s in policy.stages for step in s.steps}
    unused = [v for v in dict.fromkeys(v for a in forms.values() for v in a) if v not in ids]
    out: list[Problem] = []
    for stage in policy.stages:
        for step in stage.steps:
            missing = [form_words[f] for f, allowed in forms.items() if step.id not in allowed]
            if not missing:
                continue
            close = difflib.get_close_matches(step.id, unused, n=1, cutoff=0.6)
            hint = (f"; it lists '{close[0]}', which no stage asks for: if the step was "
                    "renamed, rename it there too" if close else "")
            out.append(Problem(
                step.location, "step-not-in-deal-schema",
                f"step '{step.id}' is not among the step ids deal_schema {shown} allows in "
                f"{' and '.join(missing)}: every deal that records the step fails the deal "
                "schema", f"add '{step.id}' to the schema's step ids{hint}"))
    return out


def _read_text(path: str | None) -> str | None:
    """The text of a file already read once (the deal schema), or None if it cannot be read."""
    if path is None:
        return None
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except (OSError, UnicodeDecodeError):
        return None


def did_you_mean(word: str, options: Sequence[str]) -> str | None:
    """``did you mean 'x'?`` for the closest of ``options``, or None."""
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else None


# ---------------------------------------------------------------- expression types


# ---------------------------------------------------------------- labels


def _text_maps(data: Any, path: Path = ()) -> Iterator[tuple[Path, Mapping[str, Any]]]:
    """Every label or message written as a language map (a mapping holding ``en``)."""
    if isinstance(data, Mapping):
        if "en" in data and all(isinstance(v, str) for v in data.values()):
            yield path, data
            return
        for key, value in data.items():
            yield from _text_maps(value, (*path, str(key)))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            yield from _text_maps(value, (*path, i))


_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _strings(data: Any, path: Path = ()) -> Iterator[tuple[Path, str]]:
    """Every text value of a raw policy document, with its path."""
    if isinstance(data, str):
        yield path, data
    elif isinstance(data, Mapping):
        for key, value in data.items():
            yield from _strings(value, (*path, str(key)))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            yield from _strings(value, (*path, i))


def _control_characters(docs: Sequence[Document]) -> list[Problem]:
    """A control or bidi-override character in a policy's text (written with a YAML
    escape such as "\\e"): outputs show it escaped, but it has no place in a label,
    message or version, and in a terminal it could retitle or clear the screen."""
    out: list[Problem] = []
    for doc in docs:
        for path, text in _strings(doc.data):
            found = _CONTROL.search(text)
            if found:
                out.append(Problem(
                    doc.source_map.locate(path), "control-character",
                    f"this text holds U+{ord(found.group()):04X}, a control character",
                    "remove it: a YAML escape such as \\e or \\x1b writes one", "warning"))
    return out


def _language_typos(docs: Sequence[Document]) -> list[Problem]:
    """A language code used rarely beside a similar one used often (``ch`` beside ``zh``):
    the text in it is never shown, since ``--lang zh`` falls back to English there."""
    uses: dict[str, list[tuple[Document, Path]]] = {}
    for doc in docs:
        for path, texts in _text_maps(doc.data):
            for code in texts:
                if code != "en" and not str(code).startswith("x-"):
                    uses.setdefault(str(code), []).append((doc, (*path, code)))
    out: list[Problem] = []
    for code, places in uses.items():
        common = [c for c in uses if len(uses[c]) >= 2 * len(places) and c != code]
        close = difflib.get_close_matches(code, common, n=1, cutoff=0.5)
        if not close:
            continue
        for doc, path in places:
            out.append(Problem(
                doc.source_map.locate_key(path), "label-language",
                f"language '{code}' is used {len(places)} time(s), '{close[0]}' "
                f"{len(uses[close[0]])} times: with --lang {close[0]} this text is never "
                "shown", f"did you mean '{close[0]}'?", "warning"))
    return out


#: The keys whose value is a label: a plain (English) text or a language map.
_LABEL_KEYS = frozenset({"label", "message", "title", "description"})


def _labels(data: Any, path: Path = ()) -> Iterator[tuple[Path, str | Mapping[str, Any]]]:
    """Every label, message, title and description written in a raw policy document."""
    if isinstance(data, Mapping):
        for key, value in data.items():
            if str(key).startswith("x-"):  # extension keys: ignored by format 1
                continue
            here = (*path, str(key))
            if key in _LABEL_KEYS and (isinstance(value, str) or (
                    isinstance(value, Mapping) and all(isinstance(v, str)
                                                       for v in value.values()))):
                yield here, value
            else:
                yield from _labels(value, here)
    elif isinstance(data, list):
        for i, value in enumerate(data):
            yield from _labels(value, (*path, i))


def _missing_languages(docs: Sequence[Document]) -> list[Problem]:
    """A label or message without a language most of the policy's texts have (``zh``):
    ``--lang zh`` shows its English text in the middle of Chinese ones."""
    found = [(doc, path, value) for doc in docs for path, value in _labels(doc.data)]
    if len(found) < 2:
        return []
    uses: dict[str, int] = {}
    for _, _, value in found:
        for code in value if isinstance(value, Mapping) else ("en",):
            uses[str(code)] = uses.get(str(code), 0) + 1
    wanted = [code for code, n in uses.items()
              if code != "en" and not code.startswith("x-") and n >= 2 and 2 * n >= len(found)]
    out: list[Problem] = []
    for doc, path, value in found:
        have = set(map(str, value)) if isinstance(value, Mapping) else {"en"}
        missing = [code for code in wanted if code not in have
                   and not difflib.get_close_matches(code, sorted(have - set(wanted)), cutoff=0.5)]
        if not missing:  # ('ch' written for 'zh' is label-language's warning, not a gap)
            continue
        codes = ", ".join(f"'{c}'" for c in missing)
        written = "is plain text" if isinstance(value, str) else "has no " + codes
        out.append(Problem(
            doc.source_map.locate(path), "label-missing-language",
            f"this {path[-1]} {written}, while {uses[missing[0]]} of the policy's "
            f"{len(found)} texts have '{missing[0]}': --lang {missing[0]} shows its English "
            "text among the translated ones",
            "write it as a language map: {en: ..., " + ", ".join(f"{c}: ..." for c in missing)
            + "}", "warning"))
    return out


#: ``{discount_pct}``, ``{deal.amount}``: what a template placeholder looks like.
_PLACEHOLDER = re.compile(r"\{[A-Za-z_][\w.]*\}")


def _placeholders(docs: Sequence[Document]) -> list[Problem]:
    """A message with ``{field}`` in it: messages are not templates, so the braces are shown
    as written; the values a rule read are reported beside its message."""
    out: list[Problem] = []
    for doc in docs:
        for path, value in _labels(doc.data):
            texts = value.items() if isinstance(value, Mapping) else [("", value)]
            for code, text in texts:
                found = _PLACEHOLDER.search(str(text))
                if found is None:
                    continue
                where = (*path, str(code)) if code else path
                out.append(Problem(
                    doc.source_map.locate(where), "label-placeholder",
                    f"{found.group()} is shown as written: labels and messages are not "
                    "templates",
                    "write the text without it: every violation and audit event reports the "
                    "values its rule read (values) beside the message", "warning"))
                break  # one warning per label
    return out


def _expression_paths(data: Any) -> Iterator[Path]:
    """The path of every ``when:`` expression in a raw policy document."""
    if not isinstance(data, Mapping):
        return
    stages = data.get("stages")
    if isinstance(stages, Mapping):
        for sid, raw in stages.items():
            if isinstance(raw, Mapping) and isinstance(raw.get("entry"), list):
                for i, item in enumerate(raw["entry"]):
                    if isinstance(item, Mapping) and "when" in item:
                        yield ("stages", sid, "entry", i, "when")
    transitions = data.get("transitions")
    if isinstance(transitions, list):
        for i, raw in enumerate(transitions):
            if isinstance(raw, Mapping) and isinstance(raw.get("when"), list):
                for j, item in enumerate(raw["when"]):
                    if isinstance(item, Mapping) and "when" in item:
                        yield ("transitions", i, "when", j, "when")
    risks = data.get("risks")
    if isinstance(risks, list):
        for i, raw in enumerate(risks):
            if isinstance(raw, Mapping) and "when" in raw:
                yield ("risks", i, "when")


def _value_at(data: Any, path: Path) -> Any:
    node = data
    for key in path:
        node = node[key]
    return node


def expression_warnings(docs: Sequence[Document], known: KnownFields) -> list[Problem]:
    """Type problems of every expression, located precisely: ``expr-type-mismatch``
    warnings and ``expr-type-always-fails`` errors."""
    out: list[Problem] = []
    for doc in docs:
        sm = doc.source_map
        for path in _expression_paths(doc.data):
            source = _value_at(doc.data, path)
            if not isinstance(source, str):
                continue
            locate: Callable[[int], Location] = _locator(sm.locate_in_scalar, path)
            problems = check_expression(source, sm.locate(path), known_fields=known, locate=locate)
            # a type error is a load error too, but loading may stop before expressions
            out.extend(p for p in problems
                       if p.severity != "error" or p.code == "expr-type-always-fails")
    return out


def _locator(fn: Callable[[Path, int], Location], path: Path) -> Callable[[int], Location]:
    return lambda offset: fn(path, offset)


def stage_by_id(policy: Policy) -> dict[str, Stage]:
    """The policy's stages by id."""
    return {s.id: s for s in policy.stages}
