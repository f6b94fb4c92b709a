"""Impact of a policy change: judge every deal under both policies, and diff the policies' meaning.

The deals are read once (the batch readers of ``cycleflow check``, same formats) and each
record is judged by both engines (``cycleflow.batch.runner.judge``). The semantic diff
compares the two policy models — stages, steps, entry criteria, transitions, risks, gates —
never their text.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from cycleflow.batch.readers import iter_records
from cycleflow.batch.runner import judge
from cycleflow.decide.engine import Engine
from cycleflow.errors import UsageError
from cycleflow.model.policy import Criterion, Gate, Policy, Risk, Stage, Transition

# --------------------------------------------------------------------------- verdict changes


@dataclass
class DealChange:
    """How one deal's verdict differs between the old and the new policy."""

    deal: str | None
    where: str
    old: str
    new: str
    change: str                      # new_violation | resolved | changed | error | warnings
    added: list[str] = field(default_factory=list)       # rules newly violated
    removed: list[str] = field(default_factory=list)     # rules no longer violated
    new_approvals: list[str] = field(default_factory=list)
    approvals_by: list[str] = field(default_factory=list)  # the rules asking for them
    new_warnings: list[str] = field(default_factory=list)
    gone_warnings: list[str] = field(default_factory=list)
    responsible: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return dict(self.__dict__)


def _asked_by(verdict: Mapping[str, Any]) -> dict[str, list[str]]:
    """Gate → the risks that ask for it (empty when only a transition does)."""
    return {a["gate"]: [b for b in a.get("because", []) if not b.startswith("transition ")]
            for a in verdict.get("approvals_needed", [])}


def _violated(verdict: Mapping[str, Any]) -> dict[str, list[str]]:
    """Violated rule → the rules responsible (an approval violation → the risks needing it)."""
    because = _asked_by(verdict)
    out: dict[str, list[str]] = {}
    for v in verdict.get("violations", []):
        rule = str(v["rule"])
        out[rule] = (because.get(rule) or [rule]) if v.get("kind") == "approval" else [rule]
    return out


def compare(old: Mapping[str, Any], new: Mapping[str, Any]) -> DealChange | None:
    """The change between two verdict dicts of the same record, or None when equal."""
    ov, nv = _violated(old), _violated(new)
    og = {a["gate"] for a in old.get("approvals_needed", [])}
    ng = {a["gate"] for a in new.get("approvals_needed", [])}
    ow = {w["rule"] for w in old.get("warnings", [])}
    nw = {w["rule"] for w in new.get("warnings", [])}
    if old["verdict"] == new["verdict"] and ov.keys() == nv.keys() and og == ng and ow == nw:
        return None
    a, n = old["verdict"], new["verdict"]
    if "error" in (a, n):
        change = "error"
    elif a == "compliant" and n == "violation":
        change = "new_violation"
    elif a == "violation" and n == "compliant":
        change = "resolved"
    elif ov.keys() != nv.keys() or og != ng:
        change = "changed"
    else:
        change = "warnings"
    if change == "error":  # a side that was not judged has no violations to compare
        nv, ov = {}, {}
    added = sorted(set(nv) - set(ov))
    removed = sorted(set(ov) - set(nv))
    responsible: list[str] = []
    for rule in added:
        responsible.extend(nv[rule])
    for rule in removed:
        responsible.extend(ov[rule])
    responsible.extend(sorted(nw ^ ow))
    asked = _asked_by(new)
    approvals_by = [rule for gate in sorted(ng - og) for rule in (asked.get(gate) or [gate])]
    return DealChange(
        deal=new.get("deal") or old.get("deal"), where=_where(old, new),
        old=a, new=n, change=change, added=added, removed=removed,
        new_approvals=sorted(ng - og), approvals_by=list(dict.fromkeys(approvals_by)),
        new_warnings=sorted(nw - ow),
        gone_warnings=sorted(ow - nw), responsible=list(dict.fromkeys(responsible)))


def _where(old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    """``source:line`` of a record (just ``source`` for an error about a whole source)."""
    source = new.get("source") or old.get("source") or ""
    record = new.get("record") or old.get("record")
    return f"{source}:{record}" if record else str(source)


@dataclass
class RecordError:
    """A record that could not be read, or could not be judged under one or both policies."""

    deal: str | None
    where: str
    old: str | None                  # the old policy's error, None when it judged the record
    new: str | None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return dict(self.__dict__)

    def describe(self) -> str:
        """One line: where, and why (once when both policies give the same reason)."""
        if self.old == self.new:
            why = str(self.old)
        elif self.old is None:
            why = f"new policy: {self.new}"
        elif self.new is None:
            why = f"old policy: {self.old}"
        else:
            why = f"old policy: {self.old}; new policy: {self.new}"
        return f"{self.where}{f' ({self.deal})' if self.deal else ''}: {why}"


def check_sources(sources: Sequence[str]) -> None:
    """UsageError naming the first deals path that does not exist: a typo is not 0 deals."""
    for source in sources:
        if source != "-" and not os.path.exists(source):
            raise UsageError(f"no such deals file or directory: {source}")


def judge_both(old: Engine, new: Engine, sources: Sequence[str],
               now: datetime) -> Iterable[tuple[dict[str, Any], dict[str, Any]]]:
    """Every record's verdict under both engines, in input order (records read once)."""
    from cycleflow.batch.parallel import field_types

    types = field_types(new) or field_types(old)
    for item in iter_records(list(sources), field_types=types):
        yield judge(old, item, now=now), judge(new, item, now=now)


@dataclass
class Impact:
    """The whole impact: counts, changed deals, groups by responsible rule, policy diff."""

    deals: int = 0
    old_violations: int = 0
    new_violations_total: int = 0
    errors: list[RecordError] = field(default_factory=list)
    changes: list[DealChange] = field(default_factory=list)
    diff: list[dict[str, Any]] = field(default_factory=list)
    old_policy: dict[str, str] = field(default_factory=dict)
    new_policy: dict[str, str] = field(default_factory=dict)

    def count(self, change: str) -> int:
        """How many deals changed this way."""
        return sum(1 for c in self.changes if c.change == change)

    @property
    def newly_violating(self) -> list[DealChange]:
        """Deals compliant under the old policy and in violation under the new one."""
        return [c for c in self.changes if c.change == "new_violation"]

    def groups(self) -> list[dict[str, Any]]:
        """Changed deals grouped by the rule responsible, with counts."""
        groups: dict[str, dict[str, Any]] = {}
        for c in self.changes:
            for rule in c.responsible or ["(verdict error)"]:
                g = groups.setdefault(rule, {"rule": rule, "new_violations": 0, "resolved": 0,
                                             "changed": 0, "new_approvals": 0,
                                             "warnings": 0, "errors": 0, "deals": []})
                key = {"new_violation": "new_violations", "resolved": "resolved",
                       "changed": "changed", "warnings": "warnings",
                       "error": "errors"}[c.change]
                g[key] += 1
                if rule in c.approvals_by:  # only the rules that ask for the approval
                    g["new_approvals"] += 1
                g["deals"].append(c.deal)
        return sorted(groups.values(), key=lambda g: (-len(g["deals"]), g["rule"]))

    def to_dict(self) -> dict[str, Any]:
        """The JSON report."""
        return {
            "old_policy": self.old_policy, "new_policy": self.new_policy,
            "deals": self.deals,
            "summary": {"changed": len(self.changes),
                        "new_violations": self.count("new_violation"),
                        "resolved": self.count("resolved"), "changed_rules": self.count("changed"),
                        "warnings_only": self.count("warnings"), "errors": len(self.errors),
                        "violations_before": self.old_violations,
                        "violations_after": self.new_violations_total},
            "by_rule": self.groups(),
            "changes": [c.to_dict() for c in self.changes],
            "errors": [e.to_dict() for e in self.errors],
            "policy_diff": self.diff,
        }


def impact(old: Engine, new: Engine, sources: Sequence[str], now: datetime) -> Impact:
    """Judge every deal under both policies and collect what changes, and what could not be judged.

    UsageError when a source path does not exist; unreadable records are counted in ``errors``.
    """
    check_sources(sources)
    result = Impact(old_policy=_ident(old.policy), new_policy=_ident(new.policy),
                    diff=policy_diff(old.policy, new.policy))
    for before, after in judge_both(old, new, sources, now):
        result.deals += 1
        judged = "error" not in (before["verdict"], after["verdict"])
        result.old_violations += judged and before["verdict"] == "violation"
        result.new_violations_total += judged and after["verdict"] == "violation"
        if not judged:
            result.errors.append(RecordError(
                after.get("deal") or before.get("deal"), _where(before, after),
                before.get("error"), after.get("error")))
        change = compare(before, after)
        if change is not None:
            result.changes.append(change)
    return result


def _ident(policy: Policy) -> dict[str, str]:
    return {"id": policy.id, "version": policy.version, "path": policy.path}


# --------------------------------------------------------------------------- semantic diff


def _label(label: Any) -> Any:
    return None if label is None else label.as_dict()


def _criterion(c: Criterion) -> dict[str, Any]:
    return {"when": c.when.source, "severity": c.severity, "message": _label(c.message)}


def _stage(s: Stage) -> dict[str, Any]:
    return {"label": _label(s.label), "position": s.index, "initial": s.initial,
            "final": s.final, "outcome": s.outcome,
            "max_days": None if s.max_days is None else
            {"days": s.max_days.days, "then": s.max_days.action}}


def _transition(t: Transition) -> dict[str, Any]:
    return {"from": sorted(t.sources), "to": t.target,
            "when": {c.id: c.when.source for c in t.when}, "require": list(t.require),
            "approve": list(t.approve), "check_steps": t.check_steps, "label": _label(t.label)}


def _risk(r: Risk) -> dict[str, Any]:
    then = f"approve {r.gate}" if r.action == "approve" else r.action
    return {"when": r.when.source, "at": [str(a) for a in r.at], "severity": r.severity,
            "then": then, "message": _label(r.message), "label": _label(r.label)}


def _gate(g: Gate) -> dict[str, Any]:
    return {"roles": sorted(g.roles), "count": g.count, "separate_from": sorted(g.separate_from),
            "approvers": list(g.approvers), "after": sorted(g.after),
            "valid_days": g.valid_days, "binds": sorted(g.binds),
            "label": _label(g.label)}


def _diff_maps(kind: str, old: Mapping[str, dict[str, Any]], new: Mapping[str, dict[str, Any]],
               out: list[dict[str, Any]]) -> None:
    for key in old:
        if key not in new:
            out.append({"kind": kind, "id": key, "change": "removed", "old": old[key]})
    for key in new:
        if key not in old:
            out.append({"kind": kind, "id": key, "change": "added", "new": new[key]})
            continue
        fields = {f: {"old": old[key].get(f), "new": new[key].get(f)}
                  for f in dict.fromkeys([*old[key], *new[key]])
                  if old[key].get(f) != new[key].get(f)}
        if fields:
            out.append({"kind": kind, "id": key, "change": "changed", "fields": fields})


def policy_diff(old: Policy, new: Policy) -> list[dict[str, Any]]:
    """What changed in meaning between two policies: one entry per added/removed/changed item."""
    out: list[dict[str, Any]] = []
    head_old = {"id": old.id, "version": old.version, "title": _label(old.title),
                "sensitive": sorted(old.sensitive), "deal_schema": _schema_text(old)}
    head_new = {"id": new.id, "version": new.version, "title": _label(new.title),
                "sensitive": sorted(new.sensitive), "deal_schema": _schema_text(new)}
    if old.deal_schema == new.deal_schema:  # the same rules, if not the same bytes (a reformat)
        head_old["deal_schema"] = head_new["deal_schema"]
    _diff_maps("policy", {"policy": head_old}, {"policy": head_new}, out)
    _diff_maps("stage", {s.id: _stage(s) for s in old.stages},
               {s.id: _stage(s) for s in new.stages}, out)
    _diff_maps("step", {st.id: {"stage": s.id, "label": _label(st.label)}
                        for s in old.stages for st in s.steps},
               {st.id: {"stage": s.id, "label": _label(st.label)}
                for s in new.stages for st in s.steps}, out)
    _diff_maps("entry", {c.id: {"stage": s.id, **_criterion(c)}
                         for s in old.stages for c in s.entry},
               {c.id: {"stage": s.id, **_criterion(c)} for s in new.stages for c in s.entry},
               out)
    _diff_maps("transition", {_tkey(t): _transition(t) for t in old.transitions},
               {_tkey(t): _transition(t) for t in new.transitions}, out)
    _diff_maps("risk", {r.id: _risk(r) for r in old.risks}, {r.id: _risk(r) for r in new.risks},
               out)
    _diff_maps("gate", {g.id: _gate(g) for g in old.gates}, {g.id: _gate(g) for g in new.gates},
               out)
    return out


def _schema_text(policy: Policy) -> str | None:
    """The deal schema as a short text: its file and the SHA-256 of its bytes, as
    ``cycleflow hash`` prints it, so a schema that now refuses records shows in the diff
    that explains their errors, under a digest an auditor can match."""
    if policy.deal_schema is None:
        return None
    digests = [f.sha256 for f in policy.sources if f.role == "deal_schema"]
    digest = digests[0] if digests else hashlib.sha256(
        orjson.dumps(policy.deal_schema, option=orjson.OPT_SORT_KEYS)).hexdigest()
    name = os.path.basename(policy.deal_schema_path or "deal schema")
    return f"{name} (sha256 {digest[:12]})"


def _tkey(t: Transition) -> str:
    return f"{t.trigger} → {t.target}"


# --------------------------------------------------------------------------- rendering


def _v(value: Any) -> str:
    if isinstance(value, str):
        return value
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def _diff_lines(diff: Sequence[Mapping[str, Any]],
                code: Callable[[Any], str] = str) -> list[str]:
    """One line per policy change; ``code`` renders each id and value (a code span in
    Markdown, as it is in text)."""
    lines = []
    for d in diff:
        head = "policy" if d["kind"] == "policy" else f"{d['kind']} {code(d['id'])}"
        if d["change"] == "added":
            lines.append(f"{head} added")
        elif d["change"] == "removed":
            lines.append(f"{head} removed")
        else:
            parts = [f"{f}: {code(_v(c['old']))} → {code(_v(c['new']))}"
                     for f, c in d["fields"].items()]
            lines.append(f"{head} changed: " + "; ".join(parts))
    return lines


def _change_text(c: DealChange) -> str:
    if c.change == "error":
        side = "new" if c.new == "error" else "old"
        return f"could not be judged under the {side} policy (see the records not judged)"
    bits = []
    if c.added:
        bits.append("now violates " + ", ".join(c.added))
    if c.removed:
        bits.append("no longer violates " + ", ".join(c.removed))
    if c.new_approvals:
        bits.append("newly needs approval " + ", ".join(c.new_approvals))
    if c.new_warnings:
        bits.append("new warning " + ", ".join(c.new_warnings))
    if c.gone_warnings:
        bits.append("warning gone " + ", ".join(c.gone_warnings))
    return "; ".join(bits) or f"{c.old} → {c.new}"


def unbumped_version(result: Impact) -> bool:
    """Whether the policy changed in meaning while keeping its id and ``version:``: audit
    events and reports record the version, so the two policies would read as one."""
    old, new = result.old_policy, result.new_policy
    return bool(result.diff) and old.get("id") == new.get("id") and (
        old.get("version") == new.get("version"))


def _version_note(result: Impact, code: Callable[[Any], str] = str,
                  cell: Callable[[Any], str] = str) -> str:
    """The note suggesting a new ``version:`` (``code``/``cell`` render for Markdown)."""
    return (f"the policy changed in meaning but its version is still "
            f"{cell(result.new_policy['version'])}: bump {code('version:')} in "
            f"{code(result.new_policy['path'])} so that audit events and reports tell the two "
            "policies apart")


def _quoted(text: Any) -> str:
    return f"'{text}'"


def render_text(result: Impact, limit: int = 50) -> str:
    """A plain-text report for a terminal (at most ``limit`` unjudged records listed)."""
    s = result.to_dict()["summary"]
    out = [f"impact of {result.new_policy['path']} ({result.new_policy['version']}) "
           f"over {result.old_policy['path']} ({result.old_policy['version']})",
           *([f"note: {_version_note(result, _quoted)}"] if unbumped_version(result) else []),
           f"{result.deals} records ({result.deals - s['errors']} judged): {s['changed']} change, "
           f"{s['new_violations']} newly violating, {s['resolved']} resolved, "
           f"{s['changed_rules']} with other rules, {s['warnings_only']} warnings only, "
           f"{s['errors']} errors "
           f"(violations {s['violations_before']} → {s['violations_after']})", "",
           "by rule:"]
    for g in result.groups():
        out.append(f"  {g['rule']}: {len(g['deals'])} deals ({g['new_violations']} new "
                   f"violations, {g['resolved']} resolved, {g['new_approvals']} new approvals)")
    out += ["", "deals:"]
    for c in result.changes:
        out.append(f"  {c.deal} ({c.where}): {c.old} → {c.new}: {_change_text(c)}")
    if result.errors:
        out += ["", f"records not judged ({len(result.errors)}):"]
        out += [f"  {e.describe()}" for e in result.errors[:limit]]
        if len(result.errors) > limit:
            out.append(f"  … {len(result.errors) - limit} more (--format json lists all)")
    out += ["", "policy changes:"]
    out += [f"  {line}" for line in _diff_lines(result.diff)] or ["  (none in meaning)"]
    return "\n".join(out) + "\n"


def _md_code(text: Any) -> str:
    """``text`` as an inline code span that survives a GFM table cell: ``|`` escaped, a
    fence longer than any run of backticks inside, line breaks as spaces."""
    body = " ".join(str(text).splitlines()).replace("|", "\\|")
    longest = max((len(m) for m in re.findall("`+", body)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if body.startswith("`") or body.endswith("`") else ""
    return f"{fence}{pad}{body}{pad}{fence}"


_MD_SPECIAL = re.compile(r"([\\`*_\[\]|#!~])")


def _md_cell(text: Any) -> str:
    """Policy- or deal-supplied text as plain Markdown on one line (a table cell, a
    heading, a list item): line breaks as spaces, HTML (``<!--`` hid the rest of a
    comment) and Markdown punctuation escaped."""
    body = " ".join(str(text).splitlines())
    body = body.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_SPECIAL.sub(r"\\\1", body)


def render_markdown(result: Impact, limit: int = 200) -> str:
    """Markdown for a pull-request comment."""
    s = result.to_dict()["summary"]
    icon = "⚠️" if s["new_violations"] else "✅"
    out = [f"### {icon} Policy impact: {_md_code(result.old_policy['id'])} "
           f"{_md_cell(result.old_policy['version'])} → "
           f"{_md_cell(result.new_policy['version'])}", "",
           *([f"> **Note:** {_version_note(result, _md_code, _md_cell)}", ""]
             if unbumped_version(result) else []),
           f"**{result.deals - s['errors']}** of {result.deals} records judged under both "
           f"versions: **{s['changed']}** change — "
           f"**{s['new_violations']}** newly violating, **{s['resolved']}** resolved, "
           f"{s['changed_rules']} with other rules, {s['warnings_only']} warnings only, "
           f"{s['errors']} errors. Violations: {s['violations_before']} → "
           f"{s['violations_after']}.", ""]
    groups = result.groups()
    if groups:
        out += ["#### By rule", "", "| rule | deals | new violations | resolved | "
                "new approvals |", "| --- | ---: | ---: | ---: | ---: |"]
        out += [f"| {_md_code(g['rule'])} | {len(g['deals'])} | {g['new_violations']} | "
                f"{g['resolved']} | {g['new_approvals']} |" for g in groups]
        out.append("")
    if result.changes:
        out += ["<details><summary>Changed deals</summary>", "",
                "| deal | before | after | what changed |", "| --- | --- | --- | --- |"]
        for c in result.changes[:limit]:
            out.append(f"| {_md_code(c.deal)} | {c.old} | {c.new} | {_md_cell(_change_text(c))} |")
        if len(result.changes) > limit:
            out.append(f"| … | | | {len(result.changes) - limit} more |")
        out += ["", "</details>", ""]
    if result.errors:
        out += [f"#### ❌ {len(result.errors)} records not judged", ""]
        out += [f"- {_md_cell(e.describe())}" for e in result.errors[:limit]]
        if len(result.errors) > limit:
            out.append(f"- … {len(result.errors) - limit} more")
        out.append("")
    out += ["#### Policy changes (semantic)", ""]
    out += [f"- {line}" for line in _diff_lines(result.diff, _md_code)] or [
        "- none in meaning"]
    return "\n".join(out) + "\n"


__all__ = ["DealChange", "Impact", "RecordError", "check_sources", "compare", "impact",
           "judge_both", "policy_diff", "render_markdown", "render_text", "unbumped_version"]
