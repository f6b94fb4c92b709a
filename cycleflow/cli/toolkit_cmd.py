"""Commands of the policy author's toolkit: test, explain, graph, init, hash."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import click

from cycleflow.cli.common import (
    EXIT_USAGE,
    echo_problems,
    guarded,
    lang_option,
    parse_actor,
    read_single_deal,
)
from cycleflow.errors import Problem, UsageError


def register(cli: click.Group) -> None:
    """Add this module's commands to ``cli``."""
    cli.add_command(test_cmd)
    cli.add_command(explain_cmd)
    cli.add_command(graph_cmd)
    cli.add_command(init_cmd)
    cli.add_command(hash_cmd)


@click.command("test")
@click.argument("suites", nargs=-1, required=True, type=click.Path())
@click.option(
    "--coverage",
    is_flag=True,
    help="Report, per rule, whether a case made it fire and whether a case made it pass.",
)
@click.option(
    "--min-coverage",
    type=click.FloatRange(0, 100),
    default=None,
    metavar="PCT",
    help="Fail (exit 1) when a policy's rule coverage is below PCT percent.",
)
@click.option(
    "--format", "fmt", type=click.Choice(["text", "junit"]), default="text", show_default=True
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write the report here instead of stdout.",
)
@click.option("-v", "--verbose", is_flag=True, help="List passing cases too.")
@guarded(EXIT_USAGE)
def test_cmd(
    suites: tuple[str, ...],
    coverage: bool,
    min_coverage: float | None,
    fmt: str,
    output: str | None,
    verbose: bool,
) -> None:
    """Run YAML policy test suites. Exit 0 pass, 1 fail, 2 bad suite."""
    from cycleflow.toolkit.suite_report import render_coverage, render_junit, render_text
    from cycleflow.toolkit.testing import load_suites, run_suites

    loaded, problems = load_suites(list(suites))
    problems = [_in_suite_words(p, suites) for p in problems] + _bad_clocks(loaded)
    if problems:
        echo_problems(problems)
        sys.exit(EXIT_USAGE)
    run = run_suites(loaded)
    out = open(output, "w", encoding="utf-8") if output else sys.stdout  # noqa: SIM115
    try:
        if fmt == "junit":
            render_junit(run, out)
        else:
            render_text(run, out, coverage=coverage or min_coverage is not None, verbose=verbose)
    finally:
        if output:
            out.close()
    low = [
        c
        for c in run.coverage.values()
        if min_coverage is not None and c.percent + 1e-9 < min_coverage
    ]
    for cov in low:
        if fmt == "junit" or output:
            render_coverage(cov, sys.stderr)
        click.echo(
            f"cycleflow: coverage of {cov.policy.path} is {cov.percent:.1f}%, "
            f"below --min-coverage {min_coverage:g}%",
            err=True,
        )
    sys.exit(1 if run.failed or low else 0)


def policy_languages(policy: Any) -> set[str]:
    """Every language code the policy's labels and messages are written in."""
    labels: list[Any] = [policy.title, policy.description]
    for stage in policy.stages:
        labels += [stage.label, stage.description]
        labels += [c.message for c in stage.entry] + [st.label for st in stage.steps]
    for t in policy.transitions:
        labels += [t.label] + [c.message for c in t.when]
    labels += [x for r in policy.risks for x in (r.label, r.message)]
    labels += [g.label for g in policy.gates]
    return {code for label in labels if label is not None for code, _ in label.texts}


def warn_unknown_lang(policy: Any, lang: str) -> None:
    """Warn on stderr when ``--lang`` is a language neither the policy nor cycleflow speaks.

    Any code stays accepted (English stands in), but a typo such as ``--lang zn`` is told.
    """
    from cycleflow.decide.phrases import LANGUAGES
    from cycleflow.toolkit.explain import PHRASES

    labels = policy_languages(policy)
    books = set(LANGUAGES) | set(PHRASES)
    if lang in labels or lang in books or lang.split("-")[0] in labels | books:
        return
    click.echo(
        f"cycleflow: warning: --lang {lang}: neither the policy's labels "
        f"({', '.join(sorted(labels))}) nor cycleflow's phrasebook ({', '.join(sorted(books))}) "
        "have this language; English is used",
        err=True,
    )


def _bad_clocks(suites: Sequence[Any]) -> list[Problem]:
    """A located problem for each ``now`` no case can run at: a bad clock is a suite error.

    Without this every case of the suite failed ("the engine refused the case") with exit 1.
    """
    from cycleflow.decide.clock import resolve_now
    from cycleflow.load.policy_files import read_main

    problems: list[Problem] = []
    for suite in suites:
        seen: set[tuple[str | int, ...]] = set()
        doc = None
        for case in suite.cases:
            try:
                resolve_now(case.now)
            except UsageError as err:
                doc = doc or read_main(suite.path)
                raw = doc.data["cases"][case.index]
                where: tuple[str | int, ...] = (
                    ("cases", case.index, "now") if "now" in raw else ("now",)
                )
                if where not in seen:
                    seen.add(where)
                    problems.append(
                        Problem(
                            doc.source_map.locate(where),
                            "suite-bad-now",
                            str(err),
                            "write an ISO-8601 time in quotes, such as "
                            "now: \"2026-11-26T12:00:00Z\"",
                        )
                    )
    return problems


def _in_suite_words(problem: Problem, suites: Sequence[str]) -> Problem:
    """A problem about a suite file itself, worded for a test suite rather than a policy."""
    if problem.location.file not in suites:
        return problem
    if problem.code == "yaml-empty":
        return replace(
            problem,
            message="the test suite is empty",
            suggestion="a suite needs at least 'policy:', 'now:' and 'cases:'; "
            "`cycleflow init DIR` writes one",
        )
    if problem.code == "yaml-not-mapping":
        return replace(
            problem,
            message=problem.message.replace("policy", "test suite"),
            suggestion="a test suite is a mapping of keys such as 'policy:', 'now:', 'cases:'",
        )
    return problem


@click.command("explain")
@click.option(
    "-p", "--policy", "policy_path", required=True, type=click.Path(), help="The policy file."
)
@click.option("--deal", "deal_path", required=True, help="A deal as JSON or YAML; '-' for stdin.")
@click.option(
    "--trigger",
    default=None,
    help="Explain this transition; without it, a check of the deal at rest.",
)
@click.option(
    "--actor",
    "actor_arg",
    default=None,
    help='The acting user: JSON {"id", "roles": [...]} or a path to one.',
)
@click.option("--now", default=None, help="The decision time, ISO-8601 (default: the clock).")
@lang_option("labels, messages and fixed words")
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@guarded(3)
def explain_cmd(
    policy_path: str,
    deal_path: str,
    trigger: str | None,
    actor_arg: str | None,
    now: str | None,
    lang: str,
    fmt: str,
) -> None:
    """Explain one decision (or check) rule by rule, and what would make it allowed."""
    from cycleflow.api import load_policy
    from cycleflow.decide.engine import Engine
    from cycleflow.toolkit.explain import explain_decision, explain_verdict, render_text

    actor = parse_actor(actor_arg)
    deal = read_single_deal(deal_path)
    policy = load_policy(policy_path)
    warn_unknown_lang(policy, lang)
    engine = Engine(policy, lang=lang)
    if trigger is not None:
        decision = engine.decide(deal, trigger, actor, now=now)
        ex = explain_decision(policy, decision, deal, actor, lang)
        ok = decision.allowed
    else:
        verdict = engine.check(deal, now=now, explain=True)
        ex = explain_verdict(policy, verdict, deal, now, lang)
        ok = verdict.compliant
    if fmt == "json":
        sys.stdout.write(json.dumps(ex.to_dict(), ensure_ascii=False, indent=2, default=str) + "\n")
    else:
        render_text(ex, sys.stdout)
    sys.exit(0 if ok else 1)


@click.command("graph")
@click.option(
    "-p", "--policy", "policy_path", required=True, type=click.Path(), help="The policy file."
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["mermaid", "dot", "svg"]),
    default="mermaid",
    show_default=True,
)
@lang_option("stage and transition labels")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write the diagram here instead of stdout.",
)
@guarded(3)
def graph_cmd(policy_path: str, fmt: str, lang: str, output: str | None) -> None:
    """Draw the stage machine as Mermaid, DOT or SVG, with criteria, steps and gates."""
    from cycleflow.api import load_policy
    from cycleflow.toolkit.graph import GraphvizMissing, to_dot, to_mermaid, to_svg

    policy = load_policy(policy_path)
    warn_unknown_lang(policy, lang)
    if fmt == "svg":
        try:
            data = to_svg(policy, lang)
        except GraphvizMissing as err:
            click.echo(f"cycleflow: error: {err}", err=True)
            sys.exit(EXIT_USAGE)
        if output:
            with open(output, "wb") as fh:
                fh.write(data)
        else:
            sys.stdout.buffer.write(data)
        return
    text = to_mermaid(policy, lang) if fmt == "mermaid" else to_dot(policy, lang)
    if output:
        with open(output, "w", encoding="utf-8") as fh:
            fh.write(text)
    else:
        sys.stdout.write(text)


@click.command("hash")
@click.argument("policy_path", metavar="POLICY", type=click.Path())
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@guarded(3)
def hash_cmd(policy_path: str, fmt: str) -> None:
    """Print the policy's SHA-256 (the policy_sha256 of its audit events) and each file's.

    An auditor compares the first line with the hash an audit event recorded: equal
    means the same main file, includes and deal schema, byte for byte.
    """
    from cycleflow.api import load_policy

    policy = load_policy(policy_path)
    if fmt == "json":
        files = [{"role": s.role, "path": s.name, "sha256": s.sha256} for s in policy.sources]
        click.echo(json.dumps({"policy": policy.id, "version": policy.version,
                               "sha256": policy.sha256, "files": files}, ensure_ascii=False))
        return
    click.echo(f"{policy.sha256}  {policy_path}")
    for s in policy.sources:
        click.echo(f"  {s.role:<11} {s.sha256}  {s.name}")


@click.command("init")
@click.argument("directory", type=click.Path(file_okay=False))
@click.option(
    "--id", "policy_id", default=None, help="The new policy's id (default: the directory's name)."
)
@click.option("--force", is_flag=True, help="Overwrite files that already exist.")
@guarded(EXIT_USAGE)
def init_cmd(directory: str, policy_id: str | None, force: bool) -> None:
    """Scaffold a small policy, its deal schema and its test suite in DIRECTORY."""
    from cycleflow.toolkit.scaffold import scaffold

    written = scaffold(directory, policy_id, force=force)
    for path in written:
        click.echo(f"wrote {path}")
    policy, suite = written[0], written[-1]
    click.echo(f"next: cycleflow lint {policy} && cycleflow test {suite} --coverage")
