"""The human report: a table of the records that are not compliant, then a summary.

Readable in a terminal (``color=True``) and in a CI log or a file
(``color=False``: no ANSI codes, ASCII table lines). Text from deal records
and policies is shown, never interpreted: control characters and
bidirectional overrides are escaped and rich markup is not parsed; every cell
and summary line is one line (a newline or tab in a deal id, a file name or a
message is written ``\\n``/``\\t``: raw, it split a row or shifted its columns). The table
is printed in blocks as records stream past, so memory stays flat; it stops
after ``max_rows`` findings and says how many more there were.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TextIO

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from cycleflow.report._common import deal_name, findings, location
from cycleflow.report.summary import Summary
from cycleflow.textsafe import one_line

__all__ = ["ReportConsole", "write_text"]

_BLOCK = 200
_STYLE = {"violation": "bold red", "approval": "yellow", "warning": "yellow", "error": "magenta"}


class ReportConsole(Console):
    """A rich console whose closed pipe is an error the command handles (exit 141, as a
    shell reports SIGPIPE): rich's own answer exits 1 at once, which read as "violations"
    to a CI step and skipped the shutdown of a parallel run's workers (the run hung)."""

    def on_broken_pipe(self) -> None:
        raise BrokenPipeError(32, "the reader of the report closed the pipe")


def _console(out: TextIO, color: bool, width: int | None) -> Console:
    if color:
        return ReportConsole(
            file=out, force_terminal=True, color_system="auto", highlight=False, emoji=False,
            width=width, soft_wrap=False,
        )
    return ReportConsole(
        file=out, force_terminal=False, color_system=None, no_color=True, highlight=False,
        emoji=False, width=width or 160, soft_wrap=False, legacy_windows=False,
    )


def _table(color: bool, header: bool) -> Table:
    table = Table(
        box=box.ROUNDED if color else box.ASCII2, show_header=header, show_lines=False,
        expand=False, pad_edge=False,
    )
    table.add_column("deal", overflow="fold", max_width=24)
    table.add_column("source:line", overflow="fold", min_width=16, max_width=48)
    table.add_column("verdict", no_wrap=True)
    table.add_column("rule", overflow="fold", max_width=28)
    table.add_column("message", overflow="fold", ratio=1)
    return table


def _cell(text: str, style: str | None, color: bool) -> Text:
    """A table cell: ``text`` shown on one line, never interpreted (see the module docstring)."""
    return Text(one_line(text), style=(style or "") if color else "")


def write_text(
    verdicts: Iterable[Mapping[str, Any]],
    out: TextIO,
    policy: Mapping[str, Any],
    summary: Summary | None = None,
    *,
    color: bool = False,
    max_rows: int | None = 1000,
    width: int | None = None,
    show_warnings: bool = False,
) -> Summary:
    """Write the table and the summary; returns the summary counted on the way.

    ``summary``, when given, is printed instead of the counted one (for a
    caller that knows more, e.g. from a merged distributed run).
    ``show_warnings`` also lists compliant records that carry warnings.
    """
    console = _console(out, color, width)
    counted = Summary()
    rows = 0
    hidden = 0
    table: Table | None = None
    printed_header = False
    for v in verdicts:
        counted.add(v)
        verdict = str(v.get("verdict"))
        if verdict == "compliant" and not (show_warnings and v.get("warnings")):
            continue
        first = True
        for f in findings(v):
            if max_rows is not None and rows >= max_rows:
                hidden += 1
                continue
            if table is None:
                table = _table(color, header=not printed_header)
                printed_header = True
            label = f.level if f.level != "approval" else "approval"
            table.add_row(
                _cell(deal_name(v) if first else "", "bold", color),
                _cell(location(v) if first else "", None, color),
                _cell(label, _STYLE.get(f.level), color),
                _cell(f.rule if f.level != "error" else "-", None, color),
                _cell(f.message, None, color),
            )
            first = False
            rows += 1
            if table.row_count >= _BLOCK:
                console.print(table)
                table = None
    if table is not None:
        console.print(table)
    if hidden:
        console.print(Text(
            f"... and {hidden:,} more findings not shown (use --format jsonl for all of them)"
        ))
    _print_summary(console, policy, summary or counted, color)
    return counted


def _print_summary(
    console: Console, policy: Mapping[str, Any], s: Summary, color: bool
) -> None:
    pid = one_line(str(policy.get("id", "?")))
    version = policy.get("version")
    sha = str(policy.get("sha256") or "")
    head = Text("Policy ", style="bold" if color else "")
    head.append(pid + (f" {one_line(str(version))}" if version else ""))
    if sha:
        head.append(f" (sha256 {sha[:12]})")
    if policy.get("path"):
        head.append(f" from {one_line(str(policy['path']))}")
    console.print()
    console.print(head)
    line = Text(f"Records: {s.total:,}  ")
    line.append(f"compliant {s.compliant:,}", style="green" if color else "")
    line.append("  ")
    line.append(f"violation {s.violation:,}", style="red" if color and s.violation else "")
    line.append("  ")
    line.append(f"error {s.error:,}", style="magenta" if color and s.error else "")
    line.append(f"  warnings {s.warnings:,} (in {s.with_warnings:,} records)")
    console.print(line)
    if s.total == 0:
        console.print(Text("No records were read."))
    top = s.top_rules(10)
    if top:
        console.print(Text("Rules most often violated:"))
        for rule, count in top:
            console.print(Text(f"  {count:>9,}  {one_line(rule)}"))
    wtop = s.top_warning_rules(5)
    if wtop:
        console.print(Text("Rules most often warning:"))
        for rule, count in wtop:
            console.print(Text(f"  {count:>9,}  {one_line(rule)}"))
