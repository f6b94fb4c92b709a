"""Commands of the analytics package, registered on the main group: simulate, report, impact."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

import click

from cycleflow.cli.common import EXIT_POLICY, EXIT_USAGE, guarded, open_output
from cycleflow.errors import UsageError
from cycleflow.textsafe import visible


@click.command()
@click.option(
    "-p",
    "--policy",
    "policy_path",
    required=True,
    type=click.Path(),
    help="The policy to simulate.",
)
@click.option(
    "--deals",
    "n_deals",
    type=int,
    default=500,
    show_default=True,
    help="How many deals are created over the period.",
)
@click.option("--days", type=int, default=365, show_default=True, help="Length of the period.")
@click.option(
    "--seed",
    type=int,
    default=1,
    show_default=True,
    help="Random seed: the same seed gives byte-identical files.",
)
@click.option(
    "--start", default=None, help="ISO-8601 start of the period (default 2026-01-05T00:00:00Z)."
)
@click.option("--no-checks", is_flag=True, help="Skip the weekly audited check of open deals.")
@click.option(
    "-o",
    "--output",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False),
    help="Directory for deals.jsonl and audit.jsonl.",
)
@guarded(EXIT_POLICY)
def simulate(
    policy_path: str,
    n_deals: int,
    days: int,
    seed: int,
    start: str | None,
    no_checks: bool,
    out_dir: str,
) -> None:
    """Simulate a reproducible sales history through the real engine: deals + audit log."""
    from cycleflow.analytics.simulate import SimOptions, fill_warnings, parse_start
    from cycleflow.analytics.simulate import simulate as run
    from cycleflow.api import load_policy

    policy = load_policy(policy_path)
    options = SimOptions(
        deals=n_deals, days=days, seed=seed, start=parse_start(start), weekly_checks=not no_checks
    )
    for warning in fill_warnings(policy, options):  # before the run: say it once, up front
        click.echo(f"cycleflow: warning: {warning}", err=True)
    from cycleflow.toolkit.lint import lint_file

    for problem in lint_file(policy_path):  # a policy that loads may still fail lint: a
        if problem.severity == "error":  # step the deal schema refuses blocks every move
            click.echo(f"cycleflow: warning: lint: {problem.render()} (simulated moves it concerns "
                       "will be refused)", err=True)
    summary = run(policy, out_dir, options)
    click.echo(
        f"simulated {summary.deals} deals over {days} days (seed {seed}): "
        f"{summary.won} won, {summary.lost} lost, {summary.open} open; "
        f"{summary.events} audit events",
        err=True,
    )
    click.echo(f"wrote {summary.deals_path} and {summary.audit_path}", err=True)
    sys.exit(0)


@click.command()
@click.argument("logs", metavar="LOG...", nargs=-1, required=True)
@click.option(
    "--deals",
    "deal_files",
    multiple=True,
    help="Current deal files (repeatable): owners come from them first.",
)
@click.option(
    "-p",
    "--policy",
    "policy_path",
    default=None,
    type=click.Path(),
    help="The policy: stage order, max_days, rule effects, rules that never fired.",
)
@click.option("--from", "start", default=None, help="Start of the period (ISO-8601, UTC).")
@click.option("--to", "end", default=None, help="End of the period, exclusive (ISO-8601, UTC).")
@click.option(
    "-o",
    "--output",
    default="report.html",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="The HTML report.",
)
@click.option(
    "--json",
    "json_path",
    default=None,
    type=click.Path(dir_okay=False),
    help="Also write every figure as JSON.",
)
@click.option(
    "--csv",
    "csv_dir",
    default=None,
    type=click.Path(file_okay=False),
    help="Also write one CSV per table into this directory.",
)
@click.option("--title", default="Sales-cycle evaluation", show_default=True)
@click.option(
    "--no-verify",
    "no_verify",
    is_flag=True,
    help="Do not check the log's hash chain (it reads the whole log once more); says so on "
    "stderr, and a log that would not verify still exits 0.",
)
@click.option("--each", is_flag=True,
              help="Each LOG is a log of its own (one per worker process), not a segment of "
                   "one rotated log: the report covers them all.")
@guarded(EXIT_POLICY)
def report(
    logs: tuple[str, ...],
    deal_files: tuple[str, ...],
    policy_path: str | None,
    start: str | None,
    end: str | None,
    output: str,
    json_path: str | None,
    csv_dir: str | None,
    title: str,
    no_verify: bool,
    each: bool,
) -> None:
    """The periodic evaluation report of an audit LOG (JSON Lines, gzip-compressed or not, or
    sqlite:PATH) as HTML; the files of a rotated log are read together, in any order
    (with --each, every LOG is a log of its own, e.g. one per worker).

    The log's hash chain is verified too. Exit 0 written and the log verifies (or
    --no-verify, or the log carries no chain at all: stderr warns); 1 written, but the
    log does not verify (its figures may rest on tampered events: stderr says where the
    chain breaks); 2 usage or input error, such as a log with no readable event; 3
    invalid policy.
    """
    import time

    from cycleflow.analytics.html import render_html, report_json
    from cycleflow.analytics.report import (
        ReportOptions,
        build_report,
        parse_bound,
        read_owners,
        write_csv,
    )
    from cycleflow.api import load_policy

    began = time.perf_counter()
    policy = load_policy(policy_path) if policy_path else None
    owners = read_owners(deal_files) if deal_files else {}
    options = ReportOptions(
        policy=policy,
        owners=owners,
        start=parse_bound(start, "--from"),
        end=parse_bound(end, "--to"),
    )
    if options.start and options.end and options.start >= options.end:
        raise UsageError("--from must be before --to")
    figures = build_report(logs, options, each=each)
    parts = [(one,) for one in logs] if each else [logs]
    verified = True if no_verify else all([_warn_unless_verified(p) for p in parts])
    log = " ".join(logs)
    meta = figures["generated_from"]
    if not meta["events"]:
        bad = _unreadable(meta)
        raise UsageError(f"audit log {log} holds no readable event{f': {bad}' if bad else ''}")
    _write_atomic(output, render_html(figures, title=title).encode())
    if json_path:
        _write_atomic(json_path, report_json(figures))
    if csv_dir:
        write_csv(figures, csv_dir)
    click.echo(
        f"report: {meta['events_in_period']:,} of {meta['events']:,} events in the period "
        f"({time.perf_counter() - began:.1f} s) → {output}",
        err=True,
    )
    if meta["unreadable_lines"]:
        click.echo(f"report: skipped {_unreadable(meta)}", err=True)
    for warning in meta["warnings"]:
        click.echo(f"report: warning: {warning}", err=True)
    if no_verify:
        from cycleflow.cli.audit_cmd import not_verified

        click.echo(f"report: {not_verified(logs)}", err=True)
    sys.exit(0 if verified else 1)


def _warn_unless_verified(log: tuple[str, ...]) -> bool:
    """False when the log's hash chain does not verify (or cannot be checked), after a
    warning on stderr: the report's figures may then rest on tampered events. The report
    is still written (the log is evidence); the caller exits 1 so a scheduled job notices.

    A log that carries no chain at all (no record has ``seq``, ``prev``, ``hash``: events
    not written by a cycleflow sink) cannot be verified; that is warned about but is True,
    since no run of it could ever exit 0 otherwise.
    """
    from cycleflow.audit import AuditError, verify

    try:
        checked = verify(log)
    except AuditError as err:
        click.echo(visible(f"report: warning: the log's chain could not be verified: {err}"),
                   err=True)
        return False
    if checked.ok:
        return True
    if checked.records == 0 and checked.first_bad == 1 and not _chained(log):
        click.echo("report: warning: the log carries no hash chain (no record has seq, prev "
                   "and hash), so nothing shows whether its events were changed", err=True)
        return True
    click.echo(visible(f"report: warning: the log does not verify, so these figures may "
                       f"rest on tampered events: {checked.describe()}"), err=True)
    return False


def _chained(log: tuple[str, ...]) -> bool:
    """Whether any record of the JSON Lines ``log`` carries a chain field (or it cannot
    be read to tell): a chained log whose first record lost its hash is still a broken
    chain, not an unchained log."""
    import orjson

    from cycleflow.audit import AuditError
    from cycleflow.audit.base import CHAIN_FIELDS
    from cycleflow.audit.logfile import GZIP_ERRORS, open_log, read_lines
    from cycleflow.audit.verify import parse_spec

    for spec in log:
        kind, path = parse_spec(spec)
        if kind != "jsonl":
            return True  # a SQLite log always holds its chain
        try:
            with open_log(path) as fh:
                for line in read_lines(fh):  # bounded: a line of zeros is measured, not read
                    if not isinstance(line, bytes):
                        continue
                    if b'"seq"' not in line and b'"prev"' not in line and b'"hash"' not in line:
                        continue
                    try:
                        obj = orjson.loads(line)
                    except orjson.JSONDecodeError:
                        continue
                    if isinstance(obj, dict) and any(f in obj for f in CHAIN_FIELDS):
                        return True
        except (OSError, AuditError, *GZIP_ERRORS):  # never call a log unchained unread
            return True
    return False


def _unreadable(meta: Mapping[str, Any]) -> str:
    """``N unreadable lines (lines 3, 7)``, or nothing when every line was read."""
    count = meta["unreadable_lines"]
    if not count:
        return ""
    numbers = ", ".join(str(n) for n in meta["first_unreadable_lines"])
    more = ", …" if count > len(meta["first_unreadable_lines"]) else ""
    lines = "line" if count == 1 else "lines"
    first = "first at " if more else ""
    return f"{count:,} unreadable {lines} ({first}{lines} {numbers}{more})"


def _write_atomic(path: str, data: bytes) -> None:
    """Write a finished report in one step (through a device or FIFO: see open_output)."""
    try:
        with open_output(path) as fh:
            fh.write(data)
    except OSError as err:
        raise UsageError(f"cannot write {path}: {err.strerror or err}") from None


@click.command()
@click.argument("old_policy", type=click.Path())
@click.argument("new_policy", type=click.Path())
@click.argument("deals", nargs=-1, required=True)
@click.option("--now", default=None, help="Judge as of this ISO-8601 time (default: the clock).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "markdown"]),
    default="text",
    show_default=True,
)
@click.option(
    "-o",
    "--output",
    default=None,
    type=click.Path(dir_okay=False),
    help="Write the report to this file instead of stdout.",
)
@click.option(
    "--fail-on-new-violations",
    is_flag=True,
    help="Exit 1 when any deal goes from compliant to violation.",
)
@guarded(EXIT_POLICY)
def impact(
    old_policy: str,
    new_policy: str,
    deals: tuple[str, ...],
    now: str | None,
    fmt: str,
    output: str | None,
    fail_on_new_violations: bool,
) -> None:
    """Which DEALS change verdict from OLD_POLICY to NEW_POLICY, and what changed in meaning.

    Exit 0 done; 1 with --fail-on-new-violations when a deal goes from compliant to
    violation; 2 usage or input error: a DEALS path that does not exist, or records that
    could not be read or judged (the report lists them); 3 invalid policy.
    """
    from cycleflow.analytics.impact import impact as run
    from cycleflow.analytics.impact import render_markdown, render_text
    from cycleflow.api import load_policy
    from cycleflow.decide.clock import resolve_now
    from cycleflow.decide.engine import Engine

    moment = resolve_now(now)
    old = Engine(load_policy(old_policy))
    new = Engine(load_policy(new_policy))
    result = run(old, new, deals, moment)
    if fmt == "json":
        import orjson

        data = orjson.dumps(
            result.to_dict(), option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE
        )
    else:
        text = render_markdown(result) if fmt == "markdown" else render_text(result)
        data = visible(text).encode()  # deal ids and versions are shown, never obeyed
    if output:
        _write_atomic(output, data)
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    if result.errors:
        first = result.errors[0]
        click.echo(
            visible(f"impact: {len(result.errors)} record(s) could not be judged, first "
                    f"{first.describe()}"),
            err=True,
        )
    if fail_on_new_violations and result.newly_violating:
        sys.exit(1)
    sys.exit(EXIT_USAGE if result.errors else 0)


def register(cli: click.Group) -> None:
    """Add this module's commands to ``cli``."""
    cli.add_command(simulate)
    cli.add_command(report)
    cli.add_command(impact)
