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

from cycleflow.decide.approvals import named_approvers
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
        "named_in": " named in {fields} ({who})",
        "after_gates": ", after {gates} approved",
        "void": "Existing approvals that do not count: {reasons}",
        "because": " needed because of: {because}",
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
        "none_yet": "No approval has been given yet.",
        "colon": ":", "sep": ": ",
        "head_decide": "{decision}: {result} — deal {deal}, trigger '{trigger}' {route}",
        "route": "({source} → {target})", "route_none": "({source} → ?)",
        "head_check": "{check}: {result} — deal {deal}, stage {stage}",
        "head_actor": ", actor {actor}", "head_now": ", at {now}",
        "rule_line": "{mark} {rule} [{kind}] {word}{effect}: {title}",
        "effect": " → {effect}",
        "risk_title": "{label}: {message}",
        "note": "{rule}: {message}",
        "party_who": "{party} ({who})",
        "roles_or": " or ", "list": ", ",
        "option": "{trigger}",
        "because_risk": "'{label}' ({id})",
        "because_transition": "the trigger '{trigger}'",
        "not_permitted_line": "transition: '{trigger}' is not permitted from stage '{stage}'",
        "trigger_labelled": "'{trigger}'", "trigger_bare": "'{trigger}'",
        "effect_block": "block", "effect_warn": "warn", "effect_approve": "approve {id}",
        "kind_entry": "entry", "kind_step": "step", "kind_risk": "risk",
        "kind_approval": "approval", "kind_time": "time", "kind_transition": "transition",
        "kind_field": "field",
    },
    "zh": {
        "decision": "决策", "check": "检查", "deal": "交易", "stage": "阶段",
        "trigger": "操作", "actor": "操作人", "now": "时间",
        "allowed": "允许", "blocked": "阻止", "needs_approval": "需要审批",
        "not_permitted": "不允许", "compliant": "合规", "violation": "违规",
        "error": "错误", "pass": "通过", "fail": "未通过", "skip": "跳过",
        "rules": "已检查的规则", "reads": "读取", "expression": "条件",
        "fired": "触发", "not_fired": "未触发",
        "todo_decide": "如何使其获准", "todo_check": "如何使其合规",
        "nothing": "无需操作：所有规则均满足。", "warnings": "警告（不阻止）",
        "none_yet": "目前尚无任何审批。",
        "colon": "：", "sep": "：",
        "head_decide": "{decision}：{result} — 交易 {deal}，操作{trigger_shown}，{route}",
        "route": "{source_label} → {target_label}", "route_none": "当前阶段“{source_label}”",
        "head_check": "{check}：{result} — 交易 {deal}，阶段“{stage_label}”",
        "head_actor": "，操作人 {actor}", "head_now": "，时间 {now}",
        "rule_line": "{mark} [{kind}] {title} — {word}{effect}（{rule}）",
        "effect": "，{effect}",
        "effect_block": "阻止", "effect_warn": "仅警告", "effect_approve": "需“{label}”审批",
        "kind_entry": "准入条件", "kind_step": "步骤", "kind_risk": "风险",
        "kind_approval": "审批", "kind_time": "时限", "kind_transition": "操作条件",
        "kind_field": "字段",
        "risk_title": "{label}：{message}",
        "note": "{message}（{rule}）",
        "party_who": "{party}（{who}）",
        "roles_or": " 或 ", "list": "、",
        "trigger_labelled": "“{label}”（`{trigger}`）", "trigger_bare": " `{trigger}`",
        "option": "`{trigger}`（{label}）",
        "because_risk": "“{label}”（{id}）",
        "because_transition": "操作{shown}",
        "not_permitted_line": "不能从阶段“{stage}”执行操作 `{trigger}`",
        "do_step": "完成阶段“{stage}”的步骤“{label}”（{id}）。",
        "fill": "填写 {field}。",
        "make_true": "需满足：{message}（规则 {id}：{expr}；当前 {values}）。",
        "undo_risk": "消除风险“{label}”：{message}（规则 {id}：{expr} 成立；当前 {values}）。",
        "get_approval": "还需 {n} 个“{label}”（{id}）审批，审批人须具有角色 {roles}{separate}。",
        "separate": "，且不能是{parties}",
        "named_in": "，须为 {fields} 所指定的人（{who}）",
        "after_gates": "，且须在{gates}审批之后",
        "void": "不计入的已有审批：{reasons}",
        "because": "原因：{because}。",
        "not_permitted_fix": "阶段“{stage}”不能执行操作 `{trigger}`。可用操作：{options}。",
        "no_exit": "阶段“{stage}”没有可用操作。",
        "too_long": "交易在“{stage}”停留过久：请推进或关闭。",
        "fix_record": "修正交易记录：{message}",
        "requires": "操作{trigger_shown}需要填写 {field}",
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
    effect_text: str | None = None  # the effect in the explanation's language


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
    #: what the header shows for the stage, target and trigger in ``lang`` (labels)
    labels: Mapping[str, str] = field(default_factory=dict)

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
        """A label in the explanation's language, or ``default`` when there is none."""
        return label.get(self.lang) if label is not None else default

    def stage(self, sid: str | None) -> str:
        """The stage's label in the explanation's language (its id if it has none)."""
        return self.stage_label.get(sid or "", sid or "?")

    def transition_label(self, trigger: str | None, source: str | None) -> str | None:
        """The label of the transition ``trigger`` from ``source``, if the policy gives one."""
        for t in self.policy.transitions:
            if t.trigger == trigger and (source in t.sources or "*" in t.sources):
                return t.label.get(self.lang) if t.label is not None else None
        return None

    def trigger_shown(self, trigger: str | None, source: str | None) -> str:
        """A trigger as a user reads it: its label with the id to type, or the id alone."""
        label = self.transition_label(trigger, source)
        key = "trigger_labelled" if label else "trigger_bare"
        return phrase(self.lang, key, label=label or "", trigger=trigger or "?")

    def options(self, stage: str | None) -> list[str]:
        """The triggers that leave ``stage``, each as the user types it (labelled in zh)."""
        seen: dict[str, str] = {}
        final = {st.id for st in self.policy.stages if st.final}
        for t in self.policy.transitions:
            leaves = stage in t.sources or ("*" in t.sources and stage not in final)
            if leaves and t.trigger not in seen:
                label = t.label.get(self.lang) if t.label is not None else self.stage(t.target)
                seen[t.trigger] = phrase(self.lang, "option", trigger=t.trigger, label=label)
        return list(seen.values())

    def effect(self, effect: str | None) -> str | None:
        """A risk's effect (``block``, ``warn``, ``approve <gate>``) in words."""
        if not effect:
            return None
        verb, _, gate = effect.partition(" ")
        if verb == "approve" and gate:
            g = self.gates.get(gate)
            return phrase(self.lang, "effect_approve", id=gate,
                          label=self.text(g.label, gate) if g else gate)
        return phrase(self.lang, f"effect_{verb}") if verb in ("block", "warn") else effect

    def because(self, item: str, source: str | None) -> str:
        """Why a gate is needed: a risk (its label, then its id) or a transition."""
        if item in self.risks:
            r = self.risks[item]
            return phrase(self.lang, "because_risk", label=r.label.get(self.lang), id=r.id) \
                if r.label is not None else r.id
        if item.startswith("transition "):
            trigger = item.removeprefix("transition ")
            return phrase(self.lang, "because_transition", trigger=trigger,
                          shown=self.trigger_shown(trigger, source))
        return item

    def note(self, rule: str, message: str) -> str:
        """A warning or a violation no check stands for: its message and its rule."""
        if rule in self.risks and self.lang != "en":
            r = self.risks[rule]
            if r.label is not None:
                message = phrase(self.lang, "risk_title", label=r.label.get(self.lang),
                                 message=message)
        return phrase(self.lang, "note", rule=rule, message=message)

    def title(self, c: RuleCheck, trigger: str | None, source: str | None) -> str:
        """What a checked rule stands for, in the policy's words."""
        lang = self.lang
        if c.rule in self.criteria:
            return self.criteria[c.rule].message.get(lang)
        if c.rule in self.risks:
            r = self.risks[c.rule]
            return phrase(lang, "risk_title", label=self.text(r.label, r.id),
                          message=r.message.get(lang))
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
                          trigger_shown=self.trigger_shown(trigger, source),
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
                out.append(phrase(lang, "make_true", message=crit.message.get(lang).rstrip("。"),
                                  id=c.rule,
                                  expr=c.expression, values=_values(c.values, lang)))
        elif c.rule in names.risks:
            r = names.risks[c.rule]
            if r.action == "block":
                out.append(phrase(lang, "undo_risk", label=names.text(r.label, r.id),
                                  message=r.message.get(lang).rstrip("。"), id=r.id,
                                  expr=c.expression,
                                  values=_values(c.values, lang)))
        elif c.kind == "time":
            out.append(phrase(lang, "too_long", stage=names.stage(stage)))
    for v in violations:
        if v.rule in failed:
            continue
        if v.kind == "transition":
            options = names.options(stage)
            out.append(phrase(lang, "not_permitted_fix", trigger=trigger or "",
                              stage=names.stage(stage),
                              options=phrase(lang, "list").join(options))
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
            if p == "requester" and trigger is None:
                continue  # at rest (check) the requester of a past move is not judged
            who = deal.get("owner") if p == "owner" else (
                actor.get("id") if actor else None) if p == "requester" else None
            party = phrase(lang, p) if p in ("owner", "requester") else p
            parties.append(phrase(lang, "party_who", party=party, who=who) if who else party)
        separate = phrase(lang, "separate", parties=phrase(lang, "or").join(parties)) \
            if parties else ""
        if gate and gate.approvers:  # the person the deal names, before who may not approve
            named = sorted(named_approvers(gate, deal).values())  # as the engine reads them
            separate = phrase(lang, "named_in", fields=phrase(lang, "or").join(gate.approvers),
                              who=", ".join(named) or "—") + separate
        if gate and gate.after:
            firsts = [names.gates.get(g) for g in gate.after]
            separate += phrase(lang, "after_gates", gates=phrase(lang, "list").join(
                names.text(f.label, f.id) if f else g for f, g in zip(firsts, gate.after,
                                                                      strict=True)))
        line = phrase(lang, "get_approval", n=need.missing, label=label, id=need.gate,
                      roles=phrase(lang, "roles_or").join(need.roles), separate=separate)
        if need.because:
            line += phrase(lang, "because", because=phrase(lang, "list").join(
                names.because(b, stage) for b in need.because))
        out.append(line)
        # no approval record for the gate at all: its one reason is "no approval yet",
        # not an approval that did not count (whatever language the engine wrote it in)
        given = _approvals_for(deal, need.gate)
        if given and need.reasons:
            out.append("  " + phrase(lang, "void", reasons="; ".join(need.reasons)))
        elif need.reasons:
            out.append("  " + phrase(lang, "none_yet"))
    return list(dict.fromkeys(out))


def _approvals_for(deal: Mapping[str, Any], gate: str) -> bool:
    """Whether the deal records any approval for ``gate`` (counted or not): exactly when
    the engine's reasons for the gate are about approvals given (see evaluate_gate)."""
    given = deal.get("approvals") if isinstance(deal, Mapping) else None
    return isinstance(given, (list, tuple)) and any(
        isinstance(a, Mapping) and a.get("gate") == gate for a in given)


def _lines(names: _Names, checks: Sequence[RuleCheck], trigger: str | None,
           source: str | None) -> tuple[RuleLine, ...]:
    """Each checked rule with its title and effect in the explanation's language."""
    return tuple(RuleLine(c.rule, c.kind, c.outcome, names.title(c, trigger, source),
                          c.expression, dict(c.values), c.effect, c.severity,
                          names.effect(c.effect)) for c in checks)


def _other(names: _Names, violations: Sequence[Violation], checked: set[str],
           trigger: str | None, stage: str | None) -> list[str]:
    """The violations no rule check stands for, in words (a refused trigger with labels)."""
    out = []
    for v in violations:
        if v.rule in checked:
            continue
        if v.kind == "transition" and trigger in names.policy.triggers:
            out.append(phrase(names.lang, "not_permitted_line", trigger=trigger,
                              stage=names.stage(stage)))
        else:
            out.append(names.note(v.rule, v.message))
    return out


def _labels(names: _Names, stage: str | None, target: str | None,
            trigger: str | None) -> dict[str, str]:
    """What the header shows for the stage, the target and the trigger."""
    return {"stage": names.stage(stage), "target": names.stage(target) if target else "?",
            "trigger": names.trigger_shown(trigger, stage) if trigger else ""}


def explain_decision(policy: Policy, decision: Decision, deal: Mapping[str, Any],
                     actor: Mapping[str, Any] | None = None, lang: str = "en") -> Explanation:
    """Explain a decision (from ``Engine.decide``) in ``lang``."""
    names = _Names(policy, lang)
    checked = {c.rule for c in decision.checks}
    return Explanation(
        "decide", decision.outcome, decision.deal, decision.source, decision.trigger,
        decision.target, actor.get("id") if actor else None, decision.at,
        _lines(names, decision.checks, decision.trigger, decision.source),
        tuple(_todo(names, decision.checks, decision.approvals_needed, decision.violations,
                    decision.trigger, decision.source, actor, deal)),
        tuple(names.note(w.rule, w.message) for w in decision.warnings),
        tuple(_other(names, decision.violations, checked, decision.trigger, decision.source)),
        lang, _labels(names, decision.source, decision.target, decision.trigger),
    )


def explain_verdict(policy: Policy, verdict: Verdict, deal: Mapping[str, Any],
                    now: str | None = None, lang: str = "en") -> Explanation:
    """Explain a verdict (from ``Engine.check(..., explain=True)``) in ``lang``."""
    names = _Names(policy, lang)
    checked = {c.rule for c in verdict.checks}
    other = _other(names, verdict.violations, checked, None, verdict.stage)
    if verdict.error:
        other.append(phrase(lang, "note", rule="error", message=verdict.error))
    extra = list(verdict.violations)
    if verdict.error:
        extra.append(Violation("deal", "field", "high", verdict.error))
    return Explanation(
        "check", verdict.verdict, verdict.deal, verdict.stage, None, None, None, now,
        _lines(names, verdict.checks, None, verdict.stage),
        tuple(_todo(names, verdict.checks, verdict.approvals_needed, extra, None,
                    verdict.stage, None, deal)),
        tuple(names.note(w.rule, w.message) for w in verdict.warnings),
        tuple(other), lang, _labels(names, verdict.stage, None, None),
    )


def explanation_lines(ex: Explanation) -> list[tuple[str, str]]:
    """The explanation as (style, text) lines; styles are rich style names or ''."""
    lang = ex.lang
    out: list[tuple[str, str]] = []
    result_style = {"allowed": "bold green", "compliant": "bold green",
                    "needs_approval": "bold yellow"}.get(ex.result, "bold red")
    labels = ex.labels
    colon, sep = phrase(lang, "colon"), phrase(lang, "sep")
    if ex.mode == "decide":
        route = phrase(lang, "route" if ex.target else "route_none", source=ex.stage,
                       target=ex.target, source_label=labels.get("stage", ex.stage),
                       target_label=labels.get("target", ex.target))
        head = phrase(lang, "head_decide", decision=phrase(lang, "decision"),
                      result=phrase(lang, ex.result), deal=ex.deal or "?", trigger=ex.trigger,
                      trigger_shown=labels.get("trigger") or f" `{ex.trigger}`", route=route)
        if ex.actor:
            head += phrase(lang, "head_actor", actor=ex.actor)
    else:
        head = phrase(lang, "head_check", check=phrase(lang, "check"),
                      result=phrase(lang, ex.result), deal=ex.deal or "?", stage=ex.stage,
                      stage_label=labels.get("stage", ex.stage))
    if ex.now:
        head += phrase(lang, "head_now", now=ex.now)
    out.append((result_style, head))
    out.append(("bold", phrase(lang, "rules") + colon))
    for r in ex.rules:
        if r.kind == "risk" and r.outcome in ("pass", "fail"):
            word = phrase(lang, "fired" if r.outcome == "fail" else "not_fired")
            shown = r.effect_text or r.effect
            effect = phrase(lang, "effect", effect=shown) if r.outcome == "fail" and shown else ""
            style = "" if r.outcome == "pass" else (
                "yellow" if r.effect == "warn" or (r.effect or "").startswith("approve")
                else "red")
            mark = "•" if r.outcome == "pass" else "!"
        else:
            word = phrase(lang, r.outcome)
            effect = ""
            style = "green" if r.outcome == "pass" else "red"
            mark = "✓" if r.outcome == "pass" else "✗"
        kind = lookup(PHRASES, lang, f"kind_{r.kind}") if f"kind_{r.kind}" in PHRASES["en"] \
            else r.kind
        out.append((style, "  " + phrase(lang, "rule_line", mark=mark, rule=r.rule, kind=kind,
                                         word=word, effect=effect, title=r.title)))
        if r.expression:
            out.append(("dim", f"      {phrase(lang, 'expression')}{sep}{r.expression}"))
        if r.values and r.kind != "step":
            out.append(("dim", f"      {phrase(lang, 'reads')}{sep}{_values(r.values, lang)}"))
    for o in ex.other:
        out.append(("red", f"  ✗ {o}"))
    if ex.warnings:
        out.append(("bold", phrase(lang, "warnings") + colon))
        out.extend(("yellow", f"  - {w}") for w in ex.warnings)
    todo_key = "todo_decide" if ex.mode == "decide" else "todo_check"
    out.append(("bold", phrase(lang, todo_key) + colon))
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
    from rich.text import Text

    from cycleflow.report.text import ReportConsole

    console = ReportConsole(file=out, highlight=False, soft_wrap=True, emoji=False,
                            force_terminal=color, no_color=color is False or None)
    if color is None:
        console = ReportConsole(file=out, highlight=False, soft_wrap=True, emoji=False)
    for style, text in explanation_lines(ex):  # deal and policy text shown, not obeyed
        console.print(Text(visible(text), style=style or ""))


def plain_text(ex: Explanation) -> str:
    """The explanation as plain text, for test reports."""
    return "\n".join(text for _, text in explanation_lines(ex))
