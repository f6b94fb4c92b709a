"""Reports of ``cycleflow test``: readable text with coverage, and JUnit XML for CI."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import TextIO

from cycleflow.textsafe import visible
from cycleflow.toolkit.testing import Coverage, RunResult

_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml(text: str) -> str:
    return _XML_BAD.sub("\ufffd", text)


def render_text(run: RunResult, out: TextIO, *, coverage: bool = False,
                verbose: bool = False) -> None:
    """One line per case (failures in full: expected vs actual, then the explanation)."""
    for c in run.cases:
        if c.passed:
            if verbose:
                _show(out, f"PASS {c.location}: {c.name}\n")
            continue
        _show(out, f"FAIL {c.location}: {c.name}\n")
        for f in c.failures:
            _show(out, f"  - {f}\n")
        if c.actual:
            _show(out, "  actual: " + ", ".join(f"{k}={v}" for k, v in c.actual.items()) + "\n")
        if c.explanation:
            _show(out, "  explanation:\n")
            for line in c.explanation.splitlines():
                _show(out, f"    {line}\n")
    if coverage:
        for cov in run.coverage.values():
            render_coverage(cov, out)
    passed = len(run.cases) - len(run.failed)
    _show(out, f"{passed} passed, {len(run.failed)} failed, {len(run.cases)} case(s)\n")


def render_coverage(cov: Coverage, out: TextIO) -> None:
    """The coverage table of one policy: per rule, fired and passed counts."""
    rules = cov.evaluable
    covered = sum(1 for r in rules if r.covered)
    _show(out, f"coverage of {cov.policy.path} ({cov.policy.id} {cov.policy.version}): "
              f"{covered}/{len(rules)} rules both fired and passed ({cov.percent:.1f}%)\n")
    width = max((len(r.rule) for r in cov.rules.values()), default=4)
    _show(out, f"  {'rule':<{width}}  fired  passed  errors\n")
    for r in cov.rules.values():
        if not r.evaluable:
            continue
        mark = " " if r.covered else "!"
        _show(out, f"{mark} {r.rule:<{width}}  {r.fired:>5}  {r.passed:>6}  {r.errors:>6}\n")
    never = [r.rule for r in cov.rules.values() if not r.evaluable]
    if never:
        _show(out, "  not counted, the engine never evaluates them (see cycleflow lint): "
                  + ", ".join(never) + "\n")


def _show(out: TextIO, text: str) -> None:
    """Write suite and policy text as shown, never interpreted (escape sequences included)."""
    out.write(visible(text))


def render_junit(run: RunResult, out: TextIO) -> None:
    """JUnit XML: one testsuite per suite file, one testcase per case, coverage as properties."""
    root = ET.Element("testsuites", name="cycleflow test", tests=str(len(run.cases)),
                      failures=str(len(run.failed)))
    by_suite: dict[str, list[int]] = {}
    for n, c in enumerate(run.cases):
        by_suite.setdefault(c.suite, []).append(n)
    for suite, idx in by_suite.items():
        cases = [run.cases[i] for i in idx]
        el = ET.SubElement(root, "testsuite", name=_xml(suite), tests=str(len(cases)),
                           failures=str(sum(1 for c in cases if not c.passed)), errors="0",
                           time=f"{sum(c.seconds for c in cases):.4f}")
        props = ET.SubElement(el, "properties")
        for cov in run.coverage.values():
            ET.SubElement(props, "property", name=f"coverage:{cov.policy.id}",
                          value=f"{cov.percent:.1f}")
        for c in cases:
            tc = ET.SubElement(el, "testcase", name=_xml(c.name), classname=_xml(suite),
                               file=_xml(c.location.file), line=str(c.location.line),
                               time=f"{c.seconds:.4f}")
            if not c.passed:
                failure = ET.SubElement(tc, "failure", message=_xml("; ".join(c.failures)),
                                        type="expectation")
                body = "\n".join(c.failures) + "\n\n" + c.explanation
                failure.text = _xml(body)
    ET.indent(root)
    out.write('<?xml version="1.0" encoding="UTF-8"?>\n')
    out.write(ET.tostring(root, encoding="unicode"))
    out.write("\n")
