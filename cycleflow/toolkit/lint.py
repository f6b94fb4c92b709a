"""``cycleflow lint``: every problem of every policy file, located, in one run.

Loading a policy already reports schema, reference and expression errors;
lint adds the semantic checks that do not stop a policy from running
(warnings) and renders everything as text, JSON or SARIF.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import TextIO

from cycleflow.errors import PolicyError, Problem


def lint_paths(paths: Sequence[str]) -> list[Problem]:
    """Lint several policy files; problems of all of them, in file order."""
    out: list[Problem] = []
    for path in paths:
        out.extend(lint_file(path))
    return out


def lint_file(path: str) -> list[Problem]:
    """Every problem of one policy file: errors that stop it loading, then warnings."""
    from cycleflow.api import load_policy
    from cycleflow.toolkit.semantics import semantic_problems

    try:
        policy = load_policy(path)
    except PolicyError as err:
        return list(err.problems)
    return semantic_problems(policy)


def render_lint(problems: Iterable[Problem], fmt: str, out: TextIO) -> None:
    """Write problems as ``file:line:col: code: message`` lines, JSON, or SARIF."""
    items = list(problems)
    if fmt == "json":
        json.dump({"problems": [p.to_dict() for p in items]}, out, ensure_ascii=False, indent=2)
        out.write("\n")
        return
    if fmt == "sarif":
        json.dump(_sarif(items), out, ensure_ascii=False, indent=2)
        out.write("\n")
        return
    for p in items:
        sev = "" if p.severity == "error" else f"[{p.severity}] "
        out.write(f"{p.location}: {p.code}: {sev}{p.message}"
                  + (f" ({p.suggestion})" if p.suggestion else "") + "\n")
    errors = sum(1 for p in items if p.severity == "error")
    warnings = len(items) - errors
    if items:
        out.write(f"{errors} error(s), {warnings} warning(s)\n")


def _sarif(items: list[Problem]) -> dict[str, object]:
    level = {"error": "error", "warning": "warning", "info": "note"}
    rules = sorted({p.code for p in items})
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "cycleflow-lint", "informationUri":
                                "https://cycleflow.dev", "rules": [{"id": r} for r in rules]}},
            "results": [{
                "ruleId": p.code,
                "level": level.get(p.severity, "warning"),
                "message": {"text": p.message + (f" ({p.suggestion})" if p.suggestion else "")},
                "locations": [{"physicalLocation": {
                    "artifactLocation": {"uri": p.location.file},
                    "region": {"startLine": max(p.location.line, 1),
                               "startColumn": max(p.location.column, 1)},
                }}],
            } for p in items],
        }],
    }
