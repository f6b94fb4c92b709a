"""The ``cycleflow`` command line: a thin layer over the public API.

Every command turns errors into ``file:line:col: code: message`` lines and the
exit codes of DESIGN.md; no traceback reaches the user. Set
``CYCLEFLOW_DEBUG=1`` to see one for an internal error.
"""

from __future__ import annotations

import io
import sys

import click

from cycleflow.cli.common import (
    audit_rotate_option,
    guarded,
    lang_option,
    load_engine,
    mask_salt_from_env,
    mask_salt_option,
    parse_actor,
    read_single_deal,
    write_json_stdout,
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="cycleflow")
def cli() -> None:
    """cycleflow: policy-as-code for the sales cycle."""


@cli.command()
@click.argument("policies", nargs=-1, required=True, type=click.Path())
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "sarif"]),
    default="text",
    show_default=True,
)
@guarded(policy_exit=1)
def lint(policies: tuple[str, ...], fmt: str) -> None:
    """Check policy files: schema, references, expressions. Exit 0 clean, 1 problems."""
    from cycleflow.toolkit.lint import lint_paths, render_lint

    problems = lint_paths(policies)
    render_lint(problems, fmt, sys.stdout)
    sys.exit(1 if any(p.severity == "error" for p in problems) else 0)


@cli.command()
@click.option(
    "-p", "--policy", "policy_path", required=True, type=click.Path(), help="The policy file."
)
@click.option("--deal", "deal_path", required=True, help="A deal as JSON or YAML; '-' for stdin.")
@click.option("--trigger", required=True, help="The trigger to decide, e.g. advance.")
@click.option(
    "--actor",
    "actor_arg",
    default=None,
    help='The acting user: JSON {"id", "roles": [...]} or a path to one.',
)
@click.option("--now", default=None, help="The decision time, ISO-8601 (default: the clock).")
@lang_option("messages")
@click.option(
    "--audit",
    "audit_spec",
    default=None,
    help="Append audit events to FILE (JSON Lines) or sqlite:PATH.",
)
@click.option("--audit-fsync", is_flag=True, help="fsync the audit log after each decision.")
@audit_rotate_option
@mask_salt_option
@guarded()
def decide(
    policy_path: str,
    deal_path: str,
    trigger: str,
    actor_arg: str | None,
    now: str | None,
    lang: str,
    audit_spec: str | None,
    audit_fsync: bool,
    audit_rotate: str | None,
    mask_salt_env: str | None,
) -> None:
    """Decide one transition and print the decision as JSON. Exit 0 allowed, 1 otherwise."""
    salt = mask_salt_from_env(mask_salt_env)
    actor = parse_actor(actor_arg)
    deal = read_single_deal(deal_path)
    with load_engine(
        policy_path, lang=lang, audit_spec=audit_spec, audit_fsync=audit_fsync,
        audit_rotate=audit_rotate, mask_salt=salt,
    ) as engine:
        decision = engine.decide(deal, trigger, actor, now=now)
        policy = engine.policy
    # the policy that decided, as check's report and every audit event name it: a saved
    # decision can be matched to the policy file (cycleflow hash) months later
    write_json_stdout({**decision.to_dict(), "policy": {
        "id": policy.id, "version": policy.version, "sha256": policy.sha256}})
    sys.exit(0 if decision.allowed else 1)


def _register() -> None:
    """Attach the command groups that live in their own modules."""
    from cycleflow.cli.analytics_cmd import register as register_analytics
    from cycleflow.cli.audit_cmd import audit
    from cycleflow.cli.check_cmd import check
    from cycleflow.cli.toolkit_cmd import register as register_toolkit

    cli.add_command(check)
    cli.add_command(audit)
    register_toolkit(cli)
    register_analytics(cli)


_register()


def _tolerant_streams() -> None:
    """Text the terminal's encoding cannot show (Chinese labels under latin-1) is written as
    replacement characters: a strict encoder made it an internal error after the work was done.
    """
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper) and stream.errors == "strict":
            stream.reconfigure(errors="replace")


def main() -> None:
    """Console-script entry point."""
    _tolerant_streams()
    cli(prog_name="cycleflow")
