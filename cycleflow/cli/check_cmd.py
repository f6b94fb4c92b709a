"""``cycleflow check``: judge every deal record of a batch and report in a CI format."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import click

from cycleflow.cli.common import (
    EXIT_POLICY,
    audit_rotate_option,
    guarded,
    lang_option,
    load_engine,
    mask_salt_from_env,
    mask_salt_option,
    open_output,
    parse_actor,
    policy_info,
)
from cycleflow.errors import CycleflowError, PolicyError, UsageError

if TYPE_CHECKING:
    from cycleflow.report import Summary


@click.command(epilog="Limits (record size, nesting depth, YAML file size, rows of the text "
               "table): README.md, 'A tour for CI pipelines', Limits.")
@click.option(
    "-p", "--policy", "policy_path", required=True, type=click.Path(), help="The policy file."
)
@click.argument("deals", nargs=-1, required=True)
@click.option("--trigger", default=None, help="Judge this proposed transition for every record.")
@click.option(
    "--actor",
    "actor_arg",
    default=None,
    help='With --trigger: the acting user, JSON {"id", "roles"} or a path.',
)
@click.option(
    "--format",
    "fmt",
    default="text",
    show_default=True,
    type=click.Choice(["text", "json", "jsonl", "junit", "sarif"]),
)
@click.option(
    "-o",
    "--output",
    default=None,
    type=click.Path(dir_okay=False),
    help="Write the report to this file instead of stdout.",
)
@click.option("--now", default=None, help="Judge as of this ISO-8601 time (default: the clock).")
@click.option(
    "--fail-on",
    type=click.Choice(["violation", "warning"]),
    default="violation",
    show_default=True,
    help="Which findings make the exit code 1.",
)
@click.option(
    "--jobs",
    "-j",
    type=int,
    default=0,
    help="Worker processes (default: every core; 1 = in this process). Plain JSON Lines "
    "files are split among them, each reading its own share; other inputs are read here "
    "and sent to them in batches.",
)
@click.option(
    "--max-record-bytes",
    "max_record_bytes",
    default=None,
    metavar="N",
    help="Judge records of up to N bytes (default 1000000); a larger record gets an error "
    "verdict naming the limit.",
)
@lang_option("messages")
@click.option(
    "--audit",
    "audit_spec",
    default=None,
    help="Append audit events to FILE (JSON Lines) or sqlite:PATH (runs in one process).",
)
@click.option("--audit-fsync", is_flag=True, help="fsync the audit log after each record.")
@audit_rotate_option
@mask_salt_option
@click.option(
    "--dask",
    "dask_address",
    default=None,
    help="Run on a Dask cluster at this address (needs cycleflow[dask]).",
)
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Show a progress bar (default: only on a terminal).",
)
@guarded(EXIT_POLICY)
def check(
    policy_path: str,
    deals: tuple[str, ...],
    trigger: str | None,
    actor_arg: str | None,
    fmt: str,
    output: str | None,
    now: str | None,
    fail_on: str,
    jobs: int,
    lang: str,
    audit_spec: str | None,
    audit_fsync: bool,
    audit_rotate: str | None,
    dask_address: str | None,
    progress: bool | None,
    max_record_bytes: str | None,
    mask_salt_env: str | None,
) -> None:
    """Judge every deal record in DEALS (files, directories, '-' for stdin).

    Exit 0 all compliant, 1 any violation (even when some records could not be judged:
    1 outranks 2), 2 usage or input error, 3 invalid policy.
    """
    from cycleflow.batch.parallel import BatchOptions, verdict_blocks, verdict_stream
    from cycleflow.decide.clock import resolve_now
    from cycleflow.report import Summary, exit_code, write_report

    if dask_address is not None and not dask_address.strip():  # e.g. --dask "$UNSET_VAR"
        raise UsageError("--dask needs an address: tcp://HOST:8786, local or local:N")
    if audit_spec is not None and dask_address:
        raise UsageError(
            "--audit and --dask cannot be combined: audit events are written by "
            "one process; run the audited batch without --dask"
        )
    if actor_arg is not None and trigger is None:
        raise UsageError(
            "--actor needs --trigger: --actor is the acting user of the transition --trigger "
            "judges; a check of deals at rest has no actor (leave out --actor, or add --trigger)"
        )
    salt = mask_salt_from_env(mask_salt_env)
    if salt is not None and dask_address:
        raise UsageError(
            "--mask-salt-env and --dask cannot be combined: the secret salt would be sent to "
            "the cluster's workers; run the salted batch without --dask"
        )
    if jobs < 0:
        raise UsageError(f"--jobs {jobs}: give a number of worker processes (0 = every core)")
    record_cap = _record_cap(max_record_bytes)
    if audit_spec is not None and jobs > 1:  # said, not silently ignored: 6x slower
        click.echo(f"check: note: --jobs {jobs} is not used with --audit: a log has one "
                   "writer, so an audited run judges in this process", err=True)
    actor = parse_actor(actor_arg)
    moment = resolve_now(now)
    _check_inputs(deals)
    with contextlib.ExitStack() as stack:
        try:
            engine = stack.enter_context(load_engine(
                policy_path, lang=lang, audit_spec=audit_spec, audit_fsync=audit_fsync,
                audit_rotate=audit_rotate, mask_salt=salt,
            ))
        except PolicyError as err:  # CI uploads the report next: one naming the problems
            if fmt in ("sarif", "junit"):
                _policy_problems_report(fmt, output, deals, policy_path, err)
            raise
        if trigger is not None:
            _known_trigger(engine, trigger)
        options = BatchOptions(
            policy_path=policy_path,
            now=moment,
            trigger=trigger,
            actor=actor,
            lang=lang,
            jobs=1 if audit_spec is not None else (jobs or os.cpu_count() or 1),
            dask_address=dask_address,
            max_record_bytes=record_cap,
            mask_salt=salt,
        )
        show = (
            progress if progress is not None else (sys.stderr.isatty() and not os.environ.get("CI"))
        )
        blocks = fmt == "jsonl" and options.jobs > 1 and not dask_address and not show
        run = _AuditedRun(engine, deals, trigger, moment)
        stack.enter_context(run)
        with open_output(output, deals) as out:
            # closed on the way out, whatever ends the run (Ctrl-C, SIGTERM, a closed
            # pipe): closing them stops the worker processes, which would outlive the run
            if blocks:  # the fast path: workers encode, the parent only writes bytes in order
                summary = Summary()
                for block in stack.enter_context(contextlib.closing(
                        verdict_blocks(engine, deals, options, summary))):
                    out.write(block)
            else:
                verdicts: Iterator[dict[str, Any]] = stack.enter_context(contextlib.closing(
                    verdict_stream(engine, deals, options)))
                if show:
                    verdicts = _with_progress(verdicts)
                summary = write_report(
                    fmt,
                    verdicts,
                    out,
                    policy_info(engine.policy),
                    rules=_rules(engine),
                    color=output is None and sys.stdout.isatty(),
                    fail_on=fail_on,
                )
        run.finished(summary)
    sys.exit(exit_code(summary, fail_on))


class _AuditedRun:
    """``batch.started`` and ``batch.finished`` records around an audited run, one run id in
    both: the log then says whether a run covered its input (a run killed at 30% left a log
    that verified with nothing to show it was cut short). A run that ends any other way
    gets a ``batch.finished`` with outcome ``interrupted`` when the log still takes it."""

    def __init__(self, engine: Any, inputs: tuple[str, ...], trigger: str | None,
                 moment: Any) -> None:
        self.engine, self.moment = engine, moment
        self.values: dict[str, Any] = {"run": uuid.uuid4().hex, "inputs": list(inputs)}
        if trigger is not None:
            self.values["trigger"] = trigger
        self.done = False

    def __enter__(self) -> _AuditedRun:
        self.engine.record_batch("batch.started", "started", self.values, now=self.moment)
        return self

    def finished(self, summary: Summary) -> None:
        """The run judged every record: say how many, and their verdicts."""
        self.engine.record_batch("batch.finished", "finished", {
            **self.values, "records": summary.total, "compliant": summary.compliant,
            "violation": summary.violation, "error": summary.error,
            "with_warnings": summary.with_warnings}, now=self.moment)
        self.done = True

    def __exit__(self, *exc: object) -> None:
        if not self.done:
            with contextlib.suppress(Exception):  # a full disk may be why the run ended
                self.engine.record_batch("batch.finished", "interrupted", self.values,
                                         now=self.moment)


#: The largest --max-record-bytes (2 GiB): the CSV reader's field limit is a C long.
_MAX_RECORD_CAP = 2**31 - 1


def _record_cap(arg: str | None) -> int:
    """``--max-record-bytes`` as a number of bytes: a positive integer, or a usage error
    (``0`` or ``-1`` would refuse every record, ``1e6`` or ``1MB`` would be guessed at)."""
    from cycleflow.batch.readers import MAX_RECORD_BYTES

    if arg is None:
        return MAX_RECORD_BYTES
    text = arg.strip().replace("_", "")
    if not text.isascii() or not text.isdigit() or not 0 < int(text) <= _MAX_RECORD_CAP:
        raise UsageError(f"--max-record-bytes {arg!r}: give a whole number of bytes from 1 "
                         f"to {_MAX_RECORD_CAP} (the default is {MAX_RECORD_BYTES})")
    return int(text)


def _check_inputs(deals: tuple[str, ...]) -> None:
    """Refuse an input that does not exist (a typo in a CI step is a usage error, exit 2,
    not one error record that violations elsewhere outrank), and name on stderr the files
    of an input folder that are not read (no deal suffix, or a pipe or device)."""
    from cycleflow.batch.readers import SUFFIXES, skipped_files

    missing = [d for d in deals if d != "-" and not os.path.exists(d)]
    if missing:
        raise UsageError("no such file or folder: " + ", ".join(missing))
    suffixes = ", ".join(sorted(SUFFIXES))
    for folder in (d for d in deals if d != "-" and os.path.isdir(d)):
        skipped = skipped_files(folder)
        for path, why in skipped[:10]:
            reason = (f"a deal file's name ends in one of {suffixes}, optionally .gz"
                      if why == "suffix" else "not a regular file: a pipe or a device")
            click.echo(f"cycleflow: note: not read: {path} ({reason})", err=True)
        if len(skipped) > 10:
            click.echo(f"cycleflow: note: and {len(skipped) - 10} more files in {folder} "
                       "not read", err=True)


def _policy_problems_report(
    fmt: str, output: str | None, deals: tuple[str, ...], policy_path: str, err: PolicyError
) -> None:
    """The report a CI step uploads when the policy does not load (exit 3): SARIF with the
    policy's problems as results, or JUnit with one error case naming them. Before, no
    file was written and the upload step failed with "file not found". If even this report
    cannot be written, the policy's problems (printed by the caller) still stand alone.

    The SARIF tool is check's own (code scanning tracks alerts per tool: under lint's name
    the next good run never closed them), and ``executionSuccessful`` is false: no record
    was judged."""
    from cycleflow.report import write_junit
    from cycleflow.report.sarif import TOOL_NAME
    from cycleflow.toolkit.lint import sarif_log

    try:
        with open_output(output, deals) as out:
            if fmt == "sarif":
                log = sarif_log(list(err.problems), tool_name=TOOL_NAME,
                                execution_successful=False)
                out.write(json.dumps(log, ensure_ascii=False, indent=2).encode("utf-8") + b"\n")
                return
            first = err.problems[0].location if err.problems else None
            unloaded: dict[str, Any] = {  # the policy as one record that could not be judged
                "deal": None, "record": first.line if first else 0, "source": policy_path,
                "stage": None, "verdict": "error", "violations": [], "warnings": [],
                "approvals_needed": [],
                "error": "the policy does not load: "
                         + "; ".join(p.render() for p in err.problems),
            }
            write_junit([unloaded], out, {"id": "policy", "path": policy_path})
    except (CycleflowError, OSError):
        pass


def _known_trigger(engine: Any, trigger: str) -> None:
    """A misspelt --trigger would make every record a violation: refuse it up front."""
    triggers = sorted({t.trigger for t in engine.policy.transitions})
    if trigger not in triggers:
        from cycleflow.model.build import did_you_mean

        hint = did_you_mean(trigger, triggers) or "the policy's triggers: " + ", ".join(triggers)
        raise UsageError(f"--trigger {trigger!r} is not a trigger of this policy ({hint})")


def _rules(engine: Any) -> list[dict[str, Any]]:
    policy = engine.policy
    rules: list[dict[str, Any]] = []
    for stage in policy.stages:
        rules += [
            {
                "id": c.id,
                "kind": "entry",
                "severity": c.severity,
                "message": c.message.get(engine.lang),
            }
            for c in stage.entry
        ]
        rules += [
            {
                "id": s.id,
                "kind": "step",
                "severity": "high",
                "message": f"step {s.label.get(engine.lang)}",
            }
            for s in stage.steps
        ]
        if stage.max_days:
            rules.append(
                {
                    "id": f"max_days.{stage.id}",
                    "kind": "time",
                    "severity": "medium",
                    "message": f"at most {stage.max_days.days:g} days in {stage.id}",
                }
            )
    rules += [
        {"id": r.id, "kind": "risk", "severity": r.severity, "message": r.message.get(engine.lang)}
        for r in policy.risks
    ]
    rules += [
        {"id": g.id, "kind": "approval", "severity": "high", "message": f"approval gate {g.id}"}
        for g in policy.gates
    ]
    return rules


def _with_progress(verdicts: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(
        SpinnerColumn(),
        TextColumn("{task.completed:,} records"),
        TimeElapsedColumn(),
        transient=True,
        console=_stderr_console(),
    ) as bar:
        task = bar.add_task("check", total=None)
        for i, v in enumerate(verdicts, 1):
            if i % 1000 == 0:
                bar.update(task, completed=i)
            yield v


def _stderr_console() -> Any:
    from rich.console import Console

    return Console(stderr=True)
