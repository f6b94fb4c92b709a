"""``cycleflow audit``: verify a log's hash chain, show one deal's history, repair a torn tail.

A thin layer over :mod:`cycleflow.audit`; importable on its own so the main CLI
registers it with ``cli.add_command(audit)`` and tests drive it with CliRunner.
Exit codes: 0 intact / done, 1 broken chain, 2 unreadable or missing log.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

from cycleflow.cli.common import F, guarded

if TYPE_CHECKING:
    from cycleflow.audit.verify import VerifyResult

EXIT_BROKEN = 1
EXIT_UNREADABLE = 2  # what common.guarded exits with for an unreadable or missing log


_GUARD = guarded(EXIT_UNREADABLE, name="cycleflow audit")


def _existing_log(spec: str) -> tuple[str, str]:
    """``(kind, path)`` of a log that exists as a file; AuditError (exit 2) naming it otherwise.

    Checked before anything opens the log, so that a mistyped name is never created.
    """
    import os

    from cycleflow.audit import AuditError
    from cycleflow.audit.verify import parse_spec

    kind, path = parse_spec(spec)
    if os.path.isdir(path):
        raise AuditError(f"audit log {path} is a directory, not a log file")
    if not os.path.exists(path):
        raise AuditError(f"audit log {path} does not exist")
    return kind, path


_EACH: Callable[[F], F] = click.option(
    "--each", is_flag=True,
    help="Each LOG is a log of its own (one per worker process), not a segment of one "
         "rotated log.")


def _text_or_json(help_text: str) -> Callable[[F], F]:
    """``--format text|json`` (default text), as the audit commands take it."""
    option: Callable[[F], F] = click.option(
        "--format",
        "fmt",
        type=click.Choice(["text", "json"]),
        default="text",
        show_default=True,
        help=help_text,
    )
    return option


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def audit() -> None:
    """Check and read audit logs (JSON Lines files or sqlite:PATH databases)."""


@audit.command()
@click.argument("logs", metavar="LOG...", nargs=-1, required=True)
@_text_or_json("text: one sentence; json: the full result object.")
@click.option(
    "--expect-head",
    "expect_head",
    default=None,
    metavar="HASH",
    help="A head stored elsewhere earlier (what verify printed): LOG must hold a record with "
    "this hash (64 hex, or a prefix of at least 16), else exit 1: the log was rewritten or "
    "truncated before that point.",
)
@_EACH
@_GUARD
def verify(logs: tuple[str, ...], fmt: str, expect_head: str | None, each: bool) -> None:
    """Check LOG's hash chain: exit 0 intact, 1 broken (naming the first bad line), 2 unreadable.

    The files of a rotated log are checked as one chain, in any order (e.g.
    ``audit.*.jsonl* audit.jsonl``); with --each, every LOG as a log of its own.
    """
    import orjson

    from cycleflow.audit import verify as verify_log

    for log in logs:
        _existing_log(log)
    if each:
        if expect_head is not None:
            raise click.UsageError("--expect-head is one log's head: verify that log without "
                                   "--each")
        results = [verify_log(log) for log in logs]
        if fmt == "json":
            click.echo(orjson.dumps([r.to_dict() for r in results],
                                    option=orjson.OPT_SORT_KEYS).decode())
        else:
            for one in results:
                click.echo(one.describe())
        if not all(r.ok for r in results):
            raise SystemExit(EXIT_BROKEN)
        return
    result = verify_log(logs, expect_head=expect_head)
    log = result.path
    if fmt == "json":
        click.echo(orjson.dumps(result.to_dict(), option=orjson.OPT_SORT_KEYS).decode())
    else:
        click.echo(result.describe())
        if result.torn:
            click.echo(
                f"hint: an interrupted write left a torn last line; `cycleflow audit repair "
                f"{log}` cuts it (keeping the bytes beside the log) and records the repair",
                err=True,
            )
    if not result.ok:
        raise SystemExit(EXIT_BROKEN)


@audit.command()
@click.argument("logs", metavar="LOG...", nargs=-1, required=True)
@click.option("--deal", "deal_id", required=True, help="The deal id whose history to show.")
@click.option("--since", default=None, help="Only decisions made at or after this ISO-8601 time.")
@click.option("--until", default=None, help="Only decisions made before this ISO-8601 time.")
@click.option("--actor", "actor_id", default=None, help="Only decisions requested by this user.")
@click.option("--outcome", default=None,
              help="Only decisions with an event of this outcome (blocked, allowed, "
                   "needs_approval, not_permitted, applied, violation, error, fail...).")
@_text_or_json("text: a table in log order; json: a JSON array.")
@_EACH
@click.option("--no-verify", "no_verify", is_flag=True,
              help="Do not check the log's hash chain first (it reads the whole log: seconds "
                   "on a large one); says so on stderr, and a log that would not verify "
                   "exits 0.")
@_GUARD
def show(logs: tuple[str, ...], deal_id: str, since: str | None, until: str | None,
         actor_id: str | None, outcome: str | None, fmt: str, each: bool,
         no_verify: bool) -> None:
    """Print one deal's audit history from LOG, in log order (the order it was written).

    The filters pick whole decisions (every event of a decision that matches), so each
    one shown keeps its rules and reasons; times compare as instants (offsets honoured).
    A rotated log's files are read together, in any order; with --each, every LOG is a
    log of its own (one per worker process) and decisions are shown in the order they
    were written (``recorded_at``).

    The whole log's chain is verified first. Exit 0 shown and the log verifies (or
    --no-verify); 1 the log does not verify (the history is still shown, with a warning
    on stderr); 2 a usage error, or a missing or unreadable log.
    """
    from cycleflow.audit import AuditError, history, history_json
    from cycleflow.audit import verify as verify_log
    from cycleflow.textsafe import visible

    for log in logs:
        _existing_log(log)
    log = logs[0] if len(logs) == 1 else f"the {len(logs)} files of the log"
    # a tampered log is shown too (it is evidence), but said so
    parts: list[Any] = [(one,) for one in logs] if each else [logs]
    verdicts = [] if no_verify else [verify_log(part) for part in parts]
    checked = None if no_verify else next((v for v in verdicts if not v.ok), verdicts[0])
    try:
        events = _in_written_order([history(part, deal_id) for part in parts])
    except AuditError:
        if checked is not None:
            _warn_unverified(checked)
        raise
    if since or until or actor_id is not None or outcome:
        events = _decisions_matching(events, since, until, actor_id, outcome)
    if fmt == "json":
        click.echo(history_json(events))
    elif not events:
        click.echo(visible(f"no audit events for deal {deal_id} in {log}"))
    else:
        _print_history(events, deal_id)
    if checked is None:
        click.echo(not_verified(logs), err=True)
    elif not checked.ok:
        _warn_unverified(checked)
        raise SystemExit(EXIT_BROKEN)


def _in_written_order(histories: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """One history from several logs' (each in its log order): decisions ordered by when
    they were written (``recorded_at`` of their first event, else ``at``), each keeping
    its events together and in order. One log's history is returned as it is."""
    if len(histories) == 1:
        return histories[0]
    decisions: dict[Any, list[dict[str, Any]]] = {}
    for events in histories:
        for event in events:
            decisions.setdefault(event.get("decision_id"), []).append(event)

    def written(group: list[dict[str, Any]]) -> str:
        first = group[0]
        return str(first.get("recorded_at") or first.get("at") or "")

    return [e for group in sorted(decisions.values(), key=written) for e in group]


def not_verified(logs: tuple[str, ...]) -> str:
    """The one stderr line of ``--no-verify``: the chain was not checked, and how to check it."""
    import shlex

    from cycleflow.textsafe import visible

    command = shlex.join(["cycleflow", "audit", "verify", *logs])
    return visible(f"not verified (--no-verify): run `{command}` to check the chain")


def _decisions_matching(events: list[dict[str, Any]], since: str | None, until: str | None,
                        actor_id: str | None, outcome: str | None) -> list[dict[str, Any]]:
    """The events of the decisions that pass ``show``'s filters, in their order."""
    from cycleflow.decide.clock import resolve_now
    from cycleflow.errors import UsageError

    def moment(option: str, text: str | None) -> datetime | None:
        try:
            return resolve_now(text) if text else None
        except UsageError as err:  # a bad time is a usage error (exit 2) naming the option
            raise UsageError(f"{option}: {err}") from None

    start, end = moment("--since", since), moment("--until", until)
    decisions: dict[Any, list[dict[str, Any]]] = {}
    for event in events:
        decisions.setdefault(event.get("decision_id"), []).append(event)
    keep: set[Any] = set()
    for did, group in decisions.items():
        first = group[0]
        try:
            at = resolve_now(str(first.get("at"))) if (start or end) else None
        except UsageError:
            continue  # an event without a readable time cannot be placed in a period
        if (start and at and at < start) or (end and at and at >= end):
            continue
        if actor_id is not None and str(first.get("actor")) != actor_id:
            continue
        if outcome and not any(e.get("outcome") == outcome for e in group):
            continue
        keep.add(did)
    return [e for e in events if e.get("decision_id") in keep]


def _warn_unverified(checked: VerifyResult) -> None:
    """The stderr warning of ``show`` on a log whose chain does not verify."""
    from cycleflow.textsafe import visible

    if checked.torn:  # an interrupted write, not an edit: the complete records stand
        click.echo(visible(f"warning: the log ends in a line torn by an interrupted write, "
                           f"not shown: {checked.describe()}"), err=True)
        return
    click.echo(visible(f"warning: the log does not verify, so this history may have been "
                       f"tampered with: {checked.describe()}"), err=True)


def _print_history(events: list[dict[str, Any]], deal_id: str) -> None:
    """``show``'s table of one deal's events."""
    from cycleflow.audit import history_table
    from cycleflow.audit.history import policy_of
    from cycleflow.report.text import ReportConsole

    out = click.get_text_stream("stdout")
    console = ReportConsole(file=out, width=None if out.isatty() else 200, highlight=False)
    decisions = len({e.get("decision_id") for e in events})
    judged: dict[str, set[Any]] = {}  # policy → the decisions it judged, in log order
    for e in events:
        judged.setdefault(policy_of(e), set()).add(e.get("decision_id"))
    if len(judged) == 1:
        policies = f"policy {next(iter(judged))}"
    else:
        policies = "policies " + ", ".join(
            f"{name} in {len(ids)} decision{'s' if len(ids) != 1 else ''}"
            for name, ids in judged.items())
    title = (f"deal {deal_id}: {len(events)} events in {decisions} "
             f"decision{'s' if decisions != 1 else ''} ({policies})")
    console.print(history_table(events, title=title))


@audit.command()
@click.argument("log")
@_GUARD
def repair(log: str) -> None:
    """Cut a torn last line off a JSON Lines LOG (saved beside it) and chain a repair record."""
    from cycleflow.audit import JsonlSink
    from cycleflow.audit import verify as verify_log

    kind, path = _existing_log(log)
    if kind != "jsonl":
        raise click.UsageError("only JSON Lines logs can be repaired (SQLite never tears)")
    before = verify_log(path)
    if before.ok:
        click.echo(f"nothing to repair: {before.describe()}")
        return
    if not before.torn:  # only an interrupted last write can be cut; anything else is evidence
        click.echo(f"not repaired (only a torn last line can be cut, and the file is "
                   f"unchanged): {before.describe()}")
        raise SystemExit(EXIT_BROKEN)
    JsonlSink(path, repair=True).close()
    after = verify_log(path)
    click.echo(f"cut the torn line {before.first_bad} (its bytes are kept beside the log as "
               f"{os.path.basename(path)}.torn-line-{before.first_bad}); {after.describe()}")
    if not after.ok:
        raise SystemExit(EXIT_BROKEN)


@audit.command()
@click.argument("log")
@_GUARD
def rotate(log: str) -> None:
    """Move a JSON Lines LOG aside as a segment and continue its chain in a fresh LOG.

    For a log no process is writing (between batch runs, from cron); a writer rotates its
    own log with ``--audit-rotate SIZE`` or ``JsonlSink.rotate()``. Prints the segment.
    """
    from cycleflow.audit import JsonlSink

    kind, path = _existing_log(log)
    if kind != "jsonl":
        raise click.UsageError("only JSON Lines logs are rotated (a SQLite log is one database)")
    from cycleflow.audit.segments import first_record

    with JsonlSink(path) as sink:
        segment = sink.rotate()
        seq = sink.seq - 1
    if segment is None:
        click.echo(f"nothing to rotate: {path} is empty")
        return
    first = (first_record(segment) or {}).get("seq", "?")
    click.echo(f"rotated: {segment} holds records {first} to {seq - 1}, and {path} "
               f"continues the chain at seq {seq}")


__all__ = ["audit"]
