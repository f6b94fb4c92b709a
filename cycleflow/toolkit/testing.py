"""``cycleflow test``: YAML policy test suites run on the real engine, with rule coverage.

A suite (schema: ``schemas/policy-test.schema.json``) names a policy, a frozen
``now``, fixtures, and cases that ``decide`` a trigger or ``check`` a deal at
rest. The runner only asks :class:`~cycleflow.decide.engine.Engine`; it never
re-implements a decision. Coverage is read from the engine's own rule checks.
An expectation about a rule the case never evaluated fails: no vacuous passes.
"""

from __future__ import annotations

import copy
import os
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cycleflow.decide.decision import Decision, RuleCheck, Verdict
from cycleflow.decide.engine import Engine
from cycleflow.errors import CycleflowError, Location, PolicyError, Problem
from cycleflow.model.build import did_you_mean
from cycleflow.model.policy import Policy
from cycleflow.toolkit.explain import (
    Explanation,
    explain_decision,
    explain_verdict,
    plain_text,
)

SCHEMA = "policy-test.schema.json"
# Rule ids the engine reports that no policy declares.
BUILTIN_RULES = ("transition", "deal", "steps")


@dataclass(frozen=True)
class Case:
    """One case, resolved: the deal and actor built, the clock chosen."""

    name: str
    index: int
    location: Location
    deal: dict[str, Any]
    actor: dict[str, Any] | None
    now: str | None
    trigger: str | None  # None for a check case
    expect: Mapping[str, Any]


@dataclass(frozen=True)
class Suite:
    """A loaded, validated suite and the policy it tests."""

    path: str
    policy: Policy
    engine: Engine
    cases: tuple[Case, ...]
    lang: str = "en"


@dataclass
class CaseResult:
    """What one case did: pass or fail, why, and the rule checks it produced."""

    suite: str
    name: str
    location: Location
    passed: bool
    failures: list[str]
    checks: tuple[RuleCheck, ...]
    actual: dict[str, Any]
    explanation: str
    seconds: float


@dataclass
class RuleCoverage:
    """Whether some case made a rule fire, and whether some case made it pass."""

    rule: str
    evaluable: bool
    fired: int = 0
    passed: int = 0
    errors: int = 0

    @property
    def covered(self) -> bool:
        """Both fired and passed somewhere."""
        return self.fired > 0 and self.passed > 0


@dataclass
class Coverage:
    """Rule coverage of one policy over every case that tested it."""

    policy: Policy
    rules: dict[str, RuleCoverage] = field(default_factory=dict)

    def add(self, checks: Iterable[RuleCheck]) -> None:
        """Count one case's rule checks."""
        for c in checks:
            rc = self.rules.get(c.rule)
            if rc is None:
                continue
            if c.outcome == "fail":
                rc.fired += 1
            elif c.outcome == "pass":
                rc.passed += 1
            elif c.outcome == "error":
                rc.errors += 1

    @property
    def evaluable(self) -> list[RuleCoverage]:
        """Rules the engine can evaluate at all (the denominator)."""
        return [r for r in self.rules.values() if r.evaluable]

    @property
    def percent(self) -> float:
        """Share of evaluable rules both fired and passed, 0–100."""
        rules = self.evaluable
        if not rules:
            return 100.0
        return 100.0 * sum(1 for r in rules if r.covered) / len(rules)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return {
            "policy": self.policy.id, "path": self.policy.path, "percent": round(self.percent, 1),
            "rules": [{"rule": r.rule, "evaluable": r.evaluable, "fired": r.fired,
                       "passed": r.passed, "errors": r.errors} for r in self.rules.values()],
        }


def evaluable_rules(engine: Engine) -> set[str]:
    """Every rule id some decide or check plan of the compiled policy evaluates."""
    compiled = engine.compiled
    out: set[str] = set()
    for move in compiled.moves.values():
        out.update(s.id for s in move.steps)
        out.update(c.id for _, c in move.criteria)
        out.update(u.risk.id for u in move.risks)
        out.update(u.risk.gate for u in move.risks if u.risk.gate)
        out.update(g.id for g in move.gates)
        out.update(f"require.{f}" for f in move.transition.require)
    for rest in compiled.rests.values():
        out.update(c.id for c in rest.entry)
        out.update(s.id for s in rest.steps)
        out.update(u.risk.id for u in rest.risks)
        out.update(u.risk.gate for u in rest.risks if u.risk.gate)
        if rest.stage.max_days is not None:
            out.add(f"max_days.{rest.stage.id}")
    return out


# ---------------------------------------------------------------- loading


def _merge(base: Any, patch: Mapping[str, Any]) -> dict[str, Any]:
    """Deep merge: objects merge key by key, null removes a key, anything else replaces."""
    out = dict(base) if isinstance(base, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _patch_typos(
    patch: Mapping[str, Any], known: Mapping[str, Any] | None, prefix: str = ""
) -> Iterator[tuple[tuple[str, ...], str, str]]:
    """Patch keys the deal schema does not declare but nearly does: (path, name, hint).

    A key with no near match may be a CRM's own field and passes; ``discount_pc`` beside
    a declared ``discount_pct`` is a typo that makes the case test nothing.
    """
    if known is None:
        return
    for key, value in patch.items():
        name = f"{prefix}{key}"
        if name not in known:
            siblings = [k for k in known if k.rsplit(".", 1)[0] == prefix[:-1]] if prefix \
                else [k for k in known if "." not in k]
            hint = did_you_mean(name, siblings)
            if hint is not None:
                yield (str(key),), name, hint
            continue
        if isinstance(value, Mapping):
            for where, inner, hint in _patch_typos(value, known, name + "."):
                yield (str(key), *where), inner, hint


def load_suite(path: str) -> Suite:
    """Read and validate a suite and its policy; PolicyError with every located problem."""
    from cycleflow.api import load_policy
    from cycleflow.load.policy_files import YAML_SUFFIXES, read_main, referenced_file
    from cycleflow.validate.schema import validate_document

    doc = read_main(path)
    problems = validate_document(doc.data, doc.source_map, schema=SCHEMA)
    if problems:
        raise PolicyError(problems)
    sm = doc.source_map
    data: Mapping[str, Any] = doc.data
    policy_path = str(referenced_file(path, data["policy"], sm.locate(("policy",)),
                                      "policy under test", "suite-policy", YAML_SUFFIXES))
    try:
        policy = load_policy(policy_path)
    except PolicyError as err:
        where = sm.locate(("policy",))
        raise PolicyError([Problem(where, "suite-policy-invalid",
                                   f"the policy under test does not load: {policy_path}",
                                   "run cycleflow lint on it"), *err.problems]) from None
    lang = str(data.get("lang", "en"))
    engine = Engine(policy, lang=lang)
    fixtures = data.get("fixtures") or {}
    deals: Mapping[str, Any] = fixtures.get("deals") or {}
    actors: Mapping[str, Any] = fixtures.get("actors") or {}
    rule_ids = set(policy.rule_ids()) | set(BUILTIN_RULES)
    gate_ids = {g.id for g in policy.gates}
    triggers = policy.triggers
    out: list[Case] = []
    seen: dict[str, Location] = {}
    errors: list[Problem] = []

    def bad(p: tuple[str | int, ...], code: str, msg: str, hint: str | None = None) -> None:
        errors.append(Problem(sm.locate(p), code, msg, hint))

    suite_now = data.get("now")
    for i, raw in enumerate(data["cases"]):
        base: tuple[str | int, ...] = ("cases", i)
        name = str(raw["name"])
        if name in seen:
            bad((*base, "name"), "suite-duplicate-case",
                f"case name '{name}' is used twice (first at {seen[name]})")
        seen.setdefault(name, sm.locate((*base, "name")))
        deal_ref = raw["deal"]
        if isinstance(deal_ref, str):
            if deal_ref not in deals:
                bad((*base, "deal"), "suite-unknown-fixture", f"no deal fixture '{deal_ref}'",
                    did_you_mean(deal_ref, deals) or "fixtures: " + ", ".join(deals))
                continue
            deal = copy.deepcopy(dict(deals[deal_ref]))
        else:
            deal = copy.deepcopy(dict(deal_ref))
        if raw.get("patch"):
            deal = _merge(deal, raw["patch"])
            for keys, field_name, hint in _patch_typos(raw["patch"], policy.known_fields):
                errors.append(Problem(
                    sm.locate_key([*base, "patch", *keys]), "suite-unknown-field",
                    f"the patch sets '{field_name}', which the policy's deal_schema does not "
                    "declare: the case would not test what it says", hint))
        actor_ref = raw.get("actor")
        actor: dict[str, Any] | None = None
        if isinstance(actor_ref, str):
            if actor_ref not in actors:
                bad((*base, "actor"), "suite-unknown-fixture", f"no actor fixture '{actor_ref}'",
                    did_you_mean(actor_ref, actors) or "fixtures: " + ", ".join(actors))
                continue
            actor = dict(actors[actor_ref])
        elif isinstance(actor_ref, Mapping):
            actor = dict(actor_ref)
        if actor is not None:
            actor.setdefault("roles", [])
        trigger = raw.get("decide")
        expect: Mapping[str, Any] = raw["expect"]
        if trigger is not None and trigger not in triggers:
            bad((*base, "decide"), "suite-unknown-trigger",
                f"the policy has no trigger '{trigger}'",
                did_you_mean(str(trigger), triggers) or "triggers: " + ", ".join(triggers))
        if trigger is not None and ("verdict" in expect or "error" in expect):
            bad((*base, "expect"), "suite-expect-kind",
                "'verdict' and 'error' are for check cases", "use 'outcome' with decide")
        if trigger is None and "outcome" in expect:
            bad((*base, "expect", "outcome"), "suite-expect-kind",
                "'outcome' is for decide cases", "use 'verdict' with check")
        for key in ("violations", "only_violations", "not_violations", "warnings",
                    "not_warnings", "passes"):
            for j, rid in enumerate(expect.get(key) or ()):
                if rid not in rule_ids:
                    bad((*base, "expect", key, j), "suite-unknown-rule",
                        f"the policy has no rule '{rid}'", did_you_mean(str(rid), rule_ids))
        for j, gid in enumerate(expect.get("approvals_needed") or ()):
            if gid not in gate_ids:
                bad((*base, "expect", "approvals_needed", j), "suite-unknown-gate",
                    f"the policy has no approval gate '{gid}'", did_you_mean(str(gid), gate_ids))
        now = raw.get("now", suite_now)
        if now is None:
            bad(base, "suite-no-now", f"case '{name}' has no 'now' and the suite has none",
                "freeze the clock: add 'now: 2026-11-26T12:00:00Z' to the suite")
        out.append(Case(name, i, sm.locate(base), deal, actor,
                        None if now is None else str(now),
                        None if trigger is None else str(trigger), expect))
    if errors:
        raise PolicyError(errors)
    return Suite(path, policy, engine, tuple(out), lang)


# ---------------------------------------------------------------- running


def _ids(items: Iterable[Any], attr: str) -> list[str]:
    return [str(getattr(x, attr)) for x in items]


def _judge(case: Case, checks: Sequence[RuleCheck], violations: list[str], warnings: list[str],
           needs: list[str], result_key: str, result: str) -> list[str]:
    """Every way the engine's answer differs from what the case expects."""
    exp = case.expect
    fails: list[str] = []
    by_rule: dict[str, list[str]] = {}
    for c in checks:
        by_rule.setdefault(c.rule, []).append(c.outcome)
    if result_key in exp and exp[result_key] != result:
        fails.append(f"{result_key}: expected {exp[result_key]}, got {result}")

    def evaluated(rid: str) -> bool:
        return rid in by_rule or rid in violations or rid in warnings

    def what_it_did(rid: str) -> str:
        """What the rule did instead, in the words of the suite's expect keys."""
        if rid in warnings:
            return "it fired as a warning (its effect is warn): list it under 'warnings:'"
        if rid in violations:
            return "it fired as a violation, not a warning: list it under 'violations:'"
        outcomes = by_rule.get(rid, [])
        if "fail" in outcomes:
            return ("it fired, and its effect is to ask for an approval, not a violation "
                    "or a warning: list the gate under 'approvals_needed:'")
        return f"it did not fire (outcome: {', '.join(outcomes) or 'pass'})"

    for rid in exp.get("violations") or ():
        if rid in violations:
            continue
        if not evaluated(rid):
            fails.append(f"expected rule {rid} to be violated but {rid} was not evaluated "
                         "in this case")
        else:
            fails.append(f"expected rule {rid} to be violated but {what_it_did(rid)}")
    if "only_violations" in exp and sorted(set(exp["only_violations"])) != sorted(
            set(violations)):
        fails.append(f"violations: expected exactly {sorted(set(exp['only_violations']))}, "
                     f"got {sorted(set(violations))}")
    for rid in exp.get("not_violations") or ():
        if rid in violations:
            fails.append(f"expected rule {rid} not to be violated but it was")
        elif not evaluated(rid):
            fails.append(f"expected rule {rid} not to be violated but {rid} was not evaluated "
                         "in this case (the expectation would pass vacuously)")
    for rid in exp.get("warnings") or ():
        if rid in warnings:
            continue
        fails.append(f"expected a warning from rule {rid} but "
                     + (f"{rid} was not evaluated in this case" if not evaluated(rid)
                        else what_it_did(rid)))
    for rid in exp.get("not_warnings") or ():
        if rid in warnings:
            fails.append(f"expected no warning from rule {rid} but it warned")
        elif not evaluated(rid):
            fails.append(f"expected no warning from rule {rid} but {rid} was not evaluated "
                         "in this case (the expectation would pass vacuously)")
    for rid in exp.get("passes") or ():
        outcomes = by_rule.get(rid)
        if not outcomes:
            fails.append(f"expected rule {rid} to pass but {rid} was not evaluated in this case")
        elif "pass" not in outcomes or rid in violations:
            fails.append(f"expected rule {rid} to pass but it did not "
                         f"(outcome: {', '.join(outcomes)})")
    if "approvals_needed" in exp and sorted(set(exp["approvals_needed"])) != sorted(set(needs)):
        fails.append(f"approvals_needed: expected {sorted(set(exp['approvals_needed']))}, "
                     f"got {sorted(set(needs))}")
    return fails


#: A case whose deal the engine could not judge: no rule of the policy ran, so an
#: expectation such as ``outcome: not_permitted`` would pass without testing anything.
_INVALID = ("the case's deal is not a valid record, so no rule of the policy was judged: "
            "{problem}; fix the deal (or, to test a malformed record, expect {expect})")


def run_case(suite: Suite, case: Case) -> CaseResult:
    """Run one case on the engine and compare the answer with the expectation."""
    started = time.perf_counter()
    engine = suite.engine
    explanation: Explanation
    if case.trigger is not None:
        decision: Decision = engine.decide(case.deal, case.trigger, case.actor, now=case.now)
        checks = decision.checks
        violations = _ids(decision.violations, "rule")
        warnings = _ids(decision.warnings, "rule")
        needs = _ids(decision.approvals_needed, "gate")
        fails = _judge(case, checks, violations, warnings, needs, "outcome", decision.outcome)
        invalid = next((v.message for v in decision.violations if v.rule == "deal"), None)
        expected = {*(case.expect.get("violations") or ()),
                    *(case.expect.get("only_violations") or ())}
        if invalid is not None and "deal" not in expected:
            fails.append(_INVALID.format(problem=invalid, expect="violations: [deal]"))
        actual: dict[str, Any] = {"outcome": decision.outcome}
        explanation = explain_decision(suite.policy, decision, case.deal, case.actor, suite.lang)
    else:
        verdict: Verdict = engine.check(case.deal, now=case.now, explain=True)
        checks = verdict.checks
        violations = _ids(verdict.violations, "rule")
        warnings = _ids(verdict.warnings, "rule")
        needs = _ids(verdict.approvals_needed, "gate")
        fails = _judge(case, checks, violations, warnings, needs, "verdict", verdict.verdict)
        if verdict.verdict == "error" and not {"verdict", "error"} & case.expect.keys():
            fails.append(_INVALID.format(problem=verdict.error, expect="verdict: error"))
        want_error = case.expect.get("error")
        if want_error is not None and str(want_error) not in (verdict.error or ""):
            got = (f"got {verdict.error!r}" if verdict.error
                   else f"the deal was judged ({verdict.verdict}), with no error")
            fails.append(f"error: expected a message containing {want_error!r}, but {got}")
        actual = {"verdict": verdict.verdict}
        if verdict.error:
            actual["error"] = verdict.error
        explanation = explain_verdict(suite.policy, verdict, case.deal, case.now, suite.lang)
    actual.update(violations=violations, warnings=warnings, approvals_needed=needs)
    return CaseResult(suite.path, case.name, case.location, not fails, fails, checks, actual,
                      plain_text(explanation), time.perf_counter() - started)


@dataclass
class RunResult:
    """Every case of every suite, and coverage per policy."""

    cases: list[CaseResult]
    coverage: dict[str, Coverage]

    @property
    def failed(self) -> list[CaseResult]:
        """The cases that failed."""
        return [c for c in self.cases if not c.passed]


def run_suites(suites: Sequence[Suite]) -> RunResult:
    """Run every case of every suite; collect rule coverage per policy file."""
    results: list[CaseResult] = []
    coverage: dict[str, Coverage] = {}
    for suite in suites:
        key = os.path.realpath(suite.policy.path)
        cov = coverage.get(key)
        if cov is None:
            evaluable = evaluable_rules(suite.engine)
            cov = Coverage(suite.policy, {r: RuleCoverage(r, r in evaluable)
                                          for r in suite.policy.rule_ids()})
            coverage[key] = cov
        for case in suite.cases:
            try:
                result = run_case(suite, case)
            except CycleflowError as err:  # a usage error such as a bad 'now'
                result = CaseResult(suite.path, case.name, case.location, False,
                                    [f"the engine refused the case: {err}"], (), {}, "", 0.0)
            cov.add(result.checks)
            results.append(result)
    return RunResult(results, coverage)


def load_suites(paths: Sequence[str]) -> tuple[list[Suite], list[Problem]]:
    """Load every suite; the ones that load, and the problems of those that do not."""
    suites: list[Suite] = []
    problems: list[Problem] = []
    for path in paths:
        try:
            suites.append(load_suite(path))
        except PolicyError as err:
            problems.extend(err.problems)
    return suites, problems
