"""Commands of the analytics package, registered on the main group: simulate, report, impact."""

from __future__ import annotations

import sys

import click

from cycleflow.cli.common import EXIT_POLICY


@click.command()
@click.option("-p", "--policy", "policy_path", required=True, type=click.Path(),
              help="The policy to simulate.")
@click.option("--deals", "n_deals", type=int, default=500, show_default=True,
              help="How many deals are created over the period.")
@click.option("--days", type=int, default=365, show_default=True, help="Length of the period.")
@click.option("--seed", type=int, default=1, show_default=True,
              help="Random seed: the same seed gives byte-identical files.")
@click.option("--start", default=None,
              help="ISO-8601 start of the period (default 2026-01-05T00:00:00Z).")
@click.option("--no-checks", is_flag=True, help="Skip the weekly audited check of open deals.")
@click.option("-o", "--output", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Directory for deals.jsonl and audit.jsonl.")
def simulate(policy_path: str, n_deals: int, days: int, seed: int, start: str | None,
             no_checks: bool, out_dir: str) -> None:
    """Simulate a reproducible sales history through the real engine: deals + audit log."""
    from cycleflow.cli.main import guarded

    guarded(EXIT_POLICY)(_simulate)(policy_path, n_deals, days, seed, start, no_checks, out_dir)


def _simulate(policy_path: str, n_deals: int, days: int, seed: int, start: str | None,
              no_checks: bool, out_dir: str) -> None:
    from cycleflow.analytics.simulate import SimOptions, parse_start
    from cycleflow.analytics.simulate import simulate as run
    from cycleflow.api import load_policy

    policy = load_policy(policy_path)
    options = SimOptions(deals=n_deals, days=days, seed=seed, start=parse_start(start),
                         weekly_checks=not no_checks)
    summary = run(policy, out_dir, options)
    click.echo(f"simulated {summary.deals} deals over {days} days (seed {seed}): "
               f"{summary.won} won, {summary.lost} lost, {summary.open} open; "
               f"{summary.events} audit events", err=True)
    click.echo(f"wrote {summary.deals_path} and {summary.audit_path}", err=True)
    sys.exit(0)


def register(cli: click.Group) -> None:
    """Add this module's commands to ``cli``."""
    cli.add_command(simulate)
