"""SARIF 2.1.0: one run of the ``cycleflow`` tool, one result per finding, located at its record.

Every violation, missing approval, warning and record error is a result
with ``ruleId`` (the policy rule; :data:`INPUT_ERROR_RULE` for records that
could not be judged), a ``level``, a message, a location and a logical location
naming the deal; ``properties.record`` is the record's line (or position).

Locations (see :func:`artifact_location`), as GitHub code scanning resolves them: a
relative path inside the current directory is a relative ``uri`` with ``"uriBaseId":
"%SRCROOT%"``, and ``run.originalUriBaseIds`` gives ``%SRCROOT%`` as the current
directory's ``file:`` URI (ending in ``/``); an absolute path, or a relative one that
leaves the current directory (``../``), is an absolute ``file:`` URI. A record read from
standard input has no physical location (there is no file to show), only a logical
location named ``stdin``. A record of a compressed input (gzip, by its name or its first
bytes) has no ``region``: its line is a line of the decompressed text, which no viewer can
show inside the compressed file.

The tool is :data:`TOOL_NAME` in every log ``cycleflow check`` writes, including the
one naming a policy's problems when the policy does not load, so code scanning
closes that run's alerts on the next good upload. ``invocations[0].executionSuccessful``
is true when every record got its verdict: records that could not be judged are findings
of a complete analysis (results of :data:`INPUT_ERROR_RULE`, exit 2), not a failed run;
only a policy that does not load (exit 3) makes it false.

Levels: a violation or a missing approval is ``error`` (``warning`` when its
severity is ``low``), since it fails the check; a warning is ``warning``
(``note`` when ``low``); a record error is ``error``. Results are streamed;
``rules`` (``{"id", "kind", "severity", "message"}``) become
``tool.driver.rules`` and give results their ``ruleIndex``; an id only the engine
knows (``transition``, ``duplicate_id``, ``require.<field>``) is declared when it first
appears, which is why ``tool`` follows ``results`` in the file.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any, BinaryIO, Final
from urllib.parse import quote

from cycleflow.report._common import INPUT_ERROR_RULE, Finding, as_text, findings
from cycleflow.report._common import dumps as _dumps
from cycleflow.report.summary import Summary

__all__ = [
    "INPUT_ERROR_RULE",
    "SARIF_SCHEMA",
    "SRCROOT",
    "TOOL_NAME",
    "TOOL_URI",
    "artifact_location",
    "level_of",
    "original_uri_base_ids",
    "source_uri",
    "tool_version",
    "write_sarif",
]

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"

#: ``tool.driver.name`` of every SARIF log ``cycleflow check`` writes (code scanning
#: tracks alerts per tool: a second name would leave a broken run's alerts open forever).
TOOL_NAME: Final = "cycleflow"
TOOL_URI: Final = "https://pypi.org/project/cycleflow/"

#: The base id of relative artifact URIs: the directory the command ran in.
SRCROOT: Final = "%SRCROOT%"

_STDIN: Final = "<stdin>"


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


def original_uri_base_ids(cwd: str | None = None) -> dict[str, Any]:
    """``run.originalUriBaseIds``: ``%SRCROOT%`` is ``cwd`` (default: the current
    directory) as a ``file:`` URI ending in ``/``, which relative URIs resolve against."""
    root = Path(os.path.abspath(cwd or os.getcwd())).as_uri()
    return {SRCROOT: {"uri": root if root.endswith("/") else root + "/"}}


def artifact_location(source: str, cwd: str | None = None) -> dict[str, Any] | None:
    """The ``artifactLocation`` of a source path, None for standard input or no path.

    A relative path inside ``cwd`` (default: the current directory) stays relative,
    normalised (``./a/../b`` is ``b``), with ``uriBaseId`` ``%SRCROOT%``; an absolute path,
    or a relative one leaving ``cwd``, is an absolute ``file:`` URI.
    """
    if not source or source == _STDIN:
        return None
    if os.path.isabs(source):
        return {"uri": _file_uri(source)}
    norm = os.path.normpath(source)
    if norm == os.pardir or norm.startswith(os.pardir + os.sep):
        return {"uri": _file_uri(os.path.join(os.path.abspath(cwd or os.getcwd()), norm))}
    return {"uri": _quote(norm), "uriBaseId": SRCROOT}


def source_uri(source: str) -> str:
    """The ``uri`` of :func:`artifact_location` (``""`` for standard input or no path)."""
    location = artifact_location(source)
    return str(location["uri"]) if location else ""


def _file_uri(path: str) -> str:
    """An absolute path as a ``file:`` URI, normalised and percent-encoded."""
    posix = _posix(os.path.normpath(path))
    return "file://" + ("" if posix.startswith("/") else "/") + _quote(posix, safe="/:")


def _quote(path: str, safe: str = "/") -> str:
    """A path percent-encoded for a URI; bytes a file name holds undecoded stay its bytes."""
    try:
        raw = os.fsencode(_posix(path))
    except UnicodeEncodeError:  # a lone surrogate no file name decodes to: shown, not lost
        raw = _posix(path).encode("utf-8", "backslashreplace")
    return quote(raw, safe=safe)


def _posix(path: str) -> str:
    return path.replace(os.sep, "/") if os.sep != "/" else path


class _Locator:
    """Locations of results, for one log: each source's compression is looked up once."""

    def __init__(self) -> None:
        self.cwd = os.getcwd()
        self.compressed: dict[str, bool] = {}

    def location(self, source: str, record: Any, deal: Any) -> dict[str, Any]:
        """The result location of a record of ``source`` (see the module docstring)."""
        location: dict[str, Any] = {}
        artifact = artifact_location(source, self.cwd)
        if artifact is not None:
            physical: dict[str, Any] = {"artifactLocation": artifact}
            if isinstance(record, int) and record > 0 and not self._is_compressed(source):
                physical["region"] = {"startLine": record}
            location["physicalLocation"] = physical
        logical: list[dict[str, Any]] = []
        if source == _STDIN or not source:
            logical.append({"name": "stdin" if source else "unknown", "kind": "resource"})
        if deal not in (None, ""):
            logical.append({"name": str(deal), "kind": "object"})
        if logical:
            location["logicalLocations"] = logical
        return location

    def _is_compressed(self, source: str) -> bool:
        known = self.compressed.get(source)
        if known is None:
            known = self.compressed[source] = _is_compressed(source)
        return known


def _is_compressed(source: str) -> bool:
    """Whether the reader decompressed ``source``: a ``.gz`` name, or a regular file that
    starts with a gzip header (the reader goes by the bytes, whatever the name). A pipe or
    device is never opened here: a second reader would steal or wait for its data."""
    from cycleflow.batch.readers import is_gzip_header

    if source.lower().endswith(".gz"):
        return True
    try:
        if not stat.S_ISREG(os.stat(source).st_mode):
            return False
        with open(source, "rb") as fh:
            return is_gzip_header(fh.read(10))
    except (OSError, ValueError):
        return False


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
    """A result's identity across runs: policy, rule, and the deal (or its file and line).

    ``surrogatepass``: a file name with bytes that are not UTF-8 must not crash the
    report; every other text hashes exactly as before, so alerts keep their identity."""
    key = f"{policy_id}\x00{rule}\x00{who}".encode("utf-8", "surrogatepass")
    return hashlib.sha256(key).hexdigest()[:32]


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
    locator = _Locator()
    for v in verdicts:
        counted.add(v)
        for result, finding in _results(v, seen, policy_id, locator):
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
            "originalUriBaseIds": original_uri_base_ids(locator.cwd),
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
    v: Mapping[str, Any], index: Mapping[str, int], policy_id: str, locator: _Locator
) -> Iterable[tuple[dict[str, Any], Finding]]:
    source = str(v.get("source") or "")
    record = v.get("record")
    deal = v.get("deal")
    location = locator.location(source, record, deal)
    # the fingerprint's inputs are what they always were: alerts keep their identity
    who = str(deal) if deal not in (None, "") else f"{source}:{record}"
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
                "record": record,
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
