"""Counting verdicts as they stream past, and the exit code a run ends with.

Exit codes (DESIGN.md: 0 all compliant, 1 any violation, 2 usage or input
error): a policy failure outranks an input error. :func:`exit_code` returns

* 1 when any record has a violation, or any warning and ``fail_on="warning"``;
* otherwise 2 when any record could not be judged (an ``error`` verdict:
  unreadable, malformed, wrong type, duplicate-free but broken);
* otherwise 0, including for a run that read no record at all.

So a CI job that fails on exit 1 fails on what the policy found, and a job
that sees 2 knows the policy found nothing but some input was never judged.
The report and the summary always carry all three counts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["FailOn", "Summary", "exit_code", "summarize"]

FailOn = Literal["violation", "warning"]


@dataclass(slots=True)
class Summary:
    """Counts over a stream of verdicts, kept up to date one verdict at a time."""

    total: int = 0
    compliant: int = 0
    violation: int = 0
    error: int = 0
    warnings: int = 0  # warning findings, over all records
    with_warnings: int = 0  # records carrying at least one warning
    rules: Counter[str] = field(default_factory=Counter)  # violations per rule id
    warning_rules: Counter[str] = field(default_factory=Counter)  # warnings per rule id

    def add(self, verdict: Mapping[str, Any]) -> None:
        """Count one verdict; an unknown verdict value counts as an error."""
        self.total += 1
        kind = verdict.get("verdict")
        if kind == "compliant":
            self.compliant += 1
        elif kind == "violation":
            self.violation += 1
            for v in verdict.get("violations") or ():
                self.rules[_rule(v)] += 1
            if not verdict.get("violations"):
                for gate in verdict.get("approvals_needed") or ():
                    self.rules[str(gate.get("gate", "?"))] += 1
        else:
            self.error += 1
        found = verdict.get("warnings") or ()
        if found:
            self.with_warnings += 1
            self.warnings += len(found)
            for w in found:
                self.warning_rules[_rule(w)] += 1

    def merge(self, other: Summary) -> None:
        """Add another summary's counts (from a worker that judged a share of the records)."""
        self.total += other.total
        self.compliant += other.compliant
        self.violation += other.violation
        self.error += other.error
        self.warnings += other.warnings
        self.with_warnings += other.with_warnings
        self.rules.update(other.rules)
        self.warning_rules.update(other.warning_rules)

    def track(self, verdicts: Iterable[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
        """Pass ``verdicts`` through unchanged, counting each one on the way."""
        add = self.add
        for v in verdicts:
            add(v)
            yield v

    def top_rules(self, n: int = 10) -> list[tuple[str, int]]:
        """The rules with the most violations, most first (ties by rule id)."""
        return sorted(self.rules.items(), key=lambda kv: (-kv[1], kv[0]))[:n]

    def top_warning_rules(self, n: int = 10) -> list[tuple[str, int]]:
        """The rules with the most warnings, most first."""
        return sorted(self.warning_rules.items(), key=lambda kv: (-kv[1], kv[0]))[:n]

    def to_dict(self, top: int = 10) -> dict[str, Any]:
        """JSON-ready counts, with the top rules as ``[{"rule", "count"}]``."""
        return {
            "total": self.total,
            "compliant": self.compliant,
            "violation": self.violation,
            "error": self.error,
            "warnings": self.warnings,
            "records_with_warnings": self.with_warnings,
            "top_rules": [{"rule": r, "count": c} for r, c in self.top_rules(top)],
            "top_warning_rules": [{"rule": r, "count": c} for r, c in self.top_warning_rules(top)],
        }


def _rule(finding: Any) -> str:
    if type(finding) is dict or isinstance(finding, Mapping):  # the ABC check is the slow one
        return str(finding.get("rule") or "?")
    return "?"


def summarize(verdicts: Iterable[Mapping[str, Any]]) -> Summary:
    """The summary of every verdict in ``verdicts`` (consumes the iterable)."""
    summary = Summary()
    for v in verdicts:
        summary.add(v)
    return summary


def exit_code(summary: Summary, fail_on: FailOn | str = "violation") -> int:
    """0, 1 or 2 for a finished run; see the module docstring for the rule."""
    if fail_on not in ("violation", "warning"):
        raise ValueError(f"fail_on must be 'violation' or 'warning', not {fail_on!r}")
    if summary.violation or (fail_on == "warning" and summary.warnings):
        return 1
    if summary.error:
        return 2
    return 0
