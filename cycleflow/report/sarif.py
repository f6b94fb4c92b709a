"""SARIF 2.1.0: one run of the ``cycleflow`` tool, one result per finding, located at its record.

Every violation, missing approval, warning and record error is a result
with ``ruleId`` (the policy rule; :data:`INPUT_ERROR_RULE` for records that
could not be judged), a ``level``, a message, a physical location (the
record's file as ``artifactLocation.uri`` and its line as
``region.startLine``) and a logical location naming the deal.

Levels: a violation or a missing approval is ``error`` (``warning`` when its
severity is ``low``), since it fails the check; a warning is ``warning``
(``note`` when ``low``); a record error is ``error``. Results are streamed;
``rules`` (``{"id", "kind", "severity", "message"}``) become
``tool.driver.rules`` and give results their ``ruleIndex``; an id only the engine
knows (``transition``, ``duplicate_id``, ``require.<field>``) is declared when it first
appears, which is why ``tool`` follows ``results`` in the file.

The tool is :data:`TOOL_NAME` in every log ``cycleflow check`` writes, including the
one naming a policy's problems when the policy does not load, so code scanning
closes that run's alerts on the next good upload. ``invocations[0].executionSuccessful``
is true when every record got its verdict: records that could not be judged are findings
of a complete analysis (results of :data:`INPUT_ERROR_RULE`, exit 2), not a failed run;
only a policy that does not load (exit 3) makes it false.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, BinaryIO, Final
from urllib.parse import quote

from cycleflow.report._common import INPUT_ERROR_RULE, Finding, as_text, findings
from cycleflow.report._common import dumps as _dumps
from cycleflow.report.summary import Summary

__all__ = [
    "INPUT_ERROR_RULE",
    "SARIF_SCHEMA",
    "TOOL_NAME",
    "TOOL_URI",
    "level_of",
    "source_uri",
    "tool_version",
    "write_sarif",
]

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"

#: ``tool.driver.name`` of every SARIF log ``cycleflow check`` writes (code scanning
#: tracks alerts per tool: a second name would leave a broken run's alerts open forever).
TOOL_NAME: Final = "cycleflow"
TOOL_URI: Final = "https://pypi.org/project/cycleflow/"


def level_of(finding: Finding) -> str:
    """The SARIF level of a finding (see the module docstring)."""
    low = finding.severity.lower() in ("low", "info", "note")
    if finding.level == "warning":
        return "note" if low else "warning"
    if finding.level == "error":
        return "error"
    return "warning" if low else "error"


def tool_version() -> str:
    """The installed cycleflow version (``0`` when not installed as a distribution)."""
    try:
        from importlib.metadata import version

        return version("cycleflow")
    except Exception:  # pragma: no cover - not installed as a distribution
        return "0"


def source_uri(source: str) -> str:
    """A URI reference for a record source; relative paths stay relative, ``<stdin>`` is stdin."""
    if source == "<stdin>":
        return "stdin"
    path = source.replace(os.sep, "/") if os.sep != "/" else source
    if os.path.isabs(source):
        return "file://" + quote(path if path.startswith("/") else "/" + path, safe="/:")
    return quote(path, safe="/")


def _descriptor(rule: Mapping[str, Any]) -> dict[str, Any]:
    rid = str(rule.get("id"))
    text = as_text(rule.get("message")) or rid
    severity = str(rule.get("severity") or "")
    return {
        "id": rid,
        "shortDescription": {"text": text},
        "defaultConfiguration": {
            "level": "warning" if severity.lower() in ("low", "info") else "error"
        },
        "properties": {"kind": str(rule.get("kind") or ""), "severity": severity},
    }


def _fingerprint(policy_id: str, rule: str, who: str) -> str:
    return hashlib.sha256(f"{policy_id}\x00{rule}\x00{who}".encode()).hexdigest()[:32]


def write_sarif(
    verdicts: Iterable[Mapping[str, Any]],
    out: BinaryIO,
    policy: Mapping[str, Any],
    rules: Sequence[Mapping[str, Any]] = (),
) -> Summary:
    """Write the SARIF log; returns the summary counted on the way."""
    descriptors = [_descriptor(r) for r in rules if r.get("id") is not None]
    seen: dict[str, int] = {}
    unique: list[dict[str, Any]] = []
    for d in descriptors:
        if d["id"] not in seen:
            seen[d["id"]] = len(unique)
            unique.append(d)
    if INPUT_ERROR_RULE not in seen:
        seen[INPUT_ERROR_RULE] = len(unique)
        unique.append({
            "id": INPUT_ERROR_RULE,
            "shortDescription": {"text": "A deal record could not be read or judged."},
            "defaultConfiguration": {"level": "error"},
            "properties": {"kind": "input", "severity": "error"},
        })
    policy_props = {k: policy.get(k) for k in ("id", "version", "sha256", "path")}
    head = {"$schema": SARIF_SCHEMA, "version": "2.1.0"}
    # '{"$schema":…,"runs":[{"results":[' + results + '],"tool":…}]}': the results stream
    # first, so a rule id only the engine knows (transition, duplicate_id, require.f) is
    # declared in tool.driver.rules when it first appears, with its ruleIndex
    out.write(_dumps(head)[:-1] + b',"runs":[{"results":[')
    policy_id = str(policy.get("id") or "")
    counted = Summary()
    first = True
    for v in verdicts:
        counted.add(v)
        for result, finding in _results(v, seen, policy_id):
            if "ruleIndex" not in result:
                seen[finding.rule] = result["ruleIndex"] = len(unique)
                unique.append(_engine_rule(finding))
            out.write((b"\n" if first else b",\n") + _dumps(result))
            first = False
    driver = {
        "name": TOOL_NAME,
        "version": tool_version(),
        "informationUri": TOOL_URI,
        "rules": unique,
    }
    # every record has its verdict: a record error is a finding, not a failed analysis
    tail = {"tool": {"driver": driver}, "properties": {"policy": policy_props},
            "columnKind": "unicodeCodePoints",
            "invocations": [{"executionSuccessful": True}]}
    out.write((b"\n]," if not first else b"],") + _dumps(tail)[1:] + b"]}\n")
    return counted


#: What the engine's own rule ids mean (they are not rules written in the policy).
_ENGINE_RULES: Final = MappingProxyType({
    "transition": "The trigger is not permitted from the deal's stage.",
    "duplicate_id": "The deal id was already used by an earlier record.",
    "deal": "The deal record is malformed for this decision.",
})


def _engine_rule(finding: Finding) -> dict[str, Any]:
    """A rule descriptor for an id the policy does not declare as a rule."""
    rid = finding.rule
    text = _ENGINE_RULES.get(rid) or (
        f"The transition requires deal.{rid.split('.', 1)[1]}." if rid.startswith("require.")
        else f"{finding.kind} rule {rid}")
    severity = finding.severity or ""
    return {
        "id": rid,
        "shortDescription": {"text": text},
        "defaultConfiguration": {
            "level": "warning" if severity.lower() in ("low", "info") else "error"
        },
        "properties": {"kind": finding.kind, "severity": severity},
    }


def _results(
    v: Mapping[str, Any], index: Mapping[str, int], policy_id: str
) -> Iterable[tuple[dict[str, Any], Finding]]:
    source = str(v.get("source") or "")
    record = v.get("record")
    deal = v.get("deal")
    physical: dict[str, Any] = {"artifactLocation": {"uri": source_uri(source) or "unknown"}}
    if isinstance(record, int) and record > 0:
        physical["region"] = {"startLine": record}
    location: dict[str, Any] = {"physicalLocation": physical}
    who = str(deal) if deal not in (None, "") else f"{source}:{record}"
    if deal not in (None, ""):
        location["logicalLocations"] = [{"name": str(deal), "kind": "object"}]
    for f in findings(v):
        text = f.message or f.rule
        if deal not in (None, ""):
            text = f"{text} (deal {deal})"
        result: dict[str, Any] = {
            "ruleId": f.rule,
            "level": level_of(f),
            "kind": "fail",
            "message": {"text": text},
            "locations": [location],
            "partialFingerprints": {"cycleflowFinding/v1": _fingerprint(policy_id, f.rule, who)},
            "properties": {
                "deal": deal,
                "stage": v.get("stage"),
                "verdict": v.get("verdict"),
                "finding": f.level,
                "kind": f.kind,
                "severity": f.severity,
            },
        }
        if f.values not in (None, {}, []):
            result["properties"]["values"] = f.values
        if f.rule in index:
            result["ruleIndex"] = index[f.rule]
        yield result, f
