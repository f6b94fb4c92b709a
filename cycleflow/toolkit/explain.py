"""``cycleflow explain``: one decision or verdict in words a sales manager understands.

Built only on what the engine returns (``Decision`` / ``Verdict`` and their
``checks``) plus the policy model for labels; it never re-decides anything.
Every rule checked is listed with its expression, the values it read and
whether it passed, followed by what would make the transition allowed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

from cycleflow.decide.decision import ApprovalNeeded, Decision, RuleCheck, Verdict, Violation
from cycleflow.decide.phrases import lookup
from cycleflow.model.policy import Label, Policy
from cycleflow.textsafe import visible

# The fixed words of an explanation; the policy supplies labels and messages.
PHRASES: dict[str, dict[str, str]] = {
    "en": {
        "decision": "Decision", "check": "Check", "deal": "deal", "stage": "stage",
        "trigger": "trigger", "actor": "actor", "now": "at",
        "allowed": "ALLOWED", "blocked": "BLOCKED", "needs_approval": "NEEDS APPROVAL",
        "not_permitted": "NOT PERMITTED", "compliant": "COMPLIANT", "violation": "VIOLATION",
        "error": "ERROR", "pass": "passed", "fail": "failed", "skip": "skipped",
        "rules": "Rules checked", "reads": "read", "expression": "rule",
        "fired": "fired", "not_fired": "did not fire",
        "todo_decide": "What would make it allowed", "todo_check": "What would make it compliant",
        "nothing": "Nothing: every rule holds.", "warnings": "Warnings (do not block)",
        "do_step": "Do the step '{label}' ({id}) of stage '{stage}'.",
        "fill": "Fill in {field}.",
        "make_true": "Make this hold: {message} (rule {id}: {expr}; now {values}).",
        "undo_risk": "Resolve the risk '{label}': {message} (rule {id}: {expr} is true; now "
                     "{values}).",
        "get_approval": "Get {n} more approval(s) of '{label}' ({id}) from someone holding "
                        "{roles}{separate}.",
        "separate": ", who is not {parties}",
        "void": "Existing approvals that do not count: {reasons}",
        "because": "needed because of: {because}",
        "not_permitted_fix": "'{trigger}' cannot be used from stage '{stage}'. From here: "
                             "{options}.",
        "no_exit": "No trigger leaves stage '{stage}'.",
        "too_long": "The deal has stayed too long in '{stage}': move it on or close it.",
        "fix_record": "Fix the deal record: {message}",
        "requires": "'{trigger}' requires {field}",
        "approval_of": "{count} approval(s) of '{label}' from {roles}",
        "step_done": "step '{label}' done",
        "time_limit": "at most {days} days in '{stage}'",
        "and": " and ", "or": " or ", "owner": "the deal's owner", "requester":
        "the person asking",
        "missing": "missing",
    },
    "zh": {
        "decision": "决策", "check": "检查", "deal": "交易", "stage": "阶段",
        "trigger": "操作", "actor": "操作人", "now": "时间",
        "allowed": "允许", "blocked": "阻止", "needs_approval": "需要审批",
        "not_permitted": "不允许", "compliant": "合规", "violation": "违规",
        "error": "错误", "pass": "通过", "fail": "未通过", "skip": "跳过",
        "rules": "已检查的规则", "reads": "读取", "expression": "规则",
        "fired": "触发", "not_fired": "未触发",
        "todo_decide": "如何使其获准", "todo_check": "如何使其合规",
        "nothing": "无需操作：所有规则均满足。", "warnings": "警告（不阻止）",
        "do_step": "完成阶段“{stage}”的步骤“{label}”（{id}）。",
        "fill": "填写 {field}。",
        "make_true": "需满足：{message}（规则 {id}：{expr}；当前 {values}）。",
        "undo_risk": "消除风险“{label}”：{message}（规则 {id}：{expr} 成立；当前 {values}）。",
        "get_approval": "还需 {n} 个“{label}”（{id}）审批，审批人须具有角色 {roles}{separate}。",
        "separate": "，且不能是{parties}",
        "void": "不计入的已有审批：{reasons}",
        "because": "原因：{because}",
        "not_permitted_fix": "阶段“{stage}”不能使用操作“{trigger}”。可用操作：{options}。",
        "no_exit": "阶段“{stage}”没有可用操作。",
        "too_long": "交易在“{stage}”停留过久：请推进或关闭。",
        "fix_record": "修正交易记录：{message}",
        "requires": "“{trigger}”需要 {field}",
        "approval_of": "“{label}”需 {count} 个审批（{roles}）",
        "step_done": "步骤“{label}”已完成",
        "time_limit": "在“{stage}”最多 {days} 天",
        "and": "和", "or": "或", "owner": "交易负责人", "requester": "申请人",
        "missing": "缺失",
    },
}


def phrase(lang: str, key: str, **kw: Any) -> str:
    """A fixed phrase of ``explain`` in ``lang`` (English when the phrasebook lacks it)."""
    return lookup(PHRASES, lang, key, **kw)


@dataclass(frozen=True)
class RuleLine:
    """One rule the engine evaluated, in the policy's words."""

    rule: str
    kind: str
    outcome: str
    title: str
    expression: str | None
    values: Mapping[str, Any]
    effect: str | None
    severity: str


@dataclass(frozen=True)
class Explanation:
    """What the engine answered, rule by rule, and what to do about it."""

    mode: str  # decide | check
    result: str  # the outcome or verdict
    deal: str | None
    stage: str | None
    trigger: str | None
    target: str | None
    actor: str | None
    now: str | None
    rules: tuple[RuleLine, ...]
    todo: tuple[str, ...]
    warnings: tuple[str, ...] = ()
    other: tuple[str, ...] = field(default=())  # violations no rule check stands for
    lang: str = "en"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form (``explain --format json``)."""
        return {
            "mode": self.mode, "result": self.result, "deal": self.deal, "stage": self.stage,
            "trigger": self.trigger, "to": self.target, "actor": self.actor, "now": self.now,
            "rules": [{"rule": r.rule, "kind": r.kind, "outcome": r.outcome, "title": r.title,
                       "expression": r.expression, "values": dict(r.values),
                       "effect": r.effect, "severity": r.severity} for r in self.rules],
            "todo": list(self.todo), "warnings": list(self.warnings),
            "other_violations": list(self.other), "lang": self.lang,
        }


class _Names:
    """Labels and messages of a policy's rules in one language."""

    def __init__(self, policy: Policy, lang: str) -> None:
        self.policy = policy
        self.lang = lang
        self.stage_label = {s.id: s.label.get(lang) for s in policy.stages}
        self.steps = {st.id: st for s in policy.stages for st in s.steps}
        self.criteria = {c.id: c for s in policy.stages for c in s.entry}
        self.criteria.update({c.id: c for t in policy.transitions for c in t.when})
        self.risks = {r.id: r for r in policy.risks}
        self.gates = {g.id: g for g in policy.gates}

    def text(self, label: Label | None, default: str) -> str:
        return label.get(self.lang) if label is not None else default

    def stage(self, sid: str | None) -> str:
        return self.stage_label.get(sid or "", sid or "?")

    def title(self, c: RuleCheck, trigger: str | None) -> str:
        lang = self.lang
        if c.rule in self.criteria:
            return self.criteria[c.rule].message.get(lang)
        if c.rule in self.risks:
            r = self.risks[c.rule]
            return self.text(r.label, r.id) + ": " + r.message.get(lang)
        if c.kind == "step" and c.rule in self.steps:
            st = self.steps[c.rule]
            return phrase(lang, "step_done", label=st.label.get(lang))
        if c.kind == "approval" and c.rule in self.gates:
            g = self.gates[c.rule]
            return phrase(lang, "approval_of", count=g.count, label=self.text(g.label, g.id),
                          roles=phrase(lang, "or").join(g.roles))
        if c.kind == "time" and c.rule.startswith("max_days."):
            sid = c.rule.removeprefix("max_days.")
            days = c.values.get("max_days", "?")
            shown = f"{days:g}" if isinstance(days, float) else str(days)
            return phrase(lang, "time_limit", days=shown, stage=self.stage(sid))
        if c.rule.startswith("require."):
            return phrase(lang, "requires", trigger=trigger or "",
                          field="deal." + c.rule.removeprefix("require."))
        return c.message


def _values(values: Mapping[str, Any], lang: str) -> str:
    if not values:
        return "-"
    shown = []
    for k, v in values.items():
        text = phrase(lang, "missing") if v == "<missing>" else repr(v)
        shown.append(f"{k} = {text}")
    return ", ".join(shown)


def _missing_fields(values: Mapping[str, Any]) -> list[str]:
    return [k for k, v in values.items() if v == "<missing>"]


def _todo(names: _Names, checks: Sequence[RuleCheck], needs: Sequence[ApprovalNeeded],
          violations: Sequence[Violation], trigger: str | None, stage: str | None,
          actor: Mapping[str, Any] | None, deal: Mapping[str, Any]) -> list[str]:
    lang = names.lang
    out: list[str] = []
    failed = {c.rule: c for c in checks if c.outcome in ("fail", "error")}
    for c in checks:
        if c.outcome not in ("fail", "error") or c.kind == "approval":
            continue
        if c.outcome == "error":  # a missing field is filled in; any other error is fixed
            missing = _missing_fields(c.values)
            out.extend(phrase(lang, "fill", field=f) for f in missing) if missing else \
                out.append(phrase(lang, "fix_record", message=c.message))
            continue
        if c.kind == "step" and c.rule in names.steps:
            st = names.steps[c.rule]
            out.append(phrase(lang, "do_step", label=st.label.get(lang), id=st.id,
                              stage=names.stage(st.stage)))
        elif c.rule.startswith("require."):
            out.append(phrase(lang, "fill", field="deal." + c.rule.removeprefix("require.")))
        elif c.rule in names.criteria:
            crit = names.criteria[c.rule]
            missing = _missing_fields(c.values)
            if missing:
                out.extend(phrase(lang, "fill", field=f) for f in missing)
            else:
                out.append(phrase(lang, "make_true", message=crit.message.get(lang), id=c.rule,
                                  expr=c.expression, values=_values(c.values, lang)))
        elif c.rule in names.risks:
            r = names.risks[c.rule]
            if r.action == "block":
                out.append(phrase(lang, "undo_risk", label=names.text(r.label, r.id),
                                  message=r.message.get(lang), id=r.id, expr=c.expression,
                                  values=_values(c.values, lang)))
        elif c.kind == "time":
            out.append(phrase(lang, "too_long", stage=names.stage(stage)))
    for v in violations:
        if v.rule in failed:
            continue
        if v.kind == "transition":
            options = [t.trigger for t in names.policy.transitions if stage in t.sources]
            out.append(phrase(lang, "not_permitted_fix", trigger=trigger or "",
                              stage=names.stage(stage), options=", ".join(options))
                       if options else phrase(lang, "no_exit", stage=names.stage(stage)))
        elif v.kind == "field":
            missing = _missing_fields(v.values)
            out.extend(phrase(lang, "fill", field=f) for f in missing) if missing else \
                out.append(phrase(lang, "fix_record", message=v.message))
        elif v.kind == "time":
            out.append(phrase(lang, "too_long", stage=names.stage(stage)))
    for need in needs:
        gate = names.gates.get(need.gate)
        label = names.text(gate.label, need.gate) if gate else need.gate
        parties = []
        for p in gate.separate_from if gate else ():
            if p == "owner":
                who = deal.get("owner")
                parties.append(phrase(lang, "owner") + (f" ({who})" if who else ""))
            elif p == "requester":
                who = actor.get("id") if actor else None
                parties.append(phrase(lang, "requester") + (f" ({who})" if who else ""))
            else:
                parties.append(p)
        separate = phrase(lang, "separate", parties=phrase(lang, "or").join(parties)) \
            if parties else ""
        line = phrase(lang, "get_approval", n=need.missing, label=label, id=need.gate,
                      roles=phrase(lang, "or").join(need.roles), separate=separate)
        if need.because:
            line += " " + phrase(lang, "because", because=", ".join(need.because))
        out.append(line)
        real = [r for r in need.reasons if not r.startswith("no approval for")]
        if real:
            out.append("  " + phrase(lang, "void", reasons="; ".join(real)))
    return list(dict.fromkeys(out))


def _lines(names: _Names, checks: Sequence[RuleCheck], trigger: str | None) -> tuple[RuleLine, ...]:
    return tuple(RuleLine(c.rule, c.kind, c.outcome, names.title(c, trigger), c.expression,
                          dict(c.values), c.effect, c.severity) for c in checks)


def explain_decision(policy: Policy, decision: Decision, deal: Mapping[str, Any],
                     actor: Mapping[str, Any] | None = None, lang: str = "en") -> Explanation:
    """Explain a decision (from ``Engine.decide``) in ``lang``."""
    names = _Names(policy, lang)
    checked = {c.rule for c in decision.checks}
    return Explanation(
        "decide", decision.outcome, decision.deal, decision.source, decision.trigger,
        decision.target, actor.get("id") if actor else None, decision.at,
        _lines(names, decision.checks, decision.trigger),
        tuple(_todo(names, decision.checks, decision.approvals_needed, decision.violations,
                    decision.trigger, decision.source, actor, deal)),
        tuple(f"{w.rule}: {w.message}" for w in decision.warnings),
        tuple(f"{v.rule}: {v.message}" for v in decision.violations if v.rule not in checked),
        lang,
    )


def explain_verdict(policy: Policy, verdict: Verdict, deal: Mapping[str, Any],
                    now: str | None = None, lang: str = "en") -> Explanation:
    """Explain a verdict (from ``Engine.check(..., explain=True)``) in ``lang``."""
    names = _Names(policy, lang)
    checked = {c.rule for c in verdict.checks}
    other = [f"{v.rule}: {v.message}" for v in verdict.violations if v.rule not in checked]
    if verdict.error:
        other.append(f"error: {verdict.error}")
    extra = list(verdict.violations)
    if verdict.error:
        extra.append(Violation("deal", "field", "high", verdict.error))
    return Explanation(
        "check", verdict.verdict, verdict.deal, verdict.stage, None, None, None, now,
        _lines(names, verdict.checks, None),
        tuple(_todo(names, verdict.checks, verdict.approvals_needed, extra, None,
                    verdict.stage, None, deal)),
        tuple(f"{w.rule}: {w.message}" for w in verdict.warnings),
        tuple(other), lang,
    )


def explanation_lines(ex: Explanation) -> list[tuple[str, str]]:
    """The explanation as (style, text) lines; styles are rich style names or ''."""
    lang = ex.lang
    out: list[tuple[str, str]] = []
    result_style = {"allowed": "bold green", "compliant": "bold green",
                    "needs_approval": "bold yellow"}.get(ex.result, "bold red")
    if ex.mode == "decide":
        head = (f"{phrase(lang, 'decision')}: {phrase(lang, ex.result)} — "
                f"{phrase(lang, 'deal')} {ex.deal or '?'}, {phrase(lang, 'trigger')} "
                f"'{ex.trigger}' ({ex.stage} → {ex.target or '?'})")
        if ex.actor:
            head += f", {phrase(lang, 'actor')} {ex.actor}"
    else:
        head = (f"{phrase(lang, 'check')}: {phrase(lang, ex.result)} — "
                f"{phrase(lang, 'deal')} {ex.deal or '?'}, {phrase(lang, 'stage')} {ex.stage}")
    if ex.now:
        head += f", {phrase(lang, 'now')} {ex.now}"
    out.append((result_style, head))
    out.append(("bold", phrase(lang, "rules") + ":"))
    for r in ex.rules:
        if r.kind == "risk" and r.outcome in ("pass", "fail"):
            word = phrase(lang, "fired" if r.outcome == "fail" else "not_fired")
            effect = f" → {r.effect}" if r.outcome == "fail" and r.effect else ""
            style = "" if r.outcome == "pass" else (
                "yellow" if r.effect == "warn" or (r.effect or "").startswith("approve")
                else "red")
            mark = "•" if r.outcome == "pass" else "!"
        else:
            word = phrase(lang, r.outcome)
            effect = ""
            style = "green" if r.outcome == "pass" else "red"
            mark = "✓" if r.outcome == "pass" else "✗"
        out.append((style, f"  {mark} {r.rule} [{r.kind}] {word}{effect}: {r.title}"))
        if r.expression:
            out.append(("dim", f"      {phrase(lang, 'expression')}: {r.expression}"))
        if r.values and r.kind != "step":
            out.append(("dim", f"      {phrase(lang, 'reads')}: {_values(r.values, lang)}"))
    for o in ex.other:
        out.append(("red", f"  ✗ {o}"))
    if ex.warnings:
        out.append(("bold", phrase(lang, "warnings") + ":"))
        out.extend(("yellow", f"  - {w}") for w in ex.warnings)
    todo_key = "todo_decide" if ex.mode == "decide" else "todo_check"
    out.append(("bold", phrase(lang, todo_key) + ":"))
    if ex.todo:
        out.extend(("", f"  {n}. {t}" if not t.startswith("  ") else f"     {t.strip()}")
                   for n, t in _numbered(ex.todo))
    else:
        out.append(("green", "  " + phrase(lang, "nothing")))
    return out


def _numbered(items: Sequence[str]) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    n = 0
    for t in items:
        if not t.startswith("  "):
            n += 1
        out.append((n, t))
    return out


def render_text(ex: Explanation, out: TextIO, *, color: bool | None = None) -> None:
    """Print the explanation with rich; colour only on a terminal (or when ``color`` says so)."""
    from rich.console import Console
    from rich.text import Text

    console = Console(file=out, highlight=False, soft_wrap=True, emoji=False,
                      force_terminal=color, no_color=color is False or None)
    if color is None:
        console = Console(file=out, highlight=False, soft_wrap=True, emoji=False)
    for style, text in explanation_lines(ex):  # deal and policy text shown, not obeyed
        console.print(Text(visible(text), style=style or ""))


def plain_text(ex: Explanation) -> str:
    """The explanation as plain text, for test reports."""
    return "\n".join(text for _, text in explanation_lines(ex))
