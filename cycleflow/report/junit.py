"""JUnit XML: one ``<testcase>`` per record, for CI systems that show test results.

``<testsuites>`` holds one ``<testsuite>`` named by the policy id, with the
policy's version, digest and path as properties. Each record is a test case
named by its deal id (``source:line`` when it has none), with ``classname``
the policy id and ``file``/``line`` attributes; a violation is a
``<failure>`` listing the rules and messages, a record that could not be
judged is an ``<error>``, and warnings go to ``<system-out>``.

Output is well-formed XML 1.0 whatever the data holds: ElementTree escapes
``<&"'``, and characters XML 1.0 cannot carry at all (most control
characters, lone surrogates, U+FFFE/U+FFFF) are written as ``\\xNN`` text.
Test cases are spooled to a temporary file (in memory up to 16 MiB) so that
the counts on ``<testsuite>`` can be written first while memory stays flat.
"""

from __future__ import annotations

import re
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from typing import Any, BinaryIO

from cycleflow.report._common import as_text, deal_name, findings
from cycleflow.report.summary import Summary

__all__ = ["write_junit", "xml_safe"]

_ILLEGAL = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_safe(text: str) -> str:
    """``text`` with every character XML 1.0 forbids replaced by a visible escape."""
    return _ILLEGAL.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100
                        else f"\\u{ord(m.group()):04x}", text)


def _attr(value: Any) -> str:
    return xml_safe(as_text(value) if not isinstance(value, (int, float)) else str(value))


def _testcase(
    v: Mapping[str, Any], classname: str, warnings_fail: bool = False
) -> tuple[ET.Element, str]:
    """The element for one verdict and its outcome: "pass", "failure" or "error".

    ``warnings_fail`` (``check --fail-on warning``): warnings fail the case too, so a CI
    page shows red exactly when the exit code does.
    """
    source = str(v.get("source") or "")
    record = v.get("record")
    name = deal_name(v) if v.get("deal") not in (None, "") else (
        f"{source}:{record}" if source else f"record {record}")
    case = ET.Element("testcase", {"name": xml_safe(name), "classname": classname, "time": "0"})
    if source:
        case.set("file", xml_safe(source))
    if isinstance(record, int) and record > 0:
        case.set("line", str(record))
    failures: list[str] = []
    failure_rules: list[str] = []
    errors: list[str] = []
    warnings: list[str] = []
    for f in findings(v):
        where = f"[{f.kind}/{f.severity}] " if f.kind or f.severity else ""
        text = f"{f.rule}: {where}{f.message}"
        if f.values not in (None, {}, []):
            text += f" (values: {as_text(f.values)})"
        if f.level == "error":
            errors.append(f.message)
        elif f.level == "warning":
            warnings.append(text)
        else:
            failures.append(text)
            failure_rules.append(f.rule)
    outcome = "pass"
    if errors:
        outcome = "error"
        err = ET.SubElement(case, "error", {"type": "error", "message": xml_safe(errors[0])})
        err.text = xml_safe("\n".join(errors))
    elif failures or v.get("verdict") == "violation":
        outcome = "failure"
        rules = list(dict.fromkeys(failure_rules))
        summary = f"{len(failures)} violation{'s' if len(failures) != 1 else ''}"
        if rules:
            summary += ": " + ", ".join(rules)
        if warnings_fail and warnings:
            summary += f"; {len(warnings)} warning{'s' if len(warnings) != 1 else ''}"
            failures += [f"warning {w}" for w in warnings]
        fail = ET.SubElement(case, "failure", {"type": "violation", "message": xml_safe(summary)})
        fail.text = xml_safe("\n".join(failures) or "violation")
    elif warnings_fail and warnings:
        outcome = "failure"
        summary = f"{len(warnings)} warning{'s' if len(warnings) != 1 else ''} (--fail-on warning)"
        fail = ET.SubElement(case, "failure", {"type": "warning", "message": xml_safe(summary)})
        fail.text = xml_safe("\n".join(f"warning {w}" for w in warnings))
    if warnings:
        out = ET.SubElement(case, "system-out")
        out.text = xml_safe("\n".join(f"warning {w}" for w in warnings))
    return case, outcome


def write_junit(
    verdicts: Iterable[Mapping[str, Any]],
    out: BinaryIO,
    policy: Mapping[str, Any],
    *,
    warnings_fail: bool = False,
) -> Summary:
    """Write the JUnit XML report; returns the summary counted on the way.

    ``warnings_fail`` makes a record with warnings a failure (``--fail-on warning``).
    """
    classname = _attr(policy.get("id") or "cycleflow")
    counted = Summary()
    failures = errors = 0
    with tempfile.SpooledTemporaryFile(max_size=16 << 20) as spool:
        for v in verdicts:
            counted.add(v)
            case, outcome = _testcase(v, classname, warnings_fail)
            failures += outcome == "failure"
            errors += outcome == "error"
            spool.write(b"    " + ET.tostring(case, encoding="utf-8", xml_declaration=False)
                        + b"\n")
        tests = counted.total
        counts = {"tests": str(tests), "failures": str(failures), "errors": str(errors)}
        suites = ET.Element("testsuites", {"name": "cycleflow", **counts})
        suite = ET.SubElement(suites, "testsuite", {"name": classname, **counts,
                                                    "skipped": "0", "time": "0"})
        props = ET.SubElement(suite, "properties")
        for key in ("id", "version", "sha256", "path"):
            if policy.get(key) is not None:
                ET.SubElement(props, "property", {"name": f"policy.{key}",
                                                  "value": _attr(policy[key])})
        head = ET.tostring(suites, encoding="unicode")
        # Split the two closing tags off the skeleton and put the spooled cases between.
        opening, _, _ = head.rpartition("</testsuite>")
        out.write(b'<?xml version="1.0" encoding="UTF-8"?>\n')
        out.write(opening.replace("<testsuite ", "\n  <testsuite ", 1).encode("utf-8") + b"\n")
        spool.seek(0)
        while True:
            chunk = spool.read(1 << 20)
            if not chunk:
                break
            out.write(chunk)
        out.write(b"  </testsuite>\n</testsuites>\n")
    return counted
