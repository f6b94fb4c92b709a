"""``cycleflow lint``: every problem of every policy file, located, in one run.

Loading a policy already reports schema, reference and expression errors (all
of them at once); lint adds the semantic checks that do not stop a policy from
running (warnings and notes) and renders everything as text, JSON or SARIF 2.1.0.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any, TextIO
from urllib.parse import quote

from cycleflow.errors import CycleflowError, Location, PolicyError, Problem
from cycleflow.load.yaml_reader import Document
from cycleflow.textsafe import visible

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL = {"error": "error", "warning": "warning", "info": "note"}

# One-line descriptions of the codes lint itself adds (load codes describe themselves).
RULE_HELP: dict[str, str] = {
    "unreachable-stage": "No chain of transitions leads from the initial stage to this stage.",
    "dead-end-stage": "A stage that is not final has no transition out of it.",
    "unused-gate": "An approval gate that no risk and no transition requires.",
    "steps-on-final-stage": "Steps of a final stage are never checked.",
    "max-days-on-final-stage": "A time limit on a final stage flags every closed deal.",
    "criterion-always-true": "A criterion that is the constant True never blocks.",
    "criterion-always-false": "A criterion that is the constant False blocks every deal.",
    "risk-always-fires": "A risk whose condition is the constant True.",
    "risk-never-fires": "A risk whose condition is the constant False.",
    "risk-never-checked": "A risk checkpoint that no decision ever reaches.",
    "duplicate-transition": "The same trigger, source and target declared twice.",
    "gate-count-exceeds-roles": "A gate needs more approvers than it names roles.",
    "gate-separation-duplicate": "A gate names the same person twice in separate_from.",
    "gate-separation-type": "separate_from names a field that cannot hold a user id.",
    "gate-approver-type": "approvers names a field that cannot hold a user id.",
    "gate-approver-separated": "A gate's named approver is also someone it keeps "
                               "separate: no approval can count.",
    "stage-not-in-deal-schema": "A stage the deal schema's stage enum lacks: every deal "
                                "in it fails the deal schema.",
    "deal-schema-unknown-stage": "A value of the deal schema's stage enum that is no stage "
                                 "of the policy.",
    "expr-type-mismatch": "A comparison or operation the deal schema's types cannot satisfy.",
    "expr-type-always-fails": "An ordering between declared types that can never be "
                              "ordered: every evaluation fails closed.",
    "expr-and-or-without-brackets": "and and or mixed without brackets: and binds tighter "
                                    "than or.",
    "expr-in-bracketed-text": "'in' a text in brackets, which is no tuple: a substring test.",
    "expr-value-as-condition": "A number or text (a field or arithmetic) used as the "
                               "condition instead of a comparison.",
    "label-language": "A label language code that is probably a typo of a common one.",
    "control-character": "A control or bidi-override character in a policy's text.",
    "not-a-policy": "A policy test suite given to lint: run cycleflow test on it.",
}


def lint_paths(paths: Sequence[str]) -> list[Problem]:
    """Lint several policy files; problems of all of them, in file order."""
    out: list[Problem] = []
    for path in paths:
        out.extend(lint_file(path))
    return out


def _documents(path: str) -> tuple[list[Document], Any]:
    """The raw documents of a policy and its deal schema's field types (best effort)."""
    from cycleflow.load.policy_files import read_deal_schema, read_includes, read_main
    from cycleflow.validate.deal_schema import known_fields

    main = read_main(path)
    docs = [main]
    with contextlib.suppress(CycleflowError):
        docs.extend(read_includes(main))
    schema, _ = read_deal_schema(main)
    return docs, known_fields(schema) if schema else None


def lint_file(path: str) -> list[Problem]:
    """Every problem of one policy file: errors that stop it loading, then warnings."""
    from cycleflow.api import load_policy
    from cycleflow.toolkit.semantics import expression_warnings, semantic_problems

    try:
        policy = load_policy(path)
    except PolicyError as err:
        suite = _looks_like_a_suite(path, err)
        if suite is not None:
            return [suite]
        problems = list(err.problems)
        # The policy does not load, but its expressions may still be type-checked.
        try:
            docs, known = _documents(path)
            problems = _field_suggestions(problems, docs, known)
            if known is not None:
                problems.extend(expression_warnings(docs, known))
        except Exception:  # noqa: BLE001 - best effort on a broken policy; errors already given
            pass
        return _unique(problems)
    try:
        docs, _ = _documents(path)
    except CycleflowError:
        docs = []
    return _unique(semantic_problems(policy, docs))


def _field_items(docs: Sequence[Document]) -> dict[Location, tuple[str, str]]:
    """Where each field named outside expressions is written: its key and its text."""
    out: dict[Location, tuple[str, str]] = {}
    for doc in docs:
        data = doc.data
        if not isinstance(data, Mapping):
            continue
        lists: list[tuple[tuple[str | int, ...], Any]] = [(("sensitive",), data.get("sensitive"))]
        gates = data.get("approvals")
        if isinstance(gates, Mapping):
            for gid, gate in gates.items():
                if isinstance(gate, Mapping):
                    for key in ("binds", "separate_from", "approvers"):
                        lists.append((("approvals", gid, key), gate.get(key)))
        transitions = data.get("transitions")
        if isinstance(transitions, list):
            for i, t in enumerate(transitions):
                if isinstance(t, Mapping):
                    lists.append((("transitions", i, "require"), t.get("require")))
        for path, items in lists:
            if isinstance(items, list):
                for i, item in enumerate(items):
                    if isinstance(item, str):
                        out[doc.source_map.locate((*path, i))] = (str(path[-1]), item)
    return out


def _field_suggestions(problems: Sequence[Problem], docs: Sequence[Document],
                       known: Mapping[str, frozenset[str]] | None) -> list[Problem]:
    """Suggest ``deal.legal_owner`` for a bare declared field written in separate_from (the
    schema refuses it before the loader, which words other field suggestions as the key
    takes them, sees it)."""
    written = _field_items(docs)
    out: list[Problem] = []
    for p in problems:
        key, text = written.get(p.location, ("", ""))
        if p.code == "schema-pattern" and key == "separate_from" and known is not None:
            fields = [f for f in known if f != "owner"]
            if text in known:
                name = f"deal.{text}"
            else:
                close = difflib.get_close_matches(
                    text, ["owner", "requester", *fields], n=1, cutoff=0.6)
                name = (close[0] if close[0] in ("owner", "requester") else
                        f"deal.{close[0]}") if close else ""
            if name:
                p = replace(p, suggestion=f"did you mean '{name}'? separate_from takes "
                                          "owner, requester or deal.<field>")
        out.append(p)
    return out


def _looks_like_a_suite(path: str, err: PolicyError) -> Problem | None:
    """One problem saying so, for a policy test suite given to lint (it has ``policy:`` and
    ``cases:`` and no ``stages:``), instead of six schema errors about a missing policy."""
    if not any(p.code == "schema-required" for p in err.problems):
        return None
    try:
        from cycleflow.load.policy_files import read_main

        data = read_main(path).data
    except CycleflowError:
        return None
    if not (isinstance(data, Mapping) and "policy" in data and "cases" in data
            and "stages" not in data):
        return None
    return Problem(
        Location(path, 1, 1), "not-a-policy",
        f"{path} is a policy test suite (it has 'policy:' and 'cases:'), not a policy",
        f"run 'cycleflow test {path}'; lint its policy, {data['policy']}, instead")


def _unique(problems: Iterable[Problem]) -> list[Problem]:
    """Drop repeats; order by file (first seen first), then line and column."""
    seen: set[Problem] = set()
    files: dict[str, int] = {}
    out: list[Problem] = []
    for p in problems:
        if p not in seen:
            seen.add(p)
            files.setdefault(p.location.file, len(files))
            out.append(p)
    out.sort(key=lambda p: (files[p.location.file], p.location.line, p.location.column))
    return out


def render_lint(problems: Iterable[Problem], fmt: str, out: TextIO) -> None:
    """Write problems as ``file:line:col: code: message`` lines, JSON, or SARIF."""
    items = list(problems)
    if fmt == "json":
        errors = sum(1 for p in items if p.severity == "error")
        warnings = sum(1 for p in items if p.severity == "warning")
        doc = {"problems": [p.to_dict() for p in items],
               "summary": {"errors": errors, "warnings": warnings,
                           "notes": len(items) - errors - warnings}}
        json.dump(doc, out, ensure_ascii=False, indent=2)
        out.write("\n")
        return
    if fmt == "sarif":
        json.dump(sarif_log(items), out, ensure_ascii=False, indent=2)
        out.write("\n")
        return
    for p in items:
        sev = "" if p.severity == "error" else f"[{p.severity}] "
        out.write(visible(f"{p.location}: {p.code}: {sev}{p.message}"  # shown, not obeyed
                          + (f" ({p.suggestion})" if p.suggestion else "")) + "\n")
    errors = sum(1 for p in items if p.severity == "error")
    warnings = sum(1 for p in items if p.severity == "warning")
    if items:
        notes = len(items) - errors - warnings
        out.write(f"{errors} error(s), {warnings} warning(s)"
                  + (f", {notes} note(s)" if notes else "") + "\n")


def _uri(path: str) -> str:
    """A SARIF artifact URI: relative paths stay relative, absolute ones become file: URIs."""
    posix = path.replace(os.sep, "/")
    if os.path.isabs(path):
        return "file://" + quote(posix if posix.startswith("/") else "/" + posix, safe="/:")
    return quote(posix, safe="/")


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("cycleflow")
    except Exception:  # noqa: BLE001 - not installed: still a valid log
        return "0"


def sarif_log(
    items: Sequence[Problem], *, tool_name: str = "cycleflow-lint",
    execution_successful: bool = True,
) -> dict[str, Any]:
    """A SARIF 2.1.0 log: one run, one rule per code (with its default level), one result each.

    ``tool_name`` is ``cycleflow-lint`` for lint (an analysis of its own); ``check`` writes
    its policy problems as its own tool with ``execution_successful=False`` (nothing judged).
    Relative paths carry ``uriBaseId`` ``%SRCROOT%``, as ``check``'s results do.
    """
    from cycleflow.report.sarif import (
        TOOL_NAME,
        TOOL_URI,
        artifact_location,
        original_uri_base_ids,
    )

    codes: dict[str, str] = {}
    for p in items:
        # the most severe level a code is reported at becomes its default
        level = _LEVEL.get(p.severity, "warning")
        prior = codes.get(p.code)
        order = ["note", "warning", "error"]
        if prior is None or order.index(level) > order.index(prior):
            codes[p.code] = level
    rule_ids = sorted(codes)
    rules = [{
        "id": code,
        "name": "".join(part.capitalize() for part in code.split("-")),
        "shortDescription": {"text": RULE_HELP.get(code, code.replace("-", " "))},
        "defaultConfiguration": {"level": codes[code]},
        "helpUri": "https://cycleflow.dev/docs/authoring#what-lint-detects-and-what-it-cannot",
    } for code in rule_ids]
    results: list[dict[str, Any]] = []
    cwd = os.getcwd()
    for p in items:
        region: dict[str, Any] = {}
        if p.location.line > 0:
            region = {"startLine": p.location.line,
                      "startColumn": max(p.location.column, 1)}
        artifact = artifact_location(p.location.file, cwd) or {"uri": _uri(p.location.file)}
        physical: dict[str, Any] = {"artifactLocation": artifact}
        if region:
            physical["region"] = region
        text = p.message + (f" ({p.suggestion})" if p.suggestion else "")
        result: dict[str, Any] = {
            "ruleId": p.code,
            "ruleIndex": rule_ids.index(p.code),
            "level": _LEVEL.get(p.severity, "warning"),
            "message": {"text": text},
            "locations": [{"physicalLocation": physical}],
        }
        if p.suggestion:
            result["properties"] = {"suggestion": p.suggestion}
        results.append(result)
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": tool_name,
                "version": _version(),
                "informationUri": TOOL_URI if tool_name == TOOL_NAME else "https://cycleflow.dev",
                "rules": rules,
            }},
            "originalUriBaseIds": original_uri_base_ids(cwd),
            "invocations": [{"executionSuccessful": execution_successful}],
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    }
