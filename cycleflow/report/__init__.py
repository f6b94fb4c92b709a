"""Reports of a batch check: text, JSON, JSON Lines, JUnit XML and SARIF 2.1.0.

Each writer is a plain function over an iterable of verdict dicts (the
shape of DESIGN.md, plus ``source``) that streams its output and returns the
:class:`Summary` it counted on the way (``write_jsonl`` returns the count;
wrap its input in :meth:`Summary.track` to count). :func:`exit_code` turns a
summary into the process exit code; :func:`write_report` picks a writer by
format name for the command line.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, BinaryIO

from cycleflow.report.jsonfmt import write_json, write_jsonl
from cycleflow.report.junit import write_junit
from cycleflow.report.sarif import INPUT_ERROR_RULE, write_sarif
from cycleflow.report.summary import FailOn, Summary, exit_code, summarize
from cycleflow.report.text import write_text

__all__ = [
    "FORMATS",
    "INPUT_ERROR_RULE",
    "FailOn",
    "Summary",
    "exit_code",
    "summarize",
    "write_json",
    "write_jsonl",
    "write_junit",
    "write_report",
    "write_sarif",
    "write_text",
]

#: Format names :func:`write_report` accepts.
FORMATS = ("text", "json", "jsonl", "junit", "sarif")


def write_report(
    fmt: str,
    verdicts: Iterable[Mapping[str, Any]],
    out: BinaryIO,
    policy: Mapping[str, Any],
    *,
    rules: Sequence[Mapping[str, Any]] = (),
    color: bool = False,
    summary: Summary | None = None,
    fail_on: str = "violation",
) -> Summary:
    """Write ``verdicts`` to the binary stream ``out`` in format ``fmt``; the counted summary.

    ``rules`` feed SARIF's rule table; ``color`` applies to text only;
    ``summary``, when known beforehand, is printed by text and json; ``fail_on="warning"``
    lists records with warnings in the text table and fails them in JUnit, as the exit
    code does.
    """
    warnings_fail = fail_on == "warning"
    if fmt == "jsonl":
        counted = Summary()
        write_jsonl(counted.track(verdicts), out)
        return counted
    if fmt == "json":
        return write_json(verdicts, out, policy, summary)
    if fmt == "junit":
        return write_junit(verdicts, out, policy, warnings_fail=warnings_fail)
    if fmt == "sarif":
        return write_sarif(verdicts, out, policy, rules)
    if fmt == "text":
        text = io.TextIOWrapper(out, encoding="utf-8", errors="replace", newline="\n",
                                write_through=True)
        try:
            return write_text(verdicts, text, policy, summary, color=color,
                              show_warnings=warnings_fail)
        finally:
            text.flush()
            text.detach()
    raise ValueError(f"unknown report format {fmt!r}; expected one of {', '.join(FORMATS)}")
